use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use ymt_core::ids::RegionLevel;
use ymt_core::{RegionCode, VenueId};
use ymt_node::auth::Role;
use ymt_node::venues::*;

use crate::extract::*;
use crate::problem::ApiError;
use ymt_node::record::Author;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct VenueBody {
    id: VenueId,
    name: String,
    region: RegionCode,
    category: String,
    indoor: bool,
}

pub(crate) async fn register_venue(
    State(state): State<SharedState>,
    Authed(principal): Authed,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    if !matches!(principal.role, Role::HealthAuthority | Role::NationalAdmin) {
        let detail = format!("a {} may not register venues", principal.role.as_str());
        state
            .audit_denied(Some(&principal), "venue.register", "", &detail)
            .await;
        return Err(ApiError::forbidden(detail));
    }
    let body: VenueBody = parse_json(body)?;
    if !matches!(
        body.region.level(),
        Some(RegionLevel::Street | RegionLevel::Community)
    ) {
        return Err(ApiError::unprocessable(format!(
            "region: a venue lies in a street (9 digits) or community (12 digits), got {}",
            body.region
        )));
    }
    let name_chars = body.name.trim().chars().count();
    if name_chars == 0 || name_chars > VENUE_NAME_CHARS_MAX {
        return Err(ApiError::unprocessable(format!(
            "name: 1 to {VENUE_NAME_CHARS_MAX} characters"
        )));
    }
    let category_chars = body.category.trim().chars().count();
    if category_chars == 0 || category_chars > VENUE_CATEGORY_CHARS_MAX {
        return Err(ApiError::unprocessable(format!(
            "category: 1 to {VENUE_CATEGORY_CHARS_MAX} characters"
        )));
    }
    if !principal.may_act_in(&body.region) {
        let detail = format!(
            "region {} is outside your jurisdiction {}",
            body.region, principal.jurisdiction
        );
        state
            .audit_denied(
                Some(&principal),
                "venue.register",
                body.id.as_str(),
                &detail,
            )
            .await;
        return Err(ApiError::forbidden(detail));
    }
    let venue = Venue {
        id: body.id,
        name: body.name.trim().to_string(),
        region: body.region,
        category: body.category.trim().to_string(),
        indoor: body.indoor,
        registered_by: principal.id.clone(),
        registered_at: state.now(),
    };
    if state.tracing.venue(&venue.id).is_some() {
        return Err(ApiError::conflict(format!(
            "venue {} is already registered",
            venue.id
        )));
    }
    state.register_venue(&Author::from(&principal), venue.clone())?;
    let payload = venue_qr_payload(&state.tracing.venue_key(), &venue.id);
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({"venue": venue, "qr_payload": payload})),
    )
        .into_response())
}

pub(crate) fn lookup(state: &SharedState, id: &str) -> Result<Venue, ApiError> {
    let id = VenueId::parse(id).map_err(|error| ApiError::bad_request(format!("id: {error}")))?;
    state
        .tracing
        .venue(&id)
        .ok_or_else(|| ApiError::not_found(format!("no venue {id} is registered")))
}

pub(crate) async fn get_venue(
    State(state): State<SharedState>,
    Authed(_principal): Authed,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let venue = lookup(&state, &id)?;
    let payload = venue_qr_payload(&state.tracing.venue_key(), &venue.id);
    Ok(axum::Json(json!({"venue": venue, "qr_payload": payload})).into_response())
}

pub(crate) async fn venue_qr(
    State(state): State<SharedState>,
    Authed(_principal): Authed,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let venue = lookup(&state, &id)?;
    let payload = venue_qr_payload(&state.tracing.venue_key(), &venue.id);
    let svg = ymt_token::qr::render_qr_svg(&payload)
        .map_err(|error| ApiError::internal(format!("QR rendering: {error}")))?;
    Ok(([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response())
}
