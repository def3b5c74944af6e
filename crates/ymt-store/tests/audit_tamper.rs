//! Tampering with the stored audit log is detected at the exact record.

mod common;

use common::{audit_entry, open};
use ymt_store::{BrokenLink, BrokenLinkKind, EmbeddedStore, EventStore, RawKeyspace};

const RECORDS: u64 = 6;

fn store_with_chain(dir: &tempfile::TempDir) -> (EmbeddedStore, Vec<ymt_store::AuditRecord>) {
    let store = open(dir);
    let records = store
        .audit_append(
            (1..=RECORDS)
                .map(|i| audit_entry("read", &format!("person:p{i}")))
                .collect(),
        )
        .unwrap();
    assert!(store.audit_verify().unwrap().is_intact());
    (store, records)
}

fn raw(store: &EmbeddedStore, seq: u64) -> Vec<u8> {
    store
        .raw_read_for_tests(RawKeyspace::Audit, &seq.to_be_bytes())
        .unwrap()
        .unwrap()
}

fn put(store: &EmbeddedStore, seq: u64, value: Option<Vec<u8>>) {
    store
        .raw_write_for_tests(RawKeyspace::Audit, seq.to_be_bytes().to_vec(), value)
        .unwrap();
}

/// Applies a tampering to a fresh chain and checks the reported link.
fn check(tamper: impl Fn(&EmbeddedStore), expect: impl Fn(&[ymt_store::AuditRecord], &BrokenLink)) {
    let dir = tempfile::tempdir().unwrap();
    let (store, records) = store_with_chain(&dir);
    tamper(&store);
    let report = store.audit_verify().unwrap();
    let broken = report
        .first_broken
        .clone()
        .expect("tampering went unnoticed");
    expect(&records, &broken);
    // Records before the break are reported intact.
    assert_eq!(
        report.records_checked,
        broken.seq.saturating_sub(1).min(RECORDS)
    );
    // The damage survives a reopen and is still reported.
    drop(store);
    let reopened = open(&dir);
    assert_eq!(reopened.audit_verify().unwrap().first_broken, Some(broken));
}

#[test]
fn a_changed_byte_is_reported_with_expected_and_found_hash() {
    check(
        |store| {
            let mut value = raw(store, 3);
            // Change the target text ("person:p3" → "person:q3").
            let at = value.windows(9).position(|w| w == b"person:p3").unwrap();
            value[at + 7] = b'q';
            put(store, 3, Some(value));
        },
        |records, broken| {
            assert_eq!(broken.seq, 3);
            let BrokenLinkKind::HashMismatch { expected, found } = &broken.kind else {
                panic!("{broken}");
            };
            assert_eq!(*found, records[2].hash);
            assert_ne!(expected, found);
            assert!(broken.to_string().contains("audit record 3: hash mismatch"));
        },
    );
}

#[test]
fn a_deleted_record_is_reported() {
    check(
        |store| put(store, 4, None),
        |_, broken| {
            assert_eq!(
                broken.kind,
                BrokenLinkKind::SequenceGap {
                    expected_seq: 4,
                    found_seq: 5
                }
            );
            assert_eq!(broken.seq, 4);
        },
    );
}

#[test]
fn swapped_records_are_reported() {
    check(
        |store| {
            let (two, five) = (raw(store, 2), raw(store, 5));
            put(store, 2, Some(five));
            put(store, 5, Some(two));
        },
        |_, broken| {
            assert_eq!(broken.seq, 2);
            assert!(matches!(broken.kind, BrokenLinkKind::HashMismatch { .. }));
        },
    );
}

#[test]
fn a_removed_tail_is_reported_against_the_stored_head() {
    check(
        |store| put(store, RECORDS, None),
        |records, broken| {
            assert_eq!(
                broken.kind,
                BrokenLinkKind::HeadMismatch {
                    head_seq: RECORDS,
                    head_hash: records[RECORDS as usize - 1].hash,
                    last_seq: RECORDS - 1,
                    last_hash: records[RECORDS as usize - 2].hash,
                }
            );
        },
    );
}

#[test]
fn garbage_bytes_are_reported_as_undecodable() {
    check(
        |store| put(store, 1, Some(b"not a record".to_vec())),
        |_, broken| {
            assert_eq!(broken.seq, 1);
            assert!(matches!(broken.kind, BrokenLinkKind::Undecodable { .. }));
        },
    );
}

#[test]
fn appending_after_a_removed_tail_keeps_the_gap_visible() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = store_with_chain(&dir);
    put(&store, RECORDS, None);
    drop(store);
    let store = open(&dir);
    let added = store.audit_append(vec![audit_entry("read", "x")]).unwrap();
    assert_eq!(added[0].seq, RECORDS + 1);
    let broken = store.audit_verify().unwrap().first_broken.unwrap();
    assert_eq!(
        broken.kind,
        BrokenLinkKind::SequenceGap {
            expected_seq: RECORDS,
            found_seq: RECORDS + 1
        }
    );
}

#[test]
fn a_removed_head_never_lets_the_writer_overwrite_records() {
    let dir = tempfile::tempdir().unwrap();
    let (store, records) = store_with_chain(&dir);
    store
        .raw_write_for_tests(RawKeyspace::Sys, b"audit_head".to_vec(), None)
        .unwrap();
    assert!(matches!(
        store.audit_verify().unwrap().first_broken.unwrap().kind,
        BrokenLinkKind::HeadMismatch { .. }
    ));
    drop(store);
    let store = open(&dir);
    let added = store.audit_append(vec![audit_entry("read", "x")]).unwrap();
    assert_eq!(added[0].seq, RECORDS + 1);
    let report = store.audit_verify().unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(
        store
            .audit_list(&ymt_store::AuditFilter::default(), 1)
            .unwrap()[0]
            .hash,
        records[0].hash
    );
}
