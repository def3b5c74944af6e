use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use ymt_core::RegionCode;
use ymt_node::auth::{Principal, Role, check_principal_id, key_sha256, new_api_key};
use ymt_store::AuditFilter;

use crate::extract::*;
use crate::policy::{Permission, require};
use crate::problem::ApiError;
use crate::schemas::*;
use ymt_node::model::Proposed;

/// The most audit records one request lists.
const AUDIT_LIST_MAX: usize = 1000;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct AuditQuery {
    /// Only records of this principal.
    #[serde(default)]
    principal: Option<String>,
    /// How many records (100 by default, at most 1,000).
    #[serde(default)]
    #[param(maximum = 1000)]
    limit: Option<u16>,
}

#[utoipa::path(
    get,
    path = "/v1/audit",
    tag = "admin",
    summary = "The audit log",
    security(("bearer" = [])),
    params(AuditQuery),
    responses(
        (status = 200, description = "`{\"records\": [...]}`, hash-chained", body = inline(AnyObject)),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
    )
)]
pub(crate) async fn list_audit(
    State(state): State<SharedState>,
    Authed(principal): Authed,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> Result<Response, ApiError> {
    require(&state, &principal, Permission::ReadAuditLog, None, "").await?;
    let limit = usize::from(query.limit.unwrap_or(100));
    if limit > AUDIT_LIST_MAX {
        return Err(ApiError::bad_request(format!(
            "limit: at most {AUDIT_LIST_MAX}"
        )));
    }
    let filter = AuditFilter {
        principal: query.principal,
        ..AuditFilter::default()
    };
    let records = state.store.audit_list(&filter, limit)?;
    let records: Vec<_> = records
        .iter()
        .map(|record| {
            json!({
                "seq": record.seq,
                "at": record.at,
                "principal": record.principal,
                "role": record.role,
                "action": record.action,
                "target": record.target,
                "outcome": record.outcome.as_str(),
                "detail": record.detail,
                "hash": record.hash_hex(),
            })
        })
        .collect();
    state.audit_read(&principal, "audit.list", "")?;
    Ok(axum::Json(json!({"records": records})).into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PrincipalBody {
    /// 1 to 64 ASCII letters, digits, `-` and `_`.
    #[schema(pattern = "^[A-Za-z0-9_-]{1,64}$")]
    id: String,
    role: Role,
    jurisdiction: RegionCode,
    /// Free text without control or bidirectional characters.
    #[schema(
        pattern = "^[^\\u0000-\\u0008\\u000B-\\u001F\\u007F-\\u009F\\u061C\\u200E\\u200F\\u202A-\\u202E\\u2066-\\u2069]*$"
    )]
    display_name: String,
    /// The subject (`sub`) the identity provider asserts for this staff
    /// member, so that they sign in to the console there; role and
    /// jurisdiction stay this record's. Unique among principals.
    #[serde(default)]
    #[schema(pattern = "^[!-~]{1,255}$")]
    oidc_subject: Option<String>,
}

#[utoipa::path(
    post,
    path = "/v1/admin/principals",
    tag = "admin",
    summary = "Create a principal; its API key is shown once (a national admin or auditor waits for a second national admin)",
    security(("bearer" = [])),
    request_body = PrincipalBody,
    responses(
        (status = 201, description = "`{\"id\", \"role\", \"jurisdiction\", \"api_key\"}`", body = inline(AnyObject)),
        (status = 202, description = "A national admin or auditor, held for a second national admin (not the proposer nor of its lineage): `{\"id\", \"role\", \"jurisdiction\", \"api_key\", \"status\": \"pending\", \"pending\"}`; the key works once approved", body = inline(AnyObject)),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 409, response = Conflict),
        (status = 413, response = TooLarge),
        (status = 422, response = Unprocessable),
    )
)]
pub(crate) async fn create_principal(
    State(state): State<SharedState>,
    Authed(principal): Authed,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    require(&state, &principal, Permission::CreatePrincipals, None, "").await?;
    let body: PrincipalBody = parse_json(body)?;
    check_principal_id(&body.id).map_err(ApiError::unprocessable)?;
    if state.principals.read().get(&body.id).is_some() {
        return Err(ApiError::conflict(format!("principal {} exists", body.id)));
    }
    if let Some(subject) = &body.oidc_subject {
        ymt_node::auth::check_oidc_subject(subject)
            .map_err(|error| ApiError::unprocessable(format!("oidc_subject: {error}")))?;
        if state.principals.read().by_oidc_subject(subject).is_some() {
            return Err(ApiError::conflict(
                "oidc_subject: another principal has this subject",
            ));
        }
    }
    let key = new_api_key(&body.id);
    let created = Principal {
        id: body.id,
        role: body.role,
        jurisdiction: body.jurisdiction,
        display_name: body.display_name,
        key_sha256: key_sha256(&key),
        disabled: false,
        created_by: String::new(),
        keys: ymt_node::auth::KeyLifecycle {
            expires_at: Some(
                state
                    .now()
                    .plus_secs(ymt_node::auth::API_KEY_TTL_SECS_DEFAULT),
            ),
            ..Default::default()
        },
        key_in_use: None,
        oidc_subject: body.oidc_subject,
    };
    let mut answer = json!({"id": created.id, "role": created.role, "jurisdiction": created.jurisdiction, "api_key": key});
    // A national admin or an auditor waits for a second national admin;
    // the key is shown now, once, and works from the approval on.
    match ymt_node::principals::propose(&state, &principal, created).await? {
        Proposed::Applied { .. } => Ok((StatusCode::CREATED, axum::Json(answer)).into_response()),
        Proposed::Held(pending) => {
            answer["status"] = json!("pending");
            answer["pending"] = json!(pending);
            Ok((StatusCode::ACCEPTED, axum::Json(answer)).into_response())
        }
    }
}

#[utoipa::path(
    post,
    path = "/v1/admin/principals/{id}/keys:revoke",
    tag = "admin",
    summary = "Revoke every API key of a principal at once (a stolen key)",
    description = "The principal's current key and any key still in a rotation's grace period stop working at once, on this node and (through the log) every node; a use is then refused with 401 saying the key was revoked and when. The principal has no key until `yimatong admin principal rotate-key` issues one.",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The principal")),
    responses(
        (status = 200, description = "`{\"id\", \"revoked_key_ids\": [..]}`", body = inline(AnyObject)),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 422, response = Unprocessable),
    )
)]
pub(crate) async fn revoke_principal_keys(
    State(state): State<SharedState>,
    Authed(principal): Authed,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    require(
        &state,
        &principal,
        Permission::RevokePrincipalKeys,
        None,
        &id,
    )
    .await?;
    let author = ymt_node::record::Author::from(&principal);
    let node = state.clone();
    let target = id.clone();
    // A store commit: off the async workers.
    let revoked = tokio::task::spawn_blocking(move || node.revoke_principal_keys(&author, &target))
        .await
        .map_err(|_| ApiError::internal("the revocation task failed"))??;
    Ok(axum::Json(json!({"id": id, "revoked_key_ids": revoked})).into_response())
}
