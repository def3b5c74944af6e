//! What the node tells its operators: Prometheus metrics, one log line per
//! request, and a request id that ties a reply, its problem body and its log
//! line together.
//!
//! **Why `prometheus-client`.** It is the Prometheus project's own Rust
//! client. Its registry is a plain value, not a process-wide recorder, so
//! every router (and so every node, even many in one test process) owns its
//! figures, with nothing global to install once or to mix up; a `Collector`
//! reads the node's counters at scrape time, so the node keeps its atomics (and
//! its API) and does not depend on any metrics crate; histograms have fixed
//! buckets (bounded memory, no upkeep task, unlike `metrics-exporter-prometheus`
//! whose histograms buffer every sample until a scrape or an upkeep drains
//! them); and it writes the Prometheus text format 0.0.4 that `/metrics`
//! already served, under the same names. It has no HTTP stack of its own.
//!
//! **Request ids.** A well-formed incoming `X-Request-Id` is kept, anything
//! else is replaced by `<random prefix of this router>-<counter>`. The id is
//! returned in `X-Request-Id`, added as `request_id` to every problem+json
//! body (whoever produced it: handlers, extractors, load shedding), and
//! logged with the request.
//!
//! **Log levels of the request line** (target `ymt_http::request`): debug for
//! 1xx–3xx (the bulk of traffic, already counted in the histograms; logging
//! each would cost a synchronous write per status read), info for 4xx (a
//! client needing help, whose request id support will be asked about),
//! warn for 5xx, except refusals under load (429 and 503): those are the
//! node protecting itself as designed and come at the full surge rate, so
//! they are logged at debug and counted in `http_requests_total`. The line
//! has the method, the route template (never the raw path, which holds
//! pids, nor the query), the status, the latency and the request id: no
//! headers, so no API keys or cookies.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::extract::SharedState;

/// The header that carries a request's id, both ways.
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The longest incoming request id that is kept.
pub const REQUEST_ID_LEN_MAX: usize = 64;

/// The shortest run of digits taken for an ID number (an old 15-digit
/// resident ID; new ones have 17 digits and a check character).
const ID_NUMBER_DIGITS_MIN: usize = 15;

/// The route label of requests that matched no route, so that probing
/// arbitrary paths cannot grow the label set.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// Upper bounds (seconds) of the latency histogram's buckets: from a status
/// read (~tens of µs) to a batch waiting on a slow fsync or a large preview.
const LATENCY_BUCKETS_SECS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// The id of the request being served, in the request's extensions.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

/// The metrics registry and request ids of one router (one node).
pub struct Observability {
    registry: Registry,
    durations: Family<HttpLabels, Histogram, fn() -> Histogram>,
    requests: Family<HttpLabels, Counter>,
    request_ids: RequestIds,
}

impl fmt::Debug for Observability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Observability").finish_non_exhaustive()
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    method: &'static str,
    route: String,
    status: u16,
}

impl Observability {
    pub fn new(node: SharedState) -> Observability {
        let durations: Family<HttpLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(|| Histogram::new(LATENCY_BUCKETS_SECS));
        let requests = Family::<HttpLabels, Counter>::default();
        let mut registry = Registry::default();
        registry.register_collector(Box::new(NodeFigures { node }));
        registry.register(
            "http_request_duration_seconds",
            "Time to answer a request, by method, route template and status",
            durations.clone(),
        );
        registry.register(
            "http_requests",
            "Requests answered, by method, route template and status (shed ones included)",
            requests.clone(),
        );
        Observability {
            registry,
            durations,
            requests,
            request_ids: RequestIds::new(),
        }
    }

    /// The node's figures and the HTTP metrics in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail; a collector error would be a bug.
        if let Err(error) =
            prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry)
        {
            tracing::error!("encoding the metrics failed: {error}");
        }
        text
    }

    /// The answer of `GET /metrics`.
    pub fn metrics_response(&self) -> Response {
        (
            [(
                header::CONTENT_TYPE,
                prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
            )],
            self.render(),
        )
            .into_response()
    }

    fn record(&self, labels: &HttpLabels, latency: Duration) {
        self.durations
            .get_or_create(labels)
            .observe(latency.as_secs_f64());
        self.requests.get_or_create(labels).inc();
    }
}

/// The node's counters and gauges, read at each scrape.
struct NodeFigures {
    node: SharedState,
}

