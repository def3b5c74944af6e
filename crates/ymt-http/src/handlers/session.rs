use axum::body::Bytes;
use std::net::SocketAddr;

use axum::Extension;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use ymt_core::PersonId;
use ymt_core::identity::{IdDocument, IdType};
use ymt_node::codes::*;
use ymt_node::state::*;
use ymt_store::AuditOutcome;

use crate::extract::*;
use crate::problem::ApiError;
use crate::schemas::*;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SignInBody {
    id_type: IdType,
    #[schema(value_type = IdNumber)]
    id_number: String,
    /// The one-time code sent to the person (a wrong one is refused with 401).
    code: String,
}

pub(crate) fn person_summary(state: &Node, pid: &PersonId) -> Result<serde_json::Value, ApiError> {
    let record = state.person_record(pid)?;
    let dependents: Vec<_> = record
        .as_ref()
        .map(|record| record.confirmed_wards().cloned().collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|dependent| {
            let masked = state
                .person_record(&dependent)
                .ok()
                .flatten()
                .map(|record| record.masked_name.to_string());
            let relationship = record
                .as_ref()
                .and_then(|record| record.relationships.get(&dependent).copied());
            json!({"pid": dependent, "masked_name": masked, "relationship": relationship})
        })
        .collect();
    Ok(json!({
        "signed_in": true,
        "pid": pid,
        "masked_name": record.map(|record| record.masked_name.to_string()),
        "dependents": dependents,
    }))
}

#[utoipa::path(
    post,
    path = "/v1/session",
    tag = "citizens",
    summary = "Sign in with an ID document and a one-time code",
    request_body = SignInBody,
    responses(
        (status = 200, description = "Signed in; the session cookie is set (`Secure` too when the node's public URL is https). A person holds at most 5 sessions: a further sign-in ends their oldest", body = inline(AnyObject), headers(("Set-Cookie" = String, description = "`ymt_session=s1~<opened at>~<nonce>~<pid>~<HMAC>; Path=/; HttpOnly; SameSite=Strict; Max-Age=…[; Secure]`"))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = CrossOrigin),
        (status = 413, response = TooLarge),
        (status = 415, response = NotJson),
        (status = 422, response = Unprocessable),
        (status = 429, response = SignInLockedOut),
        (status = 503, response = Overloaded),
    )
)]
pub(crate) async fn sign_in(
    State(state): State<SharedState>,
    client: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    // Signing in is state-changing for a browser too (login CSRF).
    require_same_origin(&state, &headers, true)?;
    let body: SignInBody = parse_json(body)?;
    let authenticator = state.codes.authenticator().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "sign-in-unavailable",
            "citizen sign-in is not configured on this node",
        )
    })?;
    let document = IdDocument::parse(body.id_type, &body.id_number)
        .map_err(|error| ApiError::unprocessable(format!("id_number: {error}")))?;
    let pid = state.person_id(&document);
    let now = state.now();
    let client = client_address(client.as_ref().map(|Extension(ConnectInfo(peer))| peer));
    state.codes.sign_in_allowed(&pid, &client, now)?;
    let known = state.person_record(&pid)?.is_some() || state.projection.get(&pid).is_some();
    if !known || !authenticator.check(&pid, &body.code) {
        let counted = state.codes.sign_in_failed(&pid, &client, now);
        let mut entry = citizen_audit(&pid, "citizen.sign_in", pid.as_str(), "refused", now);
        entry.outcome = AuditOutcome::Denied;
        audit_durable(&state, entry).await?;
        counted?;
        return Err(ApiError::unauthorized(
            "the ID number or the one-time code is not right",
        ));
    }
    state.codes.sign_in_succeeded(&pid);
    audit_durable(
        &state,
        citizen_audit(&pid, "citizen.sign_in", pid.as_str(), "", now),
    )
    .await?;
    let session = state.codes.new_session(pid.clone(), now)?;
    let secure = if cookie_secure(&state) {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{SESSION_COOKIE}={session}; Path=/; HttpOnly; SameSite=Strict; Max-Age={SESSION_TTL_SECS}{secure}"
    );
    let summary = person_summary(&state, &pid)?;
    Ok(([(header::SET_COOKIE, cookie)], axum::Json(summary)).into_response())
}

