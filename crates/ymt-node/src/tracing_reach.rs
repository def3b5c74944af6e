//! Who a batch's new stays reach: the persons whose tracings a stay can
//! change ([`crate::tracing_service`] plans those tracings again). A
//! stay reaches its own person and everyone whose stay it overlapped.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use ymt_core::{PersonId, Timestamp, VenueId};
use ymt_trace::{Positive, Stay, TIME_BASE_UNIX_SECS, TraceIndex, TraceQuery};

/// Notes that a stay entered at `entered_at` reaches `person`, keeping the
/// earliest such instant.
pub(crate) fn reached(
    persons: &mut BTreeMap<PersonId, Timestamp>,
    person: PersonId,
    entered_at: Timestamp,
) {
    persons
        .entry(person)
        .and_modify(|earliest| *earliest = (*earliest).min(entered_at))
        .or_insert(entered_at);
}

/// Adds everyone whose stay at `venue` overlapped a retracted stay
/// `[enter, leave]` (no longer indexed), entered at `entered_at`: compared
/// with the venue's stays of the hours that can overlap it.
pub(crate) fn overlapping_retracted_stay(
    index: &TraceIndex,
    venue: &VenueId,
    stay: Stay,
    entered_at: Timestamp,
    persons: &mut BTreeMap<PersonId, Timestamp>,
) {
    let Some(venue_number) = index.venues().get(venue.as_str()) else {
        return;
    };
    index.for_each_stay_at_overlapping(venue_number, stay.enter_rel, stay.leave_rel, |other| {
        if other.enter_rel <= stay.leave_rel && stay.enter_rel <= other.leave_rel {
            reached(persons, index.person_id(other.person), entered_at);
        }
    });
}

/// A batch's stay at one venue: enter and leave (relative seconds), its
/// person's number in the index, and when it was entered.
type NewStay = (u32, u32, Option<u32>, Timestamp);

/// Adds each of `concerned` whose stay overlapped one of `stays` by a
/// second or more (as [`overlapping_stays_in_index`] finds them), comparing
/// their stays with the batch's stays at the same venue. Anyone else a stay
/// reaches concerns no tracing ([`crate::checkins::TracedCases::persons_concerned_from`]),
/// so the tracings found are the same.
pub(crate) fn overlapping_concerned_persons(
    index: &TraceIndex,
    concerned: &BTreeSet<&PersonId>,
    stays: &[(PersonId, VenueId, Stay, Timestamp)],
    persons: &mut BTreeMap<PersonId, Timestamp>,
) {
    if concerned.is_empty() {
        return;
    }
    let mut by_venue: HashMap<u32, Vec<NewStay>> = HashMap::new();
    for (person, venue, stay, entered_at) in stays {
        let Some(venue_number) = index.venues().get(venue.as_str()) else {
            continue;
        };
        by_venue.entry(venue_number).or_default().push((
            stay.enter_rel,
            stay.leave_rel,
            index.persons().get(person.as_str()),
            *entered_at,
        ));
    }
    for venue_stays in by_venue.values_mut() {
        venue_stays.sort_unstable_by_key(|stay| stay.0);
    }
    let mut numbers: Vec<u32> = concerned
        .iter()
        .filter_map(|person| index.persons().get(person.as_str()))
        .collect();
    numbers.sort_unstable();
    let mut earliest: HashMap<u32, Timestamp> = HashMap::new();
    index.for_each_stay_of(&numbers, |own| {
        let Some(venue_stays) = by_venue.get(&own.venue) else {
            return;
        };
        for &(enter_rel, leave_rel, person, entered_at) in venue_stays {
            if enter_rel >= own.leave_rel {
                break;
            }
            let overlap_start = enter_rel.max(own.enter_rel);
            let overlap_end = leave_rel.min(own.leave_rel);
            if person != Some(own.person) && overlap_end > overlap_start {
                earliest
                    .entry(own.person)
                    .and_modify(|earliest| *earliest = (*earliest).min(entered_at))
                    .or_insert(entered_at);
            }
        }
    });
    for (number, entered_at) in earliest {
        reached(persons, index.person_id(number), entered_at);
    }
}

