//! Check-ins into the tracing index, automatic tracing of positive PCR
//! results, the retraction cascade, and check-in retention.
//!
//! - Every stored check-in is also appended to the in-memory
//!   [`TraceIndex`] (about 16 bytes per check-in); on start the index is
//!   rebuilt from the check-in events of the store.
//! - A stored positive PCR result of person `p` traces every stay of `p`
//!   from 4 days before sampling to the report instant (isolation): an
//!   indoor overlap of at least `close_contact_min_overlap_minutes` makes a
//!   close contact, any other overlap of at least `min_overlap_minutes` a
//!   companion, and persons who overlapped a new close contact indoors in
//!   the 2 days before designation become secondary contacts. The
//!   designations are ingested like any event (store, audit, re-evaluation)
//!   with author `auto-trace`, before the lab's request is answered.
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

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use ymt_core::event::{ContactKind, TestKind, TestOutcome};
use ymt_core::{Color, EventBody, EventId, EventKind, PersonId, RegionCode, Timestamp, VenueId};
use ymt_store::AppendOutcome;
use ymt_trace::{Positive, TraceIndex, TraceQuery};

use crate::auth::Principal;
pub use crate::auth::{TRACE_AUTHOR, system_principal};
use crate::breaker::KIND_TRACING;
pub use crate::checkins::TracingState;
pub use crate::config::TracingConfig;
use crate::error::NodeError;
pub use crate::model::META_TRACED_FROM;
pub use crate::model::TracedDesignation;
pub use crate::model::derived_event_id;
use crate::model::{Applied, HeldAction, Impact, pending_id_of};
use crate::record::{Author, Record};
pub use crate::retention::{RetentionReport, purge_expired, spawn_retention};
use crate::state::{BoxFuture, EventRecord, ModuleSnapshot, Node, NodeModule, Subject, Submission};
use crate::venues::{META_NODE_KEYS, META_VENUES};

pub const RULE_TRACE_CLOSE: &str = "TRACE-CLOSE-01";
pub const RULE_TRACE_COMPANION: &str = "TRACE-COMPANION-01";
pub const RULE_TRACE_SECONDARY: &str = "TRACE-SECONDARY-01";

/// What automatic tracing takes from the rule set in force.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TracingParameters {
    pub lookback_days: i64,
    pub companion_min_overlap_secs: u32,
    pub close_indoor_min_overlap_secs: u32,
    pub close_outdoor_min_overlap_secs: u32,
    pub secondary_lookback_days: i64,
}

impl TracingParameters {
    /// The national defaults, for a rule set published before these
    /// parameters existed.
    pub const NATIONAL_DEFAULTS: TracingParameters = TracingParameters {
        lookback_days: 4,
        companion_min_overlap_secs: 15 * 60,
        close_indoor_min_overlap_secs: 30 * 60,
        close_outdoor_min_overlap_secs: 240 * 60,
        secondary_lookback_days: 2,
    };

    pub fn of(rules: &ymt_rules::CompiledRules) -> TracingParameters {
        let defaults = TracingParameters::NATIONAL_DEFAULTS;
        let parameters = rules.parameters();
        let minutes = |name: &str, default_secs: u32| {
            parameters
                .get(name)
                .map(|&minutes| (minutes.clamp(1, 7 * 1440) * 60) as u32)
                .unwrap_or(default_secs)
        };
        let days = |name: &str, default_days: i64| {
            parameters
                .get(name)
                .map(|&days| days.clamp(0, 30))
                .unwrap_or(default_days)
        };
        TracingParameters {
            lookback_days: days("tracingLookbackDays", defaults.lookback_days),
            companion_min_overlap_secs: minutes(
                "tracingCompanionMinOverlapMinutes",
                defaults.companion_min_overlap_secs,
            ),
            close_indoor_min_overlap_secs: minutes(
                "tracingCloseContactIndoorMinOverlapMinutes",
                defaults.close_indoor_min_overlap_secs,
            ),
            close_outdoor_min_overlap_secs: minutes(
                "tracingCloseContactOutdoorMinOverlapMinutes",
                defaults.close_outdoor_min_overlap_secs,
            ),
            secondary_lookback_days: days(
                "tracingSecondaryLookbackDays",
                defaults.secondary_lookback_days,
            ),
        }
    }