#[utoipa::path(
    get,
    path = "/v1/session",
    tag = "citizens",
    summary = "Who is signed in",
    responses(
        (status = 200, description = "`{\"signed_in\": false}` (with `\"provider_sign_in\": true` when citizens sign in through an identity provider, at GET /v1/session/oidc/start), or the person's pid, masked name and dependents", body = inline(AnyObject)),
    )
)]
pub(crate) async fn get_session(
    State(state): State<SharedState>,
    oidc: crate::handlers::oidc_sign_in::OidcExtension,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    // Signed out is an ordinary answer here, not an error: the page asks on
    // every load.
    let Some(pid) = session_cookie(&headers).and_then(|id| state.codes.session(&id, state.now()))
    else {
        let signed_out = if oidc.0.is_some() {
            json!({"signed_in": false, "provider_sign_in": true})
        } else {
            json!({"signed_in": false})
        };
        return Ok(axum::Json(signed_out).into_response());
    };
    let mut summary = person_summary(&state, &pid)?;
    summary["signed_in"] = json!(true);
    Ok(axum::Json(summary).into_response())
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct SignOutQuery {
    /// `true`: end every session of the person, on every device.
    everywhere: Option<bool>,
}

#[derive(Deserialize, utoipa::IntoParams)]
pub(crate) struct PersonPath {
    /// The person's pid.
    pid: String,
}

#[utoipa::path(
    post,
    path = "/v1/persons/{pid}/sessions:revoke",
    tag = "citizens",
    summary = "End every session of a person at once (an authority of the person's jurisdiction, or a national admin)",
    description = "For a person whose phone was stolen or whose account was misused: every citizen session of the person on this node ends; the person signs in again through the identity provider.",
    security(("bearer" = [])),
    params(("pid" = PersonId, Path, description = "The person")),
    responses(
        (status = 200, description = "`{\"pid\", \"sessions_ended\"}`", body = inline(AnyObject)),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
    )
)]
pub(crate) async fn revoke_person_sessions(
    State(state): State<SharedState>,
    Authed(principal): Authed,
    ApiPath(path): ApiPath<PersonPath>,
) -> Result<Response, ApiError> {
    let pid: PersonId = path
        .pid
        .parse()
        .map_err(|_| ApiError::bad_request("pid: not a pid"))?;
    crate::policy::require(
        &state,
        &principal,
        crate::policy::Permission::RevokeSessions,
        None,
        pid.as_str(),
    )
    .await?;
    if !state.reaches(&principal, &pid)? {
        state
            .audit_denied(
                Some(&principal),
                "person.revoke_sessions",
                pid.as_str(),
                "outside the jurisdiction",
            )
            .await;
        return Err(ApiError::forbidden(
            "only an authority of the person's jurisdiction or a national admin may end their sessions",
        ));
    }
    // A durable record, applied by every node: the sessions end wherever
    // the person is signed in, and the record is audited with its author.
    let author = ymt_node::record::Author::from(&principal);
    let node = state.clone();
    let person = pid.clone();
    let ended = tokio::task::spawn_blocking(move || node.end_person_sessions(&author, &person))
        .await
        .map_err(|_| ApiError::internal("the revocation task failed"))??;
    Ok(axum::Json(json!({"pid": pid, "sessions_ended": ended})).into_response())
}

#[utoipa::path(
    delete,
    path = "/v1/session",
    tag = "citizens",
    summary = "Sign out",
    params(SignOutQuery),
    responses(
        (status = 204, description = "Signed out (a durable record every node of the cluster applies); the session cookie is cleared", headers(("Set-Cookie" = String, description = "`ymt_session=; …; Max-Age=0`"))),
        (status = 400, response = BadRequest),
        (status = 403, response = CrossOrigin),
        (status = 503, response = Overloaded),
    )
)]
pub(crate) async fn sign_out(
    State(state): State<SharedState>,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<SignOutQuery>,
) -> Result<Response, ApiError> {
    require_same_origin(&state, &headers, false)?;
    if let Some(id) = session_cookie(&headers) {
        let node = state.clone();
        if query.everywhere.unwrap_or(false)
            && let Some(pid) = state.codes.session(&id, state.now())
        {
            // Every browser and phone the person is signed in on (a lost
            // phone, a shared computer), on every node.
            let author = ymt_node::record::Author::citizen(pid.as_str());
            tokio::task::spawn_blocking(move || node.end_person_sessions(&author, &pid))
                .await
                .map_err(|_| ApiError::internal("the sign-out task failed"))??;
            state.codes.end_session(&id);
        } else {
            // The token verifies on every node of the cluster, so its end is
            // a replicated record too; until it is durable the cookie stays,
            // and the client may retry.
            tokio::task::spawn_blocking(move || node.end_citizen_session(&id))
                .await
                .map_err(|_| ApiError::internal("the sign-out task failed"))??;
        }
    }
    let secure = if cookie_secure(&state) {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}");
    Ok(([(header::SET_COOKIE, cookie)], StatusCode::NO_CONTENT).into_response())
}
