//! The node's state and its write path: ingest, re-evaluation, the timed
//! transition scheduler, snapshots and the rebuild on start.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::RwLock;

use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, watch};
use ymt_core::identity::{IdDocument, IdType, MaskedName};
use ymt_core::risk_area::{RiskArea, RiskAreas};
use ymt_core::{Event, EventBody, EventId, EventKind, Facts, PersonId, RegionCode, Timestamp};
use ymt_rules::{CompiledRules, Decision, ParameterProfile, RuleSet};
use ymt_store::{AuditEntry, AuditOutcome, EmbeddedStore, EventStore, NewEvent, StoreConfig};

use crate::auth::{Principal, Principals};
use crate::clock::Clock;
use crate::config::ServerConfig;
use crate::error::{ItemError, NodeError};
use crate::projection::{Projection, person_key};
use crate::pseudonym::{PSEUDONYM_SECRET_LEN, Pseudonymizer};

/// What the store keeps of an event: the event and the region it concerns,
/// which jurisdiction checks and the governing profile use.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EventRecord {
    pub region: RegionCode,
    pub event: Event,
}

/// Who an event is about: a pseudonymous id, or an identity document from
/// which the node computes it.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum Subject {
    Pid { pid: PersonId },
    Document { id_type: IdType, id_number: String },
}

/// One event as submitted through the API.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Submission {
    pub id: EventId,
    pub subject: Subject,
    /// Where the event happened, or the region of the acting authority.
    pub region: RegionCode,
    pub kind: EventKind,
    pub data: serde_json::Value,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct ImportSummary {
    pub stored: u64,
    pub duplicate: u64,
    pub persons: usize,
}

#[derive(Clone, Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IngestResult {
    pub id: EventId,
    pub pid: PersonId,
    pub status: &'static str,
    pub seq: u64,
}

/// A registered person: what the node may show of them.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PersonRecord {
    pub pid: PersonId,
    pub masked_name: MaskedName,
    pub id_type: IdType,
    pub region: RegionCode,
    pub has_phone: bool,
    #[serde(default)]
    pub guardian_of: Vec<PersonId>,
}

pub const META_PRINCIPALS: &str = "principals";
pub const META_PERSONS: &str = "persons";
pub const META_RULE_SETS: &str = "rule-sets";
pub const META_PROFILES: &str = "profiles";

/// The rule sets in force and their compiled forms.
pub struct RulesState {
    pub national: RuleSet,
    pub national_compiled: Arc<CompiledRules>,
    /// Published national versions, oldest first (the current one last).
    pub history: Vec<RuleSet>,
    /// Regional profiles by region code.
    pub profiles: BTreeMap<RegionCode, (ParameterProfile, Arc<CompiledRules>)>,
}

impl RulesState {
    pub fn new(national: RuleSet) -> Result<RulesState, NodeError> {
        let compiled = CompiledRules::compile(&national, None)
            .map_err(|error| NodeError::internal(format!("national rule set: {error}")))?;
        Ok(RulesState {
            history: vec![national.clone()],
            national,
            national_compiled: Arc::new(compiled),
            profiles: BTreeMap::new(),
        })
    }

    /// The compiled rules for a person governed by `region`: the profile of
    /// the longest region prefix that has one, else the national defaults.
    pub fn compiled_for(&self, region: Option<&RegionCode>) -> Arc<CompiledRules> {
        self.compiled_with_tag(region).1
    }

    /// [`RulesState::compiled_for`] with the tag the projection keeps in a
    /// person's slot, so the rules that made a decision can be found again
    /// without re-reading the timeline: 0 for the national defaults, else a
    /// hash of the profile's region (odd, so never 0).
    pub fn compiled_with_tag(&self, region: Option<&RegionCode>) -> (u32, Arc<CompiledRules>) {
        if let Some(region) = region {
            let best = self
                .profiles
                .iter()
                .filter(|(profile_region, _)| profile_region.contains(region))
                .max_by_key(|(profile_region, _)| profile_region.as_str().len());
            if let Some((profile_region, (_, compiled))) = best {
                return (profile_tag(profile_region), compiled.clone());
            }
        }
        (0, self.national_compiled.clone())
    }

