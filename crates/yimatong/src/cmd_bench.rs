//! `yimatong bench ingest|status`: an in-process node on a loopback port and
//! an in-repo HTTP/1.1 keep-alive load client, printing JSON figures.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use ymt_core::event::{TestKind, TestOutcome, TestResult};
use ymt_core::{Event, EventBody, EventId, PersonId};
use ymt_node::auth::{Principal, Role, key_sha256, new_api_key};
use ymt_node::state::EventRecord;
use ymt_node::{Node, ServerConfig, SystemClock};

#[derive(clap::Args)]
pub struct BenchIngestArgs {
    /// Events in total.
    #[arg(long, default_value_t = 200_000)]
    pub events: usize,
    /// Events per batch request.
    #[arg(long, default_value_t = 1000)]
    pub batch: usize,
    /// Concurrent client connections.
    #[arg(long, default_value_t = 8)]
    pub connections: usize,
}

#[derive(clap::Args)]
pub struct BenchCodesArgs {
    /// Persons whose codes are requested (each repeatedly, so the cache serves).
    #[arg(long, default_value_t = 1000)]
    pub persons: usize,
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    #[arg(long, default_value_t = 32)]
    pub connections: usize,
}

#[derive(clap::Args)]
pub struct BenchStatusArgs {
    /// Persons loaded before the lookups.
    #[arg(long, default_value_t = 100_000)]
    pub persons: usize,
    /// Seconds of lookups.
    #[arg(long, default_value_t = 15)]
    pub seconds: u64,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 64)]
    pub connections: usize,
}

/// A benchmark's node, started as the binary starts one (node_start.rs), on
/// a loopback port, in a temporary directory.
pub(crate) struct BenchNode {
    serving: crate::node_start::ServingNode,
    pub(crate) state: Arc<Node>,
    pub(crate) address: std::net::SocketAddr,
    dir: tempfile::TempDir,
}

async fn start_node(batch_events_max: usize) -> anyhow::Result<BenchNode> {
    let dir = tempfile::tempdir()?;
    let mut config = ServerConfig::new(dir.path().to_path_buf());
    config.batch_events_max = batch_events_max.max(1);
    config.concurrent_requests_max = 4096;
    start_node_with(config, Arc::new(SystemClock), dir).await
}

/// Starts a node with `config` on a loopback port; `dir` (its data
/// directory's parent) is removed when the node is closed.
pub(crate) async fn start_node_with(
    config: ServerConfig,
    clock: Arc<dyn ymt_node::Clock>,
    dir: tempfile::TempDir,
) -> anyhow::Result<BenchNode> {
    // Every benchmark client connects from loopback, one address: the cap
    // per client address would otherwise limit the benchmark, not the node.
    let mut config = config;
    config.connections_per_client_max = config.connections_max;
    let state = crate::node_start::open_node(config, clock)?;
    let serving =
        crate::node_start::bind_and_serve_node(state.clone(), "127.0.0.1:0".parse()?).await?;
    Ok(BenchNode {
        state,
        address: serving.address,
        serving,
        dir,
    })
}

impl BenchNode {
    /// Shuts the node down as the binary does, closing its store before
    /// the temporary directory is removed.
    pub(crate) async fn close(self) -> anyhow::Result<()> {
        let BenchNode {
            serving,
            state,
            dir,
            ..
        } = self;
        serving.shut_down().await?;
        tokio::task::spawn_blocking(move || drop(state)).await?;
        drop(dir);
        Ok(())
    }
}

pub(crate) fn add_key(state: &Node, id: &str, role: Role) -> anyhow::Result<String> {
    let key = new_api_key(id);
    state
        .add_principal(Principal {
            id: id.into(),
            role,
            jurisdiction: "nation".parse().expect("nation"),
            display_name: id.into(),
            key_sha256: key_sha256(&key),
            disabled: false,
            created_by: String::new(),
            keys: Default::default(),
            key_in_use: None,
            oidc_subject: None,
        })
        .map_err(|error| anyhow::anyhow!(error.detail))?;
    Ok(key)
}

/// One request on a kept-alive connection; returns the status code.
pub(crate) async fn request(
    stream: &mut TcpStream,
    buffer: &mut Vec<u8>,
    head: &[u8],
    body: &[u8],
) -> anyhow::Result<u16> {
    stream.write_all(head).await?;
    if !body.is_empty() {
        stream.write_all(body).await?;
    }
    buffer.clear();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let read = stream.read(&mut chunk).await?;
        if read == 0 {
            anyhow::bail!("connection closed");
        }
        buffer.extend_from_slice(&chunk[..read]);
        if let Some(end) = buffer.windows(4).position(|window| window == b"\r\n\r\n") {
            let headers = std::str::from_utf8(&buffer[..end])?.to_ascii_lowercase();
            let status: u16 = headers
                .get(9..12)
                .and_then(|code| code.parse().ok())
                .unwrap_or(0);
            let length: usize = headers
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .and_then(|value| value.trim().parse().ok())
                .unwrap_or(0);
            while buffer.len() < end + 4 + length {
                let read = stream.read(&mut chunk).await?;
                if read == 0 {
                    anyhow::bail!("connection closed mid-body");
                }
                buffer.extend_from_slice(&chunk[..read]);
            }
            return Ok(status);
        }
    }
}

