//! The one route table of the node's HTTP API, and the router built from it.
//!
//! Every route is listed here once, with its method and handler; the router
//! and the documentation check ([`route_table`]) both read this table, so a
//! route cannot exist without being listed.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, delete, get, post};

use crate::extract::SharedState;
use crate::handlers::my_color;
use crate::handlers::{
    admin, appeals, codes, dashboard, designations, events, oidc_sign_in, pending, persons, probes,
    public_rules, qr_decode, risk_areas, rules, self_check_in, services, session, venues,
};
use crate::observability::{Observability, observe};
use crate::pages;
use crate::problem::ApiError;

/// One route: method, path template (axum syntax) and handler.
struct Route {
    method: Method,
    path: &'static str,
    handler: MethodRouter<SharedState>,
}

fn route(method: Method, path: &'static str, handler: MethodRouter<SharedState>) -> Route {
    Route {
        method,
        path,
        handler,
    }
}

/// Every route of the API and the pages.
fn table() -> Vec<Route> {
    use Method as M;
    vec![
        // Probes, metrics and the API description: for anyone.
        route(M::GET, "/healthz", get(probes::healthz)),
        route(M::GET, "/readyz", get(probes::readyz)),
        route(M::GET, "/metrics", get(probes::metrics)),
        route(M::GET, "/openapi.json", get(crate::openapi::document)),
        // Events and persons.
        route(M::POST, "/v1/events", post(events::post_event)),
        route(M::POST, "/v1/events:batch", post(events::post_events_batch)),
        route(M::POST, "/v1/persons", post(persons::register_person)),
        route(
            M::POST,
            "/v1/guardianships:confirm",
            post(persons::confirm_guardianship),
        ),
        route(
            M::POST,
            "/v1/persons:resolve",
            post(persons::resolve_person),
        ),
        route(
            M::GET,
            "/v1/persons/{pid}/status",
            get(persons::person_status),
        ),
        route(
            M::GET,
            "/v1/persons/{pid}/timeline",
            get(persons::person_timeline),
        ),
        route(M::GET, "/v1/persons/{pid}/code", get(codes::person_code)),
        route(
            M::GET,
            "/v1/persons/{pid}/color",
            get(my_color::person_color),
        ),
        route(
            M::GET,
            "/v1/persons/{pid}/history",
            get(my_color::person_history),
        ),
        route(
            M::POST,
            "/v1/persons/{pid}/sessions:revoke",
            post(session::revoke_person_sessions),
        ),
        route(M::POST, "/v1/verify/id-card", post(persons::verify_id_card)),
        // Codes and their verification.
        route(M::GET, "/v1/trust-list", get(codes::trust_list)),
        route(M::POST, "/v1/verify/token", post(codes::verify_token)),
        route(M::POST, "/v1/keys:revoke", post(codes::revoke_key)),
        // Citizen sessions and appeals.
        route(M::GET, "/v1/session", get(session::get_session)),
        route(M::POST, "/v1/session", post(session::sign_in)),
        route(M::DELETE, "/v1/session", delete(session::sign_out)),
        route(M::GET, "/v1/session/oidc/start", get(oidc_sign_in::start)),
        route(
            M::GET,
            "/v1/session/oidc/callback",
            get(oidc_sign_in::callback),
        ),
        route(
            M::GET,
            "/v1/console/oidc/start",
            get(oidc_sign_in::console_start),
        ),
        route(
            M::GET,
            "/v1/console/session",
            get(oidc_sign_in::console_session),
        ),
        route(
            M::DELETE,
            "/v1/console/session",
            delete(oidc_sign_in::console_sign_out),
        ),
        route(M::GET, "/v1/appeals", get(appeals::list_appeals)),
        route(M::POST, "/v1/appeals", post(appeals::file_appeal)),
        route(
            M::POST,
            "/v1/appeals/{id}/resolve",
            post(appeals::resolve_appeal),
        ),
        // Rules.
        route(M::GET, "/v1/rule-sets", get(rules::list_rule_sets)),
        route(M::POST, "/v1/rule-sets", post(rules::publish_rule_set)),
        route(M::POST, "/v1/rule-sets:preview", post(rules::preview_rules)),
        // Simulate before publishing: a job, polled (handlers/simulations.rs).
        route(
            M::POST,
            "/v1/rule-sets:simulate",
            post(crate::handlers::simulations::simulate),
        ),
        route(
            M::GET,
            "/v1/simulations/{id}",
            get(crate::handlers::simulations::simulation),
        ),
        route(M::GET, "/v1/rule-sets:diff", get(rules::diff_rule_sets)),
        route(M::GET, "/v1/rule-sets/{version}", get(rules::get_rule_set)),
        route(M::POST, "/v1/profiles", post(rules::publish_profile)),
        // Services: their rule sets and profiles, hospitals, care homes,
        // and a person's consents and visits.
        route(
            M::GET,
            "/v1/services/{service}/rule-set",
            get(services::get_service_rule_set),
        ),
        route(
            M::POST,
            "/v1/services/{service}/rule-sets",
            post(services::propose_service_rule_set),
        ),
        route(
            M::POST,
            "/v1/services/{service}/venues/{venue}/profile",
            post(services::publish_service_profile),
        ),
        route(
            M::POST,
            "/v1/hospitals/{venue}/entrance",
            post(services::hospital_entrance),
        ),
        route(
            M::GET,
            "/v1/hospitals/{venue}/persons/{pid}/test-results",
            get(services::hospital_test_results),
        ),
        route(
            M::GET,
            "/v1/persons/{pid}/consents",
            get(services::list_consents),
        ),
        route(
            M::POST,
            "/v1/persons/{pid}/consents",
            post(services::give_consent),
        ),
        route(
            M::POST,
            "/v1/persons/{pid}/consents/{venue}/revoke",
            post(services::revoke_consent),
        ),
        route(
            M::POST,
            "/v1/care-homes/{venue}/visits",
            post(services::decide_visit),
        ),
        route(
            M::GET,
            "/v1/persons/{pid}/visits",
            get(services::resident_visits),
        ),
        route(
            M::POST,
            "/v1/care-homes/{venue}/roster",
            post(services::set_roster),
        ),
        route(
            M::GET,
            "/v1/care-homes/{venue}/roster-check",
            get(services::roster_check),
        ),
        // Venues, risk areas, designations and the circuit breaker.
        route(M::POST, "/v1/venues", post(venues::register_venue)),
        route(M::GET, "/v1/venues/{id}", get(venues::get_venue)),
        route(M::GET, "/v1/venues/{id}/qr", get(venues::venue_qr)),
        route(M::POST, "/v1/risk-areas", post(risk_areas::designate)),
        route(M::GET, "/v1/risk-areas", get(risk_areas::list)),
        route(M::POST, "/v1/risk-areas:preview", post(risk_areas::preview)),
        route(
            M::POST,
            "/v1/risk-areas/{id_action}",
            post(risk_areas::lift),
        ),
        route(
            M::POST,
            "/v1/designations/{id_action}",
            post(designations::confirm),
        ),
        route(M::GET, "/v1/pending", get(pending::list_pending)),
        route(
            M::POST,
            "/v1/pending/{id_action}",
            post(pending::decide_pending),
        ),
        route(M::POST, "/v1/overrides:bulk", post(pending::bulk_override)),
        // Audit, principals and the dashboard.
        route(M::GET, "/v1/audit", get(admin::list_audit)),
        route(
            M::POST,
            "/v1/admin/principals",
            post(admin::create_principal),
        ),
        route(
            M::POST,
            "/v1/admin/principals/{id}/keys:revoke",
            post(admin::revoke_principal_keys),
        ),
        route(
            M::GET,
            "/v1/dashboard/colors.svg",
            get(dashboard::colors_svg),
        ),
        // Pages and their assets.
        route(M::GET, "/", get(pages::root)),
        route(M::GET, "/citizen", get(pages::citizen)),
        route(M::GET, "/verify", get(pages::verify)),
        route(M::GET, "/console", get(pages::console)),
        route(M::GET, "/assets/{name}", get(pages::asset)),
        route(M::GET, "/sw.js", get(pages::service_worker)),
        // Camera frames, for browsers without BarcodeDetector.
        route(M::POST, "/v1/qr:decode", post(qr_decode::decode_frame)),
        // 场所码 self check-in by a signed-in citizen.
        route(M::POST, "/v1/venues:scan", post(self_check_in::scan_venue)),
        route(
            M::POST,
            "/v1/persons/{pid}/check-ins",
            post(self_check_in::check_in),
        ),
        // The rules in force, published for anyone (no sign-in).
        route(M::GET, "/v1/public/rules", get(public_rules::public_rules)),
        route(M::GET, "/rules", get(public_rules::rules_page)),
        // Node to node: anti-entropy (only with the cluster's node credential).
        route(
            M::GET,
            "/v1/replication/origins",
            get(crate::handlers::replication::origins),
        ),
        route(
            M::GET,
            "/v1/replication/origins/{origin}/records",
            get(crate::handlers::replication::origin_records),
        ),
        route(
            M::GET,
            "/v1/replication/snapshot",
            get(crate::handlers::replication::snapshot),
        ),
        // Printed codes (纸质码) for persons without a phone, and the
        // printable page.
        route(
            M::POST,
            "/v1/persons/{pid}/printed-code",
            post(crate::handlers::printed_codes::print_code),
        ),
        route(M::GET, "/print", get(crate::print_page::print)),
        // The jurisdiction's map of venues and risk areas (SVG).
        route(M::GET, "/v1/dashboard/map.svg", get(dashboard::venue_map)),
    ]
}

