//! Signed health codes served by the node, citizen sign-in, appeals, and the
//! console's dashboard chart.
//!
//! On start the node opens (or creates) its key store under `DATA/keys`,
//! builds a [`CodeIssuer`] with the signing key and signs a trust list with
//! the store's trust-list signer. Citizens sign in through a pluggable
//! [`Authenticator`]; the demo one accepts a single fixed one-time code that
//! `yimatong serve --demo` prints (a real deployment plugs in SMS or the
//! national identity app). A session is a random 256-bit id in an HttpOnly,
//! SameSite=Strict cookie, kept server-side with an expiry.

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::json;
use ymt_core::identity::{IdDocument, IdType};
use ymt_core::{Color, PersonId, Timestamp};
use ymt_store::{AuditEntry, AuditOutcome};
use ymt_token::{CodeIssuer, CodeRequest, KeyStore, SignedTrustList, TrustList};

use crate::api::{SharedState, color_label, status_json};
use crate::auth::{Principal, Role};
use crate::problem::ApiError;
use crate::state::AppState;

/// The issuer named in this node's codes and trust list.
pub const CODE_ISSUER_ID: &str = "ymt:cn";
/// Signed codes kept in the issuer's cache.
pub const CODE_CACHE_ENTRIES_MAX: usize = 100_000;
/// How long a citizen session lasts.
pub const SESSION_TTL_SECS: i64 = 8 * 3600;
/// Sessions kept at once; past this the oldest is dropped.
pub const SESSIONS_MAX: usize = 100_000;
/// Hourly color samples kept for the dashboard (two weeks).
pub const COLOR_HISTORY_HOURS_MAX: usize = 14 * 24;
/// Characters of an appeal's text or a resolution note.
pub const APPEAL_TEXT_CHARS_MAX: usize = 2000;
/// Appeals listed at once.
pub const APPEALS_LIST_MAX: usize = 500;
/// Check-ins and tests shown to a citizen.
pub const RECENT_EVENTS_MAX: usize = 10;
pub const META_APPEALS: &str = "appeals";
pub const SESSION_COOKIE: &str = "ymt_session";

/// Checks a citizen's one-time code. Implementations: the demo's fixed code;
/// in production an SMS or identity-app challenge.
pub trait Authenticator: Send + Sync {
    fn check(&self, pid: &PersonId, one_time_code: &str) -> bool;
}

/// Demo sign-in: one fixed code for everybody, printed at start. Never for
/// production: anyone who knows an ID number and the code signs in.
pub struct DemoFixedCode {
    pub code: String,
}

impl Authenticator for DemoFixedCode {
    fn check(&self, _pid: &PersonId, one_time_code: &str) -> bool {
        // Constant-time comparison is unnecessary for a published code.
        !self.code.is_empty() && one_time_code.trim() == self.code
    }
}

#[derive(Clone)]
struct Session {
    pid: PersonId,
    expires_at: Timestamp,
}

/// The node's code-serving state.
pub struct Codes {
    pub issuer: CodeIssuer,
    pub trust_list: TrustList,
    pub signed_trust_list_json: String,
    authenticator: RwLock<Option<Arc<dyn Authenticator>>>,
    sessions: Mutex<(HashMap<String, Session>, VecDeque<String>)>,
    color_history: Mutex<VecDeque<(i64, [i64; 3])>>,
}

impl Codes {
    /// Opens `data_dir/keys`, creating a signing key on first start.
    pub fn open(data_dir: &Path, now: Timestamp) -> anyhow::Result<Codes> {
        let mut rng = ymt_token::rand_core::OsRng;
        let mut store = KeyStore::open(data_dir.join("keys"))?;
        if store.signing_kid().is_none() {
            store.generate(ymt_token::DEFAULT_ALGORITHM, CODE_ISSUER_ID, now, &mut rng)?;
        }
        let key = store.signing_key()?;
        let ttl = store.max_token_ttl_secs();
        let signed: SignedTrustList = store.export_trust_list(now, Vec::new(), &mut rng)?;
        let trust_list = signed.verify_with_embedded_signer()?;
        Ok(Codes {
            issuer: CodeIssuer::new(CODE_ISSUER_ID, key, ttl, CODE_CACHE_ENTRIES_MAX),
            trust_list,
            signed_trust_list_json: signed.to_json_pretty(),
            authenticator: RwLock::new(None),
            sessions: Mutex::new((HashMap::new(), VecDeque::new())),
            color_history: Mutex::new(VecDeque::new()),
        })
    }

