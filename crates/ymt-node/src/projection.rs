//! The live status of every person, held in memory, and the ordered queue of
//! their next timed transitions.
//!
//! Memory: a person costs one hash-map entry of a 16-byte key and a 16-byte
//! [`Slot`] (about 40–50 bytes resident with the map's load factor), which
//! keeps 10 million persons under half a gigabyte. Only persons whose code is
//! not green also keep their full decision (reasons and evidence), since only
//! they have reasons to show; green persons need none.
//!
//! Timed transitions: every person with a `valid_until` has an entry in a
//! min-heap keyed by that instant. The scheduler pops due entries and
//! re-evaluates those persons; entries made stale by a later re-evaluation are
//! recognised by comparing with the slot and skipped. No periodic scan of
//! everyone ever happens.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use parking_lot::{Mutex, RwLock};

use serde::{Deserialize, Serialize};
use ymt_core::{Color, PersonId, Timestamp};
use ymt_rules::Decision;

pub type PersonKey = [u8; 16];

const SHARDS: usize = 64;

/// The compact status of one person.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct Slot {
    /// Unix seconds at which the color changes; 0 when nothing is scheduled.
    pub valid_until_secs: i64,
    /// Index into the table of rule sets in force (which compiled rules made
    /// this decision).
    pub rules_epoch: u32,
    pub color: u8,
    pub next_color: u8,
    /// Set when the pid is not a 32-hex pseudonym and its text is kept aside.
    pub has_text_pid: bool,
    /// [`SLOT_CANNOT_COMPUTE`] when the person's decision cannot be computed.
    flags: u8,
}

/// The slot flag of a person whose decision cannot be computed (a timeline
/// the rules cannot decide within their budget, an event that no longer
/// reads): the fail-safe state, "cannot be computed, check in person". Such
/// a slot holds red, nothing scheduled, so that whatever reads only the
/// color treats the person as restricted; readers that show the status
/// check [`Slot::cannot_compute`] first.
pub const SLOT_CANNOT_COMPUTE: u8 = 1;

impl Slot {
    /// The slot of a decision made under the rules `rules_epoch` names.
    fn of(decision: &Decision, rules_epoch: u32, has_text_pid: bool) -> Slot {
        Slot {
            valid_until_secs: decision.valid_until.map(|t| t.unix_secs()).unwrap_or(0),
            rules_epoch,
            color: decision.color as u8,
            next_color: decision.next_color.map(|c| c as u8).unwrap_or(0),
            has_text_pid,
            flags: 0,
        }
    }

    /// The fail-safe slot: red, nothing scheduled, flagged.
    fn cannot_compute(has_text_pid: bool) -> Slot {
        Slot {
            valid_until_secs: 0,
            rules_epoch: 0,
            color: Color::Red as u8,
            next_color: 0,
            has_text_pid,
            flags: SLOT_CANNOT_COMPUTE,
        }
    }

    /// Whether the person is in the fail-safe state (see
    /// [`SLOT_CANNOT_COMPUTE`]).
    pub fn is_cannot_compute(&self) -> bool {
        self.flags & SLOT_CANNOT_COMPUTE != 0
    }

    pub fn color(&self) -> Color {
        Color::from_u8(self.color).unwrap_or(Color::Green)
    }

    pub fn valid_until(&self) -> Option<Timestamp> {
        (self.valid_until_secs > 0)
            .then(|| Timestamp::from_unix_secs(self.valid_until_secs).ok())
            .flatten()
    }

    pub fn next_color(&self) -> Option<Color> {
        self.valid_until()
            .and_then(|_| Color::from_u8(self.next_color))
    }
}

/// A stored decision for a person whose code is not green.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Explanation {
    pub decision: serde_json::Value,
    /// Set when the decision is that of one risk exposure alone (a person
    /// settled green when a designation reached them, with no event since:
    /// any event re-evaluates them and replaces this). Their next decision
    /// is then that exposure's alone at the later instant, which lets the
    /// scheduler turn a million of them green without re-reading timelines.
    /// Not kept in snapshots; a restored person is re-read.
    #[serde(skip)]
    pub alone: Option<AloneExposure>,
}

