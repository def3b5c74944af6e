use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use ymt_node::auth::Role;
use ymt_node::breaker::{HeldAction, KIND_PROFILE, KIND_RULE_SET};
use ymt_node::publication::*;

use crate::extract::*;
use crate::problem::ApiError;

pub(crate) async fn list_rule_sets(
    State(state): State<SharedState>,
    Authed(_principal): Authed,
) -> Result<Response, ApiError> {
    let rules = state.rules.read();
    let versions: Vec<_> = rules
        .history
        .iter()
        .map(|rule_set| json!({"id": rule_set.id(), "version": rule_set.version().to_string(), "valid_from": rule_set.document().valid_from, "rules": rule_set.document().rules.len()}))
        .collect();
    let profiles: Vec<_> = rules
        .profiles
        .values()
        .map(|(profile, compiled)| json!({"id": profile.id, "region": profile.region, "version": profile.version.to_string(), "parameters": compiled.parameters()}))
        .collect();
    Ok(axum::Json(json!({
        "current": rules.national.version().to_string(),
        "versions": versions,
        "profiles": profiles,
        "national_parameters": rules.national_compiled.parameters(),
    }))
    .into_response())
}

pub(crate) async fn get_rule_set(
    State(state): State<SharedState>,
    Authed(_principal): Authed,
    Path(version): Path<String>,
) -> Result<Response, ApiError> {
    let rules = state.rules.read();
    let wanted = if version == "current" {
        rules.national.version().to_string()
    } else {
        version
    };
    let rule_set = rules
        .history
        .iter()
        .find(|rule_set| rule_set.version().to_string() == wanted)
        .ok_or_else(|| ApiError::not_found(format!("no rule-set version {wanted}")))?;
    Ok(
        axum::Json(serde_json::to_value(rule_set.document()).expect("rule sets serialise"))
            .into_response(),
    )
}

#[derive(Deserialize)]
pub(crate) struct DiffQuery {
    from: String,
    to: String,
}

pub(crate) async fn diff_rule_sets(
    State(state): State<SharedState>,
    Authed(_principal): Authed,
    Query(query): Query<DiffQuery>,
) -> Result<Response, ApiError> {
    let rules = state.rules.read();
    let find = |version: &str| {
        rules
            .history
            .iter()
            .find(|rule_set| rule_set.version().to_string() == version)
            .ok_or_else(|| ApiError::not_found(format!("no rule-set version {version}")))
    };
    let from = find(&query.from)?.document();
    let to = find(&query.to)?.document();
    Ok(axum::Json(rule_set_diff(from, to)).into_response())
}

pub(crate) async fn preview_rules(
    State(state): State<SharedState>,
    Authed(principal): Authed,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let allowed = matches!(principal.role, Role::HealthAuthority | Role::NationalAdmin);
    require(&state, &principal, allowed, "preview rule changes", "").await?;
    let bytes = body.map_err(|_| ApiError::too_large("the body is too large"))?;
    let proposal = parse_proposal(&state, &bytes)?;
    let worker = state.clone();
    let report = tokio::task::spawn_blocking(move || impact_of(&worker, &proposal))
        .await
        .map_err(|_| ApiError::internal("preview panicked"))??;
    Ok(axum::Json(json!({"impact": report, "summary": report.summary_lines()})).into_response())
}

pub(crate) async fn publish_rule_set(
    State(state): State<SharedState>,
    Authed(principal): Authed,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    require(
        &state,
        &principal,
        principal.role == Role::NationalAdmin,
        "publish national rule sets",
        "",
    )
    .await?;
    let bytes = body.map_err(|_| ApiError::too_large("the body is too large"))?;
    let Proposal::RuleSet(rule_set) = parse_proposal(&state, &bytes)? else {
        return Err(ApiError::unprocessable(
            "regional profiles are published at /v1/profiles",
        ));
    };
    {
        let rules = state.rules.read();
        if rule_set.id() != rules.national.id() || rule_set.version() <= rules.national.version() {
            return Err(ApiError::conflict(format!(
                "a new version of `{}` must be greater than {}",
                rules.national.id(),
                rules.national.version()
            )));
        }
    }
    let action = HeldAction::new(
        KIND_RULE_SET,
        &ymt_node::publication::RulesDocument {
            id: ymt_node::breaker::action_id(&format!("{}-{}", rule_set.id(), rule_set.version())),
            document: String::from_utf8_lossy(&bytes).into_owned(),
        },
    );
    ymt_node::breaker::propose(&state, &principal, action, None)
        .await
        .map(proposed_response)
        .map_err(ApiError::from)
}

pub(crate) async fn publish_profile(
    State(state): State<SharedState>,
    Authed(principal): Authed,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let allowed = matches!(principal.role, Role::HealthAuthority | Role::NationalAdmin);
    require(
        &state,
        &principal,
        allowed,
        "publish parameter profiles",
        "",
    )
    .await?;
    let bytes = body.map_err(|_| ApiError::too_large("the body is too large"))?;
    let Proposal::Profile(profile) = parse_proposal(&state, &bytes)? else {
        return Err(ApiError::unprocessable(
            "national rule sets are published at /v1/rule-sets",
        ));
    };
    if !principal.may_act_in(&profile.region) {
        state
            .audit_denied(
                Some(&principal),
                "profile.publish",
                profile.region.as_str(),
                "outside jurisdiction",
            )
            .await;
        return Err(ApiError::forbidden(format!(
            "region {} is outside your jurisdiction {}",
            profile.region, principal.jurisdiction
        )));
    }
    let action = HeldAction::new(
        KIND_PROFILE,
        &ymt_node::publication::RulesDocument {
            id: ymt_node::breaker::action_id(&format!("{}-{}", profile.id, profile.version)),
            document: String::from_utf8_lossy(&bytes).into_owned(),
        },
    );
    ymt_node::breaker::propose(&state, &principal, action, None)
        .await
        .map(proposed_response)
        .map_err(ApiError::from)
}
