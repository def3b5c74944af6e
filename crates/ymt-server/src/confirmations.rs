//! Confirmation of automatic designations: a health authority looks at a
//! designation made by automatic tracing and confirms it, with a note. The
//! confirmation changes no color (the designation already did); it puts a
//! person's name to the machine's decision, is audited, and is shown to the
//! designated person on their timeline. To disagree, the authority retracts
//! the designation instead (an ordinary retraction).

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::{Deserialize, Serialize};
use ymt_core::event::TEXT_LEN_MAX;
use ymt_core::{EventBody, EventId, PersonId, Timestamp};
use ymt_store::{AuditEntry, AuditOutcome};

use crate::api::{Authed, SharedState};
use crate::auth::Role;
use crate::problem::ApiError;
use crate::state::{AppState, EventRecord};
use crate::tracing_service::TRACE_AUTHOR;

pub const META_CONFIRMATIONS: &str = "confirmations";

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Confirmation {
    pub designation: EventId,
    pub pid: PersonId,
    pub confirmed_by: String,
    pub confirmed_at: Timestamp,
    pub note: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfirmBody {
    #[serde(default)]
    note: String,
}

pub fn routes() -> Router<SharedState> {
    Router::new().route("/v1/designations/{id_action}", post(confirm))
}

async fn confirm(
    State(state): State<SharedState>,
    Authed(principal): Authed,
    Path(id_action): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let Some(id) = id_action.strip_suffix(":confirm") else {
        return Err(ApiError::not_found(
            "no such action; confirm with POST /v1/designations/{id}:confirm",
        ));
    };
    if !matches!(principal.role, Role::HealthAuthority | Role::NationalAdmin) {
        let detail = format!("a {} may not confirm designations", principal.role.as_str());
        state
            .audit_denied(Some(&principal), "designation.confirm", id, &detail)
            .await;
        return Err(ApiError::forbidden(detail));
    }
    let id = EventId::parse(id).map_err(|error| ApiError::bad_request(format!("id: {error}")))?;
    let note = match body {
        Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => String::new(),
        body => crate::venues::parse_json_body::<ConfirmBody>(body)?.note,
    };
    if note.chars().count() > TEXT_LEN_MAX {
        return Err(ApiError::unprocessable(format!(
            "note: at most {TEXT_LEN_MAX} characters"
        )));
    }
    let stored = state
        .store
        .event_by_id(&id)?
        .ok_or_else(|| ApiError::not_found(format!("no event {id} is stored")))?;
    let record: EventRecord = serde_json::from_slice(&stored.payload)
        .map_err(|error| ApiError::internal(format!("stored event {id}: {error}")))?;
    if !matches!(record.event.body, EventBody::ContactDesignation(_))
        || record.event.author != TRACE_AUTHOR
    {
        return Err(ApiError::unprocessable(format!(
            "{id} is not a designation made by automatic tracing"
        )));
    }
    if !principal.may_act_in(&record.region) {
        let detail = format!(
            "the designation is in region {}, outside {}",
            record.region, principal.jurisdiction
        );
        state
            .audit_denied(
                Some(&principal),
                "designation.confirm",
                id.as_str(),
                &detail,
            )
            .await;
        return Err(ApiError::forbidden(detail));
    }
    if crate::state::is_retracted(&state.person_records(&record.event.person)?, &id) {
        return Err(ApiError::conflict(format!(
            "{id} has been retracted; there is nothing to confirm"
        )));
    }
    // Serialised with pending decisions, so one designation is confirmed once.
    let _decisions = state.tracing.decisions.lock().await;
    if state
        .store
        .meta_get(META_CONFIRMATIONS, id.as_str())?
        .is_some()
    {
        return Err(ApiError::conflict(format!("{id} is already confirmed")));
    }
    let confirmation = Confirmation {
        designation: id.clone(),
        pid: record.event.person.clone(),
        confirmed_by: principal.id.clone(),
        confirmed_at: state.now(),
        note,
    };
    state.store.meta_put(
        META_CONFIRMATIONS,
        id.as_str(),
        serde_json::to_vec(&confirmation).expect("confirmations serialise"),
    )?;
    let entry = AuditEntry {
        at: state.now(),
        principal: principal.id.clone(),
        role: principal.role.as_str().into(),
        action: "designation.confirm".into(),
        target: format!("{}/{}", record.event.person, id),
        outcome: AuditOutcome::Allowed,
        detail: confirmation.note.chars().take(1000).collect(),
    };
    state
        .store
        .audit_submit(vec![entry])?
        .await
        .map_err(|_| ApiError::internal("the store stopped"))??;
    Ok(axum::Json(serde_json::json!({"confirmation": confirmation})).into_response())
}

/// The confirmations of a person's automatic designations, for their
/// timeline.
pub fn confirmations_of(
    state: &AppState,
    records: &[EventRecord],
) -> Result<Vec<Confirmation>, ApiError> {
    let mut confirmations = Vec::new();
    for record in records {
        if record.event.author != TRACE_AUTHOR
            || !matches!(record.event.body, EventBody::ContactDesignation(_))
        {
            continue;
        }
        if let Some(bytes) = state
            .store
            .meta_get(META_CONFIRMATIONS, record.event.id.as_str())?
        {
            confirmations
                .push(serde_json::from_slice(&bytes).map_err(|error| {
                    ApiError::internal(format!("stored confirmation: {error}"))
                })?);
        }
    }
    Ok(confirmations)
}