fn pid_for(index: usize) -> PersonId {
    PersonId::parse(&format!(
        "{:032x}",
        (index as u128).wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835) | 1
    ))
    .expect("hex pid")
}

/// Test-result records for benchmark persons: record `index` is about person
/// `person_of(index)`, sampled `days_back(index)` days before `now`; every
/// `positive_every`-th is positive (0: none), so some statuses carry reasons.
pub(crate) fn seed_records(
    indexes: std::ops::Range<usize>,
    now: ymt_core::Timestamp,
    person_of: impl Fn(usize) -> PersonId,
    days_back: impl Fn(usize) -> i64,
    positive_every: usize,
    id_prefix: &str,
) -> Vec<EventRecord> {
    indexes
        .map(|index| {
            let sampled = now.plus_secs(-7200 - days_back(index) * 86_400);
            EventRecord {
                region: "440305".parse().expect("region"),
                event: Event {
                    id: EventId::parse(&format!("{id_prefix}-{index}")).expect("id"),
                    person: person_of(index),
                    recorded_at: now,
                    author: "bench-seed".into(),
                    body: EventBody::TestResult(TestResult {
                        test: TestKind::Pcr,
                        result: if positive_every > 0 && index % positive_every == 0 {
                            TestOutcome::Positive
                        } else {
                            TestOutcome::Negative
                        },
                        sampled_at: sampled,
                        reported_at: sampled.plus_secs(3600),
                        lab: "bench-lab".into(),
                    }),
                },
            }
        })
        .collect()
}

/// What a timed GET load measured.
struct LoadReport {
    completed: u64,
    errors: u64,
    seconds: f64,
}

/// Runs `connections` keep-alive clients for `seconds`, each sending
/// `GET path_of(connection, round)` with the key, and counts the 200s.
async fn get_load(
    address: std::net::SocketAddr,
    key: &str,
    connections: usize,
    seconds: u64,
    path_of: impl Fn(usize, usize) -> String + Clone + Send + 'static,
) -> LoadReport {
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for connection in 0..connections.max(1) {
        let (stop, done, errors, path_of) =
            (stop.clone(), done.clone(), errors.clone(), path_of.clone());
        let key = key.to_owned();
        tasks.push(tokio::spawn(async move {
            let mut stream = TcpStream::connect(address).await?;
            stream.set_nodelay(true)?;
            let mut buffer = Vec::new();
            let mut round = 0;
            while !stop.load(Ordering::Relaxed) {
                round += 1;
                let head = format!(
                    "GET {} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {key}\r\n\r\n",
                    path_of(connection, round)
                );
                match request(&mut stream, &mut buffer, head.as_bytes(), b"").await? {
                    200 => done.fetch_add(1, Ordering::Relaxed),
                    _ => errors.fetch_add(1, Ordering::Relaxed),
                };
            }
            Ok::<(), anyhow::Error>(())
        }));
    }
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let seconds = started.elapsed().as_secs_f64();
    let completed = done.load(Ordering::Relaxed);
    for task in tasks {
        let _ = task.await;
    }
    LoadReport {
        completed,
        errors: errors.load(Ordering::Relaxed),
        seconds,
    }
}

