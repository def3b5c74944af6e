use std::sync::Arc;
use ymt_node::breaker::Proposed;

use axum::body::Bytes;
use axum::extract::FromRequestParts;
use axum::extract::rejection::BytesRejection;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use ymt_core::{PersonId, Timestamp};
use ymt_node::NodeError;
use ymt_node::auth::{Principal, Role};
use ymt_node::codes::*;
use ymt_node::state::*;
use ymt_store::{AuditEntry, AuditOutcome};

use crate::policy::Permission;
use crate::problem::ApiError;

pub type SharedState = Arc<Node>;

/// The authenticated principal of a request.
pub struct Authed(pub Principal);

pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
) -> Result<T, ApiError> {
    let bytes = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::too_large("the request body is larger than the configured maximum")
        } else {
            ApiError::bad_request(format!("unreadable body: {rejection}"))
        }
    })?;
    serde_json::from_slice(&bytes).map_err(|error| {
        let message = error.to_string();
        if error.is_data() {
            ApiError::unprocessable(format!("invalid content: {message}"))
        } else {
            ApiError::bad_request(format!("malformed JSON: {message}"))
        }
    })
}

/// A path parameter; a rejection (a segment that is not UTF-8 once
/// percent-decoded) is a problem+json 400 like every other error.
pub struct ApiPath<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiPath<T>
where
    T: serde::de::DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| ApiPath(value))
            .map_err(|rejection| ApiError::bad_request(rejection.body_text()))
    }
}

/// The query string; a rejection (a missing or malformed parameter) is a
/// problem+json 400 like every other error.
pub struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(value)| ApiQuery(value))
            .map_err(|rejection| ApiError::bad_request(rejection.body_text()))
    }
}

impl FromRequestParts<SharedState> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &SharedState,
    ) -> Result<Self, Self::Rejection> {
        if parts.headers.get(header::AUTHORIZATION).is_none()
            && let Some(principal) = staff_session_principal(state, &parts.headers)?
        {
            return Ok(Authed(principal));
        }
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .ok_or_else(|| {
                ApiError::unauthorized(
                    "an Authorization: Bearer <api key> header (or a console session) is required",
                )
            })?;
        let key = header.strip_prefix("Bearer ").ok_or_else(|| {
            ApiError::unauthorized("the Authorization header must be `Bearer <api key>`")
        })?;
        state
            .authenticate(key.trim())
            .map(|authenticated| Authed(authenticated.principal))
            .map_err(|refusal| ApiError::unauthorized(refusal.to_string()))
    }
}

/// The staff member of a console session cookie (signed in through the
/// identity provider), as the registry has them now: a principal disabled
/// or gone since ends the session's rights at once. A request carrying the
/// cookie must come from the node's own pages (on top of SameSite=Strict),
/// like a citizen's. The audit names the session by its first 8 hex digits.
fn staff_session_principal(
    state: &Node,
    headers: &HeaderMap,
) -> Result<Option<Principal>, ApiError> {
    let Some(session) = staff_session_cookie(headers) else {
        return Ok(None);
    };
    // An ended session (expired, signed out, revoked) is no credential;
    // its lingering cookie must not break the browser's other requests.
    let Some(principal_id) = state.codes.staff_session(&session, state.now()) else {
        return Ok(None);
    };
    require_same_origin(state, headers, false)?;
    let principal = state
        .principals
        .read()
        .get(&principal_id)
        .filter(|principal| !principal.disabled)
        .cloned();
    let Some(mut principal) = principal else {
        return Err(ApiError::unauthorized(
            "the principal of this console session is disabled",
        ));
    };
    principal.key_in_use = Some(format!("session {}", &session[..8]));
    Ok(Some(principal))
}

/// An optional API-key principal: the header is absent for citizens.
pub(crate) fn bearer_principal(
    state: &Node,
    headers: &HeaderMap,
) -> Result<Option<Principal>, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return staff_session_principal(state, headers);
    };
    let key = value
        .to_str()
        .ok()
        .and_then(|text| text.strip_prefix("Bearer "))
        .ok_or_else(|| {
            ApiError::unauthorized("the Authorization header must be `Bearer <api key>`")
        })?;
    state
        .authenticate(key.trim())
        .map(|authenticated| Some(authenticated.principal))
        .map_err(|refusal| ApiError::unauthorized(refusal.to_string()))
}

