//! Citizen sign-in through the OpenID provider (oidc.rs): the redirect to the
//! provider and the callback that opens the session.

use std::sync::Arc;

use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use ymt_node::codes::*;
use ymt_store::{AuditEntry, AuditOutcome};

use crate::extract::*;
use crate::oidc::{
    OidcError, OidcRelyingParty, PENDING_SIGN_IN_TTL_SECS, Purpose, STAFF_SESSION_COOKIE,
    STATE_COOKIE,
};
use crate::problem::ApiError;
use crate::schemas::*;

/// The relying party, when the node is configured with an issuer.
pub(crate) type OidcExtension = Extension<Option<Arc<OidcRelyingParty>>>;

/// Characters of a `state` or `code` the callback reads, at most.
const CALLBACK_PARAMETER_CHARS_MAX: usize = 2048;

fn relying_party(oidc: &OidcExtension) -> Result<Arc<OidcRelyingParty>, ApiError> {
    oidc.0.clone().ok_or_else(|| {
        // Not configured is the node's state, not an outage: the route is
        // not served here (a provider that cannot be reached is 503).
        ApiError::new(
            StatusCode::NOT_FOUND,
            "sign-in-not-configured",
            "sign-in through an identity provider is not configured on this node",
        )
    })
}

fn api_error(error: OidcError) -> ApiError {
    match error {
        OidcError::Refused(reason) => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "sign-in-refused",
            format!("sign-in refused: {reason}"),
        ),
        OidcError::ProviderUnavailable(reason) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "identity-provider-unavailable",
            format!(
                "the identity provider cannot be reached, so nobody can sign in now; sessions already open continue and codes on phones still verify ({reason})"
            ),
        ),
        OidcError::Busy => ApiError::overloaded(error.to_string()),
    }
}

fn state_cookie(state: &crate::extract::SharedState, value: &str, max_age_secs: i64) -> String {
    let secure = if cookie_secure(state) { "; Secure" } else { "" };
    // SameSite=Lax: the provider's redirect back is a cross-site top-level
    // navigation, which a Strict cookie would not accompany.
    format!(
        "{STATE_COOKIE}={value}; Path=/v1/session/oidc; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{secure}"
    )
}

#[utoipa::path(
    get,
    path = "/v1/session/oidc/start",
    tag = "citizens",
    summary = "Sign in through the identity provider (redirects there)",
    description = "Starts the authorization code flow with PKCE: answers 303 to the provider's authorization endpoint and binds the sign-in to this browser with a short HttpOnly cookie. The provider sends the browser back to `/v1/session/oidc/callback`.",
    responses(
        (status = 303, description = "To the identity provider", headers(("Location" = String), ("Set-Cookie" = String, description = "`ymt_oidc_state=…; Path=/v1/session/oidc; HttpOnly; SameSite=Lax; Max-Age=600[; Secure]`"))),
        (status = 404, response = NotFound),
        (status = 503, response = SignInUnavailable),
    )
)]
pub(crate) async fn start(
    State(state): State<SharedState>,
    oidc: OidcExtension,
) -> Result<Response, ApiError> {
    start_for(&state, &oidc, Purpose::Citizen).await
}

#[utoipa::path(
    get,
    path = "/v1/console/oidc/start",
    tag = "admin",
    summary = "Staff sign in to the console through the identity provider (redirects there)",
    description = "As the citizens' sign-in, but the provider's subject (`sub`) must be a principal's registered `oidc_subject`; the role and jurisdiction are that principal's. The callback opens a staff session (cookie `ymt_staff_session`: HttpOnly, SameSite=Strict, Secure under https, one hour) and sends the browser to `/console`.",
    responses(
        (status = 303, description = "To the identity provider", headers(("Location" = String), ("Set-Cookie" = String))),
        (status = 404, response = NotFound),
        (status = 503, response = SignInUnavailable),
    )
)]
pub(crate) async fn console_start(
    State(state): State<SharedState>,
    oidc: OidcExtension,
) -> Result<Response, ApiError> {
    start_for(&state, &oidc, Purpose::Staff).await
}

async fn start_for(
    state: &SharedState,
    oidc: &OidcExtension,
    purpose: Purpose,
) -> Result<Response, ApiError> {
    let relying_party = relying_party(oidc)?;
    let started = relying_party
        .start(purpose, state.now())
        .await
        .map_err(api_error)?;
    let cookie = state_cookie(state, &started.state, PENDING_SIGN_IN_TTL_SECS);
    Ok((
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, started.authorize_url),
            (header::SET_COOKIE, cookie),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
    )
        .into_response())
}

#[derive(Deserialize, utoipa::IntoParams)]
pub(crate) struct CallbackQuery {
    state: Option<String>,
    code: Option<String>,
    /// The provider's error code, when the person did not sign in there.
    error: Option<String>,
}

