//! Probes and metrics. (The API description is served by
//! [`crate::openapi::document`].)

use std::sync::Arc;

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::extract::SharedState;
use crate::observability::Observability;

#[utoipa::path(
    get,
    path = "/healthz",
    tag = "probes",
    summary = "Liveness: the process answers",
    responses(
        (status = 200, description = "`ok`", body = String, content_type = "text/plain"),
    )
)]
pub(crate) async fn healthz() -> &'static str {
    "ok"
}

#[utoipa::path(
    get,
    path = "/readyz",
    tag = "probes",
    summary = "Readiness: the store accepts work and, in a cluster, the node is not stale",
    responses(
        (status = 200, description = "`ready`", body = String, content_type = "text/plain"),
        (status = 503, description = "In a cluster: the replication lag is above the bound (`--replication-lag-max-ms`), or the node's chain of ordered commands differs from more of its peers' than agree with it", body = String, content_type = "text/plain"),
    )
)]
pub(crate) async fn readyz(State(state): State<SharedState>) -> Response {
    // Ready when the store's writer accepts work: probe with its counters.
    let _ = state.store.stats();
    if state.replicates() {
        // A stale node is taken out by the load balancer; it keeps serving
        // whoever still reaches it (its answers say how stale they are).
        let lag_ms = state
            .replication
            .lag_ms
            .load(std::sync::atomic::Ordering::Relaxed);
        // Another history of ordered commands than most peers': its
        // answers may differ from theirs (`command_chain.rs`).
        let (disagreeing, in_minority) = state.replication.commands.divergence();
        if in_minority {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "this node's ordered commands differ from {disagreeing} peers' (the broker lost or reordered one here): bootstrap it again from a peer"
                ),
            )
                .into_response();
        }
        if lag_ms > state.config.replication_lag_max_ms {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "replication lag {lag_ms} ms is over {} ms",
                    state.config.replication_lag_max_ms
                ),
            )
                .into_response();
        }
    }
    (StatusCode::OK, "ready").into_response()
}

/// Rendered by the router's registry (observability.rs), which the request
/// layer hands to every request.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "probes",
    summary = "Prometheus metrics (text exposition format 0.0.4)",
    responses(
        (status = 200, description = "Gauges and counters", body = String, content_type = "text/plain"),
    )
)]
pub(crate) async fn metrics(Extension(observability): Extension<Arc<Observability>>) -> Response {
    observability.metrics_response()
}