impl fmt::Debug for NodeFigures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeFigures").finish_non_exhaustive()
    }
}

impl Collector for NodeFigures {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        let node = &self.node;
        let metrics = &node.metrics;
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let stats = node.store.stats();

        let counts = node.projection.color_counts();
        let mut persons = encoder.encode_descriptor(
            "ymt_persons",
            "Persons by their current color.",
            None,
            MetricType::Gauge,
        )?;
        for (color, count) in ["green", "yellow", "red"].into_iter().zip(counts) {
            ConstGauge::new(count).encode(persons.encode_family(&[("color", color)])?)?;
        }

        let counters = [
            (
                "ymt_events_stored",
                "Events stored.",
                load(&metrics.events_stored),
            ),
            (
                "ymt_events_duplicate",
                "Submitted events already stored (ignored).",
                load(&metrics.events_duplicate),
            ),
            (
                "ymt_evaluations",
                "Full evaluations of a person's timeline.",
                load(&metrics.evaluations),
            ),
            (
                "ymt_evaluations_failed",
                "Evaluations that could not be computed; each put a person into the fail-safe state.",
                load(&metrics.evaluations_failed),
            ),
            (
                "ymt_timed_transitions",
                "Colors changed by the scheduler as valid_until fell due.",
                load(&metrics.timed_transitions),
            ),
            (
                "ymt_tracings_planned",
                "Tracings of positive PCR results planned, first or again (a late check-in entered by a tracing's horizon plans it again).",
                load(&metrics.tracings_planned),
            ),
            (
                "ymt_status_reads",
                "Status reads served.",
                load(&metrics.status_reads),
            ),
        ];
        for (name, help, value) in counters {
            encode_counter(&mut encoder, name, help, value)?;
        }
        let scheduled = encoder.encode_descriptor(
            "ymt_scheduled_transitions",
            "Timed transitions queued.",
            None,
            MetricType::Gauge,
        )?;
        ConstGauge::new(node.projection.due_len() as u64).encode(scheduled)?;
        // The alert: persons shown "cannot be computed, check in person".
        // Anything above zero needs someone to look (a rule exceeding its
        // budget, an event that no longer reads).
        let cannot_compute = encoder.encode_descriptor(
            "ymt_persons_cannot_compute",
            "Persons whose status cannot be computed (fail-safe state, counted as red in ymt_persons); alert when above 0.",
            None,
            MetricType::Gauge,
        )?;
        ConstGauge::new(node.projection.cannot_compute_count()).encode(cannot_compute)?;
        let counters = [
            (
                "ymt_store_commits",
                "Group commits of the store.",
                stats.commits,
            ),
            (
                "ymt_store_overloaded",
                "Submissions the store refused with a full queue.",
                stats.overloaded,
            ),
            (
                "ymt_audit_dropped_reads",
                "Reads refused because the read-audit queue was full.",
                load(&metrics.audit_dropped_reads),
            ),
            (
                "ymt_requests_refused_overload",
                "Writes refused because the store's queue was full.",
                load(&metrics.requests_refused_overload),
            ),
        ];
        for (name, help, value) in counters {
            encode_counter(&mut encoder, name, help, value)?;
        }
        if node.replicates() {
            encode_replication(&mut encoder, node)?;
        }
        Ok(())
    }
}

/// The cluster's figures (only a node in a cluster has them): the log
/// position applied, the replication lag, the outbox depth, and the records
/// applied from the stream.
fn encode_replication(
    encoder: &mut DescriptorEncoder,
    node: &SharedState,
) -> Result<(), fmt::Error> {
    let load = |value: &AtomicU64| value.load(Ordering::Relaxed);
    let replication = &node.replication;
    let gauges = [
        (
            "ymt_replication_position",
            "The stream sequence this node has applied up to.",
            load(&replication.position),
        ),
        (
            "ymt_replication_lag_milliseconds",
            "How long the oldest record in the stream not yet applied here has waited.",
            load(&replication.lag_ms),
        ),
        (
            "ymt_outbox_depth",
            "Records of this node not yet acknowledged by the stream's quorum.",
            load(&replication.outbox_depth),
        ),
    ];
    for (name, help, value) in gauges {
        let gauge = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
        ConstGauge::new(value).encode(gauge)?;
    }
    encode_counter(
        encoder,
        "ymt_records_applied",
        "Events applied from the replication stream that this node did not hold.",
        load(&node.metrics.records_applied),
    )?;
    encode_counter(
        encoder,
        "ymt_replication_conflicts",
        "Replicated events whose id this node holds with other content (the first stored stays).",
        load(&node.metrics.replication_conflicts),
    )?;
    encode_origins(encoder, node)
}

