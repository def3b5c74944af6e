//! The test kit: the one way the in-process tests start a node.
//!
//! A [`TestNode`] is a node as production runs it (see
//! crates/yimatong/src/node_start.rs): opened with [`Node::open_embedded`] in
//! a temporary directory, with its background tasks
//! ([`Node::spawn_background_tasks`]: the scheduler of timed transitions with
//! the retention purge, and the read-audit writer) and its API served by
//! [`ymt_http::serve`] on a loopback port. Its clock is a [`ManualClock`]
//! that only the test moves.
//!
//! A node ends in one of three ways, and must: dropping a running
//! `TestNode` fails the test, since the store must be closed before its
//! directory is removed.
//! - [`TestNode::close`]: a clean shutdown, then the directory is removed;
//! - [`TestNode::stop`]: a clean shutdown keeping the directory, to
//!   [`StoppedNode::start`] again (what [`TestNode::restart`] does);
//! - [`TestNode::kill`]: a crash without the shutdown snapshot (see there for
//!   what it does and does not simulate).
//!
//! Instants are named relative to a fixed T0 with the unit last
//! ([`at_secs`], [`at_minutes`], [`at_hours`], [`at_days`]); the clock moves
//! with [`TestNode::advance_clock_secs`] and its kin, each of which waits
//! until the scheduler has applied every transition due at the new instant.

// Each test binary uses a different part of this module.
#![allow(dead_code)]

pub mod oidc;
pub mod tracing_world;

use std::path::Path;
use std::sync::Arc;

use serde_json::{Value, json};
use ymt_core::{RegionCode, Timestamp};
use ymt_node::auth::{Principal, Role, key_sha256, new_api_key};
use ymt_node::{Clock, ManualClock, Node, ServerConfig};
use ymt_store::{AuditFilter, AuditOutcome};

// ---- Time -------------------------------------------------------------------

/// T0: 2022-07-01T08:00:00Z, where every node's clock starts.
pub const T0_UNIX_SECS: i64 = 1_656_662_400;
pub const MINUTE_SECS: i64 = 60;
pub const HOUR_SECS: i64 = 3_600;
pub const DAY_SECS: i64 = 86_400;

pub fn t0() -> Timestamp {
    instant_of_unix_secs(T0_UNIX_SECS)
}

pub fn instant_of_unix_secs(unix_secs: i64) -> Timestamp {
    Timestamp::from_unix_secs(unix_secs).expect("a valid instant")
}

/// The instant `secs` after T0 (before it when negative).
pub fn at_secs(secs: i64) -> Timestamp {
    t0().plus_secs(secs)
}

pub fn at_minutes(minutes: i64) -> Timestamp {
    at_secs(minutes * MINUTE_SECS)
}

pub fn at_hours(hours: i64) -> Timestamp {
    at_secs(hours * HOUR_SECS)
}

pub fn at_days(days: i64) -> Timestamp {
    at_secs(days * DAY_SECS)
}

pub fn rfc3339_of_unix_secs(unix_secs: i64) -> String {
    instant_of_unix_secs(unix_secs).to_rfc3339()
}

// ---- The node ---------------------------------------------------------------

/// The configuration every test node starts from, before the test's edits:
/// the defaults, with a fixed pseudonymisation secret so that pids are the
/// same on every run.
fn default_config(data_dir: &Path) -> ServerConfig {
    let mut config = ServerConfig::new(data_dir.to_path_buf());
    config.pseudonym_secret_hex = Some("11".repeat(32));
    config
}

pub struct TestNode {
    pub state: Arc<Node>,
    pub clock: Arc<ManualClock>,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    pub client: reqwest::Client,
    /// Present while the node runs; taken by close, stop and kill.
    running: Option<Running>,
}

/// What a running node holds besides the node itself.
struct Running {
    config: ServerConfig,
    stop_serving: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    dir: tempfile::TempDir,
}

