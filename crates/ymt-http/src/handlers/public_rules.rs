//! 规则公示: the rules in force, published for anyone without signing in
//! (`GET /v1/public/rules`, and the page `/rules` that renders it).
//!
//! Only what is published is here: the national rule set in force and its
//! earlier versions, the regional profiles in force, and the approvals of
//! publications the breaker held. A proposal still pending, a rejected one,
//! a person, an event or a principal's key never appears; the only
//! principals named are the proposer and approver of a publication, which
//! is the public record of who decided a rule.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use ymt_node::breaker::{KIND_PROFILE, KIND_RULE_SET, META_PENDING, action_id};
use ymt_node::model::{PendingAction, PendingStatus};
use ymt_node::publication::{RulesDocument, rule_set_diff};
use ymt_rules::ruleset::{LocalizedText, RuleSetDocument};

use crate::extract::{ApiQuery, SharedState};
use crate::pages::{Lang, LangQuery, html, layout};
use crate::problem::ApiError;
use crate::schemas::*;

/// A rule in plain language, its texts filled with `parameters`.
fn rule_in_words(document: &RuleSetDocument, parameters: &BTreeMap<String, i64>) -> Vec<Value> {
    let fill = |text: &LocalizedText| text.with_parameters(parameters);
    document
        .rules
        .iter()
        .map(|rule| {
            json!({
                "id": rule.id,
                "color": rule.color,
                "over": rule.over,
                "description": fill(&rule.description),
                "clears": fill(&rule.clears),
                "source": rule.source,
            })
        })
        .collect()
}

/// The approved publications the breaker held, by the id of the action
/// (`<id>-<version>`), with the document each put into force.
fn approvals(state: &SharedState) -> Result<Vec<(PendingAction, Value)>, ApiError> {
    let mut approved = Vec::new();
    for (_, bytes) in state.store.meta_list(META_PENDING)? {
        let Ok(pending) = serde_json::from_slice::<PendingAction>(&bytes) else {
            continue;
        };
        if pending.status != PendingStatus::Approved
            || !matches!(pending.action.kind.as_str(), KIND_RULE_SET | KIND_PROFILE)
        {
            continue;
        }
        let Ok(request) = pending.action.request_as::<RulesDocument>() else {
            continue;
        };
        let Ok(document) = serde_json::from_str::<Value>(&request.document) else {
            continue;
        };
        approved.push((pending, document));
    }
    Ok(approved)
}

fn approval_of(pending: &PendingAction) -> Value {
    json!({
        "proposed_by": pending.proposer,
        "proposed_at": pending.proposed_at,
        "approved_by": pending.decided_by,
        "approved_at": pending.decided_at,
        "held_because": pending.held_because,
    })
}