const REASONS_UNTIL_KEY: &str = "reasons_until";
const TRAJECTORY_KEY: &str = "trajectory";

/// When a decision's reasons change before its color does, if they do.
fn reasons_refresh_at(decision: &Decision) -> Option<Timestamp> {
    decision
        .reasons_until
        .filter(|reasons_until| decision.valid_until != Some(*reasons_until))
}

/// The one exposure a decision rests on, and the rules that decided it.
#[derive(Clone, Debug, PartialEq)]
pub struct AloneExposure {
    pub rules_tag: u32,
    pub exposure: ymt_core::facts::RiskExposureFact,
}

impl Explanation {
    /// The explanation kept for a decision: only a code that is not green
    /// has reasons to show.
    pub fn of(decision: &Decision) -> Option<Explanation> {
        (decision.color != Color::Green).then(|| {
            let mut value = serde_json::to_value(decision).unwrap_or_default();
            // Kept (and so snapshotted) with the decision, so a restarted
            // node still refreshes the reasons on time and can compose the
            // decision with a new exposure; never served.
            if let Some(object) = value.as_object_mut() {
                if let Some(reasons_until) = decision.reasons_until {
                    object.insert(REASONS_UNTIL_KEY.into(), serde_json::json!(reasons_until));
                }
                if let Some(trajectory) = &decision.trajectory {
                    object.insert(TRAJECTORY_KEY.into(), serde_json::json!(trajectory));
                }
            }
            Explanation {
                decision: value,
                alone: None,
            }
        })
    }

    /// The decision as served: without the node's own bookkeeping.
    pub fn served(&self) -> serde_json::Value {
        let mut value = self.decision.clone();
        if let Some(object) = value.as_object_mut() {
            object.remove(REASONS_UNTIL_KEY);
            object.remove(TRAJECTORY_KEY);
        }
        value
    }

    /// The kept decision, with its bookkeeping, if it reads back.
    pub fn kept_decision(&self) -> Option<Decision> {
        use serde::Deserialize;
        // Read in place: the bookkeeping keys are unknown to `Decision` and
        // skipped, then read on their own.
        let mut decision = Decision::deserialize(&self.decision).ok()?;
        decision.reasons_until = self.reasons_until();
        decision.trajectory =
            Option::<Vec<(Timestamp, Color)>>::deserialize(self.decision.get(TRAJECTORY_KEY)?)
                .ok()
                .flatten();
        Some(decision)
    }

    fn reasons_until(&self) -> Option<Timestamp> {
        use serde::Deserialize;
        Timestamp::deserialize(self.decision.get(REASONS_UNTIL_KEY)?).ok()
    }

    /// [`Explanation::of`] for the decision of one exposure alone.
    pub fn of_alone(decision: &Decision, alone: AloneExposure) -> Option<Explanation> {
        Explanation::of(decision).map(|explanation| Explanation {
            alone: Some(alone),
            ..explanation
        })
    }
}

/// A person's key: the 16 bytes of a 32-hex pseudonym, or a 128-bit hash of
/// any other id text (imports may carry ids of other systems).
pub fn person_key(pid: &PersonId) -> (PersonKey, bool) {
    person_key_of_text(pid.as_str())
}

/// [`person_key`] of an id text already known to be a valid pid.
pub fn person_key_of_text(text: &str) -> (PersonKey, bool) {
    if text.len() == 32 {
        let mut key = [0u8; 16];
        if hex::decode_to_slice(text, &mut key).is_ok()
            && text.bytes().all(|b| !b.is_ascii_uppercase())
        {
            return (key, false);
        }
    }
    (
        xxhash_rust::xxh3::xxh3_128(text.as_bytes()).to_le_bytes(),
        true,
    )
}

