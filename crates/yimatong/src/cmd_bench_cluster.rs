//! `yimatong bench cluster`: three NATS servers and three nodes on loopback,
//! as `cluster up` starts them, and in the same run one node without NATS
//! and the raw JetStream publish rate with the records' stream settings.
//! Prints one JSON object (issue 11, "Benchmark"):
//!
//! - durable events/s through the three nodes (each write answered after the
//!   quorum's acknowledgement), beside the single node and the transport's
//!   ceiling;
//! - propagation: from the acknowledgement on one node to the event being
//!   readable on each of the two others, p50/p99/max;
//! - failover: from a node's SIGKILL to a writer's first acknowledged write
//!   on another node.
//!
//! Everything runs on this machine's loopback and is bounded in time.

use std::path::Path;
use std::process::{Child, ExitCode};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{Value, json};

#[derive(clap::Args)]
pub struct BenchClusterArgs {
    /// Seconds of ingest for each of the single node and the cluster.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Concurrent writers, spread over the nodes.
    #[arg(long, default_value_t = 12)]
    pub writers: usize,
    /// Events per batch request.
    #[arg(long, default_value_t = 100)]
    pub batch: usize,
    /// Propagation samples (one event each, acknowledged on one node and
    /// awaited on the two others).
    #[arg(long, default_value_t = 200)]
    pub propagation_samples: usize,
    /// Rounds of SIGKILL of the node a writer uses.
    #[arg(long, default_value_t = 3)]
    pub kill_rounds: usize,
}

/// No one wait of the benchmark lasts longer: past it the run fails rather
/// than hang.
const WAIT_MAX: Duration = Duration::from_secs(60);
/// Persons the ingest writes to (the events spread over person shards as
/// a city's would).
const INGEST_PERSONS: u64 = 50_000;

pub fn run(args: BenchClusterArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!((1..=256).contains(&args.writers), "--writers: 1 to 256");
    anyhow::ensure!((1..=1000).contains(&args.batch), "--batch: 1 to 1000");
    anyhow::ensure!((1..=3600).contains(&args.seconds), "--seconds: 1 to 3600");
    anyhow::ensure!(
        (1..=10_000).contains(&args.propagation_samples),
        "--propagation-samples: 1 to 10000"
    );
    anyhow::ensure!(
        (0..=20).contains(&args.kill_rounds),
        "--kill-rounds: 0 to 20"
    );
    let binary = crate::cmd_cluster::nats_server_binary()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let dir = tempfile::tempdir()?;
        let setup_started = Instant::now();
        eprintln!("bench cluster: starting 3 NATS servers and 3 nodes");
        let nats =
            ymt_cluster::local::NatsCluster::start(&binary, &dir.path().join("nats"), 3).await?;
        let keys = crate::cmd_cluster::prepare_data_dirs(dir.path(), 3)?;
        let single_dir = dir.path().join("single");
        crate::cmd_cluster::copy_dir(&dir.path().join("node-1"), &single_dir)?;
        let lab_key = keys["lab-440305"]
            .as_str()
            .context("the lab's key")?
            .to_owned();
        let admin_key = keys["admin-1"]
            .as_str()
            .context("the admin's key")?
            .to_owned();
        let mut nodes = Processes(Vec::with_capacity(3));
        for index in 1..=3 {
            let data = dir.path().join(format!("node-{index}"));
            nodes
                .0
                .push(crate::cmd_cluster::start_node(&data, &nats.urls(), 3)?);
        }
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(args.writers)
            .build()?;
        for (_, base) in &nodes.0 {
            wait_ready(&client, base).await?;
        }
        let setup_secs = setup_started.elapsed().as_secs_f64();

        eprintln!("bench cluster: single node, {} s of ingest", args.seconds);
        let single_node = Processes(vec![crate::cmd_cluster::start_serve(&single_dir, &[])?]);
        let single_base = single_node.0[0].1.clone();
        wait_ready(&client, &single_base).await?;
        let single = ingest(&client, &[single_base], &lab_key, &args, "s").await;
        drop(single_node);

        eprintln!("bench cluster: 3 nodes, {} s of ingest", args.seconds);
        let bases: Vec<String> = nodes.0.iter().map(|(_, base)| base.clone()).collect();
        let cluster = ingest(&client, &bases, &lab_key, &args, "c").await;

        eprintln!("bench cluster: the raw JetStream publish rate");
        let message_bytes = cluster.mean_message_bytes.max(64);
        let raw = ymt_cluster::bench::raw_publish_rate(
            &nats.urls(),
            3,
            message_bytes,
            (cluster.messages as usize).clamp(2_000, 200_000),
            args.writers,
        )
        .await?;

        eprintln!(
            "bench cluster: propagation, {} samples",
            args.propagation_samples
        );
        let propagation = propagation(
            &client,
            &bases,
            &lab_key,
            &admin_key,
            args.propagation_samples,
        )
        .await?;

        eprintln!("bench cluster: failover, {} rounds", args.kill_rounds);
        let mut failover_ms = Vec::new();
        for round in 0..args.kill_rounds {
            let victim = round % nodes.0.len();
            failover_ms.push(
                failover(
                    &client,
                    &mut nodes.0,
                    victim,
                    &nats.urls(),
                    dir.path(),
                    &lab_key,
                    round,
                )
                .await?,
            );
        }

        drop(nodes);
        drop(nats);
        let figures = json!({
            "bench": "cluster",
            "nodes": 3,
            "nats_servers": 3,
            "stream_replicas": 3,
            "setup_secs": round2(setup_secs),
            "writers": args.writers,
            "batch_events": args.batch,
            "seconds": args.seconds,
            "single_node": single.json(),
            "cluster": cluster.json(),
            "raw_jetstream_publish": {
                "messages": raw.messages,
                "message_bytes": raw.message_bytes,
                "in_flight": raw.in_flight,
                "messages_per_sec": round2(raw.messages_per_sec),
                "note": "one process publishing to the same three servers with the records' \
                         stream settings; the cluster's messages_per_sec is its counterpart",
            },
            "propagation_ms": propagation,
            "propagation_goal_p99_ms": 100,
            "failover_ms": {
                "rounds": failover_ms,
                "max": failover_ms.iter().copied().fold(0.0_f64, f64::max),
                "what": "from the SIGKILL of the node a writer used to that writer's first \
                         acknowledged write on another node",
            },
        });
        println!("{}", serde_json::to_string_pretty(&figures)?);
        Ok(ExitCode::SUCCESS)
    })
}

