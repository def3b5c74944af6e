//! Probes, metrics and the API description.

use std::sync::Arc;

use axum::Extension;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::extract::SharedState;
use crate::observability::Observability;

pub(crate) async fn healthz() -> &'static str {
    "ok"
}

pub(crate) async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        crate::openapi::OPENAPI_JSON,
    )
        .into_response()
}

pub(crate) async fn readyz(State(state): State<SharedState>) -> Response {
    // Ready when the store's writer accepts work: probe with its counters.
    let _ = state.store.stats();
    (StatusCode::OK, "ready").into_response()
}

/// Rendered by the router's registry (observability.rs), which the request
/// layer hands to every request.
pub(crate) async fn metrics(Extension(observability): Extension<Arc<Observability>>) -> Response {
    observability.metrics_response()
}
