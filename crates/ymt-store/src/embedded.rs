//! The embedded store: fjall keyspaces written by one group-commit thread.
//!
//! Keyspaces and layouts (see `codec`):
//! - `events`:  seq (u64 BE) → version | recorded_at | id | person | payload
//! - `ids`:     event id → seq (u64 BE)
//! - `persons`: len(person) | person | seq (u64 BE) → empty
//! - `meta`:    len(namespace) | namespace | key → value
//! - `audit`:   seq (u64 BE) → record bytes | chain hash
//! - `sys`:     `last_event_seq` → u64 BE; `audit_head` → seq | hash
//!
//! Callers validate and queue jobs on their own thread; the writer drains
//! every queued job (up to a group bound) into one engine batch, commits it
//! with one fsync of the journal, and only then answers every caller.

use crate::audit::{self, AuditEntry, AuditRecord, GENESIS_HASH, HASH_LEN};
use crate::codec::{self, decode_event_value, encode_event_value};
use crate::snapshot;
use crate::{
    AppendOutcome, AppendReceiver, AuditError, AuditFilter, AuditReceiver, AuditVerifyReport,
    Conflict, EventStore, NewEvent, PurgeReport, SnapshotLoad, StoreConfig, StoreError, StoreStats,
    StoredEvent,
};
use fjall::{
    Database, Keyspace, KeyspaceCreateOptions, OwnedWriteBatch, PersistMode, Readable, Slice,
};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, TrySendError};

use parking_lot::{Mutex, MutexGuard};
use std::thread::JoinHandle;
use tokio::sync::oneshot;
use ymt_core::{EventId, PersonId};

const SYS_LAST_EVENT_SEQ: &[u8] = b"last_event_seq";
const SYS_AUDIT_HEAD: &[u8] = b"audit_head";
const META_NAMESPACE_BYTES_MAX: usize = 64;
const META_KEY_BYTES_MAX: usize = 256;
/// Events examined per chunk by `purge_where`; each chunk is one commit.
const PURGE_SCAN_CHUNK_EVENTS: usize = 10_000;
/// How long a clean close waits for the memtables to be flushed.
const CLOSE_FLUSH_WAIT: std::time::Duration = std::time::Duration::from_secs(30);
/// The engine refuses smaller journal bounds.
const JOURNAL_BYTES_MIN: u64 = 64 * 1024 * 1024;
/// Payload bytes the writer puts into one commit, besides the event bound.
const GROUP_PAYLOAD_BYTES_MAX: usize = 64 * 1024 * 1024;

/// The keyspaces, for the test-only raw access hook.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RawKeyspace {
    Events,
    Ids,
    Persons,
    Meta,
    Audit,
    Sys,
}

struct Keyspaces {
    events: Keyspace,
    ids: Keyspace,
    persons: Keyspace,
    meta: Keyspace,
    audit: Keyspace,
    sys: Keyspace,
}

impl Keyspaces {
    fn get(&self, which: RawKeyspace) -> &Keyspace {
        match which {
            RawKeyspace::Events => &self.events,
            RawKeyspace::Ids => &self.ids,
            RawKeyspace::Persons => &self.persons,
            RawKeyspace::Meta => &self.meta,
            RawKeyspace::Audit => &self.audit,
            RawKeyspace::Sys => &self.sys,
        }
    }
}

#[derive(Default)]
struct Counters {
    commits: AtomicU64,
    jobs: AtomicU64,
    events_stored: AtomicU64,
    events_duplicate: AtomicU64,
    batches_conflicting: AtomicU64,
    overloaded: AtomicU64,
    largest_group_jobs: AtomicU64,
}

struct Shared {
    db: Database,
    keyspaces: Keyspaces,
    config: StoreConfig,
    last_seq: AtomicU64,
    /// [`EventStore::removal_generation`].
    removal_generation: AtomicU64,
    queued_payload_bytes: AtomicUsize,
    counters: Counters,
    /// Held by the writer while it drains and commits a group; a test holds
    /// it to make the writer wait while the queue fills.
    gate: Mutex<()>,
}

/// An event encoded on the caller's thread, so the single writer only
/// checks and inserts.
struct PreparedEvent {
    id: EventId,
    person: PersonId,
    /// The `events` value (see `codec::encode_event_value`).
    value: Slice,
}

type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

/// Metadata writes by their engine key: a value, or a removal.
type KeyedWrites = Vec<(Vec<u8>, Option<Vec<u8>>)>;

enum Job {
    Append {
        events: Vec<PreparedEvent>,
        audit: Vec<AuditEntry>,
        /// Metadata writes committed with the batch, only if it is stored.
        writes: KeyedWrites,
        payload_bytes: usize,
        reply: Reply<Vec<AppendOutcome>>,
    },
    Audit {
        entries: Vec<AuditEntry>,
        reply: Reply<Vec<AuditRecord>>,
    },
    Meta {
        key: Vec<u8>,
        value: Option<Vec<u8>>,
        reply: Reply<bool>,
    },
    Purge {
        ids: Vec<EventId>,
        reply: Reply<PurgeReport>,
    },
    /// Metadata writes and their audit records, in one commit.
    Commit {
        writes: Vec<(Vec<u8>, Option<Vec<u8>>)>,
        audit: Vec<AuditEntry>,
        reply: Reply<Vec<AuditRecord>>,
    },
    Raw {
        keyspace: RawKeyspace,
        key: Vec<u8>,
        value: Option<Vec<u8>>,
        reply: Reply<()>,
    },
}

impl Job {
    fn payload_bytes(&self) -> usize {
        match self {
            Job::Append { payload_bytes, .. } => *payload_bytes,
            _ => 0,
        }
    }

    fn event_count(&self) -> usize {
        match self {
            Job::Append { events, .. } => events.len(),
            Job::Purge { ids, .. } => ids.len(),
            _ => 1,
        }
    }
}

