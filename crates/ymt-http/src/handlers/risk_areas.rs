use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use ymt_core::event::TEXT_LEN_MAX;
use ymt_node::breaker::*;
use ymt_node::risk::*;

use crate::extract::*;
use crate::policy::{Permission, require};
use crate::problem::ApiError;
use crate::schemas::*;

#[utoipa::path(
    post,
    path = "/v1/risk-areas",
    tag = "breaker",
    summary = "Designate a risk area (coarser than a community: held for national approval)",
    security(("bearer" = [])),
    request_body = ymt_node::risk::RiskAreaRequest,
    responses(
        (status = 200, description = "Applied at once: `{\"status\": \"applied\", \"events_stored\", \"persons_reached\", \"impact\"}`", body = inline(AnyObject)),
        (status = 202, description = "Held for a second authority: `{\"status\": \"pending\", \"pending\": <pending action>}`", body = inline(AnyObject)),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 409, response = Conflict),
        (status = 413, response = TooLarge),
        (status = 422, response = Unprocessable),
    )
)]
pub(crate) async fn designate(
    State(state): State<SharedState>,
    Authed(principal): Authed,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    require(&state, &principal, Permission::DesignateRiskAreas, None, "").await?;
    let request: RiskAreaRequest = parse_json(body)?;
    if request.until < request.from {
        return Err(ApiError::unprocessable(format!(
            "until: must not be before from ({} < {})",
            request.until, request.from
        )));
    }
    if request.until.unix_secs() - request.from.unix_secs() > RISK_AREA_WINDOW_SECS_MAX {
        return Err(ApiError::unprocessable(format!(
            "until: a designation covers at most {} days",
            RISK_AREA_WINDOW_SECS_MAX / 86_400
        )));
    }
    if request.reason.trim().is_empty() || request.reason.chars().count() > TEXT_LEN_MAX {
        return Err(ApiError::unprocessable(format!(
            "reason: 1 to {TEXT_LEN_MAX} characters"
        )));
    }
    ymt_node::error::check_text("reason", &request.reason)?;
    if request.venues.len() > RISK_AREA_VENUES_MAX {
        return Err(ApiError::too_large(format!(
            "venues: at most {RISK_AREA_VENUES_MAX}"
        )));
    }
    if state
        .store
        .meta_get(META_RISK_AREAS, request.id.as_str())?
        .is_some()
    {
        return Err(ApiError::conflict(format!(
            "risk area {} is already designated",
            request.id
        )));
    }
    let venues = area_venues(&state, &request)?;
    let outside: Vec<String> = match &request.region {
        Some(region) if !principal.may_act_in(region) => vec![region.to_string()],
        Some(_) => Vec::new(),
        None => venues
            .iter()
            .filter(|venue| !principal.may_act_in(&venue.region))
            .map(|venue| format!("{} ({})", venue.id, venue.region))
            .collect(),
    };
    if !outside.is_empty() {
        let detail = format!(
            "outside your jurisdiction {}: {}",
            principal.jurisdiction,
            outside.join(", ")
        );
        state
            .audit_denied(
                Some(&principal),
                "risk_area.designate",
                request.id.as_str(),
                &detail,
            )
            .await;
        return Err(ApiError::forbidden(detail));
    }
    let hold = granularity_hold(&request, &venues);
    propose(
        &state,
        &principal,
        HeldAction::new(KIND_RISK_AREA, &request),
        hold,
    )
    .await
    .map(proposed_response)
    .map_err(ApiError::from)
}

#[utoipa::path(
    get,
    path = "/v1/risk-areas",
    tag = "breaker",
    summary = "Risk-area designations",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "`{\"risk_areas\": [...]}`", body = inline(AnyObject)),
        (status = 401, response = Unauthorized),
    )
)]
pub(crate) async fn list(
    State(state): State<SharedState>,
    Authed(_principal): Authed,
) -> Result<Response, ApiError> {
    let mut areas = Vec::new();
    for (_, bytes) in state.store.meta_list(META_RISK_AREAS)? {
        let record: RiskAreaRecord = serde_json::from_slice(&bytes)
            .map_err(|error| ApiError::internal(format!("stored risk area: {error}")))?;
        areas.push(record);
    }
    Ok(axum::Json(json!({"risk_areas": areas})).into_response())
}