/// A node that has shut down (cleanly or not), with its data directory and
/// its clock, ready to start again.
pub struct StoppedNode {
    pub clock: Arc<ManualClock>,
    config: ServerConfig,
    dir: tempfile::TempDir,
}

/// How a running node ends.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ending {
    Clean,
    Crash,
}

impl TestNode {
    /// A node with the default configuration, its clock at T0.
    pub async fn start() -> TestNode {
        TestNode::start_with_config(|_| {}).await
    }

    /// A node whose configuration the test edits first (limits, tracing,
    /// the breaker…), its clock at T0.
    pub async fn start_with_config(edit_config: impl FnOnce(&mut ServerConfig)) -> TestNode {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut config = default_config(&dir.path().join("data"));
        edit_config(&mut config);
        let clock = Arc::new(ManualClock::new(t0()));
        TestNode::start_in(dir, clock, config, None).await
    }

    /// A node serving on a listener the test bound first (its address is
    /// the node's public URL): a test that must name the node's URL to
    /// another party before the node starts, such as an OpenID provider
    /// its redirect URI. Its clock at T0.
    pub async fn start_on(
        listener: tokio::net::TcpListener,
        edit_config: impl FnOnce(&mut ServerConfig),
    ) -> TestNode {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut config = default_config(&dir.path().join("data"));
        let address = listener.local_addr().expect("an address");
        config.public_url = Some(format!("http://{address}"));
        edit_config(&mut config);
        let clock = Arc::new(ManualClock::new(t0()));
        TestNode::start_in(dir, clock, config, Some(listener)).await
    }

