//! The services on the platform (docs/services.md): their rule sets and
//! venue profiles, hospital entrances and consented results, care-home
//! visits and rosters, and a citizen's consents and a resident's visits.

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use ymt_core::identity::IdType;
use ymt_core::{PersonId, VenueId};
use ymt_node::Node;
use ymt_node::care_homes::CareHomeModule;
use ymt_node::hospital::HospitalModule;
use ymt_node::services::{Identification, ServiceRules};
use ymt_store::AuditOutcome;

use crate::extract::*;
use crate::policy::{Permission, require};
use crate::problem::ApiError;
use crate::schemas::*;

fn hospital(state: &Node) -> Result<&HospitalModule, ApiError> {
    Ok(state.module::<HospitalModule>()?)
}

fn care_homes(state: &Node) -> Result<&CareHomeModule, ApiError> {
    Ok(state.module::<CareHomeModule>()?)
}

/// The rules of a service named in a path: `hospital` or `care-visit`.
fn service_rules<'a>(state: &'a Node, service: &str) -> Result<&'a ServiceRules, ApiError> {
    match service {
        "hospital" => Ok(&hospital(state)?.rules),
        "care-visit" => Ok(&care_homes(state)?.rules),
        other => Err(ApiError::not_found(format!(
            "no service {other}; the services are hospital and care-visit"
        ))),
    }
}

fn venue_id(text: &str) -> Result<VenueId, ApiError> {
    VenueId::parse(text).map_err(|error| ApiError::bad_request(format!("venue: {error}")))
}

fn person_id(text: &str) -> Result<PersonId, ApiError> {
    PersonId::parse(text).map_err(|error| ApiError::bad_request(format!("pid: {error}")))
}

/// Who a door identifies: a code, or an identity document; exactly one.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PersonAtDoor {
    /// The person's `YMT1:` code, as scanned.
    #[schema(min_length = 1, max_length = 4096)]
    code: Option<String>,
    id_type: Option<IdType>,
    #[schema(value_type = Option<IdNumber>)]
    id_number: Option<String>,
}

impl PersonAtDoor {
    fn identification(self) -> Result<Identification, ApiError> {
        match (self.code, self.id_type, self.id_number) {
            (Some(code), None, None) => Ok(Identification::Code { code }),
            (None, Some(id_type), Some(id_number)) => {
                Ok(Identification::Document { id_type, id_number })
            }
            _ => Err(ApiError::unprocessable(
                "give either `code` or both `id_type` and `id_number`",
            )),
        }
    }
}

#[utoipa::path(
    get,
    path = "/v1/services/{service}/rule-set",
    tag = "services",
    summary = "A service's rule set in force (and a venue's profile of it)",
    security(("bearer" = [])),
    params(
        ("service" = String, Path, description = "`hospital` or `care-visit`"),
        ServiceRuleSetQuery,
    ),
    responses(
        (status = 200, description = "`{service, rule_set, profile, parameters}`", body = inline(AnyObject)),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
    )
)]
pub(crate) async fn get_service_rule_set(
    State(state): State<SharedState>,
    Authed(_principal): Authed,
    ApiPath(service): ApiPath<String>,
    ApiQuery(query): ApiQuery<ServiceRuleSetQuery>,
) -> Result<Response, ApiError> {
    let rules = service_rules(&state, &service)?;
    let venue = query.venue.as_deref().map(venue_id).transpose()?;
    Ok(axum::Json(rules.describe(venue.as_ref())).into_response())
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ServiceRuleSetQuery {
    /// A venue whose profile to show with the rule set.
    #[serde(default)]
    #[param(value_type = Option<VenueId>)]
    venue: Option<String>,
}

#[utoipa::path(
    post,
    path = "/v1/services/{service}/rule-sets",
    tag = "services",
    summary = "Propose a new version of a service's rule set (four-eyes: held for a second national_admin)",
    security(("bearer" = [])),
    params(("service" = String, Path, description = "`hospital` or `care-visit`")),
    request_body = RulesDocumentSchema,
    responses(
        (status = 202, description = "Held as the pending action `<service kind>.<version>`", body = inline(AnyObject)),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 413, response = TooLarge),
        (status = 422, response = Unprocessable),
    )
)]
pub(crate) async fn propose_service_rule_set(
    State(state): State<SharedState>,
    Authed(principal): Authed,
    ApiPath(service): ApiPath<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    require(
        &state,
        &principal,
        Permission::PublishServiceRuleSets,
        None,
        &service,
    )
    .await?;
    let body = body.map_err(|_| ApiError::too_large("the body is too large"))?;
    let rules = service_rules(&state, &service)?;
    let proposed = rules.propose_rule_set(&state, &principal, &body).await?;
    Ok(proposed_response(proposed))
}