/// The embedded, durable [`EventStore`].
pub struct EmbeddedStore {
    shared: Arc<Shared>,
    sender: Option<SyncSender<Job>>,
    writer: Option<JoinHandle<()>>,
    snapshot_dir: PathBuf,
    /// Serializes snapshot writers so that pruning sees a settled directory.
    snapshot_lock: Mutex<()>,
}

/// While held, the writer waits before taking the next group (test hook).
pub struct WriterPause<'a> {
    _guard: MutexGuard<'a, ()>,
}

impl EmbeddedStore {
    /// Checks metadata writes (namespace, key, value bound) and keys them.
    fn keyed_meta_writes(&self, writes: Vec<crate::MetaWrite>) -> Result<KeyedWrites, StoreError> {
        let max = self.shared.config.meta_value_bytes_max;
        let mut keyed = Vec::with_capacity(writes.len());
        for write in writes {
            validate_meta(&write.namespace, Some(&write.key))?;
            if let Some(value) = &write.value
                && value.len() > max
            {
                return Err(StoreError::InvalidArgument {
                    what: "meta value",
                    reason: format!("{} bytes, at most {max}", value.len()),
                });
            }
            keyed.push((codec::meta_key(&write.namespace, &write.key), write.value));
        }
        Ok(keyed)
    }

    /// Opens (creating if needed) a store in `dir`. Recovery of a torn
    /// journal tail happens here, inside the engine.
    pub fn open(dir: impl AsRef<Path>, config: StoreConfig) -> Result<EmbeddedStore, StoreError> {
        let dir = dir.as_ref();
        validate_config(&config)?;
        let snapshot_dir = dir.join("snapshots");
        std::fs::create_dir_all(&snapshot_dir).map_err(|err| StoreError::io(&snapshot_dir, err))?;
        let db = Database::builder(dir.join("engine"))
            .cache_size(config.cache_bytes)
            .max_journaling_size(config.journal_bytes_max)
            .open()?;
        let open = |name: &str| db.keyspace(name, KeyspaceCreateOptions::default);
        let keyspaces = Keyspaces {
            events: open("events")?,
            ids: open("ids")?,
            persons: open("persons")?,
            meta: open("meta")?,
            audit: open("audit")?,
            sys: open("sys")?,
        };
        let state = recover_writer_state(&keyspaces)?;
        // Only now, holding the engine's lock, is it safe to remove what an
        // interrupted snapshot write left behind.
        snapshot::remove_temporaries(&snapshot_dir)?;
        let (sender, receiver) = std::sync::mpsc::sync_channel(config.queue_batches_max);
        let shared = Arc::new(Shared {
            db,
            keyspaces,
            config,
            last_seq: AtomicU64::new(state.last_event_seq),
            removal_generation: AtomicU64::new(0),
            queued_payload_bytes: AtomicUsize::new(0),
            counters: Counters::default(),
            gate: Mutex::new(()),
        });
        let writer_shared = Arc::clone(&shared);
        let writer = std::thread::Builder::new()
            .name("ymt-store-writer".into())
            .spawn(move || writer_loop(&writer_shared, receiver, state))
            .map_err(|err| StoreError::io(dir, err))?;
        Ok(EmbeddedStore {
            shared,
            sender: Some(sender),
            writer: Some(writer),
            snapshot_dir,
            snapshot_lock: Mutex::new(()),
        })
    }

    pub fn config(&self) -> &StoreConfig {
        &self.shared.config
    }

