//! The write path of events: a batch is checked whole (every event, every
//! module's check), stored with one audit record per event in one commit,
//! applied to the modules' memory under the ingest gate, re-evaluated, and
//! only then acknowledged.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use ymt_core::identity::IdDocument;
use ymt_core::{Event, EventBody, EventId, PersonId, Timestamp};
use ymt_store::{AuditEntry, AuditOutcome, NewEvent};

use crate::auth::{Principal, Role};
use crate::error::{ItemError, NodeError};
use crate::model::{EventRecord, IngestResult, Subject, Submission};
use crate::state::Node;

impl Node {
    /// Ingests events (at most one per person) as `principal`, in batches the
    /// store accepts: the node's own actions (automatic tracing, and actions
    /// the circuit breaker applied or a second authority approved, whose
    /// presence checks were made when they were proposed). The boxed future
    /// breaks the cycle ingest → after_ingest → ingest.
    pub fn ingest_in_chunks<'a>(
        self: &'a Arc<Self>,
        principal: &'a Principal,
        submissions: Vec<Submission>,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Vec<IngestResult>, NodeError>> + Send + 'a>,
    > {
        self.ingest_in_chunks_deferring(principal, submissions, None)
    }

    /// [`Node::ingest_in_chunks`]; with `deferred`, the persons of the
    /// batches are not re-evaluated but added to it, for the caller to
    /// re-evaluate once at the end of a series of ingests
    /// ([`DeferredReevaluation`]).
    pub(crate) fn ingest_in_chunks_deferring<'a>(
        self: &'a Arc<Self>,
        principal: &'a Principal,
        submissions: Vec<Submission>,
        deferred: Option<&'a DeferredReevaluation>,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Vec<IngestResult>, NodeError>> + Send + 'a>,
    > {
        Box::pin(async move {
            // Ingest writes one audit record per event, and the store takes at
            // most 1,000 audit records per commit (its default).
            let chunk_len = self
                .config
                .batch_events_max
                .clamp(1, crate::model::DERIVED_BATCH_EVENTS_MAX);
            let mut chunks: Vec<Vec<Submission>> = Vec::new();
            let mut submissions = submissions;
            while !submissions.is_empty() {
                let rest = submissions.split_off(submissions.len().min(chunk_len));
                chunks.push(std::mem::replace(&mut submissions, rest));
            }
            // Two batches at a time: their re-evaluations overlap and their
            // commits share fsyncs. Callers pass at most one event
            // per person, so the order between batches does not matter.
            let mut results = Vec::new();
            let mut chunks = chunks.into_iter();
            while let Some(first) = chunks.next() {
                match chunks.next() {
                    Some(second) => {
                        let (first, second) = tokio::join!(
                            self.ingest_as(principal, first, Origin::Breaker, deferred),
                            self.ingest_as(principal, second, Origin::Breaker, deferred)
                        );
                        results.extend(first?);
                        results.extend(second?);
                    }
                    None => results.extend(
                        self.ingest_as(principal, first, Origin::Breaker, deferred)
                            .await?,
                    ),
                }
            }
            Ok(results)
        })
    }

    /// The refusal of a whole batch: 403 when any event was beyond the
    /// submitter's rights, else 422; the first errors summarized, every
    /// error listed, and the refusal audited durably.
    async fn refuse_batch(
        &self,
        principal: &Principal,
        errors: Vec<ItemError>,
        forbidden: bool,
    ) -> NodeError {
        let summary = errors
            .iter()
            .take(3)
            .map(|error| format!("event {}: {}", error.index, error.detail))
            .collect::<Vec<_>>()
            .join("; ");
        let error = if forbidden {
            NodeError::forbidden(format!("refused, nothing stored: {summary}"))
        } else {
            NodeError::invalid(format!("refused, nothing stored: {summary}"))
        };
        self.audit_denied(Some(principal), "events.submit", &summary, &error.detail)
            .await;
        error.with_errors(errors)
    }

    /// Validates, stores and applies a batch of submissions. All or nothing:
    /// one bad event refuses the whole batch and stores nothing. That
    /// includes a batch that would put more events of one person into one
    /// window than the cap allows, or whose persons' timelines the rules
    /// could not decide: refused before anything is stored, naming the
    /// person and the rule.
    pub async fn ingest(
        self: &Arc<Self>,
        principal: &Principal,
        submissions: Vec<Submission>,
    ) -> Result<Vec<IngestResult>, NodeError> {
        self.ingest_as(principal, submissions, Origin::Submitted, None)
            .await
    }

