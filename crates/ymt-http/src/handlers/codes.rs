use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::json;
use ymt_core::{Color, PersonId, Timestamp};
use ymt_node::codes::*;
use ymt_node::state::*;
use ymt_node::status::{color_label, status_json};
use ymt_token::CodeRequest;

use crate::extract::*;
use crate::problem::ApiError;

#[derive(Serialize)]
pub(crate) struct CodeBody {
    pid: PersonId,
    token: String,
    svg: String,
    png: String,
    issued_at: Timestamp,
    expires_at: Timestamp,
    color: Color,
    label: serde_json::Value,
    masked_name: String,
    valid_until: Option<Timestamp>,
    reasons: serde_json::Value,
    recent: Vec<serde_json::Value>,
}

pub(crate) async fn person_code(
    State(state): State<SharedState>,
    headers: HeaderMap,
    UrlPath(pid): UrlPath<String>,
) -> Result<Response, ApiError> {
    let pid =
        PersonId::parse(&pid).map_err(|error| ApiError::bad_request(format!("pid: {error}")))?;
    authorize_person(&state, &headers, &pid, "person.code").await?;
    let now = state.now();
    state
        .codes
        .sample_colors(now, state.projection.color_counts());
    let record = state.person_record(&pid)?;
    let status = status_json(&state, &pid);
    if record.is_none() && status.is_none() {
        return Err(ApiError::not_found("no person with this pid is known"));
    }
    let (color, valid_until) = match state.projection.get(&pid) {
        Some((slot, _)) => (slot.color(), slot.valid_until()),
        None => (Color::Green, None),
    };
    let masked_name = record
        .as_ref()
        .map(|record| record.masked_name.to_string())
        .unwrap_or_else(|| "*".into());
    let rule_set_version = state.rules.read().national.version().to_string();
    let request = CodeRequest {
        person: pid.clone(),
        color,
        color_valid_until: valid_until,
        masked_name: masked_name.clone(),
        rule_set_version,
    };
    let worker = state.clone();
    let code = tokio::task::spawn_blocking(move || {
        let code = worker.codes.issuer.code_for(request, now)?;
        // Rendering happens once per cached code; later calls are free.
        let _ = code.svg();
        let _ = code.png();
        Ok::<_, ymt_token::TokenError>(code)
    })
    .await
    .map_err(|_| ApiError::internal("code issue panicked"))?
    .map_err(|error| ApiError::internal(format!("code issue: {error}")))?;
    let recent = recent_events(&state, &pid)?;
    let body = CodeBody {
        pid: pid.clone(),
        token: code.token.clone(),
        svg: code.svg().to_owned(),
        png: base64::engine::general_purpose::STANDARD.encode(code.png()),
        issued_at: code.issued_at,
        expires_at: code.expires_at,
        color,
        label: color_label(color),
        masked_name,
        valid_until,
        reasons: status
            .as_ref()
            .and_then(|status| status.get("reasons").cloned())
            .unwrap_or(json!([])),
        recent,
    };
    Ok(axum::Json(body).into_response())
}

/// The person's latest tests and check-ins, newest first.
pub(crate) fn recent_events(
    state: &Node,
    pid: &PersonId,
) -> Result<Vec<serde_json::Value>, ApiError> {
    let mut records = state.person_records(pid)?;
    records.retain(|record| {
        matches!(
            record.event.kind(),
            ymt_core::EventKind::TestResult | ymt_core::EventKind::CheckIn
        )
    });
    records.sort_by_key(|record| std::cmp::Reverse(record.event.recorded_at));
    Ok(records
        .iter()
        .take(RECENT_EVENTS_MAX)
        .map(|record| {
            let mut value = serde_json::to_value(&record.event).unwrap_or(json!({}));
            if let Some(object) = value.as_object_mut() {
                object.remove("author");
                object.remove("person");
            }
            value
        })
        .collect())
}

pub(crate) async fn trust_list(State(state): State<SharedState>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        state.codes.signed_trust_list_json.clone(),
    )
        .into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TokenBody {
    token: String,
}

pub(crate) async fn verify_token(
    State(state): State<SharedState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body: TokenBody = parse_json(body)?;
    let report = ymt_token::verify(&body.token, &state.codes.trust_list, state.now());
    Ok(axum::Json(report).into_response())
}
