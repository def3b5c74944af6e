use std::collections::BTreeSet;

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use ymt_core::event::Override;
use ymt_core::{Event, EventBody, EventKind, PersonId};
use ymt_node::auth::Role;
use ymt_node::breaker::*;
use ymt_node::tracing_service::*;

use crate::extract::*;
use crate::policy::{Permission, require};
use crate::problem::ApiError;
use crate::schemas::*;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct PendingQuery {
    /// Only actions with this status.
    #[serde(default)]
    status: Option<PendingStatus>,
}

#[utoipa::path(
    get,
    path = "/v1/pending",
    tag = "breaker",
    summary = "Actions held by the circuit breaker",
    security(("bearer" = [])),
    params(PendingQuery),
    responses(
        (status = 200, description = "`{\"pending\": [...]}`; a health authority sees its own proposals", body = inline(AnyObject)),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
    )
)]
pub(crate) async fn list_pending(
    State(state): State<SharedState>,
    Authed(principal): Authed,
    ApiQuery(query): ApiQuery<PendingQuery>,
) -> Result<Response, ApiError> {
    require(&state, &principal, Permission::ListPending, None, "").await?;
    // Authorities see the actions of their jurisdiction only.
    let sees_all = matches!(principal.role, Role::NationalAdmin | Role::Auditor);
    let mut listed = Vec::new();
    for (_, bytes) in state.store.meta_list(META_PENDING)? {
        let pending: PendingAction = serde_json::from_slice(&bytes)
            .map_err(|error| ApiError::internal(format!("stored pending action: {error}")))?;
        if !sees_all && pending.proposer != principal.id {
            continue;
        }
        if query.status.is_some_and(|status| status != pending.status) {
            continue;
        }
        listed.push(pending);
    }
    state.audit_read(&principal, "pending.list", "")?;
    Ok(axum::Json(json!({"pending": listed})).into_response())
}

#[utoipa::path(
    post,
    path = "/v1/pending/{id_action}",
    tag = "breaker",
    summary = "Approve or reject a held action: `POST /v1/pending/{id}:approve` or `:reject` (a second national admin)",
    security(("bearer" = [])),
    params(("id_action" = String, Path, pattern = "^.+:(approve|reject)$", description = "`<pending id>:approve` or `<pending id>:reject`")),
    responses(
        (status = 200, description = "`{\"pending\": ...}` as decided", body = inline(AnyObject)),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 422, response = Unprocessable),
    )
)]
pub(crate) async fn decide_pending(
    State(state): State<SharedState>,
    Authed(principal): Authed,
    ApiPath(id_action): ApiPath<String>,
) -> Result<Response, ApiError> {
    let (id, verb) = id_action
        .rsplit_once(':')
        .ok_or_else(|| ApiError::not_found("use /v1/pending/{id}:approve or :reject"))?;
    let approve = match verb {
        "approve" => true,
        "reject" => false,
        _ => {
            return Err(ApiError::not_found(
                "use /v1/pending/{id}:approve or :reject",
            ));
        }
    };
    require(&state, &principal, Permission::DecidePending, None, id).await?;
    let pending = ymt_node::breaker::decide(&state, &principal, id, approve).await?;
    Ok(axum::Json(json!({"pending": pending})).into_response())
}

#[utoipa::path(
    post,
    path = "/v1/overrides:bulk",
    tag = "breaker",
    summary = "Override the colors of many persons (through the circuit breaker)",
    security(("bearer" = [])),
    request_body = ymt_node::breaker::BulkOverrideRequest,
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
pub(crate) async fn bulk_override(
    State(state): State<SharedState>,
    Authed(principal): Authed,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    require(&state, &principal, Permission::OverrideCodes, None, "").await?;
    let mut request: BulkOverrideRequest = parse_json(body)?;
    ymt_node::auth::check_principal_id(&request.id)
        .map_err(|_| ApiError::unprocessable("id: 1 to 64 ASCII letters, digits, '-' or '_'"))?;
    let unique: BTreeSet<PersonId> = request.pids.drain(..).collect();
    request.pids = unique.into_iter().collect();
    if request.pids.is_empty() {
        return Err(ApiError::unprocessable("pids: at least one person"));
    }
    if request.pids.len() > state.tracing.config.action_persons_max {
        return Err(ApiError::too_large(format!(
            "pids: at most {} persons per bulk override",
            state.tracing.config.action_persons_max
        )));
    }
    if !principal.may_act_in(&request.region) {
        let detail = format!(
            "region {} is outside your jurisdiction {}",
            request.region, principal.jurisdiction
        );
        state
            .audit_denied(Some(&principal), "override.bulk", &request.id, &detail)
            .await;
        return Err(ApiError::forbidden(detail));
    }
    // Validate one override as the ingest will, so a bad request is refused
    // before any preview.
    let probe = Event {
        id: derived_event_id(BULK_OVERRIDE_PREFIX, &[&request.id]),
        person: request.pids[0].clone(),
        recorded_at: state.now(),
        author: principal.id.clone(),
        body: EventBody::Override(Override {
            color: request.color,
            reason: request.reason.clone(),
            from: request.from,
            until: request.until,
        }),
    };
    probe
        .validate()
        .map_err(|error| ApiError::unprocessable(error.to_string()))?;
    debug_assert_eq!(probe.kind(), EventKind::Override);
    propose_bulk_override(&state, &principal, &request)
        .await
        .map(proposed_response)
        .map_err(ApiError::from)
}