    /// Opens the node in `dir` and runs it as production does. Returns once
    /// the start-up work is done (the scheduler's first pass and the first
    /// retention purge), so tests begin from a settled node.
    async fn start_in(
        dir: tempfile::TempDir,
        clock: Arc<ManualClock>,
        config: ServerConfig,
        listener: Option<tokio::net::TcpListener>,
    ) -> TestNode {
        let opened = (config.clone(), clock.clone());
        let state = tokio::task::spawn_blocking(move || Node::open_embedded(opened.0, opened.1))
            .await
            .expect("opening the node ran")
            .expect("the node opens");
        state.spawn_background_tasks();
        let listener = match listener {
            Some(listener) => listener,
            None => tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("a free port"),
        };
        let address = listener.local_addr().expect("an address");
        let (stop_serving, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(ymt_http::serve(listener, state.clone(), async move {
            let _ = stopped.await;
        }));
        let node = TestNode {
            state,
            clock,
            base: format!("http://{address}"),
            client: reqwest::Client::new(),
            running: Some(Running {
                config,
                stop_serving,
                server,
                dir,
            }),
        };
        node.state
            .tracing
            .retention_passes
            .subscribe()
            .wait_for(|passes| *passes >= 1)
            .await
            .expect("the retention task runs");
        node.wait_for_transitions_applied_until(node.now()).await;
        node
    }

    fn running(&self) -> &Running {
        self.running.as_ref().expect("the node runs")
    }

    /// The node's data directory.
    pub fn data_dir(&self) -> &Path {
        &self.running().config.data_dir
    }

    /// A clean shutdown as production does it (no more requests, background
    /// tasks stopped, shutdown snapshot), then the store is closed, and only
    /// then the temporary directory removed.
    pub async fn close(self) {
        drop(self.end(Ending::Clean).await);
    }

    /// A clean shutdown that keeps the data directory.
    pub async fn stop(self) -> StoppedNode {
        self.end(Ending::Clean).await
    }

    /// A clean shutdown, then a start on the same directory with the same
    /// clock and configuration.
    pub async fn restart(self) -> TestNode {
        self.stop().await.start().await
    }

    /// Simulates a crash, in process: the node ends without its shutdown
    /// snapshot, so the next start loads the last snapshot written while it
    /// ran (periodic or explicit, or none) and replays the log after it,
    /// re-applying what that snapshot does not reflect.
    ///
    /// What it does not simulate: the server stops taking requests as in a
    /// clean stop (aborting the server task would not end the connection
    /// tasks, which hold the node; the tests send nothing across a kill),
    /// the background tasks are stopped so they let go of the node (the
    /// read-audit writer still writes what is queued, where a crash loses
    /// it), and dropping the node closes the store cleanly (its writer
    /// finishes queued commits and memtables are flushed). Lost or torn
    /// writes are what crates/yimatong/tests/crash.rs (SIGKILL of the real
    /// binary) and ymt-store's crash test are for.
    pub async fn kill(self) -> StoppedNode {
        self.end(Ending::Crash).await
    }

    async fn end(mut self, ending: Ending) -> StoppedNode {
        let Running {
            config,
            stop_serving,
            server,
            dir,
        } = self.running.take().expect("the node runs");
        let state = self.state.clone();
        let clock = self.clock.clone();
        // Drops the client too, so its kept-alive connections close.
        drop(self);
        let _ = stop_serving.send(());
        server
            .await
            .expect("the server task ends")
            .expect("the server served");
        match ending {
            Ending::Clean => {
                state.shutdown().await.expect("the shutdown snapshot");
            }
            Ending::Crash => state.stop_background_tasks().await,
        }
        close_store(state).await;
        StoppedNode { clock, config, dir }
    }

    // ---- Principals and citizens ---------------------------------------------

    /// Creates a principal and returns its API key.
    pub fn add_principal(&self, id: &str, role: Role, jurisdiction: &str) -> String {
        let key = new_api_key(id);
        self.state
            .add_principal(Principal {
                id: id.into(),
                role,
                jurisdiction: jurisdiction.parse::<RegionCode>().expect("a region"),
                display_name: id.into(),
                key_sha256: key_sha256(&key),
                disabled: false,
                created_by: String::new(),
                keys: Default::default(),
                key_in_use: None,
                oidc_subject: None,
            })
            .expect("the principal is stored");
        key
    }

    /// Lets citizens sign in with one fixed one-time code (as the demo does);
    /// without it, sign-in is unavailable.
    pub fn enable_citizen_sign_in_with_one_time_code(&self, one_time_code: &str) {
        self.state
            .codes
            .set_authenticator(Arc::new(ymt_node::codes::DemoFixedCode {
                code: one_time_code.into(),
            }));
    }

    /// `POST /v1/session` with an identity document and a one-time code.
    /// The reply's [`Reply::session_cookie`] signs the citizen's requests in
    /// ([`TestNode::send_with_cookie`]).
    pub async fn sign_in_citizen(
        &self,
        id_type: &str,
        id_number: &str,
        one_time_code: &str,
    ) -> Reply {
        let body = json!({"id_type": id_type, "id_number": id_number, "code": one_time_code});
        self.post("/v1/session", None, &body).await
    }

    // ---- Requests --------------------------------------------------------------

    /// Sends a request with an API key (or none).
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> Reply {
        let credential = key.map(|key| Credential::ApiKey(key.to_owned()));
        self.send_with(method, path, credential, body).await
    }

    /// Sends a request signed in by a session cookie (`name=value`).
    pub async fn send_with_cookie(
        &self,
        method: &str,
        path: &str,
        cookie: &str,
        body: Option<&Value>,
    ) -> Reply {
        let body = body.map(|body| serde_json::to_vec(body).expect("json"));
        let credential = Some(Credential::Cookie(cookie.to_owned()));
        self.send_with(method, path, credential, body).await
    }

    pub async fn get(&self, path: &str, key: Option<&str>) -> Reply {
        self.send("GET", path, key, None).await
    }

    pub async fn post(&self, path: &str, key: Option<&str>, body: &Value) -> Reply {
        let body = serde_json::to_vec(body).expect("json");
        self.send("POST", path, key, Some(body)).await
    }

    /// `GET` as a principal: the status and the JSON body (null if none).
    pub async fn get_as(&self, key: &str, path: &str) -> (u16, Value) {
        self.get(path, Some(key)).await.status_and_json()
    }

    /// `POST` of a JSON body as a principal: the status and the JSON body.
    pub async fn post_as(&self, key: &str, path: &str, body: Value) -> (u16, Value) {
        self.post(path, Some(key), &body).await.status_and_json()
    }

    async fn send_with(
        &self,
        method: &str,
        path: &str,
        credential: Option<Credential>,
        body: Option<Vec<u8>>,
    ) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        match credential {
            Some(Credential::ApiKey(key)) => request = request.bearer_auth(key),
            Some(Credential::Cookie(cookie)) => request = request.header("cookie", cookie),
            None => {}
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body);
        }
        let response = request.send().await.expect("the node answers");
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned)
        };
        let content_type = header("content-type").unwrap_or_default();
        let retry_after = header("retry-after");
        let set_cookie = header("set-cookie");
        let bytes = response.bytes().await.expect("a body").to_vec();
        Reply {
            status,
            content_type,
            retry_after,
            set_cookie,
            bytes,
        }
    }

    /// Holds one concurrency slot until [`HeldSlot::release`]: a national
    /// admin's decision on a pending action, which waits for the decisions
    /// lock the test holds. (A request whose body has not arrived holds no
    /// slot: the body is read first.) Returns once the request was sent; the
    /// caller sees the slot taken when other requests are shed.
    pub async fn hold_a_slot(&self, national_admin_key: &str) -> HeldSlot<'_> {
        let decisions = self.state.tracing.decisions.lock().await;
        let client = self.client.clone();
        let url = format!("{}/v1/pending/nothing:approve", self.base);
        let key = national_admin_key.to_owned();
        let send: Box<dyn Fn() -> tokio::task::JoinHandle<u16> + Send + Sync> =
            Box::new(move || {
                let request = client
                    .post(&url)
                    .bearer_auth(&key)
                    .header("content-type", "application/json")
                    .body("{}");
                tokio::spawn(async move {
                    request
                        .send()
                        .await
                        .map(|response| response.status().as_u16())
                        .expect("the held request is answered")
                })
            });
        let answer = send();
        HeldSlot {
            _decisions: decisions,
            answer,
            send,
        }
    }

    /// Sends `GET path` until it is shed (503), which it is once the held
    /// request has reached its handler and taken the slot (on a loaded
    /// machine that can take a while); until then every answer must be 200.
    ///
    /// The probes race the held request for the slot: when a probe holds it
    /// as the held request arrives, the held request is the one shed, and it
    /// is sent again. Any other answer to it means it never waited in its
    /// handler, and the test stops.
    pub async fn get_until_shed(&self, held: &mut HeldSlot<'_>, path: &str, key: &str) -> Reply {
        loop {
            if held.answer.is_finished() {
                let status = (&mut held.answer).await.expect("the held request ran");
                assert_eq!(status, 503, "the held request never held the slot");
                held.answer = (held.send)();
            }
            let reply = self.get(path, Some(key)).await;
            if reply.status == 503 {
                return reply;
            }
            check("before the slot is taken", &reply, 200);
            tokio::task::yield_now().await;
        }
    }

    /// The color of a person as a verifier reads it.
    pub async fn color(&self, verifier_key: &str, pid: &str) -> String {
        let reply = self
            .get(&format!("/v1/persons/{pid}/status"), Some(verifier_key))
            .await;
        check("status read", &reply, 200);
        reply.json()["color"].as_str().unwrap_or("").to_owned()
    }

    // ---- The clock -------------------------------------------------------------

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Moves the clock to `instant` and waits until the scheduler has
    /// applied every transition due then.
    pub async fn move_clock_to(&self, instant: Timestamp) {
        self.clock.set(instant);
        self.wait_for_transitions_applied_until(instant).await;
    }

    pub async fn advance_clock_secs(&self, secs: i64) {
        self.move_clock_to(self.now().plus_secs(secs)).await;
    }

    pub async fn advance_clock_minutes(&self, minutes: i64) {
        self.advance_clock_secs(minutes * MINUTE_SECS).await;
    }

    pub async fn advance_clock_hours(&self, hours: i64) {
        self.advance_clock_secs(hours * HOUR_SECS).await;
    }

    pub async fn advance_clock_days(&self, days: i64) {
        self.advance_clock_secs(days * DAY_SECS).await;
    }

    /// Waits (without sleeping: on the scheduler's watch) until every
    /// transition due at `instant` has been applied.
    pub async fn wait_for_transitions_applied_until(&self, instant: Timestamp) {
        self.state
            .transitions_applied_until
            .subscribe()
            .wait_for(|until| *until >= instant.unix_secs())
            .await
            .expect("the scheduler runs");
    }

    // ---- What the node stored ----------------------------------------------------

    /// The refusals recorded in the audit log.
    pub fn denied_records(&self) -> Vec<ymt_store::AuditRecord> {
        let filter = AuditFilter {
            outcome: Some(AuditOutcome::Denied),
            ..AuditFilter::default()
        };
        self.state
            .store
            .audit_list(&filter, 100_000)
            .expect("the audit log reads")
    }

    pub fn last_seq(&self) -> u64 {
        self.state.store.last_seq()
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        if self.running.is_some() && !std::thread::panicking() {
            panic!(
                "a TestNode must end with `close().await`, `stop().await` or `kill().await`, \
                 so that its store closes before its directory is removed"
            );
        }
    }
}

