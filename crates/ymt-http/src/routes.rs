//! The one route table of the node's HTTP API, and the router built from it.
//!
//! Every route is listed here once, with its method and handler; the router
//! and the documentation check ([`route_table`]) both read this table, so a
//! route cannot exist without being listed.

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, delete, get, post};

use crate::extract::SharedState;
use crate::handlers::{
    admin, appeals, codes, dashboard, designations, events, pending, persons, probes, risk_areas,
    rules, session, venues,
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
        route(M::POST, "/v1/verify/id-card", post(persons::verify_id_card)),
        // Codes and their verification.
        route(M::GET, "/v1/trust-list", get(codes::trust_list)),
        route(M::POST, "/v1/verify/token", post(codes::verify_token)),
        // Citizen sessions and appeals.
        route(M::GET, "/v1/session", get(session::get_session)),
        route(M::POST, "/v1/session", post(session::sign_in)),
        route(M::DELETE, "/v1/session", delete(session::sign_out)),
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
        route(M::GET, "/v1/rule-sets:diff", get(rules::diff_rule_sets)),
        route(M::GET, "/v1/rule-sets/{version}", get(rules::get_rule_set)),
        route(M::POST, "/v1/profiles", post(rules::publish_profile)),
        // Venues, risk areas, designations and the circuit breaker.
        route(M::POST, "/v1/venues", post(venues::register_venue)),
        route(M::GET, "/v1/venues/{id}", get(venues::get_venue)),
        route(M::GET, "/v1/venues/{id}/qr", get(venues::venue_qr)),
        route(M::POST, "/v1/risk-areas", post(risk_areas::designate)),
        route(M::GET, "/v1/risk-areas", get(risk_areas::list)),
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
    let in_flight = Arc::new(tokio::sync::Semaphore::new(
        state.config.concurrent_requests_max.max(1),
    ));
    let mut router = Router::new();
    for route in table() {
        // Routes of one path with different methods merge into one entry.
        router = router.route(route.path, route.handler);
    }
    router
        .fallback(unknown_route)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn(move |request, next| {
            shed_over_limit(in_flight.clone(), request, next)
        }))
        // Outermost, so that shed requests are measured and carry an id.
        .layer(axum::middleware::from_fn_with_state(observability, observe))
        .with_state(state)
}

/// A path no route serves: a problem like every other error.
async fn unknown_route() -> ApiError {
    ApiError::not_found("no route serves this path")
}

/// Serves a request if fewer than the configured number are in flight, else
/// refuses it at once with 503. `Router::layer` wraps every route on its own,
/// so a tower concurrency layer would limit each route separately; one
/// semaphore shared by all routes limits the node as a whole.
async fn shed_over_limit(
    in_flight: Arc<tokio::sync::Semaphore>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    match in_flight.try_acquire_owned() {
        Ok(_permit) => next.run(request).await,
        Err(_) => ApiError::from(ymt_node::NodeError::unavailable(
            "the node is at its concurrent-request limit",
        ))
        .into_response(),
    }
}