    /// The tags of every rule set in force: the national one, then each profile's.
    pub fn tags(&self) -> impl Iterator<Item = u32> + '_ {
        std::iter::once(0).chain(self.profiles.keys().map(profile_tag))
    }

    /// The compiled rules a tag names, when under them every risk exposure
    /// decides alone, so a designation can be applied without re-reading
    /// timelines (risk.rs).
    pub fn exposure_rules_by_tag(&self, tag: u32) -> Option<Arc<CompiledRules>> {
        self.compiled_by_tag(tag)
            .filter(|compiled| compiled.items_decide_alone("riskExposures"))
    }

    /// The compiled rules a slot's tag names, if they are still in force.
    pub fn compiled_by_tag(&self, tag: u32) -> Option<Arc<CompiledRules>> {
        if tag == 0 {
            return Some(self.national_compiled.clone());
        }
        let mut matching = self
            .profiles
            .iter()
            .filter(|(region, _)| profile_tag(region) == tag);
        let (_, (_, compiled)) = matching.next()?;
        // Two profiles with one tag: ambiguous, so the caller re-reads.
        matching.next().is_none().then(|| compiled.clone())
    }
}

fn profile_tag(region: &RegionCode) -> u32 {
    (xxhash_rust::xxh3::xxh3_64(region.as_str().as_bytes()) as u32) | 1
}

/// Counters exported at `/metrics`.
#[derive(Default)]
pub struct Metrics {
    pub events_stored: AtomicU64,
    pub events_duplicate: AtomicU64,
    pub requests_refused_overload: AtomicU64,
    pub evaluations: AtomicU64,
    pub timed_transitions: AtomicU64,
    pub status_reads: AtomicU64,
    pub audit_dropped_reads: AtomicU64,
}

pub struct Node {
    pub config: ServerConfig,
    pub store: Arc<dyn EventStore>,
    pub clock: Arc<dyn Clock>,
    pub pseudonymizer: Pseudonymizer,
    pub principals: RwLock<Principals>,
    pub rules: RwLock<RulesState>,
    pub projection: Projection,
    pub metrics: Metrics,
    /// Signed codes, citizen sessions and appeals (codes.rs).
    pub codes: crate::codes::Codes,
    /// Venues, the check-in index and automatic tracing.
    pub tracing: crate::tracing_service::TracingState,
    /// The risk-area designations in force, joined with check-ins at
    /// evaluation (risk.rs).
    pub risk_areas: RwLock<RiskAreas>,
    /// Persons with at least one retraction in their timeline, noted while
    /// the ingest gate is held. A designation taking effect re-reads their
    /// timelines instead of trusting the check-in index, which learns of a
    /// retracted stay only after the ingest has let the gate go.
    pub persons_with_retractions: RwLock<std::collections::HashSet<crate::projection::PersonKey>>,
    /// Held shared by every ingest from store submission until the
    /// projection is updated, and exclusively by a snapshot while it reads the
    /// log position, so a snapshot never claims an event it has not applied.
    ingest_gate: tokio::sync::RwLock<()>,
    events_since_snapshot: AtomicU64,
    /// Wakes the scheduler when new transitions are queued.
    pub schedule_changed: Notify,
    /// The instant up to which every due transition has been applied.
    pub transitions_applied_until: watch::Sender<i64>,
    read_audit: tokio::sync::mpsc::Sender<AuditEntry>,
    read_audit_receiver: parking_lot::Mutex<Option<tokio::sync::mpsc::Receiver<AuditEntry>>>,
}

fn read_or_create_secret(config: &ServerConfig) -> anyhow::Result<[u8; PSEUDONYM_SECRET_LEN]> {
    let decode = |text: &str| -> anyhow::Result<[u8; PSEUDONYM_SECRET_LEN]> {
        let mut secret = [0u8; PSEUDONYM_SECRET_LEN];
        hex::decode_to_slice(text.trim(), &mut secret)
            .map_err(|_| anyhow::anyhow!("the pseudonym secret must be 64 hex characters"))?;
        Ok(secret)
    };
    if let Some(text) = &config.pseudonym_secret_hex {
        return decode(text);
    }
    let path = config.data_dir.join("pseudonym.secret");
    if path.exists() {
        return decode(&std::fs::read_to_string(&path)?);
    }
    let mut secret = [0u8; PSEUDONYM_SECRET_LEN];
    getrandom::fill(&mut secret).map_err(|error| anyhow::anyhow!("randomness: {error}"))?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&path)?;
    file.write_all(hex::encode(secret).as_bytes())?;
    file.sync_all()?;
    Ok(secret)
}

