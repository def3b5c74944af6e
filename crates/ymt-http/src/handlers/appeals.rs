use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use ymt_core::PersonId;
use ymt_node::codes::*;

use crate::extract::*;
use crate::problem::ApiError;
use crate::schemas::*;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AppealBody {
    pid: PersonId,
    /// 1 to 2,000 characters, not blank.
    #[schema(min_length = 1, max_length = 2000, pattern = "\\S")]
    text: String,
}

#[utoipa::path(
    post,
    path = "/v1/appeals",
    tag = "citizens",
    summary = "Appeal against a color (the person, a guardian or an authority)",
    security(("bearer" = []), ("citizenSession" = [])),
    request_body = AppealBody,
    responses(
        (status = 201, description = "Filed", body = Appeal),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 413, response = TooLarge),
        (status = 422, response = Unprocessable),
    )
)]
pub(crate) async fn file_appeal(
    State(state): State<SharedState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    // Who asks is known before the body is read, so a request without
    // credentials is refused as such (401) whatever its body.
    require_credentials(&state, &headers)?;
    if is_citizen_session_request(&headers) {
        require_same_origin(&state, &headers, true)?;
    }
    let body: AppealBody = parse_json(body)?;
    let filed_by = authorize_person(&state, &headers, &body.pid, "appeal.file").await?;
    let appeal = ymt_node::appeals::file(&state, &filed_by, &body.pid, &body.text)?;
    Ok((StatusCode::CREATED, axum::Json(appeal)).into_response())
}

/// Appeals visible to the caller.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct Appeals {
    appeals: Vec<Appeal>,
}

#[utoipa::path(
    get,
    path = "/v1/appeals",
    tag = "citizens",
    summary = "Appeals in the authority's jurisdiction, open first",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Open appeals first, then newest first; at most 500", body = Appeals),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
    )
)]
pub(crate) async fn list_appeals(
    State(state): State<SharedState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let principal = bearer_principal(&state, &headers)?;
    let principal = require_authority(&state, &principal, "appeal.list", "").await?;
    let mut appeals: Vec<Appeal> = state
        .store
        .meta_list(META_APPEALS)?
        .into_iter()
        .filter_map(|(_, bytes)| serde_json::from_slice::<Appeal>(&bytes).ok())
        .filter(|appeal| ymt_node::appeals::visible_to(principal, appeal))
        .collect();
    appeals.sort_by(|a, b| {
        (a.resolved.is_some(), std::cmp::Reverse(a.filed_at))
            .cmp(&(b.resolved.is_some(), std::cmp::Reverse(b.filed_at)))
    });
    appeals.truncate(APPEALS_LIST_MAX);
    state.audit_read(principal, "appeal.list", "")?;
    Ok(axum::Json(Appeals { appeals }).into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ResolveBody {
    /// 1 to 2,000 characters, not blank.
    #[schema(min_length = 1, max_length = 2000, pattern = "\\S")]
    note: String,
}

#[utoipa::path(
    post,
    path = "/v1/appeals/{id}/resolve",
    tag = "citizens",
    summary = "Resolve an appeal",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The appeal id (`ap-<secs>-<16 hex>`)")),
    request_body = ResolveBody,
    responses(
        (status = 200, description = "Resolved", body = Appeal),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 413, response = TooLarge),
        (status = 422, response = Unprocessable),
    )
)]
pub(crate) async fn resolve_appeal(
    State(state): State<SharedState>,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let principal = bearer_principal(&state, &headers)?;
    let principal = require_authority(&state, &principal, "appeal.resolve", &id)
        .await?
        .clone();
    let body: ResolveBody = parse_json(body)?;
    let appeal = ymt_node::appeals::resolve(&state, &principal, &id, &body.note).await?;
    Ok(axum::Json(appeal).into_response())
}
