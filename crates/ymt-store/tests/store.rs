//! Behaviour of the embedded store: idempotency, atomic batches, per-person
//! timelines, scans, purges, metadata and snapshots.

mod common;

use common::{audit_entry, event, ids, open, open_with};
use ymt_core::{EventId, PersonId};
use ymt_store::{
    AppendOutcome, AuditFilter, EventStore, NewEvent, RawKeyspace, StoreConfig, StoreError,
};

/// What appending a batch must give.
#[derive(Debug)]
enum Expect {
    /// `(seq, duplicate)` per event, in input order.
    Outcomes(Vec<(u64, bool)>),
    /// `(index, id, existing seq)` of every conflicting event.
    Conflicts(Vec<(usize, &'static str, u64)>),
    /// Any error whose message contains this text.
    ErrorContaining(&'static str),
}

fn check(store: &dyn EventStore, batch: Vec<NewEvent>, expect: Expect) {
    let result = store.append(batch.clone());
    match (&expect, result) {
        (Expect::Outcomes(want), Ok(got)) => {
            let want: Vec<AppendOutcome> = want
                .iter()
                .map(|&(seq, duplicate)| AppendOutcome { seq, duplicate })
                .collect();
            assert_eq!(got, want, "batch {batch:?}");
        }
        (Expect::Conflicts(want), Err(StoreError::Conflict { conflicts })) => {
            let got: Vec<(usize, &str, u64)> = conflicts
                .iter()
                .map(|c| (c.index, c.id.as_str(), c.existing_seq))
                .collect();
            assert_eq!(&got, want, "batch {batch:?}");
        }
        (Expect::ErrorContaining(text), Err(err)) => {
            assert!(err.to_string().contains(text), "{err} lacks {text:?}");
        }
        (expect, got) => panic!("expected {expect:?}, got {got:?} for batch {batch:?}"),
    }
}

#[test]
fn appends_are_idempotent_on_event_id() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let a = event("lab:a", "p1", 100, b"alpha");
    let b = event("lab:b", "p2", 100, b"beta");
    let c = event("lab:c", "p1", 101, b"gamma");
    check(
        &store,
        vec![a.clone(), b.clone()],
        Expect::Outcomes(vec![(1, false), (2, false)]),
    );
    // A retried batch is all duplicates and stores nothing new.
    check(
        &store,
        vec![a.clone(), b.clone()],
        Expect::Outcomes(vec![(1, true), (2, true)]),
    );
    // Duplicates mixed with new events; an identical repeat inside a batch.
    check(
        &store,
        vec![b.clone(), c.clone(), c.clone()],
        Expect::Outcomes(vec![(2, true), (3, false), (3, true)]),
    );
    // Same id, different payload, person or instant: a conflict, and the
    // whole batch (including the new event d) is rejected.
    check(
        &store,
        vec![
            event("lab:d", "p3", 100, b"delta"),
            event("lab:a", "p1", 100, b"ALPHA"),
            event("lab:b", "p9", 100, b"beta"),
            event("lab:c", "p1", 999, b"gamma"),
        ],
        Expect::Conflicts(vec![(1, "lab:a", 1), (2, "lab:b", 2), (3, "lab:c", 3)]),
    );
    assert_eq!(
        store
            .event_by_id(&EventId::parse("lab:d").unwrap())
            .unwrap(),
        None
    );
    assert_eq!(store.last_seq(), 3);
    check(
        &store,
        vec![event("lab:x", "p1", 1, b"1"), event("lab:x", "p1", 1, b"2")],
        Expect::ErrorContaining("repeats the id lab:x of event 0"),
    );
    let stats = store.stats();
    assert_eq!(stats.events_stored, 3);
    assert_eq!(stats.events_duplicate, 4);
    assert_eq!(stats.batches_conflicting, 1);
}

#[test]
fn bad_batches_are_rejected_whole_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_with(
        &dir,
        StoreConfig {
            batch_events_max: 3,
            payload_bytes_max: 8,
            ..StoreConfig::default()
        },
    );
    check(&store, vec![], Expect::ErrorContaining("empty"));
    check(
        &store,
        (0..4)
            .map(|i| event(&format!("e{i}"), "p", 1, b"x"))
            .collect(),
        Expect::ErrorContaining("4 events, at most 3"),
    );
    check(
        &store,
        vec![
            event("ok", "p", 1, b"x"),
            event("big", "p", 1, b"123456789"),
        ],
        Expect::ErrorContaining("event 1 (big) has a payload of 9 bytes, at most 8"),
    );
    assert_eq!(store.last_seq(), 0);
    assert!(store.scan_from(0, 100).unwrap().is_empty());
    check(
        &store,
        vec![event("ok", "p", 1, b"x")],
        Expect::Outcomes(vec![(1, false)]),
    );
}

#[test]
fn person_timelines_are_in_log_order_and_paged() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_with(
        &dir,
        StoreConfig {
            person_events_max: 4,
            ..StoreConfig::default()
        },
    );
    // Persons whose ids are prefixes of each other must not mix.
    for round in 0..3 {
        store
            .append(vec![
                event(&format!("ab-{round}"), "ab", 10 - round, b"x"),
                event(&format!("abc-{round}"), "abc", 10, b"y"),
                event(&format!("a-{round}"), "a", 10, b"z"),
            ])
            .unwrap();
    }
    let ab = store
        .events_for_person(&PersonId::parse("ab").unwrap())
        .unwrap();
    assert_eq!(ids(&ab), ["ab-0", "ab-1", "ab-2"]);
    assert_eq!(ab.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 4, 7]);
    let page = store
        .events_for_person_from(&PersonId::parse("abc").unwrap(), 3, 1)
        .unwrap();
    assert_eq!(ids(&page), ["abc-1"]);
    assert!(
        store
            .events_for_person(&PersonId::parse("nobody").unwrap())
            .unwrap()
            .is_empty()
    );
    store
        .append(vec![
            event("ab-3", "ab", 1, b""),
            event("ab-4", "ab", 1, b""),
        ])
        .unwrap();
    let err = store
        .events_for_person(&PersonId::parse("ab").unwrap())
        .unwrap_err();
    assert!(
        matches!(err, StoreError::TooManyResults { max: 4, .. }),
        "{err}"
    );
}