#[utoipa::path(
    get,
    path = "/v1/public/rules",
    tag = "rules",
    summary = "The rules in force, published for anyone (no sign-in): the national rule set rule by rule in plain language, every regional profile with each parameter beside its national bound, and the history of publications with their approvals and diffs",
    responses(
        (status = 200, description = "`{\"national\", \"profiles\", \"history\"}`", body = inline(AnyObject)),
    )
)]
pub(crate) async fn public_rules(State(state): State<SharedState>) -> Result<Response, ApiError> {
    let approved = approvals(&state)?;
    let rules = state.rules.read();
    let national = rules.national.document();
    let defaults = rules.national.parameters_with(None);
    let bounds = &national.parameters;
    let national_json = json!({
        "id": national.id,
        "version": national.version.to_string(),
        "valid_from": national.valid_from,
        "description": national.description,
        "parameters": bounds,
        "rules": rule_in_words(national, &defaults),
    });
    let profiles: Vec<Value> = rules
        .profiles
        .values()
        .map(|(profile, _)| {
            let values = rules.national.parameters_with(Some(profile));
            let parameters: Vec<Value> = bounds
                .iter()
                .map(|(name, spec)| {
                    json!({
                        "name": name,
                        "value": values.get(name),
                        "set_by_profile": profile.parameters.contains_key(name),
                        "national_default": spec.default,
                        "national_min": spec.min,
                        "national_max": spec.max,
                        "unit": spec.unit,
                        "description": spec.description,
                    })
                })
                .collect();
            let approval = approved.iter().find(|(pending, _)| {
                pending.action.kind == KIND_PROFILE
                    && pending.action.request_id()
                        == action_id(&format!("{}-{}", profile.id, profile.version))
            });
            json!({
                "id": profile.id,
                "region": profile.region,
                "version": profile.version.to_string(),
                "valid_from": profile.valid_from,
                "reason": profile.reason,
                "parameters": parameters,
                "rules": rule_in_words(national, &values),
                "approval": approval.map(|(pending, _)| approval_of(pending)),
            })
        })
        .collect();
    // Publications, newest first: each national version with its diff from
    // the one before, and each held profile publication that was approved.
    let mut history: Vec<Value> = Vec::new();
    let mut previous: Option<&RuleSetDocument> = None;
    for rule_set in &rules.history {
        let document = rule_set.document();
        let approval = approved.iter().find(|(pending, _)| {
            pending.action.kind == KIND_RULE_SET
                && pending.action.request_id()
                    == action_id(&format!("{}-{}", document.id, document.version))
        });
        history.push(json!({
            "kind": "rule-set",
            "id": document.id,
            "version": document.version.to_string(),
            "valid_from": document.valid_from,
            "published_at": approval.and_then(|(pending, _)| pending.decided_at),
            "rules": document.rules.len(),
            "approval": approval.map(|(pending, _)| approval_of(pending)),
            "diff": previous.map(|before| rule_set_diff(before, document)),
        }));
        previous = Some(document);
    }
    for (pending, document) in approved
        .iter()
        .filter(|(pending, _)| pending.action.kind == KIND_PROFILE)
    {
        history.push(json!({
            "kind": "parameter-profile",
            "id": document.get("id"),
            "region": document.get("region"),
            "version": document.get("version"),
            "valid_from": document.get("validFrom"),
            "published_at": pending.decided_at,
            "parameters": document.get("parameters"),
            "approval": approval_of(pending),
        }));
    }
    history.sort_by_key(|entry| {
        std::cmp::Reverse(
            entry["published_at"]
                .as_str()
                .or(entry["valid_from"].as_str())
                .unwrap_or_default()
                .to_owned(),
        )
    });
    Ok(axum::Json(json!({
        "national": national_json,
        "profiles": profiles,
        "history": history,
    }))
    .into_response())
}

/// A label of the public rules page in the page language.
fn label(lang: Lang, key: &str) -> &'static str {
    let (zh, en) = match key {
        "intro" => (
            "本页公开全国现行健康码规则、各地区参数配置（均在国家规定范围内）及每次发布的记录，无需登录。",
            "The national health-code rules in force, every region's parameters (always inside the national bounds) and the record of every publication, public and without sign-in.",
        ),
        "destination" => ("目的地地区", "Destination region"),
        "national_only" => ("全国默认规则", "National rules (no regional profile)"),
        "national" => ("全国规则", "National rules"),
        "profiles" => ("地区参数配置", "Regional profiles"),
        "history" => ("发布记录", "Publication history"),
        "json" => ("JSON 数据", "The same data as JSON"),
        _ => ("?", "?"),
    };
    match lang {
        Lang::ZhCn => zh,
        Lang::En => en,
    }
}

pub fn rules_page_html(lang: Lang) -> String {
    let l = |key| label(lang, key);
    let body = format!(
        r#"<p class="muted">{intro}</p>
<section class="card" aria-labelledby="destination-heading"><h2 id="destination-heading">{destination}</h2>
<label for="destination">{destination}</label><select id="destination"><option value="">{national_only}</option></select>
<div id="destination-rules" aria-live="polite"></div></section>
<section class="card" aria-labelledby="national-heading"><h2 id="national-heading">{national}</h2><div id="national"></div></section>
<section class="card" aria-labelledby="profiles-heading"><h2 id="profiles-heading">{profiles}</h2><div id="profiles"></div></section>
<section class="card" aria-labelledby="history-heading"><h2 id="history-heading">{history}</h2><div id="history"></div></section>
<p><a href="/v1/public/rules">{json}</a></p>"#,
        intro = l("intro"),
        destination = l("destination"),
        national_only = l("national_only"),
        national = l("national"),
        profiles = l("profiles"),
        history = l("history"),
        json = l("json"),
    );
    layout(lang, "rules", "rules_title", &body, &["rules.js"])
}

#[utoipa::path(
    get,
    path = "/rules",
    tag = "pages",
    summary = "The public rules page (规则公示): for anyone, no sign-in",
    params(LangQuery),
    responses(
        (status = 200, description = "The page", body = String, content_type = "text/html"),
        (status = 400, response = BadRequest),
    )
)]
pub(crate) async fn rules_page(ApiQuery(query): ApiQuery<LangQuery>) -> Response {
    html(rules_page_html(query.lang()))
}