    /// Validates, stores and applies a batch as [`Node::ingest`] does. Events
    /// the node derives itself (`Origin::Breaker`: automatic tracing, an
    /// approved bulk override; at most one per person) are not screened by
    /// the rules before storing, since refusing the batch for one person
    /// would drop the designation of everyone else in it; a person whose
    /// timeline the rules then cannot decide is shown "cannot be computed",
    /// alone. With `deferred`, the batch's persons are added to it instead
    /// of being re-evaluated here.
    async fn ingest_as(
        self: &Arc<Self>,
        principal: &Principal,
        submissions: Vec<Submission>,
        origin: Origin,
        deferred: Option<&DeferredReevaluation>,
    ) -> Result<Vec<IngestResult>, NodeError> {
        if submissions.is_empty() {
            return Err(NodeError::malformed("the batch is empty"));
        }
        if submissions.len() > self.config.batch_events_max {
            return Err(NodeError::too_large(format!(
                "a batch holds at most {} events, got {}",
                self.config.batch_events_max,
                submissions.len()
            )));
        }
        let now = self.now();
        let mut records = Vec::with_capacity(submissions.len());
        let mut errors = Vec::new();
        let mut forbidden = false;
        for (index, submission) in submissions.into_iter().enumerate() {
            match self.check_submission(principal, submission, now, origin) {
                Ok(record) => records.push(record),
                Err((is_forbidden, detail)) => {
                    forbidden |= is_forbidden;
                    errors.push(ItemError { index, detail });
                }
            }
        }
        if !errors.is_empty() {
            return Err(self.refuse_batch(principal, errors, forbidden).await);
        }
        let unobserved = self.persons_with_only_unobserved_check_ins(&records);
        // Held from before the screening until the re-evaluation, so no
        // designation takes effect in between and the screening's decisions
        // can stand for the re-evaluation's (evaluation.rs).
        let gate = self.ingest_gate.read().await;
        let seq_before_screening = self.store.last_seq();
        let mut screened_decisions = std::collections::HashMap::new();
        if origin == Origin::Submitted {
            let state = self.clone();
            let screened = records.clone();
            let skipped = unobserved.clone();
            let (errors, decisions) =
                tokio::task::spawn_blocking(move || state.screen_batch(&screened, &skipped, now))
                    .await
                    .map_err(|_| NodeError::internal("screening the batch panicked"))??;
            if !errors.is_empty() {
                drop(gate);
                return Err(self.refuse_batch(principal, errors, false).await);
            }
            screened_decisions = decisions;
        }

        let batch_of = |records: &[EventRecord]| {
            let mut new_events = Vec::with_capacity(records.len());
            let mut audit = Vec::with_capacity(records.len());
            for record in records {
                let payload = serde_json::to_vec(record).expect("events serialise");
                new_events.push(NewEvent {
                    id: record.event.id.clone(),
                    person: record.event.person.clone(),
                    recorded_at: record.event.recorded_at,
                    payload,
                });
                audit.push(AuditEntry {
                    at: now,
                    principal: principal.id.clone(),
                    role: principal.role.as_str().into(),
                    action: format!("event.{}", record.event.kind().as_str()),
                    target: format!("{}/{}", record.event.person, record.event.id),
                    outcome: AuditOutcome::Allowed,
                    detail: crate::auth::with_key_id(
                        &format!("region {}", record.region),
                        principal.key_in_use.as_deref(),
                    ),
                });
            }
            (new_events, audit)
        };
        // In a cluster, a submitted batch is kept in the outbox, in the
        // same commit as its events, until the transport acknowledged it
        // (replication.rs). The node's own derived events are derived by
        // every node alike and are not published.
        let replicated = origin == Origin::Submitted && self.replicates();
        // In a cluster the record is numbered among this node's records
        // (anti-entropy, replication_origin.rs): the number is held from
        // here to the commit, so committed numbers have no holes.
        let mut numbering = if replicated {
            Some(self.replication.origins.next_seq.lock().await)
        } else {
            None
        };
        let last_given = numbering.as_deref().copied().unwrap_or(0);
        let outbox_of = |records: &[EventRecord]| {
            if !replicated {
                return (String::new(), Vec::new(), None, Vec::new());
            }
            let message_id = crate::replication::events_message_id(records);
            let mut envelope = crate::record::RecordEnvelope::new(
                &crate::record::Author::from(principal),
                now,
                crate::record::Record::Events {
                    events: records.to_vec(),
                },
            );
            let (mut writes, parts) = self.stamp_origin(&mut envelope, last_given);
            writes.push(crate::replication::outbox_write(&message_id, &envelope));
            (message_id, writes, Some(envelope), parts)
        };
        let (new_events, audit) = batch_of(&records);
        let (mut message_id, writes, mut envelope, mut parts) = outbox_of(&records);
        let mut outcome = self.submit_records(new_events, audit, writes).await?;
        // A client retrying an event it never saw acknowledged sends the same
        // content, but the node stamps a later `recorded_at`. Such a retry is
        // a duplicate, not a conflict: resubmit it as the stored record.
        if let Ok(Err(ymt_store::StoreError::Conflict { conflicts })) = &outcome
            && let Some(stored_records) = self.retries_of_stored(&records, conflicts)
        {
            for (index, stored) in stored_records {
                records[index] = stored;
            }
            // The timelines now hold the stored records, not those screened.
            screened_decisions.clear();
            let (new_events, audit) = batch_of(&records);
            let writes;
            (message_id, writes, envelope, parts) = outbox_of(&records);
            outcome = self.submit_records(new_events, audit, writes).await?;
        }
        if let (Some(last_given), Ok(Ok(_))) = (numbering.as_deref_mut(), &outcome) {
            *last_given += parts.len() as u64;
            crate::replication_origin::hold_parts(self, &parts);
        }
        drop(numbering);
        let outcomes = match outcome {
            Ok(Ok(outcomes)) => outcomes,
            Ok(Err(ymt_store::StoreError::Conflict { conflicts })) => {
                let errors = conflicts
                    .iter()
                    .map(|conflict| ItemError {
                        index: conflict.index,
                        detail: format!(
                            "id {} is already stored with different content",
                            conflict.id
                        ),
                    })
                    .collect();
                return Err(NodeError::conflict(
                    "an event id is already used by a different event; nothing stored",
                )
                .with_errors(errors));
            }
            Ok(Err(error)) => return Err(error.into()),
            Err(_) => return Err(NodeError::internal("the store stopped")),
        };

        self.note_retractions(
            records
                .iter()
                .zip(&outcomes)
                .filter(|(_, outcome)| !outcome.duplicate)
                .map(|(record, _)| record),
        );
        self.timeline_cache
            .note_stored(self.store.as_ref(), &records, &outcomes);
        for module in &self.modules {
            module.after_store(self, &records, &outcomes)?;
        }
        let mut persons: BTreeSet<PersonId> = BTreeSet::new();
        let mut results = Vec::with_capacity(records.len());
        let mut stored = 0u64;
        for (record, outcome) in records.iter().zip(&outcomes) {
            if !outcome.duplicate {
                if !unobserved.contains(&record.event.person) {
                    persons.insert(record.event.person.clone());
                }
                stored += 1;
            }
            results.push(IngestResult {
                id: record.event.id.clone(),
                pid: record.event.person.clone(),
                status: if outcome.duplicate {
                    "duplicate"
                } else {
                    "stored"
                },
                seq: outcome.seq,
            });
        }
        self.metrics
            .events_stored
            .fetch_add(stored, Ordering::Relaxed);
        self.metrics
            .events_duplicate
            .fetch_add(outcomes.len() as u64 - stored, Ordering::Relaxed);

        // The store holds exactly what was screened when this batch's events
        // took the sequence numbers right after the screening read, and
        // nothing was stored after them.
        let fresh_seqs: Vec<u64> = outcomes
            .iter()
            .filter(|outcome| !outcome.duplicate)
            .map(|outcome| outcome.seq)
            .collect();
        let contiguous_after_screening = fresh_seqs
            .iter()
            .enumerate()
            .all(|(offset, seq)| *seq == seq_before_screening + 1 + offset as u64);
        let last_fresh_seq = fresh_seqs.last().copied().unwrap_or(seq_before_screening);
        match deferred {
            // Decided from the store by the caller, after the batch's last
            // ingest of its series (a screened decision, if any, is simply
            // not kept).
            Some(deferred) => deferred.persons.lock().extend(persons),
            None => {
                let state = self.clone();
                let persons: Vec<PersonId> = persons.into_iter().collect();
                tokio::task::spawn_blocking(move || {
                    state.reevaluate_many_reusing(&persons, screened_decisions, || {
                        contiguous_after_screening && state.store.last_seq() == last_fresh_seq
                    })
                })
                .await
                .map_err(|_| NodeError::internal("re-evaluation panicked"))??;
            }
        }
        drop(gate);
        self.schedule_changed.notify_one();
        if self
            .events_since_snapshot
            .fetch_add(stored, Ordering::Relaxed)
            + stored
            >= self.config.snapshot_every_events
        {
            self.events_since_snapshot.store(0, Ordering::Relaxed);
            let state = self.clone();
            tokio::spawn(async move {
                if let Err(error) = state.write_snapshot().await {
                    tracing::warn!("snapshot failed: {}", error.detail);
                }
            });
        }
        for module in &self.modules {
            module.after_ingest(self, &records, &outcomes).await?;
        }
        if let Some(envelope) = envelope.filter(|_| replicated) {
            // Answered only once the transport's quorum holds the batch; a
            // retry of the same batch is a duplicate here, and is answered
            // only once it is replicated.
            self.replicate(&message_id, &envelope).await?;
        }
        Ok(results)
    }