#[utoipa::path(
    get,
    path = "/v1/session/oidc/callback",
    tag = "citizens",
    summary = "The identity provider's redirect back: opens the citizen's session",
    description = "Checks that the state is this browser's and unused, exchanges the code with its PKCE verifier, verifies the ID token (issuer, audience, signature against the provider's keys, expiry, nonce) and turns the ID number claim into the pid at once. Answers 303 to the citizen page with the session cookie; a refusal creates no session.",
    params(CallbackQuery),
    responses(
        (status = 303, description = "Signed in; to the citizen page", headers(("Location" = String), ("Set-Cookie" = String, description = "`ymt_session=s1~<opened at>~<nonce>~<pid>~<HMAC>; Path=/; HttpOnly; SameSite=Strict; Max-Age=…[; Secure]`"))),
        (status = 400, response = BadRequest),
        (status = 401, response = SignInRefused),
        (status = 404, response = NotFound),
        (status = 503, response = SignInUnavailable),
    )
)]
pub(crate) async fn callback(
    State(state): State<SharedState>,
    oidc: OidcExtension,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<CallbackQuery>,
) -> Result<Response, ApiError> {
    let relying_party = relying_party(&oidc)?;
    let now = state.now();
    let outcome = finish(&relying_party, &headers, &query, now).await;
    let signed_in = match outcome {
        Ok(signed_in) => signed_in,
        Err(error) => {
            if let OidcError::Refused(reason) = &error {
                let entry = AuditEntry {
                    at: now,
                    principal: "citizen:unknown".into(),
                    role: "citizen".into(),
                    action: "citizen.sign_in".into(),
                    target: "oidc".into(),
                    outcome: AuditOutcome::Denied,
                    detail: reason.chars().take(1000).collect(),
                };
                audit_durable(&state, entry).await?;
            }
            return Err(api_error(error));
        }
    };
    if signed_in.purpose == Purpose::Staff {
        return staff_signed_in(&state, signed_in, now).await;
    }
    let Some(document) = signed_in.document else {
        return Err(ApiError::internal("a citizen's sign-in without a document"));
    };
    // The number becomes the pid here and goes no further.
    let pid = state.person_id(&document);
    drop(document);
    audit_durable(
        &state,
        citizen_audit(&pid, "citizen.sign_in", pid.as_str(), "oidc", now),
    )
    .await?;
    let session = state.codes.new_session(pid, now)?;
    let secure = if cookie_secure(&state) {
        "; Secure"
    } else {
        ""
    };
    let session_cookie = format!(
        "{SESSION_COOKIE}={session}; Path=/; HttpOnly; SameSite=Strict; Max-Age={SESSION_TTL_SECS}{secure}"
    );
    let mut response =
        (StatusCode::SEE_OTHER, [(header::LOCATION, "/".to_owned())]).into_response();
    let response_headers = response.headers_mut();
    for cookie in [session_cookie, state_cookie(&state, "", 0)] {
        response_headers.append(
            header::SET_COOKIE,
            cookie
                .parse()
                .map_err(|_| ApiError::internal("a cookie that is not a header value"))?,
        );
    }
    Ok(response)
}

async fn finish(
    relying_party: &OidcRelyingParty,
    headers: &HeaderMap,
    query: &CallbackQuery,
    now: ymt_core::Timestamp,
) -> Result<crate::oidc::SignedIn, OidcError> {
    let refused = |reason: &str| OidcError::Refused(reason.to_owned());
    let returned_state = query
        .state
        .as_deref()
        .filter(|value| !value.is_empty() && value.len() <= CALLBACK_PARAMETER_CHARS_MAX)
        .ok_or_else(|| refused("the callback has no state"))?;
    // The state must be the one this browser started: otherwise someone
    // else's sign-in could be completed in this browser (login CSRF).
    let browser_state = cookie_value(headers, STATE_COOKIE);
    if browser_state.as_deref() != Some(returned_state) {
        return Err(refused("the sign-in did not start in this browser"));
    }
    if let Some(error) = &query.error {
        // Forget the state too: the sign-in is over.
        let code: String = error
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .take(64)
            .collect();
        relying_party.abandon(returned_state, now);
        return Err(OidcError::Refused(format!(
            "the identity provider did not sign the person in: {code}"
        )));
    }
    let code = query
        .code
        .as_deref()
        .filter(|value| !value.is_empty() && value.len() <= CALLBACK_PARAMETER_CHARS_MAX)
        .ok_or_else(|| refused("the callback has no authorization code"))?;
    relying_party.finish(returned_state, code, now).await
}