    /// The contact an overlap makes, if any.
    fn kind_of(&self, indoor: bool, overlap_secs: u32) -> Option<ContactKind> {
        let close_secs = if indoor {
            self.close_indoor_min_overlap_secs
        } else {
            self.close_outdoor_min_overlap_secs
        };
        if overlap_secs >= close_secs {
            Some(ContactKind::Close)
        } else if overlap_secs >= self.companion_min_overlap_secs {
            Some(ContactKind::Companion)
        } else {
            None
        }
    }
}

/// A contact found by tracing with the evidence of its designation.
#[derive(Clone, Debug)]
pub struct FoundContact {
    pub contact: PersonId,
    pub kind: ContactKind,
    pub venue: VenueId,
    pub overlap_start: Timestamp,
    pub overlap_end: Timestamp,
}

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

/// Runs after a batch is stored and applied: traces its positive PCR
/// results and cascades its retractions.
pub async fn after_ingest(
    state: &Arc<Node>,
    records: &[EventRecord],
    outcomes: &[AppendOutcome],
) -> Result<(), NodeError> {
    let fresh: Vec<&EventRecord> = records
        .iter()
        .zip(outcomes)
        .filter(|(_, outcome)| !outcome.duplicate)
        .map(|(record, _)| record)
        .collect();
    // A positive stored before a crash that cut its tracing short comes
    // back as a duplicate when the lab retries (it never saw an answer):
    // trace it unless its tracing was recorded or is held. Designation ids
    // are derived, so tracing again stores nothing twice.
    for (record, outcome) in records.iter().zip(outcomes) {
        if outcome.duplicate
            && is_positive_pcr(record)
            && state
                .store
                .meta_get(META_TRACED_FROM, record.event.id.as_str())?
                .is_none()
            && state
                .store
                .meta_get(
                    crate::breaker::META_PENDING,
                    &pending_id_of(KIND_TRACING, record.event.id.as_str()),
                )?
                .is_none()
            && !crate::state::is_retracted(
                &state.person_records(&record.event.person)?,
                &record.event.id,
            )
        {
            trace_case(state, record).await?;
        }
    }
    for record in fresh {
        match &record.event.body {
            EventBody::TestResult(test)
                if test.test == TestKind::Pcr && test.result == TestOutcome::Positive =>
            {
                trace_case(state, record).await?;
            }
            EventBody::Retraction(retraction) => {
                cascade_retraction(state, &record.event.id, &retraction.target).await?;
            }
            _ => {}
        }
    }
    Ok(())
}

fn is_positive_pcr(record: &EventRecord) -> bool {
    matches!(&record.event.body, EventBody::TestResult(test)
        if test.test == TestKind::Pcr && test.result == TestOutcome::Positive)
}

