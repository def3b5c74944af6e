//! Probes and metrics. (The API description is served by
//! [`crate::openapi::document`].)

use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::extract::SharedState;

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
    summary = "Readiness: the store accepts work",
    responses(
        (status = 200, description = "`ready`", body = String, content_type = "text/plain"),
    )
)]
pub(crate) async fn readyz(State(state): State<SharedState>) -> Response {
    // Ready when the store's writer accepts work: probe with its counters.
    let _ = state.store.stats();
    (StatusCode::OK, "ready").into_response()
}

#[utoipa::path(
    get,
    path = "/metrics",
    tag = "probes",
    summary = "Prometheus metrics (text exposition format 0.0.4)",
    responses(
        (status = 200, description = "Gauges and counters", body = String, content_type = "text/plain"),
    )
)]
pub(crate) async fn metrics(State(state): State<SharedState>) -> Response {
    let counts = state.projection.color_counts();
    let stats = state.store.stats();
    let metrics = &state.metrics;
    let text = format!(
        "# TYPE ymt_persons gauge\n\
         ymt_persons{{color=\"green\"}} {}\nymt_persons{{color=\"yellow\"}} {}\nymt_persons{{color=\"red\"}} {}\n\
         # TYPE ymt_events_stored_total counter\nymt_events_stored_total {}\n\
         # TYPE ymt_events_duplicate_total counter\nymt_events_duplicate_total {}\n\
         # TYPE ymt_evaluations_total counter\nymt_evaluations_total {}\n\
         # TYPE ymt_timed_transitions_total counter\nymt_timed_transitions_total {}\n\
         # TYPE ymt_status_reads_total counter\nymt_status_reads_total {}\n\
         # TYPE ymt_scheduled_transitions gauge\nymt_scheduled_transitions {}\n\
         # TYPE ymt_store_commits_total counter\nymt_store_commits_total {}\n\
         # TYPE ymt_store_overloaded_total counter\nymt_store_overloaded_total {}\n\
         # TYPE ymt_audit_dropped_reads_total counter\nymt_audit_dropped_reads_total {}\n",
        counts[0],
        counts[1],
        counts[2],
        metrics.events_stored.load(Ordering::Relaxed),
        metrics.events_duplicate.load(Ordering::Relaxed),
        metrics.evaluations.load(Ordering::Relaxed),
        metrics.timed_transitions.load(Ordering::Relaxed),
        metrics.status_reads.load(Ordering::Relaxed),
        state.projection.due_len(),
        stats.commits,
        stats.overloaded,
        metrics.audit_dropped_reads.load(Ordering::Relaxed),
    );
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}
