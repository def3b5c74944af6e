//! `yimatong bench surge`: a 10× surge, open loop.
//!
//! Xi'an's code collapsed at about 10× its usual peak, on the days everyone
//! needed it. This benchmark first measures the node's capacity C for the
//! door's requests (ID-card checks, status reads by a verifier device) and
//! citizen-app code fetches, closed loop. It then offers `--surge-factor` × C
//! at a constant arrival rate for `--surge-secs`: arrivals do not wait for
//! answers (an open loop), and each latency is measured from the instant the
//! request was due, so a stalled generator or server cannot hide queueing
//! (no coordinated omission). Finally it offers half of C and reports how
//! long the node takes to serve everything again.
//!
//! The node runs in this process on its own runtime with `--node-threads`
//! worker threads, the load generator on another, so on a 2-core machine
//! the generator does not take the node's core. Memory is this process's
//! resident set, sampled every 100 ms; the generator's buffers are reserved
//! before the surge starts, so the growth during the surge is the node's.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::net::TcpStream;
use ymt_core::PersonId;
use ymt_core::identity::{IdDocument, IdType};
use ymt_node::auth::Role;
use ymt_node::{Node, ServerConfig, SystemClock};

use crate::cmd_bench::{add_key, request, seed_records};

#[derive(clap::Args)]
pub struct BenchSurgeArgs {
    /// Persons loaded before the load (each with a test result; one in 50
    /// positive, so some answers carry reasons).
    #[arg(long, default_value_t = 20_000)]
    pub persons: usize,
    /// Seconds of the closed-loop capacity measurement.
    #[arg(long, default_value_t = 5)]
    pub capacity_secs: u64,
    /// Keep-alive connections of the capacity measurement.
    #[arg(long, default_value_t = 32)]
    pub capacity_connections: usize,
    /// The surge's arrival rate as a multiple of the measured capacity.
    #[arg(long, default_value_t = 10.0)]
    pub surge_factor: f64,
    /// Seconds of the surge.
    #[arg(long, default_value_t = 30)]
    pub surge_secs: u64,
    /// Seconds of half-capacity load after the surge, in which the node must
    /// return to full service.
    #[arg(long, default_value_t = 5)]
    pub recovery_secs: u64,
    /// Worker threads of the node's runtime (the generator has its own).
    #[arg(long, default_value_t = 1)]
    pub node_threads: usize,
    /// The node's concurrent-request limit (its `--concurrent-requests-max`);
    /// by default the node's own rule, 64 per core, for `--node-threads`
    /// cores.
    #[arg(long)]
    pub concurrent_requests_max: Option<usize>,
    /// Connections the generator may hold open at once.
    #[arg(long, default_value_t = 4096)]
    pub client_connections_max: usize,
}

/// Who sends a request, and so its priority at the node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Class {
    /// `POST /v1/verify/id-card` from a verifier device at a door.
    IdCard,
    /// `GET /v1/persons/{pid}/status` from a verifier device.
    Status,
    /// `GET /v1/persons/{pid}/code`: a citizen app refreshing its code.
    Code,
}

const CLASSES: [Class; 3] = [Class::IdCard, Class::Status, Class::Code];

impl Class {
    fn name(self) -> &'static str {
        match self {
            Class::IdCard => "id_card_check",
            Class::Status => "verifier_status_read",
            Class::Code => "citizen_code_fetch",
        }
    }
}

/// Requests of each class, ready to write, cycled through.
struct Requests {
    by_class: BTreeMap<Class, Vec<Vec<u8>>>,
}