#[derive(Default)]
struct Shard {
    slots: HashMap<PersonKey, Slot>,
    explanations: HashMap<PersonKey, Arc<Explanation>>,
    text_pids: HashMap<PersonKey, Box<str>>,
}

pub struct Projection {
    shards: Box<[RwLock<Shard>]>,
    due: Mutex<BinaryHeap<Reverse<(i64, PersonKey)>>>,
    /// Instants at which a person's reasons change while their color does
    /// not (a rule stops firing while another keeps the color). They are
    /// re-evaluated then too; an entry made useless by a later
    /// re-evaluation only costs one more evaluation.
    reasons_due: Mutex<BinaryHeap<Reverse<(i64, PersonKey)>>>,
    /// Persons per color, for metrics and the dashboard.
    color_counts: [AtomicI64; 3],
    /// Persons in the fail-safe state (counted as red above too), for the
    /// alert metric.
    cannot_compute_count: AtomicI64,
}

impl Default for Projection {
    fn default() -> Self {
        Projection::new()
    }
}

/// The shard that holds a key; batch operations work one shard at a time.
pub fn shard_of(key: &PersonKey) -> usize {
    key[0] as usize % SHARDS
}

/// How many shards the projection has.
pub const SHARD_COUNT: usize = SHARDS;

/// What one update did, for the caller's bookkeeping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UpdateOutcome {
    pub previous: Option<Color>,
    pub current: Color,
}

impl Projection {
    pub fn new() -> Projection {
        Projection {
            shards: (0..SHARDS).map(|_| RwLock::new(Shard::default())).collect(),
            due: Mutex::new(BinaryHeap::new()),
            reasons_due: Mutex::new(BinaryHeap::new()),
            color_counts: [AtomicI64::new(0), AtomicI64::new(0), AtomicI64::new(0)],
            cannot_compute_count: AtomicI64::new(0),
        }
    }

    pub fn get(&self, pid: &PersonId) -> Option<(Slot, Option<Arc<Explanation>>)> {
        let (key, _) = person_key(pid);
        let shard = self.shards[shard_of(&key)].read();
        let slot = *shard.slots.get(&key)?;
        let explanation = shard.explanations.get(&key).cloned();
        Some((slot, explanation))
    }

    /// The pid text of a key (for the scheduler, which works on keys).
    pub fn pid_of(&self, key: &PersonKey) -> Option<PersonId> {
        let shard = self.shards[shard_of(key)].read();
        let slot = shard.slots.get(key)?;
        if slot.has_text_pid {
            shard
                .text_pids
                .get(key)
                .and_then(|text| PersonId::parse(text).ok())
        } else {
            PersonId::parse(&hex::encode(key)).ok()
        }
    }

    /// Stores a fresh decision for a person and schedules its next change.
    pub fn update(&self, pid: &PersonId, decision: &Decision, rules_epoch: u32) -> UpdateOutcome {
        let explanation = Explanation::of(decision).map(Arc::new);
        self.update_shared(pid, decision, explanation, rules_epoch)
    }

    /// [`Projection::update`] with the explanation already built, so many
    /// persons with the same decision share one.
    pub fn update_shared(
        &self,
        pid: &PersonId,
        decision: &Decision,
        explanation: Option<Arc<Explanation>>,
        rules_epoch: u32,
    ) -> UpdateOutcome {
        let (key, is_text) = person_key(pid);
        let slot = Slot::of(decision, rules_epoch, is_text);
        self.schedule_reasons(key, decision);
        self.put(key, slot, explanation, is_text.then(|| pid.as_str().into()))
    }

