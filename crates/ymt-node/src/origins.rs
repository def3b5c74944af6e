//! Anti-entropy's bookkeeping (issue 11 item 6), in memory: which records of
//! each origin this node holds. The broker alone is not trusted: a record it
//! lost (truncated files), or expired before a node read it (a node away
//! longer than the stream's retention), is fetched from a peer.
//!
//! Each node process is an **origin**: it numbers the records it makes
//! contiguously from 1 (`RecordEnvelope::origin`), under an id drawn at
//! start, so that copies of a data directory (a new node, a restored
//! backup) never number under the same id. A record of events split into k
//! person-shard messages takes k consecutive numbers, one per part, in shard
//! order ([`parts_of`]): each message the broker carries is one numbered
//! part, so a lost message is a missing number. Every node keeps every
//! numbered part it holds under `origin-records/<origin>/<seq>`, in the same
//! commit as its events (`replication_origin.rs`); this module is the
//! summary of that namespace: per origin, the contiguous prefix held, the
//! numbers held beyond it, and the highest number known to exist.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;
use std::sync::atomic::AtomicU64;

use serde::Serialize;
use sha2::{Digest, Sha256};
use ymt_core::PersonId;

use crate::record::{OriginStamp, Record, RecordEnvelope};

/// Every numbered part a node holds, key `<origin>/<seq, 20 digits>`, value
/// the part's `RecordEnvelope` as JSON.
pub const ORIGIN_RECORDS_NAMESPACE: &str = "origin-records";
/// Person shards of the subjects (`ymt.rec.c.p<shard>`).
pub const PERSON_SHARDS: u32 = 16;
/// At most this many records in one answer to a peer's fetch.
pub const ORIGIN_RECORDS_PER_FETCH_MAX: usize = 256;
/// At most this many bytes of records in one answer (a record holds at most
/// one batch of events; the count bound alone could reach hundreds of MB).
pub const ORIGIN_RECORDS_BYTES_PER_FETCH_MAX: usize = 8 << 20;
/// Origins tracked at most: one per node process ever started in the
/// cluster. Beyond it, records of new origins are still applied and kept,
/// only not tracked for gaps (and said in the log).
pub const ORIGINS_TRACKED_MAX: usize = 100_000;

/// The shard of a person: the first four bytes of SHA-256(pid), big-endian,
/// modulo [`PERSON_SHARDS`] (docs/log.md, "Subjects").
pub fn person_shard(pid: &PersonId) -> u32 {
    let digest = Sha256::digest(pid.as_str().as_bytes());
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]) % PERSON_SHARDS
}

/// The key of a numbered part in [`ORIGIN_RECORDS_NAMESPACE`].
pub fn origin_record_key(origin: &str, seq: u64) -> String {
    format!("{origin}/{seq:020}")
}

/// The origin and number of a key of [`ORIGIN_RECORDS_NAMESPACE`].
pub fn parse_origin_record_key(key: &str) -> Option<(&str, u64)> {
    let (origin, seq) = key.rsplit_once('/')?;
    Some((origin, seq.parse().ok()?))
}

/// The parts of a record as they travel: a batch of events split by person
/// shard, one part per shard in shard order; any other record whole. A
/// stamped record's i-th part carries the record's number plus i.
pub fn parts_of(envelope: &RecordEnvelope) -> Vec<(u32, RecordEnvelope)> {
    let Record::Events { events } = &envelope.record else {
        return vec![(0, envelope.clone())];
    };
    let mut by_shard: BTreeMap<u32, Vec<_>> = BTreeMap::new();
    for record in events {
        by_shard
            .entry(person_shard(&record.event.person))
            .or_default()
            .push(record.clone());
    }
    by_shard
        .into_iter()
        .enumerate()
        .map(|(index, (shard, events))| {
            let origin = envelope.origin.as_ref().map(|stamp| OriginStamp {
                origin: stamp.origin.clone(),
                seq: stamp.seq + index as u64,
            });
            let part = RecordEnvelope {
                origin,
                record: Record::Events { events },
                ..envelope.clone()
            };
            (shard, part)
        })
        .collect()
}

/// What this node holds of one origin.
#[derive(Clone, Debug, Default)]
pub struct OriginHeld {
    /// Every number up to this one is held.
    pub prefix: u64,
    /// Numbers held beyond the prefix.
    pub above: BTreeSet<u64>,
    /// The highest number known to exist: held here, or held by a peer.
    pub known_max: u64,
}

impl OriginHeld {
    fn hold(&mut self, seq: u64) {
        if seq <= self.prefix {
            return;
        }
        self.above.insert(seq);
        while self.above.remove(&(self.prefix + 1)) {
            self.prefix += 1;
        }
        self.known_max = self.known_max.max(seq);
    }

    pub fn holds(&self, seq: u64) -> bool {
        seq <= self.prefix || self.above.contains(&seq)
    }

    /// The highest number held.
    pub fn held_max(&self) -> u64 {
        self.above.last().copied().unwrap_or(self.prefix)
    }

    /// Numbers known to exist and not held: the gaps.
    pub fn missing(&self) -> u64 {
        self.known_max - self.prefix - self.above.len() as u64
    }
}

/// One origin as a node advertises it to its peers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct OriginSummary {
    pub origin: String,
    /// Every number up to this one is held.
    pub prefix: u64,
    /// The highest number held.
    pub held_max: u64,
    /// Numbers known to exist and not held.
    pub missing: u64,
}