/// The method and path template of every route, as the router serves them.
pub fn route_table() -> Vec<(String, String)> {
    table()
        .into_iter()
        .map(|route| (route.method.as_str().to_owned(), route.path.to_owned()))
        .collect()
}

/// The router of the node's API and pages, with its limits, metrics,
/// request ids and request logs (observability.rs).
pub fn router(state: SharedState) -> Router {
    let observability = Arc::new(Observability::new(state.clone()));
    let body_limit = state.config.body_bytes_max;
    let slots = state.config.concurrent_requests_max.max(1);
    let admission = Arc::new(Admission {
        in_flight: tokio::sync::Semaphore::new(slots),
        other_in_flight: tokio::sync::Semaphore::new(slots - door_reserved_slots(slots)),
        body_bytes_in_flight: Arc::new(tokio::sync::Semaphore::new(
            state
                .config
                .body_bytes_in_flight_max
                .clamp(1, tokio::sync::Semaphore::MAX_PERMITS),
        )),
        body_bytes_max: body_limit,
        body_read_timeout: Duration::from_millis(state.config.body_read_timeout_ms.max(1)),
    });
    let oidc = oidc_relying_party(&state);
    let mut router = Router::new();
    for route in table() {
        // Routes of one path with different methods merge into one entry.
        router = router.route(route.path, route.handler);
    }
    router
        .fallback(unknown_route)
        .layer(axum::Extension(oidc))
        .layer(axum::Extension(
            Arc::new(qr_decode::FrameDecoder::default()),
        ))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn(move |request, next| {
            admit(admission.clone(), request, next)
        }))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            staleness_headers,
        ))
        // Before admission: a peer page's preflight costs no request slot.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::peer_origins::answer_peer_origins,
        ))
        // Outermost, so that shed requests are measured and carry an id.
        .layer(axum::middleware::from_fn_with_state(observability, observe))
        .with_state(state)
}