    /// With [`crate::ServerConfig::skip_unobserved_check_ins`], the persons
    /// of a batch whose events in it are all check-ins that no rule set in
    /// force reads and no risk area can expose (`RiskAreas::may_expose`): the facts the rules
    /// read do not change, so they need no screening and no re-evaluation.
    /// Empty otherwise.
    fn persons_with_only_unobserved_check_ins(
        &self,
        records: &[EventRecord],
    ) -> BTreeSet<PersonId> {
        if !self.config.skip_unobserved_check_ins {
            return BTreeSet::new();
        }
        let check_ins_read = {
            let rules = self.rules.read();
            rules.national_compiled.reads_list("checkIns")
                || rules
                    .profiles
                    .values()
                    .any(|(_, compiled)| compiled.reads_list("checkIns"))
        };
        if check_ins_read {
            return BTreeSet::new();
        }
        let risk_areas = self.risk_areas.read();
        let mut observed: BTreeSet<&PersonId> = BTreeSet::new();
        let mut unobserved: BTreeSet<PersonId> = BTreeSet::new();
        for record in records {
            let person = &record.event.person;
            match &record.event.body {
                EventBody::CheckIn(check_in)
                    if !risk_areas.may_expose(
                        &check_in.venue,
                        check_in.entered_at.unix_secs(),
                        check_in.left_at.map(Timestamp::unix_secs),
                    ) =>
                {
                    if !observed.contains(person) {
                        unobserved.insert(person.clone());
                    }
                }
                _ => {
                    observed.insert(person);
                    unobserved.remove(person);
                }
            }
        }
        unobserved
    }

