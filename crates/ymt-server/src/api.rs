//! The HTTP API. Every handler authenticates, checks the principal's role
//! and jurisdiction, does its work through [`AppState`], and answers JSON or
//! a problem+json error.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;
use ymt_core::identity::{IdDocument, IdType, MaskedName};
use ymt_core::{Color, PersonId, RegionCode};
use ymt_rules::{CompiledRules, ParameterProfile, RuleSet};
use ymt_store::AuditFilter;

use crate::auth::{Principal, Role, check_principal_id, key_sha256, new_api_key};
use crate::problem::ApiError;
use crate::state::{AppState, META_PROFILES, META_RULE_SETS, PersonRecord, Submission};

pub type SharedState = Arc<AppState>;

/// The authenticated principal of a request.
pub struct Authed(pub Principal);

impl FromRequestParts<SharedState> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &SharedState,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .ok_or_else(|| {
                ApiError::unauthorized("an Authorization: Bearer <api key> header is required")
            })?;
        let key = header.strip_prefix("Bearer ").ok_or_else(|| {
            ApiError::unauthorized("the Authorization header must be `Bearer <api key>`")
        })?;
        state
            .authenticate(key.trim())
            .map(Authed)
            .ok_or_else(|| ApiError::unauthorized("unknown or disabled API key"))
    }
}

async fn require(
    state: &AppState,
    principal: &Principal,
    allowed: bool,
    action: &str,
    target: &str,
) -> Result<(), ApiError> {
    if allowed {
        return Ok(());
    }
    let detail = format!("a {} may not {action}", principal.role.as_str());
    state
        .audit_denied(Some(principal), action, target, &detail)
        .await;
    Err(ApiError::forbidden(detail))
}

fn parse_json<T: serde::de::DeserializeOwned>(
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

pub fn router(state: SharedState) -> Router {
    let body_limit = state.config.body_bytes_max;
    let in_flight = Arc::new(tokio::sync::Semaphore::new(
        state.config.concurrent_requests_max.max(1),
    ));
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route(
            "/openapi.json",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "application/json")],
                    crate::openapi::OPENAPI_JSON,
                )
            }),
        )
        .route("/v1/events", post(post_event))
        .route("/v1/events:batch", post(post_events_batch))
        .route("/v1/persons", post(register_person))
        .route("/v1/persons:resolve", post(resolve_person))
        .route("/v1/persons/{pid}/status", get(person_status))
        .route("/v1/persons/{pid}/timeline", get(person_timeline))
        .route("/v1/verify/id-card", post(verify_id_card))
        .route("/v1/rule-sets", get(list_rule_sets).post(publish_rule_set))
        .route("/v1/rule-sets:preview", post(preview_rules))
        .route("/v1/rule-sets:diff", get(diff_rule_sets))
        .route("/v1/rule-sets/{version}", get(get_rule_set))
        .route("/v1/profiles", post(publish_profile))
        .route("/v1/audit", get(list_audit))
        .route("/v1/admin/principals", post(create_principal))
        .merge(crate::codes::routes())
        .merge(crate::tracing_service::routes())
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn(move |request, next| {
            shed_over_limit(in_flight.clone(), request, next)
        }))
        .with_state(state)
}

/// Serves a request if fewer than the configured number are in flight, else
/// refuses it at once with 503. `Router::layer` wraps every route on its own,
/// so a tower concurrency layer would limit each route separately; one
/// semaphore shared by all routes limits the node as a whole.
async fn shed_over_limit(
    in_flight: Arc<tokio::sync::Semaphore>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    match in_flight.try_acquire_owned() {
        Ok(_permit) => next.run(request).await,
        Err(_) => {
            ApiError::overloaded("the node is at its concurrent-request limit").into_response()
        }
    }
}

async fn readyz(State(state): State<SharedState>) -> Response {
    // Ready when the store's writer accepts work: probe with its counters.
    let _ = state.store.stats();
    (StatusCode::OK, "ready").into_response()
}

