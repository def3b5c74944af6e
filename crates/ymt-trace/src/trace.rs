//! Close-contact tracing over the index.
//!
//! For every positive `p` and every stay `a` of `p` that passes the filters,
//! every stay `b` at the same venue with `b.person != p` and
//! `min(a.leave, b.leave) - max(a.enter, b.enter) >= D` makes the pair
//! `(p, b.person)`. Intervals are closed, so touching stays overlap by 0 s.

use std::collections::HashSet;

use rayon::prelude::*;
use ymt_core::{PersonId, Timestamp, VenueId};

use crate::index::{Run, STAY_CLASSES, TraceIndex, timestamp_of};
use crate::stay::from_rel;

/// A confirmed case and the part of their history to trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Positive {
    pub person: PersonId,
    pub confirmed: Timestamp,
    /// Only stays with `leave >= window_start` are traced (for example 4 days
    /// before sampling or confirmation).
    pub window_start: Option<Timestamp>,
    /// Only stays with `enter < window_end` are traced (for example isolation).
    pub window_end: Option<Timestamp>,
}

impl Positive {
    pub fn new(person: PersonId, confirmed: Timestamp) -> Positive {
        Positive {
            person,
            confirmed,
            window_start: None,
            window_end: None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceQuery {
    /// `D`: the least overlap in seconds; 0 would make touching stays count.
    pub min_overlap_secs: u32,
    /// Trace only the positive's stays with `enter < confirmed`.
    pub before_confirmed: bool,
}

/// One distinct (positive, contact) pair with the evidence of its longest overlap.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ContactPair {
    /// Dense person number of the positive (see [`TraceIndex::person_id`]).
    pub positive: u32,
    /// Dense person number of the contact.
    pub contact: u32,
    /// Dense venue number of the longest overlap.
    pub venue: u32,
    pub overlap_start_rel: u32,
    pub overlap_end_rel: u32,
}

impl ContactPair {
    pub fn overlap_secs(&self) -> u32 {
        self.overlap_end_rel - self.overlap_start_rel
    }
}

/// A pair with ids resolved, for output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedPair {
    pub positive: PersonId,
    pub contact: PersonId,
    pub venue: VenueId,
    pub overlap_start: Timestamp,
    pub overlap_end: Timestamp,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TraceResult {
    /// Sorted by (positive, contact) dense numbers; one entry per distinct pair.
    pub pairs: Vec<ContactPair>,
    /// Distinct contacts, sorted by dense number.
    pub contacts: Vec<u32>,
    /// Positives that have no stay in the index at all.
    pub positives_unknown: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TraceError {
    #[error("positive {0} is listed twice")]
    DuplicatePositive(PersonId),
}

impl TraceIndex {
    pub fn resolve_pair(&self, pair: &ContactPair) -> ResolvedPair {
        ResolvedPair {
            positive: self.person_id(pair.positive),
            contact: self.person_id(pair.contact),
            venue: self.venue_id(pair.venue),
            overlap_start: timestamp_of(pair.overlap_start_rel),
            overlap_end: timestamp_of(pair.overlap_end_rel),
        }
    }

    /// Finds every close contact of the positives.
    pub fn trace(
        &self,
        positives: &[Positive],
        query: &TraceQuery,
    ) -> Result<TraceResult, TraceError> {
        let mut seen = HashSet::with_capacity(positives.len());
        for positive in positives {
            if !seen.insert(&positive.person) {
                return Err(TraceError::DuplicatePositive(positive.person.clone()));
            }
        }
        let mut known: Vec<(u32, &Positive)> = positives
            .iter()
            .filter_map(|positive| {
                self.persons()
                    .get(positive.person.as_str())
                    .map(|number| (number, positive))
            })
            .collect();
        let positives_unknown = positives.len() - known.len();
        known.sort_unstable_by_key(|(number, _)| *number);

        // Pending stays are few; a temporary run lets one code path serve both.
        let pending_run = (!self.pending().is_empty())
            .then(|| Run::build(self.pending(), self.venues().len(), self.persons().len()));
        let mut runs: Vec<&Run> = self.sealed_runs();
        runs.extend(pending_run.as_ref());

        let per_positive: Vec<Vec<ContactPair>> = known
            .par_iter()
            .map(|&(number, positive)| trace_one(&runs, number, positive, query))
            .collect();
        let pairs: Vec<ContactPair> = per_positive.into_iter().flatten().collect();

        let mut contact_bits = vec![0u64; self.persons().len().div_ceil(64)];
        for pair in &pairs {
            contact_bits[pair.contact as usize / 64] |= 1 << (pair.contact % 64);
        }
        let contacts = contact_bits
            .iter()
            .enumerate()
            .flat_map(|(word_index, &word)| {
                (0..64u32)
                    .filter(move |bit| word & (1 << bit) != 0)
                    .map(move |bit| word_index as u32 * 64 + bit)
            })
            .collect();
        Ok(TraceResult {
            pairs,
            contacts,
            positives_unknown,
        })
    }
}

fn trace_one(
    runs: &[&Run],
    positive_number: u32,
    positive: &Positive,
    query: &TraceQuery,
) -> Vec<ContactPair> {
    let min_overlap = query.min_overlap_secs as i64;
    let confirmed_secs = positive.confirmed.unix_secs();
    let window_start_secs = positive.window_start.map(Timestamp::unix_secs);
    let window_end_secs = positive.window_end.map(Timestamp::unix_secs);
    let mut hits: Vec<ContactPair> = Vec::new();
    for own_run in runs {
        for &position in own_run.person_positions(positive_number) {
            let (venue, own) = own_run.stay_at(position);
            let enter_secs = from_rel(own.enter_rel);
            let leave_secs = from_rel(own.leave_rel);
            if query.before_confirmed && enter_secs >= confirmed_secs {
                continue;
            }
            if window_start_secs.is_some_and(|start| leave_secs < start) {
                continue;
            }
            if window_end_secs.is_some_and(|end| enter_secs >= end) {
                continue;
            }
            let own_enter = own.enter_rel as i64;
            let own_leave = own.leave_rel as i64;
            // b.enter <= a.leave - D, and b.leave >= a.enter + D with
            // b.leave <= b.enter + longest stay gives b.enter >= a.enter + D - longest.
            let enter_high = own_leave - min_overlap;
            let groups = runs
                .iter()
                .flat_map(|run| (0..STAY_CLASSES).map(move |class| run.group(venue, class)));
            for (stays, stay_max_secs) in groups {
                let enter_low = own_enter + min_overlap - stay_max_secs as i64;
                if stays.is_empty() || enter_high < enter_low || enter_high < 0 {
                    continue;
                }
                let low = stays.partition_point(|stay| (stay.enter_rel as i64) < enter_low);
                let high = stays.partition_point(|stay| (stay.enter_rel as i64) <= enter_high);
                for other in &stays[low..high.max(low)] {
                    if other.person == positive_number {
                        continue;
                    }
                    let start = own.enter_rel.max(other.enter_rel);
                    let end = own.leave_rel.min(other.leave_rel);
                    if end as i64 - start as i64 >= min_overlap {
                        hits.push(ContactPair {
                            positive: positive_number,
                            contact: other.person,
                            venue,
                            overlap_start_rel: start,
                            overlap_end_rel: end,
                        });
                    }
                }
            }
        }
    }
    best_per_contact(hits)
}

/// True when `x` is better evidence than `y`: a longer overlap, then an
/// earlier start, then a lower venue number, so the choice is deterministic.
fn better(x: &ContactPair, y: &ContactPair) -> bool {
    (u32::MAX - x.overlap_secs(), x.overlap_start_rel, x.venue)
        < (u32::MAX - y.overlap_secs(), y.overlap_start_rel, y.venue)
}

/// Sorts hits by contact and keeps the best evidence per contact. A radix
/// sort on the contact number does this several times faster than a
/// comparison sort, which matters because it runs once per positive.
fn best_per_contact(mut hits: Vec<ContactPair>) -> Vec<ContactPair> {
    const DIGIT_BITS: u32 = 11;
    const BUCKETS: usize = 1 << DIGIT_BITS;
    if hits.len() < 256 {
        hits.sort_unstable_by_key(|hit| hit.contact);
    } else {
        let contact_max = hits.iter().map(|hit| hit.contact).max().unwrap_or(0);
        let mut scratch = vec![ContactPair::default(); hits.len()];
        let mut shift = 0;
        while shift < 32 && (contact_max >> shift) > 0 {
            let digit = |hit: &ContactPair| ((hit.contact >> shift) as usize) & (BUCKETS - 1);
            let mut starts = [0usize; BUCKETS];
            for hit in &hits {
                starts[digit(hit)] += 1;
            }
            let mut total = 0;
            for start in starts.iter_mut() {
                let count = *start;
                *start = total;
                total += count;
            }
            for hit in &hits {
                let slot = &mut starts[digit(hit)];
                scratch[*slot] = *hit;
                *slot += 1;
            }
            std::mem::swap(&mut hits, &mut scratch);
            shift += DIGIT_BITS;
        }
    }
    let mut best: Vec<ContactPair> = Vec::with_capacity(hits.len());
    for hit in hits {
        match best.last_mut() {
            Some(last) if last.contact == hit.contact => {
                if better(&hit, last) {
                    *last = hit;
                }
            }
            _ => best.push(hit),
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn radix_dedup_matches_a_comparison_sort() {
        let mut state: u64 = 7;
        let mut next = move |bound: u32| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % bound as u64) as u32
        };
        for (len, contact_bound) in [(300, 50), (5000, 3_000_000), (4096, u32::MAX), (10, 5)] {
            let hits: Vec<ContactPair> = (0..len)
                .map(|_| {
                    let start = next(1000);
                    ContactPair {
                        positive: 1,
                        contact: next(contact_bound),
                        venue: next(4),
                        overlap_start_rel: start,
                        overlap_end_rel: start + next(5),
                    }
                })
                .collect();
            let mut expect = hits.clone();
            expect.sort_by(|x, y| {
                x.contact
                    .cmp(&y.contact)
                    .then(y.overlap_secs().cmp(&x.overlap_secs()))
                    .then(x.overlap_start_rel.cmp(&y.overlap_start_rel))
                    .then(x.venue.cmp(&y.venue))
            });
            expect.dedup_by_key(|hit| hit.contact);
            assert_eq!(best_per_contact(hits), expect);
        }
    }
}