/// Node processes, killed when dropped: a benchmark that fails half-way
/// leaves no node behind (an orphan would reconnect to whatever NATS server
/// later reuses its servers' ports).
struct Processes(Vec<(Child, String)>);

impl Drop for Processes {
    fn drop(&mut self) {
        for (child, _) in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// What one ingest run measured.
struct IngestFigures {
    events: u64,
    batches: u64,
    /// Messages the cluster published: one per person shard of a batch.
    messages: u64,
    /// Unacknowledged writes by answer (`503`, `429`…, or `error`).
    refused: std::collections::BTreeMap<String, u64>,
    elapsed_secs: f64,
    mean_message_bytes: usize,
    latencies_ms: Vec<f64>,
}

impl IngestFigures {
    fn json(&self) -> Value {
        let mut latencies = self.latencies_ms.clone();
        latencies.sort_by(f64::total_cmp);
        json!({
            "events_acknowledged": self.events,
            "batches_acknowledged": self.batches,
            "refused_or_failed": self.refused,
            "elapsed_secs": round2(self.elapsed_secs),
            "events_per_sec": round2(self.events as f64 / self.elapsed_secs.max(1e-9)),
            // A single node publishes nothing: its figure would be made up.
            "messages_per_sec": (self.messages > 0)
                .then(|| round2(self.messages as f64 / self.elapsed_secs.max(1e-9))),
            "batch_latency_ms": {
                "p50": round2(percentile(&latencies, 0.50)),
                "p99": round2(percentile(&latencies, 0.99)),
            },
        })
    }
}

/// `args.writers` writers, writer `w` on node `w % bases.len()`, each
/// posting batches of new negative test results for `args.seconds`.
async fn ingest(
    client: &reqwest::Client,
    bases: &[String],
    lab_key: &str,
    args: &BenchClusterArgs,
    label: &str,
) -> IngestFigures {
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut writers = Vec::new();
    for writer in 0..args.writers {
        let client = client.clone();
        let base = bases[writer % bases.len()].clone();
        let lab_key = lab_key.to_owned();
        let stop = stop.clone();
        let batch_events = args.batch;
        let label = label.to_owned();
        let replicated = bases.len() > 1;
        writers.push(tokio::spawn(async move {
            let mut figures = (
                0u64,
                0u64,
                0u64,
                std::collections::BTreeMap::<String, u64>::new(),
                0usize,
                Vec::new(),
            );
            let mut person = (writer as u64).wrapping_mul(7_919);
            let mut batch = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let mut shards = std::collections::BTreeSet::new();
                let events: Vec<Value> = (0..batch_events)
                    .map(|index| {
                        person = (person + 104_729) % INGEST_PERSONS;
                        let pid = format!("bench-p{person}");
                        shards.insert(ymt_cluster::subject_of_person(
                            &pid.parse().expect("a valid pid"),
                        ));
                        negative_test(&format!("{label}-w{writer}-b{batch}-{index}"), &pid)
                    })
                    .collect();
                let body = serde_json::to_vec(&json!({ "events": events })).expect("json");
                let sent_at = Instant::now();
                let answer = client
                    .post(format!("{base}/v1/events:batch"))
                    .bearer_auth(&lab_key)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await;
                let outcome = match answer {
                    Ok(response) => {
                        let status = response.status().as_u16();
                        match response.bytes().await {
                            Ok(_) if status == 200 => None,
                            Ok(body) => {
                                if std::env::var_os("YMT_BENCH_SHOW_REFUSALS").is_some() {
                                    eprintln!(
                                        "refused: {status} {}",
                                        String::from_utf8_lossy(&body)
                                    );
                                }
                                Some(status.to_string())
                            }
                            Err(_) => Some("error".to_owned()),
                        }
                    }
                    Err(_) => Some("error".to_owned()),
                };
                if let Some(refused) = outcome {
                    *figures.3.entry(refused).or_default() += 1;
                } else {
                    figures.0 += batch_events as u64;
                    figures.1 += 1;
                    if replicated {
                        figures.2 += shards.len() as u64;
                    }
                    figures.4 += body.len();
                    figures.5.push(sent_at.elapsed().as_secs_f64() * 1e3);
                }
                batch += 1;
            }
            figures
        }));
    }
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut total = IngestFigures {
        events: 0,
        batches: 0,
        messages: 0,
        refused: Default::default(),
        elapsed_secs: 0.0,
        mean_message_bytes: 0,
        latencies_ms: Vec::new(),
    };
    let mut body_bytes = 0usize;
    for writer in writers {
        let (events, batches, messages, refused, bytes, latencies) =
            writer.await.expect("a writer");
        total.events += events;
        total.batches += batches;
        total.messages += messages;
        for (answer, count) in refused {
            *total.refused.entry(answer).or_default() += count;
        }
        body_bytes += bytes;
        total.latencies_ms.extend(latencies);
    }
    total.elapsed_secs = started.elapsed().as_secs_f64();
    // A replicated message carries the batch's events of one shard, with the
    // node's stamps: about the request body per message, shared.
    total.mean_message_bytes = body_bytes / (total.messages.max(1) as usize);
    total
}

/// One event per sample, each to the next node in turn; from its
/// acknowledgement, the time until each other node's timeline holds it.
async fn propagation(
    client: &reqwest::Client,
    bases: &[String],
    lab_key: &str,
    admin_key: &str,
    samples: usize,
) -> anyhow::Result<Value> {
    let mut delays_ms = Vec::with_capacity(samples * 2);
    for sample in 0..samples {
        let origin = sample % bases.len();
        let pid = format!("prop-p{sample}");
        let id = format!("prop-{sample}");
        let response = client
            .post(format!("{}/v1/events:batch", bases[origin]))
            .bearer_auth(lab_key)
            .json(&json!({ "events": [negative_test(&id, &pid)] }))
            .send()
            .await?;
        anyhow::ensure!(
            response.status().as_u16() == 200,
            "the propagation write was answered {}",
            response.status()
        );
        let acknowledged_at = Instant::now();
        // The node names the event as it stores it (`<author>:<id>`).
        let answer: Value = response.json().await?;
        let id = answer["results"][0]["id"]
            .as_str()
            .context("the stored event's id")?
            .to_owned();
        let waits = bases
            .iter()
            .enumerate()
            .filter(|(index, _)| *index != origin)
            .map(|(_, base)| wait_for_event(client, base, admin_key, &pid, &id, acknowledged_at));
        for delay in futures_util::future::join_all(waits).await {
            delays_ms.push(delay?);
        }
    }
    delays_ms.sort_by(f64::total_cmp);
    Ok(json!({
        "samples": delays_ms.len(),
        "p50": round2(percentile(&delays_ms, 0.50)),
        "p99": round2(percentile(&delays_ms, 0.99)),
        "max": round2(delays_ms.last().copied().unwrap_or(0.0)),
        "what": "from the acknowledgement on one node to the event in another node's timeline \
                 (polled every millisecond)",
    }))
}

async fn wait_for_event(
    client: &reqwest::Client,
    base: &str,
    admin_key: &str,
    pid: &str,
    id: &str,
    since: Instant,
) -> anyhow::Result<f64> {
    loop {
        let holds = match client
            .get(format!("{base}/v1/persons/{pid}/timeline"))
            .bearer_auth(admin_key)
            .send()
            .await
        {
            Ok(response) if response.status().as_u16() == 200 => {
                let timeline: Value = response.json().await.unwrap_or_default();
                timeline["events"]
                    .as_array()
                    .is_some_and(|events| events.iter().any(|record| record["event"]["id"] == id))
            }
            _ => false,
        };
        if holds {
            return Ok(since.elapsed().as_secs_f64() * 1e3);
        }
        anyhow::ensure!(
            since.elapsed() < WAIT_MAX,
            "{base} did not hold {id} within {} s",
            WAIT_MAX.as_secs()
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// A writer posts one batch after another to node `victim`; the node is
/// SIGKILLed; the writer retries the same batch on the next node. Returns
/// the milliseconds from the kill to that write's acknowledgement, then
/// restarts the node (and waits until it is ready again).
async fn failover(
    client: &reqwest::Client,
    nodes: &mut [(Child, String)],
    victim: usize,
    nats_urls: &str,
    dir: &Path,
    lab_key: &str,
    round: usize,
) -> anyhow::Result<f64> {
    let bases: Vec<String> = nodes.iter().map(|(_, base)| base.clone()).collect();
    let killed_at = Arc::new(AtomicU64::new(0));
    let origin = Instant::now();
    let writer = {
        let client = client.clone();
        let lab_key = lab_key.to_owned();
        let killed_at = killed_at.clone();
        tokio::spawn(async move {
            let mut node = victim;
            let mut batch = 0u64;
            loop {
                let body = json!({ "events": [negative_test(
                    &format!("kill-r{round}-b{batch}"),
                    &format!("kill-p{}", batch % 1_000),
                )] });
                let acknowledged = loop {
                    let sent = client
                        .post(format!("{}/v1/events:batch", bases[node % bases.len()]))
                        .bearer_auth(&lab_key)
                        .timeout(Duration::from_secs(5))
                        .json(&body)
                        .send()
                        .await;
                    if sent.is_ok_and(|response| response.status().as_u16() == 200) {
                        break Instant::now();
                    }
                    anyhow::ensure!(origin.elapsed() < WAIT_MAX, "no node acknowledges");
                    node += 1;
                };
                let killed = killed_at.load(Ordering::SeqCst);
                if killed > 0 && node % bases.len() != victim {
                    let acknowledged_micros = (acknowledged - origin).as_micros() as u64;
                    return Ok(acknowledged_micros.saturating_sub(killed) as f64 / 1e3);
                }
                batch += 1;
                anyhow::ensure!(origin.elapsed() < WAIT_MAX, "the failover writer is stuck");
            }
        })
    };
    // Let the writer reach a steady state on the victim, then kill it.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (child, _) = &mut nodes[victim];
    // The instant is taken just before the signal: the figure errs long.
    killed_at.store(
        (origin.elapsed().as_micros() as u64).max(1),
        Ordering::SeqCst,
    );
    child.kill().context("SIGKILL of a node")?;
    let _ = child.wait();
    let failover_ms = writer.await.context("the failover writer")??;
    let data = dir.join(format!("node-{}", victim + 1));
    nodes[victim] = crate::cmd_cluster::start_node(&data, nats_urls, 3)?;
    wait_ready(client, &nodes[victim].1).await?;
    Ok(round2(failover_ms))
}

async fn wait_ready(client: &reqwest::Client, base: &str) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        let ready = client
            .get(format!("{base}/readyz"))
            .send()
            .await
            .is_ok_and(|response| response.status().as_u16() == 200);
        if ready {
            return Ok(());
        }
        anyhow::ensure!(started.elapsed() < WAIT_MAX, "{base} did not become ready");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn negative_test(id: &str, pid: &str) -> Value {
    let now = time::OffsetDateTime::now_utc();
    let format = &time::format_description::well_known::Rfc3339;
    json!({
        "id": id,
        "subject": {"pid": pid},
        "region": "440305",
        "kind": "test_result",
        "data": {
            "test": "pcr",
            "result": "negative",
            "sampled_at": (now - time::Duration::hours(1)).format(format).expect("rfc3339"),
            "reported_at": (now - time::Duration::minutes(1)).format(format).expect("rfc3339"),
            "lab": "lab-440305-01",
        },
    })
}

fn percentile(sorted: &[f64], quantile: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((sorted.len() as f64 * quantile).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn round2(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}
