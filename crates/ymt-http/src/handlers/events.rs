use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use ymt_node::state::*;

use crate::extract::*;
use crate::problem::ApiError;
use crate::schemas::{
    BadRequest, Conflict, EventSubmission, Forbidden, TooLarge, Unauthorized, Unprocessable,
};

/// What an ingest did, one result per event in order.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Ingested {
    results: Vec<IngestResult>,
}

#[utoipa::path(
    post,
    path = "/v1/events",
    tag = "events",
    summary = "Append one event",
    security(("bearer" = [])),
    request_body = EventSubmission,
    responses(
        (status = 200, description = "Stored, or a duplicate of a stored event (`status`: `stored` or `duplicate`)", body = Ingested),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 409, response = Conflict),
        (status = 413, response = TooLarge),
        (status = 422, response = Unprocessable),
    )
)]
pub(crate) async fn post_event(
    State(state): State<SharedState>,
    Authed(principal): Authed,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let submission: Submission = parse_json(body)?;
    let results = state.ingest(&principal, vec![submission]).await?;
    Ok((StatusCode::OK, axum::Json(Ingested { results })).into_response())
}

/// A batch of events; the node's `--batch-events-max` (10,000 by default)
/// bounds its length (413 beyond).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BatchBody {
    #[schema(value_type = Vec<EventSubmission>, min_items = 1)]
    events: Vec<serde_json::Value>,
}

#[utoipa::path(
    post,
    path = "/v1/events:batch",
    tag = "events",
    summary = "Append a batch of events, all or nothing",
    security(("bearer" = [])),
    request_body = BatchBody,
    responses(
        (status = 200, description = "All stored (or duplicates): one result per event, in order", body = Ingested),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 409, response = Conflict),
        (status = 413, response = TooLarge),
        (status = 422, response = Unprocessable),
    )
)]
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
    // An id repeated in one batch must carry the same submission: the store
    // refuses a batch that repeats an id with other content, and such a
    // batch is invalid input, not a failure of the node.
    let mut first_of_id: std::collections::HashMap<String, usize> = Default::default();
    for (index, value) in batch.events.iter().enumerate() {
        if let Some(id) = value.get("id").and_then(|id| id.as_str())
            && let Some(&first) = first_of_id.get(id)
        {
            if batch.events[first] != *value {
                errors.push(crate::problem::ItemError {
                    index,
                    detail: format!("repeats the id {id} of event {first} with other content"),
                });
            }
        } else if let Some(id) = value.get("id").and_then(|id| id.as_str()) {
            first_of_id.insert(id.to_owned(), index);
        }
    }
    for (index, value) in batch.events.into_iter().enumerate() {
        if errors.iter().any(|error| error.index == index) {
            continue;
        }
        match serde_json::from_value::<Submission>(value) {
            Ok(submission) => submissions.push(submission),
            Err(error) => errors.push(crate::problem::ItemError {
                index,
                detail: error.to_string(),
            }),
        }
    }
    if !errors.is_empty() {
        errors.sort_by_key(|error| error.index);
        let first = format!("event {}: {}", errors[0].index, errors[0].detail);
        return Err(
            ApiError::unprocessable(format!("refused, nothing stored: {first}"))
                .with_errors(errors),
        );
    }
    let results = state.ingest(&principal, submissions).await?;
    Ok(axum::Json(Ingested { results }).into_response())
}