#[utoipa::path(
    post,
    path = "/v1/services/{service}/venues/{venue}/profile",
    tag = "services",
    summary = "Publish a venue's profile of a service's rule set (a care home's visitor policy): parameters only, inside the rule set's bounds",
    security(("bearer" = [])),
    params(
        ("service" = String, Path, description = "`hospital` or `care-visit`"),
        ("venue" = VenueId, Path, description = "A venue of the service's category"),
    ),
    request_body = RulesDocumentSchema,
    responses(
        (status = 201, description = "The profile in force", body = inline(AnyObject)),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 413, response = TooLarge),
        (status = 422, response = Unprocessable),
    )
)]
pub(crate) async fn publish_service_profile(
    State(state): State<SharedState>,
    Authed(principal): Authed,
    ApiPath((service, venue)): ApiPath<(String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    require(
        &state,
        &principal,
        Permission::PublishServiceProfiles,
        None,
        &venue,
    )
    .await?;
    let body = body.map_err(|_| ApiError::too_large("the body is too large"))?;
    let rules = service_rules(&state, &service)?;
    let venue = venue_id(&venue)?;
    let profile = rules
        .publish_profile(&state, &principal, &venue, &body)
        .await?;
    Ok((StatusCode::CREATED, axum::Json(profile)).into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct EntranceBody {
    /// The person's `YMT1:` code, as scanned; or `id_type` and `id_number`.
    #[schema(min_length = 1, max_length = 4096)]
    code: Option<String>,
    id_type: Option<IdType>,
    #[schema(value_type = Option<IdNumber>)]
    id_number: Option<String>,
    /// Fever or respiratory symptoms reported at the entrance now.
    #[serde(default)]
    symptoms: bool,
}

#[utoipa::path(
    post,
    path = "/v1/hospitals/{venue}/entrance",
    tag = "services",
    summary = "A hospital entrance: the lane of the person a code or ID card names (outpatient, fever_clinic, isolation_ward), with its reasons; nobody is turned away",
    security(("bearer" = [])),
    params(("venue" = VenueId, Path, description = "A venue of category `hospital` that names the caller as operator")),
    request_body = EntranceBody,
    responses(
        (status = 200, description = "The lane and its reasons", body = ymt_node::services::ServiceDecision),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 413, response = TooLarge),
        (status = 422, response = Unprocessable),
    )
)]
pub(crate) async fn hospital_entrance(
    State(state): State<SharedState>,
    Authed(principal): Authed,
    ApiPath(venue): ApiPath<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    require(&state, &principal, Permission::ServiceDoors, None, &venue).await?;
    let venue = venue_id(&venue)?;
    let body: EntranceBody = parse_json(body)?;
    let identification = PersonAtDoor {
        code: body.code,
        id_type: body.id_type,
        id_number: body.id_number,
    }
    .identification()?;
    let decision = hospital(&state)?
        .entrance(&state, &principal, &venue, &identification, body.symptoms)
        .await?;
    Ok(axum::Json(decision).into_response())
}

#[utoipa::path(
    get,
    path = "/v1/hospitals/{venue}/persons/{pid}/test-results",
    tag = "services",
    summary = "A person's recent test results, for a hospital the person consented to (read-only, audited; refused and audited without a consent in force)",
    security(("bearer" = [])),
    params(
        ("venue" = VenueId, Path, description = "A hospital that names the caller as operator"),
        ("pid" = PersonId, Path, description = "The person"),
    ),
    responses(
        (status = 200, description = "`{pid, venue, tests}`: results sampled within the rule set's `resultsLookbackDays`, newest first", body = inline(AnyObject)),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    )
)]
pub(crate) async fn hospital_test_results(
    State(state): State<SharedState>,
    Authed(principal): Authed,
    ApiPath((venue, pid)): ApiPath<(String, String)>,
) -> Result<Response, ApiError> {
    require(
        &state,
        &principal,
        Permission::ReadConsentedResults,
        None,
        &pid,
    )
    .await?;
    let venue = venue_id(&venue)?;
    let pid = person_id(&pid)?;
    let tests = hospital(&state)?
        .read_results(&state, &principal, &venue, &pid)
        .await?;
    Ok(axum::Json(json!({"pid": pid, "venue": venue, "tests": tests})).into_response())
}