/// Finds the contacts of `person` over its stays in `[window_start,
/// window_end)`: per contact the strongest designation (close before
/// companion, then the longest overlap).
pub fn find_contacts(
    tracing: &TracingState,
    index: &TraceIndex,
    parameters: &TracingParameters,
    person: &PersonId,
    window_start: Timestamp,
    window_end: Timestamp,
    close_only: bool,
) -> Vec<FoundContact> {
    let least_secs = if close_only {
        parameters
            .close_indoor_min_overlap_secs
            .min(parameters.close_outdoor_min_overlap_secs)
    } else {
        parameters
            .companion_min_overlap_secs
            .min(parameters.close_indoor_min_overlap_secs)
            .min(parameters.close_outdoor_min_overlap_secs)
    };
    let query = TraceQuery {
        min_overlap_secs: least_secs.max(1),
        before_confirmed: false,
    };
    let mut best: HashMap<PersonId, (FoundContact, u32)> = HashMap::new();
    let mut indoor_of: HashMap<VenueId, bool> = HashMap::new();
    for (_, enter, leave) in index.stays_of(person) {
        if leave < window_start || enter >= window_end {
            continue;
        }
        // One stay at a time: the index reports the longest overlap per
        // contact, and the venue of each stay decides close or companion.
        let positive = Positive {
            person: person.clone(),
            confirmed: window_end,
            window_start: Some(leave),
            window_end: Some(enter.plus_secs(1)),
        };
        let Ok(result) = index.trace(&[positive], &query) else {
            continue;
        };
        for pair in &result.pairs {
            let resolved = index.resolve_pair(pair);
            let overlap_secs = pair.overlap_secs();
            // Venues only imported, never registered, count as outdoor:
            // tracing them can only make companions.
            let indoor = *indoor_of.entry(resolved.venue.clone()).or_insert_with(|| {
                tracing
                    .venue(&resolved.venue)
                    .is_some_and(|venue| venue.indoor)
            });
            let kind = match parameters.kind_of(indoor, overlap_secs) {
                Some(ContactKind::Close) => ContactKind::Close,
                Some(kind) if !close_only => kind,
                _ => continue,
            };
            let found = FoundContact {
                contact: resolved.contact.clone(),
                kind,
                venue: resolved.venue,
                overlap_start: resolved.overlap_start,
                overlap_end: resolved.overlap_end,
            };
            let rank =
                |found: &FoundContact, secs: u32| (matches!(found.kind, ContactKind::Close), secs);
            match best.get(&resolved.contact) {
                Some((known, known_secs))
                    if rank(known, *known_secs) >= rank(&found, overlap_secs) => {}
                _ => {
                    best.insert(resolved.contact, (found, overlap_secs));
                }
            }
        }
    }
    let mut contacts: Vec<FoundContact> = best.into_values().map(|(found, _)| found).collect();
    contacts.sort_by(|a, b| a.contact.cmp(&b.contact));
    contacts
}

fn designation_submission(
    state: &Node,
    trigger: &EventId,
    source: &PersonId,
    found: &FoundContact,
    kind: ContactKind,
    fallback_region: &RegionCode,
    now: Timestamp,
) -> (Submission, TracedDesignation) {
    let kind_name = match kind {
        ContactKind::Close => "close",
        ContactKind::Companion => "companion",
        ContactKind::Secondary => "secondary",
    };
    let rule = match kind {
        ContactKind::Close => RULE_TRACE_CLOSE,
        ContactKind::Companion => RULE_TRACE_COMPANION,
        ContactKind::Secondary => RULE_TRACE_SECONDARY,
    };
    let id = derived_event_id(
        TRACE_AUTHOR,
        &[trigger.as_str(), found.contact.as_str(), kind_name],
    );
    let region = state
        .tracing
        .venue(&found.venue)
        .map(|venue| venue.region)
        .unwrap_or_else(|| fallback_region.clone());
    // An assumed departure can lie in the future; evidence never does.
    let overlap_end = found.overlap_end.min(now);
    let overlap_start = found.overlap_start.min(overlap_end);
    let data = serde_json::json!({
        "contact": kind,
        "source_case": source,
        "designated_at": now,
        "last_exposure_at": overlap_end,
        "venue": found.venue,
        "overlap_start": overlap_start,
        "overlap_end": overlap_end,
        "rule": rule,
        "reason": format!(
            "{kind_name} contact: stay at venue {} overlapped {source} from {overlap_start} to {overlap_end} (traced from {trigger})",
            found.venue
        ),
    });
    (
        Submission {
            id: id.clone(),
            subject: Subject::Pid {
                pid: found.contact.clone(),
            },
            region: region.clone(),
            kind: EventKind::ContactDesignation,
            data,
        },
        TracedDesignation {
            id,
            pid: found.contact.clone(),
            region,
            kind,
        },
    )
}

/// What tracing one positive result would designate.
pub struct TracingPlan {
    submissions: Vec<Submission>,
    traced: Vec<TracedDesignation>,
    /// The color each designated person would get at least, for the impact.
    designated: Vec<(PersonId, Color)>,
}

