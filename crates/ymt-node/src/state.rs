//! The node's state and its write path: ingest, re-evaluation, the timed
//! transition scheduler, snapshots and the rebuild on start.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::RwLock;

use tokio::sync::{Notify, watch};
use ymt_core::identity::IdDocument;
use ymt_core::risk_area::RiskAreas;
use ymt_core::{EventBody, PersonId, Timestamp};
use ymt_rules::{CompiledRules, RuleSet};
use ymt_store::{AppendOutcome, AuditEntry, AuditOutcome, EventStore};

use crate::auth::{Principal, Principals};
use crate::checkins::TracingState;
use crate::clock::Clock;
use crate::codes::Codes;
use crate::config::ServerConfig;
use crate::error::NodeError;
use crate::model::{Applied, HeldAction, Impact, PendingStatus};
pub use crate::model::{
    EventRecord, ImportSummary, IngestResult, META_PERSONS, META_PRINCIPALS, META_PROFILES,
    META_RULE_SETS, PersonRecord, RulesState, Subject, Submission, governing_region, is_retracted,
};
use crate::projection::{Projection, person_key};
use crate::pseudonym::{PSEUDONYM_SECRET_LEN, Pseudonymizer};

/// Counters exported at `/metrics`.
#[derive(Default)]
pub struct Metrics {
    pub events_stored: AtomicU64,
    pub events_duplicate: AtomicU64,
    pub requests_refused_overload: AtomicU64,
    pub evaluations: AtomicU64,
    /// Of `evaluations`, the decisions made when a batch was screened and
    /// kept after storing it, instead of deciding the same timeline again.
    pub decisions_kept_from_screening: AtomicU64,
    /// Evaluations that could not be computed: each put a person into the
    /// fail-safe state ("cannot be computed, check in person").
    pub evaluations_failed: AtomicU64,
    pub timed_transitions: AtomicU64,
    /// Tracings of positive results planned (first or again).
    pub tracings_planned: AtomicU64,
    pub status_reads: AtomicU64,
    pub audit_dropped_reads: AtomicU64,
    /// Records applied from the replication stream (replication.rs).
    pub records_applied: AtomicU64,
    /// Replicated events whose id this node holds with other content.
    pub replication_conflicts: AtomicU64,
}

/// A module's section of the snapshot a node restarts from.
#[derive(Clone, Copy, Debug)]
pub struct ModuleSnapshot<'a> {
    /// The section reflects every event with `seq <= upto_seq`.
    pub upto_seq: u64,
    pub bytes: &'a [u8],
}

/// A boxed future, for the asynchronous hooks of [`NodeModule`].
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// A domain module of the node (tracing, risk areas, …): the node calls its
/// hooks at fixed points of its life, so the core knows no module by name.
///
/// Every hook has a default that does nothing. A module that owns durable
/// state names its metadata namespaces, loads them in [`NodeModule::load`],
/// and changes them only through the node's write paths. Routes belong to
/// the HTTP adapter (`ymt-http`), which has no place in this crate.
pub trait NodeModule: Send + Sync {
    /// A short name, for logs and errors.
    fn name(&self) -> &'static str;