pub fn run_ingest(args: BenchIngestArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let node = start_node(args.batch).await?;
        let key = add_key(&node.state, "bench-lab", Role::Lab)?;
        let batches = args.events.div_ceil(args.batch.max(1));
        let next_batch = Arc::new(AtomicU64::new(0));
        let sampled = node.state.now().plus_secs(-3600);
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..args.connections.max(1) {
            let next_batch = next_batch.clone();
            let key = key.clone();
            let address = node.address;
            let batch_size = args.batch;
            let total = args.events;
            tasks.push(tokio::spawn(async move {
                let mut stream = TcpStream::connect(address).await?;
                stream.set_nodelay(true)?;
                let mut buffer = Vec::new();
                let mut refused = 0u64;
                loop {
                    let batch = next_batch.fetch_add(1, Ordering::Relaxed) as usize;
                    if batch >= batches {
                        break;
                    }
                    let first = batch * batch_size;
                    let last = (first + batch_size).min(total);
                    let events: Vec<serde_json::Value> = (first..last)
                        .map(|index| {
                            serde_json::json!({
                                "id": format!("bench-{index}"),
                                "subject": {"pid": pid_for(index)},
                                "region": "440305",
                                "kind": "test_result",
                                "data": {"test": "pcr", "result": "negative", "sampled_at": sampled, "reported_at": sampled, "lab": "bench-lab"}
                            })
                        })
                        .collect();
                    let body = serde_json::to_vec(&serde_json::json!({ "events": events }))?;
                    let head = format!(
                        "POST /v1/events:batch HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                        body.len()
                    );
                    let status = request(&mut stream, &mut buffer, head.as_bytes(), &body).await?;
                    if status != 200 {
                        refused += 1;
                    }
                }
                Ok::<u64, anyhow::Error>(refused)
            }));
        }
        let mut refused = 0;
        for task in tasks {
            refused += task.await??;
        }
        let seconds = started.elapsed().as_secs_f64();
        let stats = node.state.store.stats();
        println!(
            "{}",
            serde_json::json!({
                "bench": "ingest",
                "events": args.events,
                "batch": args.batch,
                "connections": args.connections,
                "seconds": seconds,
                "events_per_sec": args.events as f64 / seconds,
                "refused_batches": refused,
                "store_commits": stats.commits,
                "note": "durable (fsync before ack) events through POST /v1/events:batch on loopback, each person re-evaluated",
            })
        );
        node.close().await?;
        Ok(ExitCode::SUCCESS)
    })
}

pub fn run_status(args: BenchStatusArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let node = start_node(10_000).await?;
        let key = add_key(&node.state, "bench-verifier", Role::VerifierDevice)?;
        let now = node.state.now();
        let load_started = Instant::now();
        let records = seed_records(0..args.persons, now, pid_for, |_| 0, 50, "seed");
        let state = node.state.clone();
        tokio::task::spawn_blocking(move || crate::progress::import_records(&state, &records, "bench"))
            .await?
            .map_err(|error| anyhow::anyhow!(error.detail))?;
        let load_seconds = load_started.elapsed().as_secs_f64();
        let persons_in_projection = node.state.projection.len();
        let compact_bytes = node.state.projection.compact_resident_bytes();

        let persons = args.persons.max(1);
        let load = get_load(node.address, &key, args.connections, args.seconds, move |connection, round| {
            let index = (connection * 7919 + round * 104_729) % persons;
            format!("/v1/persons/{}/status", pid_for(index))
        })
        .await;
        let (completed, errors, seconds) = (load.completed, load.errors, load.seconds);
        println!(
            "{}",
            serde_json::json!({
                "bench": "status",
                "persons": args.persons,
                "load_seconds": load_seconds,
                "projection_compact_bytes_per_person": compact_bytes as f64 / persons_in_projection.max(1) as f64,
                "projection_non_green_decisions": node.state.projection.explanation_count(),
                "connections": args.connections,
                "seconds": seconds,
                "lookups": completed,
                "lookups_per_sec": completed as f64 / seconds,
                "errors": errors,
                "note": "GET /v1/persons/{pid}/status with a verifier key, keep-alive, client and server on the same 2 cores; each read is audited",
            })
        );
        node.close().await?;
        Ok(ExitCode::SUCCESS)
    })
}

/// Codes served per second over HTTP: `GET /v1/persons/{pid}/code` for a set
/// of persons requested over and over, so after the first round every code
/// comes from the cache (no signing, no rendering).
pub fn run_codes(args: BenchCodesArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let node = start_node(10_000).await?;
        let key = add_key(&node.state, "bench-admin", Role::NationalAdmin)?;
        let now = node.state.now();
        let records = seed_records(0..args.persons, now, pid_for, |_| 0, 0, "seed");
        let state = node.state.clone();
        tokio::task::spawn_blocking(move || crate::progress::import_records(&state, &records, "bench"))
            .await?
            .map_err(|error| anyhow::anyhow!(error.detail))?;
        let persons = args.persons.max(1);
        let load = get_load(node.address, &key, args.connections, args.seconds, move |connection, round| {
            let index = (connection + round * 7) % persons;
            format!("/v1/persons/{}/code", pid_for(index))
        })
        .await;
        let (completed, errors, seconds) = (load.completed, load.errors, load.seconds);
        println!(
            "{}",
            serde_json::json!({
                "bench": "codes",
                "persons": args.persons,
                "connections": args.connections,
                "seconds": seconds,
                "codes_served": completed,
                "codes_per_sec": completed as f64 / seconds,
                "errors": errors,
                "note": "GET /v1/persons/{pid}/code (token, SVG, PNG, reasons, recent events) over loopback; codes cached per (person, color, valid_until); each read audited",
            })
        );
        node.close().await?;
        Ok(ExitCode::SUCCESS)
    })
}