/// Origins listed by label at most: those missing the most records first
/// (one origin per node process ever started; the totals count them all).
const ORIGINS_LABELLED_MAX: usize = 32;

/// Anti-entropy's figures: per origin, the contiguous prefix held and the
/// records known and not held (the lag per origin, in records); their
/// total; the gaps repaired from peers.
fn encode_origins(encoder: &mut DescriptorEncoder, node: &SharedState) -> Result<(), fmt::Error> {
    let mut origins = node.origin_summaries();
    let missing_total: u64 = origins.iter().map(|origin| origin.missing).sum();
    origins.sort_by(|a, b| b.missing.cmp(&a.missing).then(a.origin.cmp(&b.origin)));
    origins.truncate(ORIGINS_LABELLED_MAX);
    let mut prefix = encoder.encode_descriptor(
        "ymt_replication_origin_prefix",
        "Per origin: every record it numbered up to this one is held here.",
        None,
        MetricType::Gauge,
    )?;
    for origin in &origins {
        ConstGauge::new(origin.prefix)
            .encode(prefix.encode_family(&[("origin", origin.origin.as_str())])?)?;
    }
    let mut missing = encoder.encode_descriptor(
        "ymt_replication_origin_missing",
        "Per origin: records known to exist (held here beyond a gap, or by a peer) and not held here.",
        None,
        MetricType::Gauge,
    )?;
    for origin in &origins {
        ConstGauge::new(origin.missing)
            .encode(missing.encode_family(&[("origin", origin.origin.as_str())])?)?;
    }
    let total = encoder.encode_descriptor(
        "ymt_replication_missing",
        "Records of every origin known to exist and not held here.",
        None,
        MetricType::Gauge,
    )?;
    ConstGauge::new(missing_total).encode(total)?;
    encode_counter(
        encoder,
        "ymt_replication_gaps_repaired",
        "Numbered records this node missed and obtained from a peer (anti-entropy).",
        node.replication
            .origins
            .gaps_repaired
            .load(Ordering::Relaxed),
    )?;
    encode_counter(
        encoder,
        "ymt_replication_commands_chained",
        "Ordered commands applied or refused here, each folded into the node's hash chain.",
        node.replication.commands.head().count,
    )?;
    let (disagreeing, in_minority) = node.replication.commands.divergence();
    let peers = encoder.encode_descriptor(
        "ymt_replication_commands_peers_disagreeing",
        "Peers whose chain of ordered commands differed from this node's in the last anti-entropy round.",
        None,
        MetricType::Gauge,
    )?;
    ConstGauge::new(disagreeing as i64).encode(peers)?;
    let minority = encoder.encode_descriptor(
        "ymt_replication_commands_diverged",
        "1 when more peers' chains of ordered commands differ from this node's than agree with it (the node is then not ready).",
        None,
        MetricType::Gauge,
    )?;
    ConstGauge::new(i64::from(in_minority)).encode(minority)
}

/// One counter without labels; `_total` is appended to `name`.
fn encode_counter(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: u64,
) -> Result<(), fmt::Error> {
    let counter = ConstCounter::new(value);
    let metric = encoder.encode_descriptor(name, help, None, counter.metric_type())?;
    counter.encode(metric)
}

/// Request ids issued by one router: a random prefix of ten letters (~47
/// bits, so that ids of different nodes and restarts do not collide; letters
/// so that an issued id is itself well formed) and a counter.
struct RequestIds {
    prefix: String,
    next: AtomicU64,
}

impl RequestIds {
    fn new() -> RequestIds {
        let mut random = [0u8; 10];
        if getrandom::fill(&mut random).is_err() {
            // No system randomness: the clock still tells restarts apart.
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |elapsed| elapsed.as_nanos());
            random.copy_from_slice(&nanos.to_le_bytes()[..10]);
        }
        RequestIds {
            prefix: random
                .iter()
                .map(|byte| char::from(b'a' + byte % 26))
                .collect(),
            next: AtomicU64::new(1),
        }
    }

    fn issue(&self) -> String {
        format!(
            "{}-{}",
            self.prefix,
            self.next.fetch_add(1, Ordering::Relaxed)
        )
    }
}

