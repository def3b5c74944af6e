//! The circuit breaker: an action that would change the color of more than
//! `breaker_persons_max` persons, or that needs national approval (a risk
//! area larger than a community), is held as pending with its impact
//! preview until a national administrator of another party than the
//! proposer approves it (not the proposer, nor a principal of its
//! `created_by` lineage: [`crate::auth::Principals::same_party`]). It takes effect only at approval: its events are then computed,
//! stored and applied. Proposals, approvals and rejections are audited.
//!
//! Covered: risk-area designations (see [`crate::risk`]), bulk overrides
//! (always held when a person has no presence in the proposer's
//! jurisdiction), rule-set and profile publications ([`crate::publication`];
//! a national rule set is always held), automatic tracing that would
//! designate too many persons ([`crate::tracing_service`]), and new national
//! admins and auditors ([`crate::principals`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use ymt_core::{Color, Event, EventBody, PersonId, RegionCode, Timestamp, event::Override};
use ymt_store::{AuditEntry, AuditOutcome};

use crate::auth::{Principal, Role, TRACE_AUTHOR, system_principal};
use crate::error::{ErrorKind, NodeError};
pub use crate::model::Impact;
pub use crate::model::META_PENDING;
use crate::model::derived_event_id;
pub use crate::model::{Applied, HeldAction, PendingAction, PendingStatus, Proposed, action_id};
use crate::record::{Author, Record};
use crate::state::{
    BoxFuture, EventRecord, Node, NodeModule, Subject, Submission, governing_region,
};

/// The kinds of held action the node's own modules put into force.
pub const KIND_RISK_AREA: &str = "risk_area";
pub const KIND_BULK_OVERRIDE: &str = "bulk_override";
pub const KIND_RULE_SET: &str = "rule_set";
pub const KIND_PROFILE: &str = "profile";
pub const KIND_TRACING: &str = "tracing";
/// The held kind of a risk area's lift (`crate::risk_lift`).
pub const KIND_RISK_AREA_LIFT: &str = "risk_area_lift";

/// In a cluster, the kinds of held action whose records go through the
/// stream: those whose effect is itself replicated (a rule set, a profile,
/// a principal, override events, a risk area and its lift, a service's rule
/// set, a key revocation: every node revokes the key in its own key store).
/// Of automatic tracing held by the breaker only the decisions do
/// (`crate::replication_commands`).
pub const HELD_KINDS_THROUGH_STREAM: &[&str] = &[
    KIND_RULE_SET,
    KIND_PROFILE,
    KIND_BULK_OVERRIDE,
    "principal",
    KIND_RISK_AREA,
    KIND_RISK_AREA_LIFT,
    "hospital.rule_set",
    "care_visit.rule_set",
    "key_revocation",
];

/// In a cluster, the held kinds whose approval itself puts them into force
/// on every node, in its own commit where it stands in the stream (a rule
/// set, a profile: `approved_rules_in_order`; a service's rule set, a key
/// revocation: `NodeModule::held_approval_in_order`). The deciding node only checks
/// them first (`NodeModule::held_check_approval`) and applies nothing of
/// its own, so an approval and a rejection sent at once to two nodes are
/// one decision or the other on every node.
pub const HELD_KINDS_APPROVED_IN_STREAM: &[&str] = &[
    KIND_RULE_SET,
    KIND_PROFILE,
    "hospital.rule_set",
    "care_visit.rule_set",
    "key_revocation",
];

/// The old name of a held action, kept for callers.
pub type Action = HeldAction;

pub const BULK_OVERRIDE_PREFIX: &str = "bulk-override";

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
        detail: crate::auth::with_key_id(&detail, principal.key_in_use.as_deref())
            .chars()
            .take(1000)
            .collect(),
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

/// The override events a bulk override stores, computed at the instant it
/// takes effect.
pub fn records_of(state: &Node, request: &BulkOverrideRequest, proposer: &str) -> Vec<EventRecord> {
    let now = state.now();
    request
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
        .collect()
}

/// Puts an action into force through the module that owns its kind.
pub async fn apply(
    state: &Arc<Node>,
    action: &HeldAction,
    proposer: &Principal,
) -> Result<Applied, NodeError> {
    let module = state.module_for_held(&action.kind)?;
    module.held_apply(state, action, proposer).await
}

/// The impact preview of an action, by the module that owns its kind.
fn impact_of_action(
    state: &Node,
    action: &HeldAction,
    proposer: &str,
) -> Result<Impact, NodeError> {
    state
        .module_for_held(&action.kind)?
        .held_impact(state, action, proposer)
}

