//! Durable storage for yimatong: an append-only, idempotent event log with a
//! per-person timeline, a small metadata area, projection snapshots and a
//! hash-chained audit log.
//!
//! The store does not know the event schema: it keeps opaque payload bytes
//! with an id, a person, a recording instant and a log sequence number. The
//! server talks to it through the [`EventStore`] trait so that another
//! backend (PostgreSQL) can follow without touching the server.
//!
//! [`EmbeddedStore`] is the embedded implementation on top of the fjall LSM
//! engine. All writes go through one writer thread that groups concurrent
//! submissions into one engine batch and one fsync (group commit); see
//! `DESIGN.md` beside this crate's `Cargo.toml` for the reasoning.

pub mod audit;
pub mod backup;
pub mod bench;
mod codec;
mod embedded;
mod error;
pub mod snapshot;

pub use audit::{
    AuditEntry, AuditError, AuditFilter, AuditOutcome, AuditRecord, AuditVerifyReport, BrokenLink,
    BrokenLinkKind,
};
pub use embedded::{EmbeddedStore, RawKeyspace, WriterPause};
pub use error::StoreError;
pub use snapshot::{Snapshot, SnapshotLoad, SnapshotWarning};

use ymt_core::{EventId, PersonId, Timestamp};

/// An event as submitted: the store assigns its log sequence number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewEvent {
    pub id: EventId,
    pub person: PersonId,
    pub recorded_at: Timestamp,
    pub payload: Vec<u8>,
}

/// An event as stored, with its position in the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredEvent {
    pub seq: u64,
    pub id: EventId,
    pub person: PersonId,
    pub recorded_at: Timestamp,
    pub payload: Vec<u8>,
}

/// What happened to one submitted event, in input order.
///
/// `duplicate` is true when an identical event (same id, person, instant and
/// payload) was already stored; `seq` is then the sequence number of that
/// earlier copy and nothing new was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AppendOutcome {
    pub seq: u64,
    pub duplicate: bool,
}

/// One event of a rejected batch whose id is already stored with different
/// content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conflict {
    /// Position of the event in the submitted batch.
    pub index: usize,
    pub id: EventId,
    /// Sequence number of the stored event that holds this id.
    pub existing_seq: u64,
}

/// The channel on which the writer reports a submitted batch's outcome.
///
/// Await it in async code, or wait with [`wait_blocking`] in threads; the
/// store itself needs no tokio runtime.
pub type AppendReceiver = tokio::sync::oneshot::Receiver<Result<Vec<AppendOutcome>, StoreError>>;

/// The channel on which the writer reports an audit submission's records.
pub type AuditReceiver = tokio::sync::oneshot::Receiver<Result<Vec<AuditRecord>, StoreError>>;

/// Waits on this thread for the writer's answer.
///
/// Unlike tokio's `blocking_recv`, this does not panic when called from a
/// thread that runs an async runtime: it parks the thread until the writer
/// answers (about one fsync). A writer that stopped without answering is
/// `WriterGone`.
pub fn wait_blocking<T>(
    receiver: tokio::sync::oneshot::Receiver<Result<T, StoreError>>,
) -> Result<T, StoreError> {
    use std::future::Future;
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake, Waker};

    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut context = Context::from_waker(&waker);
    let mut receiver = receiver;
    loop {
        match std::pin::Pin::new(&mut receiver).poll(&mut context) {
            Poll::Ready(Ok(result)) => return result,
            Poll::Ready(Err(_)) => return Err(StoreError::WriterGone),
            // A spurious unpark only costs another poll.
            Poll::Pending => std::thread::park(),
        }
    }
}

/// One metadata write of a [`EventStore::meta_commit`]: a value put, or
/// removed when `value` is `None`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetaWrite {
    pub namespace: String,
    pub key: String,
    pub value: Option<Vec<u8>>,
}