#[test]
fn scan_from_reads_the_log_in_order_and_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(&dir);
        for batch in 0..5 {
            store
                .append(
                    (0..4)
                        .map(|i| event(&format!("b{batch}-{i}"), "p", 5, &[batch as u8, i]))
                        .collect(),
                )
                .unwrap();
        }
    }
    let store = open(&dir);
    assert_eq!(store.last_seq(), 20);
    let all = store.scan_from(0, 1000).unwrap();
    assert_eq!(all.len(), 20);
    assert!(all.windows(2).all(|w| w[0].seq + 1 == w[1].seq));
    let tail = store.scan_from(18, 1000).unwrap();
    assert_eq!(ids(&tail), ["b4-1", "b4-2", "b4-3"]);
    assert_eq!(tail[2].payload, vec![4, 3]);
    assert_eq!(store.scan_from(3, 2).unwrap().len(), 2);
    assert!(store.scan_from(21, 10).unwrap().is_empty());
    // New events continue the sequence.
    let outcome = store.append(vec![event("next", "q", 1, b"")]).unwrap();
    assert_eq!(outcome[0].seq, 21);
}

#[test]
fn a_persons_newer_sequence_numbers_are_read_alone_under_the_same_cap() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_with(
        &dir,
        StoreConfig {
            person_events_max: 4,
            ..StoreConfig::default()
        },
    );
    let ab = PersonId::parse("ab").unwrap();
    // Persons whose ids are prefixes of each other must not mix.
    store
        .append(vec![
            event("ab-0", "ab", 1, b""),
            event("abc-0", "abc", 1, b""),
            event("ab-1", "ab", 1, b""),
            event("a-0", "a", 1, b""),
            event("ab-2", "ab", 1, b""),
        ])
        .unwrap();
    // (after, counted before, expected): numbers, or the cap's error.
    let cases: [(u64, usize, Result<Vec<u64>, usize>); 6] = [
        (0, 0, Ok(vec![1, 3, 5])),
        (1, 1, Ok(vec![3, 5])),
        (3, 2, Ok(vec![5])),
        (5, 3, Ok(vec![])),
        (u64::MAX, 3, Ok(vec![])),
        // Two read before and three after are more than four.
        (0, 2, Err(4)),
    ];
    for (after, counted_before, expect) in cases {
        let got = store
            .event_seqs_for_person_after(&ab, after, counted_before)
            .map_err(|error| match error {
                StoreError::TooManyResults { max, .. } => max,
                other => panic!("unexpected {other}"),
            });
        assert_eq!(
            got, expect,
            "after {after}, counted before {counted_before}"
        );
    }
    // An append changes nothing a reader kept; a purge does, once committed.
    let generation = store.removal_generation();
    store.append(vec![event("ab-3", "ab", 1, b"")]).unwrap();
    assert_eq!(store.removal_generation(), generation);
    assert_eq!(
        store.event_seqs_for_person_after(&ab, 5, 3).unwrap(),
        vec![6]
    );
    store.purge(&[EventId::parse("ab-1").unwrap()]).unwrap();
    assert_ne!(store.removal_generation(), generation);
    assert_eq!(store.event_seqs_for_person(&ab).unwrap(), vec![1, 5, 6]);
}

