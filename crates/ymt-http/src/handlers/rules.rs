use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use ymt_node::breaker::{HeldAction, KIND_PROFILE, KIND_RULE_SET};
use ymt_node::publication::*;

use crate::extract::*;
use crate::policy::{Permission, require};
use crate::problem::ApiError;
use crate::schemas::*;

#[utoipa::path(
    get,
    path = "/v1/rule-sets",
    tag = "rules",
    summary = "Rule-set versions, profiles and national parameters",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "`current`, `versions`, `profiles`, `national_parameters`", body = inline(AnyObject)),
        (status = 401, response = Unauthorized),
    )
)]
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

#[utoipa::path(
    get,
    path = "/v1/rule-sets/{version}",
    tag = "rules",
    summary = "One rule-set document",
    security(("bearer" = [])),
    params(("version" = String, Path, description = "A semantic version, or `current`")),
    responses(
        (status = 200, description = "The rule-set document", body = inline(AnyObject)),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
    )
)]
pub(crate) async fn get_rule_set(
    State(state): State<SharedState>,
    Authed(_principal): Authed,
    ApiPath(version): ApiPath<String>,
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

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct DiffQuery {
    /// A published version, e.g. `1.0.0`.
    from: String,
    /// A published version.
    to: String,
}

#[utoipa::path(
    get,
    path = "/v1/rule-sets:diff",
    tag = "rules",
    summary = "What changed between two rule-set versions",
    security(("bearer" = [])),
    params(DiffQuery),
    responses(
        (status = 200, description = "The diff", body = inline(AnyObject)),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
    )
)]
pub(crate) async fn diff_rule_sets(
    State(state): State<SharedState>,
    Authed(_principal): Authed,
    ApiQuery(query): ApiQuery<DiffQuery>,
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

#[utoipa::path(
    post,
    path = "/v1/rule-sets:preview",
    tag = "rules",
    summary = "Impact preview of a rule set or profile",
    security(("bearer" = [])),
    request_body = RulesDocumentSchema,
    responses(
        (status = 200, description = "`{\"impact\", \"summary\"}`: how many colors would change, e.g. `green→yellow: 12,345`", body = inline(AnyObject)),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 413, response = TooLarge),
        (status = 422, response = Unprocessable),
    )
)]
pub(crate) async fn preview_rules(
    State(state): State<SharedState>,
    Authed(principal): Authed,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    require(&state, &principal, Permission::PreviewRules, None, "").await?;
    let bytes = body.map_err(|_| ApiError::too_large("the body is too large"))?;
    let proposal = parse_proposal(&state, &bytes)?;
    let worker = state.clone();
    let report = tokio::task::spawn_blocking(move || impact_of(&worker, &proposal))
        .await
        .map_err(|_| ApiError::internal("preview panicked"))??;
    Ok(axum::Json(json!({"impact": report, "summary": report.summary_lines()})).into_response())
}

#[utoipa::path(
    post,
    path = "/v1/rule-sets",
    tag = "rules",
    summary = "Publish a national rule set (through the circuit breaker)",
    security(("bearer" = [])),
    request_body = RulesDocumentSchema,
    responses(
        (status = 200, description = "Applied at once: `{\"status\": \"applied\", \"events_stored\", \"persons_reached\", \"impact\"}`", body = inline(AnyObject)),
        (status = 202, description = "Held for a second authority: `{\"status\": \"pending\", \"pending\": <pending action>}`", body = inline(AnyObject)),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 409, response = Conflict),
        (status = 413, response = TooLarge),
        (status = 422, response = Unprocessable),
    )
)]
pub(crate) async fn publish_rule_set(
    State(state): State<SharedState>,
    Authed(principal): Authed,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    require(&state, &principal, Permission::PublishRuleSets, None, "").await?;
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

#[utoipa::path(
    post,
    path = "/v1/profiles",
    tag = "rules",
    summary = "Publish a regional parameter profile (through the circuit breaker)",
    security(("bearer" = [])),
    request_body = RulesDocumentSchema,
    responses(
        (status = 200, description = "Applied at once: `{\"status\": \"applied\", \"events_stored\", \"persons_reached\", \"impact\"}`", body = inline(AnyObject)),
        (status = 202, description = "Held for a second authority: `{\"status\": \"pending\", \"pending\": <pending action>}`", body = inline(AnyObject)),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 409, response = Conflict),
        (status = 413, response = TooLarge),
        (status = 422, response = Unprocessable),
    )
)]
pub(crate) async fn publish_profile(
    State(state): State<SharedState>,
    Authed(principal): Authed,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    require(&state, &principal, Permission::PublishProfiles, None, "").await?;
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
