//! Check-ins into the tracing index, automatic tracing of positive PCR
//! results, the retraction cascade, and check-in retention.
//!
//! - Every stored check-in is also appended to the in-memory
//!   [`TraceIndex`] (about 16 bytes per check-in); on start the index is
//!   rebuilt from the check-in events of the store.
//! - A positive PCR result of person `p` traces every stay of `p` from 4
//!   days before sampling to the instant it was recorded (isolation): an
//!   indoor overlap of at least `close_contact_min_overlap_minutes` makes a
//!   close contact, any other overlap of at least `min_overlap_minutes` a
//!   companion, and persons who overlapped a close contact in the 2 days
//!   before become secondary contacts (`tracing_plan.rs`). The designations
//!   are ingested like any event (store, audit, re-evaluation) with author
//!   `auto-trace`, before the lab's request is answered.
//! - What tracing designates is a function of the events, not of their
//!   order: after every batch, [`retrace`] reconciles each positive the
//!   batch can change (a late check-in of the case, of a contact or of
//!   anyone overlapping them; a retraction; a retried positive), storing
//!   the designations missing and withdrawing those no longer supported.
//! - Which designations a test caused is kept in meta `traced-from/<test>`,
//!   so retracting the positive result retracts all of them.
//! - Check-ins whose stay ended before the retention window are purged from
//!   the store and the index hourly and at start, each purge audited.
//!
//! The look-back windows and the overlap thresholds (indoor and outdoor) are
//! parameters of the published rule set (`tracing…` in cn-national.json),
//! so they are versioned, bounded and regionally profiled like the rules:
//! tracing a case uses the rules governing the region of its test result
//! ([`TracingParameters`]). Operational limits stay node configuration.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use ymt_core::event::{TestKind, TestOutcome};
use ymt_core::{EventBody, EventId, EventKind, PersonId, Timestamp, VenueId};
use ymt_store::AppendOutcome;
use ymt_trace::Stay;

use crate::auth::Principal;
pub use crate::auth::{TRACE_AUTHOR, system_principal};
use crate::breaker::{KIND_TRACING, META_PENDING};
pub use crate::checkins::TracingState;
pub use crate::config::TracingConfig;
use crate::error::NodeError;
use crate::ingest::DeferredReevaluation;
pub use crate::model::META_TRACED_FROM;
pub use crate::model::TracedDesignation;
pub use crate::model::derived_event_id;
use crate::model::{Applied, HeldAction, Impact, PendingAction, PendingStatus, pending_id_of};
use crate::record::{Author, Record};
pub use crate::retention::{RetentionReport, purge_expired, spawn_retention};
use crate::state::{BoxFuture, EventRecord, ModuleSnapshot, Node, NodeModule, Subject, Submission};
pub use crate::tracing_plan::{
    FoundContact, RULE_TRACE_CLOSE, RULE_TRACE_COMPANION, RULE_TRACE_SECONDARY, TracingParameters,
    TracingPlan, find_contacts, plan_tracing, plan_tracing_as,
};
use crate::tracing_reach::{
    overlapping_concerned_persons, overlapping_retracted_stay, overlapping_stays_in_index, reached,
};
use crate::venues::{META_NODE_KEYS, META_VENUES};

/// Refuses a check-in at an unknown venue, or one the index cannot hold.
/// Called for every submitted event before anything is stored.
pub fn check_record(state: &Node, record: &EventRecord) -> Result<(), String> {
    let EventBody::CheckIn(check_in) = &record.event.body else {
        return Ok(());
    };
    if state.tracing.venue(&check_in.venue).is_none() {
        return Err(format!(
            "data.venue: venue {} is not registered (POST /v1/venues)",
            check_in.venue
        ));
    }
    state
        .tracing
        .policy
        .resolve(
            check_in.entered_at.unix_secs(),
            check_in.left_at.map(Timestamp::unix_secs),
        )
        .map_err(|error| format!("data: {error}"))?;
    Ok(())
}