    /// Enables citizen sign-in with the given authenticator.
    pub fn set_authenticator(&self, authenticator: Arc<dyn Authenticator>) {
        *self.authenticator.write().expect("authenticator lock") = Some(authenticator);
    }

    fn new_session(&self, pid: PersonId, now: Timestamp) -> Result<String, ApiError> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|_| ApiError::internal("no randomness"))?;
        let id = hex::encode(bytes);
        let mut guard = self.sessions.lock().expect("sessions lock");
        let (map, order) = &mut *guard;
        map.insert(
            id.clone(),
            Session {
                pid,
                expires_at: now.plus_secs(SESSION_TTL_SECS),
            },
        );
        order.push_back(id.clone());
        while map.len() > SESSIONS_MAX {
            let Some(oldest) = order.pop_front() else {
                break;
            };
            map.remove(&oldest);
        }
        Ok(id)
    }

    fn session(&self, headers: &HeaderMap, now: Timestamp) -> Option<PersonId> {
        let id = session_cookie(headers)?;
        let guard = self.sessions.lock().expect("sessions lock");
        let session = guard.0.get(&id)?;
        (session.expires_at > now).then(|| session.pid.clone())
    }

    fn end_session(&self, headers: &HeaderMap) {
        if let Some(id) = session_cookie(headers) {
            self.sessions.lock().expect("sessions lock").0.remove(&id);
        }
    }

    /// Records the color counts of the current hour (the latest sample of an
    /// hour wins) in a bounded ring.
    pub fn sample_colors(&self, now: Timestamp, counts: [i64; 3]) {
        let hour = now.unix_secs().div_euclid(3600) * 3600;
        let mut history = self.color_history.lock().expect("history lock");
        match history.back_mut() {
            Some((last, sample)) if *last == hour => *sample = counts,
            _ => history.push_back((hour, counts)),
        }
        while history.len() > COLOR_HISTORY_HOURS_MAX {
            history.pop_front();
        }
    }

    pub fn color_history(&self) -> Vec<(i64, [i64; 3])> {
        self.color_history
            .lock()
            .expect("history lock")
            .iter()
            .copied()
            .collect()
    }
}

fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.to_owned())
        .filter(|value| value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit()))
}

pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/v1/persons/{pid}/code", get(person_code))
        .route("/v1/trust-list", get(trust_list))
        .route("/v1/verify/token", post(verify_token))
        .route(
            "/v1/session",
            get(get_session).post(sign_in).delete(sign_out),
        )
        .route("/v1/appeals", get(list_appeals).post(file_appeal))
        .route("/v1/appeals/{id}/resolve", post(resolve_appeal))
        .route("/v1/dashboard/colors.svg", get(colors_svg))
        .merge(crate::pages::routes())
}

/// An optional API-key principal: the header is absent for citizens.
fn bearer_principal(state: &AppState, headers: &HeaderMap) -> Result<Option<Principal>, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
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
        .map(Some)
        .ok_or_else(|| ApiError::unauthorized("unknown or disabled API key"))
}

fn parse_body<T: serde::de::DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
) -> Result<T, ApiError> {
    let bytes = body.map_err(|_| ApiError::too_large("the body is too large"))?;
    serde_json::from_slice(&bytes).map_err(|error| {
        if error.is_data() {
            ApiError::unprocessable(format!("invalid content: {error}"))
        } else {
            ApiError::bad_request(format!("malformed JSON: {error}"))
        }
    })
}