    /// The durable metadata namespaces this module owns.
    fn namespaces(&self) -> &'static [&'static str] {
        &[]
    }

    /// The kinds of `Record::ModuleRecorded` this module writes (e.g.
    /// `hospital.consent_given`); `Node::apply` refuses any other kind in
    /// its name, and any namespace it does not own.
    fn record_kinds(&self) -> &'static [&'static str] {
        &[]
    }

    /// Puts one of this module's records (`Record::ModuleRecorded`) into
    /// memory right after it is durable: on the node whose command made it
    /// and, in a cluster, on every node applying it from the stream, in
    /// stream order. Quick and in memory; it must take no lock a command of
    /// the module holds while its record is applied.
    fn after_record(
        &self,
        _node: &Node,
        _record_kind: &str,
        _key: &str,
        _value: &serde_json::Value,
    ) -> Result<(), NodeError> {
        Ok(())
    }

    /// In a cluster: checks one of this module's records again at its place
    /// in the stream, against state that is itself a function of the
    /// stream, never reading a clock (a rule-set version must still be
    /// newer than the one in force). An error refuses it on every node.
    fn check_record_in_order(
        &self,
        _node: &Node,
        _record_kind: &str,
        _key: &str,
        _value: &serde_json::Value,
    ) -> Result<(), NodeError> {
        Ok(())
    }

    /// The module itself, so its commands can find their state with
    /// [`Node::module`].
    fn as_any(&self) -> &dyn std::any::Any;

    /// Loads the module's state when the node opens, before the projection
    /// is rebuilt: from its section of the latest snapshot (what
    /// [`NodeModule::snapshot_capture`] returned) and the log after it, or
    /// from scratch when there is none.
    fn load(&self, _node: &Node, _snapshot: Option<ModuleSnapshot<'_>>) -> anyhow::Result<()> {
        Ok(())
    }

    /// After the projection is rebuilt, from a snapshot covering the log up
    /// to `snapshot_upto_seq` (None: from the whole log).
    fn after_rebuild(
        &self,
        _node: &Node,
        _snapshot_upto_seq: Option<u64>,
    ) -> Result<(), NodeError> {
        Ok(())
    }

    /// Checks one submitted event before anything of its batch is stored;
    /// an error refuses the whole batch and names the field.
    fn check_record(&self, _node: &Node, _record: &EventRecord) -> Result<(), String> {
        Ok(())
    }

    /// Right after a batch is durable, while snapshots are held off: brings
    /// the module's in-memory state up to the log (a snapshot taken later
    /// claims every stored event, so it must find them applied here).
    /// Quick and in memory; `outcomes` tells new records from duplicates.
    fn after_store(
        &self,
        _node: &Node,
        _records: &[EventRecord],
        _outcomes: &[AppendOutcome],
    ) -> Result<(), NodeError> {
        Ok(())
    }

    /// After a batch is durable and the projection updated: `outcomes`
    /// tells which records were new and which duplicates.
    fn after_ingest<'a>(
        &'a self,
        _node: &'a Arc<Node>,
        _records: &'a [EventRecord],
        _outcomes: &'a [AppendOutcome],
    ) -> BoxFuture<'a, Result<(), NodeError>> {
        Box::pin(async { Ok(()) })
    }

    /// Takes persons whose status is due to change at `now`, decides those
    /// it can without reading their timelines, and returns the rest for a
    /// full re-evaluation.
    fn when_due(&self, _node: &Node, due: Vec<PersonId>, _now: Timestamp) -> Vec<PersonId> {
        due
    }

    /// Called while a snapshot's log position is read (ingest held off): the
    /// module's state as of that position, kept as its section of the
    /// snapshot and given back to [`NodeModule::load`] on restart.
    fn snapshot_capture(&self, _node: &Node) -> Option<Vec<u8>> {
        None
    }

    /// Starts the module's background tasks (on a tokio runtime).
    fn spawn(&self, _node: &Arc<Node>) {}

    /// The kinds of held action (see `crate::breaker`) this module puts
    /// into force; the hooks below are called only for these kinds.
    fn held_kinds(&self) -> &'static [&'static str] {
        &[]
    }

    /// The impact preview of a held action: whose colors it would change.
    fn held_impact(
        &self,
        _node: &Node,
        action: &HeldAction,
        _proposer: &str,
    ) -> Result<Impact, NodeError> {
        Err(NodeError::internal(format!(
            "module {} does not preview {} actions",
            self.name(),
            action.kind
        )))
    }

    /// Puts a held action into force with its proposer's rights.
    fn held_apply<'a>(
        &'a self,
        _node: &'a Arc<Node>,
        action: &'a HeldAction,
        _proposer: &'a Principal,
    ) -> BoxFuture<'a, Result<Applied, NodeError>> {
        let error = NodeError::internal(format!(
            "module {} does not apply {} actions",
            self.name(),
            action.kind
        ));
        Box::pin(async move { Err(error) })
    }

    /// Checks, before it is decided in a cluster's stream, an approval the
    /// stream itself puts into force (a held rule set or profile: its
    /// publication's checks). Blocking; nothing is written.
    fn held_check_approval(&self, _node: &Node, _action: &HeldAction) -> Result<(), NodeError> {
        Ok(())
    }

    /// In a cluster, the record an approval of this module's kind writes in
    /// its own commit where it stands in the stream (a service's rule set:
    /// its module record, which puts it into force on every node), checked
    /// again there without a clock (`at`: the approval's instant); `None`
    /// when the approval writes no record beside itself. What must be
    /// durable before the approval is recorded is done here, idempotently
    /// (a key revocation's key store). Blocking.
    fn held_approval_in_order(
        &self,
        _node: &Node,
        _action: &HeldAction,
        _at: Timestamp,
    ) -> Result<Option<(crate::record::Record, String)>, NodeError> {
        Ok(None)
    }

    /// Told when an action of its kinds is held or rejected, for the
    /// module's own records (a designation's status).
    fn held_status(
        &self,
        _node: &Node,
        _action: &HeldAction,
        _principal: &Principal,
        _status: PendingStatus,
    ) -> Result<(), NodeError> {
        Ok(())
    }
}

