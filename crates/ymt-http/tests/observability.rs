//! Observability over HTTP: `/metrics` (the node's figures under their
//! names, latency histograms by route template and status, one registry per
//! node), request ids (kept, issued, returned, in problem bodies) and the
//! one log line per request.
//!
//! Only `TestNode::start`/`start_with_config`, `close` and the node's `base` and `state` are
//! taken from the support module; requests go through this file's own
//! client, which reads headers.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use reqwest::Method;
use serde_json::Value;
use support::TestNode;
use ymt_core::RegionCode;
use ymt_node::auth::{Principal, Role, key_sha256, new_api_key};

/// A verifier's pid of nobody: its status read is a 404 problem.
const NOBODY: &str = "0123456789abcdef0123456789abcdef";

struct Answer {
    status: u16,
    content_type: String,
    request_id: Option<String>,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

async fn send(
    node: &TestNode,
    method: Method,
    path: &str,
    key: Option<&str>,
    request_id: Option<&[u8]>,
) -> Answer {
    let client = reqwest::Client::new();
    let mut request = client.request(method, format!("{}{path}", node.base));
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    if let Some(id) = request_id {
        let value = reqwest::header::HeaderValue::from_bytes(id).expect("a header value");
        request = request.header("x-request-id", value);
    }
    let response = request.send().await.expect("the node answers");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    Answer {
        status: response.status().as_u16(),
        content_type: header("content-type").unwrap_or_default(),
        request_id: header("x-request-id"),
        body: response.bytes().await.expect("a body").to_vec(),
    }
}

async fn get(node: &TestNode, path: &str, key: Option<&str>) -> Answer {
    send(node, Method::GET, path, key, None).await
}

fn principal(node: &TestNode, id: &str, role: Role) -> String {
    let key = new_api_key(id);
    node.state
        .add_principal(Principal {
            id: id.into(),
            role,
            jurisdiction: "440305".parse::<RegionCode>().expect("a region"),
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

/// The value of the sample `series` (name and labels, exactly) in `text`.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.parse().ok())
}

const STATUS_ROUTE: &str = r#"method="GET",route="/v1/persons/{pid}/status""#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_histograms_are_labelled_by_route_template_and_status() {
    let node = TestNode::start().await;
    let verifier = principal(&node, "verifier-1", Role::VerifierDevice);
    let pids = ["aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", NOBODY, "pthree"];
    for pid in pids {
        let answer = get(&node, &format!("/v1/persons/{pid}/status"), Some(&verifier)).await;
        assert_eq!(answer.status, 404, "{}", answer.text());
    }
    let answer = get(&node, &format!("/v1/persons/{NOBODY}/status"), None).await;
    assert_eq!(answer.status, 401);

    let metrics = get(&node, "/metrics", None).await;
    assert_eq!(metrics.status, 200);
    assert_eq!(
        metrics.content_type,
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = metrics.text();
    for (series, expect) in [
        (
            format!("http_request_duration_seconds_count{{{STATUS_ROUTE},status=\"404\"}}"),
            3.0,
        ),
        (
            format!(
                "http_request_duration_seconds_bucket{{{STATUS_ROUTE},status=\"404\",le=\"+Inf\"}}"
            ),
            3.0,
        ),
        (
            format!("http_requests_total{{{STATUS_ROUTE},status=\"404\"}}"),
            3.0,
        ),
        (
            format!("http_requests_total{{{STATUS_ROUTE},status=\"401\"}}"),
            1.0,
        ),
    ] {
        assert_eq!(sample(&text, &series), Some(expect), "{series} in\n{text}");
    }
    assert!(
        sample(
            &text,
            &format!("http_request_duration_seconds_sum{{{STATUS_ROUTE},status=\"404\"}}")
        )
        .is_some_and(|secs| secs > 0.0),
        "{text}"
    );
    assert!(text.contains("# TYPE http_request_duration_seconds histogram"));
    // The raw path never becomes a label: no pid appears.
    for pid in pids {
        assert!(!text.contains(pid), "{pid} in\n{text}");
    }
    // Unknown paths share one label, whatever they are.
    get(&node, "/no/such/path/12345", None).await;
    get(&node, "/another/unknown", None).await;
    let text = get(&node, "/metrics", None).await.text();
    assert_eq!(
        sample(
            &text,
            r#"http_requests_total{method="GET",route="unmatched",status="404"}"#
        ),
        Some(2.0),
        "{text}"
    );
    assert!(!text.contains("12345"), "{text}");
    node.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_figures_keep_their_names() {
    let node = TestNode::start().await;
    let text = get(&node, "/metrics", None).await.text();
    for (series, expect_type) in [
        (r#"ymt_persons{color="green"}"#, "gauge"),
        (r#"ymt_persons{color="yellow"}"#, "gauge"),
        (r#"ymt_persons{color="red"}"#, "gauge"),
        ("ymt_events_stored_total", "counter"),
        ("ymt_events_duplicate_total", "counter"),
        ("ymt_evaluations_total", "counter"),
        ("ymt_timed_transitions_total", "counter"),
        ("ymt_tracings_planned_total", "counter"),
        ("ymt_status_reads_total", "counter"),
        ("ymt_scheduled_transitions", "gauge"),
        ("ymt_store_commits_total", "counter"),
        ("ymt_store_overloaded_total", "counter"),
        ("ymt_audit_dropped_reads_total", "counter"),
        ("ymt_requests_refused_overload_total", "counter"),
    ] {
        assert!(sample(&text, series).is_some(), "{series} in\n{text}");
        let name = series.split('{').next().unwrap_or(series);
        assert!(
            text.contains(&format!("# TYPE {name} {expect_type}\n")),
            "{name} is a {expect_type} in\n{text}"
        );
    }
    node.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_node_reports_its_own_figures() {
    let (busy, idle) = (TestNode::start().await, TestNode::start().await);
    let verifier = principal(&busy, "verifier-1", Role::VerifierDevice);
    for _ in 0..2 {
        let path = format!("/v1/persons/{NOBODY}/status");
        assert_eq!(get(&busy, &path, Some(&verifier)).await.status, 404);
    }
    let series = format!("http_requests_total{{{STATUS_ROUTE},status=\"404\"}}");
    let busy_text = get(&busy, "/metrics", None).await.text();
    let idle_text = get(&idle, "/metrics", None).await.text();
    assert_eq!(sample(&busy_text, &series), Some(2.0), "{busy_text}");
    assert_eq!(sample(&idle_text, &series), None, "{idle_text}");
    assert_eq!(sample(&busy_text, "ymt_status_reads_total"), Some(2.0));
    assert_eq!(sample(&idle_text, "ymt_status_reads_total"), Some(0.0));
    busy.close().await;
    idle.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn problem_bodies_carry_the_request_id_of_the_reply() {
    let node = TestNode::start().await;
    let verifier = principal(&node, "verifier-1", Role::VerifierDevice);
    for (label, method, path, key, expect_status) in [
        (
            "unknown person",
            Method::GET,
            format!("/v1/persons/{NOBODY}/status"),
            Some(verifier.as_str()),
            404,
        ),
        (
            "unknown path",
            Method::GET,
            "/no/such/path".into(),
            None,
            404,
        ),
        (
            "no credentials",
            Method::GET,
            format!("/v1/persons/{NOBODY}/status"),
            None,
            401,
        ),
        (
            "bad pid",
            Method::GET,
            "/v1/persons/not%20a%20pid/status".into(),
            Some(verifier.as_str()),
            400,
        ),
    ] {
        let answer = send(&node, method, &path, key, None).await;
        assert_eq!(answer.status, expect_status, "{label}: {}", answer.text());
        assert_eq!(answer.content_type, "application/problem+json", "{label}");
        let body = answer.json();
        let header = answer.request_id.as_deref().expect("an X-Request-Id");
        assert_eq!(body["request_id"].as_str(), Some(header), "{label}: {body}");
        assert_eq!(body["status"], expect_status, "{label}: the rest is kept");
        assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()));
    }
    // A success has the header and an untouched body.
    let answer = get(&node, "/healthz", None).await;
    assert!(answer.request_id.is_some());
    assert_eq!(answer.text(), "ok");
    node.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incoming_request_ids_are_echoed_when_well_formed_and_replaced_otherwise() {
    let node = TestNode::start().await;
    let path = format!("/v1/persons/{NOBODY}/status");
    let long = "a".repeat(65);
    let mut issued = Vec::new();
    for (incoming, expect_echoed) in [
        (Some(&b"abc-123"[..]), true),
        (Some(b"550e8400-e29b-41d4-a716-446655440000"), true),
        (Some(&[b'z'; 64][..]), true),
        (Some(long.as_bytes()), false),
        (Some(b"two words"), false),
        (Some(b"<script>"), false),
        (Some(b"11010519491231002X"), false),
        (None, false),
    ] {
        let answer = send(&node, Method::GET, &path, None, incoming).await;
        let returned = answer.request_id.clone().expect("an X-Request-Id");
        assert_eq!(
            answer.json()["request_id"].as_str(),
            Some(returned.as_str())
        );
        let label = incoming.map(String::from_utf8_lossy);
        if expect_echoed {
            assert_eq!(Some(returned.as_bytes()), incoming, "{label:?}");
        } else {
            assert_ne!(Some(returned.as_bytes()), incoming, "{label:?}");
            assert!(
                (1..=64).contains(&returned.len())
                    && returned
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-'),
                "{label:?}: issued {returned}"
            );
            issued.push(returned);
        }
    }
    let distinct: std::collections::HashSet<_> = issued.iter().collect();
    assert_eq!(
        distinct.len(),
        issued.len(),
        "issued ids differ: {issued:?}"
    );
    node.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shed_requests_are_counted_and_carry_a_request_id() {
    let node = TestNode::start_with_config(|config| config.concurrent_requests_max = 1).await;
    let lab = principal(&node, "lab-440305", Role::Lab);

    let admin = principal(&node, "admin-1", Role::NationalAdmin);

    // Hold the only slot: a request waiting inside its handler.
    let mut held = node.hold_a_slot(&admin).await;
    node.get_until_shed(&mut held, "/v1/rule-sets", &lab).await;
    // The slot stays held: this one is shed too, and read with its headers.
    let shed = get(&node, "/v1/rule-sets", Some(&lab)).await;
    assert_eq!(shed.status, 503);
    let id = shed.request_id.clone().expect("an X-Request-Id");
    assert_eq!(shed.json()["request_id"].as_str(), Some(id.as_str()));

    // Free the slot, then read the figures.
    held.release().await;
    let text = get(&node, "/metrics", None).await.text();
    let series = r#"http_requests_total{method="GET",route="/v1/rule-sets",status="503"}"#;
    assert!(
        sample(&text, series).is_some_and(|count| count >= 1.0),
        "{series} in\n{text}"
    );
    node.close().await;
}

/// Everything logged in this test process, as JSON lines.
fn captured_logs() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Arc::new(Mutex::new(Vec::new()));
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_max_level(tracing::Level::DEBUG)
            .with_writer(move || Capture(writer.clone()))
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("one subscriber");
        logs
    })
}

struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_request_is_logged_once_with_its_route_and_no_secrets() {
    let logs = captured_logs();
    let node = TestNode::start().await;
    let verifier = principal(&node, "verifier-1", Role::VerifierDevice);
    let path = format!("/v1/persons/{NOBODY}/status?id_number=11010519491231002X");
    for (request_id, key, expect_status, expect_level) in [
        ("log-test-404", Some(verifier.as_str()), 404, "INFO"),
        ("log-test-401", None, 401, "INFO"),
    ] {
        let answer = send(&node, Method::GET, &path, key, Some(request_id.as_bytes())).await;
        assert_eq!(answer.status, expect_status);
        let text = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
        let lines: Vec<Value> = text
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|line| line["request_id"] == request_id)
            .collect();
        assert_eq!(lines.len(), 1, "one line for {request_id} in\n{text}");
        let line = &lines[0];
        assert_eq!(line["target"], "ymt_http::request", "{line}");
        assert_eq!(line["level"], expect_level, "{line}");
        assert_eq!(line["method"], "GET", "{line}");
        assert_eq!(line["route"], "/v1/persons/{pid}/status", "{line}");
        assert_eq!(line["status"], expect_status, "{line}");
        assert!(line["latency_us"].is_u64(), "{line}");
        let line = line.to_string();
        for secret in [NOBODY, "11010519491231002X", verifier.as_str(), "Bearer"] {
            assert!(!line.contains(secret), "{secret} logged: {line}");
        }
    }
    node.close().await;
}