/// Adds everyone who overlapped one of `stays` (each a person's stay still
/// in the index, with the instant it was entered), each stay traced like a
/// case's over the stay's own window. One trace per round of stays, each
/// person at most once in a round (a trace takes each positive once): a
/// trace builds the index's pending stays into a run each time, so tracing
/// each stay on its own cost a build per check-in of the batch. Each
/// positive of a trace is traced on its own, so the persons found are those
/// of one trace per stay.
pub(crate) fn overlapping_stays_in_index(
    index: &TraceIndex,
    stays: Vec<(PersonId, VenueId, Stay, Timestamp)>,
    persons: &mut BTreeMap<PersonId, Timestamp>,
) {
    let instant = |rel: u32| {
        Timestamp::from_unix_secs(TIME_BASE_UNIX_SECS + i64::from(rel))
            .expect("an indexable stay lies in the index's range")
    };
    // Each round: its positives, and when each positive's stay was entered.
    let mut rounds: Vec<(Vec<Positive>, HashMap<PersonId, Timestamp>)> = Vec::new();
    let mut round_of_person: HashMap<PersonId, usize> = HashMap::new();
    for (person, _, stay, entered_at) in stays {
        let round = round_of_person.entry(person.clone()).or_insert(0);
        if rounds.len() <= *round {
            rounds.push(Default::default());
        }
        let (enter, leave) = (instant(stay.enter_rel), instant(stay.leave_rel));
        let (positives, entered) = &mut rounds[*round];
        entered.insert(person.clone(), entered_at);
        positives.push(Positive {
            person,
            confirmed: leave,
            window_start: Some(enter),
            window_end: Some(leave.plus_secs(1)),
        });
        *round += 1;
    }
    let query = TraceQuery {
        min_overlap_secs: 1,
        before_confirmed: false,
    };
    for (round, entered) in rounds {
        if let Ok(result) = index.trace(&round, &query) {
            for pair in &result.pairs {
                let positive = index.person_id(pair.positive);
                // Every positive of the round is one of its stays (were
                // one not, the earliest indexable instant concerns all).
                let entered_at = entered
                    .get(&positive)
                    .copied()
                    .unwrap_or_else(|| instant(0));
                reached(persons, index.person_id(pair.contact), entered_at);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use ymt_trace::{CheckIn, StayPolicy};

    /// Each person's stays lie in slots far enough apart that a person's
    /// stays never overlap one another: then tracing a new stay finds
    /// exactly the persons whose stays overlapped it.
    const SLOT_SECS: i64 = 200;

    /// `(venue, offset in its slot, length, whether the batch brings it)`
    /// for each (person, slot).
    fn stays_strategy() -> impl Strategy<Value = Vec<Option<(u8, i64, i64, bool)>>> {
        proptest::collection::vec(
            proptest::option::of((0u8..3, 0i64..60, 0i64..90, any::<bool>())),
            8 * 4,
        )
    }

    proptest! {
        /// Comparing the concerned persons' stays with the batch's finds,
        /// among them, the same persons, each from the same earliest
        /// instant, as tracing every stay of the batch.
        #[test]
        fn comparing_the_concerned_persons_stays_finds_what_tracing_every_stay_finds(
            stays in stays_strategy(),
            concerned_mask in any::<u8>(),
            pending_min in 1usize..6,
        ) {
            let policy = StayPolicy::default();
            let mut index = TraceIndex::with_pending_min(pending_min);
            let mut batch: Vec<(PersonId, VenueId, Stay, Timestamp)> = Vec::new();
            let base_secs = TIME_BASE_UNIX_SECS + 10 * 86_400;
            for (cell, stay) in stays.iter().enumerate() {
                let Some((venue, offset_secs, length_secs, new)) = *stay else {
                    continue;
                };
                let (person, slot) = (cell / 4, (cell % 4) as i64);
                let person = PersonId::parse(&format!("p{person}")).unwrap();
                let venue = VenueId::parse(&format!("v{venue}")).unwrap();
                let enter_secs = base_secs + slot * SLOT_SECS + offset_secs;
                let leave_secs = enter_secs + length_secs;
                let enter = Timestamp::from_unix_secs(enter_secs).unwrap();
                let check_in = CheckIn {
                    person: person.clone(),
                    venue: venue.clone(),
                    enter,
                    leave: Some(Timestamp::from_unix_secs(leave_secs).unwrap()),
                };
                index.append(&check_in, &policy).unwrap();
                if new {
                    let stay = policy.resolve(enter_secs, Some(leave_secs)).unwrap();
                    batch.push((person, venue, stay, enter));
                }
            }
            let concerned_ids: Vec<PersonId> = (0..8)
                .filter(|person| concerned_mask & (1 << person) != 0)
                .map(|person| PersonId::parse(&format!("p{person}")).unwrap())
                .collect();
            let concerned: BTreeSet<&PersonId> = concerned_ids.iter().collect();

            let mut traced = BTreeMap::new();
            overlapping_stays_in_index(&index, batch.clone(), &mut traced);
            traced.retain(|person, _| concerned.contains(person));
            let mut compared = BTreeMap::new();
            overlapping_concerned_persons(&index, &concerned, &batch, &mut compared);
            prop_assert_eq!(compared, traced);
        }
    }
}
