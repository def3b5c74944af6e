//! The compact venue×time index.
//!
//! Stays are grouped by venue and, within a venue, by stay-length class, and
//! sorted by enter: 12 bytes each (person, enter, leave; the venue and class
//! are implied by the group). A second array lists each person's stays by
//! position (4 bytes per stay), so the stays of a positive are found without
//! a scan. Each group keeps its longest stay, which bounds how far before a
//! positive's stay an overlapping stay can have started.
//!
//! Check-ins arrive one by one or in batches: they go to a pending buffer,
//! which is merged into a delta run every 65,536 stays; the delta is merged
//! into the main run once it reaches a quarter of it (so each stay is
//! re-sorted only a logarithmic number of times). Queries see all three.

use rayon::prelude::*;
use ymt_core::{PersonId, Timestamp, VenueId};

use crate::intern::{InternError, Interner};
use crate::stay::{CheckIn, StayError, StayPolicy, from_rel, to_rel};

mod snapshot;
pub use snapshot::{SNAPSHOT_FORMAT_VERSION, SNAPSHOT_MAGIC, SnapshotError};

/// One stay in the index; a venue's stays are sorted by enter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(C)]
pub struct StayRecord {
    pub enter_rel: u32,
    pub leave_rel: u32,
    pub person: u32,
}

/// One stay with its venue: the form of stays outside the index (pending
/// buffer, durable log, bulk input).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(C)]
pub struct RawStay {
    pub person: u32,
    pub venue: u32,
    pub enter_rel: u32,
    pub leave_rel: u32,
}

/// The index addresses stays with `u32` positions.
pub const STAYS_MAX: usize = u32::MAX as usize - 1;