/// The relying party of the configured identity provider. A configuration
/// it cannot use (no public URL for the redirect URI, an issuer that is not a
/// URL) leaves sign-in through it unavailable (503) and says why in the log,
/// rather than stopping the node.
fn oidc_relying_party(state: &SharedState) -> Option<Arc<crate::oidc::OidcRelyingParty>> {
    let config = state.config.oidc.clone()?;
    let Some(public_url) = state.config.public_url.as_deref() else {
        tracing::error!("OpenID sign-in needs the node's public URL (the redirect URI)");
        return None;
    };
    match crate::oidc::OidcRelyingParty::new(config, public_url) {
        Ok(relying_party) => Some(Arc::new(relying_party)),
        Err(error) => {
            tracing::error!(%error, "OpenID sign-in is not usable");
            None
        }
    }
}

/// A path no route serves: a problem like every other error.
async fn unknown_route() -> ApiError {
    ApiError::not_found("no route serves this path")
}

/// In a cluster, every answer (status and code answers among them) carries
/// the log position it reflects and the node's replication lag, as headers
/// so that the bodies stay byte-identical across nodes: `Ymt-Log-Position`
/// (the stream sequence applied) and `Ymt-Replication-Lag-Ms`. A single node
/// adds nothing.
async fn staleness_headers(
    axum::extract::State(state): axum::extract::State<SharedState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let mut response = next.run(request).await;
    if state.replicates() {
        let load = |value: &std::sync::atomic::AtomicU64| {
            axum::http::HeaderValue::from(value.load(std::sync::atomic::Ordering::Acquire))
        };
        let headers = response.headers_mut();
        headers.insert("ymt-log-position", load(&state.replication.position));
        headers.insert("ymt-replication-lag-ms", load(&state.replication.lag_ms));
    }
    response
}