/// The incoming request id to keep, if it is well formed: 1 to 64 of
/// `A–Z a–z 0–9 - _ . :` (what ids generated by proxies and clients use:
/// UUIDs, hex, base-36 counters), and no run of 15 or more digits, which
/// could be a resident ID number (15 or 18 characters, 17 digits) that a
/// client put there and that would then be logged. (UUIDs never have more
/// than 12 digits in a row; millisecond timestamps have 13.)
pub fn well_formed_request_id(value: &[u8]) -> Option<&str> {
    if value.is_empty() || value.len() > REQUEST_ID_LEN_MAX {
        return None;
    }
    let allowed = |byte: &u8| byte.is_ascii_alphanumeric() || b"-_.:".contains(byte);
    if !value.iter().all(allowed) {
        return None;
    }
    let longest_digit_run = value
        .split(|byte| !byte.is_ascii_digit())
        .map(<[u8]>::len)
        .max()
        .unwrap_or(0);
    if longest_digit_run >= ID_NUMBER_DIGITS_MIN {
        return None;
    }
    std::str::from_utf8(value).ok()
}

/// A problem+json body with `request_id` added, or `None` when the body is
/// not a JSON object or already names a request id.
pub fn problem_with_request_id(body: &[u8], request_id: &str) -> Option<Vec<u8>> {
    let serde_json::Value::Object(object) = serde_json::from_slice(body).ok()? else {
        return None;
    };
    if object.contains_key("request_id") {
        return None;
    }
    // Spliced before the closing brace, so the members keep their order.
    let text = std::str::from_utf8(body).ok()?.trim_end();
    let head = text.strip_suffix('}')?.trim_end();
    let separator = if object.is_empty() { "" } else { "," };
    let id = serde_json::to_string(request_id).ok()?;
    Some(format!("{head}{separator}\"request_id\":{id}}}").into_bytes())
}

/// The level of a request's log line (see the module's documentation).
pub fn log_level(status: StatusCode) -> tracing::Level {
    match status.as_u16() {
        429 | 503 => tracing::Level::DEBUG,
        500..=599 => tracing::Level::WARN,
        400..=499 => tracing::Level::INFO,
        _ => tracing::Level::DEBUG,
    }
}

/// The method as a label: the standard ones by name, anything else as
/// `other`, so that invented methods cannot grow the label set.
fn method_label(method: &Method) -> &'static str {
    const STANDARD: [Method; 9] = [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::HEAD,
        Method::OPTIONS,
        Method::PATCH,
        Method::CONNECT,
        Method::TRACE,
    ];
    STANDARD
        .iter()
        .find(|standard| *standard == method)
        .map_or("other", Method::as_str)
}

/// The middleware around every route: assigns the request id, times the
/// request, records it, adds the id to the reply and its problem body, and
/// logs one line. It is the outermost layer, so refusals by load shedding
/// and by the body limit are measured, logged and carry an id too.
pub async fn observe(
    State(observability): State<Arc<Observability>>,
    mut request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let request_id = request
        .headers()
        .get(&REQUEST_ID_HEADER)
        .and_then(|value| well_formed_request_id(value.as_bytes()))
        .map_or_else(|| observability.request_ids.issue(), str::to_owned);
    let method = method_label(request.method());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or(Cow::Borrowed(UNMATCHED_ROUTE), |path| {
            Cow::Owned(path.as_str().to_owned())
        });
    request
        .extensions_mut()
        .insert(RequestId(request_id.clone()));
    request.extensions_mut().insert(observability.clone());

    let response = next.run(request).await;
    let mut response = add_request_id_to_problem(response, &request_id).await;
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }

    let status = response.status();
    let latency = started.elapsed();
    let labels = HttpLabels {
        method,
        route: route.into_owned(),
        status: status.as_u16(),
    };
    observability.record(&labels, latency);
    log_request(&labels, latency, &request_id, log_level(status));
    response
}

