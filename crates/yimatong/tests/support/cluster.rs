//! The cluster part of the process-test kit: three NATS servers in one
//! JetStream cluster (`ymt_cluster::local`) and three `yimatong serve
//! --nats` nodes on loopback, with private ports and data directories that
//! share one start (the first node's directory copied to the others, as
//! `yimatong cluster up` does). Every wait observes a state, bounded only
//! as a failure.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use ymt_cluster::local::{NatsCluster, nats_server_binary};

use super::{NodeProcess, add_principal, start};

/// How long a state the test waits for may take before the test fails:
/// generous, since only a cluster that never gets there reaches it.
pub const CONVERGES_WITHIN: Duration = Duration::from_secs(60);

pub struct TestCluster {
    pub dir: tempfile::TempDir,
    pub nats: NatsCluster,
    pub nodes: Vec<Option<NodeProcess>>,
    pub bases: Vec<String>,
    pub admin_key: String,
    pub lab_key: String,
    /// Arguments every node starts with beyond the cluster's own.
    pub extra_args: Vec<String>,
    /// National admins `admin-2`, `admin-3`, `admin-4`, each created by the
    /// operator (so no two are one party): for held actions.
    pub other_admin_keys: Vec<String>,
    /// A health authority of 440305 (`cdc-440305`): venues, check-ins.
    pub authority_key: String,
}

/// The `nats-server` binary, or `None` after printing the one skip line (the
/// house rule for external things; CI installs it, see `.ci/run`).
pub fn nats_or_skip(test: &str) -> Option<PathBuf> {
    let binary = nats_server_binary();
    if binary.is_none() {
        println!(
            "SKIP {test}: nats-server not found (set {} or put it on PATH)",
            ymt_cluster::local::NATS_SERVER_ENV
        );
    }
    binary
}

/// Copies a data directory no process holds.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create a directory");
    for entry in std::fs::read_dir(from).expect("read a directory") {
        let entry = entry.expect("an entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("a type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else if entry.file_name() != "control.sock" {
            std::fs::copy(entry.path(), &target).expect("copy a file");
        }
    }
}

impl TestCluster {
    /// Starts three NATS servers and three nodes, each node answering
    /// writes only once the quorum acknowledged them (`ack_timeout_ms`).
    pub async fn start(binary: &Path, ack_timeout_ms: u64) -> TestCluster {
        TestCluster::start_with_args(binary, ack_timeout_ms, &[]).await
    }

    /// As [`TestCluster::start`], every node started with `extra_args` too.
    pub async fn start_with_args(
        binary: &Path,
        ack_timeout_ms: u64,
        extra_args: &[&str],
    ) -> TestCluster {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let nats = NatsCluster::start(binary, &dir.path().join("nats"), 3)
            .await
            .expect("the NATS cluster starts");
        let first = dir.path().join("node-1");
        let admin_key = add_principal(&first, "admin-1", "national_admin", "nation");
        let lab_key = add_principal(&first, "lab-440305", "lab", "440305");
        let other_admin_keys = (2..=4)
            .map(|index| {
                add_principal(
                    &first,
                    &format!("admin-{index}"),
                    "national_admin",
                    "nation",
                )
            })
            .collect();
        let authority_key = add_principal(&first, "cdc-440305", "health_authority", "440305");
        for index in 2..=3 {
            copy_dir(&first, &dir.path().join(format!("node-{index}")));
        }
        let mut cluster = TestCluster {
            dir,
            nats,
            nodes: Vec::new(),
            bases: Vec::new(),
            admin_key,
            lab_key,
            extra_args: extra_args.iter().map(|arg| (*arg).to_owned()).collect(),
            other_admin_keys,
            authority_key,
        };
        for index in 0..3 {
            let (process, base) = cluster.start_node(index, ack_timeout_ms);
            cluster.nodes.push(Some(process));
            cluster.bases.push(base);
        }
        cluster
    }

    pub fn data_dir(&self, index: usize) -> PathBuf {
        self.dir.path().join(format!("node-{}", index + 1))
    }