pub struct Node {
    pub config: ServerConfig,
    pub store: Arc<dyn EventStore>,
    pub clock: Arc<dyn Clock>,
    pub pseudonymizer: Pseudonymizer,
    pub principals: RwLock<Principals>,
    pub rules: RwLock<RulesState>,
    pub projection: Projection,
    /// Persons registered per region (person_counts.rs).
    pub registered_persons: crate::person_counts::RegisteredPersons,
    pub metrics: Metrics,
    /// Signed codes, citizen sessions and appeals (codes.rs).
    pub codes: Codes,
    /// Venues, the check-in index and automatic tracing.
    pub tracing: TracingState,
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
    pub(crate) ingest_gate: tokio::sync::RwLock<()>,
    /// Parsed timelines kept for the simulator's node (`timeline_cache.rs`).
    pub(crate) timeline_cache: crate::timeline_cache::TimelineCache,
    pub(crate) events_since_snapshot: AtomicU64,
    /// Wakes the scheduler when new transitions are queued.
    pub schedule_changed: Notify,
    /// The instant up to which every due transition has been applied.
    pub transitions_applied_until: watch::Sender<i64>,
    read_audit: tokio::sync::mpsc::Sender<AuditEntry>,
    read_audit_receiver: parking_lot::Mutex<Option<tokio::sync::mpsc::Receiver<AuditEntry>>>,
    /// The domain modules, in the order their hooks run.
    pub(crate) modules: Vec<Arc<dyn NodeModule>>,
    /// The scheduler, retention and read-audit writer, and the signal that
    /// stops them (background.rs).
    pub(crate) background: crate::task_group::TaskGroup,
    /// The transport of this node's records to the others, when it is in a
    /// cluster (replication.rs); none for a single node.
    pub(crate) replicator: std::sync::OnceLock<Arc<dyn crate::replicator::Replicator>>,
    /// Position, lag and outbox depth, for answers, probes and metrics.
    pub replication: crate::replicator::ReplicationStatus,
    /// Clients waiting for their ordered command to come back from the
    /// stream (replication_commands.rs; cluster only).
    pub(crate) command_waiters: crate::replicator::CommandWaiters,
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

impl Node {
    /// Opens a node over `store`, keeping its other files (pseudonymisation
    /// secret, signing keys) in `config.data_dir`, and rebuilds the
    /// projection from the latest snapshot and the log after it.
    /// Builds a node's state over `store` and loads its metadata
    /// (principals, rules), without loading modules or the projection: see
    /// `Node::open_with_modules` for that.
    pub(crate) fn assemble(
        config: ServerConfig,
        clock: Arc<dyn Clock>,
        store: Arc<dyn EventStore>,
        modules: Vec<Arc<dyn NodeModule>>,
    ) -> anyhow::Result<Node> {
        crate::config::create_private_dir(&config.data_dir)?;
        let secret = read_or_create_secret(&config)?;
        let (read_audit, read_audit_receiver) =
            tokio::sync::mpsc::channel(config.audit_queue_max.max(1));
        let timeline_cache_persons_max = config.timeline_cache_persons_max;
        let state = Node {
            codes: Codes::open(
                &config.data_dir,
                &config.sign_in,
                crate::citizen_sessions::SessionKey::derive(&secret),
                clock.now(),
            )?,
            rules: RwLock::new(
                RulesState::new(RuleSet::national()).map_err(|e| anyhow::anyhow!(e.detail))?,
            ),
            tracing: TracingState::new(config.tracing.clone()),
            risk_areas: RwLock::new(RiskAreas::new()),
            persons_with_retractions: RwLock::new(Default::default()),
            config,
            store,
            clock,
            pseudonymizer: Pseudonymizer::new(secret),
            principals: RwLock::new(Principals::default()),
            projection: Projection::new(),
            registered_persons: Default::default(),
            metrics: Metrics::default(),
            ingest_gate: tokio::sync::RwLock::new(()),
            timeline_cache: crate::timeline_cache::TimelineCache::new(timeline_cache_persons_max),
            events_since_snapshot: AtomicU64::new(0),
            schedule_changed: Notify::new(),
            transitions_applied_until: watch::channel(0).0,
            read_audit,
            read_audit_receiver: parking_lot::Mutex::new(Some(read_audit_receiver)),
            modules,
            background: Default::default(),
            replicator: std::sync::OnceLock::new(),
            replication: Default::default(),
            command_waiters: Default::default(),
        };
        state.load_metadata()?;
        Ok(state)
    }