impl StoppedNode {
    /// The node's data directory, still there.
    pub fn data_dir(&self) -> &Path {
        &self.config.data_dir
    }

    /// Starts the node again on the same directory, clock and configuration.
    pub async fn start(self) -> TestNode {
        self.start_with_config(|_| {}).await
    }

    /// Starts the node again with the configuration edited first.
    pub async fn start_with_config(self, edit_config: impl FnOnce(&mut ServerConfig)) -> TestNode {
        let StoppedNode {
            clock,
            mut config,
            dir,
        } = self;
        edit_config(&mut config);
        TestNode::start_in(dir, clock, config, None).await
    }
}

/// Drops the last handle of a node, which closes its store (on a blocking
/// thread: closing joins the store's writer and flushes). Whatever else held
/// the node (a connection task, a snapshot spawned by an ingest) lets go
/// within moments of the server and the background tasks stopping; waiting
/// for it yields rather than sleeps.
async fn close_store(mut state: Arc<Node>) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        match Arc::try_unwrap(state) {
            Ok(node) => {
                tokio::task::spawn_blocking(move || drop(node))
                    .await
                    .expect("the store closes");
                return;
            }
            Err(shared) => {
                assert!(
                    std::time::Instant::now() < deadline,
                    "the node is still held after shutdown ({} handles): a task that does not stop?",
                    Arc::strong_count(&shared)
                );
                state = shared;
                tokio::task::yield_now().await;
            }
        }
    }
}