/// The signed-in citizen acting for `pid`: the person or their confirmed
/// guardian, by session only. An API key is refused: nobody but the person
/// gives or revokes their consent, nor reads their visits for them.
pub(crate) async fn citizen_for(
    state: &Node,
    headers: &HeaderMap,
    pid: &PersonId,
    action: &str,
) -> Result<String, ApiError> {
    if let Some(principal) = bearer_principal(state, headers)? {
        let detail = "only the person or their guardian, signed in, may do this";
        state
            .audit_denied(Some(&principal), action, pid.as_str(), detail)
            .await;
        return Err(ApiError::forbidden(detail));
    }
    let now = state.now();
    let me = session_cookie(headers)
        .and_then(|session_id| state.codes.session(&session_id, now))
        .ok_or_else(|| ApiError::unauthorized("sign in first"))?;
    let allowed = &me == pid
        || state
            .person_record(&me)?
            .is_some_and(|record| record.is_confirmed_guardian_of(pid));
    if allowed {
        return Ok(format!("citizen:{me}"));
    }
    let mut entry = citizen_audit(&me, action, pid.as_str(), "not this person's guardian", now);
    entry.outcome = AuditOutcome::Denied;
    audit_durable(state, entry).await?;
    Err(ApiError::forbidden("you are not this person's guardian"))
}

#[utoipa::path(
    get,
    path = "/v1/persons/{pid}/consents",
    tag = "citizens",
    summary = "A person's consents to hospitals reading their results, given and revoked (signed-in person or guardian only)",
    security(("citizenSession" = [])),
    params(("pid" = PersonId, Path, description = "The person")),
    responses(
        (status = 200, description = "`{consents}`", body = inline(AnyObject)),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
    )
)]
pub(crate) async fn list_consents(
    State(state): State<SharedState>,
    headers: HeaderMap,
    ApiPath(pid): ApiPath<String>,
) -> Result<Response, ApiError> {
    let pid = person_id(&pid)?;
    citizen_for(&state, &headers, &pid, "consent.list").await?;
    let consents = hospital(&state)?.consents_of(&pid);
    Ok(axum::Json(json!({"consents": consents})).into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConsentBody {
    /// The hospital (a venue of category `hospital`).
    #[schema(value_type = VenueId)]
    venue: String,
}

#[utoipa::path(
    post,
    path = "/v1/persons/{pid}/consents",
    tag = "citizens",
    summary = "Let a hospital read the person's recent test results, until revoked (signed-in person or guardian only)",
    security(("citizenSession" = [])),
    params(("pid" = PersonId, Path, description = "The person")),
    request_body = ConsentBody,
    responses(
        (status = 201, description = "The consent", body = ymt_node::hospital::Consent),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 413, response = TooLarge),
        (status = 415, response = NotJson),
        (status = 422, response = Unprocessable),
    )
)]
pub(crate) async fn give_consent(
    State(state): State<SharedState>,
    headers: HeaderMap,
    ApiPath(pid): ApiPath<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let pid = person_id(&pid)?;
    let by = citizen_for(&state, &headers, &pid, "consent.give").await?;
    require_same_origin(&state, &headers, true)?;
    let body: ConsentBody = parse_json(body)?;
    let venue = venue_id(&body.venue)?;
    let consent = hospital(&state)?.give_consent(&state, &by, &pid, &venue)?;
    Ok((StatusCode::CREATED, axum::Json(consent)).into_response())
}

#[utoipa::path(
    post,
    path = "/v1/persons/{pid}/consents/{venue}/revoke",
    tag = "citizens",
    summary = "Revoke a consent: from now on the hospital cannot read the results (signed-in person or guardian only)",
    security(("citizenSession" = [])),
    params(
        ("pid" = PersonId, Path, description = "The person"),
        ("venue" = VenueId, Path, description = "The hospital"),
    ),
    responses(
        (status = 200, description = "The revoked consent", body = ymt_node::hospital::Consent),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    )
)]
pub(crate) async fn revoke_consent(
    State(state): State<SharedState>,
    headers: HeaderMap,
    ApiPath((pid, venue)): ApiPath<(String, String)>,
) -> Result<Response, ApiError> {
    let pid = person_id(&pid)?;
    let by = citizen_for(&state, &headers, &pid, "consent.revoke").await?;
    require_same_origin(&state, &headers, false)?;
    let venue = venue_id(&venue)?;
    let consent = hospital(&state)?.revoke_consent(&state, &by, &pid, &venue)?;
    Ok(axum::Json(consent).into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct VisitBody {
    /// The visitor, by code or identity document.
    visitor: PersonAtDoor,
    /// The resident visited.
    #[schema(value_type = PersonId)]
    resident: String,
}

#[utoipa::path(
    post,
    path = "/v1/care-homes/{venue}/visits",
    tag = "services",
    summary = "Decide a visitor at a care home's door under its visitor policy; an allowed visit is checked in at the home",
    security(("bearer" = [])),
    params(("venue" = VenueId, Path, description = "A venue of category `care_home` that names the caller as operator")),
    request_body = VisitBody,
    responses(
        (status = 200, description = "`{decision, visit}`: `allowed` or `refused`, with the reasons", body = inline(AnyObject)),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 413, response = TooLarge),
        (status = 422, response = Unprocessable),
    )
)]
pub(crate) async fn decide_visit(
    State(state): State<SharedState>,
    Authed(principal): Authed,
    ApiPath(venue): ApiPath<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    require(&state, &principal, Permission::ServiceDoors, None, &venue).await?;
    let venue = venue_id(&venue)?;
    let body: VisitBody = parse_json(body)?;
    let visitor = body.visitor.identification()?;
    let resident = person_id(&body.resident)?;
    let (decision, visit) = care_homes(&state)?
        .decide_visit(&state, &principal, &venue, &visitor, &resident)
        .await?;
    Ok(axum::Json(json!({"decision": decision, "visit": visit})).into_response())
}