impl Requests {
    fn build(passports: &[String], pids: &[PersonId], verifier_key: &str, app_key: &str) -> Self {
        let variants = pids.len().clamp(1, 4096);
        let mut by_class = BTreeMap::new();
        let id_card = (0..variants)
            .map(|index| {
                let body = format!(
                    r#"{{"id_type":"passport","id_number":"{}"}}"#,
                    passports[index * 7 % passports.len()]
                );
                format!(
                    "POST /v1/verify/id-card HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {verifier_key}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                )
                .into_bytes()
            })
            .collect();
        let status = (0..variants)
            .map(|index| {
                format!(
                    "GET /v1/persons/{}/status HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {verifier_key}\r\n\r\n",
                    pids[index * 13 % pids.len()]
                )
                .into_bytes()
            })
            .collect();
        let code = (0..variants)
            .map(|index| {
                format!(
                    "GET /v1/persons/{}/code HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {app_key}\r\n\r\n",
                    pids[index * 17 % pids.len()]
                )
                .into_bytes()
            })
            .collect();
        by_class.insert(Class::IdCard, id_card);
        by_class.insert(Class::Status, status);
        by_class.insert(Class::Code, code);
        Requests { by_class }
    }

    /// The `sequence`-th request of the mix: the classes in turn.
    fn nth(&self, sequence: u64) -> (Class, &[u8]) {
        let class = CLASSES[(sequence % CLASSES.len() as u64) as usize];
        let variants = &self.by_class[&class];
        let variant = (sequence / CLASSES.len() as u64) as usize % variants.len();
        (class, &variants[variant])
    }
}

/// One answered (or failed) request.
#[derive(Clone, Copy)]
struct Outcome {
    class: Class,
    /// HTTP status, or 0 for a transport error or a client timeout.
    status: u16,
    latency_micros: u64,
    /// When it completed, in microseconds since its phase began.
    completed_micros: u64,
    /// Whether it was sent on a connection opened for it (else on a kept-
    /// alive one): a new connection waits in the node's accept queue too.
    new_connection: bool,
}

/// Open connections, reused across requests like a client's pool.
struct ConnectionPool {
    address: SocketAddr,
    idle: Mutex<Vec<TcpStream>>,
    open: AtomicUsize,
    open_max: usize,
}

impl ConnectionPool {
    /// A free connection, and whether it was opened for this request.
    async fn take(&self) -> Option<(TcpStream, bool)> {
        if let Some(stream) = self.idle.lock().pop() {
            return Some((stream, false));
        }
        if self.open.fetch_add(1, Ordering::Relaxed) >= self.open_max {
            self.open.fetch_sub(1, Ordering::Relaxed);
            return None;
        }
        match TcpStream::connect(self.address).await {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                Some((stream, true))
            }
            Err(_) => {
                self.open.fetch_sub(1, Ordering::Relaxed);
                None
            }
        }
    }

    fn give_back(&self, stream: TcpStream) {
        self.idle.lock().push(stream);
    }

