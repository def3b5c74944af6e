use std::sync::atomic::Ordering;

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;
use ymt_core::identity::{IdDocument, IdType};
use ymt_core::{Color, PersonId, RegionCode};
use ymt_node::auth::Role;
use ymt_node::status::{cannot_compute_label, color_label, is_cannot_compute, status_json};

use crate::extract::*;
use crate::policy::{Permission, require};
use crate::problem::ApiError;
use crate::schemas::*;

pub(crate) fn parse_pid(text: &str) -> Result<PersonId, ApiError> {
    PersonId::parse(text).map_err(|error| ApiError::bad_request(format!("pid: {error}")))
}

#[utoipa::path(
    get,
    path = "/v1/persons/{pid}/status",
    tag = "persons",
    summary = "A person's color, reasons and `valid_until`",
    security(("bearer" = [])),
    params(("pid" = PersonId, Path, description = "The person's pid")),
    responses(
        (status = 200, description = "The status: color, label, reasons (rule, zh/en text, how it clears, evidence), `valid_until`, rule set", body = inline(AnyObject)),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    )
)]
pub(crate) async fn person_status(
    State(state): State<SharedState>,
    Authed(principal): Authed,
    ApiPath(pid): ApiPath<String>,
) -> Result<Response, ApiError> {
    require(&state, &principal, Permission::ReadStatus, None, &pid).await?;
    let pid = parse_pid(&pid)?;
    state.audit_read(&principal, "person.status", pid.as_str())?;
    state.metrics.status_reads.fetch_add(1, Ordering::Relaxed);
    let body = status_json(&state, &pid)
        .ok_or_else(|| ApiError::not_found("no events are recorded for this person"))?;
    Ok(axum::Json(body).into_response())
}

#[utoipa::path(
    get,
    path = "/v1/persons/{pid}/timeline",
    tag = "persons",
    summary = "A person's events and full decision (audited)",
    security(("bearer" = [])),
    params(("pid" = PersonId, Path, description = "The person's pid")),
    responses(
        (status = 200, description = "pid, masked name, decision, events, risk areas reaching the person, confirmations", body = inline(AnyObject)),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    )
)]
pub(crate) async fn person_timeline(
    State(state): State<SharedState>,
    Authed(principal): Authed,
    ApiPath(pid): ApiPath<String>,
) -> Result<Response, ApiError> {
    require(&state, &principal, Permission::ReadTimeline, None, &pid).await?;
    let pid = parse_pid(&pid)?;
    let records = state.person_records(&pid)?;
    // A health authority sees persons present in its jurisdiction (their
    // registration, or what a lab or venue there observed; never what an
    // authority wrote); national admins and auditors see everyone.
    let visible = principal.role != Role::HealthAuthority || state.reaches(&principal, &pid)?;
    if !visible || records.is_empty() {
        if !visible {
            state
                .audit_denied(
                    Some(&principal),
                    "person.timeline",
                    pid.as_str(),
                    "outside jurisdiction",
                )
                .await;
        }
        return Err(ApiError::not_found(
            "no person with events in your jurisdiction has this pid",
        ));
    }
    state.audit_read(&principal, "person.timeline", pid.as_str())?;
    let now = state.now();
    // A timeline the rules cannot decide is still shown, with why.
    let decision = match state.decide(&pid, now) {
        Ok((decision, _)) => serde_json::to_value(decision).unwrap_or_default(),
        Err(error) => json!({
            "color": ymt_node::projection::CANNOT_COMPUTE,
            "state": ymt_node::projection::CANNOT_COMPUTE,
            "label": cannot_compute_label(),
            "detail": error.detail,
        }),
    };
    let record = state.person_record(&pid)?;
    // Designations reach a person through their check-ins, not through an
    // event of their own; they are listed here with author and reason.
    let risk_areas = ymt_node::risk::designations_reaching(&state, &records, now)?;
    let confirmations = ymt_node::confirmations::confirmations_of(&state, &records)?;
    Ok(axum::Json(json!({
        "pid": pid,
        "masked_name": record.map(|r| r.masked_name),
        "decision": decision,
        "events": records,
        "risk_areas": risk_areas,
        "confirmations": confirmations,
    }))
    .into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RegisterBody {
    id_type: IdType,
    #[schema(value_type = IdNumber)]
    id_number: String,
    /// Stored masked (张*三); 1 to 50 characters once trimmed.
    #[schema(
        min_length = 1,
        max_length = 50,
        pattern = "^[^\\u0000-\\u0008\\u000B-\\u001F\\u007F-\\u009F\\u061C\\u200E\\u200F\\u202A-\\u202E\\u2066-\\u2069]*[^\\s\\u0000-\\u0008\\u000B-\\u001F\\u007F-\\u009F\\u061C\\u200E\\u200F\\u202A-\\u202E\\u2066-\\u2069][^\\u0000-\\u0008\\u000B-\\u001F\\u007F-\\u009F\\u061C\\u200E\\u200F\\u202A-\\u202E\\u2066-\\u2069]*$"
    )]
    display_name: String,
    region: RegionCode,
    #[serde(default = "default_true")]
    has_phone: bool,
    /// Wards (registered inside the registrar's jurisdiction). Each
    /// guardianship is pending until another authority of the ward's region
    /// confirms it (`POST /v1/guardianships:confirm`).
    #[serde(default)]
    guardian_of: Vec<PersonId>,
    /// What each ward is to this person, by the ward's pid (each a ward of
    /// `guardian_of`); the guardian's page names its tabs with it.
    #[serde(default)]
    #[schema(value_type = std::collections::BTreeMap<String, ymt_node::model::Relationship>)]
    relationships: std::collections::BTreeMap<PersonId, ymt_node::model::Relationship>,
}