/// A staff member signed in at the provider: the subject must be a
/// principal's; role and jurisdiction are the registry's.
async fn staff_signed_in(
    state: &SharedState,
    signed_in: crate::oidc::SignedIn,
    now: ymt_core::Timestamp,
) -> Result<Response, ApiError> {
    let principal = state
        .principals
        .read()
        .by_oidc_subject(&signed_in.subject)
        .cloned();
    let Some(principal) = principal else {
        let entry = AuditEntry {
            at: now,
            principal: "anonymous".into(),
            role: "none".into(),
            action: "staff.sign_in".into(),
            target: "oidc".into(),
            outcome: AuditOutcome::Denied,
            detail: "the provider's subject is no principal of this node".into(),
        };
        audit_durable(state, entry).await?;
        return Err(api_error(OidcError::Refused(
            "the identity provider's subject is not registered as staff on this node (a national admin registers each staff member's subject first)".into(),
        )));
    };
    let session = state
        .codes
        .new_staff_session(&principal.id, signed_in.id_token, now)?;
    audit_durable(
        state,
        AuditEntry {
            at: now,
            principal: principal.id.clone(),
            role: principal.role.as_str().into(),
            action: "staff.sign_in".into(),
            target: principal.id.clone(),
            outcome: AuditOutcome::Allowed,
            detail: format!("oidc session {}", &session[..8]),
        },
    )
    .await?;
    let secure = if cookie_secure(state) { "; Secure" } else { "" };
    let session_cookie = format!(
        "{STAFF_SESSION_COOKIE}={session}; Path=/; HttpOnly; SameSite=Strict; Max-Age={STAFF_SESSION_TTL_SECS}{secure}"
    );
    let mut response = (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, "/console".to_owned())],
    )
        .into_response();
    for cookie in [session_cookie, state_cookie(state, "", 0)] {
        response.headers_mut().append(
            header::SET_COOKIE,
            cookie
                .parse()
                .map_err(|_| ApiError::internal("a cookie that is not a header value"))?,
        );
    }
    Ok(response)
}

#[utoipa::path(
    get,
    path = "/v1/console/session",
    tag = "admin",
    summary = "Which staff member is signed in to the console",
    responses(
        (status = 200, description = "`{\"signed_in\": false, \"provider_sign_in\": bool}`, or `{\"signed_in\": true, \"id\", \"role\", \"jurisdiction\"}`", body = inline(AnyObject)),
    )
)]
pub(crate) async fn console_session(
    State(state): State<SharedState>,
    oidc: OidcExtension,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let principal = {
        let id = staff_session_cookie(&headers)
            .and_then(|session| state.codes.staff_session(&session, state.now()));
        id.and_then(|id| {
            state
                .principals
                .read()
                .get(&id)
                .filter(|principal| !principal.disabled)
                .cloned()
        })
    };
    let body = match principal {
        Some(principal) => serde_json::json!({
            "signed_in": true,
            "id": principal.id,
            "role": principal.role,
            "jurisdiction": principal.jurisdiction,
        }),
        None => serde_json::json!({"signed_in": false, "provider_sign_in": oidc.0.is_some()}),
    };
    Ok(axum::Json(body).into_response())
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ConsoleSignOutQuery {
    /// `true`: end every console session of the staff member, in every
    /// browser.
    everywhere: Option<bool>,
}

#[utoipa::path(
    delete,
    path = "/v1/console/session",
    tag = "admin",
    summary = "Sign the staff member out (RP-initiated logout)",
    description = "Ends the staff session on this node and clears its cookie; answers the provider's logout URL (with `id_token_hint` and `post_logout_redirect_uri` = the console), where the console sends the browser to end the session at the provider too.",
    params(ConsoleSignOutQuery),
    responses(
        (status = 200, description = "`{\"logout_url\": \"…\" | null}`; the cookie is cleared", body = inline(AnyObject)),
        (status = 400, response = BadRequest),
        (status = 403, response = CrossOrigin),
    )
)]
pub(crate) async fn console_sign_out(
    State(state): State<SharedState>,
    oidc: OidcExtension,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<ConsoleSignOutQuery>,
) -> Result<Response, ApiError> {
    require_same_origin(&state, &headers, false)?;
    let mut logout_url = None;
    let everywhere_of = staff_session_cookie(&headers)
        .filter(|_| query.everywhere.unwrap_or(false))
        .and_then(|session| state.codes.staff_session(&session, state.now()));
    if let Some(session) = staff_session_cookie(&headers)
        && let Some(id_token) = state.codes.end_staff_session(&session)
        && let Some(relying_party) = oidc.0.as_ref()
    {
        let back = format!(
            "{}/console",
            state
                .config
                .public_url
                .as_deref()
                .unwrap_or("")
                .trim_end_matches('/')
        );
        logout_url = relying_party.logout_url(&id_token, &back).await;
    }
    if let Some(principal_id) = everywhere_of {
        state.codes.end_staff_sessions_of(&principal_id);
    }
    let secure = if cookie_secure(&state) {
        "; Secure"
    } else {
        ""
    };
    let cookie =
        format!("{STAFF_SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}");
    Ok((
        [(header::SET_COOKIE, cookie)],
        axum::Json(serde_json::json!({"logout_url": logout_url})),
    )
        .into_response())
}