pub(crate) async fn audit_durable(state: &Node, entry: AuditEntry) -> Result<(), ApiError> {
    let receiver = state.store.audit_submit(vec![entry])?;
    receiver
        .await
        .map_err(|_| ApiError::internal("the audit writer stopped"))?
        .map_err(NodeError::from)?;
    Ok(())
}

pub(crate) fn citizen_audit(
    pid: &PersonId,
    action: &str,
    target: &str,
    detail: &str,
    at: Timestamp,
) -> AuditEntry {
    AuditEntry {
        at,
        principal: format!("citizen:{pid}"),
        role: "citizen".into(),
        action: action.into(),
        target: target.into(),
        outcome: AuditOutcome::Allowed,
        detail: detail.chars().take(1000).collect(),
    }
}

/// Refuses (401) a request that carries neither a valid API key nor a live
/// citizen session; which person it may act on is decided later.
pub(crate) fn require_credentials(state: &Node, headers: &HeaderMap) -> Result<(), ApiError> {
    if bearer_principal(state, headers)?.is_some() {
        return Ok(());
    }
    session_cookie(headers)
        .and_then(|session_id| state.codes.session(&session_id, state.now()))
        .map(|_| ())
        .ok_or_else(|| ApiError::unauthorized("sign in first"))
}

/// Who asks for a code: the person, their guardian, or an authority.
pub(crate) async fn authorize_person(
    state: &Node,
    headers: &HeaderMap,
    pid: &PersonId,
    action: &str,
) -> Result<String, ApiError> {
    let now = state.now();
    if let Some(principal) = bearer_principal(state, headers)? {
        let allowed = matches!(principal.role, Role::HealthAuthority | Role::NationalAdmin);
        // Presence, not any event in the region: an authority's own write
        // about a person does not make the person its own.
        let in_jurisdiction = allowed && state.reaches(&principal, pid)?;
        if !allowed || !in_jurisdiction {
            state
                .audit_denied(Some(&principal), action, pid.as_str(), "not allowed")
                .await;
            return Err(ApiError::forbidden(
                "only the person, their guardian or an authority of their jurisdiction may see this code",
            ));
        }
        state.audit_read(&principal, action, pid.as_str())?;
        return Ok(principal.id);
    }
    let me = session_cookie(headers)
        .and_then(|session_id| state.codes.session(&session_id, now))
        .ok_or_else(|| ApiError::unauthorized("sign in first"))?;
    if &me == pid {
        return Ok(format!("citizen:{me}"));
    }
    let guardian = state
        .person_record(&me)?
        .is_some_and(|record| record.is_confirmed_guardian_of(pid));
    if guardian {
        return Ok(format!("citizen:{me}"));
    }
    // A citizen asking for somebody else's code is a refusal like any other
    // and leaves evidence in the log.
    let mut entry = citizen_audit(&me, action, pid.as_str(), "not this person's guardian", now);
    entry.outcome = AuditOutcome::Denied;
    audit_durable(state, entry).await?;
    Err(ApiError::forbidden("you are not this person's guardian"))
}

/// The key a client's sign-in failures are counted under: its address (an
/// IPv6 client by its /64). Behind a reverse proxy every client shares the
/// proxy's address; the node does not trust forwarded headers.
pub(crate) fn client_address(peer: Option<&std::net::SocketAddr>) -> String {
    peer.map_or_else(
        || "unknown".to_owned(),
        |peer| crate::server::client_key(peer.ip()).to_string(),
    )
}

/// Whether the session cookie carries `Secure`: when the public URL is https.
pub(crate) fn cookie_secure(state: &Node) -> bool {
    public_origin(state).is_some_and(|origin| origin.starts_with("https://"))
}

fn public_origin(state: &Node) -> Option<String> {
    state
        .config
        .public_url
        .as_deref()
        .and_then(|url| ymt_node::config::parse_public_url(url).ok())
}