#[test]
fn purge_removes_events_everywhere_and_never_reuses_sequence_numbers() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(&dir);
        store
            .append(
                (1..=6)
                    .map(|i| {
                        event(
                            &format!("e{i}"),
                            if i % 2 == 0 { "even" } else { "odd" },
                            i,
                            b"v",
                        )
                    })
                    .collect(),
            )
            .unwrap();
        let report = store
            .purge(&[
                EventId::parse("e2").unwrap(),
                EventId::parse("e6").unwrap(),
                EventId::parse("missing").unwrap(),
                EventId::parse("e2").unwrap(),
            ])
            .unwrap();
        assert_eq!((report.purged, report.missing), (2, 2));
        // Retention by predicate: everything recorded before instant 4.
        let report = store
            .purge_where(&|event| event.recorded_at.unix_secs() < 4)
            .unwrap();
        assert_eq!(report.purged, 2);
        assert_eq!(store.last_seq(), 6);
    }
    let store = open(&dir);
    assert_eq!(ids(&store.scan_from(0, 100).unwrap()), ["e4", "e5"]);
    assert_eq!(
        ids(&store
            .events_for_person(&PersonId::parse("even").unwrap())
            .unwrap()),
        ["e4"]
    );
    assert_eq!(
        store.event_by_id(&EventId::parse("e6").unwrap()).unwrap(),
        None
    );
    // The last event was purged, yet its number is not handed out again.
    assert_eq!(store.last_seq(), 6);
    let outcome = store.append(vec![event("e7", "odd", 7, b"v")]).unwrap();
    assert_eq!(outcome[0].seq, 7);
    // A purged id may be stored again (its data is gone).
    let outcome = store.append(vec![event("e2", "even", 2, b"v")]).unwrap();
    assert_eq!(
        outcome[0],
        AppendOutcome {
            seq: 8,
            duplicate: false
        }
    );
}

#[test]
fn metadata_is_namespaced_listed_and_durable() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(&dir);
        store
            .meta_put("principals", "alice", b"admin".to_vec())
            .unwrap();
        store
            .meta_put("principals", "bob", b"viewer".to_vec())
            .unwrap();
        store.meta_put("principal", "carol", b"x".to_vec()).unwrap();
        store.meta_put("rules", "v1", vec![7; 1000]).unwrap();
        store
            .meta_put("principals", "bob", b"auditor".to_vec())
            .unwrap();
        assert!(store.meta_delete("rules", "v1").unwrap());
        assert!(!store.meta_delete("rules", "v1").unwrap());
    }
    let store = open(&dir);
    assert_eq!(
        store.meta_list("principals").unwrap(),
        vec![
            ("alice".to_string(), b"admin".to_vec()),
            ("bob".to_string(), b"auditor".to_vec())
        ]
    );
    assert_eq!(
        store.meta_get("principal", "carol").unwrap(),
        Some(b"x".to_vec())
    );
    assert_eq!(store.meta_get("rules", "v1").unwrap(), None);
    assert!(store.meta_list("rules").unwrap().is_empty());
    for (namespace, key) in [("", "k"), ("ns", ""), (&*"n".repeat(65), "k")] {
        let err = store.meta_put(namespace, key, vec![]).unwrap_err();
        assert!(matches!(err, StoreError::InvalidArgument { .. }), "{err}");
    }
    let too_big = vec![0; store.config().meta_value_bytes_max + 1];
    assert!(store.meta_put("ns", "k", too_big).is_err());
}