/// A registered person: the pid and the name as stored (masked).
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Registered {
    pid: PersonId,
    masked_name: String,
}

/// The pid of an identity document.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Resolved {
    pid: PersonId,
}

pub(crate) fn default_true() -> bool {
    true
}

#[utoipa::path(
    post,
    path = "/v1/persons",
    tag = "persons",
    summary = "Register a person (the name is stored masked)",
    security(("bearer" = [])),
    request_body = RegisterBody,
    responses(
        (status = 200, description = "Registered", body = Registered),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 413, response = TooLarge),
        (status = 422, response = Unprocessable),
    )
)]
pub(crate) async fn register_person(
    State(state): State<SharedState>,
    Authed(principal): Authed,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    require(&state, &principal, Permission::RegisterPersons, None, "").await?;
    let body: RegisterBody = parse_json(body)?;
    let record = state
        .register_person_as(
            &principal,
            ymt_node::PersonRegistration {
                id_type: body.id_type,
                id_number: body.id_number,
                display_name: body.display_name,
                region: body.region,
                has_phone: body.has_phone,
                guardian_of: body.guardian_of,
                relationships: body.relationships,
            },
        )
        .await?;
    let pid = record.pid.clone();
    Ok(axum::Json(Registered {
        pid,
        masked_name: record.masked_name.to_string(),
    })
    .into_response())
}

/// A declared guardianship to confirm: the guardian and the ward.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct GuardianshipBody {
    guardian: PersonId,
    ward: PersonId,
}

#[utoipa::path(
    post,
    path = "/v1/guardianships:confirm",
    tag = "persons",
    summary = "Confirm a declared guardianship (the consent step): an authority of the ward's region other than the registrar that declared it",
    security(("bearer" = [])),
    request_body = GuardianshipBody,
    responses(
        (status = 200, description = "Confirmed: `{\"guardian\", \"ward\", \"confirmed\": true}`; the guardian may now act for the ward", body = inline(AnyObject)),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 413, response = TooLarge),
        (status = 422, response = Unprocessable),
    )
)]
pub(crate) async fn confirm_guardianship(
    State(state): State<SharedState>,
    Authed(principal): Authed,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    require(
        &state,
        &principal,
        Permission::ConfirmGuardianships,
        None,
        "",
    )
    .await?;
    let body: GuardianshipBody = parse_json(body)?;
    state
        .confirm_guardianship(&principal, &body.guardian, &body.ward)
        .await?;
    Ok(
        axum::Json(json!({"guardian": body.guardian, "ward": body.ward, "confirmed": true}))
            .into_response(),
    )
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DocumentBody {
    id_type: IdType,
    #[schema(value_type = IdNumber)]
    id_number: String,
}

#[utoipa::path(
    post,
    path = "/v1/persons:resolve",
    tag = "persons",
    summary = "The pid of an identity document: a health authority for persons present in its jurisdiction (404 otherwise), a national admin for anyone; audited. Labs submit results by the document itself and resolve nothing",
    security(("bearer" = [])),
    request_body = DocumentBody,
    responses(
        (status = 200, description = "The pid", body = Resolved),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 413, response = TooLarge),
        (status = 422, response = Unprocessable),
    )
)]
pub(crate) async fn resolve_person(
    State(state): State<SharedState>,
    Authed(principal): Authed,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    require(&state, &principal, Permission::ResolveDocuments, None, "").await?;
    let body: DocumentBody = parse_json(body)?;
    let document = IdDocument::parse(body.id_type, &body.id_number)
        .map_err(|error| ApiError::unprocessable(format!("id_number: {error}")))?;
    let pid = state.person_id(&document);
    // The pseudonym links a code (which shows it) back to an ID number: a
    // health authority resolves only persons present in its jurisdiction,
    // as it reads only their timelines; national admins everyone.
    if principal.role == Role::HealthAuthority && !state.reaches(&principal, &pid)? {
        state
            .audit_denied(
                Some(&principal),
                "person.resolve",
                pid.as_str(),
                "outside jurisdiction",
            )
            .await;
        return Err(ApiError::not_found(
            "no person in your jurisdiction has this identity document",
        ));
    }
    state.audit_read(&principal, "person.resolve", pid.as_str())?;
    Ok(axum::Json(Resolved { pid }).into_response())
}