/// Runs right after a batch is durable, under the ingest gate: indexes its
/// new check-ins and withdraws the check-ins it retracts, so a snapshot
/// taken afterwards finds the index up to date with the log.
pub fn after_store(
    state: &Node,
    records: &[EventRecord],
    outcomes: &[AppendOutcome],
) -> Result<(), NodeError> {
    let fresh = || {
        records
            .iter()
            .zip(outcomes)
            .filter(|(_, outcome)| !outcome.duplicate)
            .map(|(record, _)| record)
    };
    state.tracing.index_records(fresh());
    for record in fresh() {
        if let EventBody::Retraction(retraction) = &record.event.body {
            state
                .tracing
                .retract_check_in(state.store.as_ref(), &retraction.target)?;
        }
    }
    Ok(())
}

/// Runs after a batch is stored and applied: traces again every positive
/// PCR result the batch can change (a new positive, a retried one, a
/// retraction, a check-in of a case, of a contact or of anyone who
/// overlapped them), so what tracing designates is a function of the
/// events, whatever order they arrived in.
pub async fn after_ingest(
    state: &Arc<Node>,
    records: &[EventRecord],
    outcomes: &[AppendOutcome],
) -> Result<(), NodeError> {
    let concerned = concerned_tests(state, records, outcomes)?;
    if concerned.is_empty() {
        return Ok(());
    }
    // One tracing at a time (and none while a pending action is decided):
    // each reads the index and the recorded designations, then writes.
    let _serial = state.tracing.decisions.lock().await;
    // Everyone the batch's tracings designate or withdraw is decided once,
    // after the last of them (ingest.rs, `DeferredReevaluation`), also
    // when one fails.
    let deferred = DeferredReevaluation::default();
    let mut traced = Ok(());
    for (test, again) in concerned {
        traced = retrace_deferring(state, &test, again, false, &deferred)
            .await
            .map(|_| ());
        if traced.is_err() {
            break;
        }
    }
    let reevaluated = deferred.reevaluate(state).await;
    traced.and(reevaluated)
}

