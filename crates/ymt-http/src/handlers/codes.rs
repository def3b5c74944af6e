use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::json;
use ymt_core::{Color, PersonId, Timestamp};
use ymt_node::codes::*;
use ymt_node::state::*;
use ymt_node::status::{color_label, status_json};
use ymt_token::CodeRequest;

use crate::extract::*;
use crate::policy::{Permission, require};
use crate::problem::ApiError;
use crate::schemas::*;

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct CodeBody {
    pid: PersonId,
    token: String,
    /// The QR code as SVG markup.
    svg: String,
    /// The QR code as a base64 PNG.
    #[schema(content_encoding = "base64")]
    png: String,
    issued_at: Timestamp,
    expires_at: Timestamp,
    color: Color,
    label: serde_json::Value,
    masked_name: String,
    valid_until: Option<Timestamp>,
    reasons: serde_json::Value,
    recent: Vec<serde_json::Value>,
    /// The evidence of the reasons by event id, in words: an override's
    /// reason and author, a risk area and the stay in it, a contact's venue
    /// name and the negative tests since the exposure, a test's kind.
    evidence: serde_json::Value,
    /// The latest test and the vaccinations, shown beside the code.
    summary: serde_json::Value,
}

#[utoipa::path(
    get,
    path = "/v1/persons/{pid}/code",
    tag = "codes",
    summary = "The person's signed `YMT1:` code with its QR (409 when their status cannot be computed: no code, check in person)",
    security(("bearer" = []), ("citizenSession" = [])),
    params(("pid" = PersonId, Path, description = "The person's pid")),
    responses(
        (status = 200, description = "The code as JSON: the token, its QR as SVG text and as base64 PNG, color, validity, reasons and recent events", body = CodeBody),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
    )
)]
pub(crate) async fn person_code(
    State(state): State<SharedState>,
    headers: HeaderMap,
    ApiPath(pid): ApiPath<String>,
) -> Result<Response, ApiError> {
    let pid =
        PersonId::parse(&pid).map_err(|error| ApiError::bad_request(format!("pid: {error}")))?;
    authorize_person(&state, &headers, &pid, "person.code").await?;
    let now = state.now();
    let record = state.person_record(&pid)?;
    let status = status_json(&state, &pid);
    if record.is_none() && status.is_none() {
        return Err(ApiError::not_found("no person with this pid is known"));
    }
    let (color, valid_until) = match state.projection.get(&pid) {
        // No signed code says anything about a person whose status cannot
        // be computed: the citizen is told to check in person instead.
        Some((slot, _)) if slot.is_cannot_compute() => {
            return Err(ApiError::conflict(
                "the status of this person cannot be computed: check in person; no code is issued until it can be",
            ));
        }
        Some((slot, _)) => (slot.color(), slot.valid_until()),
        None => (Color::Green, None),
    };
    let masked_name = record
        .as_ref()
        .map(|record| record.masked_name.to_string())
        .unwrap_or_else(|| "*".into());
    let rule_set_version = state.rules.read().national.version().to_string();
    let request = CodeRequest {
        person: pid.clone(),
        color,
        color_valid_until: valid_until,
        masked_name: masked_name.clone(),
        rule_set_version,
    };
    let worker = state.clone();
    let code = tokio::task::spawn_blocking(move || {
        let code = worker.codes.issuer.code_for(request, now)?;
        // Rendering happens once per cached code; later calls are free.
        let _ = code.svg();
        let _ = code.png();
        Ok::<_, ymt_token::TokenError>(code)
    })
    .await
    .map_err(|_| ApiError::internal("code issue panicked"))?
    .map_err(|error| ApiError::internal(format!("code issue: {error}")))?;
    let recent = recent_events(&state, &pid)?;
    let (evidence, summary) = crate::handlers::my_color::evidence_and_summary(&state, &pid, now)?;
    let body = CodeBody {
        pid: pid.clone(),
        token: code.token.clone(),
        svg: code.svg().to_owned(),
        png: base64::engine::general_purpose::STANDARD.encode(code.png()),
        issued_at: code.issued_at,
        expires_at: code.expires_at,
        color,
        label: color_label(color),
        masked_name,
        valid_until,
        reasons: status
            .as_ref()
            .and_then(|status| status.get("reasons").cloned())
            .unwrap_or(json!([])),
        recent,
        evidence,
        summary,
    };
    Ok(axum::Json(body).into_response())
}

/// The person's latest tests and check-ins, newest first.
pub(crate) fn recent_events(
    state: &Node,
    pid: &PersonId,
) -> Result<Vec<serde_json::Value>, ApiError> {
    let mut records = state.person_records(pid)?;
    // A retracted test stays listed, marked: the person saw it.
    let retracted: std::collections::HashSet<ymt_core::EventId> = records
        .iter()
        .filter_map(|record| match &record.event.body {
            ymt_core::EventBody::Retraction(retraction) => Some(retraction.target.clone()),
            _ => None,
        })
        .collect();
    records.retain(|record| {
        matches!(
            record.event.kind(),
            ymt_core::EventKind::TestResult | ymt_core::EventKind::CheckIn
        )
    });
    records.sort_by_key(|record| std::cmp::Reverse(record.event.recorded_at));
    Ok(records
        .iter()
        .take(RECENT_EVENTS_MAX)
        .map(|record| {
            let mut value = serde_json::to_value(&record.event).unwrap_or(json!({}));
            if let Some(object) = value.as_object_mut() {
                object.remove("author");
                object.remove("person");
                if retracted.contains(&record.event.id) {
                    object.insert("retracted".into(), json!(true));
                }
            }
            // A venue by its name, not its id.
            if let ymt_core::EventBody::CheckIn(check_in) = &record.event.body
                && let Some(venue) = state.tracing.venue(&check_in.venue)
                && let Some(data) = value.get_mut("data").and_then(|data| data.as_object_mut())
            {
                data.insert("venue_name".into(), json!(venue.name));
            }
            value
        })
        .collect())
}