impl TracingPlan {
    pub fn len(&self) -> usize {
        self.submissions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.submissions.is_empty()
    }

    /// How many designated persons' codes would change: those whose color
    /// now is below what their designation gives (red for close contacts,
    /// yellow for the others).
    pub fn impact(&self, state: &Node) -> Impact {
        let mut impact = Impact {
            persons_reached: self.designated.len(),
            ..Default::default()
        };
        for (pid, color) in &self.designated {
            let before = state
                .projection
                .get(pid)
                .map(|(slot, _)| slot.color())
                .unwrap_or(Color::Green);
            // A designation only raises a code; one already as severe stays.
            impact.record(before, before.max(*color));
        }
        impact
    }
}

/// Traces one positive PCR result against the index as it is now.
pub fn plan_tracing(state: &Node, test_record: &EventRecord) -> TracingPlan {
    let mut plan = TracingPlan {
        submissions: Vec::new(),
        traced: Vec::new(),
        designated: Vec::new(),
    };
    let EventBody::TestResult(test) = &test_record.event.body else {
        return plan;
    };
    let now = state.now();
    let case = test_record.event.person.clone();
    let parameters =
        TracingParameters::of(&state.rules.read().compiled_for(Some(&test_record.region)));
    let window_start = test
        .sampled_at
        .plus_secs(-parameters.lookback_days * 86_400);
    let (direct, secondary) = {
        let tracing = &state.tracing;
        let index = tracing.index.read();
        let direct = find_contacts(
            tracing,
            &index,
            &parameters,
            &case,
            window_start,
            now,
            false,
        );
        let mut secondary: Vec<(PersonId, FoundContact)> = Vec::new();
        if tracing.config.secondary_contacts_enabled && parameters.secondary_lookback_days > 0 {
            let secondary_start = now.plus_secs(-parameters.secondary_lookback_days * 86_400);
            let mut taken: std::collections::HashSet<&PersonId> =
                direct.iter().map(|found| &found.contact).collect();
            taken.insert(&case);
            let mut chosen: BTreeMap<PersonId, (PersonId, FoundContact)> = BTreeMap::new();
            for close in direct.iter().filter(|f| f.kind == ContactKind::Close) {
                for found in find_contacts(
                    tracing,
                    &index,
                    &parameters,
                    &close.contact,
                    secondary_start,
                    now,
                    true,
                ) {
                    if taken.contains(&found.contact) || chosen.contains_key(&found.contact) {
                        continue;
                    }
                    chosen.insert(found.contact.clone(), (close.contact.clone(), found));
                }
            }
            secondary = chosen.into_values().collect();
        }
        (direct, secondary)
    };
    let designations = direct.iter().map(|found| (&case, found, found.kind)).chain(
        secondary
            .iter()
            .map(|(close_contact, found)| (close_contact, found, ContactKind::Secondary)),
    );
    for (source, found, kind) in designations {
        let (submission, designation) = designation_submission(
            state,
            &test_record.event.id,
            source,
            found,
            kind,
            &test_record.region,
            now,
        );
        plan.submissions.push(submission);
        plan.traced.push(designation);
        let color = if kind == ContactKind::Close {
            Color::Red
        } else {
            Color::Yellow
        };
        plan.designated.push((found.contact.clone(), color));
    }
    let limit = state.tracing.config.contacts_per_case_max;
    if plan.submissions.len() > limit {
        tracing::warn!(
            "positive {} traced {} contacts, more than the limit {limit}; only the first are designated",
            test_record.event.id,
            plan.submissions.len(),
        );
        plan.submissions.truncate(limit);
        plan.traced.truncate(limit);
        plan.designated.truncate(limit);
    }
    plan
}