    /// Puts a person into the fail-safe state: their decision cannot be
    /// computed (`detail` says why), so they are shown "cannot be computed,
    /// check in person", never green, with nothing scheduled. Any later
    /// event, rule change or restart evaluates them again.
    pub fn update_cannot_compute(&self, pid: &PersonId, detail: &str, now: Timestamp) {
        let (key, is_text) = person_key(pid);
        let explanation = Explanation {
            decision: serde_json::json!({
                "color": CANNOT_COMPUTE,
                "state": CANNOT_COMPUTE,
                "fired": [],
                "valid_until": null,
                "detail": detail,
                "evaluated_at": now,
            }),
            alone: None,
        };
        self.put(
            key,
            Slot::cannot_compute(is_text),
            Some(Arc::new(explanation)),
            is_text.then(|| pid.as_str().into()),
        );
    }

    /// Queues a re-evaluation at the instant the decision's reasons change,
    /// when that comes before its color does.
    fn schedule_reasons(&self, key: PersonKey, decision: &Decision) {
        if let Some(reasons_until) = reasons_refresh_at(decision) {
            self.schedule_reasons_at(key, reasons_until);
        }
    }

    fn schedule_reasons_at(&self, key: PersonKey, at: Timestamp) {
        self.reasons_due.lock().push(Reverse((at.unix_secs(), key)));
    }

    /// The slots of many keys of one shard, under one lock, each with
    /// whether a full decision is kept for it.
    pub fn slots_in_shard(&self, shard: usize, keys: &[PersonKey]) -> Vec<Option<(Slot, bool)>> {
        let shard = self.shards[shard].read();
        keys.iter()
            .map(|key| {
                shard
                    .slots
                    .get(key)
                    .map(|slot| (*slot, shard.explanations.contains_key(key)))
            })
            .collect()
    }

    /// Stores decisions for many persons of one shard who are already in
    /// the projection, under one lock, keeping how their pid is spelled.
    pub fn update_shard_batch(
        &self,
        shard: usize,
        updates: Vec<(PersonKey, &Decision, Option<Arc<Explanation>>, u32)>,
    ) {
        let mut color_deltas = [0i64; 3];
        let mut due = Vec::new();
        let mut reasons_due = Vec::new();
        {
            let mut shard = self.shards[shard].write();
            shard.explanations.reserve(updates.len());
            for (key, decision, explanation, rules_epoch) in updates {
                let Some(slot) = shard.slots.get_mut(&key) else {
                    continue;
                };
                if let Some(reasons_until) = reasons_refresh_at(decision) {
                    reasons_due.push(Reverse((reasons_until.unix_secs(), key)));
                }
                color_deltas[slot.color as usize] -= 1;
                if slot.is_cannot_compute() {
                    self.cannot_compute_count.fetch_sub(1, Ordering::Relaxed);
                }
                *slot = Slot::of(decision, rules_epoch, slot.has_text_pid);
                color_deltas[slot.color as usize] += 1;
                if slot.valid_until_secs > 0 {
                    due.push(Reverse((slot.valid_until_secs, key)));
                }
                match explanation {
                    Some(explanation) => {
                        shard.explanations.insert(key, explanation);
                    }
                    None => {
                        shard.explanations.remove(&key);
                    }
                }
            }
        }
        for (count, delta) in self.color_counts.iter().zip(color_deltas) {
            if delta != 0 {
                count.fetch_add(delta, Ordering::Relaxed);
            }
        }
        if !due.is_empty() {
            self.due.lock().extend(due);
        }
        if !reasons_due.is_empty() {
            self.reasons_due.lock().extend(reasons_due);
        }
    }