/// The probes, answered without a concurrency slot: an orchestrator must see
/// a node that is alive and shedding as alive, not restart it for being busy.
const PROBE_PATHS: [&str; 2] = ["/healthz", "/readyz"];

/// What admits a request to a handler: one semaphore of slots shared by all
/// routes (`Router::layer` wraps every route on its own, so a tower
/// concurrency layer would limit each route separately), and the budget of
/// body bytes being read.
struct Admission {
    in_flight: tokio::sync::Semaphore,
    /// The slots requests other than the doors' may take: all but the
    /// doors' reserve.
    other_in_flight: tokio::sync::Semaphore,
    body_bytes_in_flight: Arc<tokio::sync::Semaphore>,
    body_bytes_max: usize,
    body_read_timeout: Duration,
}

/// Reads the request's body first (within the body deadline, the body
/// limit and the node-wide budget of body bytes), and only then takes a
/// concurrency slot, refusing at once with 503 if none is free: a client
/// sending its body slowly holds a socket, never a slot. Probes take no
/// slot.
async fn admit(
    admission: Arc<Admission>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if PROBE_PATHS.contains(&request.uri().path()) {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let (bytes, _body_bytes_reserved) = match read_body(&admission, &parts.headers, body).await {
        Ok(read) => read,
        Err(error) => return error,
    };
    let shed = || {
        ApiError::from(ymt_node::NodeError::unavailable(
            "the node is at its concurrent-request limit",
        ))
        .into_response()
    };
    let _other_slot = match lane_of(&parts.method, parts.uri.path()) {
        Lane::Door => None,
        Lane::Other => match admission.other_in_flight.try_acquire() {
            Ok(slot) => Some(slot),
            Err(_) => return shed(),
        },
    };
    let Ok(_slot) = admission.in_flight.try_acquire() else {
        return shed();
    };
    let request = axum::extract::Request::from_parts(parts, axum::body::Body::from(bytes));
    next.run(request).await
}

/// Which requests keep their place when the node is full. In Xi'an's 2022
/// collapses the doors failed first: people stood at checkpoints, hospitals
/// and stations while the code would not load. So the checks a door makes
/// (a code or an ID card verified, a status read by a verifier device, a
/// hospital entrance, a care-home visitor decided) keep
/// a reserve of slots that citizen refreshes, console reads and writes
/// cannot take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lane {
    Door,
    Other,
}

fn lane_of(method: &axum::http::Method, path: &str) -> Lane {
    let is_status_read = method == axum::http::Method::GET
        && path.starts_with("/v1/persons/")
        && path.ends_with("/status");
    // A hospital's entrance and a care home's door decide a person at a
    // door like a verifier does (docs/services.md).
    let is_service_door = method == axum::http::Method::POST
        && ((path.starts_with("/v1/hospitals/") && path.ends_with("/entrance"))
            || (path.starts_with("/v1/care-homes/") && path.ends_with("/visits")));
    if path.starts_with("/v1/verify/") || is_status_read || is_service_door {
        Lane::Door
    } else {
        Lane::Other
    }
}