/// The pending buffer is merged once it holds this many stays, or a quarter of
/// the main run if that is more.
const PENDING_MIN: usize = 1 << 16;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IndexError {
    #[error(transparent)]
    Stay(#[from] StayError),
    #[error(transparent)]
    Intern(#[from] InternError),
    #[error("the index is full ({STAYS_MAX} stays)")]
    Full,
}

/// Stays are grouped by venue and, inside a venue, by stay-length class
/// (up to 30 min, up to 2 h, longer). A query for stays overlapping
/// `[enter, leave]` must look back from `enter` by the longest stay of the
/// group; classing keeps the many short stays from being scanned over a
/// window sized for the few long ones (for typical stays, 2 to 3 times fewer
/// candidates than one group per venue).
pub(crate) const STAY_CLASSES: usize = 3;
const STAY_CLASS_LIMITS_SECS: [u32; STAY_CLASSES - 1] = [1800, 7200];

fn stay_class(stay_secs: u32) -> usize {
    STAY_CLASS_LIMITS_SECS
        .iter()
        .position(|&limit| stay_secs <= limit)
        .unwrap_or(STAY_CLASSES - 1)
}

/// Stays sorted by (venue, stay class, enter), with a person→positions table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Run {
    /// Group `venue * STAY_CLASSES + class` is `stays[group_offsets[g]..group_offsets[g + 1]]`.
    group_offsets: Vec<u32>,
    group_stay_max_secs: Vec<u32>,
    stays: Vec<StayRecord>,
    person_offsets: Vec<u32>,
    person_positions: Vec<u32>,
}

fn group_of(stay: &RawStay) -> usize {
    stay.venue as usize * STAY_CLASSES + stay_class(stay.leave_rel - stay.enter_rel)
}

impl Run {
    /// Builds a run in O(n) plus a per-group sort. Counting, scattering and
    /// sorting run on all cores: each worker owns a range of keys and scans
    /// the whole input for them, which needs no synchronisation.
    pub(crate) fn build(raw: &[RawStay], venue_count: usize, person_count: usize) -> Run {
        let group_count = venue_count * STAY_CLASSES;
        let group_offsets = counts_to_offsets(&parallel_counts(raw, group_count, group_of));
        let mut stays = vec![StayRecord::default(); raw.len()];
        parallel_scatter(&group_offsets, &mut stays, raw, |stay| {
            (
                group_of(stay),
                StayRecord {
                    enter_rel: stay.enter_rel,
                    leave_rel: stay.leave_rel,
                    person: stay.person,
                },
            )
        });
        let mut groups: Vec<&mut [StayRecord]> = Vec::with_capacity(group_count);
        let mut rest: &mut [StayRecord] = &mut stays;
        for group in 0..group_count {
            let len = (group_offsets[group + 1] - group_offsets[group]) as usize;
            let (slice, tail) = rest.split_at_mut(len);
            groups.push(slice);
            rest = tail;
        }
        let group_stay_max_secs: Vec<u32> = groups
            .into_par_iter()
            .with_min_len(64)
            .map(|group| {
                // Arrival order is nearly enter order, which a stable sort
                // finishes in one linear pass; ties keep arrival order, which
                // no query result depends on.
                group.sort_by_key(|stay| stay.enter_rel);
                group
                    .iter()
                    .map(|stay| stay.leave_rel - stay.enter_rel)
                    .max()
                    .unwrap_or(0)
            })
            .collect();

        let person_offsets = counts_to_offsets(&parallel_counts(&stays, person_count, |stay| {
            stay.person as usize
        }));
        let mut person_positions = vec![0u32; stays.len()];
        parallel_scatter_enumerated(&person_offsets, &mut person_positions, &stays, |stay| {
            stay.person as usize
        });
        Run {
            group_offsets,
            group_stay_max_secs,
            stays,
            person_offsets,
            person_positions,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.stays.len()
    }

    /// The stays of one venue and stay class, sorted by enter, with the longest of them.
    pub(crate) fn group(&self, venue: u32, class: usize) -> (&[StayRecord], u32) {
        let group = venue as usize * STAY_CLASSES + class;
        if group + 1 >= self.group_offsets.len() {
            return (&[], 0);
        }
        (
            &self.stays[self.group_offsets[group] as usize..self.group_offsets[group + 1] as usize],
            self.group_stay_max_secs[group],
        )
    }

    /// Positions of a person's stays, ordered by venue, class and enter.
    pub(crate) fn person_positions(&self, person: u32) -> &[u32] {
        let person = person as usize;
        if person + 1 >= self.person_offsets.len() {
            return &[];
        }
        &self.person_positions
            [self.person_offsets[person] as usize..self.person_offsets[person + 1] as usize]
    }

    pub(crate) fn stay_at(&self, position: u32) -> (u32, StayRecord) {
        let group = self
            .group_offsets
            .partition_point(|&offset| offset <= position)
            - 1;
        ((group / STAY_CLASSES) as u32, self.stays[position as usize])
    }

    /// Empties one live stay of `person` at `venue` with these bounds
    /// (leave = enter), which keeps the group's order and overlaps nothing.
    fn retract(&mut self, person: u32, venue: u32, enter_rel: u32, leave_rel: u32) -> bool {
        let positions: Vec<u32> = self.person_positions(person).to_vec();
        for position in positions {
            let (stay_venue, stay) = self.stay_at(position);
            if stay_venue == venue
                && stay.enter_rel == enter_rel
                && stay.leave_rel == leave_rel
                && stay.leave_rel > stay.enter_rel
            {
                self.stays[position as usize].leave_rel = stay.enter_rel;
                return true;
            }
        }
        false
    }

    pub(crate) fn iter_raw(&self) -> impl Iterator<Item = RawStay> + '_ {
        self.group_offsets
            .windows(2)
            .enumerate()
            .flat_map(move |(group, bounds)| {
                self.stays[bounds[0] as usize..bounds[1] as usize]
                    .iter()
                    .map(move |stay| RawStay {
                        person: stay.person,
                        venue: (group / STAY_CLASSES) as u32,
                        enter_rel: stay.enter_rel,
                        leave_rel: stay.leave_rel,
                    })
            })
    }

    fn heap_bytes(&self) -> usize {
        (self.group_offsets.capacity()
            + self.group_stay_max_secs.capacity()
            + self.person_offsets.capacity()
            + self.person_positions.capacity())
            * 4
            + self.stays.capacity() * std::mem::size_of::<StayRecord>()
    }
}

/// How many key ranges the parallel passes split into.
fn worker_count() -> usize {
    rayon::current_num_threads().clamp(1, 16)
}

/// Counts items per key in `0..key_count`.
fn parallel_counts<T: Sync>(
    items: &[T],
    key_count: usize,
    key: impl Fn(&T) -> usize + Sync,
) -> Vec<u32> {
    let workers = worker_count();
    let range_len = key_count.div_ceil(workers).max(1);
    let parts: Vec<Vec<u32>> = (0..workers)
        .into_par_iter()
        .map(|worker| {
            let low = (worker * range_len).min(key_count);
            let high = ((worker + 1) * range_len).min(key_count);
            let mut counts = vec![0u32; high - low];
            for item in items {
                let slot = key(item);
                if (low..high).contains(&slot) {
                    counts[slot - low] += 1;
                }
            }
            counts
        })
        .collect();
    parts.concat()
}

/// Offsets (length `counts.len() + 1`) from counts.
fn counts_to_offsets(counts: &[u32]) -> Vec<u32> {
    let mut offsets = Vec::with_capacity(counts.len() + 1);
    let mut total = 0u32;
    offsets.push(0);
    for &count in counts {
        total += count;
        offsets.push(total);
    }
    offsets
}

/// Splits `out` into one slice per worker at key boundaries of about equal size.
fn split_by_keys<'a, T>(offsets: &[u32], out: &'a mut [T]) -> Vec<(usize, usize, &'a mut [T])> {
    let key_count = offsets.len() - 1;
    let workers = worker_count();
    let total = out.len();
    let mut parts = Vec::with_capacity(workers);
    let mut rest = out;
    let mut low = 0usize;
    for worker in 0..workers {
        let high = if worker + 1 == workers {
            key_count
        } else {
            let target = (total * (worker + 1) / workers) as u32;
            offsets
                .partition_point(|&offset| offset < target)
                .clamp(low, key_count)
        };
        let len = (offsets[high] - offsets[low]) as usize;
        let (part, tail) = rest.split_at_mut(len);
        parts.push((low, high, part));
        rest = tail;
        low = high;
    }
    parts
}

