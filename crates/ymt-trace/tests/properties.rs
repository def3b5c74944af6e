//! Property tests: the CSV parsers never panic, and the traced pairs equal a
//! naive quadratic reference.

use proptest::prelude::*;
use ymt_core::{PersonId, Timestamp, VenueId};
use ymt_trace::{CheckIn, ImportOptions, Interner, Positive, StayPolicy, TraceIndex, TraceQuery};

const T0: i64 = 1_640_995_200;

proptest! {
    #[test]
    fn csv_parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600), skip_bad: bool) {
        let mut persons = Interner::new();
        let mut venues = Interner::new();
        let options = ImportOptions { skip_bad, ..ImportOptions::default() };
        let _ = ymt_trace::csv::parse_checkins_csv(&bytes[..], &mut persons, &mut venues, &options, &mut |_| {});
        let mut with_header = b"person,venue,enter,leave\n".to_vec();
        with_header.extend_from_slice(&bytes);
        let outcome = ymt_trace::csv::parse_checkins_csv(&with_header[..], &mut persons, &mut venues, &options, &mut |_| {});
        if outcome.is_err() {
            prop_assert!(persons.is_empty() && venues.is_empty());
        }
        let _ = ymt_trace::csv::parse_positives_csv(&bytes[..]);
        let mut with_header = b"person,confirmed\n".to_vec();
        with_header.extend_from_slice(&bytes);
        let _ = ymt_trace::csv::parse_positives_csv(&with_header[..]);
    }

    #[test]
    fn csv_lines_of_digits_and_commas_never_panic(text in "[0-9,\\r\\n a-]{0,300}") {
        let mut input = String::from("person,venue,enter,leave\n");
        input.push_str(&text);
        let mut persons = Interner::new();
        let mut venues = Interner::new();
        let options = ImportOptions { skip_bad: true, ..ImportOptions::default() };
        let _ = ymt_trace::csv::parse_checkins_csv(input.as_bytes(), &mut persons, &mut venues, &options, &mut |_| {});
    }

    #[test]
    fn trace_equals_naive_reference(
        // Stay lengths cover every stay class (up to 30 min, up to 2 h, longer),
        // including their limits.
        stays in proptest::collection::vec(
            (
                0u8..8,
                0u8..3,
                0i64..9000,
                prop_oneof![0i64..120, 1790i64..1810, 7190i64..7210, 7210i64..20000],
            ),
            0..60,
        ),
        positives in proptest::collection::btree_map(0u8..8, 0i64..12000, 0..4),
        min_overlap_secs in prop_oneof![0u32..90, 0u32..3000],
        before_confirmed: bool,
        sealed_prefix in 0usize..60,
        pending_min in 1usize..8,
        window in proptest::option::of((0i64..8000, 2000i64..15000)),
    ) {
        let policy = StayPolicy::default();
        let checkins: Vec<CheckIn> = stays
            .iter()
            .map(|&(person, venue, enter, len)| CheckIn {
                person: PersonId::parse(&format!("p{person}")).unwrap(),
                venue: VenueId::parse(&format!("v{venue}")).unwrap(),
                enter: Timestamp::from_unix_secs(T0 + enter).unwrap(),
                leave: Some(Timestamp::from_unix_secs(T0 + enter + len).unwrap()),
            })
            .collect();
        // Stays pass through the pending buffer, the delta run and the main run.
        let mut index = TraceIndex::with_pending_min(pending_min);
        for (number, checkin) in checkins.iter().enumerate() {
            if number == sealed_prefix {
                index.seal();
            }
            index.append(checkin, &policy).unwrap();
        }
        let positives: Vec<Positive> = positives
            .iter()
            .map(|(&person, &confirmed)| Positive {
                person: PersonId::parse(&format!("p{person}")).unwrap(),
                confirmed: Timestamp::from_unix_secs(T0 + confirmed).unwrap(),
                window_start: window.map(|(start, _)| Timestamp::from_unix_secs(T0 + start).unwrap()),
                window_end: window.map(|(_, end)| Timestamp::from_unix_secs(T0 + end).unwrap()),
            })
            .collect();
        let query = TraceQuery { min_overlap_secs, before_confirmed };
        let result = index.trace(&positives, &query).unwrap();
        let mut got: Vec<(String, String, u32)> = result
            .pairs
            .iter()
            .map(|pair| {
                let resolved = index.resolve_pair(pair);
                (resolved.positive.to_string(), resolved.contact.to_string(), pair.overlap_secs())
            })
            .collect();
        got.sort();

        let mut expect: Vec<(String, String, u32)> = Vec::new();
        for positive in &positives {
            for a in checkins.iter().filter(|c| c.person == positive.person) {
                let a_leave = a.leave.unwrap();
                if before_confirmed && a.enter >= positive.confirmed {
                    continue;
                }
                if positive.window_start.is_some_and(|start| a_leave < start) {
                    continue;
                }
                if positive.window_end.is_some_and(|end| a.enter >= end) {
                    continue;
                }
                for b in checkins.iter().filter(|b| b.venue == a.venue && b.person != a.person) {
                    let overlap = a_leave.min(b.leave.unwrap()).unix_secs() - a.enter.max(b.enter).unix_secs();
                    if overlap >= min_overlap_secs as i64 {
                        expect.push((a.person.to_string(), b.person.to_string(), overlap as u32));
                    }
                }
            }
        }
        // Keep the longest overlap per pair, as the index reports it.
        expect.sort_by(|x, y| (&x.0, &x.1).cmp(&(&y.0, &y.1)).then(y.2.cmp(&x.2)));
        expect.dedup_by(|x, y| x.0 == y.0 && x.1 == y.1);
        expect.sort();
        prop_assert_eq!(&got, &expect);
        let mut contacts: Vec<&String> = expect.iter().map(|pair| &pair.1).collect();
        contacts.sort();
        contacts.dedup();
        prop_assert_eq!(result.contacts.len(), contacts.len());
    }
}

