use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use ymt_core::{Color, PersonId};
use ymt_node::auth::{Principal, Role};
use ymt_node::codes::*;

use crate::extract::*;
use crate::problem::ApiError;
use crate::schemas::*;
use ymt_node::record::{Author, Record};

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
    let body: AppealBody = parse_json(body)?;
    if body.text.trim().is_empty() || body.text.chars().count() > APPEAL_TEXT_CHARS_MAX {
        return Err(ApiError::unprocessable(format!(
            "text: 1 to {APPEAL_TEXT_CHARS_MAX} characters"
        )));
    }
    let filed_by = authorize_person(&state, &headers, &body.pid, "appeal.file").await?;
    let now = state.now();
    let mut id_bytes = [0u8; 8];
    ymt_node::codes::fill_random(&mut id_bytes).map_err(|_| ApiError::internal("no randomness"))?;
    let id = format!("ap-{}-{}", now.unix_secs(), hex::encode(id_bytes));
    let color = state
        .projection
        .get(&body.pid)
        .map(|(slot, _)| slot.color())
        .unwrap_or(Color::Green);
    // The appeal goes to the authority of the person's registration, else of
    // the authority managing them, else of where their latest event happened,
    // so an authority that can act on the person can also resolve the appeal.
    let region = state
        .person_record(&body.pid)?
        .map(|record| record.region)
        .or_else(|| {
            let records = state.person_records(&body.pid).unwrap_or_default();
            ymt_node::state::governing_region(&records).or_else(|| {
                records
                    .iter()
                    .max_by(|a, b| {
                        (a.event.recorded_at, &a.event.id).cmp(&(b.event.recorded_at, &b.event.id))
                    })
                    .map(|record| record.region.clone())
            })
        });
    let appeal = Appeal {
        id: id.clone(),
        pid: body.pid.clone(),
        region,
        filed_by: filed_by.clone(),
        filed_at: now,
        text: body.text.trim().to_owned(),
        color_at_filing: color,
        resolved: None,
    };
    // Filed by an authority (its principal id) or a citizen (`citizen:<pid>`).
    let author = match state.principals.read().get(&filed_by) {
        Some(principal) => Author::from(principal),
        None => Author::citizen(&filed_by),
    };
    state.apply(
        &author,
        Record::AppealRecorded {
            appeal: appeal.clone(),
        },
        &format!("person {}", body.pid),
    )?;
    Ok((StatusCode::CREATED, axum::Json(appeal)).into_response())
}

/// Appeals visible to the caller.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct Appeals {
    appeals: Vec<Appeal>,
}

pub(crate) fn appeal_visible(principal: &Principal, appeal: &Appeal) -> bool {
    principal.role == Role::NationalAdmin
        || appeal
            .region
            .as_ref()
            .is_some_and(|region| principal.may_act_in(region))
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
        .filter(|appeal| appeal_visible(principal, appeal))
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
    if body.note.trim().is_empty() || body.note.chars().count() > APPEAL_TEXT_CHARS_MAX {
        return Err(ApiError::unprocessable(format!(
            "note: 1 to {APPEAL_TEXT_CHARS_MAX} characters"
        )));
    }
    if id.len() > 64 {
        return Err(ApiError::bad_request("appeal id too long"));
    }
    let not_found = || ApiError::not_found("no appeal with this id in your jurisdiction");
    let mut appeal: Appeal = state
        .store
        .meta_get(META_APPEALS, &id)?
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(not_found)?;
    if !appeal_visible(&principal, &appeal) {
        // Answered like an unknown id, but audited as the refusal it is.
        state
            .audit_denied(
                Some(&principal),
                "appeal.resolve",
                &id,
                "outside jurisdiction",
            )
            .await;
        return Err(not_found());
    }
    if appeal.resolved.is_some() {
        return Err(ApiError::conflict("this appeal is already resolved"));
    }
    let now = state.now();
    appeal.resolved = Some(Resolution {
        by: principal.id.clone(),
        at: now,
        note: body.note.trim().to_owned(),
    });
    state.apply(
        &Author::from(&principal),
        Record::AppealRecorded {
            appeal: appeal.clone(),
        },
        &body.note,
    )?;
    Ok(axum::Json(appeal).into_response())
}