#[test]
fn snapshots_keep_the_last_two_and_skip_corrupt_ones() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    assert_eq!(store.snapshot_latest().unwrap().latest, None);
    store
        .append(
            (0..30)
                .map(|i| event(&format!("e{i}"), "p", 1, b""))
                .collect(),
        )
        .unwrap();
    assert!(store.snapshot_write(31, b"future").is_err());
    for (seq, body) in [(10u64, b"ten".as_slice()), (20, b"twenty"), (30, b"thirty")] {
        store.snapshot_write(seq, body).unwrap();
    }
    let snapshot_dir = dir.path().join("snapshots");
    let mut names: Vec<String> = std::fs::read_dir(&snapshot_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "snapshot-00000000000000000020.bin",
            "snapshot-00000000000000000030.bin"
        ]
    );
    let load = store.snapshot_latest().unwrap();
    assert_eq!(load.warnings, vec![]);
    let latest = load.latest.unwrap();
    assert_eq!(
        (latest.upto_seq, latest.bytes.as_slice()),
        (30, b"thirty".as_slice())
    );

    // Flip one byte of the newest body: it is skipped with a warning and the
    // previous snapshot is used.
    let newest = snapshot_dir.join("snapshot-00000000000000000030.bin");
    let mut bytes = std::fs::read(&newest).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x40;
    std::fs::write(&newest, &bytes).unwrap();
    let load = store.snapshot_latest().unwrap();
    assert_eq!(load.latest.as_ref().map(|s| s.upto_seq), Some(20));
    assert_eq!(load.latest.unwrap().bytes, b"twenty");
    assert_eq!(load.warnings.len(), 1);
    assert!(
        load.warnings[0].reason.contains("checksum"),
        "{}",
        load.warnings[0]
    );

    // Truncate the other one too: nothing usable is left.
    let older = snapshot_dir.join("snapshot-00000000000000000020.bin");
    std::fs::write(&older, b"YMTSNAP1").unwrap();
    let load = store.snapshot_latest().unwrap();
    assert_eq!(load.latest, None);
    assert_eq!(load.warnings.len(), 2);
}

#[test]
fn audit_records_commit_with_their_events_and_can_be_listed() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    store
        .submit_with_audit(
            vec![event("e1", "p1", 1, b"")],
            vec![audit_entry("ingest", "e1")],
        )
        .unwrap()
        .blocking_recv()
        .unwrap()
        .unwrap();
    // A conflicting batch writes neither its events nor its audit records.
    let rejected = store
        .submit_with_audit(
            vec![event("e1", "p1", 1, b"other")],
            vec![audit_entry("ingest", "e1-again")],
        )
        .unwrap()
        .blocking_recv()
        .unwrap();
    assert!(matches!(rejected, Err(StoreError::Conflict { .. })));
    let records = store
        .audit_append(vec![audit_entry("read", "p1"), audit_entry("read", "p2")])
        .unwrap();
    assert_eq!(records.iter().map(|r| r.seq).collect::<Vec<_>>(), [2, 3]);
    let reads = store
        .audit_list(
            &AuditFilter {
                action: Some("read".into()),
                ..AuditFilter::default()
            },
            10,
        )
        .unwrap();
    assert_eq!(
        reads.iter().map(|r| r.target.as_str()).collect::<Vec<_>>(),
        ["p1", "p2"]
    );
    assert_eq!(reads, records);
    let all = store.audit_list(&AuditFilter::default(), 2).unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].action, "ingest");
    let report = store.audit_verify().unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!((report.records_checked, report.head_seq), (3, 3));
    assert_eq!(report.head_hash, records[1].hash);
    // The raw hook can read what the engine holds.
    assert!(
        store
            .raw_read_for_tests(RawKeyspace::Audit, &1u64.to_be_bytes())
            .unwrap()
            .is_some()
    );
}

#[test]
fn a_full_queue_is_overloaded_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_with(
        &dir,
        StoreConfig {
            queue_batches_max: 2,
            ..StoreConfig::default()
        },
    );
    let mut receivers = Vec::new();
    {
        let _pause = store.pause_writer();
        // The writer may take the first batch off the queue before it waits
        // at the pause, so up to three submissions can be accepted.
        let mut overloaded = false;
        for i in 0..4 {
            match store.submit(vec![event(&format!("e{i}"), "p", 1, b"")]) {
                Ok(receiver) => receivers.push(receiver),
                Err(StoreError::Overloaded) => overloaded = true,
                Err(other) => panic!("{other}"),
            }
        }
        assert!(overloaded);
        assert!(receivers.len() >= 2 && receivers.len() <= 3);
        assert!(store.stats().overloaded >= 1);
    }
    for receiver in receivers {
        receiver.blocking_recv().unwrap().unwrap();
    }
}

#[test]
fn a_second_open_of_the_same_directory_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let first = open(&dir);
    let second = ymt_store::EmbeddedStore::open(dir.path(), StoreConfig::default());
    assert!(second.is_err());
    drop(first);
    // Once the first is closed the directory opens again.
    let again = open(&dir);
    assert_eq!(again.last_seq(), 0);
}

#[test]
fn invalid_configurations_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    for config in [
        StoreConfig {
            batch_events_max: 0,
            ..StoreConfig::default()
        },
        StoreConfig {
            journal_bytes_max: 1024,
            ..StoreConfig::default()
        },
    ] {
        let err = ymt_store::EmbeddedStore::open(dir.path(), config)
            .err()
            .unwrap();
        assert!(matches!(err, StoreError::InvalidArgument { .. }), "{err}");
    }
}