/// Places each item's value at the next free slot of its key.
fn parallel_scatter<T: Sync, V: Send>(
    offsets: &[u32],
    out: &mut [V],
    items: &[T],
    key_value: impl Fn(&T) -> (usize, V) + Sync,
) {
    split_by_keys(offsets, out)
        .into_par_iter()
        .for_each(|(low, high, part)| {
            let base = offsets[low];
            let mut cursor: Vec<u32> = offsets[low..high].iter().map(|&o| o - base).collect();
            for item in items {
                let (key, value) = key_value(item);
                if (low..high).contains(&key) {
                    let slot = &mut cursor[key - low];
                    part[*slot as usize] = value;
                    *slot += 1;
                }
            }
        });
}

/// Places each item's position at the next free slot of its key.
fn parallel_scatter_enumerated<T: Sync>(
    offsets: &[u32],
    out: &mut [u32],
    items: &[T],
    key: impl Fn(&T) -> usize + Sync,
) {
    split_by_keys(offsets, out)
        .into_par_iter()
        .for_each(|(low, high, part)| {
            let base = offsets[low];
            let mut cursor: Vec<u32> = offsets[low..high].iter().map(|&o| o - base).collect();
            for (position, item) in items.iter().enumerate() {
                let key = key(item);
                if (low..high).contains(&key) {
                    let slot = &mut cursor[key - low];
                    part[*slot as usize] = position as u32;
                    *slot += 1;
                }
            }
        });
}

/// Sizes of the index, for benchmarks and capacity planning.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct IndexStats {
    pub checkins: usize,
    pub persons: usize,
    pub venues: usize,
    /// Bytes of the venue×time arrays (stays, per-person positions, offsets, pending buffer).
    pub index_bytes: usize,
    /// Bytes of the id tables.
    pub interner_bytes: usize,
}

impl IndexStats {
    pub fn index_bytes_per_checkin(&self) -> f64 {
        self.index_bytes as f64 / self.checkins.max(1) as f64
    }
}