/// Traces one stored positive PCR result and ingests the designations, or,
/// when they would change more colors than the circuit breaker allows,
/// holds the tracing for a national administrator's approval.
pub async fn trace_case(state: &Arc<Node>, test_record: &EventRecord) -> Result<(), NodeError> {
    let worker = state.clone();
    let record = test_record.clone();
    let plan = tokio::task::spawn_blocking(move || plan_tracing(&worker, &record))
        .await
        .map_err(|_| NodeError::internal("tracing panicked"))?;
    if plan.is_empty() {
        return Ok(());
    }
    if plan.len() > state.tracing.config.breaker_persons_max {
        let request = TracingRequest {
            test: test_record.event.id.clone(),
            case: test_record.event.person.clone(),
        };
        let impact = plan.impact(state);
        crate::breaker::propose_with_impact(
            state,
            &system_principal(TRACE_AUTHOR),
            HeldAction::new(KIND_TRACING, &request),
            None,
            impact,
        )
        .await?;
        return Ok(());
    }
    apply_plan(state, test_record, plan).await
}

/// Stores what a plan designates, recording first which designations the
/// positive result caused.
async fn apply_plan(
    state: &Arc<Node>,
    test_record: &EventRecord,
    plan: TracingPlan,
) -> Result<(), NodeError> {
    if plan.is_empty() {
        return Ok(());
    }
    // The mapping is written first, so a designation stored before a crash
    // is still found when its positive is retracted.
    let principal = system_principal(TRACE_AUTHOR);
    state.apply(
        &Author::from(&principal),
        Record::TracingRecorded {
            test: test_record.event.id.clone(),
            designations: plan.traced.clone(),
        },
        &format!("case {}", test_record.event.person),
    )?;
    state.ingest_in_chunks(&principal, plan.submissions).await?;
    Ok(())
}

/// Puts held tracing into force on approval: traces the positive result
/// again against the index as it is now. Refused when the result has been
/// retracted meanwhile. Returns how many designations were stored.
pub async fn apply_held_tracing(
    state: &Arc<Node>,
    request: &TracingRequest,
) -> Result<usize, NodeError> {
    let records = state.person_records(&request.case)?;
    let retracted = crate::state::is_retracted(&records, &request.test);
    let Some(test_record) = records
        .into_iter()
        .find(|record| record.event.id == request.test)
    else {
        return Err(NodeError::conflict(format!(
            "the positive result {} is no longer stored",
            request.test
        )));
    };
    if retracted {
        return Err(NodeError::conflict(format!(
            "the positive result {} was retracted; nothing to trace",
            request.test
        )));
    }
    let worker = state.clone();
    let record = test_record.clone();
    let plan = tokio::task::spawn_blocking(move || plan_tracing(&worker, &record))
        .await
        .map_err(|_| NodeError::internal("tracing panicked"))?;
    let count = plan.len();
    apply_plan(state, &test_record, plan).await?;
    Ok(count)
}

/// Retracts every designation traced from a retracted positive result.
pub async fn cascade_retraction(
    state: &Arc<Node>,
    retraction_id: &EventId,
    target: &EventId,
) -> Result<(), NodeError> {
    let Some(bytes) = state.store.meta_get(META_TRACED_FROM, target.as_str())? else {
        return Ok(());
    };
    let traced: Vec<TracedDesignation> = serde_json::from_slice(&bytes)
        .map_err(|error| NodeError::internal(format!("traced-from/{target}: {error}")))?;
    let submissions: Vec<Submission> = traced
        .iter()
        .map(|designation| Submission {
            id: derived_event_id(
                "auto-trace.r",
                &[retraction_id.as_str(), designation.id.as_str()],
            ),
            subject: Subject::Pid {
                pid: designation.pid.clone(),
            },
            region: designation.region.clone(),
            kind: EventKind::Retraction,
            data: serde_json::json!({
                "target": designation.id,
                "reason": format!("the positive result {target} it was traced from was retracted ({retraction_id})"),
            }),
        })
        .collect();
    let principal = system_principal(TRACE_AUTHOR);
    state.ingest_in_chunks(&principal, submissions).await?;
    state.apply(
        &Author::from(&principal),
        Record::TracingWithdrawn {
            test: target.clone(),
        },
        &format!("retracted by {retraction_id}"),
    )?;
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
            let stored = apply_held_tracing(node, &request).await?;
            Ok(Applied {
                events_stored: stored,
                persons_reached: stored,
            })
        })
    }
}