    /// Makes the writer wait before its next group until the guard is
    /// dropped. Only for tests that need a deterministic group.
    #[doc(hidden)]
    pub fn pause_writer(&self) -> WriterPause<'_> {
        WriterPause {
            _guard: self.shared.gate.lock(),
        }
    }

    /// Writes (or with `None` removes) raw bytes in a keyspace, bypassing
    /// every check. Only for tests that simulate tampering or corruption.
    #[doc(hidden)]
    pub fn raw_write_for_tests(
        &self,
        keyspace: RawKeyspace,
        key: Vec<u8>,
        value: Option<Vec<u8>>,
    ) -> Result<(), StoreError> {
        let (reply, receiver) = oneshot::channel();
        self.send_blocking(Job::Raw {
            keyspace,
            key,
            value,
            reply,
        })?;
        crate::wait_blocking(receiver)
    }

    /// Reads raw bytes from a keyspace. Only for tests.
    #[doc(hidden)]
    pub fn raw_read_for_tests(
        &self,
        keyspace: RawKeyspace,
        key: &[u8],
    ) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .shared
            .keyspaces
            .get(keyspace)
            .get(key)?
            .map(|v| v.to_vec()))
    }

    fn sender(&self) -> Result<&SyncSender<Job>, StoreError> {
        self.sender.as_ref().ok_or(StoreError::WriterGone)
    }

    /// Queues a job without waiting; a full queue is `Overloaded`.
    fn try_send(&self, job: Job) -> Result<(), StoreError> {
        let payload_bytes = job.payload_bytes();
        let before = self
            .shared
            .queued_payload_bytes
            .fetch_add(payload_bytes, Ordering::AcqRel);
        // A batch larger than the byte bound is still accepted into an empty
        // queue, or it could never be stored.
        let over_bytes =
            before > 0 && before + payload_bytes > self.shared.config.queue_payload_bytes_max;
        let result = if over_bytes {
            Err(StoreError::Overloaded)
        } else {
            self.sender()?.try_send(job).map_err(|err| match err {
                TrySendError::Full(_) => StoreError::Overloaded,
                TrySendError::Disconnected(_) => StoreError::WriterGone,
            })
        };
        if let Err(err) = &result {
            self.shared
                .queued_payload_bytes
                .fetch_sub(payload_bytes, Ordering::AcqRel);
            if matches!(err, StoreError::Overloaded) {
                self.shared
                    .counters
                    .overloaded
                    .fetch_add(1, Ordering::Relaxed);
            }
        }
        result
    }

    /// Queues an administrative job (metadata, purge), waiting for room:
    /// these are rare and their callers prefer waiting to retrying.
    fn send_blocking(&self, job: Job) -> Result<(), StoreError> {
        self.sender()?.send(job).map_err(|_| StoreError::WriterGone)
    }

    fn meta_write(&self, key: Vec<u8>, value: Option<Vec<u8>>) -> Result<bool, StoreError> {
        let (reply, receiver) = oneshot::channel();
        self.send_blocking(Job::Meta { key, value, reply })?;
        crate::wait_blocking(receiver)
    }

    /// Checks a batch's bounds and encodes its events; returns them with
    /// their payload bytes.
    fn prepare_batch(
        &self,
        batch: Vec<NewEvent>,
    ) -> Result<(Vec<PreparedEvent>, usize), StoreError> {
        let config = &self.shared.config;
        if batch.is_empty() {
            return Err(StoreError::EmptyBatch);
        }
        if batch.len() > config.batch_events_max {
            return Err(StoreError::BatchTooLarge {
                len: batch.len(),
                max: config.batch_events_max,
            });
        }
        let mut payload_bytes = 0usize;
        let mut prepared: Vec<PreparedEvent> = Vec::with_capacity(batch.len());
        let mut first_index_of_id: HashMap<EventId, usize> = HashMap::with_capacity(batch.len());
        for (index, event) in batch.into_iter().enumerate() {
            if event.payload.len() > config.payload_bytes_max {
                return Err(StoreError::PayloadTooLarge {
                    index,
                    id: event.id.to_string(),
                    len: event.payload.len(),
                    max: config.payload_bytes_max,
                });
            }
            payload_bytes += event.payload.len();
            let value = Slice::from(encode_event_value(
                &event.id,
                &event.person,
                event.recorded_at,
                &event.payload,
            ));
            if let Some(&first) = first_index_of_id.get(&event.id) {
                if prepared[first].value != value {
                    return Err(StoreError::InvalidArgument {
                        what: "batch",
                        reason: format!(
                            "event {index} repeats the id {} of event {first} with different content",
                            event.id
                        ),
                    });
                }
            } else {
                first_index_of_id.insert(event.id.clone(), index);
            }
            prepared.push(PreparedEvent {
                id: event.id,
                person: event.person,
                value,
            });
        }
        Ok((prepared, payload_bytes))
    }

    fn validate_audit(&self, entries: &[AuditEntry]) -> Result<(), StoreError> {
        if entries.len() > self.shared.config.audit_entries_max {
            return Err(StoreError::InvalidArgument {
                what: "audit entries",
                reason: format!(
                    "{} entries, at most {}",
                    entries.len(),
                    self.shared.config.audit_entries_max
                ),
            });
        }
        entries.iter().try_for_each(AuditEntry::validate)
    }

    fn read_event(&self, snapshot: &fjall::Snapshot, seq: u64) -> Result<StoredEvent, StoreError> {
        let value = snapshot
            .get(&self.shared.keyspaces.events, codec::seq_key(seq))?
            .ok_or_else(|| StoreError::Corrupt {
                keyspace: "persons",
                key: seq.to_string(),
                reason: "index points at a missing event".into(),
            })?;
        decode_event_value(seq, &value)
    }
}

impl Drop for EmbeddedStore {
    fn drop(&mut self) {
        // Closing the channel lets the writer finish the queued jobs and
        // stop; joining it releases the engine before the directory is
        // reopened.
        self.sender.take();
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
        // On a clean close, flush the memtables so that the next open has
        // no journal to replay. Failure only costs replay time later (the
        // journal already holds every acknowledged write), so the wait is
        // bounded: a failing disk must not hang the shutdown.
        // A store whose directory is gone (removed under a running node)
        // cannot flush at all; waiting for it would only stall the close.
        let engine_dir = self.snapshot_dir.with_file_name("engine");
        if !engine_dir.exists() {
            return;
        }
        let keyspaces = &self.shared.keyspaces;
        let handles: Vec<Keyspace> = [
            &keyspaces.events,
            &keyspaces.ids,
            &keyspaces.persons,
            &keyspaces.meta,
            &keyspaces.audit,
            &keyspaces.sys,
        ]
        .into_iter()
        .cloned()
        .collect();
        let (done, flushed) = std::sync::mpsc::channel();
        let flusher = std::thread::Builder::new()
            .name("ymt-store-close-flush".into())
            .spawn(move || {
                for keyspace in handles {
                    let _ = keyspace.rotate_memtable_and_wait();
                }
                let _ = done.send(());
            });
        if flusher.is_ok() {
            let _ = flushed.recv_timeout(CLOSE_FLUSH_WAIT);
        }
    }
}

fn validate_config(config: &StoreConfig) -> Result<(), StoreError> {
    let positive = [
        ("batch_events_max", config.batch_events_max),
        ("queue_batches_max", config.queue_batches_max),
        ("group_events_max", config.group_events_max),
        ("person_events_max", config.person_events_max),
        ("scan_events_max", config.scan_events_max),
        ("meta_list_max", config.meta_list_max),
    ];
    if config.journal_bytes_max < JOURNAL_BYTES_MIN {
        return Err(StoreError::InvalidArgument {
            what: "journal_bytes_max",
            reason: format!("must be at least {JOURNAL_BYTES_MIN}"),
        });
    }
    for (what, value) in positive {
        if value == 0 {
            return Err(StoreError::InvalidArgument {
                what,
                reason: "must be at least 1".into(),
            });
        }
    }
    Ok(())
}

