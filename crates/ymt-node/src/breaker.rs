//! The circuit breaker: an action that would change the color of more than
//! `breaker_persons_max` persons, or that needs national approval (a risk
//! area larger than a community), is held as pending with its impact
//! preview until a national administrator other than the proposer approves
//! it. It takes effect only at approval: its events are then computed,
//! stored and applied. Proposals, approvals and rejections are audited.
//!
//! Covered: risk-area designations (see [`crate::risk`]), bulk overrides,
//! rule-set and profile publications ([`crate::publication`]) and automatic
//! tracing that would designate too many persons ([`crate::tracing_service`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use ymt_core::{
    Color, Event, EventBody, EventId, PersonId, RegionCode, Timestamp, event::Override,
};
use ymt_store::{AuditEntry, AuditOutcome};

use crate::auth::Principal;
use crate::error::{ErrorKind, NodeError};
use crate::risk::RiskAreaRequest;
use crate::state::{EventRecord, Node, Subject, Submission, governing_region};
use crate::tracing_service::{derived_event_id, ingest_as};

pub const META_PENDING: &str = "pending";
pub const BULK_OVERRIDE_PREFIX: &str = "bulk-override";

/// An action that changes colors in bulk.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", content = "request", rename_all = "snake_case")]
pub enum Action {
    RiskArea(RiskAreaRequest),
    BulkOverride(BulkOverrideRequest),
    /// A new national rule set, as published.
    RuleSet(RulesDocument),
    /// A regional parameter profile, as published.
    Profile(RulesDocument),
    /// Automatic tracing of one positive result that would designate more
    /// persons than the breaker allows.
    Tracing(TracingRequest),
}

/// Held automatic tracing: the positive result to trace on approval.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TracingRequest {
    pub test: EventId,
    pub case: PersonId,
}

/// A rule set or profile document held for approval, kept as its text.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RulesDocument {
    /// `<id>-<version>`.
    pub id: String,
    pub document: String,
}

/// An id usable in a pending action's path: letters, digits, `.`, `_` and
/// `-` kept, anything else replaced by `_`, at most 100 characters.
pub fn action_id(text: &str) -> String {
    text.chars()
        .take(100)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

impl Action {
    /// The kind's name, as in pending ids and audit actions.
    pub fn kind(&self) -> &'static str {
        match self {
            Action::RiskArea(_) => "risk_area",
            Action::BulkOverride(_) => "bulk_override",
            Action::RuleSet(_) => "rule_set",
            Action::Profile(_) => "profile",
            Action::Tracing(_) => "tracing",
        }
    }

    /// The id the action is held under while pending: `<kind>.<request id>`.
    pub fn pending_id(&self) -> String {
        format!("{}.{}", self.kind(), self.request_id())
    }

    pub fn request_id(&self) -> &str {
        match self {
            Action::RiskArea(request) => request.id.as_str(),
            Action::BulkOverride(request) => &request.id,
            Action::RuleSet(document) | Action::Profile(document) => &document.id,
            Action::Tracing(request) => request.test.as_str(),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct BulkOverrideRequest {
    /// The request's id; each person's override gets an id derived from it.
    #[cfg_attr(feature = "openapi", schema(pattern = "^[A-Za-z0-9_-]{1,64}$"))]
    pub id: String,
    #[cfg_attr(feature = "openapi", schema(min_items = 1))]
    pub pids: Vec<PersonId>,
    /// The region of the acting authority's decision.
    pub region: RegionCode,
    #[cfg_attr(feature = "openapi", schema(value_type = ymt_core::openapi::RaisedColor))]
    pub color: Color,
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 500, pattern = "\\S")
    )]
    pub reason: String,
    pub from: Timestamp,
    pub until: Timestamp,
}

/// How many persons an action reaches and how their colors would change.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Impact {
    pub persons_reached: usize,
    pub persons_changing: usize,
    /// Counts per transition, e.g. `"green->yellow": 12`.
    pub transitions: BTreeMap<String, usize>,
}