/// Whether a person's timeline holds a retraction of event `id`.
pub fn is_retracted(records: &[EventRecord], id: &EventId) -> bool {
    records.iter().any(|record| {
        matches!(&record.event.body, EventBody::Retraction(retraction) if &retraction.target == id)
    })
}

/// Which region governs a person's decision: the region of their latest
/// designation, quarantine, override or risk exposure (the authority managing
/// them). It is a function of the events alone, so every node agrees.
pub fn governing_region(records: &[EventRecord]) -> Option<RegionCode> {
    records
        .iter()
        .filter(|record| {
            matches!(
                record.event.kind(),
                EventKind::ContactDesignation
                    | EventKind::Quarantine
                    | EventKind::Override
                    | EventKind::RiskExposure
            )
        })
        .max_by(|a, b| (a.event.recorded_at, &a.event.id).cmp(&(b.event.recorded_at, &b.event.id)))
        .map(|record| record.region.clone())
}

impl Node {
    /// Opens (or creates) the node's data directory and rebuilds the
    /// projection from the latest snapshot and the log after it.
    ///
    /// This is the default of one machine: the embedded store in
    /// `data_dir/store`. [`Node::open`] takes any other [`EventStore`].
    pub fn open_embedded(config: ServerConfig, clock: Arc<dyn Clock>) -> anyhow::Result<Arc<Node>> {
        std::fs::create_dir_all(&config.data_dir)?;
        let store_config = StoreConfig {
            batch_events_max: config.batch_events_max.max(1),
            // Every ingested event carries one audit record in the same commit.
            audit_entries_max: config.batch_events_max.max(1),
            ..StoreConfig::default()
        };
        let store: Arc<dyn EventStore> = Arc::new(EmbeddedStore::open(
            config.data_dir.join("store"),
            store_config,
        )?);
        Node::open(config, clock, store)
    }

    /// Opens a node over `store`, keeping its other files (pseudonymisation
    /// secret, signing keys) in `config.data_dir`, and rebuilds the
    /// projection from the latest snapshot and the log after it.
    pub fn open(
        config: ServerConfig,
        clock: Arc<dyn Clock>,
        store: Arc<dyn EventStore>,
    ) -> anyhow::Result<Arc<Node>> {
        std::fs::create_dir_all(&config.data_dir)?;
        let secret = read_or_create_secret(&config)?;
        let (read_audit, read_audit_receiver) =
            tokio::sync::mpsc::channel(config.audit_queue_max.max(1));
        let state = Node {
            codes: crate::codes::Codes::open(&config.data_dir, clock.now())?,
            rules: RwLock::new(
                RulesState::new(RuleSet::national()).map_err(|e| anyhow::anyhow!(e.detail))?,
            ),
            tracing: crate::tracing_service::TracingState::new(config.tracing.clone()),
            risk_areas: RwLock::new(RiskAreas::new()),
            persons_with_retractions: RwLock::new(Default::default()),
            config,
            store,
            clock,
            pseudonymizer: Pseudonymizer::new(secret),
            principals: RwLock::new(Principals::default()),
            projection: Projection::new(),
            metrics: Metrics::default(),
            ingest_gate: tokio::sync::RwLock::new(()),
            events_since_snapshot: AtomicU64::new(0),
            schedule_changed: Notify::new(),
            transitions_applied_until: watch::channel(0).0,
            read_audit,
            read_audit_receiver: parking_lot::Mutex::new(Some(read_audit_receiver)),
        };
        state.load_metadata()?;
        state.tracing.load(&state)?;
        let areas_in_force = crate::risk::load_areas(&state)?;
        let state = Arc::new(state);
        state.rebuild_projection(&areas_in_force)?;
        Ok(state)
    }