    async fn submit_records(
        &self,
        new_events: Vec<NewEvent>,
        audit: Vec<AuditEntry>,
        writes: Vec<ymt_store::MetaWrite>,
    ) -> Result<
        Result<
            Result<Vec<ymt_store::AppendOutcome>, ymt_store::StoreError>,
            tokio::sync::oneshot::error::RecvError,
        >,
        NodeError,
    > {
        let receiver = self
            .store
            .submit_with_audit_and_meta(new_events, audit, writes)
            .map_err(|error| {
                self.metrics
                    .requests_refused_overload
                    .fetch_add(1, Ordering::Relaxed);
                NodeError::from(error)
            })?;
        Ok(receiver.await)
    }

    /// When every conflicting event equals its stored namesake except for
    /// the instant the node recorded it, the stored payloads by index.
    fn retries_of_stored(
        &self,
        records: &[EventRecord],
        conflicts: &[ymt_store::Conflict],
    ) -> Option<Vec<(usize, EventRecord)>> {
        let mut stored_records = Vec::with_capacity(conflicts.len());
        for conflict in conflicts {
            let new = records.get(conflict.index)?;
            let stored = self.store.event_by_id(&conflict.id).ok()??;
            let old: EventRecord = serde_json::from_slice(&stored.payload).ok()?;
            let same_apart_from_recording = old.region == new.region
                && old.event.person == new.event.person
                && old.event.author == new.event.author
                && old.event.body == new.event.body;
            if !same_apart_from_recording {
                return None;
            }
            stored_records.push((conflict.index, old));
        }
        Some(stored_records)
    }

