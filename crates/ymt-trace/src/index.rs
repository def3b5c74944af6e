//! The compact venue×time index.
//!
//! Stays are grouped by venue and sorted by enter, 12 bytes each (person,
//! enter, leave; the venue is implied by the group). A second array lists each
//! person's stays by position (4 bytes per stay), so the stays of a positive
//! are found without a scan. Each venue keeps its longest stay, which bounds
//! how far before a positive's stay a overlapping stay can have started.
//!
//! Check-ins arrive one by one or in batches: they are appended to a pending
//! buffer which is merged into the main run once it grows past a quarter of
//! it (so each stay is re-sorted only a logarithmic number of times). Queries
//! see the pending buffer too.

use rayon::prelude::*;
use ymt_core::{PersonId, Timestamp, VenueId};

use crate::intern::{InternError, Interner};
use crate::stay::{CheckIn, StayError, StayPolicy, from_rel, to_rel};

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

/// Stays sorted by venue then enter, with a person→positions table.
#[derive(Clone, Debug, Default)]
pub(crate) struct Run {
    venue_offsets: Vec<u32>,
    venue_stay_max_secs: Vec<u32>,
    stays: Vec<StayRecord>,
    person_offsets: Vec<u32>,
    person_positions: Vec<u32>,
}

impl Run {
    /// Builds a run in O(n) plus a per-venue sort; the sort runs on all cores.
    pub(crate) fn build(raw: &[RawStay], venue_count: usize, person_count: usize) -> Run {
        let mut venue_offsets = vec![0u32; venue_count + 1];
        for stay in raw {
            venue_offsets[stay.venue as usize + 1] += 1;
        }
        for venue in 0..venue_count {
            venue_offsets[venue + 1] += venue_offsets[venue];
        }
        let mut cursor = venue_offsets.clone();
        let mut stays = vec![StayRecord::default(); raw.len()];
        for stay in raw {
            let slot = &mut cursor[stay.venue as usize];
            stays[*slot as usize] = StayRecord {
                enter_rel: stay.enter_rel,
                leave_rel: stay.leave_rel,
                person: stay.person,
            };
            *slot += 1;
        }
        drop(cursor);
        let mut groups: Vec<&mut [StayRecord]> = Vec::with_capacity(venue_count);
        let mut rest: &mut [StayRecord] = &mut stays;
        for venue in 0..venue_count {
            let len = (venue_offsets[venue + 1] - venue_offsets[venue]) as usize;
            let (group, tail) = rest.split_at_mut(len);
            groups.push(group);
            rest = tail;
        }
        let venue_stay_max_secs: Vec<u32> = groups
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

        let mut person_offsets = vec![0u32; person_count + 1];
        for stay in &stays {
            person_offsets[stay.person as usize + 1] += 1;
        }
        for person in 0..person_count {
            person_offsets[person + 1] += person_offsets[person];
        }
        let mut cursor = person_offsets.clone();
        let mut person_positions = vec![0u32; stays.len()];
        for (position, stay) in stays.iter().enumerate() {
            let slot = &mut cursor[stay.person as usize];
            person_positions[*slot as usize] = position as u32;
            *slot += 1;
        }
        Run {
            venue_offsets,
            venue_stay_max_secs,
            stays,
            person_offsets,
            person_positions,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.stays.len()
    }

    pub(crate) fn venue_stays(&self, venue: u32) -> &[StayRecord] {
        let venue = venue as usize;
        if venue + 1 >= self.venue_offsets.len() {
            return &[];
        }
        &self.stays[self.venue_offsets[venue] as usize..self.venue_offsets[venue + 1] as usize]
    }

    pub(crate) fn venue_stay_max_secs(&self, venue: u32) -> u32 {
        self.venue_stay_max_secs
            .get(venue as usize)
            .copied()
            .unwrap_or(0)
    }

    /// Positions of a person's stays, ordered by venue then enter.
    pub(crate) fn person_positions(&self, person: u32) -> &[u32] {
        let person = person as usize;
        if person + 1 >= self.person_offsets.len() {
            return &[];
        }
        &self.person_positions
            [self.person_offsets[person] as usize..self.person_offsets[person + 1] as usize]
    }

    pub(crate) fn stay_at(&self, position: u32) -> (u32, StayRecord) {
        let venue = self
            .venue_offsets
            .partition_point(|&offset| offset <= position)
            - 1;
        (venue as u32, self.stays[position as usize])
    }

    pub(crate) fn iter_raw(&self) -> impl Iterator<Item = RawStay> + '_ {
        self.venue_offsets
            .windows(2)
            .enumerate()
            .flat_map(move |(venue, bounds)| {
                self.stays[bounds[0] as usize..bounds[1] as usize]
                    .iter()
                    .map(move |stay| RawStay {
                        person: stay.person,
                        venue: venue as u32,
                        enter_rel: stay.enter_rel,
                        leave_rel: stay.leave_rel,
                    })
            })
    }

    fn heap_bytes(&self) -> usize {
        (self.venue_offsets.capacity()
            + self.venue_stay_max_secs.capacity()
            + self.person_offsets.capacity()
            + self.person_positions.capacity())
            * 4
            + self.stays.capacity() * std::mem::size_of::<StayRecord>()
    }
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

/// The whole in-memory check-in index: id tables, the main run and the pending buffer.
#[derive(Debug, Default)]
pub struct TraceIndex {
    persons: Interner,
    venues: Interner,
    main: Run,
    pending: Vec<RawStay>,
}

impl TraceIndex {
    pub fn new() -> TraceIndex {
        TraceIndex::default()
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
            pending: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.main.len() + self.pending.len()
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

    pub(crate) fn main_run(&self) -> &Run {
        &self.main
    }

    pub(crate) fn pending(&self) -> &[RawStay] {
        &self.pending
    }

    /// Validates and interns one check-in and adds it.
    pub fn append(&mut self, checkin: &CheckIn, policy: &StayPolicy) -> Result<(), IndexError> {
        let stay = self.prepare(checkin, policy)?;
        self.extend(std::iter::once(stay))
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
        // Sealing once after a batch, not per stay, keeps a bulk append linear.
        if self.pending.len() >= PENDING_MIN.max(self.main.len() / 4) {
            self.seal();
        }
        outcome
    }

    /// Merges the pending buffer into the main run.
    pub fn seal(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let mut raw: Vec<RawStay> = Vec::with_capacity(self.len());
        raw.extend(self.main.iter_raw());
        raw.append(&mut self.pending);
        self.main = Run::build(&raw, self.venues.len(), self.persons.len());
        self.pending = Vec::new();
    }

    /// Every stay, in no particular order.
    pub fn iter_raw(&self) -> impl Iterator<Item = RawStay> + '_ {
        self.main.iter_raw().chain(self.pending.iter().copied())
    }

    /// The stays of one person as (venue, enter, leave), ordered by venue then enter.
    pub fn stays_of(&self, person: &PersonId) -> Vec<(VenueId, Timestamp, Timestamp)> {
        let Some(number) = self.persons.get(person.as_str()) else {
            return Vec::new();
        };
        let mut stays: Vec<RawStay> = self
            .main
            .person_positions(number)
            .iter()
            .map(|&position| {
                let (venue, stay) = self.main.stay_at(position);
                RawStay {
                    person: number,
                    venue,
                    enter_rel: stay.enter_rel,
                    leave_rel: stay.leave_rel,
                }
            })
            .chain(
                self.pending
                    .iter()
                    .copied()
                    .filter(|stay| stay.person == number),
            )
            .collect();
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