/// The slots only the doors' requests may take: a quarter of all, at least
/// one once there are two (a node limited to one slot has no reserve).
fn door_reserved_slots(slots: usize) -> usize {
    if slots < 2 { 0 } else { (slots / 4).max(1) }
}

/// A refusal after which the rest of the body is not read: the connection
/// closes with it.
fn refuse_and_close(error: ApiError) -> Response {
    let mut response = error.into_response();
    response.headers_mut().insert(
        axum::http::header::CONNECTION,
        axum::http::HeaderValue::from_static("close"),
    );
    response
}

async fn read_body(
    admission: &Admission,
    headers: &axum::http::HeaderMap,
    mut body: axum::body::Body,
) -> Result<(Vec<u8>, Option<tokio::sync::OwnedSemaphorePermit>), Response> {
    use http_body_util::BodyExt;
    let too_large = || {
        refuse_and_close(ApiError::too_large(
            "the request body is larger than the configured maximum",
        ))
    };
    let announced = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if announced.is_some_and(|length| length > admission.body_bytes_max as u64) {
        return Err(too_large());
    }
    let deadline = tokio::time::Instant::now() + admission.body_read_timeout;
    let mut bytes = Vec::new();
    let mut reserved: Option<tokio::sync::OwnedSemaphorePermit> = None;
    loop {
        let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
            Err(_) => {
                return Err(refuse_and_close(ApiError::new(
                    StatusCode::REQUEST_TIMEOUT,
                    "request-timeout",
                    "the request body did not arrive in time",
                )));
            }
            Ok(None) => break,
            Ok(Some(Err(error))) => {
                return Err(refuse_and_close(ApiError::bad_request(format!(
                    "unreadable body: {error}"
                ))));
            }
            Ok(Some(Ok(frame))) => frame,
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if bytes.len() + data.len() > admission.body_bytes_max {
            return Err(too_large());
        }
        if data.is_empty() {
            continue;
        }
        let permits = u32::try_from(data.len()).unwrap_or(u32::MAX);
        let Ok(permit) = admission
            .body_bytes_in_flight
            .clone()
            .try_acquire_many_owned(permits)
        else {
            return Err(refuse_and_close(ApiError::overloaded(
                "the node is reading as many request bodies as it may hold",
            )));
        };
        match reserved.as_mut() {
            Some(held) => held.merge(permit),
            None => reserved = Some(permit),
        }
        bytes.extend_from_slice(&data);
    }
    Ok((bytes, reserved))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Method;

    fn check(method: Method, path: &str, expect: Lane) {
        assert_eq!(lane_of(&method, path), expect, "{method} {path}");
    }

    #[test]
    fn the_doors_requests_and_only_they_take_the_reserve() {
        check(Method::POST, "/v1/verify/id-card", Lane::Door);
        check(Method::POST, "/v1/verify/token", Lane::Door);
        check(Method::GET, "/v1/persons/p1/status", Lane::Door);
        check(Method::GET, "/v1/persons/p1/code", Lane::Other);
        check(Method::GET, "/v1/persons/p1/timeline", Lane::Other);
        check(Method::GET, "/v1/me/code", Lane::Other);
        check(Method::POST, "/v1/events:batch", Lane::Other);
        check(Method::GET, "/v1/rule-sets", Lane::Other);
        check(Method::GET, "/verify", Lane::Other);
        // A hospital's entrance and a care home's door are doors too.
        check(Method::POST, "/v1/hospitals/h1/entrance", Lane::Door);
        check(Method::POST, "/v1/care-homes/c1/visits", Lane::Door);
        check(
            Method::GET,
            "/v1/hospitals/h1/persons/p1/test-results",
            Lane::Other,
        );
        check(Method::GET, "/v1/care-homes/c1/roster-check", Lane::Other);
        check(Method::GET, "/v1/persons/p1/visits", Lane::Other);
    }

    #[test]
    fn the_reserve_is_a_quarter_of_the_slots_and_never_all_of_them() {
        for (slots, reserved) in [(1, 0), (2, 1), (3, 1), (4, 1), (8, 2), (1024, 256)] {
            assert_eq!(door_reserved_slots(slots), reserved, "{slots} slots");
        }
    }
}