impl MetaWrite {
    pub fn put(namespace: &str, key: &str, value: Vec<u8>) -> MetaWrite {
        MetaWrite {
            namespace: namespace.to_owned(),
            key: key.to_owned(),
            value: Some(value),
        }
    }

    pub fn delete(namespace: &str, key: &str) -> MetaWrite {
        MetaWrite {
            namespace: namespace.to_owned(),
            key: key.to_owned(),
            value: None,
        }
    }
}

/// How many events a purge removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PurgeReport {
    pub purged: u64,
    /// Ids that were asked for but not stored (already purged or never seen).
    pub missing: u64,
}

/// Limits and tuning of a store. Every queue and input is bounded.
#[derive(Clone, Debug)]
pub struct StoreConfig {
    /// Events in one submitted batch.
    pub batch_events_max: usize,
    /// Batches waiting for the writer; past this, submissions get `Overloaded`.
    pub queue_batches_max: usize,
    /// Payload bytes of all batches waiting for the writer; past this,
    /// submissions get `Overloaded`.
    pub queue_payload_bytes_max: usize,
    /// Payload bytes of one event.
    pub payload_bytes_max: usize,
    /// Events the writer puts into one engine commit (one fsync). A group is
    /// closed when it reaches this many events; the rest waits for the next.
    pub group_events_max: usize,
    /// Events returned by one `events_for_person` call; more is an error
    /// that tells the caller to page with `events_for_person_from`.
    pub person_events_max: usize,
    /// Events returned by one `scan_from` call, whatever limit is asked.
    pub scan_events_max: usize,
    /// Bytes of one metadata value.
    pub meta_value_bytes_max: usize,
    /// Entries returned by one `meta_list` call.
    pub meta_list_max: usize,
    /// Bytes of one projection snapshot.
    pub snapshot_bytes_max: u64,
    /// Audit records in one submission.
    pub audit_entries_max: usize,
    /// Block cache of the engine.
    pub cache_bytes: u64,
    /// Journal bytes kept before the engine forces memtable flushes; bounds
    /// the replay work after a crash. At least 64 MiB.
    pub journal_bytes_max: u64,
    /// Whether each commit fsyncs its journal before answering. Always true
    /// for a node that serves anyone; false only for a node whose data need
    /// not survive (the policy simulator's node in the loop, `ymt-sim`),
    /// where a commit is then acknowledged once it is in the engine's
    /// buffers. Everything else about a commit is unchanged.
    pub sync_commits: bool,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            batch_events_max: 10_000,
            queue_batches_max: 1_024,
            queue_payload_bytes_max: 256 * 1024 * 1024,
            payload_bytes_max: 64 * 1024,
            group_events_max: 50_000,
            person_events_max: 100_000,
            scan_events_max: 100_000,
            meta_value_bytes_max: 4 * 1024 * 1024,
            meta_list_max: 100_000,
            snapshot_bytes_max: 8 * 1024 * 1024 * 1024,
            audit_entries_max: 1_000,
            cache_bytes: 256 * 1024 * 1024,
            journal_bytes_max: 128 * 1024 * 1024,
            sync_commits: true,
        }
    }
}

/// Counters of the writer, for metrics and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Engine commits, each ending with one fsync of the journal.
    pub commits: u64,
    /// Submissions (event batches, audit submissions, metadata writes,
    /// purges) the writer completed, successfully or not.
    pub jobs: u64,
    /// Events newly stored.
    pub events_stored: u64,
    /// Events recognised as duplicates.
    pub events_duplicate: u64,
    /// Batches rejected because an id was stored with different content.
    pub batches_conflicting: u64,
    /// Submissions refused because the queue was full.
    pub overloaded: u64,
    /// The most jobs ever committed together.
    pub largest_group_jobs: u64,
}