fn validate_meta(namespace: &str, key: Option<&str>) -> Result<(), StoreError> {
    if namespace.is_empty() || namespace.len() > META_NAMESPACE_BYTES_MAX {
        return Err(StoreError::InvalidArgument {
            what: "meta namespace",
            reason: format!(
                "{} bytes, must be 1 to {META_NAMESPACE_BYTES_MAX}",
                namespace.len()
            ),
        });
    }
    if let Some(key) = key
        && (key.is_empty() || key.len() > META_KEY_BYTES_MAX)
    {
        return Err(StoreError::InvalidArgument {
            what: "meta key",
            reason: format!("{} bytes, must be 1 to {META_KEY_BYTES_MAX}", key.len()),
        });
    }
    Ok(())
}

/// What the writer must know to continue the log and the audit chain.
#[derive(Clone, Copy)]
struct WriterState {
    last_event_seq: u64,
    audit_seq: u64,
    audit_hash: [u8; HASH_LEN],
}

fn recover_writer_state(keyspaces: &Keyspaces) -> Result<WriterState, StoreError> {
    let stored_last = match keyspaces.sys.get(SYS_LAST_EVENT_SEQ)? {
        Some(bytes) => codec::decode_seq("sys", &bytes)?,
        None => 0,
    };
    // The stored counter is written in every commit; the highest key is a
    // second opinion in case the counter were ever behind.
    let highest_key = match keyspaces.events.last_key_value() {
        Some(guard) => codec::decode_seq("events", &guard.key()?)?,
        None => 0,
    };
    // The stored head is authoritative: if records after it were removed the
    // writer continues after the head, so the gap stays visible to
    // `audit_verify` instead of being papered over. A record beyond the head
    // (or a missing or unreadable head) must never be overwritten either, so
    // the writer then continues after the last stored record; `audit_verify`
    // reports whatever is wrong with the head.
    let stored_head = keyspaces
        .sys
        .get(SYS_AUDIT_HEAD)?
        .and_then(|bytes| audit::decode_head(&bytes).ok());
    let last_record = match keyspaces.audit.last_key_value() {
        Some(guard) => {
            let (key, value) = guard.into_inner()?;
            let mut hash = GENESIS_HASH;
            if value.len() >= HASH_LEN {
                hash.copy_from_slice(&value[value.len() - HASH_LEN..]);
            }
            Some((codec::decode_seq("audit", &key)?, hash))
        }
        None => None,
    };
    let (audit_seq, audit_hash) = match (stored_head, last_record) {
        (Some(head), Some(last)) if last.0 > head.0 => last,
        (Some(head), _) => head,
        (None, Some(last)) => last,
        (None, None) => (0, GENESIS_HASH),
    };
    Ok(WriterState {
        last_event_seq: stored_last.max(highest_key),
        audit_seq,
        audit_hash,
    })
}

/// An answer the writer sends once the group's commit is known.
enum Pending {
    Append(
        Reply<Vec<AppendOutcome>>,
        Result<Vec<AppendOutcome>, StoreError>,
    ),
    Audit(
        Reply<Vec<AuditRecord>>,
        Result<Vec<AuditRecord>, StoreError>,
    ),
    Meta(Reply<bool>, Result<bool, StoreError>),
    Purge(Reply<PurgeReport>, Result<PurgeReport, StoreError>),
    Raw(Reply<()>, Result<(), StoreError>),
}

impl Pending {
    /// Sends the answer, replacing a success by the commit error when the
    /// commit failed. A caller that stopped waiting is not an error.
    fn send(self, commit_error: Option<&str>) {
        fn settle<T>(
            result: Result<T, StoreError>,
            commit_error: Option<&str>,
        ) -> Result<T, StoreError> {
            match (result, commit_error) {
                (Ok(_), Some(message)) => Err(StoreError::CommitFailed(message.to_string())),
                (result, _) => result,
            }
        }
        match self {
            Pending::Append(reply, result) => drop(reply.send(settle(result, commit_error))),
            Pending::Audit(reply, result) => drop(reply.send(settle(result, commit_error))),
            Pending::Meta(reply, result) => drop(reply.send(settle(result, commit_error))),
            Pending::Purge(reply, result) => drop(reply.send(settle(result, commit_error))),
            Pending::Raw(reply, result) => drop(reply.send(settle(result, commit_error))),
        }
    }
}

/// The writes of one group, with an overlay of what the group itself wrote
/// so that later jobs of the group see earlier ones.
struct Group<'a> {
    shared: &'a Shared,
    batch: OwnedWriteBatch,
    writes: usize,
    state: WriterState,
    /// Event id → (seq, encoded value), or `None` when purged in this group.
    ids: HashMap<EventId, Option<(u64, Slice)>>,
    /// Metadata keys written (`true`) or removed (`false`) in this group.
    meta: HashMap<Vec<u8>, bool>,
    events_stored: u64,
    events_duplicate: u64,
    batches_conflicting: u64,
}