    /// The module that puts held actions of `kind` into force.
    pub fn module_for_held(&self, kind: &str) -> Result<Arc<dyn NodeModule>, NodeError> {
        self.modules
            .iter()
            .find(|module| module.held_kinds().contains(&kind))
            .cloned()
            .ok_or_else(|| NodeError::invalid(format!("no module puts {kind} actions into force")))
    }

    /// The domain modules, in the order their hooks run.
    pub fn modules(&self) -> &[Arc<dyn NodeModule>] {
        &self.modules
    }

    /// The registered module of type `T`, for commands that keep their
    /// state in their module (services). Not registered: `Unavailable`.
    pub fn module<T: NodeModule + 'static>(&self) -> Result<&T, NodeError> {
        self.modules
            .iter()
            .find_map(|module| module.as_any().downcast_ref::<T>())
            .ok_or_else(|| {
                NodeError::unavailable(format!(
                    "module {} is not part of this node",
                    std::any::type_name::<T>()
                ))
            })
    }

    /// Checks that a module record names a registered module that declares
    /// its kind and owns its namespace.
    pub(crate) fn check_module_record(
        &self,
        record: &crate::record::Record,
    ) -> Result<(), NodeError> {
        if let crate::record::Record::ModuleRecorded {
            module,
            record_kind: kind,
            namespace,
            ..
        } = record
        {
            let owner = self
                .modules
                .iter()
                .find(|candidate| candidate.name() == module)
                .ok_or_else(|| NodeError::internal(format!("no module {module}")))?;
            if !owner.record_kinds().contains(&kind.as_str())
                || !owner.namespaces().contains(&namespace.as_str())
            {
                return Err(NodeError::internal(format!(
                    "module {module} does not declare record kind {kind} in namespace {namespace}"
                )));
            }
        }
        Ok(())
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
        self.count_registered_persons()?;
        self.load_ended_sessions()?;
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

    /// Remembers the sessions ended within a session's lifetime: a token
    /// verifies on any node, so what ended it must outlive a restart.
    /// Streams the namespace (it is not purged yet) and keeps only what can
    /// still end a live session.
    fn load_ended_sessions(&self) -> anyhow::Result<()> {
        use crate::citizen_sessions::{SESSION_CLOCK_SKEW_SECS, SESSION_TTL_SECS, SessionNonce};
        let now = self.clock.now();
        let mut malformed = 0usize;
        self.store
            .meta_for_each(crate::record::META_SESSIONS_ENDED, &mut |key, _| {
                let mut parts = key.split('/');
                let pid = parts.next().and_then(|text| PersonId::parse(text).ok());
                let ended_at = parts
                    .next()
                    .and_then(|text| text.parse::<i64>().ok())
                    .and_then(|secs| Timestamp::from_unix_secs(secs).ok());
                let nonce = parts.next().map(SessionNonce::parse);
                let (Some(pid), Some(ended_at)) = (pid, ended_at) else {
                    malformed += 1;
                    return;
                };
                if ended_at.unix_secs() + SESSION_TTL_SECS + SESSION_CLOCK_SKEW_SECS
                    <= now.unix_secs()
                {
                    return;
                }
                match nonce {
                    None => {
                        self.codes.end_sessions_opened_by(&pid, ended_at);
                    }
                    Some(Some(nonce)) => self.codes.end_one_session(nonce, &pid, ended_at),
                    Some(None) => malformed += 1,
                }
            })?;
        if malformed > 0 {
            // Written by this code only: a key it cannot read means a damaged
            // store. The node still starts (one person's record must not stop
            // everyone's service), and says so.
            tracing::error!(
                malformed,
                "unreadable keys under sessions-ended: the sessions they ended may verify again"
            );
        }
        Ok(())
    }

    /// Counts the registered persons per region, streaming the
    /// registrations (any number: `meta_list` would stop at its cap) and
    /// reading only their region.
    fn count_registered_persons(&self) -> anyhow::Result<()> {
        #[derive(serde::Deserialize)]
        struct RegionOnly {
            region: ymt_core::RegionCode,
        }
        let mut counts = std::collections::HashMap::new();
        let mut unreadable = None;
        self.store.meta_for_each(
            META_PERSONS,
            &mut |key, bytes| match serde_json::from_slice::<RegionOnly>(bytes) {
                Ok(person) => *counts.entry(person.region).or_insert(0i64) += 1,
                Err(error) => unreadable = Some(format!("stored person {key}: {error}")),
            },
        )?;
        if let Some(error) = unreadable {
            anyhow::bail!(error);
        }
        self.registered_persons.replace(counts);
        Ok(())
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// The principal of a bearer key at the node's clock, or why the key is
    /// refused (expired, retired after a rotation, revoked, unknown).
    pub fn authenticate(
        &self,
        bearer: &str,
    ) -> Result<crate::auth::Authenticated, crate::auth::KeyRefusal> {
        self.principals.read().authenticate(bearer, self.now())
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
            detail: crate::auth::with_key_id("", principal.key_in_use.as_deref()),
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
            detail: truncate(
                &crate::auth::with_key_id(detail, principal.and_then(|p| p.key_in_use.as_deref())),
                1000,
            ),
        };
        if let Ok(receiver) = self.store.audit_submit(vec![entry]) {
            let _ = receiver.await;
        }
    }

    /// Writes queued read-audit records in batches until the node stops;
    /// on stopping, writes what is still queued.
    pub fn spawn_read_audit_writer(self: &Arc<Self>) {
        let Some(mut receiver) = self.read_audit_receiver.lock().take() else {
            return;
        };
        let state = self.clone();
        self.background.spawn(|mut stop| async move {
            let mut batch = Vec::new();
            loop {
                let entry = tokio::select! {
                    entry = receiver.recv() => entry,
                    _ = stop.stopped() => None,
                };
                let stopping = entry.is_none();
                batch.extend(entry);
                while stopping || batch.len() < 1000 {
                    match receiver.try_recv() {
                        Ok(entry) => batch.push(entry),
                        Err(_) => break,
                    }
                }
                if !batch.is_empty()
                    && let Ok(done) = state.store.audit_submit(std::mem::take(&mut batch))
                {
                    let _ = done.await;
                }
                if stopping {
                    break;
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
}

fn truncate(text: &str, max_chars: usize) -> String {
    text.chars().take(max_chars).collect()
}
