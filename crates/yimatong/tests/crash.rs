//! Crash test: the real `yimatong serve` is killed with SIGKILL at
//! pseudo-random moments (seeded) while writers post batches as fast as they
//! can, and restarted on the same directory each time.
//!
//! After every restart:
//! - every event acknowledged so far (HTTP 200) is in the persons' timelines
//!   (a sample of persons per round; after the last kill the store is opened
//!   directly and every acknowledged id is looked up);
//! - the status the node serves (its projection, rebuilt on start) equals a
//!   fresh evaluation: the timeline endpoint evaluates the person from the
//!   log at request time, so for a sample of persons the status endpoint's
//!   `color` and `valid_until` must equal the timeline's `decision`.
//!
//! Finally `yimatong audit verify` must report the audit chain intact.
//!
//! The node writes a snapshot every few hundred events, so most restarts
//! load a snapshot and replay only the log after it.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use ymt_store::EventStore;

const ROUNDS: usize = 20;
const WRITERS: usize = 2;
const BATCH_EVENTS: usize = 200;
const PERSONS: usize = 5_000;
const SEED: u64 = 0x5eed_2022_0701;
/// How long a restarted node may take to answer its health probe before the
/// test gives up: generous, since a loaded CI machine is slow, and only a
/// node that never comes up reaches it.
const HEALTHY_WITHIN: std::time::Duration = std::time::Duration::from_secs(60);
const SNAPSHOT_EVERY_EVENTS: &str = "300";

/// splitmix64: a small, seeded, reproducible generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}

fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_yimatong")
}

