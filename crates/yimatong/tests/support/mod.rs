//! The one kit of the binary's process tests: start the real `yimatong
//! serve` as a child process, wait until it answers, add principals, write
//! batches as a lab and check what a node serves against what was
//! acknowledged.
#![allow(dead_code)]

pub mod cluster;
pub mod commands;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

/// Persons the writers spread their events over.
pub const PERSONS: usize = 5_000;

/// How long a started node may take to answer its health probe before the
/// test gives up: generous, since a loaded CI machine is slow, and only a
/// node that never comes up reaches it.
const HEALTHY_WITHIN: std::time::Duration = std::time::Duration::from_secs(60);

/// splitmix64: a small, seeded, reproducible generator.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_yimatong")
}

pub fn add_principal(data: &Path, id: &str, role: &str, jurisdiction: &str) -> String {
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

/// The runtime the tests drive their HTTP clients on.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
}

/// A node's process, killed (SIGKILL) when dropped: a failing test must not
/// leave a node running that holds the test's output pipes open.
pub struct NodeProcess(Child);

impl std::ops::Deref for NodeProcess {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for NodeProcess {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the node on a free port and returns it with its base URL, read
/// from the line it prints once it listens.
pub fn start(data: &Path, extra_args: &[&str]) -> (NodeProcess, String) {
    let mut child = Command::new(binary())
        .args(["serve", "--data"])
        .arg(data)
        .args(["--listen", "127.0.0.1:0"])
        .args(extra_args)
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
    (NodeProcess(child), base)
}

pub async fn wait_healthy(client: &reqwest::Client, base: &str) {
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

pub fn rfc3339_now_minus(secs: u64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    ymt_core::Timestamp::from_unix_secs((now - secs) as i64)
        .expect("an instant")
        .to_rfc3339()
}

/// Acknowledged event ids by person.
pub type Acked = Arc<Mutex<BTreeMap<String, Vec<String>>>>;

/// One writer of one round.
pub struct WriterJob {
    pub client: reqwest::Client,
    pub base: String,
    pub lab_key: String,
    /// Event ids are `<id_prefix>-b<batch>-<index>`, in the lab's namespace.
    pub id_prefix: String,
    pub batch_events: usize,
    pub seed: u64,
    pub acked: Acked,
    pub acked_batches: Arc<AtomicUsize>,
}

/// Posts batches until a request fails (the node was killed).
pub async fn writer(job: WriterJob) {
    let WriterJob {
        client,
        base,
        lab_key,
        id_prefix,
        batch_events,
        seed,
        acked,
        acked_batches,
    } = job;
    let mut rng = Rng(seed);
    for batch in 0.. {
        let mut persons = Vec::with_capacity(batch_events);
        let events: Vec<Value> = (0..batch_events)
            .map(|index| {
                let pid = format!("p-{}", rng.below(PERSONS as u64));
                let result = if rng.below(10) == 0 {
                    "positive"
                } else {
                    "negative"
                };
                // In the lab's namespace, the id the node stores.
                let id = format!("{id_prefix}-b{batch}-{index}");
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
pub async fn check_sample(
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