async fn metrics(State(state): State<SharedState>) -> Response {
    let counts = state.projection.color_counts();
    let stats = state.store.stats();
    let metrics = &state.metrics;
    let text = format!(
        "# TYPE ymt_persons gauge\n\
         ymt_persons{{color=\"green\"}} {}\nymt_persons{{color=\"yellow\"}} {}\nymt_persons{{color=\"red\"}} {}\n\
         # TYPE ymt_events_stored_total counter\nymt_events_stored_total {}\n\
         # TYPE ymt_events_duplicate_total counter\nymt_events_duplicate_total {}\n\
         # TYPE ymt_evaluations_total counter\nymt_evaluations_total {}\n\
         # TYPE ymt_timed_transitions_total counter\nymt_timed_transitions_total {}\n\
         # TYPE ymt_status_reads_total counter\nymt_status_reads_total {}\n\
         # TYPE ymt_scheduled_transitions gauge\nymt_scheduled_transitions {}\n\
         # TYPE ymt_store_commits_total counter\nymt_store_commits_total {}\n\
         # TYPE ymt_store_overloaded_total counter\nymt_store_overloaded_total {}\n\
         # TYPE ymt_audit_dropped_reads_total counter\nymt_audit_dropped_reads_total {}\n",
        counts[0],
        counts[1],
        counts[2],
        metrics.events_stored.load(Ordering::Relaxed),
        metrics.events_duplicate.load(Ordering::Relaxed),
        metrics.evaluations.load(Ordering::Relaxed),
        metrics.timed_transitions.load(Ordering::Relaxed),
        metrics.status_reads.load(Ordering::Relaxed),
        state.projection.due_len(),
        stats.commits,
        stats.overloaded,
        metrics.audit_dropped_reads.load(Ordering::Relaxed),
    );
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

async fn post_event(
    State(state): State<SharedState>,
    Authed(principal): Authed,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let submission: Submission = parse_json(body)?;
    let results = state.ingest(&principal, vec![submission]).await?;
    Ok((StatusCode::OK, axum::Json(json!({ "results": results }))).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchBody {
    events: Vec<serde_json::Value>,
}

async fn post_events_batch(
    State(state): State<SharedState>,
    Authed(principal): Authed,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let batch: BatchBody = parse_json(body)?;
    if batch.events.len() > state.config.batch_events_max {
        return Err(ApiError::too_large(format!(
            "a batch holds at most {} events, got {}",
            state.config.batch_events_max,
            batch.events.len()
        )));
    }
    let mut submissions = Vec::with_capacity(batch.events.len());
    let mut errors = Vec::new();
    for (index, value) in batch.events.into_iter().enumerate() {
        match serde_json::from_value::<Submission>(value) {
            Ok(submission) => submissions.push(submission),
            Err(error) => errors.push(crate::problem::ItemError {
                index,
                detail: error.to_string(),
            }),
        }
    }
    if !errors.is_empty() {
        let first = format!("event {}: {}", errors[0].index, errors[0].detail);
        return Err(
            ApiError::unprocessable(format!("refused, nothing stored: {first}"))
                .with_errors(errors),
        );
    }
    let results = state.ingest(&principal, submissions).await?;
    Ok(axum::Json(json!({ "results": results })).into_response())
}

fn parse_pid(text: &str) -> Result<PersonId, ApiError> {
    PersonId::parse(text).map_err(|error| ApiError::bad_request(format!("pid: {error}")))
}

/// The status of a person as the API shows it.
pub fn status_json(state: &AppState, pid: &PersonId) -> Option<serde_json::Value> {
    let (slot, explanation) = state.projection.get(pid)?;
    let color = slot.color();
    let mut body = match explanation {
        Some(explanation) => explanation.served(),
        None => {
            let rules = state.rules.read().expect("rules lock");
            json!({
                "color": color,
                "fired": [],
                "valid_until": slot.valid_until(),
                "rules": rules.national_compiled.in_force(),
            })
        }
    };
    if let Some(object) = body.as_object_mut() {
        object.insert("pid".into(), json!(pid));
        object.insert("label".into(), color_label(color));
        if let Some(fired) = object.remove("fired") {
            object.insert("reasons".into(), fired);
        }
    }
    Some(body)
}

pub fn color_label(color: Color) -> serde_json::Value {
    let en = match color {
        Color::Green => "Green: no restriction",
        Color::Yellow => "Yellow: restricted, see the reasons",
        Color::Red => "Red: quarantine or isolation",
    };
    let zh = match color {
        Color::Green => "绿码：通行",
        Color::Yellow => "黄码：限制通行，见原因",
        Color::Red => "红码：隔离或治疗中",
    };
    json!({"zh-CN": zh, "en": en})
}

async fn person_status(
    State(state): State<SharedState>,
    Authed(principal): Authed,
    Path(pid): Path<String>,
) -> Result<Response, ApiError> {
    require(
        &state,
        &principal,
        principal.role.may_read_status(),
        "read a person's status",
        &pid,
    )
    .await?;
    let pid = parse_pid(&pid)?;
    state.audit_read(&principal, "person.status", pid.as_str())?;
    state.metrics.status_reads.fetch_add(1, Ordering::Relaxed);
    let body = status_json(&state, &pid)
        .ok_or_else(|| ApiError::not_found("no events are recorded for this person"))?;
    Ok(axum::Json(body).into_response())
}

async fn person_timeline(
    State(state): State<SharedState>,
    Authed(principal): Authed,
    Path(pid): Path<String>,
) -> Result<Response, ApiError> {
    require(
        &state,
        &principal,
        principal.role.may_read_timeline(),
        "read a person's timeline",
        &pid,
    )
    .await?;
    let pid = parse_pid(&pid)?;
    let records = state.person_records(&pid)?;
    // A health authority sees persons with at least one event in its
    // jurisdiction; national admins and auditors see everyone.
    let visible = principal.role != Role::HealthAuthority
        || records
            .iter()
            .any(|record| principal.may_act_in(&record.region));
    if !visible || records.is_empty() {
        if !visible {
            state
                .audit_denied(
                    Some(&principal),
                    "person.timeline",
                    pid.as_str(),
                    "outside jurisdiction",
                )
                .await;
        }
        return Err(ApiError::not_found(
            "no person with events in your jurisdiction has this pid",
        ));
    }
    state.audit_read(&principal, "person.timeline", pid.as_str())?;
    let now = state.now();
    let (decision, _) = state.decide(&pid, now)?;
    let record = state.person_record(&pid)?;
    // Designations reach a person through their check-ins, not through an
    // event of their own; they are listed here with author and reason.
    let risk_areas = crate::risk::designations_reaching(&state, &records, now)?;
    let confirmations = crate::confirmations::confirmations_of(&state, &records)?;
    Ok(axum::Json(json!({
        "pid": pid,
        "masked_name": record.map(|r| r.masked_name),
        "decision": decision,
        "events": records,
        "risk_areas": risk_areas,
        "confirmations": confirmations,
    }))
    .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegisterBody {
    id_type: IdType,
    id_number: String,
    display_name: String,
    region: RegionCode,
    #[serde(default = "default_true")]
    has_phone: bool,
    #[serde(default)]
    guardian_of: Vec<PersonId>,
}

fn default_true() -> bool {
    true
}

async fn register_person(
    State(state): State<SharedState>,
    Authed(principal): Authed,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let allowed = matches!(principal.role, Role::HealthAuthority | Role::NationalAdmin);
    require(&state, &principal, allowed, "register persons", "").await?;
    let body: RegisterBody = parse_json(body)?;
    if !principal.may_act_in(&body.region) {
        state
            .audit_denied(
                Some(&principal),
                "person.register",
                body.region.as_str(),
                "outside jurisdiction",
            )
            .await;
        return Err(ApiError::forbidden(format!(
            "region {} is outside your jurisdiction {}",
            body.region, principal.jurisdiction
        )));
    }
    let document = IdDocument::parse(body.id_type, &body.id_number)
        .map_err(|error| ApiError::unprocessable(format!("id_number: {error}")))?;
    let masked_name = MaskedName::mask(&body.display_name)
        .map_err(|error| ApiError::unprocessable(format!("display_name: {error}")))?;
    let pid = state.person_id(&document);
    let record = PersonRecord {
        pid: pid.clone(),
        masked_name,
        id_type: body.id_type,
        region: body.region,
        has_phone: body.has_phone,
        guardian_of: body.guardian_of,
    };
    state.register_person(&record)?;
    state.audit_read(&principal, "person.register", pid.as_str())?;
    Ok(axum::Json(json!({"pid": pid, "masked_name": record.masked_name})).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DocumentBody {
    id_type: IdType,
    id_number: String,
}

async fn resolve_person(
    State(state): State<SharedState>,
    Authed(principal): Authed,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let allowed = matches!(
        principal.role,
        Role::HealthAuthority | Role::NationalAdmin | Role::Lab
    );
    require(
        &state,
        &principal,
        allowed,
        "resolve identity documents",
        "",
    )
    .await?;
    let body: DocumentBody = parse_json(body)?;
    let document = IdDocument::parse(body.id_type, &body.id_number)
        .map_err(|error| ApiError::unprocessable(format!("id_number: {error}")))?;
    let pid = state.person_id(&document);
    state.audit_read(&principal, "person.resolve", pid.as_str())?;
    Ok(axum::Json(json!({"pid": pid})).into_response())
}

/// For people without phones: a verifier device reads the ID card and gets
/// the color and masked name.
async fn verify_id_card(
    State(state): State<SharedState>,
    Authed(principal): Authed,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    require(
        &state,
        &principal,
        principal.role == Role::VerifierDevice,
        "verify ID cards (registered verifier devices only)",
        "",
    )
    .await?;
    let body: DocumentBody = parse_json(body)?;
    let document = IdDocument::parse(body.id_type, &body.id_number)
        .map_err(|error| ApiError::unprocessable(format!("id_number: {error}")))?;
    let pid = state.person_id(&document);
    state.audit_read(&principal, "person.verify_id_card", pid.as_str())?;
    let record = state.person_record(&pid)?;
    let status = status_json(&state, &pid);
    let color = status
        .as_ref()
        .and_then(|status| status.get("color").cloned())
        .unwrap_or(json!("green"));
    let parsed_color = serde_json::from_value::<Color>(color.clone()).unwrap_or(Color::Green);
    Ok(axum::Json(json!({
        "pid": pid,
        "color": color,
        "label": color_label(parsed_color),
        "masked_name": record.as_ref().map(|r| r.masked_name.clone()),
        "known": status.is_some() || record.is_some(),
        "valid_until": status.as_ref().and_then(|s| s.get("valid_until").cloned()),
        "reasons": status.as_ref().and_then(|s| s.get("reasons").cloned()).unwrap_or(json!([])),
        "checked_at": state.now(),
    }))
    .into_response())
}

async fn list_rule_sets(
    State(state): State<SharedState>,
    Authed(_principal): Authed,
) -> Result<Response, ApiError> {
    let rules = state.rules.read().expect("rules lock");
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

async fn get_rule_set(
    State(state): State<SharedState>,
    Authed(_principal): Authed,
    Path(version): Path<String>,
) -> Result<Response, ApiError> {
    let rules = state.rules.read().expect("rules lock");
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
struct DiffQuery {
    from: String,
    to: String,
}

async fn diff_rule_sets(
    State(state): State<SharedState>,
    Authed(_principal): Authed,
    Query(query): Query<DiffQuery>,
) -> Result<Response, ApiError> {
    let rules = state.rules.read().expect("rules lock");
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

/// Rules added, removed and changed, and parameters whose default or bounds
/// changed, between two rule-set documents.
pub fn rule_set_diff(
    from: &ymt_rules::ruleset::RuleSetDocument,
    to: &ymt_rules::ruleset::RuleSetDocument,
) -> serde_json::Value {
    let mut added = Vec::new();
    let mut removed = Vec::new();
    let mut changed = Vec::new();
    for rule in &to.rules {
        match from.rules.iter().find(|old| old.id == rule.id) {
            None => added.push(rule.id.clone()),
            Some(old) if old != rule => changed.push(rule.id.clone()),
            Some(_) => {}
        }
    }
    for rule in &from.rules {
        if !to.rules.iter().any(|new| new.id == rule.id) {
            removed.push(rule.id.clone());
        }
    }
    let mut parameters = Vec::new();
    for (name, spec) in &to.parameters {
        match from.parameters.get(name) {
            None => parameters.push(json!({"name": name, "change": "added", "to": spec})),
            Some(old) if old != spec => {
                parameters.push(json!({"name": name, "change": "changed", "from": old, "to": spec}))
            }
            Some(_) => {}
        }
    }
    for name in from.parameters.keys() {
        if !to.parameters.contains_key(name) {
            parameters.push(json!({"name": name, "change": "removed"}));
        }
    }
    json!({
        "from": from.version.to_string(),
        "to": to.version.to_string(),
        "rules_added": added,
        "rules_removed": removed,
        "rules_changed": changed,
        "parameters": parameters,
    })
}

/// A proposed change: a whole national rule set, or a regional profile.
enum Proposal {
    RuleSet(RuleSet),
    Profile(ParameterProfile),
}

fn parse_proposal(state: &AppState, bytes: &[u8]) -> Result<Proposal, ApiError> {
    let kind = serde_json::from_slice::<serde_json::Value>(bytes)
        .map_err(|error| ApiError::bad_request(format!("malformed JSON: {error}")))?
        .get("kind")
        .and_then(|kind| kind.as_str().map(str::to_owned));
    match kind.as_deref() {
        Some("rule-set") => RuleSet::publish(bytes)
            .map(Proposal::RuleSet)
            .map_err(|error| ApiError::unprocessable(error.to_string())),
        Some("parameter-profile") => {
            let rules = state.rules.read().expect("rules lock");
            rules
                .national
                .check_profile(bytes)
                .map(Proposal::Profile)
                .map_err(|error| ApiError::unprocessable(error.to_string()))
        }
        _ => Err(ApiError::unprocessable(
            "`kind` must be \"rule-set\" or \"parameter-profile\"",
        )),
    }
}

fn impact_of(
    state: &AppState,
    proposal: &Proposal,
) -> Result<ymt_rules::impact::ImpactReport, ApiError> {
    let now = state.now();
    let (current, proposed) = {
        let rules = state.rules.read().expect("rules lock");
        match proposal {
            Proposal::RuleSet(rule_set) => (
                rules.national_compiled.clone(),
                Arc::new(
                    CompiledRules::compile(rule_set, None)
                        .map_err(|e| ApiError::unprocessable(e.to_string()))?,
                ),
            ),
            Proposal::Profile(profile) => (
                rules.compiled_for(Some(&profile.region)),
                Arc::new(
                    CompiledRules::compile(&rules.national, Some(profile))
                        .map_err(|e| ApiError::unprocessable(e.to_string()))?,
                ),
            ),
        }
    };
    let population = state.population_facts(now)?;
    // A profile only governs persons managed in its region; the preview
    // counts everyone under it, an upper bound of its effect.
    Ok(ymt_rules::impact::preview(
        &current,
        &proposed,
        population.iter().map(|(pid, facts)| (pid, facts)),
        now,
    ))
}

async fn preview_rules(
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

async fn publish_rule_set(
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
        let rules = state.rules.read().expect("rules lock");
        if rule_set.id() != rules.national.id() || rule_set.version() <= rules.national.version() {
            return Err(ApiError::conflict(format!(
                "a new version of `{}` must be greater than {}",
                rules.national.id(),
                rules.national.version()
            )));
        }
    }
    let action = crate::breaker::Action::RuleSet(crate::breaker::RulesDocument {
        id: crate::breaker::action_id(&format!("{}-{}", rule_set.id(), rule_set.version())),
        document: String::from_utf8_lossy(&bytes).into_owned(),
    });
    crate::breaker::propose(&state, &principal, action, None).await
}

/// The impact preview of a rule set or profile document, for the breaker.
pub(crate) fn rules_impact(
    state: &AppState,
    document: &[u8],
) -> Result<ymt_rules::impact::ImpactReport, ApiError> {
    let proposal = parse_proposal(state, document)?;
    impact_of(state, &proposal)
}

/// Puts a rule set or profile document into force and re-evaluates
/// everyone; returns how many persons were re-evaluated. Checked again here,
/// since an approval may come long after the proposal.
pub(crate) fn put_rules_into_force(state: &AppState, document: &[u8]) -> Result<usize, ApiError> {
    match parse_proposal(state, document)? {
        Proposal::RuleSet(rule_set) => {
            {
                let rules = state.rules.read().expect("rules lock");
                if rule_set.version() <= rules.national.version() {
                    return Err(ApiError::conflict(format!(
                        "version {} is no longer newer than {} in force",
                        rule_set.version(),
                        rules.national.version()
                    )));
                }
            }
            let compiled = Arc::new(
                CompiledRules::compile(&rule_set, None)
                    .map_err(|e| ApiError::unprocessable(e.to_string()))?,
            );
            state.store.meta_put(
                META_RULE_SETS,
                &rule_set.version().to_string(),
                document.to_vec(),
            )?;
            state.apply_rules_change(|rules| {
                rules.history.push(rule_set.clone());
                rules.national = rule_set;
                rules.national_compiled = compiled;
                Ok(())
            })
        }
        Proposal::Profile(profile) => {
            state
                .store
                .meta_put(META_PROFILES, profile.region.as_str(), document.to_vec())?;
            state.apply_rules_change(|rules| {
                let compiled = Arc::new(
                    CompiledRules::compile(&rules.national, Some(&profile))
                        .map_err(|e| ApiError::unprocessable(e.to_string()))?,
                );
                rules
                    .profiles
                    .insert(profile.region.clone(), (profile, compiled));
                Ok(())
            })
        }
    }
}

async fn publish_profile(
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
    let action = crate::breaker::Action::Profile(crate::breaker::RulesDocument {
        id: crate::breaker::action_id(&format!("{}-{}", profile.id, profile.version)),
        document: String::from_utf8_lossy(&bytes).into_owned(),
    });
    crate::breaker::propose(&state, &principal, action, None).await
}

#[derive(Deserialize)]
struct AuditQuery {
    #[serde(default)]
    principal: Option<String>,
    #[serde(default)]
    limit: Option<usize>,
}

async fn list_audit(
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
struct PrincipalBody {
    id: String,
    role: Role,
    jurisdiction: RegionCode,
    display_name: String,
}

async fn create_principal(
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
    if state
        .principals
        .read()
        .expect("principals lock")
        .get(&body.id)
        .is_some()
    {
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
    state.add_principal(created.clone())?;
    state.audit_read(&principal, "principal.create", &created.id)?;
    Ok((StatusCode::CREATED, axum::Json(json!({"id": created.id, "role": created.role, "jurisdiction": created.jurisdiction, "api_key": key}))).into_response())
}