/// Applies an action at once, or holds it as pending when it needs national
/// approval (`granularity`) or would change more colors than the breaker
/// allows. Answers 200 when applied and 202 when held.
pub async fn propose(
    state: &Arc<Node>,
    principal: &Principal,
    action: HeldAction,
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
                && matches!(action.kind.as_str(), KIND_RULE_SET | KIND_PROFILE) =>
        {
            let reason = format!(
                "impact preview not computed ({}); a second national_admin must approve",
                error.detail
            );
            let held = granularity.into_iter().chain([reason]).collect::<Vec<_>>();
            propose_held(state, principal, action, held, Impact::default()).await
        }
        // A refused proposal (a rule set the rules engine cannot decide
        // with, an action beyond the proposer's rights) is audited as a
        // refusal, like every other refusal of a write.
        Err(error) => {
            state
                .audit_denied(
                    Some(principal),
                    "pending.propose",
                    &action.kind,
                    &error.detail,
                )
                .await;
            Err(error)
        }
    }
}

/// [`propose`] with the impact already computed by the caller.
pub async fn propose_with_impact(
    state: &Arc<Node>,
    principal: &Principal,
    action: HeldAction,
    granularity: Option<String>,
    impact: Impact,
) -> Result<Proposed, NodeError> {
    let mut held_because: Vec<String> = granularity.into_iter().collect();
    // A national rule set changes the logic for everyone, whatever the
    // preview counts today: never one administrator's decision.
    if action.kind == KIND_RULE_SET {
        held_because.push("a national rule set needs a second national_admin".into());
    }
    let limit = state.tracing.config.breaker_persons_max;
    if impact.persons_changing > limit {
        held_because.push(format!(
            "circuit breaker: {} persons would change color, more than {limit}",
            impact.persons_changing
        ));
    }
    let kind = action.kind.clone();
    if held_because.is_empty() {
        let applied = apply(state, &action, principal).await?;
        audit(
            state,
            audit_entry(
                state,
                principal,
                &format!("{kind}.apply"),
                &action.request_id(),
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
pub async fn propose_held(
    state: &Arc<Node>,
    principal: &Principal,
    action: HeldAction,
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
    let detail = pending.held_because.join("; ");
    state.apply(
        &Author::from(principal),
        pending.proposed_at,
        Record::ActionRecorded {
            pending: pending.clone(),
        },
        &detail,
    )?;
    state.module_for_held(&pending.action.kind)?.held_status(
        state,
        &pending.action,
        principal,
        PendingStatus::Pending,
    )?;
    Ok(Proposed::Held(Box::new(pending)))
}

/// Decides a pending action: `approve` puts it into force with its
/// proposer's rights, reject only records the refusal. The decider must be
/// a national administrator other than the proposer; decisions are
/// serialised so an action is never applied twice. Audited durably.
pub async fn decide(
    state: &Arc<Node>,
    principal: &Principal,
    id: &str,
    approve: bool,
) -> Result<PendingAction, NodeError> {
    if principal.role != Role::NationalAdmin {
        let detail = format!(
            "a {} may not decide pending actions; a national_admin must",
            principal.role.as_str()
        );
        state
            .audit_denied(Some(principal), "pending.decide", id, &detail)
            .await;
        return Err(NodeError::forbidden(detail));
    }
    let serial = state.tracing.decisions.lock().await;
    let bytes = state
        .store
        .meta_get(META_PENDING, id)?
        .ok_or_else(|| NodeError::not_found(format!("no pending action {id}")))?;
    let mut pending: PendingAction = serde_json::from_slice(&bytes)
        .map_err(|error| NodeError::internal(format!("stored pending action: {error}")))?;
    if pending.status != PendingStatus::Pending {
        return Err(NodeError::conflict(format!(
            "pending action {id} was already decided ({:?})",
            pending.status
        )));
    }
    // Not the proposer, nor a principal of its party: one it created (and
    // so whose key it was shown), its creator, or one created by the same
    // principal, up the whole lineage (`Principals::same_party`).
    if state
        .principals
        .read()
        .same_party(&pending.proposer, &principal.id)
    {
        let detail = if pending.proposer == principal.id {
            "the proposer cannot decide their own action; a second national_admin must".to_owned()
        } else {
            format!(
                "{} and the proposer {} are one party (one created the other, or both were created by one principal); a second national_admin must decide",
                principal.id, pending.proposer
            )
        };
        state
            .audit_denied(Some(principal), "pending.decide", id, &detail)
            .await;
        return Err(NodeError::forbidden(detail));
    }
    // In a cluster a decision of a kind that goes through the stream is
    // ordered there (a second one is refused there, on every node) and
    // waits for this node's apply loop, which may need this lock itself
    // (retracing replicated events, applying a held tracing's decision):
    // it is let go of here, so that loop never waits for this decision.
    let decided_in_stream = state.replicates()
        && (HELD_KINDS_THROUGH_STREAM.contains(&pending.action.kind.as_str())
            || pending.action.kind == KIND_TRACING);
    let _serial = (!decided_in_stream).then_some(serial);
    // The node's own authors (automatic tracing) are in no principal table.
    let system_proposer =
        (pending.proposer == TRACE_AUTHOR).then(|| system_principal(&pending.proposer));
    let proposer = state
        .principals
        .read()
        .get(&pending.proposer)
        .cloned()
        .or(system_proposer);
    // In a cluster a held tracing's decision is applied by every node from
    // the stream, this one included, and each derives the designations
    // then (`tracing_service::apply_decision_in_order`): none here.
    if approve && decided_in_stream && pending.action.kind == KIND_TRACING {
        // Its counts are known on each node once it applied the decision.
    } else if approve
        && decided_in_stream
        && HELD_KINDS_APPROVED_IN_STREAM.contains(&pending.action.kind.as_str())
    {
        // In a cluster the approval publishes the rule set or profile (a
        // service's rule set too) on every node, in the same commit
        // (`replication_commands.rs`), so an approval and a rejection at
        // once cannot leave it in force beside a rejected action. Checked
        // here as a publication is, first.
        let worker = state.clone();
        let action = pending.action.clone();
        tokio::task::spawn_blocking(move || {
            worker
                .module_for_held(&action.kind)?
                .held_check_approval(&worker, &action)
        })
        .await
        .map_err(|_| NodeError::internal("checking the rules panicked"))??;
    } else if approve {
        let proposer = proposer.ok_or_else(|| {
            NodeError::conflict(format!(
                "the proposer {} no longer exists",
                pending.proposer
            ))
        })?;
        let applied = apply(state, &pending.action, &proposer).await?;
        pending.events_stored = applied.events_stored;
        pending.persons_reached = applied.persons_reached;
    } else {
        let proposer = proposer.unwrap_or_else(|| system_principal(&pending.proposer));
        state.module_for_held(&pending.action.kind)?.held_status(
            state,
            &pending.action,
            &proposer,
            PendingStatus::Rejected,
        )?;
    }
    pending.status = if approve {
        PendingStatus::Approved
    } else {
        PendingStatus::Rejected
    };
    pending.decided_by = Some(principal.id.clone());
    let decided_at = state.now();
    pending.decided_at = Some(decided_at);
    let detail = format!(
        "proposed by {}; {} events stored, {} persons reached; impact {:?}",
        pending.proposer,
        pending.events_stored,
        pending.persons_reached,
        pending.impact.transitions
    );
    state.apply(
        &Author::from(principal),
        decided_at,
        Record::ActionRecorded {
            pending: pending.clone(),
        },
        &detail,
    )?;
    Ok(pending)
}

/// Proposes a bulk override by `principal` (whose role and jurisdiction
/// over `request.region` the caller has checked). Persons with no presence
/// in the principal's jurisdiction (`crate::presence`) are not its own to
/// override: the action is then held for a second, national, principal,
/// however few colors it changes.
pub async fn propose_bulk_override(
    state: &Arc<Node>,
    principal: &Principal,
    request: &BulkOverrideRequest,
) -> Result<Proposed, NodeError> {
    let worker = state.clone();
    let pids = request.pids.clone();
    let reader = principal.clone();
    let absent = tokio::task::spawn_blocking(move || -> Result<usize, NodeError> {
        let mut absent = 0;
        for pid in &pids {
            if !worker.is_present_in(pid, &reader.jurisdiction)? {
                absent += 1;
            }
        }
        Ok(absent)
    })
    .await
    .map_err(|_| NodeError::internal("the presence check panicked"))??;
    let granularity = (absent > 0).then(|| {
        format!(
            "{absent} of the persons have no presence in {}; a second national_admin must approve",
            principal.jurisdiction
        )
    });
    propose(
        state,
        principal,
        HeldAction::new(KIND_BULK_OVERRIDE, request),
        granularity,
    )
    .await
}

/// Bulk overrides as a module of the node: held like any large action, and
/// put into force as override events of their proposer (whose rights the
/// ingest checks again).
pub struct BulkOverrideModule;

impl NodeModule for BulkOverrideModule {
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn name(&self) -> &'static str {
        "bulk-overrides"
    }

    fn namespaces(&self) -> &'static [&'static str] {
        &[META_PENDING]
    }

    fn held_kinds(&self) -> &'static [&'static str] {
        &[KIND_BULK_OVERRIDE]
    }

    fn held_impact(
        &self,
        node: &Node,
        action: &HeldAction,
        proposer: &str,
    ) -> Result<Impact, NodeError> {
        let request: BulkOverrideRequest = action.request_as()?;
        impact_of(node, &records_of(node, &request, proposer))
    }

    fn held_apply<'a>(
        &'a self,
        node: &'a Arc<Node>,
        action: &'a HeldAction,
        proposer: &'a Principal,
    ) -> BoxFuture<'a, Result<Applied, NodeError>> {
        Box::pin(async move {
            let request: BulkOverrideRequest = action.request_as()?;
            let worker = node.clone();
            let proposer_id = proposer.id.clone();
            let records =
                tokio::task::spawn_blocking(move || records_of(&worker, &request, &proposer_id))
                    .await
                    .map_err(|_| NodeError::internal("computing the action panicked"))?;
            let submissions: Vec<Submission> = records.iter().map(submission_of).collect();
            let count = submissions.len();
            if count > 0 {
                node.ingest_in_chunks(proposer, submissions).await?;
            }
            Ok(Applied {
                events_stored: count,
                persons_reached: records
                    .iter()
                    .map(|record| &record.event.person)
                    .collect::<std::collections::BTreeSet<_>>()
                    .len(),
            })
        })
    }
}