    fn discard(&self) {
        self.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// How long the generator waits for one answer before counting a timeout.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);

/// What an open-loop phase offered and got back.
struct PhaseReport {
    offered_per_sec: f64,
    sent: u64,
    /// Arrivals the generator could not send: no connection was free and
    /// the pool was at its maximum.
    not_sent: u64,
    seconds: f64,
    outcomes: Vec<Outcome>,
}

/// Offers `rate` requests per second for `duration`, each sent when due on
/// a free connection (a new one if none is free), without waiting for
/// earlier answers; then waits (bounded) for the answers still owed.
async fn open_loop(
    pool: Arc<ConnectionPool>,
    requests: Arc<Requests>,
    rate: f64,
    duration: Duration,
    expected_outcomes: usize,
) -> PhaseReport {
    let outcomes = Arc::new(Mutex::new(Vec::with_capacity(expected_outcomes)));
    let outstanding = Arc::new(AtomicU64::new(0));
    let not_sent = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut sent: u64 = 0;
    loop {
        let elapsed = started.elapsed();
        if elapsed >= duration {
            break;
        }
        let due = (elapsed.as_secs_f64() * rate) as u64;
        while sent < due {
            let scheduled = started + Duration::from_secs_f64(sent as f64 / rate);
            let sequence = sent;
            sent += 1;
            let (pool, requests, outcomes, outstanding, not_sent) = (
                pool.clone(),
                requests.clone(),
                outcomes.clone(),
                outstanding.clone(),
                not_sent.clone(),
            );
            outstanding.fetch_add(1, Ordering::Relaxed);
            tokio::spawn(async move {
                let (class, bytes) = requests.nth(sequence);
                let Some((mut stream, new_connection)) = pool.take().await else {
                    not_sent.fetch_add(1, Ordering::Relaxed);
                    outstanding.fetch_sub(1, Ordering::Relaxed);
                    return;
                };
                let mut buffer = Vec::new();
                let answer = tokio::time::timeout(
                    CLIENT_TIMEOUT,
                    request(&mut stream, &mut buffer, bytes, b""),
                )
                .await;
                let status = match answer {
                    Ok(Ok(status)) => {
                        if closes_connection(&buffer) {
                            pool.discard();
                        } else {
                            pool.give_back(stream);
                        }
                        status
                    }
                    _ => {
                        pool.discard();
                        0
                    }
                };
                let now = Instant::now();
                outcomes.lock().push(Outcome {
                    class,
                    status,
                    latency_micros: now.saturating_duration_since(scheduled).as_micros() as u64,
                    completed_micros: now.saturating_duration_since(started).as_micros() as u64,
                    new_connection,
                });
                outstanding.fetch_sub(1, Ordering::Relaxed);
            });
        }
        tokio::time::sleep(Duration::from_micros(500)).await;
    }
    let seconds = started.elapsed().as_secs_f64();
    let waited = Instant::now();
    while outstanding.load(Ordering::Relaxed) > 0 && waited.elapsed() < CLIENT_TIMEOUT * 2 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let outcomes = std::mem::take(&mut *outcomes.lock());
    PhaseReport {
        offered_per_sec: rate,
        sent,
        not_sent: not_sent.load(Ordering::Relaxed),
        seconds,
        outcomes,
    }
}

fn closes_connection(response: &[u8]) -> bool {
    let end = response
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .unwrap_or(response.len());
    String::from_utf8_lossy(&response[..end])
        .to_ascii_lowercase()
        .contains("connection: close")
}

/// Closed loop: `connections` clients each send the mix back to back for
/// `duration`; returns the answered-200 rate, overall and by class.
async fn closed_loop(
    address: SocketAddr,
    requests: Arc<Requests>,
    connections: usize,
    duration: Duration,
) -> anyhow::Result<(f64, BTreeMap<Class, f64>, u64)> {
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for connection in 0..connections.max(1) {
        let (stop, requests) = (stop.clone(), requests.clone());
        tasks.push(tokio::spawn(async move {
            let mut stream = TcpStream::connect(address).await?;
            stream.set_nodelay(true)?;
            let mut buffer = Vec::new();
            let mut served: BTreeMap<Class, u64> = BTreeMap::new();
            let mut errors = 0u64;
            let mut sequence = connection as u64;
            while !stop.load(Ordering::Relaxed) {
                let (class, bytes) = requests.nth(sequence);
                sequence += connections as u64;
                if request(&mut stream, &mut buffer, bytes, b"").await? == 200 {
                    *served.entry(class).or_default() += 1;
                } else {
                    errors += 1;
                }
            }
            Ok::<_, anyhow::Error>((served, errors))
        }));
    }
    let started = Instant::now();
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    let seconds = started.elapsed().as_secs_f64();
    let mut served: BTreeMap<Class, u64> = BTreeMap::new();
    let mut errors = 0;
    for task in tasks {
        let (by_class, task_errors) = task.await??;
        for (class, count) in by_class {
            *served.entry(class).or_default() += count;
        }
        errors += task_errors;
    }
    let total: u64 = served.values().sum();
    let by_class = served
        .into_iter()
        .map(|(class, count)| (class, count as f64 / seconds))
        .collect();
    Ok((total as f64 / seconds, by_class, errors))
}

fn percentile_millis(sorted_micros: &[u64], fraction: f64) -> Option<f64> {
    if sorted_micros.is_empty() {
        return None;
    }
    let rank =
        ((sorted_micros.len() as f64 * fraction).ceil() as usize).clamp(1, sorted_micros.len());
    Some(sorted_micros[rank - 1] as f64 / 1000.0)
}

fn latency_summary(outcomes: &[&Outcome]) -> serde_json::Value {
    let mut micros: Vec<u64> = outcomes
        .iter()
        .map(|outcome| outcome.latency_micros)
        .collect();
    micros.sort_unstable();
    serde_json::json!({
        "count": micros.len(),
        "p50_ms": percentile_millis(&micros, 0.50),
        "p99_ms": percentile_millis(&micros, 0.99),
        "max_ms": micros.last().map(|max| *max as f64 / 1000.0),
    })
}

/// The surge phase as JSON, and (admitted p99 ms, shed p99 ms, other errors).
fn summarize_surge(report: &PhaseReport) -> (serde_json::Value, f64, f64, u64) {
    let admitted: Vec<&Outcome> = report.outcomes.iter().filter(|o| o.status == 200).collect();
    let shed: Vec<&Outcome> = report
        .outcomes
        .iter()
        .filter(|o| o.status == 503 || o.status == 429)
        .collect();
    let other: Vec<&Outcome> = report
        .outcomes
        .iter()
        .filter(|o| !matches!(o.status, 200 | 429 | 503))
        .collect();
    let answered = report.outcomes.len().max(1) as f64;
    let mut by_class = serde_json::Map::new();
    for class in CLASSES {
        let of_class: Vec<&Outcome> = report
            .outcomes
            .iter()
            .filter(|o| o.class == class)
            .collect();
        let admitted_of_class: Vec<&Outcome> = of_class
            .iter()
            .copied()
            .filter(|o| o.status == 200)
            .collect();
        by_class.insert(
            class.name().into(),
            serde_json::json!({
                "answered": of_class.len(),
                "admitted_fraction": admitted_of_class.len() as f64 / of_class.len().max(1) as f64,
                "admitted_latency": latency_summary(&admitted_of_class),
            }),
        );
    }
    let admitted_kept_alive: Vec<&Outcome> = admitted
        .iter()
        .copied()
        .filter(|o| !o.new_connection)
        .collect();
    let admitted_new_connection: Vec<&Outcome> = admitted
        .iter()
        .copied()
        .filter(|o| o.new_connection)
        .collect();
    let admitted_summary = latency_summary(&admitted);
    let shed_summary = latency_summary(&shed);
    let admitted_p99 = admitted_summary["p99_ms"].as_f64().unwrap_or(f64::INFINITY);
    let shed_p99 = shed_summary["p99_ms"].as_f64().unwrap_or(0.0);
    let mut statuses: BTreeMap<u16, u64> = BTreeMap::new();
    for outcome in &other {
        *statuses.entry(outcome.status).or_default() += 1;
    }
    (
        serde_json::json!({
            "offered_per_sec": report.offered_per_sec,
            "sent_per_sec": report.sent as f64 / report.seconds,
            "seconds": report.seconds,
            "sent": report.sent,
            "not_sent_client_pool_full": report.not_sent,
            "admitted": admitted.len(),
            "admitted_per_sec": admitted.len() as f64 / report.seconds,
            "admitted_latency": admitted_summary,
            "admitted_latency_on_kept_alive_connections": latency_summary(&admitted_kept_alive),
            "admitted_latency_on_new_connections": latency_summary(&admitted_new_connection),
            "shed": shed.len(),
            "shed_fraction": shed.len() as f64 / answered,
            "shed_latency": shed_summary,
            "other_answers": other.len(),
            "other_answers_by_status (0 = transport error or timeout)": statuses,
            "by_class": by_class,
        }),
        admitted_p99,
        shed_p99,
        other.len() as u64,
    )
}

/// The time from the start of the recovery phase until every later 100-ms
/// window was served in full: nothing shed, nothing failed, every answer
/// within `latency_goal_micros`. `None` if the last window still was not.
fn seconds_to_full_service(report: &PhaseReport, latency_goal_micros: u64) -> Option<f64> {
    const WINDOW_MICROS: u64 = 100_000;
    let windows = (report.seconds * 10.0).ceil() as usize + 1;
    let mut degraded = vec![false; windows];
    for outcome in &report.outcomes {
        let window = ((outcome
            .completed_micros
            .saturating_sub(outcome.latency_micros))
            / WINDOW_MICROS) as usize;
        if outcome.status != 200 || outcome.latency_micros > latency_goal_micros {
            degraded[window.min(windows - 1)] = true;
        }
    }
    let last_full_window = (report.seconds * 10.0).floor() as usize;
    match degraded[..last_full_window.max(1)]
        .iter()
        .rposition(|window| *window)
    {
        None => Some(0.0),
        Some(last) if last + 1 >= last_full_window => None,
        Some(last) => Some((last + 1) as f64 * WINDOW_MICROS as f64 / 1e6),
    }
}

/// This process's resident set and its peak, in MiB, from /proc.
fn resident_mib() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse::<f64>().ok())
            .map_or(0.0, |kib| kib / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Probes `/healthz` every 100 ms until stopped; counts the answers other
/// than 200 (the probe must never be shed).
async fn probe_health(address: SocketAddr, stop: Arc<AtomicBool>) -> (u64, u64) {
    let (mut probes, mut failed) = (0, 0);
    while !stop.load(Ordering::Relaxed) {
        probes += 1;
        let head = b"GET /healthz HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n";
        let answered = async {
            let mut stream = TcpStream::connect(address).await?;
            let mut buffer = Vec::new();
            request(&mut stream, &mut buffer, head, b"").await
        };
        match tokio::time::timeout(Duration::from_secs(2), answered).await {
            Ok(Ok(200)) => {}
            _ => failed += 1,
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (probes, failed)
}

/// Seeds the node: one test result per person, identified by a passport
/// number, so ID-card checks find them.
fn seed(node: &Node, persons: usize) -> anyhow::Result<(Vec<String>, Vec<PersonId>)> {
    let now = node.now();
    let passports: Vec<String> = (0..persons.max(1))
        .map(|index| format!("E{index:08}"))
        .collect();
    let pids: Vec<PersonId> = passports
        .iter()
        .map(|number| {
            IdDocument::parse(IdType::Passport, number).map(|document| node.person_id(&document))
        })
        .collect::<Result<_, _>>()?;
    let records = seed_records(
        0..pids.len(),
        now,
        |index| pids[index].clone(),
        |_| 0,
        50,
        "surge-seed",
    );
    crate::progress::import_records(node, &records, "bench")
        .map_err(|error| anyhow::anyhow!(error.detail))?;
    Ok((passports, pids))
}

pub fn run_surge(args: BenchSurgeArgs) -> anyhow::Result<ExitCode> {
    // The node: its own runtime on its own thread, started as the binary
    // starts one, with the product's default limits.
    let (ready_sender, ready) = std::sync::mpsc::channel();
    let (stop_node, node_stopped) = tokio::sync::oneshot::channel::<()>();
    let node_threads = args.node_threads.max(1);
    let concurrent_requests_max = args.concurrent_requests_max;
    let node_thread = std::thread::spawn(move || -> anyhow::Result<()> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(node_threads)
            .thread_name("surge-node")
            .enable_all()
            .build()?;
        runtime.block_on(async move {
            let dir = tempfile::tempdir()?;
            let mut config = ServerConfig::new(dir.path().to_path_buf());
            config.worker_threads = node_threads;
            // The node's default is per core of the machine; this node has
            // `node_threads` of them.
            config.concurrent_requests_max = concurrent_requests_max
                .unwrap_or(ymt_node::config::CONCURRENT_REQUESTS_PER_CORE * node_threads)
                .max(1);
            let node =
                crate::cmd_bench::start_node_with(config, Arc::new(SystemClock), dir).await?;
            let _ = ready_sender.send((node.address, node.state.clone()));
            let _ = node_stopped.await;
            node.close().await
        })
    });
    let (address, node): (SocketAddr, Arc<Node>) = ready
        .recv()
        .map_err(|_| anyhow::anyhow!("the node did not start"))?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("surge-load")
        .enable_all()
        .build()?;
    let outcome = runtime.block_on(async {
        let verifier_key = add_key(&node, "surge-verifier", Role::VerifierDevice)?;
        let app_key = add_key(&node, "surge-app", Role::NationalAdmin)?;
        let seed_node = node.clone();
        let persons = args.persons;
        let (passports, pids) = tokio::task::spawn_blocking(move || seed(&seed_node, persons)).await??;
        let requests = Arc::new(Requests::build(&passports, &pids, &verifier_key, &app_key));

        let (capacity, capacity_by_class, capacity_errors) = closed_loop(
            address,
            requests.clone(),
            args.capacity_connections,
            Duration::from_secs(args.capacity_secs.max(1)),
        )
        .await?;
        anyhow::ensure!(capacity > 0.0, "no request was served while measuring capacity");

        let surge_rate = capacity * args.surge_factor;
        let surge_duration = Duration::from_secs(args.surge_secs.max(1));
        let pool = Arc::new(ConnectionPool {
            address,
            idle: Mutex::new(Vec::with_capacity(args.client_connections_max)),
            open: AtomicUsize::new(0),
            open_max: args.client_connections_max.max(1),
        });
        let expected = (surge_rate * surge_duration.as_secs_f64() * 1.05) as usize;
        let (rss_before_mib, _) = resident_mib();
        let stop_sampling = Arc::new(AtomicBool::new(false));
        let peak_rss = Arc::new(Mutex::new(rss_before_mib));
        let sampler = {
            let (stop_sampling, peak_rss) = (stop_sampling.clone(), peak_rss.clone());
            tokio::spawn(async move {
                while !stop_sampling.load(Ordering::Relaxed) {
                    let (rss, _) = resident_mib();
                    {
                        let mut peak = peak_rss.lock();
                        *peak = peak.max(rss);
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            })
        };
        let stop_probe = Arc::new(AtomicBool::new(false));
        let prober = tokio::spawn(probe_health(address, stop_probe.clone()));
        let surge = open_loop(pool.clone(), requests.clone(), surge_rate, surge_duration, expected).await;
        let recovery_rate = capacity * 0.5;
        let recovery_duration = Duration::from_secs(args.recovery_secs.max(1));
        let recovery = open_loop(
            pool.clone(),
            requests.clone(),
            recovery_rate,
            recovery_duration,
            (recovery_rate * recovery_duration.as_secs_f64() * 1.05) as usize,
        )
        .await;
        stop_probe.store(true, Ordering::Relaxed);
        stop_sampling.store(true, Ordering::Relaxed);
        let (health_probes, health_failed) = prober.await?;
        sampler.await?;
        let (rss_after_mib, _) = resident_mib();
        let rss_peak_mib = *peak_rss.lock();

        let (surge_json, admitted_p99, shed_p99, other_errors) = summarize_surge(&surge);
        const ADMITTED_P99_GOAL_MS: f64 = 50.0;
        const SHED_P99_GOAL_MS: f64 = 5.0;
        const RECOVERY_GOAL_SECS: f64 = 1.0;
        let recovered_after =
            seconds_to_full_service(&recovery, (ADMITTED_P99_GOAL_MS * 1000.0) as u64);
        let node_alive = node_thread_alive(address).await;
        let door_admitted = |json: &serde_json::Value, class: Class| {
            json["by_class"][class.name()]["admitted_fraction"].as_f64().unwrap_or(0.0)
        };
        let doors_first = door_admitted(&surge_json, Class::IdCard)
            >= door_admitted(&surge_json, Class::Code)
            && door_admitted(&surge_json, Class::Status) >= door_admitted(&surge_json, Class::Code);
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "bench": "surge",
                "persons": args.persons,
                "node_threads": node_threads,
                "capacity": {
                    "requests_per_sec": capacity,
                    "by_class_per_sec": capacity_by_class.iter().map(|(class, rate)| (class.name(), *rate)).collect::<BTreeMap<_, _>>(),
                    "errors": capacity_errors,
                    "connections": args.capacity_connections,
                    "seconds": args.capacity_secs,
                    "method": "closed loop, keep-alive, the three classes in turn",
                },
                "surge": surge_json,
                "recovery": {
                    "offered_per_sec": recovery_rate,
                    "seconds": recovery.seconds,
                    "seconds_to_full_service": recovered_after,
                    "definition": "from the end of the surge until every later 100-ms window is answered in full: nothing shed or failed, every answer within 50 ms",
                },
                "memory_mib": {
                    "rss_before_surge": rss_before_mib,
                    "rss_peak": rss_peak_mib,
                    "rss_after": rss_after_mib,
                },
                "health_probes": { "sent": health_probes, "not_ok": health_failed },
                "node_serving_after": node_alive,
                "goals": {
                    "admitted_p99_le_50_ms": admitted_p99 <= ADMITTED_P99_GOAL_MS,
                    "shed_p99_le_5_ms": shed_p99 <= SHED_P99_GOAL_MS,
                    "no_errors_other_than_shedding": other_errors == 0,
                    "full_service_within_1_s": recovered_after.is_some_and(|secs| secs <= RECOVERY_GOAL_SECS),
                    "doors_keep_priority": doors_first,
                    "node_serving_after": node_alive,
                },
                "note": "open loop at a constant arrival rate; latency from the instant each request was due; node and generator in one process on separate runtimes, on loopback",
            }))?
        );
        anyhow::Ok(())
    });
    let _ = stop_node.send(());
    let node_closed = node_thread
        .join()
        .map_err(|_| anyhow::anyhow!("the node's thread panicked"))?;
    outcome?;
    node_closed?;
    Ok(ExitCode::SUCCESS)
}

/// Whether the node still answers a health probe after the load.
async fn node_thread_alive(address: SocketAddr) -> bool {
    let probe = async {
        let mut stream = TcpStream::connect(address).await?;
        let mut buffer = Vec::new();
        request(
            &mut stream,
            &mut buffer,
            b"GET /healthz HTTP/1.1\r\nHost: bench\r\n\r\n",
            b"",
        )
        .await
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(5), probe).await,
        Ok(Ok(200))
    )
}