/// The storage interface of the server.
///
/// Implementations must make every acknowledged write durable before the
/// acknowledgement, keep a batch all-or-nothing, and never reuse a sequence
/// number.
pub trait EventStore: Send + Sync {
    /// Queues a batch (with audit records written in the same commit) and
    /// returns at once; the receiver completes once the batch is durable.
    /// A full queue is `Err(Overloaded)` immediately.
    fn submit_with_audit(
        &self,
        batch: Vec<NewEvent>,
        audit: Vec<AuditEntry>,
    ) -> Result<AppendReceiver, StoreError>;

    /// Queues a batch as [`EventStore::submit_with_audit`] does, with
    /// metadata writes committed in the same commit, only when the batch is
    /// stored (not when it conflicts): a replica's stream position or a
    /// node's outbox entry is durable exactly when the events are. A store
    /// that cannot do this refuses non-empty `writes`.
    fn submit_with_audit_and_meta(
        &self,
        batch: Vec<NewEvent>,
        audit: Vec<AuditEntry>,
        writes: Vec<MetaWrite>,
    ) -> Result<AppendReceiver, StoreError> {
        if !writes.is_empty() {
            return Err(StoreError::InvalidArgument {
                what: "metadata writes",
                reason: "this store cannot commit them with events".into(),
            });
        }
        self.submit_with_audit(batch, audit)
    }

    /// Queues a batch; see [`EventStore::submit_with_audit`].
    fn submit(&self, batch: Vec<NewEvent>) -> Result<AppendReceiver, StoreError> {
        self.submit_with_audit(batch, Vec::new())
    }

    /// Appends a batch and waits until it is durable. This blocks the
    /// calling thread for about one fsync; in async code prefer
    /// `submit(..)?.await` (blocking here does not panic, it only holds the
    /// runtime's thread).
    fn append(&self, batch: Vec<NewEvent>) -> Result<Vec<AppendOutcome>, StoreError> {
        wait_blocking(self.submit(batch)?)
    }

    /// Every event of a person in log order, at most
    /// `StoreConfig::person_events_max` (more is `TooManyResults`).
    fn events_for_person(&self, person: &PersonId) -> Result<Vec<StoredEvent>, StoreError>;