impl Impact {
    /// Counts one reached person whose color would go from `before` to
    /// `after` (nothing when it stays).
    pub fn record(&mut self, before: Color, after: Color) {
        if before != after {
            self.persons_changing += 1;
            *self
                .transitions
                .entry(format!("{}->{}", before.as_str(), after.as_str()))
                .or_default() += 1;
        }
    }

    /// Adds another count of the same action to this one.
    pub fn merge(&mut self, other: Impact) {
        self.persons_reached += other.persons_reached;
        self.persons_changing += other.persons_changing;
        for (transition, count) in other.transitions {
            *self.transitions.entry(transition).or_default() += count;
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PendingStatus {
    Pending,
    Approved,
    Rejected,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PendingAction {
    pub id: String,
    pub action: Action,
    pub proposer: String,
    pub proposed_at: Timestamp,
    /// Why the action was held (granularity, breaker).
    pub held_because: Vec<String>,
    pub impact: Impact,
    pub status: PendingStatus,
    #[serde(default)]
    pub decided_by: Option<String>,
    #[serde(default)]
    pub decided_at: Option<Timestamp>,
    /// Events stored when it took effect (bulk overrides).
    #[serde(default)]
    pub events_stored: usize,
    /// Persons a designation reached when it took effect.
    #[serde(default)]
    pub persons_reached: usize,
}

/// What became of a proposed action.
#[derive(Clone, Debug)]
pub enum Proposed {
    /// Applied at once.
    Applied { applied: Applied, impact: Impact },
    /// Held for a second authority's approval.
    Held(Box<PendingAction>),
}

/// What putting an action into force did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Applied {
    pub events_stored: usize,
    pub persons_reached: usize,
}

/// The submission that stores a record as is (its author comes from the
/// principal that ingests it).
pub fn submission_of(record: &EventRecord) -> Submission {
    let mut value = serde_json::to_value(&record.event.body).expect("event bodies serialise");
    let data = value
        .get_mut("data")
        .map(serde_json::Value::take)
        .unwrap_or(serde_json::Value::Null);
    Submission {
        id: record.event.id.clone(),
        subject: Subject::Pid {
            pid: record.event.person.clone(),
        },
        region: record.region.clone(),
        kind: record.event.kind(),
        data,
    }
}

/// Evaluates every reached person with and without the new records.
pub fn impact_of(state: &Node, records: &[EventRecord]) -> Result<Impact, NodeError> {
    let now = state.now();
    let mut by_person: BTreeMap<&PersonId, Vec<&EventRecord>> = BTreeMap::new();
    for record in records {
        by_person
            .entry(&record.event.person)
            .or_default()
            .push(record);
    }
    let mut impact = Impact {
        persons_reached: by_person.len(),
        ..Impact::default()
    };
    for (pid, extra) in by_person {
        let before = state
            .projection
            .get(pid)
            .map(|(slot, _)| slot.color())
            .unwrap_or(Color::Green);
        let mut timeline = state.person_records(pid)?;
        timeline.extend(extra.into_iter().cloned());
        let rules = state
            .rules
            .read()
            .compiled_for(governing_region(&timeline).as_ref());
        let facts = state.facts_of(&timeline, now, None);
        let after = rules
            .evaluate(&facts, now)
            .map_err(|error| NodeError::internal(format!("evaluation failed: {error}")))?
            .color;
        impact.record(before, after);
    }
    Ok(impact)
}

pub fn audit_entry(
    state: &Node,
    principal: &Principal,
    action: &str,
    target: &str,
    detail: String,
) -> AuditEntry {
    AuditEntry {
        at: state.now(),
        principal: principal.id.clone(),
        role: principal.role.as_str().into(),
        action: action.into(),
        target: target.chars().take(200).collect(),
        outcome: AuditOutcome::Allowed,
        detail: detail.chars().take(1000).collect(),
    }
}

pub async fn audit(state: &Node, entry: AuditEntry) -> Result<(), NodeError> {
    state
        .store
        .audit_submit(vec![entry])?
        .await
        .map_err(|_| NodeError::internal("the store stopped"))??;
    Ok(())
}

/// The events an action stores, computed at the instant it takes effect.
pub fn records_of(
    state: &Node,
    action: &Action,
    proposer: &str,
) -> Result<Vec<EventRecord>, NodeError> {
    match action {
        // A designation stores no events per person (see risk.rs), nor
        // does a change of rules.
        Action::RiskArea(_) | Action::RuleSet(_) | Action::Profile(_) | Action::Tracing(_) => {
            Ok(Vec::new())
        }
        Action::BulkOverride(request) => {
            let now = state.now();
            Ok(request
                .pids
                .iter()
                .map(|pid| EventRecord {
                    region: request.region.clone(),
                    event: Event {
                        id: derived_event_id(BULK_OVERRIDE_PREFIX, &[&request.id, pid.as_str()]),
                        person: pid.clone(),
                        recorded_at: now,
                        author: proposer.into(),
                        body: EventBody::Override(Override {
                            color: request.color,
                            reason: request.reason.clone(),
                            from: request.from,
                            until: request.until,
                        }),
                    },
                })
                .collect())
        }
    }
}

/// Puts an action into force: a designation through [`crate::risk::take_effect`]
/// (one durable record, statuses updated in memory), overrides as events of
/// their proposer (whose rights are checked again by the ingest). Returns how
/// many persons a designation reached, or how many events were stored.
pub async fn apply(
    state: &Arc<Node>,
    action: &Action,
    proposer: &Principal,
) -> Result<Applied, NodeError> {
    match action {
        Action::RiskArea(request) => {
            let outcome = crate::risk::take_effect(state, request, proposer).await?;
            return Ok(Applied {
                events_stored: 0,
                persons_reached: outcome.impact.persons_reached,
            });
        }
        Action::RuleSet(document) | Action::Profile(document) => {
            let worker = state.clone();
            let bytes = document.document.clone().into_bytes();
            let reevaluated = tokio::task::spawn_blocking(move || {
                crate::publication::put_rules_into_force(&worker, &bytes)
            })
            .await
            .map_err(|_| NodeError::internal("putting the rules into force panicked"))??;
            state.schedule_changed.notify_one();
            return Ok(Applied {
                events_stored: 0,
                persons_reached: reevaluated,
            });
        }
        Action::Tracing(request) => {
            let stored = crate::tracing_service::apply_held_tracing(state, request).await?;
            return Ok(Applied {
                events_stored: stored,
                persons_reached: stored,
            });
        }
        Action::BulkOverride(_) => {}
    }
    let worker = state.clone();
    let action_for_worker = action.clone();
    let proposer_id = proposer.id.clone();
    let records =
        tokio::task::spawn_blocking(move || records_of(&worker, &action_for_worker, &proposer_id))
            .await
            .map_err(|_| NodeError::internal("computing the action panicked"))??;
    let submissions: Vec<Submission> = records.iter().map(submission_of).collect();
    let count = submissions.len();
    if count > 0 {
        ingest_as(state, proposer, submissions).await?;
    }
    Ok(Applied {
        events_stored: count,
        persons_reached: records
            .iter()
            .map(|record| &record.event.person)
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
    })
}

/// The impact preview of an action.
fn impact_of_action(state: &Node, action: &Action, proposer: &str) -> Result<Impact, NodeError> {
    match action {
        Action::RiskArea(request) => Ok(crate::risk::impact_of_request(state, request)?.impact),
        Action::BulkOverride(_) => impact_of(state, &records_of(state, action, proposer)?),
        Action::Tracing(request) => {
            let records = state.person_records(&request.case)?;
            let test_record = records
                .into_iter()
                .find(|record| record.event.id == request.test)
                .ok_or_else(|| NodeError::conflict("the positive result is no longer stored"))?;
            Ok(crate::tracing_service::plan_tracing(state, &test_record).impact(state))
        }
        Action::RuleSet(document) | Action::Profile(document) => {
            let report = crate::publication::rules_impact(state, document.document.as_bytes())?;
            Ok(Impact {
                persons_reached: report.persons_total as usize,
                persons_changing: report.persons_changed as usize,
                transitions: report
                    .transitions
                    .into_iter()
                    .map(|(transition, count)| (transition.replace('→', "->"), count as usize))
                    .collect(),
            })
        }
    }
}

/// Applies an action at once, or holds it as pending when it needs national
/// approval (`granularity`) or would change more colors than the breaker
/// allows. Answers 200 when applied and 202 when held.
pub async fn propose(
    state: &Arc<Node>,
    principal: &Principal,
    action: Action,
    granularity: Option<String>,
) -> Result<Proposed, NodeError> {
    let worker = state.clone();
    let action_for_worker = action.clone();
    let proposer_id = principal.id.clone();
    let impact = tokio::task::spawn_blocking(move || {
        impact_of_action(&worker, &action_for_worker, &proposer_id)
    })
    .await
    .map_err(|_| NodeError::internal("the impact preview panicked"))?;
    match impact {
        Ok(impact) => propose_with_impact(state, principal, action, granularity, impact).await,
        // A rules change on a node too large to preview is not refused, nor
        // applied blind: it waits for a second administrator, saying why.
        Err(error)
            if error.kind == ErrorKind::TooLarge
                && matches!(action, Action::RuleSet(_) | Action::Profile(_)) =>
        {
            let reason = format!(
                "impact preview not computed ({}); a second national_admin must approve",
                error.detail
            );
            let held = granularity.into_iter().chain([reason]).collect::<Vec<_>>();
            propose_held(state, principal, action, held, Impact::default()).await
        }
        Err(error) => Err(error),
    }
}

/// [`propose`] with the impact already computed by the caller.
pub async fn propose_with_impact(
    state: &Arc<Node>,
    principal: &Principal,
    action: Action,
    granularity: Option<String>,
    impact: Impact,
) -> Result<Proposed, NodeError> {
    let mut held_because: Vec<String> = granularity.into_iter().collect();
    let limit = state.tracing.config.breaker_persons_max;
    if impact.persons_changing > limit {
        held_because.push(format!(
            "circuit breaker: {} persons would change color, more than {limit}",
            impact.persons_changing
        ));
    }
    let kind = action.kind();
    if held_because.is_empty() {
        let applied = apply(state, &action, principal).await?;
        audit(
            state,
            audit_entry(
                state,
                principal,
                &format!("{kind}.apply"),
                action.request_id(),
                format!(
                    "{} events, {} persons reached; impact {:?}",
                    applied.events_stored, applied.persons_reached, impact.transitions
                ),
            ),
        )
        .await?;
        return Ok(Proposed::Applied { applied, impact });
    }
    propose_held(state, principal, action, held_because, impact).await
}

/// Holds an action as pending, for the reasons given.
async fn propose_held(
    state: &Arc<Node>,
    principal: &Principal,
    action: Action,
    held_because: Vec<String>,
    impact: Impact,
) -> Result<Proposed, NodeError> {
    let id = action.pending_id();
    if state.store.meta_get(META_PENDING, &id)?.is_some() {
        return Err(NodeError::conflict(format!("pending action {id} exists")));
    }
    let pending = PendingAction {
        id: id.clone(),
        action,
        proposer: principal.id.clone(),
        proposed_at: state.now(),
        held_because,
        impact,
        status: PendingStatus::Pending,
        decided_by: None,
        decided_at: None,
        events_stored: 0,
        persons_reached: 0,
    };
    state.store.meta_put(
        META_PENDING,
        &id,
        serde_json::to_vec(&pending).expect("pending actions serialise"),
    )?;
    if let Action::RiskArea(request) = &pending.action {
        crate::risk::record_designation(state, request, principal, "pending")?;
    }
    audit(
        state,
        audit_entry(
            state,
            principal,
            "pending.propose",
            &id,
            pending.held_because.join("; "),
        ),
    )
    .await?;
    Ok(Proposed::Held(Box::new(pending)))
}