/// For people without phones: a verifier device reads the ID card and gets
/// the color and masked name.
#[utoipa::path(
    post,
    path = "/v1/verify/id-card",
    tag = "codes",
    summary = "Color and masked name from an ID card (verifier devices only)",
    security(("bearer" = [])),
    request_body = DocumentBody,
    responses(
        (status = 200, description = "pid, color, label, masked name, whether the person is known, `valid_until`, reasons, `checked_at`. An ID number the node knows nothing about is never green: `color` and `state` are `unregistered`, `check_in_person` is true", body = inline(AnyObject)),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 413, response = TooLarge),
        (status = 422, response = Unprocessable),
    )
)]
pub(crate) async fn verify_id_card(
    State(state): State<SharedState>,
    Authed(principal): Authed,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    require(&state, &principal, Permission::VerifyIdCards, None, "").await?;
    let body: DocumentBody = parse_json(body)?;
    let document = IdDocument::parse(body.id_type, &body.id_number)
        .map_err(|error| ApiError::unprocessable(format!("id_number: {error}")))?;
    let pid = state.person_id(&document);
    state.audit_read(&principal, "person.verify_id_card", pid.as_str())?;
    let record = state.person_record(&pid)?;
    let status = status_json(&state, &pid);
    // An ID number the node knows nothing about is never green: at a door
    // it may be a person registered elsewhere, or a mistyped number, and a
    // person must look (issue 13: it used to show "绿码 · 通行").
    if status.is_none() && record.is_none() {
        return Ok(axum::Json(json!({
            "pid": pid,
            "color": "unregistered",
            "state": "unregistered",
            "check_in_person": true,
            "label": unregistered_label(),
            "masked_name": null,
            "known": false,
            "valid_until": null,
            "reasons": [],
            "checked_at": state.now(),
        }))
        .into_response());
    }
    // A registered person with no events is green; a person whose status cannot be
    // computed is shown so (never green), and nothing else is read from a
    // color this handler does not know.
    let cannot_compute = status.as_ref().is_some_and(is_cannot_compute);
    let color = status
        .as_ref()
        .and_then(|status| status.get("color").cloned())
        .unwrap_or(json!("green"));
    let label = match serde_json::from_value::<Color>(color.clone()) {
        Ok(parsed) if !cannot_compute => color_label(parsed),
        _ => cannot_compute_label(),
    };
    Ok(axum::Json(json!({
        "pid": pid,
        "color": color,
        "check_in_person": cannot_compute,
        "label": label,
        "masked_name": record.as_ref().map(|r| r.masked_name.clone()),
        "known": true,
        "valid_until": status.as_ref().and_then(|s| s.get("valid_until").cloned()),
        "reasons": status.as_ref().and_then(|s| s.get("reasons").cloned()).unwrap_or(json!([])),
        "checked_at": state.now(),
    }))
    .into_response())
}

/// The label of an ID number the node knows nothing about.
fn unregistered_label() -> serde_json::Value {
    json!({
        "zh-CN": "未登记，请人工核验",
        "en": "Not registered: check manually",
    })
}