/// The node's anti-entropy state (cluster only; empty on a single node).
#[derive(Debug, Default)]
pub struct OriginTracker {
    /// This process's origin id, drawn when it joins a cluster.
    origin: OnceLock<String>,
    /// The next number this origin gives, held from numbering to commit so
    /// that committed numbers have no holes (a refused batch gives none).
    pub(crate) next_seq: tokio::sync::Mutex<u64>,
    held: parking_lot::Mutex<BTreeMap<String, OriginHeld>>,
    /// Records obtained from peers that this node did not hold.
    pub gaps_repaired: AtomicU64,
}

impl OriginTracker {
    /// Sets this process's origin id (once; later calls change nothing).
    pub fn set_origin(&self, origin: String) {
        let _ = self.origin.set(origin);
    }

    pub fn origin(&self) -> Option<&str> {
        self.origin.get().map(String::as_str)
    }

    /// Notes that `seq` of `origin` is held (durably).
    pub fn hold(&self, origin: &str, seq: u64) {
        let mut held = self.held.lock();
        if !held.contains_key(origin) && held.len() >= ORIGINS_TRACKED_MAX {
            tracing::warn!(origin, "too many origins to track; this one is not");
            return;
        }
        held.entry(origin.to_owned()).or_default().hold(seq);
    }

    /// Notes that a peer holds `origin`'s records up to `seq`.
    pub fn know(&self, origin: &str, seq: u64) {
        let mut held = self.held.lock();
        if !held.contains_key(origin) && held.len() >= ORIGINS_TRACKED_MAX {
            return;
        }
        let entry = held.entry(origin.to_owned()).or_default();
        entry.known_max = entry.known_max.max(seq);
    }

    pub fn holds(&self, origin: &str, seq: u64) -> bool {
        self.held
            .lock()
            .get(origin)
            .is_some_and(|held| held.holds(seq))
    }

    /// The numbers held of `origin` after `after`, in order, at most `limit`.
    pub fn held_after(&self, origin: &str, after: u64, limit: usize) -> Vec<u64> {
        let held = self.held.lock();
        let Some(entry) = held.get(origin) else {
            return Vec::new();
        };
        let contiguous = (after + 1)..=entry.prefix;
        contiguous
            .chain(entry.above.range(after.max(entry.prefix) + 1..).copied())
            .take(limit)
            .collect()
    }

    /// Every origin tracked, as advertised to peers.
    pub fn summaries(&self) -> Vec<OriginSummary> {
        self.held
            .lock()
            .iter()
            .map(|(origin, held)| OriginSummary {
                origin: origin.clone(),
                prefix: held.prefix,
                held_max: held.held_max(),
                missing: held.missing(),
            })
            .collect()
    }

    /// The lowest number of `origin` up to `upto` this node does not hold.
    pub fn first_missing(&self, origin: &str, upto: u64) -> Option<u64> {
        let held = self.held.lock();
        let Some(entry) = held.get(origin) else {
            return (upto >= 1).then_some(1);
        };
        let mut candidate = entry.prefix + 1;
        for seq in entry.above.iter() {
            if *seq != candidate {
                break;
            }
            candidate += 1;
        }
        (candidate <= upto).then_some(candidate)
    }

    /// The contiguous prefix held of `origin` (0 if none).
    pub fn prefix(&self, origin: &str) -> u64 {
        self.held.lock().get(origin).map_or(0, |held| held.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prefix_advances_only_over_contiguous_numbers() {
        let tracker = OriginTracker::default();
        for seq in [1, 2, 4, 5] {
            tracker.hold("o", seq);
        }
        tracker.know("o", 7);
        let summary = &tracker.summaries()[0];
        assert_eq!(
            (summary.prefix, summary.held_max, summary.missing),
            (2, 5, 3)
        );
        assert_eq!(tracker.held_after("o", 0, 10), [1, 2, 4, 5]);
        assert_eq!(tracker.held_after("o", 3, 10), [4, 5]);
        assert_eq!(tracker.first_missing("o", 7), Some(3));
        assert_eq!(tracker.first_missing("o", 2), None);
        assert_eq!(tracker.first_missing("unknown", 1), Some(1));
        tracker.hold("o", 3);
        assert_eq!(tracker.prefix("o"), 5);
        assert_eq!(tracker.summaries()[0].missing, 2);
    }

    #[test]
    fn a_record_without_an_origin_still_reads_and_one_with_it_round_trips() {
        use crate::record::Author;
        let at = ymt_core::Timestamp::from_unix_secs(1_700_000_000).expect("an instant");
        let test = ymt_core::EventId::parse("lab:t-1").expect("an id");
        let mut envelope =
            RecordEnvelope::new(&Author::operator(), at, Record::TracingWithdrawn { test });
        let old = serde_json::to_value(&envelope).expect("JSON");
        assert!(
            old.get("origin").is_none(),
            "an unnumbered record is written as before"
        );
        let read: RecordEnvelope = serde_json::from_value(old).expect("reads");
        assert_eq!(read.origin, None);
        envelope.origin = Some(OriginStamp {
            origin: "o1".into(),
            seq: 7,
        });
        let bytes = serde_json::to_vec(&envelope).expect("JSON");
        let read: RecordEnvelope = serde_json::from_slice(&bytes).expect("reads");
        assert_eq!(read.origin, envelope.origin);
        // Not a batch of events: one part, its own number.
        let parts = parts_of(&envelope);
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].1.origin, envelope.origin);
    }

    #[test]
    fn keys_read_back() {
        let key = origin_record_key("o-ab/c", 42);
        assert_eq!(parse_origin_record_key(&key), Some(("o-ab/c", 42)));
    }
}