async fn audit_durable(state: &AppState, entry: AuditEntry) -> Result<(), ApiError> {
    let receiver = state.store.audit_submit(vec![entry])?;
    receiver
        .await
        .map_err(|_| ApiError::internal("the audit writer stopped"))?
        .map_err(ApiError::from)?;
    Ok(())
}

fn citizen_audit(
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

/// Who asks for a code: the person, their guardian, or an authority.
async fn authorize_person(
    state: &AppState,
    headers: &HeaderMap,
    pid: &PersonId,
    action: &str,
) -> Result<String, ApiError> {
    let now = state.now();
    if let Some(principal) = bearer_principal(state, headers)? {
        let allowed = matches!(principal.role, Role::HealthAuthority | Role::NationalAdmin);
        let in_jurisdiction = principal.role == Role::NationalAdmin
            || state
                .person_record(pid)?
                .is_some_and(|record| principal.may_act_in(&record.region))
            || state
                .person_records(pid)?
                .iter()
                .any(|record| principal.may_act_in(&record.region));
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
    let me = state
        .codes
        .session(headers, now)
        .ok_or_else(|| ApiError::unauthorized("sign in first"))?;
    if &me == pid {
        return Ok(format!("citizen:{me}"));
    }
    let guardian = state
        .person_record(&me)?
        .is_some_and(|record| record.guardian_of.contains(pid));
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

#[derive(Serialize)]
struct CodeBody {
    pid: PersonId,
    token: String,
    svg: String,
    png: String,
    issued_at: Timestamp,
    expires_at: Timestamp,
    color: Color,
    label: serde_json::Value,
    masked_name: String,
    valid_until: Option<Timestamp>,
    reasons: serde_json::Value,
    recent: Vec<serde_json::Value>,
}

async fn person_code(
    State(state): State<SharedState>,
    headers: HeaderMap,
    UrlPath(pid): UrlPath<String>,
) -> Result<Response, ApiError> {
    let pid =
        PersonId::parse(&pid).map_err(|error| ApiError::bad_request(format!("pid: {error}")))?;
    authorize_person(&state, &headers, &pid, "person.code").await?;
    let now = state.now();
    state
        .codes
        .sample_colors(now, state.projection.color_counts());
    let record = state.person_record(&pid)?;
    let status = status_json(&state, &pid);
    if record.is_none() && status.is_none() {
        return Err(ApiError::not_found("no person with this pid is known"));
    }
    let (color, valid_until) = match state.projection.get(&pid) {
        Some((slot, _)) => (slot.color(), slot.valid_until()),
        None => (Color::Green, None),
    };
    let masked_name = record
        .as_ref()
        .map(|record| record.masked_name.to_string())
        .unwrap_or_else(|| "*".into());
    let rule_set_version = state
        .rules
        .read()
        .expect("rules lock")
        .national
        .version()
        .to_string();
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
    };
    Ok(axum::Json(body).into_response())
}

/// The person's latest tests and check-ins, newest first.
fn recent_events(state: &AppState, pid: &PersonId) -> Result<Vec<serde_json::Value>, ApiError> {
    let mut records = state.person_records(pid)?;
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
            }
            value
        })
        .collect())
}

async fn trust_list(State(state): State<SharedState>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        state.codes.signed_trust_list_json.clone(),
    )
        .into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenBody {
    token: String,
}