    /// Puts back a slot read from a snapshot.
    /// Takes over everything `loaded` holds (a projection read from a
    /// snapshot), replacing what this one held, and queues the reasons'
    /// refreshes its kept decisions announce.
    pub fn replace_with(&self, loaded: Projection) {
        for (mine, theirs) in self.shards.iter().zip(loaded.shards.iter()) {
            std::mem::swap(&mut *mine.write(), &mut *theirs.write());
        }
        std::mem::swap(&mut *self.due.lock(), &mut *loaded.due.lock());
        std::mem::swap(
            &mut *self.reasons_due.lock(),
            &mut *loaded.reasons_due.lock(),
        );
        for (mine, theirs) in self.color_counts.iter().zip(&loaded.color_counts) {
            mine.store(theirs.load(Ordering::Relaxed), Ordering::Relaxed);
        }
        self.cannot_compute_count.store(
            loaded.cannot_compute_count.load(Ordering::Relaxed),
            Ordering::Relaxed,
        );
        // Only persons with a kept decision (not settled green) can have a
        // refresh of their reasons ahead.
        let mut refreshes = Vec::new();
        for shard in self.shards.iter() {
            let shard = shard.read();
            for (key, explanation) in &shard.explanations {
                if let Some(reasons_until) = explanation.reasons_until()
                    && shard.slots.get(key).and_then(Slot::valid_until) != Some(reasons_until)
                {
                    refreshes.push((*key, reasons_until));
                }
            }
        }
        for (key, at) in refreshes {
            self.schedule_reasons_at(key, at);
        }
    }

    fn put(
        &self,
        key: PersonKey,
        slot: Slot,
        explanation: Option<Arc<Explanation>>,
        text_pid: Option<Box<str>>,
    ) -> UpdateOutcome {
        let previous = {
            let mut shard = self.shards[shard_of(&key)].write();
            let previous_slot = shard.slots.insert(key, slot);
            let was_cannot_compute = previous_slot.is_some_and(|old| old.is_cannot_compute());
            if was_cannot_compute != slot.is_cannot_compute() {
                let delta = if slot.is_cannot_compute() { 1 } else { -1 };
                self.cannot_compute_count
                    .fetch_add(delta, Ordering::Relaxed);
            }
            let previous = previous_slot.map(|old| old.color());
            match explanation {
                Some(explanation) => {
                    shard.explanations.insert(key, explanation);
                }
                None => {
                    shard.explanations.remove(&key);
                }
            }
            if let Some(text) = text_pid {
                shard.text_pids.insert(key, text);
            }
            previous
        };
        if let Some(previous) = previous {
            self.color_counts[previous as usize].fetch_sub(1, Ordering::Relaxed);
        }
        self.color_counts[slot.color as usize].fetch_add(1, Ordering::Relaxed);
        if slot.valid_until_secs > 0 {
            self.due.lock().push(Reverse((slot.valid_until_secs, key)));
        }
        UpdateOutcome {
            previous,
            current: slot.color(),
        }
    }