proptest! {
    /// The stays of one venue, read through its groups, are exactly the
    /// stays at that venue among all of them, wherever they sit (main run,
    /// delta run or pending buffer); so are those of a window at a venue,
    /// and those of some persons.
    #[test]
    fn stays_at_a_venue_are_those_of_the_whole_index(
        stays in proptest::collection::vec((0u8..8, 0u8..4, 0i64..9000, 0i64..20000), 0..60),
        sealed_prefix in 0usize..60,
        pending_min in 1usize..8,
        window in (0u32..30_000, 0u32..30_000),
        persons_mask in any::<u8>(),
    ) {
        let policy = StayPolicy::default();
        let mut index = TraceIndex::with_pending_min(pending_min);
        for (number, &(person, venue, enter, len)) in stays.iter().enumerate() {
            if number == sealed_prefix {
                index.seal();
            }
            let checkin = CheckIn {
                person: PersonId::parse(&format!("p{person}")).unwrap(),
                venue: VenueId::parse(&format!("v{venue}")).unwrap(),
                enter: Timestamp::from_unix_secs(T0 + enter).unwrap(),
                leave: Some(Timestamp::from_unix_secs(T0 + enter + len).unwrap()),
            };
            index.append(&checkin, &policy).unwrap();
        }
        for venue in 0..index.venues().len() as u32 {
            let mut expected: Vec<_> = index
                .iter_raw()
                .filter(|stay| stay.venue == venue)
                .map(|stay| (stay.person, stay.enter_rel, stay.leave_rel))
                .collect();
            let mut got = Vec::new();
            index.for_each_stay_at(venue, |stay| {
                assert_eq!(stay.venue, venue);
                got.push((stay.person, stay.enter_rel, stay.leave_rel));
            });
            expected.sort_unstable();
            got.sort_unstable();
            prop_assert_eq!(&got, &expected);
            // Read for a window: every stay overlapping it (closed
            // intervals) is among those visited. Windows on the stays' own
            // instants test the bounds.
            let base_rel = (T0 - ymt_trace::TIME_BASE_UNIX_SECS) as u32;
            let mut windows = vec![(base_rel + window.0, base_rel + window.1)];
            for &(_, enter_rel, leave_rel) in &expected {
                windows.extend([(enter_rel, enter_rel), (leave_rel, leave_rel), (leave_rel + 1, leave_rel + 9)]);
                windows.push((enter_rel.saturating_sub(9), enter_rel.saturating_sub(1)));
            }
            for (from_rel, to_rel) in windows {
                let overlapping = |stays: &[(u32, u32, u32)]| -> Vec<(u32, u32, u32)> {
                    stays
                        .iter()
                        .copied()
                        .filter(|&(_, enter_rel, leave_rel)| enter_rel <= to_rel && from_rel <= leave_rel)
                        .collect()
                };
                let mut windowed = Vec::new();
                index.for_each_stay_at_overlapping(venue, from_rel, to_rel, |stay| {
                    assert_eq!(stay.venue, venue);
                    windowed.push((stay.person, stay.enter_rel, stay.leave_rel));
                });
                windowed.sort_unstable();
                prop_assert_eq!(overlapping(&windowed), overlapping(&expected));
            }
        }
        // Read for some persons: exactly their stays.
        let persons: Vec<u32> = (0..index.persons().len() as u32)
            .filter(|person| persons_mask & (1 << person) != 0)
            .collect();
        let mut expected: Vec<_> = index
            .iter_raw()
            .filter(|stay| persons.contains(&stay.person))
            .map(|stay| (stay.person, stay.venue, stay.enter_rel, stay.leave_rel))
            .collect();
        let mut got = Vec::new();
        index.for_each_stay_of(&persons, |stay| {
            got.push((stay.person, stay.venue, stay.enter_rel, stay.leave_rel));
        });
        expected.sort_unstable();
        got.sort_unstable();
        prop_assert_eq!(got, expected);
    }
}