/// The whole in-memory check-in index: id tables, the main run, a smaller
/// delta run and a small pending buffer.
///
/// Appends go to the pending buffer; every 65,536 stays (`pending_min`) it
/// is merged into the delta run, and once the delta reaches a quarter of the
/// main run everything is merged into the main run. So a query sorts at most
/// `pending_min` stays on the fly, and each stay is re-sorted a logarithmic
/// number of times over its life.
#[derive(Debug)]
pub struct TraceIndex {
    persons: Interner,
    venues: Interner,
    main: Run,
    delta: Run,
    pending: Vec<RawStay>,
    pending_min: usize,
}

impl Default for TraceIndex {
    fn default() -> TraceIndex {
        TraceIndex {
            persons: Interner::new(),
            venues: Interner::new(),
            main: Run::default(),
            delta: Run::default(),
            pending: Vec::new(),
            pending_min: PENDING_MIN,
        }
    }
}

impl TraceIndex {
    pub fn new() -> TraceIndex {
        TraceIndex::default()
    }

    /// An empty index whose pending buffer is merged every `pending_min`
    /// stays (at least 1) instead of every 65,536; for tests of the merging.
    pub fn with_pending_min(pending_min: usize) -> TraceIndex {
        TraceIndex {
            pending_min: pending_min.max(1),
            ..TraceIndex::default()
        }
    }

    /// Builds the index in bulk. Every stay's person and venue must be numbers
    /// from the given interners; stays that break this are a bug of the caller
    /// (the log loader and CSV parser only produce valid numbers).
    pub fn from_parts(persons: Interner, venues: Interner, stays: Vec<RawStay>) -> TraceIndex {
        let main = Run::build(&stays, venues.len(), persons.len());
        drop(stays);
        TraceIndex {
            persons,
            venues,
            main,
            delta: Run::default(),
            pending: Vec::new(),
            pending_min: PENDING_MIN,
        }
    }

