use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use ymt_core::RegionCode;
use ymt_node::auth::{Principal, Role, check_principal_id, key_sha256, new_api_key};
use ymt_store::AuditFilter;

use crate::extract::*;
use crate::problem::ApiError;
use ymt_node::record::Author;

#[derive(Deserialize)]
pub(crate) struct AuditQuery {
    #[serde(default)]
    principal: Option<String>,
    #[serde(default)]
    limit: Option<usize>,
}

pub(crate) async fn list_audit(
    State(state): State<SharedState>,
    Authed(principal): Authed,
    Query(query): Query<AuditQuery>,
) -> Result<Response, ApiError> {
    let allowed = matches!(principal.role, Role::Auditor | Role::NationalAdmin);
    require(&state, &principal, allowed, "read the audit log", "").await?;
    let filter = AuditFilter {
        principal: query.principal,
        ..AuditFilter::default()
    };
    let records = state
        .store
        .audit_list(&filter, query.limit.unwrap_or(100).min(1000))?;
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PrincipalBody {
    id: String,
    role: Role,
    jurisdiction: RegionCode,
    display_name: String,
}

pub(crate) async fn create_principal(
    State(state): State<SharedState>,
    Authed(principal): Authed,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    require(
        &state,
        &principal,
        principal.role == Role::NationalAdmin,
        "create principals",
        "",
    )
    .await?;
    let body: PrincipalBody = parse_json(body)?;
    check_principal_id(&body.id).map_err(ApiError::unprocessable)?;
    if state.principals.read().get(&body.id).is_some() {
        return Err(ApiError::conflict(format!("principal {} exists", body.id)));
    }
    let key = new_api_key(&body.id);
    let created = Principal {
        id: body.id,
        role: body.role,
        jurisdiction: body.jurisdiction,
        display_name: body.display_name,
        key_sha256: key_sha256(&key),
        disabled: false,
    };
    state.add_principal_by(&Author::from(&principal), created.clone())?;
    Ok((StatusCode::CREATED, axum::Json(json!({"id": created.id, "role": created.role, "jurisdiction": created.jurisdiction, "api_key": key}))).into_response())
}