    /// Starts node `index` (its first start, or again after a kill) and
    /// returns it with its new base URL.
    pub fn start_node(&self, index: usize, ack_timeout_ms: u64) -> (NodeProcess, String) {
        let urls = self.nats.urls();
        let ack_timeout_ms = ack_timeout_ms.to_string();
        let mut args = vec!["--nats", &urls, "--publish-ack-timeout-ms", &ack_timeout_ms];
        args.extend(self.extra_args.iter().map(String::as_str));
        start(&self.data_dir(index), &args)
    }

    /// Sends `signal` to node `index` (SIGSTOP, SIGCONT).
    pub fn signal_node(&self, index: usize, signal: i32) {
        let pid = self.nodes[index].as_ref().expect("the node runs").id();
        // SAFETY: kill(2) on a child process this test started and has not
        // reaped; no memory is involved.
        let result = unsafe { libc::kill(pid as libc::pid_t, signal) };
        assert_eq!(result, 0, "signal {signal} to node {}", index + 1);
    }

    /// A JetStream client of the cluster's servers, as a test's broker.
    pub async fn jetstream(&self) -> async_nats::jetstream::Context {
        let servers: Vec<async_nats::ServerAddr> = self
            .nats
            .servers
            .iter()
            .map(|server| server.url().parse().expect("a server address"))
            .collect();
        let client = async_nats::connect(servers)
            .await
            .expect("the test connects to NATS");
        async_nats::jetstream::new(client)
    }

    /// SIGKILL of node `index`.
    pub fn kill_node(&mut self, index: usize) {
        if let Some(mut process) = self.nodes[index].take() {
            process.kill().expect("kill the node");
            process.wait().expect("the node ends");
        }
    }

    pub fn restart_node(&mut self, index: usize, ack_timeout_ms: u64) {
        let (process, base) = self.start_node(index, ack_timeout_ms);
        self.nodes[index] = Some(process);
        self.bases[index] = base;
    }
}

/// The ids of a person's events a node holds, sorted; `None` while it does
/// not answer (a node being restarted).
pub async fn event_ids(
    client: &reqwest::Client,
    base: &str,
    admin_key: &str,
    pid: &str,
) -> Option<Vec<String>> {
    let response = client
        .get(format!("{base}/v1/persons/{pid}/timeline"))
        .bearer_auth(admin_key)
        .send()
        .await
        .ok()?;
    if response.status().as_u16() == 404 {
        return Some(Vec::new());
    }
    let timeline: Value = response.json().await.ok()?;
    let mut ids: Vec<String> = timeline["events"]
        .as_array()?
        .iter()
        .filter_map(|record| record["event"]["id"].as_str().map(str::to_owned))
        .collect();
    ids.sort();
    Some(ids)
}