impl Group<'_> {
    fn lookup_id(&self, id: &EventId) -> Result<Option<(u64, Slice)>, StoreError> {
        if let Some(entry) = self.ids.get(id) {
            return Ok(entry.clone());
        }
        let keyspaces = &self.shared.keyspaces;
        let Some(seq_bytes) = keyspaces.ids.get(id.as_str())? else {
            return Ok(None);
        };
        let seq = codec::decode_seq("ids", &seq_bytes)?;
        let value =
            keyspaces
                .events
                .get(codec::seq_key(seq))?
                .ok_or_else(|| StoreError::Corrupt {
                    keyspace: "ids",
                    key: id.to_string(),
                    reason: format!("points at missing event {seq}"),
                })?;
        Ok(Some((seq, value)))
    }

    fn append(
        &mut self,
        events: Vec<PreparedEvent>,
        audit_entries: &[AuditEntry],
    ) -> Result<Vec<AppendOutcome>, StoreError> {
        // Check first, write after: a rejected batch adds nothing.
        let mut existing = Vec::with_capacity(events.len());
        let mut conflicts = Vec::new();
        for (index, event) in events.iter().enumerate() {
            let found = self.lookup_id(&event.id)?;
            if let Some((seq, stored)) = &found
                && *stored != event.value
            {
                conflicts.push(Conflict {
                    index,
                    id: event.id.clone(),
                    existing_seq: *seq,
                });
            }
            existing.push(found.map(|(seq, _)| seq));
        }
        if !conflicts.is_empty() {
            self.batches_conflicting += 1;
            return Err(StoreError::Conflict { conflicts });
        }
        let keyspaces = &self.shared.keyspaces;
        let mut outcomes = Vec::with_capacity(events.len());
        for (event, existing_seq) in events.into_iter().zip(existing) {
            // An earlier event of this same batch may have stored the id.
            let existing_seq = existing_seq.or_else(|| {
                self.ids
                    .get(&event.id)
                    .and_then(|entry| entry.as_ref().map(|(seq, _)| *seq))
            });
            if let Some(seq) = existing_seq {
                self.events_duplicate += 1;
                outcomes.push(AppendOutcome {
                    seq,
                    duplicate: true,
                });
                continue;
            }
            self.state.last_event_seq += 1;
            let seq = self.state.last_event_seq;
            self.batch
                .insert(&keyspaces.events, codec::seq_key(seq), event.value.clone());
            self.batch
                .insert(&keyspaces.ids, event.id.as_str(), seq.to_be_bytes());
            self.batch.insert(
                &keyspaces.persons,
                codec::person_key(&event.person, seq),
                b"",
            );
            self.writes += 3;
            self.ids.insert(event.id, Some((seq, event.value)));
            self.events_stored += 1;
            outcomes.push(AppendOutcome {
                seq,
                duplicate: false,
            });
        }
        self.audit(audit_entries);
        Ok(outcomes)
    }

    fn audit(&mut self, entries: &[AuditEntry]) -> Vec<AuditRecord> {
        let mut records = Vec::with_capacity(entries.len());
        for entry in entries {
            let seq = self.state.audit_seq + 1;
            let bytes = audit::encode_record(seq, entry);
            let hash = audit::chain_hash(&self.state.audit_hash, &bytes);
            self.batch.insert(
                &self.shared.keyspaces.audit,
                codec::seq_key(seq),
                audit::encode_stored(&bytes, &hash),
            );
            self.writes += 1;
            self.state.audit_seq = seq;
            self.state.audit_hash = hash;
            records.push(AuditRecord {
                seq,
                at: entry.at,
                principal: entry.principal.clone(),
                role: entry.role.clone(),
                action: entry.action.clone(),
                target: entry.target.clone(),
                outcome: entry.outcome,
                detail: entry.detail.clone(),
                hash,
            });
        }
        records
    }

    fn purge(&mut self, ids: &[EventId]) -> Result<PurgeReport, StoreError> {
        // Check first, write after: a failed purge removes nothing.
        let mut report = PurgeReport::default();
        let mut found = Vec::with_capacity(ids.len());
        for id in ids {
            match self.lookup_id(id)? {
                Some((seq, value)) => found.push((id, decode_event_value(seq, &value)?)),
                None => report.missing += 1,
            }
        }
        let keyspaces = &self.shared.keyspaces;
        for (id, event) in found {
            // The same id twice in one request is purged once.
            if matches!(self.ids.get(id), Some(None)) {
                report.missing += 1;
                continue;
            }
            let seq = event.seq;
            self.batch.remove(&keyspaces.events, codec::seq_key(seq));
            self.batch.remove(&keyspaces.ids, id.as_str());
            self.batch
                .remove(&keyspaces.persons, codec::person_key(&event.person, seq));
            self.writes += 3;
            self.ids.insert(id.clone(), None);
            report.purged += 1;
        }
        Ok(report)
    }

    fn meta(&mut self, key: Vec<u8>, value: Option<Vec<u8>>) -> Result<bool, StoreError> {
        let keyspace = &self.shared.keyspaces.meta;
        let existed = match self.meta.get(&key) {
            Some(present) => *present,
            None => keyspace.contains_key(&key)?,
        };
        self.meta.insert(key.clone(), value.is_some());
        match value {
            Some(value) => self.batch.insert(keyspace, key, value),
            None => self.batch.remove(keyspace, key),
        }
        self.writes += 1;
        Ok(existed)
    }

    fn raw(&mut self, keyspace: RawKeyspace, key: Vec<u8>, value: Option<Vec<u8>>) {
        let keyspace = self.shared.keyspaces.get(keyspace);
        match value {
            Some(value) => self.batch.insert(keyspace, key, value),
            None => self.batch.remove(keyspace, key),
        }
        self.writes += 1;
    }
}