fn add_principal(data: &Path, id: &str, role: &str, jurisdiction: &str) -> String {
    let output = Command::new(binary())
        .args(["admin", "principal", "add", "--data"])
        .arg(data)
        .args(["--id", id, "--role", role, "--jurisdiction", jurisdiction])
        .output()
        .expect("the binary runs");
    assert!(
        output.status.success(),
        "principal add: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let printed: Value = serde_json::from_slice(&output.stdout).expect("JSON output");
    printed["api_key"].as_str().expect("an api_key").to_owned()
}

/// Starts the node on a free port and returns it with its base URL, read
/// from the line it prints once it listens.
fn start(data: &Path) -> (Child, String) {
    let mut child = Command::new(binary())
        .args(["serve", "--data"])
        .arg(data)
        .args(["--listen", "127.0.0.1:0"])
        // Snapshots every few batches, so restarts load a snapshot and
        // replay the log after it, and some kills land mid-snapshot.
        .args(["--snapshot-every-events", SNAPSHOT_EVERY_EVENTS])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the server starts");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("reads stdout");
    let base = line
        .split_whitespace()
        .find(|word| word.starts_with("http://"))
        .unwrap_or_else(|| panic!("the node says where it listens, got {line:?}"))
        .to_owned();
    // Keep draining stdout so the node never blocks on a full pipe.
    std::thread::spawn(move || {
        let mut sink = String::new();
        while stdout.read_line(&mut sink).unwrap_or(0) > 0 {
            sink.clear();
        }
    });
    (child, base)
}

async fn wait_healthy(client: &reqwest::Client, base: &str) {
    let deadline = std::time::Instant::now() + HEALTHY_WITHIN;
    while std::time::Instant::now() < deadline {
        if let Ok(response) = client.get(format!("{base}/healthz")).send().await
            && response.status().is_success()
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the node did not become healthy at {base}");
}

fn rfc3339_now_minus(secs: u64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    ymt_core::Timestamp::from_unix_secs((now - secs) as i64)
        .expect("an instant")
        .to_rfc3339()
}

/// Acknowledged event ids by person.
type Acked = Arc<Mutex<BTreeMap<String, Vec<String>>>>;

/// One writer of one round.
struct WriterJob {
    client: reqwest::Client,
    base: String,
    lab_key: String,
    round: usize,
    writer: usize,
    seed: u64,
    acked: Acked,
    acked_batches: Arc<AtomicUsize>,
}

/// Posts batches until a request fails (the node was killed).
async fn writer(job: WriterJob) {
    let WriterJob {
        client,
        base,
        lab_key,
        round,
        writer,
        seed,
        acked,
        acked_batches,
    } = job;
    let mut rng = Rng(seed);
    for batch in 0.. {
        let mut persons = Vec::with_capacity(BATCH_EVENTS);
        let events: Vec<Value> = (0..BATCH_EVENTS)
            .map(|index| {
                let pid = format!("p-{}", rng.below(PERSONS as u64));
                let result = if rng.below(10) == 0 {
                    "positive"
                } else {
                    "negative"
                };
                // In the lab's namespace, the id the node stores.
                let id = format!("crash-lab:r{round}-w{writer}-b{batch}-{index}");
                persons.push((pid.clone(), id.clone()));
                json!({
                    "id": id,
                    "subject": {"pid": pid},
                    "region": "440305",
                    "kind": "test_result",
                    "data": {
                        "test": "pcr",
                        "result": result,
                        "sampled_at": rfc3339_now_minus(3600),
                        "reported_at": rfc3339_now_minus(60),
                        "lab": "lab-440305-01",
                    },
                })
            })
            .collect();
        let sent = client
            .post(format!("{base}/v1/events:batch"))
            .bearer_auth(&lab_key)
            .json(&json!({ "events": events }))
            .send()
            .await;
        let Ok(response) = sent else { return };
        if response.status().as_u16() != 200 || response.bytes().await.is_err() {
            return;
        }
        {
            let mut acked = acked.lock().expect("lock");
            for (pid, id) in persons {
                acked.entry(pid).or_default().push(id);
            }
        }
        acked_batches.fetch_add(1, Ordering::SeqCst);
    }
}

/// For a sample of persons: every acknowledged event is in the timeline,
/// and the served status equals the fresh evaluation in the timeline.
async fn check_sample(
    client: &reqwest::Client,
    base: &str,
    admin_key: &str,
    acked: &BTreeMap<String, Vec<String>>,
    rng: &mut Rng,
) {
    let pids: Vec<&String> = acked.keys().collect();
    if pids.is_empty() {
        return;
    }
    for _ in 0..8 {
        let pid = pids[rng.below(pids.len() as u64) as usize];
        let timeline: Value = client
            .get(format!("{base}/v1/persons/{pid}/timeline"))
            .bearer_auth(admin_key)
            .send()
            .await
            .expect("timeline answers")
            .json()
            .await
            .expect("timeline JSON");
        let stored: std::collections::BTreeSet<&str> = timeline["events"]
            .as_array()
            .expect("events")
            .iter()
            .filter_map(|record| record["event"]["id"].as_str())
            .collect();
        for id in &acked[pid] {
            assert!(
                stored.contains(id.as_str()),
                "acknowledged event {id} of {pid} is stored"
            );
        }
        let status: Value = client
            .get(format!("{base}/v1/persons/{pid}/status"))
            .bearer_auth(admin_key)
            .send()
            .await
            .expect("status answers")
            .json()
            .await
            .expect("status JSON");
        let decision = &timeline["decision"];
        assert_eq!(
            (&status["color"], &status["valid_until"]),
            (&decision["color"], &decision["valid_until"]),
            "the served status of {pid} equals a fresh evaluation"
        );
    }
}

#[test]
fn acknowledged_events_survive_sigkill_and_statuses_match_the_log() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let data = dir.path().join("node");
    let lab_key = add_principal(&data, "crash-lab", "lab", "440305");
    let admin_key = add_principal(&data, "crash-admin", "national_admin", "nation");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let client = reqwest::Client::new();
    let acked: Acked = Arc::default();
    let mut rng = Rng(SEED);

    for round in 0..ROUNDS {
        let started = std::time::Instant::now();
        let (mut child, base) = start(&data);
        runtime.block_on(async {
            wait_healthy(&client, &base).await;
            let ready = started.elapsed();
            let snapshot = acked.lock().expect("lock").clone();
            check_sample(&client, &base, &admin_key, &snapshot, &mut rng).await;

            // Kill after a seeded number of acknowledged batches and a
            // seeded number of scheduler turns, while writers are mid-batch.
            let kill_after_batches = 1 + rng.below(3) as usize;
            let extra_turns = rng.below(200);
            let acked_batches = Arc::new(AtomicUsize::new(0));
            let mut writers = Vec::new();
            for index in 0..WRITERS {
                writers.push(tokio::spawn(writer(WriterJob {
                    client: client.clone(),
                    base: base.clone(),
                    lab_key: lab_key.clone(),
                    round,
                    writer: index,
                    seed: rng.next(),
                    acked: acked.clone(),
                    acked_batches: acked_batches.clone(),
                })));
            }
            while acked_batches.load(Ordering::SeqCst) < kill_after_batches {
                assert!(
                    !writers.iter().all(|w| w.is_finished()),
                    "round {round}: the writers stopped before the kill"
                );
                tokio::task::yield_now().await;
            }
            for _ in 0..extra_turns {
                tokio::task::yield_now().await;
            }
            child.kill().expect("SIGKILL");
            child.wait().expect("reaped");
            for writer in writers {
                writer.await.expect("the writer ends");
            }
            eprintln!(
                "round {round}: ready after {ready:?}, killed after {kill_after_batches} batches, round took {:?}",
                started.elapsed()
            );
        });
    }

    // One more start: the last round's acknowledged events are checked too.
    let (mut child, base) = start(&data);
    runtime.block_on(async {
        wait_healthy(&client, &base).await;
        let snapshot = acked.lock().expect("lock").clone();
        check_sample(&client, &base, &admin_key, &snapshot, &mut rng).await;
    });
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");

    // Every acknowledged event, looked up in the store itself.
    let acked = acked.lock().expect("lock").clone();
    let total: usize = acked.values().map(Vec::len).sum();
    assert!(
        total >= ROUNDS * BATCH_EVENTS,
        "each round acknowledged events"
    );
    {
        let store =
            ymt_store::EmbeddedStore::open(data.join("store"), ymt_store::StoreConfig::default())
                .expect("the store opens");
        let snapshot = store.snapshot_latest().expect("snapshots read");
        assert!(
            snapshot.latest.is_some(),
            "the node wrote snapshots, so restarts loaded them"
        );
        for (pid, ids) in &acked {
            for id in ids {
                let id = ymt_core::EventId::parse(id).expect("an id");
                let stored = store
                    .event_by_id(&id)
                    .expect("reads")
                    .unwrap_or_else(|| panic!("acknowledged event {id} is stored"));
                assert_eq!(stored.person.as_str(), pid, "{id} is about {pid}");
            }
        }
    }

    let verify = Command::new(binary())
        .args(["audit", "verify", "--data"])
        .arg(&data)
        .output()
        .expect("the binary runs");
    let report: Value = serde_json::from_slice(&verify.stdout).expect("a JSON report");
    assert!(
        verify.status.success() && report["intact"] == json!(true),
        "the audit chain is intact: {report}"
    );
}