    pub fn len(&self) -> usize {
        self.main.len() + self.delta.len() + self.pending.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn persons(&self) -> &Interner {
        &self.persons
    }

    pub fn venues(&self) -> &Interner {
        &self.venues
    }

    pub(crate) fn interners_mut(&mut self) -> (&mut Interner, &mut Interner) {
        (&mut self.persons, &mut self.venues)
    }

    /// The sorted runs (main, then delta if it holds anything).
    pub(crate) fn sealed_runs(&self) -> Vec<&Run> {
        let mut runs = vec![&self.main];
        if self.delta.len() > 0 {
            runs.push(&self.delta);
        }
        runs
    }

    pub(crate) fn pending(&self) -> &[RawStay] {
        &self.pending
    }

    /// Validates and interns one check-in and adds it.
    pub fn append(&mut self, checkin: &CheckIn, policy: &StayPolicy) -> Result<(), IndexError> {
        let stay = self.prepare(checkin, policy)?;
        self.extend(std::iter::once(stay))
    }

    /// Withdraws one stay equal to a retracted check-in, so tracing no
    /// longer finds it: removed from the unsorted tail, or emptied in place
    /// (leave = enter) in a sorted run, where an empty stay overlaps
    /// nothing. Returns whether such a stay was found; a second identical
    /// check-in keeps its own stay.
    pub fn retract(&mut self, checkin: &CheckIn, policy: &StayPolicy) -> bool {
        let Ok(stay) = policy.resolve(
            checkin.enter.unix_secs(),
            checkin.leave.map(Timestamp::unix_secs),
        ) else {
            return false;
        };
        let (Some(person), Some(venue)) = (
            self.persons.get(checkin.person.as_str()),
            self.venues.get(checkin.venue.as_str()),
        ) else {
            return false;
        };
        let wanted = RawStay {
            person,
            venue,
            enter_rel: stay.enter_rel,
            leave_rel: stay.leave_rel,
        };
        if let Some(position) = self.pending.iter().position(|stay| *stay == wanted) {
            self.pending.remove(position);
            return true;
        }
        self.main
            .retract(person, venue, stay.enter_rel, stay.leave_rel)
            || self
                .delta
                .retract(person, venue, stay.enter_rel, stay.leave_rel)
    }

    /// Validates and interns a check-in without adding it. On error nothing changed.
    pub(crate) fn prepare(
        &mut self,
        checkin: &CheckIn,
        policy: &StayPolicy,
    ) -> Result<RawStay, IndexError> {
        let stay = policy.resolve(
            checkin.enter.unix_secs(),
            checkin.leave.map(Timestamp::unix_secs),
        )?;
        let persons_len = self.persons.len();
        let person = self.persons.intern(checkin.person.as_str())?;
        let venue = match self.venues.intern(checkin.venue.as_str()) {
            Ok(venue) => venue,
            Err(error) => {
                self.persons.truncate(persons_len);
                return Err(error.into());
            }
        };
        Ok(RawStay {
            person,
            venue,
            enter_rel: stay.enter_rel,
            leave_rel: stay.leave_rel,
        })
    }

    /// Adds stays whose numbers come from this index's interners.
    pub fn extend(&mut self, stays: impl IntoIterator<Item = RawStay>) -> Result<(), IndexError> {
        let mut outcome = Ok(());
        for stay in stays {
            if self.len() >= STAYS_MAX {
                outcome = Err(IndexError::Full);
                break;
            }
            debug_assert!((stay.person as usize) < self.persons.len());
            debug_assert!((stay.venue as usize) < self.venues.len());
            self.pending.push(stay);
        }
        // Merging once after a batch, not per stay, keeps a bulk append linear.
        if self.pending.len() >= self.pending_min.max(self.main.len() / 4) {
            self.seal();
        } else if self.pending.len() >= self.pending_min {
            let mut raw: Vec<RawStay> = Vec::with_capacity(self.delta.len() + self.pending.len());
            raw.extend(self.delta.iter_raw());
            raw.append(&mut self.pending);
            self.delta = Run::build(&raw, self.venues.len(), self.persons.len());
            if self.delta.len() >= self.main.len() / 4 {
                self.seal();
            }
        }
        outcome
    }

    /// Merges the delta run and the pending buffer into the main run.
    pub fn seal(&mut self) {
        if self.pending.is_empty() && self.delta.len() == 0 {
            return;
        }
        let mut raw: Vec<RawStay> = Vec::with_capacity(self.len());
        raw.extend(self.iter_raw());
        self.main = Run::build(&raw, self.venues.len(), self.persons.len());
        self.delta = Run::default();
        self.pending = Vec::new();
    }

    /// Builds, without changing the index, the main run it would have after
    /// adding `extra` (numbers from this index's interners) and sealing.
    pub(crate) fn build_merged(&self, extra: &[RawStay]) -> Run {
        if self.is_empty() {
            // The first import into an empty store needs no copy.
            return Run::build(extra, self.venues.len(), self.persons.len());
        }
        let mut raw: Vec<RawStay> = Vec::with_capacity(self.len() + extra.len());
        raw.extend(self.iter_raw());
        raw.extend_from_slice(extra);
        Run::build(&raw, self.venues.len(), self.persons.len())
    }

    /// Installs a run from [`TraceIndex::build_merged`].
    pub(crate) fn install_merged(&mut self, run: Run) {
        self.main = run;
        self.delta = Run::default();
        self.pending = Vec::new();
    }

    /// Every stay, in no particular order.
    pub fn iter_raw(&self) -> impl Iterator<Item = RawStay> + '_ {
        self.main
            .iter_raw()
            .chain(self.delta.iter_raw())
            .chain(self.pending.iter().copied())
    }

    /// Visits every stay at `venue`, in no particular order: the venue's
    /// groups of each sorted run, then the unsorted tail. A designation of a
    /// few venues reads only their stays, not the whole index.
    pub fn for_each_stay_at(&self, venue: u32, visit: impl FnMut(RawStay)) {
        self.for_each_stay_at_overlapping(venue, 0, u32::MAX, visit);
    }

    /// Visits every stay at `venue` that can overlap `[enter_rel, leave_rel]`
    /// (among others that do not), in no particular order: in each sorted
    /// group only those entered between `enter_rel` less the group's longest
    /// stay and `leave_rel`, then the unsorted tail's at the venue. Tracing
    /// a stay at a venue many have visited reads only its own hours.
    pub fn for_each_stay_at_overlapping(
        &self,
        venue: u32,
        enter_rel: u32,
        leave_rel: u32,
        mut visit: impl FnMut(RawStay),
    ) {
        for run in self.sealed_runs() {
            for class in 0..STAY_CLASSES {
                let (stays, longest_secs) = run.group(venue, class);
                // Entered before this, a stay of the group left before `enter_rel`.
                let entered_from = enter_rel.saturating_sub(longest_secs);
                let first = stays.partition_point(|stay| stay.enter_rel < entered_from);
                for stay in &stays[first..] {
                    if stay.enter_rel > leave_rel {
                        break;
                    }
                    visit(RawStay {
                        person: stay.person,
                        venue,
                        enter_rel: stay.enter_rel,
                        leave_rel: stay.leave_rel,
                    });
                }
            }
        }
        for stay in &self.pending {
            if stay.venue == venue {
                visit(*stay);
            }
        }
    }