fn log_request(labels: &HttpLabels, latency: Duration, request_id: &str, level: tracing::Level) {
    let latency_us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
    // `tracing` fixes an event's level at the call site: one call per level.
    macro_rules! line {
        ($event:ident) => {
            tracing::$event!(
                target: "ymt_http::request",
                method = labels.method,
                route = %labels.route,
                status = labels.status,
                latency_us,
                request_id,
                "request"
            )
        };
    }
    match level {
        tracing::Level::WARN => line!(warn),
        tracing::Level::INFO => line!(info),
        _ => line!(debug),
    }
}

async fn add_request_id_to_problem(response: Response, request_id: &str) -> Response {
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"application/problem+json"));
    if !is_problem {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    // Problem bodies are built in memory (problem.rs): collecting them
    // neither waits nor fails.
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(bytes) => bytes,
        Err(error) => {
            tracing::error!("unreadable problem body: {error}");
            return Response::from_parts(parts, Body::empty());
        }
    };
    match problem_with_request_id(&bytes, request_id) {
        Some(with_id) => {
            parts.headers.remove(header::CONTENT_LENGTH);
            Response::from_parts(parts, Body::from(with_id))
        }
        None => Response::from_parts(parts, Body::from(bytes)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_request_id(input: &[u8], expect_kept: bool) {
        let kept = well_formed_request_id(input);
        assert_eq!(
            kept.is_some(),
            expect_kept,
            "{:?}",
            String::from_utf8_lossy(input)
        );
        if let Some(kept) = kept {
            assert_eq!(kept.as_bytes(), input);
        }
    }

    #[test]
    fn well_formed_request_ids_are_kept_and_others_replaced() {
        for (input, expect_kept) in [
            (&b"abc-123"[..], true),
            (b"550e8400-e29b-41d4-a716-446655440000", true),
            (b"req_1.2:3", true),
            (b"1234567890", true),
            (&[b'a'; 64][..], true),
            (&[b'a'; 65][..], false),
            (b"", false),
            (b"has space", false),
            (b"quote\"", false),
            (b"semi;colon", false),
            (b"slash/", false),
            (b"\xe8\xaf\xb7\xe6\xb1\x82", false),
            (b"1700000000123-7", true),
            (b"12345678901234", true),
            // ID numbers are never echoed nor logged.
            (b"11010519491231002X", false),
            (b"req-110105491231002", false),
            (b"123456789012345", false),
        ] {
            check_request_id(input, expect_kept);
        }
    }

    fn check_problem(body: &str, expect: Option<&str>) {
        let got = problem_with_request_id(body.as_bytes(), "r-1")
            .map(|bytes| String::from_utf8(bytes).unwrap());
        assert_eq!(got.as_deref(), expect, "{body}");
    }

    #[test]
    fn request_id_is_added_to_problem_objects_only() {
        for (body, expect) in [
            (
                r#"{"type":"t","status":404}"#,
                Some(r#"{"type":"t","status":404,"request_id":"r-1"}"#),
            ),
            ("{}", Some(r#"{"request_id":"r-1"}"#)),
            (" { } \n", Some(r#" {"request_id":"r-1"}"#)),
            (r#"{"request_id":"other"}"#, None),
            ("[1]", None),
            ("not json", None),
            ("", None),
        ] {
            check_problem(body, expect);
        }
    }

    #[test]
    fn log_levels_follow_the_status() {
        use tracing::Level;
        for (status, expect) in [
            (200, Level::DEBUG),
            (304, Level::DEBUG),
            (400, Level::INFO),
            (404, Level::INFO),
            (429, Level::DEBUG),
            (500, Level::WARN),
            (503, Level::DEBUG),
        ] {
            let status = StatusCode::from_u16(status).unwrap();
            assert_eq!(log_level(status), expect, "{status}");
        }
    }

    #[test]
    fn methods_outside_the_standard_ones_share_one_label() {
        for (method, expect) in [
            ("GET", "GET"),
            ("DELETE", "DELETE"),
            ("BREW", "other"),
            ("get", "other"),
        ] {
            let method = Method::from_bytes(method.as_bytes()).unwrap();
            assert_eq!(method_label(&method), expect);
        }
    }

    #[test]
    fn issued_request_ids_are_distinct_and_well_formed() {
        let ids = RequestIds::new();
        let (first, second) = (ids.issue(), ids.issue());
        assert_ne!(first, second);
        for id in [first, second] {
            assert!(well_formed_request_id(id.as_bytes()).is_some(), "{id}");
        }
    }
}