    /// Turns one submission into a record, or says why not (and whether the
    /// reason is a matter of rights rather than content).
    fn check_submission(
        &self,
        principal: &Principal,
        submission: Submission,
        now: Timestamp,
        origin: Origin,
    ) -> Result<EventRecord, (bool, String)> {
        if !principal.role.may_submit(submission.kind) {
            return Err((
                true,
                format!(
                    "a {} may not submit {} events",
                    principal.role.as_str(),
                    submission.kind.as_str()
                ),
            ));
        }
        if !principal.may_act_in(&submission.region) {
            return Err((
                true,
                format!(
                    "region {} is outside the jurisdiction {} of {}",
                    submission.region, principal.jurisdiction, principal.id
                ),
            ));
        }
        let person = match submission.subject {
            Subject::Pid { pid } => pid,
            Subject::Document { id_type, id_number } => {
                let document = IdDocument::parse(id_type, &id_number)
                    .map_err(|error| (false, format!("subject: {error}")))?;
                self.person_id(&document)
            }
        };
        let mut body = EventBody::from_kind_and_data(submission.kind, submission.data)
            .map_err(|error| (false, error))?;
        let id = self.namespaced_id(principal, submission.id)?;
        self.check_authorship(principal, &person, &mut body, origin)?;
        let event = Event {
            id,
            person,
            recorded_at: now,
            author: principal.id.clone(),
            body,
        };
        event
            .validate()
            .map_err(|error| (false, error.to_string()))?;
        let latest = event.latest_instant();
        if latest.unix_secs() > now.unix_secs() + self.config.future_skew_secs {
            return Err((
                false,
                format!(
                    "the event speaks of {latest}, more than {} s after now ({now})",
                    self.config.future_skew_secs
                ),
            ));
        }
        let mut event = event;
        if let EventBody::Retraction(retraction) = &mut event.body {
            let lookup = |id: &EventId| {
                self.store
                    .event_by_id(id)
                    .map_err(|error| (false, format!("looking up the retracted event: {error}")))
            };
            let mut found = lookup(&retraction.target)?;
            // A target named without a namespace is the submitter's own
            // event, as its id was when submitted.
            if found.is_none()
                && !retraction.target.as_str().contains(':')
                && !principal.is_node_itself()
                && let Ok(own) = EventId::parse(&format!(
                    "{}{}",
                    principal.event_namespace(),
                    retraction.target
                ))
                && let Some(stored) = lookup(&own)?
            {
                retraction.target = own;
                found = Some(stored);
            }
            let target = found.ok_or_else(|| {
                (
                    false,
                    format!("data.target: no event {} is stored", retraction.target),
                )
            })?;
            let target: EventRecord = serde_json::from_slice(&target.payload)
                .map_err(|error| (false, format!("stored event unreadable: {error}")))?;
            if target.event.person != event.person {
                return Err((
                    false,
                    "data.target: the retracted event is about another person".into(),
                ));
            }
            if matches!(target.event.body, EventBody::Retraction(_)) {
                return Err((false, "data.target: a retraction cannot be retracted; submit the event again under a new id".into()));
            }
            if !principal.may_act_in(&target.region) {
                return Err((
                    true,
                    format!(
                        "the retracted event is in region {}, outside {}",
                        target.region, principal.jurisdiction
                    ),
                ));
            }
        }
        let record = EventRecord {
            region: submission.region,
            event,
        };
        for module in &self.modules {
            module
                .check_record(self, &record)
                .map_err(|error| (false, error))?;
        }
        Ok(record)
    }