/// The positive results a batch can change the tracing of, each with
/// whether to store all its designations again (a lab's retry of a
/// positive whose tracing a crash may have cut short).
fn concerned_tests(
    state: &Node,
    records: &[EventRecord],
    outcomes: &[AppendOutcome],
) -> Result<BTreeMap<EventId, bool>, NodeError> {
    let mut concerned: BTreeMap<EventId, bool> = BTreeMap::new();
    let mut stays: Vec<(PersonId, VenueId, Timestamp, Option<Timestamp>, bool)> = Vec::new();
    for (record, outcome) in records.iter().zip(outcomes) {
        // The node's own designations and their withdrawals change no one's
        // tracing (and are stored while a tracing holds the lock).
        if record.event.author == TRACE_AUTHOR {
            continue;
        }
        if is_positive_pcr(record) {
            let again = concerned.entry(record.event.id.clone()).or_insert(false);
            *again |= outcome.duplicate;
            continue;
        }
        if outcome.duplicate {
            continue;
        }
        match &record.event.body {
            EventBody::CheckIn(check_in) => stays.push((
                record.event.person.clone(),
                check_in.venue.clone(),
                check_in.entered_at,
                check_in.left_at,
                false,
            )),
            EventBody::Retraction(retraction) => {
                if state.tracing.traced.lock().contains(&retraction.target) {
                    concerned.entry(retraction.target.clone()).or_insert(false);
                } else if let Some(stored) = state.store.event_by_id(&retraction.target)?
                    && let Ok(target) = serde_json::from_slice::<EventRecord>(&stored.payload)
                {
                    match &target.event.body {
                        EventBody::CheckIn(check_in) => stays.push((
                            target.event.person.clone(),
                            check_in.venue.clone(),
                            check_in.entered_at,
                            check_in.left_at,
                            true,
                        )),
                        _ if is_positive_pcr(&target) => {
                            concerned.entry(target.event.id.clone()).or_insert(false);
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    if stays.is_empty() {
        return Ok(concerned);
    }
    let traced = state.tracing.traced.lock();
    if traced.is_empty() {
        return Ok(concerned);
    }
    let index = state.tracing.index.read();
    // Each person a new stay reaches, with the earliest instant a stay
    // reaching them was entered: a tracing whose horizon is before it
    // cannot change (`TracingPlan::horizon`).
    let mut persons: BTreeMap<PersonId, Timestamp> = BTreeMap::new();
    // Whose check-in was retracted: every tracing designating them too (a
    // designation's id carries the retracted check-ins it rests on).
    let mut retracting: BTreeMap<PersonId, Timestamp> = BTreeMap::new();
    let mut stays_in_index: Vec<(PersonId, VenueId, Stay, Timestamp)> = Vec::new();
    for (person, venue, entered_at, left_at, retracted) in stays {
        if retracted {
            reached(&mut retracting, person.clone(), entered_at);
        }
        let Ok(stay) = state
            .tracing
            .policy
            .resolve(entered_at.unix_secs(), left_at.map(Timestamp::unix_secs))
        else {
            continue;
        };
        if retracted {
            overlapping_retracted_stay(&index, &venue, stay, entered_at, &mut persons);
        } else {
            stays_in_index.push((person.clone(), venue, stay, entered_at));
        }
        reached(&mut persons, person, entered_at);
    }
    // Only the persons a tracing can be concerned through matter among
    // those a stay reaches; when they are fewer than the stays, their stays
    // are compared with the batch's instead of tracing every stay.
    if let Some(entered_from) = stays_in_index.iter().map(|stay| stay.3).min() {
        let concerned_persons = traced.persons_concerned_from(entered_from);
        if concerned_persons.len() <= stays_in_index.len() {
            overlapping_concerned_persons(
                &index,
                &concerned_persons,
                &stays_in_index,
                &mut persons,
            );
        } else {
            overlapping_stays_in_index(&index, stays_in_index, &mut persons);
        }
    }
    for (person, entered_at) in &persons {
        for test in traced.concerning(person, *entered_at) {
            concerned.entry(test.clone()).or_insert(false);
        }
    }
    for (person, entered_at) in &retracting {
        for test in traced.concerning_retracted(person, *entered_at) {
            concerned.entry(test.clone()).or_insert(false);
        }
    }
    Ok(concerned)
}

fn is_positive_pcr(record: &EventRecord) -> bool {
    matches!(&record.event.body, EventBody::TestResult(test)
        if test.test == TestKind::Pcr && test.result == TestOutcome::Positive)
}

/// What the tracing of one positive result should designate now, from the
/// events alone: nothing when it is retracted, held or rejected; its plan
/// when it is within the breaker's limit or approved.
enum Intended {
    Nothing,
    /// Over the breaker's limit, its proposal already made.
    Withheld(TracingPlan),
    Held(TracingPlan),
    Designate(TracingPlan),
}

/// Brings the designations of one positive PCR result in line with what
/// the events, the check-ins indexed and the rules in force give: stores
/// the designations it lacks, withdraws (retracts) those it no longer
/// supports, and holds the tracing for a second administrator when it
/// would designate more persons than the breaker allows. Whatever order
/// the events came in, the designations in force at the end are the same,
/// with the same ids. `again`: store every designation again (ids are
/// derived, so none is stored twice). `approving`: the held tracing is
/// being approved. The caller holds `tracing.decisions`. Returns how many
/// designations are in force, and for how many persons.
pub async fn retrace(
    state: &Arc<Node>,
    test: &EventId,
    again: bool,
    approving: bool,
) -> Result<(usize, usize), NodeError> {
    let deferred = DeferredReevaluation::default();
    let traced = retrace_deferring(state, test, again, approving, &deferred).await;
    let reevaluated = deferred.reevaluate(state).await;
    reevaluated.and(traced)
}

/// [`retrace`], adding the persons its designations and withdrawals reach
/// to `deferred` instead of re-evaluating them: the caller re-evaluates
/// them, also when this fails.
async fn retrace_deferring(
    state: &Arc<Node>,
    test: &EventId,
    again: bool,
    approving: bool,
    deferred: &DeferredReevaluation,
) -> Result<(usize, usize), NodeError> {
    let Some(stored) = state.store.event_by_id(test)? else {
        return Ok((0, 0));
    };
    let test_record: EventRecord = serde_json::from_slice(&stored.payload)
        .map_err(|error| NodeError::internal(format!("stored event {test}: {error}")))?;
    if !is_positive_pcr(&test_record) {
        return Ok((0, 0));
    }
    let case = test_record.event.person.clone();
    let retracted = crate::state::is_retracted(&state.person_records(&case)?, test);
    let (recorded, recorded_close_contacts) =
        match state.store.meta_get(META_TRACED_FROM, test.as_str())? {
            Some(bytes) => {
                let (traced, designations) = crate::model::parse_traced_from(&bytes)
                    .map_err(|error| NodeError::internal(format!("traced-from/{test}: {error}")))?;
                (
                    Some(designations),
                    traced
                        .map(|traced| traced.close_contacts)
                        .unwrap_or_default(),
                )
            }
            None => (None, Vec::new()),
        };
    if retracted && recorded.is_none() {
        state.tracing.traced.lock().remove(test);
        return Ok((0, 0));
    }
    let held = if approving {
        Some(PendingStatus::Approved)
    } else {
        match state
            .store
            .meta_get(META_PENDING, &pending_id_of(KIND_TRACING, test.as_str()))?
        {
            Some(bytes) => Some(
                serde_json::from_slice::<PendingAction>(&bytes)
                    .map_err(|error| {
                        NodeError::internal(format!("stored pending action: {error}"))
                    })?
                    .status,
            ),
            None => None,
        }
    };
    let intended = if retracted {
        Intended::Nothing
    } else {
        match held {
            Some(PendingStatus::Approved) => {
                Intended::Designate(plan(state, &test_record, true).await?)
            }
            held => {
                let plan = plan(state, &test_record, false).await?;
                // The breaker counts persons designated, not colors that
                // would change today: check-ins only add to it, so whether
                // a tracing is held does not depend on what arrived first.
                // Once held, it stays withheld until a second
                // administrator decides (a designation withdrawn is never
                // stored again under its id).
                if held.is_some() {
                    Intended::Withheld(plan)
                } else if plan.len() > state.tracing.config.breaker_persons_max {
                    Intended::Held(plan)
                } else {
                    Intended::Designate(plan)
                }
            }
        }
    };
    let principal = system_principal(TRACE_AUTHOR);
    let (close_contacts, horizon): (Vec<PersonId>, Option<Timestamp>) = match &intended {
        Intended::Nothing => (Vec::new(), None),
        Intended::Designate(plan) | Intended::Held(plan) | Intended::Withheld(plan) => {
            (plan.close_contacts(), Some(plan.horizon))
        }
    };
    let (submissions, intended_designations) = match intended {
        Intended::Nothing | Intended::Withheld(_) => (Vec::new(), Vec::new()),
        Intended::Designate(plan) => (plan.submissions, plan.traced),
        Intended::Held(plan) => {
            let limit = state.tracing.config.breaker_persons_max;
            let reason = format!(
                "circuit breaker: tracing {test} would designate {} persons, more than {limit}",
                plan.len()
            );
            // The impact reads the colors served now: those of persons an
            // earlier tracing of the batch designated are brought up to
            // date first.
            deferred.reevaluate(state).await?;
            let impact = plan.impact(state);
            let request = TracingRequest {
                test: test.clone(),
                case: case.clone(),
            };
            crate::breaker::propose_held(
                state,
                &principal,
                HeldAction::new(KIND_TRACING, &request),
                vec![reason],
                impact,
            )
            .await?;
            (Vec::new(), Vec::new())
        }
    };
    let had_record = recorded.is_some();
    let recorded = recorded.unwrap_or_default();
    let recorded_ids: std::collections::HashSet<&EventId> =
        recorded.iter().map(|designation| &designation.id).collect();
    let intended_ids: std::collections::HashSet<&EventId> = intended_designations
        .iter()
        .map(|designation| &designation.id)
        .collect();
    let to_store: Vec<Submission> = submissions
        .into_iter()
        .filter(|submission| again || !recorded_ids.contains(submission.id()))
        .map(crate::tracing_plan::PlannedSubmission::into_submission)
        .collect();
    let to_withdraw: Vec<&TracedDesignation> = recorded
        .iter()
        .filter(|designation| !intended_ids.contains(&designation.id))
        .collect();
    // A case is recorded even before it designates anyone, so a check-in
    // arriving later (also after a restart) finds it.
    let changed = !had_record
        || retracted
        || !to_store.is_empty()
        || !to_withdraw.is_empty()
        || recorded_close_contacts != close_contacts;
    let author = Author::from(&principal);
    // Derived from the positive: its tracing is recorded at the instant the
    // positive was, on every node.
    let traced_at = test_record.event.recorded_at;
    if changed {
        // Recorded first, with every designation that may be stored, so one
        // stored before a crash is still found and withdrawn when it must be.
        let mut union = recorded.clone();
        union.extend(
            intended_designations
                .iter()
                .filter(|designation| !recorded_ids.contains(&designation.id))
                .cloned(),
        );
        if !retracted {
            state.apply(
                &author,
                traced_at,
                Record::TracingRecorded {
                    test: test.clone(),
                    case: case.clone(),
                    designations: union.clone(),
                    close_contacts: close_contacts.clone(),
                },
                &format!("case {case}"),
            )?;
        }
        if !to_store.is_empty() {
            state
                .ingest_in_chunks_deferring(&principal, to_store, Some(deferred))
                .await?;
        }
        if !to_withdraw.is_empty() {
            let withdrawals = to_withdraw
                .iter()
                .map(|designation| withdrawal(test, designation))
                .collect();
            state
                .ingest_in_chunks_deferring(&principal, withdrawals, Some(deferred))
                .await?;
        }
        if retracted {
            state.apply(
                &author,
                traced_at,
                Record::TracingWithdrawn { test: test.clone() },
                &format!("the positive result {test} was retracted"),
            )?;
            state.tracing.traced.lock().remove(test);
            return Ok((0, 0));
        }
        if union.len() != intended_designations.len() {
            state.apply(
                &author,
                traced_at,
                Record::TracingRecorded {
                    test: test.clone(),
                    case: case.clone(),
                    designations: intended_designations.clone(),
                    close_contacts: close_contacts.clone(),
                },
                &format!("case {case}"),
            )?;
        }
    }
    let persons: std::collections::HashSet<&PersonId> = intended_designations
        .iter()
        .map(|designation| &designation.pid)
        .collect();
    let count = (intended_designations.len(), persons.len());
    let contacts = persons.into_iter().cloned().collect();
    state
        .tracing
        .traced
        .lock()
        .insert(test.clone(), case, close_contacts, contacts, horizon);
    Ok(count)
}

async fn plan(
    state: &Arc<Node>,
    test_record: &EventRecord,
    approved: bool,
) -> Result<TracingPlan, NodeError> {
    state
        .metrics
        .tracings_planned
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let worker = state.clone();
    let record = test_record.clone();
    tokio::task::spawn_blocking(move || plan_tracing_as(&worker, &record, approved))
        .await
        .map_err(|_| NodeError::internal("tracing panicked"))
}

/// The retraction that withdraws a designation. Its id and content depend
/// on the designation alone: whichever change withdrew it (its positive
/// retracted, a check-in retracted or outdone by a longer overlap, the
/// tracing held), it is the same event on every node.
fn withdrawal(test: &EventId, designation: &TracedDesignation) -> Submission {
    Submission {
        id: derived_event_id("auto-trace.r", &[designation.id.as_str()]),
        subject: Subject::Pid {
            pid: designation.pid.clone(),
        },
        region: designation.region.clone(),
        kind: EventKind::Retraction,
        data: serde_json::json!({
            "target": designation.id,
            "reason": format!(
                "withdrawn by automatic tracing: the tracing of {test} no longer designates it (its positive result was retracted, a check-in was retracted or outdone, or the tracing is held)"
            ),
        }),
    }
}

/// Puts held tracing into force on approval: traces the positive result
/// again against the index as it is now. Refused when the result has been
/// retracted meanwhile. Returns how many designations are in force, and
/// for how many persons. The caller (the decision) holds
/// `tracing.decisions`.
pub async fn apply_held_tracing(
    state: &Arc<Node>,
    request: &TracingRequest,
) -> Result<(usize, usize), NodeError> {
    let records = state.person_records(&request.case)?;
    if !records.iter().any(|record| record.event.id == request.test) {
        return Err(NodeError::conflict(format!(
            "the positive result {} is no longer stored",
            request.test
        )));
    }
    if crate::state::is_retracted(&records, &request.test) {
        return Err(NodeError::conflict(format!(
            "the positive result {} was retracted; nothing to trace",
            request.test
        )));
    }
    retrace(state, &request.test, false, true).await
}

/// In a cluster, a decision on a held tracing applied from the stream
/// (every node, the deciding one included): the tracing is derived again
/// with the decision stored, so approved it designates and rejected it
/// stays withheld; a node that has not derived the proposal yet (its
/// events still on their way) follows the decision when it does. The
/// caller holds `tracing.decisions`.
pub(crate) async fn apply_decision_in_order(
    state: &Arc<Node>,
    pending: &PendingAction,
) -> Result<(), NodeError> {
    let request: TracingRequest = pending.action.request_as()?;
    retrace(state, &request.test, false, false).await?;
    Ok(())
}

/// Held automatic tracing: the positive result to trace on approval.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TracingRequest {
    pub test: EventId,
    pub case: PersonId,
}

/// Check-ins and automatic tracing as a module of the node: loads venues and
/// the check-in index, refuses check-ins at unknown venues, indexes and
/// traces what each batch stores, and purges expired check-ins.
pub struct TracingModule;

impl NodeModule for TracingModule {
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn name(&self) -> &'static str {
        "tracing"
    }

    fn namespaces(&self) -> &'static [&'static str] {
        &[META_VENUES, META_NODE_KEYS, META_TRACED_FROM]
    }

    fn load(&self, node: &Node, snapshot: Option<ModuleSnapshot<'_>>) -> anyhow::Result<()> {
        node.tracing.load(
            node.store.as_ref(),
            snapshot.map(|snapshot| (snapshot.upto_seq, snapshot.bytes)),
            |record| node.note_retractions([record]),
        )
    }

    fn after_store(
        &self,
        node: &Node,
        records: &[EventRecord],
        outcomes: &[AppendOutcome],
    ) -> Result<(), NodeError> {
        after_store(node, records, outcomes)
    }

    fn snapshot_capture(&self, node: &Node) -> Option<Vec<u8>> {
        Some(node.tracing.index.read().to_snapshot_bytes())
    }

    fn check_record(&self, node: &Node, record: &EventRecord) -> Result<(), String> {
        check_record(node, record)
    }

    fn after_ingest<'a>(
        &'a self,
        node: &'a Arc<Node>,
        records: &'a [EventRecord],
        outcomes: &'a [AppendOutcome],
    ) -> BoxFuture<'a, Result<(), NodeError>> {
        Box::pin(after_ingest(node, records, outcomes))
    }

    fn spawn(&self, node: &Arc<Node>) {
        spawn_retention(node);
    }

    fn held_kinds(&self) -> &'static [&'static str] {
        &[KIND_TRACING]
    }

    fn held_impact(
        &self,
        node: &Node,
        action: &HeldAction,
        _proposer: &str,
    ) -> Result<Impact, NodeError> {
        let request: TracingRequest = action.request_as()?;
        let test_record = node
            .person_records(&request.case)?
            .into_iter()
            .find(|record| record.event.id == request.test)
            .ok_or_else(|| NodeError::conflict("the positive result is no longer stored"))?;
        Ok(plan_tracing(node, &test_record).impact(node))
    }

    fn held_apply<'a>(
        &'a self,
        node: &'a Arc<Node>,
        action: &'a HeldAction,
        _proposer: &'a Principal,
    ) -> BoxFuture<'a, Result<Applied, NodeError>> {
        Box::pin(async move {
            let request: TracingRequest = action.request_as()?;
            let (designations, persons) = apply_held_tracing(node, &request).await?;
            Ok(Applied {
                events_stored: designations,
                persons_reached: persons,
            })
        })
    }
}