fn writer_loop(shared: &Shared, receiver: Receiver<Job>, mut state: WriterState) {
    let config = &shared.config;
    while let Ok(first) = receiver.recv() {
        let _gate = shared.gate.lock();
        let mut jobs = vec![first];
        let mut events = jobs[0].event_count();
        let mut payload_bytes = jobs[0].payload_bytes();
        while events < config.group_events_max && payload_bytes < GROUP_PAYLOAD_BYTES_MAX {
            match receiver.try_recv() {
                Ok(job) => {
                    events += job.event_count();
                    payload_bytes += job.payload_bytes();
                    jobs.push(job);
                }
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        shared
            .queued_payload_bytes
            .fetch_sub(payload_bytes, Ordering::AcqRel);
        state = commit_group(shared, jobs, state);
    }
}

/// Applies a group of jobs in one engine batch and one fsync, then answers.
/// Returns the writer state after the group (unchanged if the commit failed).
fn commit_group(shared: &Shared, jobs: Vec<Job>, state: WriterState) -> WriterState {
    let job_count = jobs.len() as u64;
    let mut group = Group {
        shared,
        batch: shared.db.batch().durability(if shared.config.sync_commits {
            Some(PersistMode::SyncAll)
        } else {
            // Nothing this store holds must survive (the simulator's node).
            None
        }),
        writes: 0,
        state,
        ids: HashMap::new(),
        meta: HashMap::new(),
        events_stored: 0,
        events_duplicate: 0,
        batches_conflicting: 0,
    };
    let mut pending = Vec::with_capacity(jobs.len());
    let may_remove = jobs
        .iter()
        .any(|job| matches!(job, Job::Purge { .. } | Job::Raw { .. }));
    for job in jobs {
        pending.push(match job {
            Job::Append {
                events,
                audit,
                writes,
                reply,
                ..
            } => {
                let mut result = group.append(events, &audit);
                if result.is_ok() {
                    for (key, value) in writes {
                        if let Err(error) = group.meta(key, value) {
                            result = Err(error);
                            break;
                        }
                    }
                }
                Pending::Append(reply, result)
            }
            Job::Audit { entries, reply } => Pending::Audit(reply, Ok(group.audit(&entries))),
            Job::Meta { key, value, reply } => Pending::Meta(reply, group.meta(key, value)),
            Job::Purge { ids, reply } => Pending::Purge(reply, group.purge(&ids)),
            Job::Commit {
                writes,
                audit,
                reply,
            } => {
                let mut result = Ok(());
                for (key, value) in writes {
                    if let Err(error) = group.meta(key, value) {
                        result = Err(error);
                        break;
                    }
                }
                // A failed metadata read (the only way `meta` fails) refuses
                // the job; what it already added to the group is harmless to
                // commit, since the caller is told it failed and retries the
                // same writes.
                Pending::Audit(reply, result.map(|()| group.audit(&audit)))
            }
            Job::Raw {
                keyspace,
                key,
                value,
                reply,
            } => {
                group.raw(keyspace, key, value);
                Pending::Raw(reply, Ok(()))
            }
        });
    }
    let keyspaces = &shared.keyspaces;
    let new_state = group.state;
    if new_state.last_event_seq != state.last_event_seq {
        group.batch.insert(
            &keyspaces.sys,
            SYS_LAST_EVENT_SEQ,
            new_state.last_event_seq.to_be_bytes(),
        );
    }
    if new_state.audit_seq != state.audit_seq {
        group.batch.insert(
            &keyspaces.sys,
            SYS_AUDIT_HEAD,
            audit::encode_head(new_state.audit_seq, &new_state.audit_hash),
        );
    }
    let counters = &shared.counters;
    counters
        .batches_conflicting
        .fetch_add(group.batches_conflicting, Ordering::Relaxed);
    let commit_result = if group.writes == 0 {
        Ok(())
    } else {
        let result = group.batch.commit();
        if result.is_ok() {
            counters.commits.fetch_add(1, Ordering::Relaxed);
        }
        result
    };
    if may_remove {
        // After the commit (whatever its result): a reader that saw the old
        // number before reading sees this one the next time.
        shared.removal_generation.fetch_add(1, Ordering::AcqRel);
    }
    let commit_error = commit_result.as_ref().err().map(|err| err.to_string());
    let final_state = if commit_error.is_none() {
        shared
            .last_seq
            .store(new_state.last_event_seq, Ordering::Release);
        counters
            .events_stored
            .fetch_add(group.events_stored, Ordering::Relaxed);
        counters
            .events_duplicate
            .fetch_add(group.events_duplicate, Ordering::Relaxed);
        new_state
    } else {
        state
    };
    counters.jobs.fetch_add(job_count, Ordering::Relaxed);
    counters
        .largest_group_jobs
        .fetch_max(job_count, Ordering::Relaxed);
    for answer in pending {
        answer.send(commit_error.as_deref());
    }
    final_state
}

impl EventStore for EmbeddedStore {
    fn submit_with_audit(
        &self,
        batch: Vec<NewEvent>,
        audit: Vec<AuditEntry>,
    ) -> Result<AppendReceiver, StoreError> {
        self.submit_with_audit_and_meta(batch, audit, Vec::new())
    }

    fn submit_with_audit_and_meta(
        &self,
        batch: Vec<NewEvent>,
        audit: Vec<AuditEntry>,
        writes: Vec<crate::MetaWrite>,
    ) -> Result<AppendReceiver, StoreError> {
        self.validate_audit(&audit)?;
        let writes = self.keyed_meta_writes(writes)?;
        let (events, payload_bytes) = self.prepare_batch(batch)?;
        let (reply, receiver) = oneshot::channel();
        self.try_send(Job::Append {
            events,
            audit,
            writes,
            payload_bytes,
            reply,
        })?;
        Ok(receiver)
    }

    fn events_for_person(&self, person: &PersonId) -> Result<Vec<StoredEvent>, StoreError> {
        let max = self.shared.config.person_events_max;
        let events = self.events_for_person_page(person, 0, max.saturating_add(1))?;
        if events.len() > max {
            return Err(StoreError::TooManyResults {
                what: "events for person",
                max,
            });
        }
        Ok(events)
    }

    fn events_for_person_from(
        &self,
        person: &PersonId,
        from_seq: u64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        self.events_for_person_page(
            person,
            from_seq,
            limit.min(self.shared.config.person_events_max),
        )
    }

    fn event_seqs_for_person(&self, person: &PersonId) -> Result<Vec<u64>, StoreError> {
        // Numbers start at 1: above 0 is every one of the person's events.
        self.event_seqs_for_person_after(person, 0, 0)
    }

    fn event_seqs_for_person_after(
        &self,
        person: &PersonId,
        after_seq: u64,
        counted_before: usize,
    ) -> Result<Vec<u64>, StoreError> {
        let max = self.shared.config.person_events_max;
        let too_many = StoreError::TooManyResults {
            what: "events for person",
            max,
        };
        let Some(room) = max.checked_sub(counted_before) else {
            return Err(too_many);
        };
        let Some(start_seq) = after_seq.checked_add(1) else {
            return Ok(Vec::new());
        };
        let snapshot = self.shared.db.snapshot();
        let start = codec::person_key(person, start_seq);
        let end = codec::person_key(person, u64::MAX);
        let mut seqs = Vec::new();
        for guard in snapshot
            .range(&self.shared.keyspaces.persons, start..=end)
            .take(room.saturating_add(1))
        {
            seqs.push(codec::seq_of_person_key(&guard.key()?)?);
        }
        if seqs.len() > room {
            return Err(too_many);
        }
        Ok(seqs)
    }

    fn removal_generation(&self) -> u64 {
        self.shared.removal_generation.load(Ordering::Acquire)
    }

    fn event_by_seq(&self, seq: u64) -> Result<Option<StoredEvent>, StoreError> {
        let snapshot = self.shared.db.snapshot();
        match snapshot.get(&self.shared.keyspaces.events, codec::seq_key(seq))? {
            Some(value) => Ok(Some(decode_event_value(seq, &value)?)),
            None => Ok(None),
        }
    }

    fn event_by_id(&self, id: &EventId) -> Result<Option<StoredEvent>, StoreError> {
        let snapshot = self.shared.db.snapshot();
        let Some(seq_bytes) = snapshot.get(&self.shared.keyspaces.ids, id.as_str())? else {
            return Ok(None);
        };
        let seq = codec::decode_seq("ids", &seq_bytes)?;
        self.read_event(&snapshot, seq).map(Some)
    }

    fn scan_from(&self, from_seq: u64, limit: usize) -> Result<Vec<StoredEvent>, StoreError> {
        let limit = limit.min(self.shared.config.scan_events_max);
        let snapshot = self.shared.db.snapshot();
        let mut events = Vec::new();
        for guard in snapshot
            .range(&self.shared.keyspaces.events, codec::seq_key(from_seq)..)
            .take(limit)
        {
            let (key, value) = guard.into_inner()?;
            let seq = codec::decode_seq("events", &key)?;
            events.push(decode_event_value(seq, &value)?);
        }
        Ok(events)
    }

    fn last_seq(&self) -> u64 {
        self.shared.last_seq.load(Ordering::Acquire)
    }

    fn purge(&self, ids: &[EventId]) -> Result<PurgeReport, StoreError> {
        let mut total = PurgeReport::default();
        // Chunks keep each commit within the group bound.
        for chunk in ids.chunks(self.shared.config.batch_events_max) {
            let (reply, receiver) = oneshot::channel();
            self.send_blocking(Job::Purge {
                ids: chunk.to_vec(),
                reply,
            })?;
            let report = crate::wait_blocking(receiver)?;
            total.purged += report.purged;
            total.missing += report.missing;
        }
        Ok(total)
    }

    fn purge_where(
        &self,
        predicate: &(dyn Fn(&StoredEvent) -> bool + Sync),
    ) -> Result<PurgeReport, StoreError> {
        // Events appended after the scan starts are not considered.
        let end_seq = self.last_seq();
        let mut next_seq = 1;
        let mut total = PurgeReport::default();
        while next_seq <= end_seq {
            let chunk = self.scan_from(next_seq, PURGE_SCAN_CHUNK_EVENTS)?;
            let Some(last) = chunk.last() else { break };
            next_seq = last.seq + 1;
            let selected: Vec<EventId> = chunk
                .into_iter()
                .filter(|event| event.seq <= end_seq && predicate(event))
                .map(|event| event.id)
                .collect();
            if !selected.is_empty() {
                let report = self.purge(&selected)?;
                total.purged += report.purged;
                total.missing += report.missing;
            }
        }
        Ok(total)
    }

    fn meta_put(&self, namespace: &str, key: &str, value: Vec<u8>) -> Result<(), StoreError> {
        validate_meta(namespace, Some(key))?;
        let max = self.shared.config.meta_value_bytes_max;
        if value.len() > max {
            return Err(StoreError::InvalidArgument {
                what: "meta value",
                reason: format!("{} bytes, at most {max}", value.len()),
            });
        }
        self.meta_write(codec::meta_key(namespace, key), Some(value))
            .map(|_| ())
    }

    fn meta_get(&self, namespace: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        validate_meta(namespace, Some(key))?;
        Ok(self
            .shared
            .keyspaces
            .meta
            .get(codec::meta_key(namespace, key))?
            .map(|value| value.to_vec()))
    }

    fn meta_delete(&self, namespace: &str, key: &str) -> Result<bool, StoreError> {
        validate_meta(namespace, Some(key))?;
        self.meta_write(codec::meta_key(namespace, key), None)
    }

    fn meta_commit(
        &self,
        writes: Vec<crate::MetaWrite>,
        audit: Vec<AuditEntry>,
    ) -> Result<AuditReceiver, StoreError> {
        self.validate_audit(&audit)?;
        let keyed = self.keyed_meta_writes(writes)?;
        let (reply, receiver) = oneshot::channel();
        self.try_send(Job::Commit {
            writes: keyed,
            audit,
            reply,
        })?;
        Ok(receiver)
    }

    fn meta_list(&self, namespace: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        validate_meta(namespace, None)?;
        let prefix = codec::meta_prefix(namespace);
        let max = self.shared.config.meta_list_max;
        let mut entries = Vec::new();
        for guard in self.shared.keyspaces.meta.prefix(&prefix) {
            if entries.len() == max {
                return Err(StoreError::TooManyResults {
                    what: "meta entries",
                    max,
                });
            }
            let (key, value) = guard.into_inner()?;
            let name =
                std::str::from_utf8(&key[prefix.len()..]).map_err(|_| StoreError::Corrupt {
                    keyspace: "meta",
                    key: codec::hex(&key),
                    reason: "key is not UTF-8".into(),
                })?;
            entries.push((name.to_string(), value.to_vec()));
        }
        Ok(entries)
    }

    fn meta_for_each(
        &self,
        namespace: &str,
        visit: &mut dyn FnMut(&str, &[u8]),
    ) -> Result<(), StoreError> {
        validate_meta(namespace, None)?;
        let prefix = codec::meta_prefix(namespace);
        for guard in self.shared.keyspaces.meta.prefix(&prefix) {
            let (key, value) = guard.into_inner()?;
            let name =
                std::str::from_utf8(&key[prefix.len()..]).map_err(|_| StoreError::Corrupt {
                    keyspace: "meta",
                    key: codec::hex(&key),
                    reason: "key is not UTF-8".into(),
                })?;
            visit(name, &value);
        }
        Ok(())
    }

    fn snapshot_write(&self, upto_seq: u64, bytes: &[u8]) -> Result<(), StoreError> {
        let last = self.last_seq();
        if upto_seq > last {
            return Err(StoreError::InvalidArgument {
                what: "snapshot upto_seq",
                reason: format!("{upto_seq} is beyond the last stored sequence {last}"),
            });
        }
        let max = self.shared.config.snapshot_bytes_max;
        if bytes.len() as u64 > max {
            return Err(StoreError::InvalidArgument {
                what: "snapshot",
                reason: format!("{} bytes, at most {max}", bytes.len()),
            });
        }
        let _writing = self.snapshot_lock.lock();
        snapshot::write(&self.snapshot_dir, upto_seq, bytes)
    }

    fn snapshot_latest(&self) -> Result<SnapshotLoad, StoreError> {
        snapshot::latest(&self.snapshot_dir, self.shared.config.snapshot_bytes_max)
    }

    fn audit_submit(&self, entries: Vec<AuditEntry>) -> Result<AuditReceiver, StoreError> {
        if entries.is_empty() {
            return Err(StoreError::InvalidArgument {
                what: "audit entries",
                reason: "none given".into(),
            });
        }
        self.validate_audit(&entries)?;
        let (reply, receiver) = oneshot::channel();
        self.try_send(Job::Audit { entries, reply })?;
        Ok(receiver)
    }

    fn audit_verify(&self) -> Result<AuditVerifyReport, AuditError> {
        let snapshot = self.shared.db.snapshot();
        let keyspaces = &self.shared.keyspaces;
        let head = match snapshot
            .get(&keyspaces.sys, SYS_AUDIT_HEAD)
            .map_err(StoreError::from)?
        {
            Some(bytes) => {
                Some(
                    audit::decode_head(&bytes).map_err(|reason| StoreError::Corrupt {
                        keyspace: "sys",
                        key: "audit_head".into(),
                        reason,
                    })?,
                )
            }
            None => None,
        };
        let records = snapshot.iter(&keyspaces.audit).map(|guard| {
            let (key, value) = guard.into_inner()?;
            Ok((codec::decode_seq("audit", &key)?, value.to_vec()))
        });
        audit::verify_chain(records, head)
    }

    fn audit_list(
        &self,
        filter: &AuditFilter,
        limit: usize,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let limit = limit.min(self.shared.config.scan_events_max);
        let mut records = Vec::new();
        if limit == 0 {
            return Ok(records);
        }
        for guard in self
            .shared
            .keyspaces
            .audit
            .range(codec::seq_key(filter.from_seq)..)
        {
            let (key, value) = guard.into_inner()?;
            let (record, _) =
                audit::decode_stored(&value).map_err(|reason| StoreError::Corrupt {
                    keyspace: "audit",
                    key: codec::hex(&key),
                    reason,
                })?;
            if filter.matches(&record) {
                records.push(record);
                if records.len() == limit {
                    break;
                }
            }
        }
        Ok(records)
    }

    fn backup_to(
        &self,
        dest: &std::path::Path,
    ) -> Result<crate::backup::StoreBackupSummary, StoreError> {
        let snapshot = self.shared.db.snapshot();
        let all = &self.shared.keyspaces;
        let by_name = |name: &str| match name {
            "events" => &all.events,
            "ids" => &all.ids,
            "persons" => &all.persons,
            "meta" => &all.meta,
            "audit" => &all.audit,
            "sys" => &all.sys,
            other => unreachable!("backup::KEYSPACES names no keyspace {other}"),
        };
        let keyspaces: Vec<(u8, &Keyspace, &str)> = crate::backup::KEYSPACES
            .iter()
            .map(|(tag, name)| (*tag, by_name(name), *name))
            .collect();
        crate::backup::write(&snapshot, &keyspaces, dest)
    }

    fn stats(&self) -> StoreStats {
        let c = &self.shared.counters;
        StoreStats {
            commits: c.commits.load(Ordering::Relaxed),
            jobs: c.jobs.load(Ordering::Relaxed),
            events_stored: c.events_stored.load(Ordering::Relaxed),
            events_duplicate: c.events_duplicate.load(Ordering::Relaxed),
            batches_conflicting: c.batches_conflicting.load(Ordering::Relaxed),
            overloaded: c.overloaded.load(Ordering::Relaxed),
            largest_group_jobs: c.largest_group_jobs.load(Ordering::Relaxed),
        }
    }
}

impl EmbeddedStore {
    fn events_for_person_page(
        &self,
        person: &PersonId,
        from_seq: u64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let snapshot = self.shared.db.snapshot();
        let start = codec::person_key(person, from_seq);
        let end = codec::person_key(person, u64::MAX);
        let mut events = Vec::new();
        for guard in snapshot
            .range(&self.shared.keyspaces.persons, start..=end)
            .take(limit)
        {
            let key = guard.key()?;
            let seq = codec::seq_of_person_key(&key)?;
            events.push(self.read_event(&snapshot, seq)?);
        }
        Ok(events)
    }
}