    /// Visits every stay of the persons numbered `persons` (sorted), in no
    /// particular order: each sorted run's stays of each person, then one
    /// pass over the unsorted tail (not one per person: the tail holds up to
    /// `pending_min` stays).
    pub fn for_each_stay_of(&self, persons: &[u32], mut visit: impl FnMut(RawStay)) {
        debug_assert!(persons.is_sorted(), "persons are given sorted");
        for run in self.sealed_runs() {
            for &number in persons {
                for &position in run.person_positions(number) {
                    let (venue, stay) = run.stay_at(position);
                    visit(RawStay {
                        person: number,
                        venue,
                        enter_rel: stay.enter_rel,
                        leave_rel: stay.leave_rel,
                    });
                }
            }
        }
        if persons.is_empty() {
            return;
        }
        for stay in &self.pending {
            if persons.binary_search(&stay.person).is_ok() {
                visit(*stay);
            }
        }
    }

    /// The stays of one person as (venue, enter, leave), ordered by venue then enter.
    pub fn stays_of(&self, person: &PersonId) -> Vec<(VenueId, Timestamp, Timestamp)> {
        let Some(number) = self.persons.get(person.as_str()) else {
            return Vec::new();
        };
        let mut stays: Vec<RawStay> = Vec::new();
        self.for_each_stay_of(&[number], |stay| stays.push(stay));
        stays.sort_unstable_by_key(|stay| (stay.venue, stay.enter_rel, stay.leave_rel));
        stays
            .into_iter()
            .map(|stay| {
                (
                    self.venue_id(stay.venue),
                    timestamp_of(stay.enter_rel),
                    timestamp_of(stay.leave_rel),
                )
            })
            .collect()
    }

    pub fn person_id(&self, number: u32) -> PersonId {
        PersonId::parse(self.persons.resolve(number))
            .expect("interned person ids were parsed before interning")
    }

    pub fn venue_id(&self, number: u32) -> VenueId {
        VenueId::parse(self.venues.resolve(number))
            .expect("interned venue ids were parsed before interning")
    }

    /// Drops every stay that ended before `cutoff` (leave < cutoff); returns how many.
    /// The id tables keep their numbers; the durable store renumbers on purge.
    pub fn purge_before(&mut self, cutoff: Timestamp) -> usize {
        let cutoff_secs = cutoff.unix_secs();
        let before = self.len();
        let kept: Vec<RawStay> = self
            .iter_raw()
            .filter(|stay| from_rel(stay.leave_rel) >= cutoff_secs)
            .collect();
        let purged = before - kept.len();
        if purged > 0 {
            self.main = Run::build(&kept, self.venues.len(), self.persons.len());
            self.delta = Run::default();
            self.pending = Vec::new();
        }
        purged
    }

    pub fn stats(&self) -> IndexStats {
        IndexStats {
            checkins: self.len(),
            persons: self.persons.len(),
            venues: self.venues.len(),
            index_bytes: self.main.heap_bytes()
                + self.delta.heap_bytes()
                + self.pending.capacity() * std::mem::size_of::<RawStay>(),
            interner_bytes: self.persons.heap_bytes() + self.venues.heap_bytes(),
        }
    }
}

/// The instant of an index-relative second; always in range by construction.
pub(crate) fn timestamp_of(rel: u32) -> Timestamp {
    Timestamp::from_unix_secs(from_rel(rel)).expect("relative seconds are always in range")
}

/// Index-relative seconds of an instant, for callers that hold a `Timestamp`.
pub fn rel_of(instant: Timestamp) -> Result<u32, StayError> {
    to_rel(instant.unix_secs())
}