    /// A page of a person's events with `seq >= from_seq`, in log order.
    fn events_for_person_from(
        &self,
        person: &PersonId,
        from_seq: u64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError>;

    fn event_by_id(&self, id: &EventId) -> Result<Option<StoredEvent>, StoreError>;

    /// The sequence numbers of a person's events in log order, without
    /// reading the events, under the cap of [`EventStore::events_for_person`]
    /// (more is `TooManyResults`). A node keeping parsed events reads only
    /// those it does not hold yet ([`EventStore::event_by_seq`]). The default
    /// reads the events.
    fn event_seqs_for_person(&self, person: &PersonId) -> Result<Vec<u64>, StoreError> {
        Ok(self
            .events_for_person(person)?
            .into_iter()
            .map(|event| event.seq)
            .collect())
    }

    /// The sequence numbers of a person's events above `after_seq`, in log
    /// order, when `counted_before` of the person's events were read already:
    /// the cap of [`EventStore::event_seqs_for_person`] counts them too. A
    /// reader keeping a person's events reads only the new ones' numbers
    /// while [`EventStore::removal_generation`] stays the same (a person's
    /// new events always take numbers above every number assigned before).
    fn event_seqs_for_person_after(
        &self,
        person: &PersonId,
        after_seq: u64,
        counted_before: usize,
    ) -> Result<Vec<u64>, StoreError>;

    /// A number that changes after every commit that may have removed
    /// events (a purge, a raw write): what a reader kept of a person's events
    /// numbered below it may be gone, and is read whole again. It is changed
    /// only once such a commit is visible, so a reader that read it before
    /// reading the events sees it change afterwards.
    fn removal_generation(&self) -> u64;

    /// The event stored under `seq`; `None` when there is none (purged, or
    /// never assigned).
    fn event_by_seq(&self, seq: u64) -> Result<Option<StoredEvent>, StoreError> {
        Ok(self
            .scan_from(seq, 1)?
            .into_iter()
            .find(|event| event.seq == seq))
    }

    /// Events with `seq >= from_seq` in log order, at most `limit` (capped by
    /// `StoreConfig::scan_events_max`). Purged events leave gaps.
    fn scan_from(&self, from_seq: u64, limit: usize) -> Result<Vec<StoredEvent>, StoreError>;

    /// The highest sequence number ever assigned (0 when none). Purging does
    /// not lower it.
    fn last_seq(&self) -> u64;

    /// Removes events by id (retention). The caller audits the purge.
    fn purge(&self, ids: &[EventId]) -> Result<PurgeReport, StoreError>;

    /// Removes every event the predicate selects, scanning the log in chunks
    /// so that ingestion is not blocked for the whole scan.
    fn purge_where(
        &self,
        predicate: &(dyn Fn(&StoredEvent) -> bool + Sync),
    ) -> Result<PurgeReport, StoreError>;

    /// Durably stores a metadata value (principals, rule sets, key
    /// configuration, venues).
    fn meta_put(&self, namespace: &str, key: &str, value: Vec<u8>) -> Result<(), StoreError>;
    fn meta_get(&self, namespace: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    fn meta_delete(&self, namespace: &str, key: &str) -> Result<bool, StoreError>;
    /// Every entry of a namespace in key order, at most
    /// `StoreConfig::meta_list_max` (more is `TooManyResults`).
    fn meta_list(&self, namespace: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError>;
    /// Visits every entry of a namespace in key order, one at a time and
    /// without the cap of [`EventStore::meta_list`]: for rebuilding an
    /// in-memory summary (counts) of a namespace of any size, keeping no
    /// more than the visitor does. The default reads through `meta_list`,
    /// so a store that cannot stream keeps its cap.
    fn meta_for_each(
        &self,
        namespace: &str,
        visit: &mut dyn FnMut(&str, &[u8]),
    ) -> Result<(), StoreError> {
        for (key, value) in self.meta_list(namespace)? {
            visit(&key, &value);
        }
        Ok(())
    }
    /// Queues metadata writes and their audit records, committed together
    /// (one batch, one fsync) or not at all; the receiver completes once
    /// they are durable. A full queue is `Err(Overloaded)` immediately.
    fn meta_commit(
        &self,
        writes: Vec<MetaWrite>,
        audit: Vec<AuditEntry>,
    ) -> Result<AuditReceiver, StoreError>;

    /// Writes a projection snapshot that covers the log up to `upto_seq`,
    /// atomically and durably; keeps the last two.
    fn snapshot_write(&self, upto_seq: u64, bytes: &[u8]) -> Result<(), StoreError>;
    /// The newest intact snapshot; corrupt ones are skipped and reported as
    /// warnings.
    fn snapshot_latest(&self) -> Result<SnapshotLoad, StoreError>;

    /// Queues audit records alone; see [`EventStore::submit_with_audit`].
    fn audit_submit(&self, entries: Vec<AuditEntry>) -> Result<AuditReceiver, StoreError>;
    /// Appends audit records and waits until they are durable.
    fn audit_append(&self, entries: Vec<AuditEntry>) -> Result<Vec<AuditRecord>, StoreError> {
        wait_blocking(self.audit_submit(entries)?)
    }
    /// Walks the whole chain and reports the first broken link.
    fn audit_verify(&self) -> Result<AuditVerifyReport, AuditError>;
    /// Records matching the filter in sequence order, at most `limit`.
    fn audit_list(
        &self,
        filter: &AuditFilter,
        limit: usize,
    ) -> Result<Vec<AuditRecord>, StoreError>;

    fn stats(&self) -> StoreStats;

    /// Writes an online, consistent backup of the whole store into the
    /// directory `dest` (see [`backup`]) while writes go on: one engine
    /// snapshot, so every batch is wholly in it or wholly out.
    fn backup_to(&self, dest: &std::path::Path) -> Result<backup::StoreBackupSummary, StoreError>;
}