    fn load_metadata(&self) -> anyhow::Result<()> {
        {
            let mut principals = self.principals.write();
            for (_, bytes) in self.store.meta_list(META_PRINCIPALS)? {
                principals.insert(serde_json::from_slice(&bytes)?);
            }
        }
        let mut rules = self.rules.write();
        let mut versions: Vec<RuleSet> = Vec::new();
        for (_, bytes) in self.store.meta_list(META_RULE_SETS)? {
            versions.push(
                RuleSet::publish(&bytes).map_err(|e| anyhow::anyhow!("stored rule set: {e}"))?,
            );
        }
        versions.sort_by(|a, b| a.version().cmp(b.version()));
        if let Some(latest) = versions.last().cloned() {
            if latest.version() > rules.national.version() {
                rules.national_compiled = Arc::new(CompiledRules::compile(&latest, None)?);
                rules.national = latest;
            }
            for version in versions {
                if !rules
                    .history
                    .iter()
                    .any(|known| known.version() == version.version())
                {
                    rules.history.push(version);
                }
            }
            rules.history.sort_by(|a, b| a.version().cmp(b.version()));
        }
        for (_, bytes) in self.store.meta_list(META_PROFILES)? {
            let profile = rules
                .national
                .check_profile(&bytes)
                .map_err(|e| anyhow::anyhow!("stored profile: {e}"))?;
            let compiled = Arc::new(CompiledRules::compile(&rules.national, Some(&profile))?);
            rules
                .profiles
                .insert(profile.region.clone(), (profile, compiled));
        }
        Ok(())
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    pub fn authenticate(&self, bearer: &str) -> Option<Principal> {
        self.principals.read().authenticate(bearer).cloned()
    }

    pub fn add_principal(&self, principal: Principal) -> Result<(), NodeError> {
        self.store.meta_put(
            META_PRINCIPALS,
            &principal.id,
            serde_json::to_vec(&principal).expect("principals serialise"),
        )?;
        self.principals.write().insert(principal);
        Ok(())
    }

    pub fn person_id(&self, document: &IdDocument) -> PersonId {
        self.pseudonymizer.person_id(document)
    }

    pub fn person_record(&self, pid: &PersonId) -> Result<Option<PersonRecord>, NodeError> {
        Ok(self
            .store
            .meta_get(META_PERSONS, pid.as_str())?
            .and_then(|bytes| serde_json::from_slice(&bytes).ok()))
    }

    pub fn register_person(&self, record: &PersonRecord) -> Result<(), NodeError> {
        self.store.meta_put(
            META_PERSONS,
            record.pid.as_str(),
            serde_json::to_vec(record).expect("persons serialise"),
        )?;
        Ok(())
    }

    /// Queues an audit record for a read. Reads are audited asynchronously in
    /// batches (a crash may lose the last fraction of a second of read
    /// records; writes are audited in the same commit as the write). A full
    /// queue refuses the read.
    pub fn audit_read(
        &self,
        principal: &Principal,
        action: &str,
        target: &str,
    ) -> Result<(), NodeError> {
        let entry = AuditEntry {
            at: self.now(),
            principal: principal.id.clone(),
            role: principal.role.as_str().into(),
            action: action.into(),
            target: target.into(),
            outcome: AuditOutcome::Allowed,
            detail: String::new(),
        };
        self.read_audit.try_send(entry).map_err(|_| {
            self.metrics
                .audit_dropped_reads
                .fetch_add(1, Ordering::Relaxed);
            NodeError::unavailable("the audit queue is full; the read was not served")
        })
    }

    /// Records a refusal durably (and waits for it): refusals are evidence.
    pub async fn audit_denied(
        &self,
        principal: Option<&Principal>,
        action: &str,
        target: &str,
        detail: &str,
    ) {
        let entry = AuditEntry {
            at: self.now(),
            principal: principal
                .map(|p| p.id.clone())
                .unwrap_or_else(|| "anonymous".into()),
            role: principal.map(|p| p.role.as_str()).unwrap_or("none").into(),
            action: action.into(),
            target: truncate(target, 200),
            outcome: AuditOutcome::Denied,
            detail: truncate(detail, 1000),
        };
        if let Ok(receiver) = self.store.audit_submit(vec![entry]) {
            let _ = receiver.await;
        }
    }

    /// Writes queued read-audit records in batches until the node stops.
    pub fn spawn_read_audit_writer(self: &Arc<Self>) {
        let Some(mut receiver) = self.read_audit_receiver.lock().take() else {
            return;
        };
        let state = self.clone();
        tokio::spawn(async move {
            let mut batch = Vec::new();
            while let Some(entry) = receiver.recv().await {
                batch.push(entry);
                while batch.len() < 1000 {
                    match receiver.try_recv() {
                        Ok(entry) => batch.push(entry),
                        Err(_) => break,
                    }
                }
                if let Ok(done) = state.store.audit_submit(std::mem::take(&mut batch)) {
                    let _ = done.await;
                }
            }
        });
    }

    /// Validates, stores and applies a batch of submissions. All or nothing:
    /// one bad event refuses the whole batch and stores nothing.
    pub async fn ingest(
        self: &Arc<Self>,
        principal: &Principal,
        submissions: Vec<Submission>,
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
            match self.check_submission(principal, submission, now) {
                Ok(record) => records.push(record),
                Err((is_forbidden, detail)) => {
                    forbidden |= is_forbidden;
                    errors.push(ItemError { index, detail });
                }
            }
        }
        if !errors.is_empty() {
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
            return Err(error.with_errors(errors));
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
                    detail: format!("region {}", record.region),
                });
            }
            (new_events, audit)
        };
        let (new_events, audit) = batch_of(&records);
        let gate = self.ingest_gate.read().await;
        let mut outcome = self.submit_records(new_events, audit).await?;
        // A client retrying an event it never saw acknowledged sends the same
        // content, but the node stamps a later `recorded_at`. Such a retry is
        // a duplicate, not a conflict: resubmit it as the stored record.
        if let Ok(Err(ymt_store::StoreError::Conflict { conflicts })) = &outcome
            && let Some(stored_records) = self.retries_of_stored(&records, conflicts)
        {
            for (index, stored) in stored_records {
                records[index] = stored;
            }
            let (new_events, audit) = batch_of(&records);
            outcome = self.submit_records(new_events, audit).await?;
        }
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
        let mut persons: BTreeSet<PersonId> = BTreeSet::new();
        let mut results = Vec::with_capacity(records.len());
        let mut stored = 0u64;
        for (record, outcome) in records.iter().zip(&outcomes) {
            if !outcome.duplicate {
                persons.insert(record.event.person.clone());
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

        let state = self.clone();
        let persons: Vec<PersonId> = persons.into_iter().collect();
        tokio::task::spawn_blocking(move || state.reevaluate_many(&persons))
            .await
            .map_err(|_| NodeError::internal("re-evaluation panicked"))??;
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
        crate::tracing_service::after_ingest(self, &records, &outcomes).await?;
        Ok(results)
    }

    async fn submit_records(
        &self,
        new_events: Vec<NewEvent>,
        audit: Vec<AuditEntry>,
    ) -> Result<
        Result<
            Result<Vec<ymt_store::AppendOutcome>, ymt_store::StoreError>,
            tokio::sync::oneshot::error::RecvError,
        >,
        NodeError,
    > {
        let receiver = self
            .store
            .submit_with_audit(new_events, audit)
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

    /// Stores already-authored records (imports, the demo city) durably,
    /// keeping their authors and recording instants, and applies them.
    /// Each record is validated; a bad one refuses the whole call.
    pub fn import_records(
        &self,
        records: &[EventRecord],
        importer: &str,
    ) -> Result<ImportSummary, NodeError> {
        for (index, record) in records.iter().enumerate() {
            record.event.validate().map_err(|error| {
                NodeError::invalid(format!("record {index} ({}): {error}", record.event.id))
            })?;
        }
        let mut summary = ImportSummary::default();
        let mut persons: BTreeSet<PersonId> = BTreeSet::new();
        let mut retracted: Vec<EventId> = Vec::new();
        let now = self.now();
        for chunk in records.chunks(self.config.batch_events_max.max(1)) {
            let batch: Vec<NewEvent> = chunk
                .iter()
                .map(|record| NewEvent {
                    id: record.event.id.clone(),
                    person: record.event.person.clone(),
                    recorded_at: record.event.recorded_at,
                    payload: serde_json::to_vec(record).expect("events serialise"),
                })
                .collect();
            let audit = vec![AuditEntry {
                at: now,
                principal: importer.into(),
                role: "import".into(),
                action: "events.import".into(),
                target: format!("{} events", chunk.len()),
                outcome: AuditOutcome::Allowed,
                detail: format!("first {}", chunk[0].event.id),
            }];
            let outcomes = ymt_store::wait_blocking(self.store.submit_with_audit(batch, audit)?)?;
            for (record, outcome) in chunk.iter().zip(outcomes) {
                if outcome.duplicate {
                    summary.duplicate += 1;
                } else {
                    summary.stored += 1;
                    persons.insert(record.event.person.clone());
                    self.tracing.index_records([record]);
                    self.note_retractions([record]);
                    if let EventBody::Retraction(retraction) = &record.event.body {
                        retracted.push(retraction.target.clone());
                    }
                }
            }
        }
        // Retracted check-ins leave the index once the whole import is in,
        // whichever came first in the file; a retraction already stored
        // (a re-import) has done so before.
        for target in &retracted {
            self.tracing.retract_check_in(self, target)?;
        }
        let persons: Vec<PersonId> = persons.into_iter().collect();
        summary.persons = persons.len();
        self.reevaluate_many(&persons)?;
        self.metrics
            .events_stored
            .fetch_add(summary.stored, Ordering::Relaxed);
        Ok(summary)
    }

    /// Turns one submission into a record, or says why not (and whether the
    /// reason is a matter of rights rather than content).
    fn check_submission(
        &self,
        principal: &Principal,
        submission: Submission,
        now: Timestamp,
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
        let body = EventBody::from_kind_and_data(submission.kind, submission.data)
            .map_err(|error| (false, error))?;
        let event = Event {
            id: submission.id,
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
        if let EventBody::Retraction(retraction) = &event.body {
            let target = self
                .store
                .event_by_id(&retraction.target)
                .map_err(|error| (false, format!("looking up the retracted event: {error}")))?
                .ok_or_else(|| {
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
        crate::tracing_service::check_record(self, &record).map_err(|error| (false, error))?;
        Ok(record)
    }

    /// Loads a person's timeline from the store.
    pub fn person_records(&self, pid: &PersonId) -> Result<Vec<EventRecord>, NodeError> {
        self.store
            .events_for_person(pid)?
            .into_iter()
            .map(|stored| {
                serde_json::from_slice::<EventRecord>(&stored.payload).map_err(|error| {
                    NodeError::internal(format!("stored event {} unreadable: {error}", stored.id))
                })
            })
            .collect()
    }

    /// Evaluates a person from the store at `now` without touching the
    /// projection.
    pub fn decide(
        &self,
        pid: &PersonId,
        now: Timestamp,
    ) -> Result<(Decision, Vec<EventRecord>), NodeError> {
        let (decision, records, _) = self.decide_with(pid, now, None)?;
        Ok((decision, records))
    }

    /// The facts of a timeline at `now`: its events, joined with the risk
    /// areas in force (and `extra`, a designation being previewed).
    pub fn facts_of(
        &self,
        records: &[EventRecord],
        now: Timestamp,
        extra: Option<&RiskArea>,
    ) -> Facts {
        let mut facts = Facts::derive(records.iter().map(|record| &record.event), now);
        self.risk_areas.read().join(&mut facts, now, extra);
        facts
    }

    /// [`Node::decide`], also giving the tag of the rules used, and
    /// optionally with one more designation than those in force.
    pub fn decide_with(
        &self,
        pid: &PersonId,
        now: Timestamp,
        extra: Option<&RiskArea>,
    ) -> Result<(Decision, Vec<EventRecord>, u32), NodeError> {
        let records = self.person_records(pid)?;
        let (tag, rules) = self
            .rules
            .read()
            .compiled_with_tag(governing_region(&records).as_ref());
        let facts = self.facts_of(&records, now, extra);
        // With the whole trajectory, so the kept decision can later be
        // composed with a new exposure (risk.rs).
        let decision = rules
            .evaluate_with_trajectory(&facts, now)
            .map_err(|error| NodeError::internal(format!("evaluation failed: {error}")))?;
        self.metrics.evaluations.fetch_add(1, Ordering::Relaxed);
        Ok((decision, records, tag))
    }

    /// Re-evaluates persons and stores their new status.
    pub fn reevaluate_many(&self, pids: &[PersonId]) -> Result<(), NodeError> {
        let now = self.now();
        for pid in pids {
            let (decision, _, tag) = self.decide_with(pid, now, None)?;
            self.projection.update(pid, &decision, tag);
        }
        Ok(())
    }

    /// [`Node::reevaluate_many`] on the configured worker threads: the
    /// evaluations are CPU-bound and independent per person.
    pub fn reevaluate_many_in_parallel(&self, pids: &[PersonId]) -> Result<(), NodeError> {
        let chunk = pids
            .len()
            .div_ceil(self.config.worker_threads.max(1))
            .max(1);
        std::thread::scope(|scope| {
            let workers: Vec<_> = pids
                .chunks(chunk)
                .map(|part| scope.spawn(move || self.reevaluate_many(part)))
                .collect();
            workers
                .into_iter()
                .try_for_each(|worker| worker.join().expect("re-evaluation worker"))
        })
    }

    /// Applies every transition due at the clock's current instant. Returns
    /// how many persons were re-evaluated.
    pub fn apply_due_transitions(&self) -> Result<usize, NodeError> {
        let now = self.now();
        let mut applied = 0;
        loop {
            // Not while a designation takes effect (see risk::take_effect).
            // Held per batch, not for the whole pass: a designation waiting
            // for it would otherwise hold up every ingest behind it. This
            // runs on a blocking thread, where waiting is allowed.
            let _gate = self.ingest_gate.blocking_read();
            let keys = self.projection.take_due(now, 10_000);
            if keys.is_empty() {
                break;
            }
            let due: Vec<PersonId> = keys
                .iter()
                .filter_map(|key| self.projection.pid_of(key))
                .collect();
            let due_count = due.len();
            // Persons decided by one exposure alone go first, without a read.
            let pids = crate::risk::apply_due_alone(self, due, now);
            // Many transitions can fall due at one instant (everyone an area
            // reached leaves it together).
            self.reevaluate_many_in_parallel(&pids)?;
            applied += due_count;
        }
        self.metrics
            .timed_transitions
            .fetch_add(applied as u64, Ordering::Relaxed);
        self.transitions_applied_until.send_replace(now.unix_secs());
        Ok(applied)
    }

    /// Runs the scheduler of timed transitions until the node stops: sleeps
    /// until the earliest `valid_until`, or until the clock or the queue
    /// changes, then applies what is due.
    pub fn spawn_scheduler(self: &Arc<Self>) {
        crate::tracing_service::spawn_retention(self);
        let state = self.clone();
        tokio::spawn(async move {
            loop {
                let worker = state.clone();
                match tokio::task::spawn_blocking(move || worker.apply_due_transitions()).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(error)) => tracing::warn!("timed transitions: {}", error.detail),
                    Err(_) => tracing::error!("timed transitions panicked"),
                }
                let wait_secs = match state.projection.next_due() {
                    Some(next) => (next.unix_secs() - state.now().unix_secs()).clamp(0, 60),
                    None => 60,
                };
                if wait_secs == 0
                    && state
                        .projection
                        .next_due()
                        .is_some_and(|next| next <= state.now())
                {
                    continue;
                }
                let clock_changed = async {
                    match state.clock.changed() {
                        Some(notify) => notify.notified().await,
                        None => std::future::pending::<()>().await,
                    }
                };
                // A manual clock does not follow real time, so only its
                // notifications (and queue changes) wake the scheduler.
                let timer = async {
                    if state.clock.changed().is_some() {
                        std::future::pending::<()>().await
                    } else {
                        tokio::time::sleep(std::time::Duration::from_secs(wait_secs.max(1) as u64))
                            .await
                    }
                };
                tokio::select! {
                    _ = clock_changed => {}
                    _ = state.schedule_changed.notified() => {}
                    _ = timer => {}
                }
            }
        });
    }

    /// Holds ingest off (and snapshots with it) until the guard is dropped.
    pub async fn ingest_exclusive(&self) -> tokio::sync::RwLockWriteGuard<'_, ()> {
        self.ingest_gate.write().await
    }

    /// Remembers the persons whose new events include a retraction.
    pub fn note_retractions<'a>(&self, records: impl IntoIterator<Item = &'a EventRecord>) {
        let keys: Vec<crate::projection::PersonKey> = records
            .into_iter()
            .filter(|record| matches!(record.event.body, EventBody::Retraction(_)))
            .map(|record| person_key(&record.event.person).0)
            .collect();
        if !keys.is_empty() {
            self.persons_with_retractions.write().extend(keys);
        }
    }

    /// Writes a snapshot of the projection covering the log up to the last
    /// acknowledged event.
    pub async fn write_snapshot(self: &Arc<Self>) -> Result<u64, NodeError> {
        // Under the gate no designation is half applied, so every one in
        // force is wholly reflected in the projection read below.
        let (upto_seq, areas_reflected) = {
            let _exclusive = self.ingest_gate.write().await;
            let areas: Vec<EventId> = self
                .risk_areas
                .read()
                .iter()
                .map(|area| area.id.clone())
                .collect();
            (self.store.last_seq(), areas)
        };
        let state = self.clone();
        tokio::task::spawn_blocking(move || {
            let bytes = state.projection.to_snapshot();
            state.store.snapshot_write(upto_seq, &bytes)?;
            // Written after the snapshot: a crash in between leaves an older
            // record, which only makes the restart re-apply more.
            crate::risk::record_areas_in_snapshot(&state, upto_seq, areas_reflected)?;
            Ok::<_, NodeError>(upto_seq)
        })
        .await
        .map_err(|_| NodeError::internal("snapshot panicked"))?
    }

    /// Loads the latest snapshot and re-evaluates every person with events
    /// after it; without a snapshot, evaluates everyone from the log.
    fn rebuild_projection(
        self: &Arc<Self>,
        areas_in_force: &[crate::risk::RiskAreaRecord],
    ) -> anyhow::Result<()> {
        let mut from_seq = 1;
        let mut snapshot_upto_seq = None;
        let load = self.store.snapshot_latest()?;
        if let Some(snapshot) = load.latest {
            match Projection::from_snapshot(&snapshot.bytes) {
                Ok(loaded) => {
                    self.restore_from(&loaded);
                    from_seq = snapshot.upto_seq + 1;
                    snapshot_upto_seq = Some(snapshot.upto_seq);
                }
                Err(error) => tracing::warn!("ignoring unreadable snapshot: {error}"),
            }
        }
        let mut persons: BTreeSet<PersonId> = BTreeSet::new();
        loop {
            let events = self.store.scan_from(from_seq, 100_000)?;
            let Some(last) = events.last() else { break };
            from_seq = last.seq + 1;
            persons.extend(events.into_iter().map(|event| event.person));
        }
        let persons: Vec<PersonId> = persons.into_iter().collect();
        self.reevaluate_many_in_parallel(&persons)
            .map_err(|error| anyhow::anyhow!(error.detail))?;
        // Designations are not in the log: those that took effect after the
        // snapshot are applied again (without a snapshot, the evaluations
        // above already joined them).
        if let Some(upto_seq) = snapshot_upto_seq {
            crate::risk::reapply_after_snapshot(self, areas_in_force, upto_seq)
                .map_err(|error| anyhow::anyhow!(error.detail))?;
        }
        Ok(())
    }

    fn restore_from(&self, loaded: &Projection) {
        for pid in loaded.all_pids() {
            if let Some((slot, explanation)) = loaded.get(&pid) {
                self.projection.restore(&pid, slot, explanation);
            }
        }
    }

    /// The persons known to this node (in the projection).
    pub fn person_count(&self) -> usize {
        self.projection.len()
    }

    /// Facts of many persons for an impact preview, bounded.
    pub fn population_facts(&self, now: Timestamp) -> Result<Vec<(PersonId, Facts)>, NodeError> {
        let pids = self.projection.all_pids();
        if pids.len() > self.config.impact_persons_max {
            return Err(NodeError::too_large(format!(
                "an impact preview covers at most {} persons; this node has {}",
                self.config.impact_persons_max,
                pids.len()
            )));
        }
        let mut population = Vec::with_capacity(pids.len());
        for pid in pids {
            let records = self.person_records(&pid)?;
            population.push((pid, self.facts_of(&records, now, None)));
        }
        Ok(population)
    }

    /// Replaces the rules in force and re-evaluates everyone.
    pub fn apply_rules_change(
        &self,
        change: impl FnOnce(&mut RulesState) -> Result<(), NodeError>,
    ) -> Result<usize, NodeError> {
        {
            let mut rules = self.rules.write();
            change(&mut rules)?;
        }
        let pids = self.projection.all_pids();
        self.reevaluate_many(&pids)?;
        Ok(pids.len())
    }

    pub fn key_of(&self, pid: &PersonId) -> [u8; 16] {
        person_key(pid).0
    }
}

fn truncate(text: &str, max_chars: usize) -> String {
    text.chars().take(max_chars).collect()
}
