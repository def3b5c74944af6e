//! Property: any batch of valid events round-trips through the store, by
//! id, by person and by log scan.

mod common;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use std::cell::Cell;
use std::collections::BTreeMap;
use ymt_core::{EventId, PersonId, Timestamp};
use ymt_store::{EventStore, NewEvent};

/// Raw parts of an event; the id is unique within a batch.
type Parts = (String, u8, i64, Vec<u8>);

fn batch_strategy() -> impl Strategy<Value = Vec<Parts>> {
    proptest::collection::btree_map(
        "[A-Za-z0-9:._-]{1,56}",
        (
            0u8..6,
            0i64..=253_402_300_799,
            proptest::collection::vec(any::<u8>(), 0..3000),
        ),
        1..40,
    )
    .prop_map(|map: BTreeMap<String, (u8, i64, Vec<u8>)>| {
        map.into_iter()
            .map(|(id, (person, secs, payload))| (id, person, secs, payload))
            .collect()
    })
    .prop_shuffle()
}

#[test]
fn any_batch_round_trips() {
    // One store for all cases (opening one costs several fsyncs); a case
    // number in every id and person keeps the cases apart.
    let dir = tempfile::tempdir().unwrap();
    let store = common::open(&dir);
    let case = Cell::new(0u32);
    let mut runner = TestRunner::new(Config {
        cases: 48,
        ..Config::default()
    });
    runner
        .run(&batch_strategy(), |parts| {
            case.set(case.get() + 1);
            let tag = format!("c{}", case.get());
            let batch: Vec<NewEvent> = parts
                .iter()
                .map(|(id, person, secs, payload)| NewEvent {
                    id: EventId::parse(&format!("{tag}-{id}")).unwrap(),
                    person: PersonId::parse(&format!("{tag}-p{person}")).unwrap(),
                    recorded_at: Timestamp::from_unix_secs(*secs).unwrap(),
                    payload: payload.clone(),
                })
                .collect();
            let first_seq = store.last_seq() + 1;
            let outcomes = store.append(batch.clone()).unwrap();
            for (offset, (outcome, event)) in outcomes.iter().zip(&batch).enumerate() {
                prop_assert!(!outcome.duplicate);
                prop_assert_eq!(outcome.seq, first_seq + offset as u64);
                let stored = store.event_by_id(&event.id).unwrap().unwrap();
                prop_assert_eq!(stored.seq, outcome.seq);
                prop_assert_eq!(&stored.person, &event.person);
                prop_assert_eq!(stored.recorded_at, event.recorded_at);
                prop_assert_eq!(&stored.payload, &event.payload);
            }
            let scanned = store.scan_from(first_seq, batch.len() + 10).unwrap();
            let scanned_ids: Vec<&EventId> = scanned.iter().map(|e| &e.id).collect();
            let batch_ids: Vec<&EventId> = batch.iter().map(|e| &e.id).collect();
            prop_assert_eq!(scanned_ids, batch_ids);
            for person in 0u8..6 {
                let person = PersonId::parse(&format!("{tag}-p{person}")).unwrap();
                let timeline = store.events_for_person(&person).unwrap();
                let expected: Vec<&NewEvent> =
                    batch.iter().filter(|e| e.person == person).collect();
                prop_assert_eq!(timeline.len(), expected.len());
                for (stored, event) in timeline.iter().zip(expected) {
                    prop_assert_eq!(&stored.id, &event.id);
                    prop_assert_eq!(&stored.payload, &event.payload);
                }
            }
            // Resubmitting the same batch is all duplicates.
            let again = store.append(batch).unwrap();
            prop_assert!(again.iter().all(|o| o.duplicate));
            Ok(())
        })
        .unwrap();
}