#[utoipa::path(
    get,
    path = "/v1/trust-list",
    tag = "codes",
    summary = "The signed trust list of code-signing keys",
    responses(
        (status = 200, description = "The signed trust list", body = inline(AnyObject)),
    )
)]
pub(crate) async fn trust_list(State(state): State<SharedState>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            // Verifiers refresh it on this interval; a revocation must reach
            // them within it, so caches may not keep it longer.
            (header::CACHE_CONTROL, "public, max-age=60"),
        ],
        state.codes.trust().signed_trust_list_json.to_string(),
    )
        .into_response()
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TokenBody {
    /// A `YMT1:` code as scanned; anything else is reported invalid.
    token: String,
}

#[utoipa::path(
    post,
    path = "/v1/verify/token",
    tag = "codes",
    summary = "Verify a `YMT1:` code step by step; says its kind (phone or printed code)",
    description = "Anyone may verify. A valid code's answer carries `kind`: the kind signed into the code (`phone`, or `printed` for a 纸质码), its label, issue time and lifetime. A printed code states the color at its printing; when the caller is a principal that may read statuses (a verifier device, a venue, an authority), the answer also carries `current`, the person's color now, and `shown_color`, the worse of the two, which a door applies: a printed red or yellow code stays red or yellow, and a printed green code of a person who has turned yellow or red is not green. The read is audited.",
    security((), ("bearer" = [])),
    request_body = TokenBody,
    responses(
        (status = 200, description = "The verification report (`valid` and each step's outcome, `kind`, and for a printed code verified by a door `current` and `shown_color`); an invalid code is a report, not an error", body = inline(AnyObject)),
        (status = 400, response = BadRequest),
        (status = 413, response = TooLarge),
        (status = 422, response = Unprocessable),
    )
)]
pub(crate) async fn verify_token(
    State(state): State<SharedState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    // Anyone may verify: a key that does not authenticate only means no
    // check of the color now (the answer says nothing beyond the code).
    let principal = bearer_principal(&state, &headers).ok().flatten();
    let body: TokenBody = parse_json(body)?;
    let report = ymt_token::verify(&body.token, &state.codes.trust().trust_list, state.now());
    let mut answer = serde_json::to_value(&report).unwrap_or_else(|_| json!({}));
    let Some(claims) = report.claims.as_ref().filter(|_| report.valid) else {
        return Ok(axum::Json(answer).into_response());
    };
    let lifetime_secs = claims.expires_at.unix_secs() - claims.issued_at.unix_secs();
    let kind_label = match claims.kind {
        ymt_token::CodeKind::Phone => json!({"zh-CN": "手机码", "en": "phone code"}),
        ymt_token::CodeKind::Printed => json!({"zh-CN": "纸质码", "en": "printed code"}),
    };
    answer["kind"] = json!({
        "kind": claims.kind,
        "label": kind_label,
        "issued_at": claims.issued_at,
        "expires_at": claims.expires_at,
        "lifetime_secs": lifetime_secs,
    });
    // A printed code cannot refresh: a door that is online and may read
    // statuses sees the color now, and applies the worse of the two.
    if claims.kind == ymt_token::CodeKind::Printed
        && let Some(principal) = principal
        && crate::policy::allows(principal.role, Permission::ReadStatus)
    {
        state.audit_read(&principal, "person.status", claims.person.as_str())?;
        let current = match state.projection.get(&claims.person) {
            Some((slot, _)) if slot.is_cannot_compute() => None,
            Some((slot, _)) => Some(slot.color()),
            None => Some(Color::Green),
        };
        match current {
            Some(current) => {
                let shown = current.max(claims.color);
                answer["current"] = json!({"color": current, "label": color_label(current), "checked_at": state.now()});
                answer["shown_color"] = json!(shown);
                answer["shown_label"] = color_label(shown);
            }
            None => {
                // Never green when the color now cannot be computed.
                answer["current"] = json!({"color": ymt_node::projection::CANNOT_COMPUTE, "checked_at": state.now()});
                answer["shown_color"] = json!(ymt_node::projection::CANNOT_COMPUTE);
            }
        }
    }
    Ok(axum::Json(answer).into_response())
}

#[utoipa::path(
    post,
    path = "/v1/keys:revoke",
    tag = "codes",
    summary = "Revoke a compromised code-signing key (four-eyes: held until a second national_admin approves)",
    description = "Always held as the pending action `key_revocation.<kid>`; approving it (`POST /v1/pending/key_revocation.<kid>:approve` by another national_admin) marks the key revoked in the trust list (serial bumped), rotates to a new signing key when the revoked one signed, and re-issues every code under the new key at its next fetch. Verifiers refuse the key's codes once they refresh the trust list.",
    security(("bearer" = [])),
    request_body = ymt_node::key_revocation::KeyRevocationRequest,
    responses(
        (status = 202, description = "Held for a second national_admin: `{\"status\": \"pending\", \"pending\": <pending action>}`", body = inline(AnyObject)),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 413, response = TooLarge),
        (status = 422, response = Unprocessable),
    )
)]
pub(crate) async fn revoke_key(
    State(state): State<SharedState>,
    Authed(principal): Authed,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    require(&state, &principal, Permission::RevokeSigningKeys, None, "").await?;
    let request: ymt_node::key_revocation::KeyRevocationRequest = parse_json(body)?;
    let proposed = ymt_node::key_revocation::propose(&state, &principal, request).await?;
    Ok(proposed_response(proposed))
}