/// How a request is signed in.
enum Credential {
    ApiKey(String),
    Cookie(String),
}

// ---- Replies and the one comparison ---------------------------------------------

/// A request holding a concurrency slot ([`TestNode::hold_a_slot`]).
pub struct HeldSlot<'a> {
    _decisions: tokio::sync::MutexGuard<'a, ()>,
    answer: tokio::task::JoinHandle<u16>,
    /// Sends the held request (again, when a probe pushed it out).
    send: Box<dyn Fn() -> tokio::task::JoinHandle<u16> + Send + Sync>,
}

impl HeldSlot<'_> {
    /// Lets the held request finish; its status.
    pub async fn release(self) -> u16 {
        let HeldSlot {
            _decisions, answer, ..
        } = self;
        drop(_decisions);
        answer.await.expect("the held request ran")
    }
}

/// What came back from one request.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub retry_after: Option<String>,
    pub set_cookie: Option<String>,
    pub bytes: Vec<u8>,
}

impl Reply {
    /// The body as JSON; null when it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes).unwrap_or(Value::Null)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }

    pub fn status_and_json(&self) -> (u16, Value) {
        (self.status, self.json())
    }

    /// The `name=value` of the cookie the reply sets, to send back.
    pub fn session_cookie(&self) -> Option<String> {
        let set_cookie = self.set_cookie.as_deref()?;
        Some(set_cookie.split(';').next()?.trim().to_owned())
    }
}