    /// Pops every key whose scheduled change is due at `now` and still
    /// current (not superseded by a later re-evaluation).
    pub fn take_due(&self, now: Timestamp, limit: usize) -> Vec<PersonKey> {
        let mut keys = Vec::new();
        {
            let mut due = self.due.lock();
            while keys.len() < limit {
                match due.peek() {
                    Some(Reverse((at, _))) if *at <= now.unix_secs() => {}
                    _ => break,
                }
                let Reverse((at, key)) = due.pop().expect("peeked");
                let shard = self.shards[shard_of(&key)].read();
                if shard.slots.get(&key).map(|slot| slot.valid_until_secs) == Some(at) {
                    keys.push(key);
                }
            }
        }
        let mut reasons_due = self.reasons_due.lock();
        while keys.len() < limit {
            match reasons_due.peek() {
                Some(Reverse((at, _))) if *at <= now.unix_secs() => {}
                _ => break,
            }
            let Reverse((_, key)) = reasons_due.pop().expect("peeked");
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
        keys
    }

    /// The earliest scheduled change, if any.
    pub fn next_due(&self) -> Option<Timestamp> {
        let color_due = self.due.lock().peek().map(|Reverse((at, _))| *at);
        let reasons_due = self.reasons_due.lock().peek().map(|Reverse((at, _))| *at);
        color_due
            .into_iter()
            .chain(reasons_due)
            .min()
            .and_then(|at| Timestamp::from_unix_secs(at).ok())
    }

    pub fn due_len(&self) -> usize {
        self.due.lock().len()
    }

    /// Persons in the fail-safe state ("cannot be computed").
    pub fn cannot_compute_count(&self) -> i64 {
        self.cannot_compute_count.load(Ordering::Relaxed)
    }

    pub fn color_counts(&self) -> [i64; 3] {
        [
            self.color_counts[0].load(Ordering::Relaxed),
            self.color_counts[1].load(Ordering::Relaxed),
            self.color_counts[2].load(Ordering::Relaxed),
        ]
    }

    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| shard.read().slots.len())
            .sum()
    }

    /// Bytes held by the compact part of the projection: every hash-map
    /// bucket (key, slot and control byte, at the map's real capacity) plus
    /// the due-queue entries. Decisions of non-green persons are counted
    /// separately by [`Projection::explanation_count`].
    pub fn compact_resident_bytes(&self) -> usize {
        let bucket = std::mem::size_of::<(PersonKey, Slot)>() + 1;
        let slots: usize = self
            .shards
            .iter()
            .map(|shard| shard.read().slots.capacity() * bucket)
            .sum();
        let due = self.due.lock().capacity() * std::mem::size_of::<Reverse<(i64, PersonKey)>>();
        slots + due
    }

    pub fn explanation_count(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| shard.read().explanations.len())
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every pid, for full re-evaluations (rule changes, verification).
    pub fn all_pids(&self) -> Vec<PersonId> {
        self.pids_where(|_| true)
    }

    /// The pids of persons not green now (for counts by region: few
    /// compared with everyone, and found without reading the store).
    pub fn non_green_pids(&self) -> Vec<PersonId> {
        self.pids_where(|slot| slot.color() != Color::Green)
    }

    fn pids_where(&self, keep: impl Fn(&Slot) -> bool) -> Vec<PersonId> {
        let mut pids = Vec::new();
        for shard in self.shards.iter() {
            let shard = shard.read();
            for (key, slot) in &shard.slots {
                if !keep(slot) {
                    continue;
                }
                let pid = if slot.has_text_pid {
                    shard
                        .text_pids
                        .get(key)
                        .and_then(|text| PersonId::parse(text).ok())
                } else {
                    PersonId::parse(&hex::encode(key)).ok()
                };
                pids.extend(pid);
            }
        }
        pids
    }

    /// Serialises the whole projection for a snapshot.
    pub fn to_snapshot(&self) -> Vec<u8> {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(SNAPSHOT_MAGIC);
        for shard in self.shards.iter() {
            let shard = shard.read();
            for (key, slot) in &shard.slots {
                bytes.push(RECORD_SLOT);
                bytes.extend_from_slice(key);
                bytes.extend_from_slice(&slot.valid_until_secs.to_le_bytes());
                bytes.extend_from_slice(&slot.rules_epoch.to_le_bytes());
                // The third byte: bit 0 a text pid, bit 1 the fail-safe
                // state (older snapshots only ever hold 0 or 1 there).
                let flags = slot.has_text_pid as u8 | (slot.is_cannot_compute() as u8) << 1;
                bytes.extend_from_slice(&[slot.color, slot.next_color, flags]);
                if slot.has_text_pid {
                    let text = shard
                        .text_pids
                        .get(key)
                        .map(|t| t.as_bytes())
                        .unwrap_or(b"");
                    bytes.extend_from_slice(&(text.len() as u32).to_le_bytes());
                    bytes.extend_from_slice(text);
                }
                let explanation = shard
                    .explanations
                    .get(key)
                    .map(|e| serde_json::to_vec(&e.decision).unwrap_or_default())
                    .unwrap_or_default();
                bytes.extend_from_slice(&(explanation.len() as u32).to_le_bytes());
                bytes.extend_from_slice(&explanation);
            }
        }
        bytes
    }

    /// Rebuilds a projection from a snapshot. Corrupt input is an error, and
    /// the caller falls back to a full rebuild from the log.
    pub fn from_snapshot(bytes: &[u8]) -> Result<Projection, String> {
        let projection = Projection::new();
        let mut rest = bytes
            .strip_prefix(SNAPSHOT_MAGIC)
            .ok_or("not a projection snapshot")?;
        fn take<'a>(rest: &mut &'a [u8], len: usize) -> Result<&'a [u8], String> {
            if rest.len() < len {
                return Err("truncated projection snapshot".into());
            }
            let (head, tail) = rest.split_at(len);
            *rest = tail;
            Ok(head)
        }
        while !rest.is_empty() {
            if take(&mut rest, 1)?[0] != RECORD_SLOT {
                return Err("unknown record in projection snapshot".into());
            }
            let key: PersonKey = take(&mut rest, 16)?.try_into().expect("16 bytes");
            let valid_until_secs = i64::from_le_bytes(take(&mut rest, 8)?.try_into().expect("8"));
            let rules_epoch = u32::from_le_bytes(take(&mut rest, 4)?.try_into().expect("4"));
            let flags = take(&mut rest, 3)?;
            if flags[2] > 3 {
                return Err("bad flags in projection snapshot".into());
            }
            let has_text_pid = flags[2] & 1 != 0;
            let cannot_compute = flags[2] & 2 != 0;
            let text_pid = if has_text_pid {
                let len = u32::from_le_bytes(take(&mut rest, 4)?.try_into().expect("4")) as usize;
                let text = std::str::from_utf8(take(&mut rest, len)?).map_err(|e| e.to_string())?;
                Some(text.into())
            } else {
                None
            };
            let len = u32::from_le_bytes(take(&mut rest, 4)?.try_into().expect("4")) as usize;
            let explanation_bytes = take(&mut rest, len)?;
            let explanation = if explanation_bytes.is_empty() {
                None
            } else {
                Some(Arc::new(Explanation {
                    decision: serde_json::from_slice(explanation_bytes)
                        .map_err(|e| e.to_string())?,
                    alone: None,
                }))
            };
            if flags[0] > 2 {
                return Err("bad color in projection snapshot".into());
            }
            let slot = Slot {
                valid_until_secs,
                rules_epoch,
                color: flags[0],
                next_color: flags[1],
                has_text_pid,
                flags: if cannot_compute {
                    SLOT_CANNOT_COMPUTE
                } else {
                    0
                },
            };
            projection.put(key, slot, explanation, text_pid);
        }
        Ok(projection)
    }
}

