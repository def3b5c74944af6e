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
    let (request, hold) = checked_request(&state, &principal, body, "risk_area.designate").await?;
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

/// A designation request checked as a designation would be: permission,
/// window, reason, venues and jurisdiction; with why it would be held.
async fn checked_request(
    state: &SharedState,
    principal: &ymt_node::auth::Principal,
    body: Result<Bytes, BytesRejection>,
    audited_as: &str,
) -> Result<(RiskAreaRequest, Option<String>), ApiError> {
    require(state, principal, Permission::DesignateRiskAreas, None, "").await?;
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
    let venues = area_venues(state, &request)?;
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
            .audit_denied(Some(principal), audited_as, request.id.as_str(), &detail)
            .await;
        return Err(ApiError::forbidden(detail));
    }
    let hold = granularity_hold(&request, &venues);
    Ok((request, hold))
}

#[utoipa::path(
    post,
    path = "/v1/risk-areas:preview",
    tag = "breaker",
    summary = "Preview a designation before applying it: who it reaches, whose color would change, and whether it would be held",
    security(("bearer" = [])),
    request_body = ymt_node::risk::RiskAreaRequest,
    responses(
        (status = 200, description = "`{\"impact\": {\"persons_reached\", \"persons_changing\", \"transitions\"}, \"population\", \"held_because\": [...]}`; nothing is stored", body = inline(AnyObject)),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 413, response = TooLarge),
        (status = 422, response = Unprocessable),
    )
)]
pub(crate) async fn preview(
    State(state): State<SharedState>,
    Authed(principal): Authed,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let (request, hold) = checked_request(&state, &principal, body, "risk_area.preview").await?;
    let worker = state.clone();
    let outcome = tokio::task::spawn_blocking(move || impact_of_request(&worker, &request))
        .await
        .map_err(|_| ApiError::internal("preview panicked"))??;
    let impact = outcome.impact;
    let mut held_because: Vec<String> = hold.into_iter().collect();
    let limit = state.tracing.config.breaker_persons_max;
    if impact.persons_changing > limit {
        held_because.push(format!(
            "circuit breaker: {} persons would change color, more than {limit}",
            impact.persons_changing
        ));
    }
    Ok(axum::Json(json!({
        "impact": impact,
        "population": state.person_count(),
        "held_because": held_because,
    }))
    .into_response())
}

#[utoipa::path(
    post,
    path = "/v1/risk-areas/{id_action}",
    tag = "breaker",
    summary = "Lift a designation before its window ends: `POST /v1/risk-areas/{id}:lift` (held for a second national admin when the area is larger than a community or reaches more persons than the breaker allows)",
    security(("bearer" = [])),
    params(("id_action" = String, Path, pattern = "^[A-Za-z0-9._:-]{1,64}:lift$", description = "`<risk area id>:lift`")),
    request_body = LiftBody,
    responses(
        (status = 200, description = "Lifted at once: `{\"status\": \"applied\", \"persons_reached\", \"impact\"}`", body = inline(AnyObject)),
        (status = 202, description = "Held for a second national admin: `{\"status\": \"pending\", \"pending\": <pending action>}`", body = inline(AnyObject)),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 413, response = TooLarge),
        (status = 422, response = Unprocessable),
    )
)]
pub(crate) async fn lift(
    State(state): State<SharedState>,
    Authed(principal): Authed,
    ApiPath(id_action): ApiPath<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let Some(id) = id_action.strip_suffix(":lift") else {
        return Err(ApiError::not_found(
            "no such action; lift with POST /v1/risk-areas/{id}:lift",
        ));
    };
    require(&state, &principal, Permission::DesignateRiskAreas, None, id).await?;
    let id = ymt_core::EventId::parse(id)
        .map_err(|error| ApiError::bad_request(format!("id: {error}")))?;
    let body: LiftBody = parse_json(body)?;
    ymt_node::risk_lift::lift(
        &state,
        &principal,
        ymt_node::risk_lift::LiftRequest {
            id,
            reason: body.reason,
        },
    )
    .await
    .map(proposed_response)
    .map_err(ApiError::from)
}

/// Why a designation is lifted early.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LiftBody {
    #[schema(min_length = 1, max_length = 500, pattern = "\\S")]
    reason: String,
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