/// The one comparison of the tests: the reply has the expected status, and
/// every error is a problem+json body with `status` and `detail`.
pub fn check(label: &str, reply: &Reply, expect_status: u16) {
    assert_eq!(
        reply.status,
        expect_status,
        "{label}: expected {expect_status}, got {} with {}",
        reply.status,
        String::from_utf8_lossy(&reply.bytes)
    );
    if expect_status >= 400 {
        assert_eq!(
            reply.content_type, "application/problem+json",
            "{label}: an error is problem+json"
        );
        let body = reply.json();
        assert_eq!(
            body["status"].as_u64(),
            Some(u64::from(expect_status)),
            "{label}: the problem names its status: {body}"
        );
        assert!(
            body["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{label}: the problem has a detail: {body}"
        );
    }
}

// ---- Events -----------------------------------------------------------------------

/// A submission of one event about a pid.
pub fn submission(id: &str, pid: &str, region: &str, kind: &str, data: Value) -> Value {
    json!({"id": id, "subject": {"pid": pid}, "region": region, "kind": kind, "data": data})
}

pub fn pcr_data(sampled_unix_secs: i64, reported_unix_secs: i64, result: &str) -> Value {
    json!({
        "test": "pcr",
        "result": result,
        "sampled_at": rfc3339_of_unix_secs(sampled_unix_secs),
        "reported_at": rfc3339_of_unix_secs(reported_unix_secs),
        "lab": "lab-440305-01",
    })
}

pub fn close_contact_data(designated_unix_secs: i64) -> Value {
    json!({
        "contact": "close",
        "designated_at": rfc3339_of_unix_secs(designated_unix_secs),
        "last_exposure_at": rfc3339_of_unix_secs(designated_unix_secs - DAY_SECS),
        "reason": "traced by the CDC",
    })
}

pub fn check_in_data(venue: &str, entered_unix_secs: i64, left_unix_secs: i64) -> Value {
    json!({
        "venue": venue,
        "entered_at": rfc3339_of_unix_secs(entered_unix_secs),
        "left_at": rfc3339_of_unix_secs(left_unix_secs),
    })
}

/// An event of each kind a role might submit, about `pid`, at the clock's
/// current instant `now_unix_secs`.
pub fn event_of_kind(kind: &str, id: &str, pid: &str, region: &str, now_unix_secs: i64) -> Value {
    let now = now_unix_secs;
    let data = match kind {
        "test_result" => pcr_data(now - HOUR_SECS, now - MINUTE_SECS, "negative"),
        "check_in" => check_in_data("venue-1", now - HOUR_SECS, now - MINUTE_SECS),
        "contact_designation" => close_contact_data(now),
        "vaccination" => {
            json!({"product": "CoronaVac", "dose": 1, "administered_at": rfc3339_of_unix_secs(now - HOUR_SECS)})
        }
        "quarantine" => json!({
            "quarantine": "home", "start": rfc3339_of_unix_secs(now),
            "end": rfc3339_of_unix_secs(now + 7 * DAY_SECS), "reason": "ordered",
        }),
        other => panic!("no sample event of kind {other}"),
    };
    submission(id, pid, region, kind, data)
}