/// Waits until `base` holds every id of `expected` for each person.
pub async fn wait_holds(
    client: &reqwest::Client,
    base: &str,
    admin_key: &str,
    expected: &std::collections::BTreeMap<String, Vec<String>>,
) {
    let deadline = tokio::time::Instant::now() + CONVERGES_WITHIN;
    for (pid, ids) in expected {
        loop {
            let held = event_ids(client, base, admin_key, pid)
                .await
                .unwrap_or_default();
            let missing: Vec<&String> = ids.iter().filter(|id| !held.contains(id)).collect();
            if missing.is_empty() {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{base} still misses acknowledged events of {pid}: {missing:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// A person's status body as a node serves it, as bytes.
pub async fn status_bytes(
    client: &reqwest::Client,
    base: &str,
    admin_key: &str,
    pid: &str,
) -> Vec<u8> {
    let response = client
        .get(format!("{base}/v1/persons/{pid}/status"))
        .bearer_auth(admin_key)
        .send()
        .await
        .expect("status answers");
    response.bytes().await.expect("a status body").to_vec()
}

/// A writer that fails over: it posts batches of test results to one node
/// and, when a request fails (the node killed, a 503), posts the same batch
/// (same ids) to the next node, until `stop` is set. Only batches answered
/// 200 count as acknowledged.
pub struct FailoverWriter {
    pub client: reqwest::Client,
    pub bases: std::sync::Arc<parking_lot::Mutex<Vec<String>>>,
    pub lab_key: String,
    pub id_prefix: String,
    pub persons: u64,
    pub batch_events: usize,
    pub seed: u64,
    pub acked: super::Acked,
    pub acked_batches: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    pub stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl FailoverWriter {
    pub async fn run(self, mut node: usize) {
        use std::sync::atomic::Ordering;
        let mut rng = super::Rng(self.seed);
        let mut batch = 0usize;
        while !self.stop.load(Ordering::SeqCst) {
            let mut persons = Vec::with_capacity(self.batch_events);
            let events: Vec<Value> = (0..self.batch_events)
                .map(|index| {
                    let pid = format!("p-{}", rng.below(self.persons));
                    let id = format!("{}-b{batch}-{index}", self.id_prefix);
                    persons.push((pid.clone(), id.clone()));
                    serde_json::json!({
                        "id": id,
                        "subject": {"pid": pid},
                        "region": "440305",
                        "kind": "test_result",
                        "data": {
                            "test": "pcr",
                            "result": "negative",
                            "sampled_at": super::rfc3339_now_minus(3600),
                            "reported_at": super::rfc3339_now_minus(60),
                            "lab": "lab-440305-01",
                        },
                    })
                })
                .collect();
            let body = serde_json::json!({ "events": events });
            // The same batch until some node acknowledges it.
            loop {
                if self.stop.load(Ordering::SeqCst) {
                    return;
                }
                let base = {
                    let bases = self.bases.lock();
                    bases[node % bases.len()].clone()
                };
                let sent = self
                    .client
                    .post(format!("{base}/v1/events:batch"))
                    .bearer_auth(&self.lab_key)
                    .json(&body)
                    .send()
                    .await;
                let acknowledged = match sent {
                    Ok(response) => {
                        response.status().as_u16() == 200 && response.bytes().await.is_ok()
                    }
                    Err(_) => false,
                };
                if acknowledged {
                    break;
                }
                node += 1;
            }
            {
                let mut acked = self.acked.lock().expect("lock");
                for (pid, id) in persons {
                    acked.entry(pid).or_default().push(id);
                }
            }
            self.acked_batches.fetch_add(1, Ordering::SeqCst);
            batch += 1;
        }
    }
}

/// Waits until `count` reaches at least `target`.
pub async fn wait_count(count: &std::sync::atomic::AtomicUsize, target: usize, what: &str) {
    let deadline = tokio::time::Instant::now() + CONVERGES_WITHIN;
    while count.load(std::sync::atomic::Ordering::SeqCst) < target {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: {} of {target}",
            count.load(std::sync::atomic::Ordering::SeqCst)
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Waits until `/readyz` answers 200 (the node's replication lag is within
/// its bound).
pub async fn wait_ready(client: &reqwest::Client, base: &str) {
    let deadline = tokio::time::Instant::now() + CONVERGES_WITHIN;
    loop {
        let ready = client
            .get(format!("{base}/readyz"))
            .send()
            .await
            .is_ok_and(|response| response.status().as_u16() == 200);
        if ready {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{base} did not become ready"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A counter or gauge of a node's `/metrics` without labels (0 when absent).
pub async fn metric(client: &reqwest::Client, base: &str, name: &str) -> f64 {
    let text = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("metrics answer")
        .text()
        .await
        .expect("metrics text");
    text.lines()
        .find_map(|line| {
            let (metric, value) = line.split_once(' ')?;
            (metric == name).then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0.0)
}

/// A JSON answer of `base` to `path`, or `None` while it does not answer.
pub async fn get_json(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    path: &str,
) -> Option<Value> {
    let mut request = client.get(format!("{base}{path}"));
    if !key.is_empty() {
        request = request.bearer_auth(key);
    }
    let response = request.send().await.ok()?;
    if !response.status().is_success() {
        return None;
    }
    response.json().await.ok()
}

/// Waits until every node answers `read` with the same value and that
/// value satisfies `done`; returns it.
pub async fn wait_same_everywhere<F, Fut>(
    bases: &[String],
    what: &str,
    read: F,
    done: impl Fn(&Value) -> bool,
) -> Value
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = Option<Value>>,
{
    let deadline = tokio::time::Instant::now() + CONVERGES_WITHIN;
    loop {
        let mut values = Vec::new();
        for base in bases {
            values.push(read(base.clone()).await);
        }
        if let Some(Some(first)) = values.first()
            && done(first)
            && values.iter().all(|value| value.as_ref() == Some(first))
        {
            return first.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what} differs between the nodes or is not there yet: {values:#?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