    /// The id an event is stored under: in its author's namespace. A
    /// submitted id that starts with the author's namespace (`lab-1:S01`)
    /// is kept; one without a namespace (`S01`) is stored as `lab-1:S01`,
    /// the same for every retry, so duplicates stay duplicates; an id in
    /// another's namespace is refused, so no principal can take an id
    /// another will use. The node's own events keep their derived ids.
    fn namespaced_id(&self, principal: &Principal, id: EventId) -> Result<EventId, (bool, String)> {
        if principal.is_node_itself() {
            return Ok(id);
        }
        let namespace = principal.event_namespace();
        if id.as_str().starts_with(&namespace) {
            return Ok(id);
        }
        if let Some((other, _)) = id.as_str().split_once(':') {
            return Err((
                true,
                format!(
                    "id: {id} is in the namespace {other}: of another author; submit ids without a namespace or under {namespace}"
                ),
            ));
        }
        EventId::parse(&format!("{namespace}{id}")).map_err(|error| {
            (
                false,
                format!("id: stored in its author's namespace as {namespace}{id}: {error}"),
            )
        })
    }

    /// What the author of an event may claim: a test result names its
    /// author as the lab; check-ins are made only at venues of the
    /// submitter's jurisdiction (a venue principal only at venues it
    /// operates); an override of a person with no presence in the
    /// submitter's jurisdiction is not submitted directly but proposed as
    /// a bulk override, which a second authority approves.
    fn check_authorship(
        &self,
        principal: &Principal,
        person: &PersonId,
        body: &mut EventBody,
        origin: Origin,
    ) -> Result<(), (bool, String)> {
        if principal.is_node_itself() {
            return Ok(());
        }
        match body {
            EventBody::TestResult(test) => test.lab = principal.id.clone(),
            EventBody::CheckIn(check_in) => {
                // An unknown venue is refused by the tracing module's check.
                if let Some(venue) = self.tracing.venue(&check_in.venue) {
                    if !principal.may_act_in(&venue.region) {
                        return Err((
                            true,
                            format!(
                                "data.venue: venue {} lies in region {}, outside the jurisdiction {} of {}",
                                venue.id, venue.region, principal.jurisdiction, principal.id
                            ),
                        ));
                    }
                    if principal.role == Role::Venue && !venue.operators.contains(&principal.id) {
                        return Err((
                            true,
                            format!(
                                "data.venue: {} does not operate venue {}",
                                principal.id, venue.id
                            ),
                        ));
                    }
                }
            }
            EventBody::Override(_) if origin == Origin::Submitted => {
                let present = self
                    .is_present_in(person, &principal.jurisdiction)
                    .map_err(|error| (false, error.detail))?;
                if !present {
                    return Err((
                        true,
                        format!(
                            "person {person} has no presence in {}: propose the override at POST /v1/overrides:bulk, where a second authority approves it",
                            principal.jurisdiction
                        ),
                    ));
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// Persons whose re-evaluation a series of ingests defers to its end: the
/// designations and withdrawals of every tracing that one batch sets off
/// (`tracing_service::after_ingest`). A person designated from several
/// cases of one batch was re-evaluated once per case; collected here, they
/// are decided once, from the store, after the last of them is stored.
/// That is the decision the last of the per-case re-evaluations made: a
/// decision is a function of the stored events, the rules and the risk
/// areas in force and the instant, and nothing between the ingests reads
/// the colors of the persons collected (the impact of a tracing held by
/// the circuit breaker is computed only after re-evaluating them). The
/// batch that set the tracings off is acknowledged only after
/// [`DeferredReevaluation::reevaluate`], so no acknowledged write shows a
/// stale color, and the caller re-evaluates even when a tracing failed.
#[derive(Default)]
pub(crate) struct DeferredReevaluation {
    persons: parking_lot::Mutex<BTreeSet<PersonId>>,
}

impl DeferredReevaluation {
    /// Re-evaluates every person collected so far (under the ingest gate,
    /// as an ingest does) and empties the set.
    pub(crate) async fn reevaluate(&self, node: &Arc<Node>) -> Result<(), NodeError> {
        let persons: Vec<PersonId> = std::mem::take(&mut *self.persons.lock())
            .into_iter()
            .collect();
        if persons.is_empty() {
            return Ok(());
        }
        let gate = node.ingest_gate.read().await;
        let state = node.clone();
        tokio::task::spawn_blocking(move || state.reevaluate_many(&persons))
            .await
            .map_err(|_| NodeError::internal("re-evaluation panicked"))??;
        drop(gate);
        node.schedule_changed.notify_one();
        Ok(())
    }
}

/// Where a batch comes from: a principal's submission, or an action of the
/// node itself or of the circuit breaker (tracing, an approved override),
/// whose rights were checked when it was proposed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Origin {
    Submitted,
    Breaker,
}