#[utoipa::path(
    get,
    path = "/v1/persons/{pid}/visits",
    tag = "citizens",
    summary = "A care-home resident's visits, allowed and refused, newest first (the signed-in resident or their guardian only)",
    security(("citizenSession" = [])),
    params(("pid" = PersonId, Path, description = "The resident")),
    responses(
        (status = 200, description = "`{visits}`", body = inline(AnyObject)),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
    )
)]
pub(crate) async fn resident_visits(
    State(state): State<SharedState>,
    headers: HeaderMap,
    ApiPath(pid): ApiPath<String>,
) -> Result<Response, ApiError> {
    let pid = person_id(&pid)?;
    citizen_for(&state, &headers, &pid, "care_visit.list").await?;
    let visits = care_homes(&state)?.visits_of(&pid);
    Ok(axum::Json(json!({"visits": visits})).into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RosterBody {
    /// The staff's pids (at most 500).
    #[schema(max_items = 500, value_type = Vec<PersonId>)]
    staff: Vec<String>,
}

#[utoipa::path(
    post,
    path = "/v1/care-homes/{venue}/roster",
    tag = "services",
    summary = "Replace a care home's roster of staff (its staff or an authority of its region)",
    security(("bearer" = [])),
    params(("venue" = VenueId, Path, description = "A venue of category `care_home`")),
    request_body = RosterBody,
    responses(
        (status = 200, description = "`{staff}`", body = inline(AnyObject)),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 413, response = TooLarge),
        (status = 422, response = Unprocessable),
    )
)]
pub(crate) async fn set_roster(
    State(state): State<SharedState>,
    Authed(principal): Authed,
    ApiPath(venue): ApiPath<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    require(&state, &principal, Permission::ManageRosters, None, &venue).await?;
    let venue = venue_id(&venue)?;
    let body: RosterBody = parse_json(body)?;
    if body.staff.len() > ymt_node::care_homes::ROSTER_STAFF_MAX {
        return Err(ApiError::unprocessable(format!(
            "staff: at most {}",
            ymt_node::care_homes::ROSTER_STAFF_MAX
        )));
    }
    let staff = body
        .staff
        .iter()
        .map(|pid| person_id(pid))
        .collect::<Result<Vec<_>, _>>()?;
    let staff = care_homes(&state)?
        .set_roster(&state, &principal, &venue, staff)
        .await?;
    Ok(axum::Json(json!({"staff": staff})).into_response())
}

#[utoipa::path(
    get,
    path = "/v1/care-homes/{venue}/roster-check",
    tag = "services",
    summary = "The daily roster check: which staff may work today under the home's policy (its staff or an authority of its region)",
    security(("bearer" = [])),
    params(("venue" = VenueId, Path, description = "A venue of category `care_home`")),
    responses(
        (status = 200, description = "`{staff: [{pid, may_work, decision}]}`", body = inline(AnyObject)),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    )
)]
pub(crate) async fn roster_check(
    State(state): State<SharedState>,
    Authed(principal): Authed,
    ApiPath(venue): ApiPath<String>,
) -> Result<Response, ApiError> {
    require(&state, &principal, Permission::ManageRosters, None, &venue).await?;
    let venue = venue_id(&venue)?;
    let staff = care_homes(&state)?
        .roster_check(&state, &principal, &venue)
        .await?;
    Ok(axum::Json(json!({"staff": staff})).into_response())
}