const SNAPSHOT_MAGIC: &[u8] = b"YMTPROJ1";

/// The color and state a person in the fail-safe state is shown with.
pub const CANNOT_COMPUTE: &str = "cannot_compute";
const RECORD_SLOT: u8 = 1;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_is_sixteen_bytes() {
        assert_eq!(std::mem::size_of::<Slot>(), 16);
    }

    #[test]
    fn a_person_who_cannot_be_computed_stays_so_across_a_snapshot() {
        let projection = Projection::new();
        let pid = PersonId::parse("p-unreadable").unwrap();
        projection.update_cannot_compute(
            &pid,
            "rule `X` failed",
            Timestamp::from_unix_secs(1).unwrap(),
        );
        assert_eq!(projection.cannot_compute_count(), 1);
        let restored = Projection::from_snapshot(&projection.to_snapshot()).unwrap();
        let (slot, explanation) = restored.get(&pid).unwrap();
        assert!(slot.is_cannot_compute());
        assert_eq!(slot.color(), Color::Red);
        assert_eq!(slot.valid_until(), None);
        assert_eq!(explanation.unwrap().decision["state"], CANNOT_COMPUTE);
        assert_eq!(restored.cannot_compute_count(), 1);
    }

    #[test]
    fn hex_pids_are_their_own_keys() {
        let pid = PersonId::parse("00112233445566778899aabbccddeeff").unwrap();
        let (key, text) = person_key(&pid);
        assert!(!text);
        assert_eq!(hex::encode(key), pid.as_str());
        let other = PersonId::parse("p-123").unwrap();
        assert!(person_key(&other).1);
    }
}