async fn verify_token(
    State(state): State<SharedState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body: TokenBody = parse_body(body)?;
    let report = ymt_token::verify(&body.token, &state.codes.trust_list, state.now());
    Ok(axum::Json(report).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignInBody {
    id_type: IdType,
    id_number: String,
    code: String,
}

fn person_summary(state: &AppState, pid: &PersonId) -> Result<serde_json::Value, ApiError> {
    let record = state.person_record(pid)?;
    let dependents: Vec<_> = record
        .as_ref()
        .map(|record| record.guardian_of.clone())
        .unwrap_or_default()
        .into_iter()
        .map(|dependent| {
            let masked = state
                .person_record(&dependent)
                .ok()
                .flatten()
                .map(|record| record.masked_name.to_string());
            json!({"pid": dependent, "masked_name": masked})
        })
        .collect();
    Ok(json!({
        "signed_in": true,
        "pid": pid,
        "masked_name": record.map(|record| record.masked_name.to_string()),
        "dependents": dependents,
    }))
}

async fn sign_in(
    State(state): State<SharedState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body: SignInBody = parse_body(body)?;
    let authenticator = state
        .codes
        .authenticator
        .read()
        .expect("authenticator lock")
        .clone()
        .ok_or_else(|| {
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
    let known = state.person_record(&pid)?.is_some() || state.projection.get(&pid).is_some();
    if !known || !authenticator.check(&pid, &body.code) {
        let mut entry = citizen_audit(&pid, "citizen.sign_in", pid.as_str(), "refused", now);
        entry.outcome = AuditOutcome::Denied;
        audit_durable(&state, entry).await?;
        return Err(ApiError::unauthorized(
            "the ID number or the one-time code is not right",
        ));
    }
    audit_durable(
        &state,
        citizen_audit(&pid, "citizen.sign_in", pid.as_str(), "", now),
    )
    .await?;
    let session = state.codes.new_session(pid.clone(), now)?;
    let cookie = format!(
        "{SESSION_COOKIE}={session}; Path=/; HttpOnly; SameSite=Strict; Max-Age={SESSION_TTL_SECS}"
    );
    let summary = person_summary(&state, &pid)?;
    Ok(([(header::SET_COOKIE, cookie)], axum::Json(summary)).into_response())
}

async fn get_session(
    State(state): State<SharedState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    // Signed out is an ordinary answer here, not an error: the page asks on
    // every load.
    let Some(pid) = state.codes.session(&headers, state.now()) else {
        return Ok(axum::Json(json!({"signed_in": false})).into_response());
    };
    let mut summary = person_summary(&state, &pid)?;
    summary["signed_in"] = json!(true);
    Ok(axum::Json(summary).into_response())
}

async fn sign_out(State(state): State<SharedState>, headers: HeaderMap) -> Response {
    state.codes.end_session(&headers);
    let cookie = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    ([(header::SET_COOKIE, cookie)], StatusCode::NO_CONTENT).into_response()
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Appeal {
    pub id: String,
    pub pid: PersonId,
    pub region: Option<ymt_core::RegionCode>,
    pub filed_by: String,
    pub filed_at: Timestamp,
    pub text: String,
    pub color_at_filing: Color,
    pub resolved: Option<Resolution>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Resolution {
    pub by: String,
    pub at: Timestamp,
    pub note: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AppealBody {
    pid: PersonId,
    text: String,
}

async fn file_appeal(
    State(state): State<SharedState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body: AppealBody = parse_body(body)?;
    if body.text.trim().is_empty() || body.text.chars().count() > APPEAL_TEXT_CHARS_MAX {
        return Err(ApiError::unprocessable(format!(
            "text: 1 to {APPEAL_TEXT_CHARS_MAX} characters"
        )));
    }
    let filed_by = authorize_person(&state, &headers, &body.pid, "appeal.file").await?;
    let now = state.now();
    let mut id_bytes = [0u8; 8];
    getrandom::fill(&mut id_bytes).map_err(|_| ApiError::internal("no randomness"))?;
    let id = format!("ap-{}-{}", now.unix_secs(), hex::encode(id_bytes));
    let color = state
        .projection
        .get(&body.pid)
        .map(|(slot, _)| slot.color())
        .unwrap_or(Color::Green);
    // The appeal goes to the authority of the person's registration, else of
    // the authority managing them, else of where their latest event happened,
    // so an authority that can act on the person can also resolve the appeal.
    let region = state
        .person_record(&body.pid)?
        .map(|record| record.region)
        .or_else(|| {
            let records = state.person_records(&body.pid).unwrap_or_default();
            crate::state::governing_region(&records).or_else(|| {
                records
                    .iter()
                    .max_by(|a, b| {
                        (a.event.recorded_at, &a.event.id).cmp(&(b.event.recorded_at, &b.event.id))
                    })
                    .map(|record| record.region.clone())
            })
        });
    let appeal = Appeal {
        id: id.clone(),
        pid: body.pid.clone(),
        region,
        filed_by: filed_by.clone(),
        filed_at: now,
        text: body.text.trim().to_owned(),
        color_at_filing: color,
        resolved: None,
    };
    state.store.meta_put(
        META_APPEALS,
        &id,
        serde_json::to_vec(&appeal).expect("appeals serialise"),
    )?;
    let mut entry = citizen_audit(&body.pid, "appeal.file", &id, "", now);
    entry.principal = filed_by;
    audit_durable(&state, entry).await?;
    Ok((StatusCode::CREATED, axum::Json(appeal)).into_response())
}

/// The authority handling appeals; a refusal is audited.
async fn require_authority<'a>(
    state: &AppState,
    principal: &'a Option<Principal>,
    action: &str,
    target: &str,
) -> Result<&'a Principal, ApiError> {
    let principal = principal.as_ref().ok_or_else(|| {
        ApiError::unauthorized("an Authorization: Bearer <api key> header is required")
    })?;
    if !matches!(principal.role, Role::HealthAuthority | Role::NationalAdmin) {
        let detail = format!("a {} may not handle appeals", principal.role.as_str());
        state
            .audit_denied(Some(principal), action, target, &detail)
            .await;
        return Err(ApiError::forbidden(detail));
    }
    Ok(principal)
}

fn appeal_visible(principal: &Principal, appeal: &Appeal) -> bool {
    principal.role == Role::NationalAdmin
        || appeal
            .region
            .as_ref()
            .is_some_and(|region| principal.may_act_in(region))
}

async fn list_appeals(
    State(state): State<SharedState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let principal = bearer_principal(&state, &headers)?;
    let principal = require_authority(&state, &principal, "appeal.list", "").await?;
    let mut appeals: Vec<Appeal> = state
        .store
        .meta_list(META_APPEALS)?
        .into_iter()
        .filter_map(|(_, bytes)| serde_json::from_slice::<Appeal>(&bytes).ok())
        .filter(|appeal| appeal_visible(principal, appeal))
        .collect();
    appeals.sort_by(|a, b| {
        (a.resolved.is_some(), std::cmp::Reverse(a.filed_at))
            .cmp(&(b.resolved.is_some(), std::cmp::Reverse(b.filed_at)))
    });
    appeals.truncate(APPEALS_LIST_MAX);
    state.audit_read(principal, "appeal.list", "")?;
    Ok(axum::Json(json!({"appeals": appeals})).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResolveBody {
    note: String,
}

async fn resolve_appeal(
    State(state): State<SharedState>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let principal = bearer_principal(&state, &headers)?;
    let principal = require_authority(&state, &principal, "appeal.resolve", &id)
        .await?
        .clone();
    let body: ResolveBody = parse_body(body)?;
    if body.note.trim().is_empty() || body.note.chars().count() > APPEAL_TEXT_CHARS_MAX {
        return Err(ApiError::unprocessable(format!(
            "note: 1 to {APPEAL_TEXT_CHARS_MAX} characters"
        )));
    }
    if id.len() > 64 {
        return Err(ApiError::bad_request("appeal id too long"));
    }
    let not_found = || ApiError::not_found("no appeal with this id in your jurisdiction");
    let mut appeal: Appeal = state
        .store
        .meta_get(META_APPEALS, &id)?
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(not_found)?;
    if !appeal_visible(&principal, &appeal) {
        // Answered like an unknown id, but audited as the refusal it is.
        state
            .audit_denied(
                Some(&principal),
                "appeal.resolve",
                &id,
                "outside jurisdiction",
            )
            .await;
        return Err(not_found());
    }
    if appeal.resolved.is_some() {
        return Err(ApiError::conflict("this appeal is already resolved"));
    }
    let now = state.now();
    appeal.resolved = Some(Resolution {
        by: principal.id.clone(),
        at: now,
        note: body.note.trim().to_owned(),
    });
    state.store.meta_put(
        META_APPEALS,
        &id,
        serde_json::to_vec(&appeal).expect("appeals serialise"),
    )?;
    audit_durable(
        &state,
        AuditEntry {
            at: now,
            principal: principal.id.clone(),
            role: principal.role.as_str().into(),
            action: "appeal.resolve".into(),
            target: id,
            outcome: AuditOutcome::Allowed,
            detail: body.note.chars().take(1000).collect(),
        },
    )
    .await?;
    Ok(axum::Json(appeal).into_response())
}

async fn colors_svg(
    State(state): State<SharedState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let principal = bearer_principal(&state, &headers)?;
    let principal = principal
        .as_ref()
        .ok_or_else(|| ApiError::unauthorized("an API key is required"))?;
    if !matches!(
        principal.role,
        Role::HealthAuthority | Role::NationalAdmin | Role::Auditor
    ) {
        let detail = format!("a {} may not read the dashboard", principal.role.as_str());
        state
            .audit_denied(Some(principal), "dashboard.colors", "", &detail)
            .await;
        return Err(ApiError::forbidden(detail));
    }
    let now = state.now();
    let national_counts = state.projection.color_counts();
    state.codes.sample_colors(now, national_counts);
    // A health authority sees the persons registered in its jurisdiction
    // only; the hourly history is node-wide, so it is shown to national
    // roles alone.
    let (counts, history) = if principal.role == Role::HealthAuthority {
        let worker = state.clone();
        let principal = principal.clone();
        let counts = tokio::task::spawn_blocking(move || jurisdiction_counts(&worker, &principal))
            .await
            .map_err(|_| ApiError::internal("counting panicked"))??;
        (counts, Vec::new())
    } else {
        (national_counts, state.codes.color_history())
    };
    let colors = crate::pages::colors_chart_svg(counts, &history);
    // National roles also see node-wide activity: check-ins per hour and
    // contacts traced per case, nested under the color chart.
    let svg = if principal.role == Role::HealthAuthority {
        colors
    } else {
        let worker = state.clone();
        let (hours, cases) = tokio::task::spawn_blocking(move || {
            let hours = crate::dashboard::checkins_per_hour(&worker, now);
            let cases = crate::dashboard::contacts_per_case(&worker, 10)?;
            Ok::<_, ApiError>((hours, cases))
        })
        .await
        .map_err(|_| ApiError::internal("dashboard panicked"))??;
        let inner = colors.replacen("<svg ", r#"<svg x="0" y="0" width="640" height="220" "#, 1);
        format!(
            r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 640 620" role="img" aria-label="dashboard"><title>dashboard</title>{inner}{panels}</svg>"#,
            panels = crate::dashboard::activity_panels_svg(&hours, &cases, 220.0)
        )
    };
    Ok(([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response())
}

/// Persons registered in the principal's jurisdiction, by current color.
fn jurisdiction_counts(state: &AppState, principal: &Principal) -> Result<[i64; 3], ApiError> {
    let mut counts = [0i64; 3];
    for (_, bytes) in state.store.meta_list(crate::state::META_PERSONS)? {
        let Ok(record) = serde_json::from_slice::<crate::state::PersonRecord>(&bytes) else {
            continue;
        };
        if !principal.may_act_in(&record.region) {
            continue;
        }
        let color = state
            .projection
            .get(&record.pid)
            .map(|(slot, _)| slot.color())
            .unwrap_or(Color::Green);
        counts[color as usize] += 1;
    }
    Ok(counts)
}