/// A citizen's state-changing request (signed in by cookie, or signing in or
/// out) must come from the node's own pages, so that another site cannot
/// make a signed-in browser act (CSRF), on top of the SameSite=Strict cookie:
/// - a body must be `application/json` (415 otherwise): a cross-site form
///   cannot send that type without a CORS preflight, which the node never
///   grants;
/// - an `Origin` header, when present, must be the public URL's origin, or,
///   without a public URL, name the request's `Host` (403 otherwise); a
///   `Sec-Fetch-Site` header, when present, must say same-origin or none.
///
/// A request with neither header is allowed: browsers send `Origin` on every
/// POST and DELETE, so its absence means a client that is not a browser
/// (curl, an app), which a forged cross-site request cannot be.
pub(crate) fn require_same_origin(
    state: &Node,
    headers: &HeaderMap,
    with_json_body: bool,
) -> Result<(), ApiError> {
    if with_json_body {
        let media_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(';').next())
            .map(|value| value.trim().to_ascii_lowercase());
        if media_type.as_deref() != Some("application/json") {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "a citizen's request must have Content-Type: application/json",
            ));
        }
    }
    let cross = || ApiError::forbidden("a citizen's request must come from this node's own pages");
    if let Some(site) = headers.get("sec-fetch-site") {
        let site = site.to_str().map_err(|_| cross())?;
        if !matches!(site, "same-origin" | "none") {
            return Err(cross());
        }
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let origin = origin.to_str().map_err(|_| cross())?.to_ascii_lowercase();
    let same = match public_origin(state) {
        Some(public) => origin == public,
        None => {
            let host = headers
                .get(header::HOST)
                .and_then(|value| value.to_str().ok())
                .map(str::to_ascii_lowercase);
            let authority = origin
                .strip_prefix("https://")
                .or_else(|| origin.strip_prefix("http://"));
            host.is_some() && authority == host.as_deref()
        }
    };
    if same { Ok(()) } else { Err(cross()) }
}

/// Whether a request is a citizen's, signed in by the session cookie rather
/// than by an API key.
pub(crate) fn is_citizen_session_request(headers: &HeaderMap) -> bool {
    headers.get(header::AUTHORIZATION).is_none() && session_cookie(headers).is_some()
}

/// A cookie's value by name.
pub(crate) fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}

/// The staff (console) session cookie's value, when well-formed.
pub(crate) fn staff_session_cookie(headers: &HeaderMap) -> Option<String> {
    cookie_value(headers, crate::oidc::STAFF_SESSION_COOKIE)
        .filter(|value| value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The citizen session cookie's value, when it is a well-formed token.
pub(crate) fn session_cookie(headers: &HeaderMap) -> Option<String> {
    cookie_value(headers, SESSION_COOKIE)
        .filter(|value| ymt_node::citizen_sessions::SessionToken::parse(value).is_some())
}

/// The authority handling appeals; a refusal is audited.
pub(crate) async fn require_authority<'a>(
    state: &Node,
    principal: &'a Option<Principal>,
    action: &str,
    target: &str,
) -> Result<&'a Principal, ApiError> {
    let principal = principal.as_ref().ok_or_else(|| {
        ApiError::unauthorized("an Authorization: Bearer <api key> header is required")
    })?;
    crate::policy::require(
        state,
        principal,
        Permission::HandleAppeals,
        Some(action),
        target,
    )
    .await?;
    Ok(principal)
}

/// The answer to a proposed action: 200 when applied, 202 when held for a
/// second authority.
pub(crate) fn proposed_response(proposed: Proposed) -> Response {
    match proposed {
        Proposed::Applied { applied, impact } => axum::Json(json!({
            "status": "applied",
            "events_stored": applied.events_stored,
            "persons_reached": applied.persons_reached,
            "impact": impact,
        }))
        .into_response(),
        Proposed::Held(pending) => (
            StatusCode::ACCEPTED,
            axum::Json(json!({"status": "pending", "pending": pending})),
        )
            .into_response(),
    }
}
