//! The parsed timelines of the policy simulator's node
//! ([`crate::ServerConfig::timeline_cache_persons_max`]): a person's
//! events other than check-ins, parsed once and kept, so that deciding a
//! person reads from the store only the events stored since the last time
//! (docs/simulation.md, Cost).
//!
//! An event stored under a sequence number never changes, and a person's
//! new events always take numbers above every number assigned before (the
//! log only grows; purging does not lower it), so every event of the person
//! numbered at most `read_through_seq` was read when the entry was made:
//! one of those not kept is a check-in. A read therefore asks the store's
//! index only for the numbers above it. What can go stale is an event kept
//! and purged since: an entry made under another
//! [`EventStore::removal_generation`] is not used, and the person's index is
//! read whole (an event purged since is no longer in it, so it is not
//! returned; one purged between reading the index and reading the event
//! makes the caller read the timeline whole).

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use ymt_core::PersonId;
use ymt_store::EventStore;

use crate::error::NodeError;
use crate::model::EventRecord;

/// What is kept of one person's timeline.
struct Kept {
    /// Every event of the person numbered up to this was read.
    read_through_seq: u64,
    /// How many there were, check-ins too (the store's per-person cap
    /// counts them).
    events_read: usize,
    /// The store's removal generation read before they were.
    removal_generation: u64,
    /// Those of them that are not check-ins, parsed, in log order.
    records: Arc<Vec<(u64, Arc<EventRecord>)>>,
}

/// The timelines kept, of at most `persons_max` persons (emptied when full).
pub(crate) struct TimelineCache {
    persons_max: usize,
    kept: Mutex<HashMap<PersonId, Kept>>,
    /// Events this node just stored, by number, as it stored them (`None`
    /// for a check-in), until a read of their person's timeline takes them:
    /// that read needs neither the store nor the parser for them. An event
    /// under a number never changes; an entry made under another removal
    /// generation is not used.
    just_stored: Mutex<JustStored>,
}

#[derive(Default)]
struct JustStored {
    removal_generation: u64,
    by_seq: HashMap<u64, Option<Arc<EventRecord>>>,
}

/// Just-stored events held at most, about 50 bytes each beside those that
/// are not check-ins (emptied when full: persons never decided again leave
/// theirs).
const JUST_STORED_MAX: usize = 1 << 20;

impl TimelineCache {
    pub(crate) fn new(persons_max: usize) -> TimelineCache {
        TimelineCache {
            persons_max,
            kept: Mutex::new(HashMap::new()),
            just_stored: Mutex::new(JustStored::default()),
        }
    }

    /// Notes the events a batch stored (those not duplicates), as stored.
    pub(crate) fn note_stored(
        &self,
        store: &dyn EventStore,
        records: &[EventRecord],
        outcomes: &[ymt_store::AppendOutcome],
    ) {
        if !self.enabled() {
            return;
        }
        let removal_generation = store.removal_generation();
        let mut just_stored = self.just_stored.lock();
        if just_stored.removal_generation != removal_generation
            || just_stored.by_seq.len() + records.len() > JUST_STORED_MAX
        {
            just_stored.by_seq.clear();
            just_stored.removal_generation = removal_generation;
        }
        for (record, outcome) in records.iter().zip(outcomes) {
            if outcome.duplicate {
                continue;
            }
            let kept = (record.event.kind() != ymt_core::EventKind::CheckIn)
                .then(|| Arc::new(record.clone()));
            just_stored.by_seq.insert(outcome.seq, kept);
        }
    }

    pub(crate) fn enabled(&self) -> bool {
        self.persons_max > 0
    }

    /// A person's events other than check-ins, in log order, as
    /// `Node::person_records_for_rules` reads them from the store (the same
    /// per-person cap, counting every event; the same error for an event
    /// that does not read). `None` when an event went away between reading
    /// the index and reading it: the caller reads the timeline whole.
    pub(crate) fn records_without_check_ins(
        &self,
        store: &dyn EventStore,
        pid: &PersonId,
    ) -> Result<Option<Vec<Arc<EventRecord>>>, NodeError> {
        let removal_generation = store.removal_generation();
        let kept = self
            .kept
            .lock()
            .get(pid)
            .filter(|kept| kept.removal_generation == removal_generation)
            .map(|kept| {
                (
                    kept.read_through_seq,
                    kept.events_read,
                    kept.records.clone(),
                )
            });
        // Nothing kept (or kept before a purge): the person's whole index.
        let (read_through_seq, events_read_before, known) = kept.unwrap_or_default();
        let seqs = store.event_seqs_for_person_after(pid, read_through_seq, events_read_before)?;
        // Shared with what is kept: each event is copied once, into the
        // timeline returned.
        let mut records: Vec<(u64, Arc<EventRecord>)> = Vec::with_capacity(known.len() + 4);
        records.extend(known.iter().cloned());
        // Those just stored by this node, taken, one per number (the entry
        // made below keeps those that are not check-ins).
        let taken: Vec<Option<Option<Arc<EventRecord>>>> = {
            let mut just_stored = self.just_stored.lock();
            let current = just_stored.removal_generation == removal_generation;
            seqs.iter()
                .map(|seq| current.then(|| just_stored.by_seq.remove(seq)).flatten())
                .collect()
        };
        for (&seq, taken) in seqs.iter().zip(taken) {
            debug_assert!(seq > read_through_seq, "only numbers above those read");
            if let Some(stored) = taken {
                if let Some(record) = stored {
                    records.push((seq, record));
                }
                continue;
            }
            let Some(stored) = store.event_by_seq(seq)? else {
                return Ok(None);
            };
            if is_check_in(&stored.payload) {
                continue;
            }
            let record =
                serde_json::from_slice::<EventRecord>(&stored.payload).map_err(|error| {
                    NodeError::internal(format!("stored event {} unreadable: {error}", stored.id))
                })?;
            records.push((seq, Arc::new(record)));
        }
        let timeline = records
            .iter()
            .map(|(_, record)| Arc::clone(record))
            .collect();
        let new_read_through_seq = seqs.last().copied().unwrap_or(0).max(read_through_seq);
        let events_read = events_read_before + seqs.len();
        let mut kept = self.kept.lock();
        if !kept.contains_key(pid) && kept.len() >= self.persons_max {
            kept.clear();
        }
        let newer = kept.get(pid).is_none_or(|other| {
            other.removal_generation != removal_generation
                || other.read_through_seq <= new_read_through_seq
        });
        if newer {
            kept.insert(
                pid.clone(),
                Kept {
                    read_through_seq: new_read_through_seq,
                    events_read,
                    removal_generation,
                    records: Arc::new(records),
                },
            );
        }
        Ok(Some(timeline))
    }
}

/// Whether a stored event record is a check-in, reading only its kind (an
/// unreadable one is not: it is parsed in full, and its error reported).
pub(crate) fn is_check_in(payload: &[u8]) -> bool {
    matches!(
        serde_json::from_slice::<KindOfRecord>(payload),
        Ok(KindOfRecord {
            event: KindOfEvent {
                kind: ymt_core::EventKind::CheckIn
            }
        })
    )
}

/// Only the kind of a stored event record (serde skips the rest unparsed).
#[derive(serde::Deserialize)]
struct KindOfRecord {
    event: KindOfEvent,
}

#[derive(serde::Deserialize)]
struct KindOfEvent {
    kind: ymt_core::EventKind,
}
