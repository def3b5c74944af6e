//! 场所码 self check-in (issue 13): a signed-in citizen scans a venue's
//! signed `YMTV1:` QR code with the camera, sees the venue's name, confirms,
//! and is checked in (`ymt_node::venue_registry::self_check_in`). Only the
//! person or their guardian, signed in; a forged code or an unregistered
//! venue stores nothing.

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use ymt_core::PersonId;
use ymt_node::venue_registry::{self_check_in, venue_of_qr};

use crate::extract::*;
use crate::handlers::services::citizen_for;
use crate::problem::ApiError;
use crate::schemas::*;

/// A scanned venue QR code.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct VenueQrBody {
    /// The text of the venue's QR code, `YMTV1:<venue>.<signature>`.
    qr: String,
}

#[utoipa::path(
    post,
    path = "/v1/venues:scan",
    tag = "citizens",
    summary = "The venue a scanned venue QR code names, to confirm before checking in (signed-in citizens)",
    security(("citizenSession" = [])),
    request_body = VenueQrBody,
    responses(
        (status = 200, description = "`{\"id\", \"name\", \"region\", \"category\"}`", body = inline(AnyObject)),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 415, response = NotJson),
        (status = 422, response = Unprocessable),
    )
)]
pub(crate) async fn scan_venue(
    State(state): State<SharedState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    // Any signed-in citizen: the person is who the session names.
    signed_in(&state, &headers).await?;
    require_same_origin(&state, &headers, true)?;
    let body: VenueQrBody = parse_json(body)?;
    let venue = venue_of_qr(&state, &body.qr)?;
    Ok(axum::Json(json!({
        "id": venue.id,
        "name": venue.name,
        "region": venue.region,
        "category": venue.category,
    }))
    .into_response())
}

#[utoipa::path(
    post,
    path = "/v1/persons/{pid}/check-ins",
    tag = "citizens",
    summary = "Check in at a venue by its scanned QR code (the signed-in person or their guardian)",
    security(("citizenSession" = [])),
    params(("pid" = PersonId, Path, description = "The person checking in")),
    request_body = VenueQrBody,
    responses(
        (status = 201, description = "`{\"id\", \"status\", \"venue\": {\"id\", \"name\"}}`: the check-in event (a second scan in the same second is a duplicate)", body = inline(AnyObject)),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 415, response = NotJson),
        (status = 422, response = Unprocessable),
    )
)]
pub(crate) async fn check_in(
    State(state): State<SharedState>,
    headers: HeaderMap,
    ApiPath(pid): ApiPath<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let pid =
        PersonId::parse(&pid).map_err(|error| ApiError::bad_request(format!("pid: {error}")))?;
    citizen_for(&state, &headers, &pid, "person.self_check_in").await?;
    require_same_origin(&state, &headers, true)?;
    let body: VenueQrBody = parse_json(body)?;
    let (venue, result) = self_check_in(&state, &pid, &body.qr).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({
            "id": result.id,
            "status": result.status,
            "venue": {"id": venue.id, "name": venue.name},
        })),
    )
        .into_response())
}

/// The person a citizen session names: 401 without one; a principal's key
/// is not a session (403, audited as a refusal).
async fn signed_in(state: &ymt_node::Node, headers: &HeaderMap) -> Result<PersonId, ApiError> {
    if let Some(principal) = bearer_principal(state, headers)? {
        let detail = "only a signed-in citizen may do this";
        state
            .audit_denied(Some(&principal), "venue.scan", "", detail)
            .await;
        return Err(ApiError::forbidden(detail));
    }
    session_cookie(headers)
        .and_then(|id| state.codes.session(&id, state.now()))
        .ok_or_else(|| ApiError::unauthorized("sign in first"))
}
