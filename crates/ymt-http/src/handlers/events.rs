use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use ymt_node::state::*;

use crate::extract::*;
use crate::problem::ApiError;

pub(crate) async fn post_event(
    State(state): State<SharedState>,
    Authed(principal): Authed,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let submission: Submission = parse_json(body)?;
    let results = state.ingest(&principal, vec![submission]).await?;
    Ok((StatusCode::OK, axum::Json(json!({ "results": results }))).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BatchBody {
    events: Vec<serde_json::Value>,
}

pub(crate) async fn post_events_batch(
    State(state): State<SharedState>,
    Authed(principal): Authed,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let batch: BatchBody = parse_json(body)?;
    if batch.events.len() > state.config.batch_events_max {
        return Err(ApiError::too_large(format!(
            "a batch holds at most {} events, got {}",
            state.config.batch_events_max,
            batch.events.len()
        )));
    }
    let mut submissions = Vec::with_capacity(batch.events.len());
    let mut errors = Vec::new();
    for (index, value) in batch.events.into_iter().enumerate() {
        match serde_json::from_value::<Submission>(value) {
            Ok(submission) => submissions.push(submission),
            Err(error) => errors.push(crate::problem::ItemError {
                index,
                detail: error.to_string(),
            }),
        }
    }
    if !errors.is_empty() {
        let first = format!("event {}: {}", errors[0].index, errors[0].detail);
        return Err(
            ApiError::unprocessable(format!("refused, nothing stored: {first}"))
                .with_errors(errors),
        );
    }
    let results = state.ingest(&principal, submissions).await?;
    Ok(axum::Json(json!({ "results": results })).into_response())
}
