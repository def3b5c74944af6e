//! Shared support of the in-process acceptance tests: a node on port 0 in a
//! temporary directory with a manual clock, principals, an HTTP client and
//! one `check` helper that compares a reply with what a case expects.

// Each test binary uses a different part of this module.
#![allow(dead_code)]

use std::sync::Arc;

use serde_json::{Value, json};
use ymt_core::{RegionCode, Timestamp};
use ymt_http::router;
use ymt_node::auth::{Principal, Role, key_sha256, new_api_key};
use ymt_node::{ManualClock, Node, ServerConfig};
use ymt_store::{AuditFilter, AuditOutcome};

/// 2022-07-01T08:00:00Z, the start of the close-contact scenario.
pub const T0_UNIX_SECS: i64 = 1_656_662_400;
pub const DAY_SECS: i64 = 86_400;

pub fn at(unix_secs: i64) -> Timestamp {
    Timestamp::from_unix_secs(unix_secs).expect("a valid instant")
}

pub fn rfc3339(unix_secs: i64) -> String {
    at(unix_secs).to_rfc3339()
}

pub struct TestNode {
    pub state: Arc<Node>,
    pub clock: Arc<ManualClock>,
    pub base: String,
    pub client: reqwest::Client,
    _dir: tempfile::TempDir,
}

// The node's tasks hold the state until the test's runtime shuts down, after
// the temporary directory is already removed; closing the store then would
// wait its bounded 30 s for a memtable flush into a directory that is gone.
// The test process exits right after a test, so the state is never dropped.
impl Drop for TestNode {
    fn drop(&mut self) {
        std::mem::forget(self.state.clone());
    }
}

/// What came back from one request.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub retry_after: Option<String>,
    pub bytes: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes).unwrap_or(Value::Null)
    }
}

impl TestNode {
    pub async fn start() -> TestNode {
        TestNode::start_with(|_| {}).await
    }

    pub async fn start_with(configure: impl FnOnce(&mut ServerConfig)) -> TestNode {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut config = ServerConfig::new(dir.path().join("data"));
        config.pseudonym_secret_hex = Some("11".repeat(32));
        configure(&mut config);
        let clock = Arc::new(ManualClock::new(at(T0_UNIX_SECS)));
        let state = tokio::task::block_in_place(|| Node::open_embedded(config, clock.clone()))
            .expect("the node opens");
        state.spawn_scheduler();
        state.spawn_read_audit_writer();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free port");
        let address = listener.local_addr().expect("an address");
        let app = router(state.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        TestNode {
            state,
            clock,
            base: format!("http://{address}"),
            client: reqwest::Client::new(),
            _dir: dir,
        }
    }

    /// Creates a principal and returns its API key.
    pub fn principal(&self, id: &str, role: Role, jurisdiction: &str) -> String {
        let key = new_api_key(id);
        self.state
            .add_principal(Principal {
                id: id.into(),
                role,
                jurisdiction: jurisdiction.parse::<RegionCode>().expect("a region"),
                display_name: id.into(),
                key_sha256: key_sha256(&key),
                disabled: false,
            })
            .expect("the principal is stored");
        key
    }

    pub async fn send(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(key) = key {
            request = request.bearer_auth(key);
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
        let bytes = response.bytes().await.expect("a body").to_vec();
        Reply {
            status,
            content_type,
            retry_after,
            bytes,
        }
    }

    pub async fn get(&self, path: &str, key: Option<&str>) -> Reply {
        self.send("GET", path, key, None).await
    }

    pub async fn post(&self, path: &str, key: Option<&str>, body: &Value) -> Reply {
        self.send(
            "POST",
            path,
            key,
            Some(serde_json::to_vec(body).expect("json")),
        )
        .await
    }

    /// Moves the clock and waits until the scheduler has applied every
    /// transition due at the new instant.
    pub async fn advance_to(&self, unix_secs: i64) {
        self.clock.set(at(unix_secs));
        let mut applied = self.state.transitions_applied_until.subscribe();
        applied
            .wait_for(|until| *until >= unix_secs)
            .await
            .expect("the scheduler runs");
    }

    /// The color of a person as a verifier reads it.
    pub async fn color(&self, verifier_key: &str, pid: &str) -> String {
        let reply = self
            .get(&format!("/v1/persons/{pid}/status"), Some(verifier_key))
            .await;
        check("status read", &reply, 200);
        reply.json()["color"].as_str().unwrap_or("").to_owned()
    }

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

/// A submission of one event about a pid.
pub fn submission(id: &str, pid: &str, region: &str, kind: &str, data: Value) -> Value {
    json!({"id": id, "subject": {"pid": pid}, "region": region, "kind": kind, "data": data})
}

pub fn pcr_data(sampled_unix_secs: i64, reported_unix_secs: i64, result: &str) -> Value {
    json!({
        "test": "pcr",
        "result": result,
        "sampled_at": rfc3339(sampled_unix_secs),
        "reported_at": rfc3339(reported_unix_secs),
        "lab": "lab-440305-01",
    })
}

pub fn close_contact_data(designated_unix_secs: i64) -> Value {
    json!({
        "contact": "close",
        "designated_at": rfc3339(designated_unix_secs),
        "last_exposure_at": rfc3339(designated_unix_secs - DAY_SECS),
        "reason": "traced by the CDC",
    })
}

pub fn check_in_data(venue: &str, entered_unix_secs: i64, left_unix_secs: i64) -> Value {
    json!({
        "venue": venue,
        "entered_at": rfc3339(entered_unix_secs),
        "left_at": rfc3339(left_unix_secs),
    })
}

/// An event of each kind a role might submit, about `pid`, at the clock's
/// current instant `now`.
pub fn event_of_kind(kind: &str, id: &str, pid: &str, region: &str, now: i64) -> Value {
    let data = match kind {
        "test_result" => pcr_data(now - 3600, now - 60, "negative"),
        "check_in" => check_in_data("venue-1", now - 3600, now - 60),
        "contact_designation" => close_contact_data(now),
        "vaccination" => {
            json!({"product": "CoronaVac", "dose": 1, "administered_at": rfc3339(now - 3600)})
        }
        "quarantine" => json!({
            "quarantine": "home", "start": rfc3339(now), "end": rfc3339(now + 7 * DAY_SECS),
            "reason": "ordered",
        }),
        other => panic!("no sample event of kind {other}"),
    };
    submission(id, pid, region, kind, data)
}
