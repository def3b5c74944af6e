//! Online backups: taken while a writer commits, restored into a new
//! directory, every batch wholly in or wholly out, and a damaged backup
//! refused before anything is written.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::{audit_entry, event, open};
use proptest::prelude::*;
use ymt_store::backup::{STORE_BACKUP_FILE, check, restore};
use ymt_store::{EmbeddedStore, EventStore, StoreConfig, StoreError};

const BATCH_EVENTS: usize = 20;

/// Batch `n`: `BATCH_EVENTS` events of one person, with one audit record.
fn append_batch(store: &EmbeddedStore, n: usize) {
    let batch = (0..BATCH_EVENTS)
        .map(|i| {
            event(
                &format!("b{n}-e{i}"),
                &format!("p{n}"),
                1_700_000_000,
                b"{}",
            )
        })
        .collect();
    let receiver = store
        .submit_with_audit(batch, vec![audit_entry("ingest", &format!("b{n}"))])
        .expect("queued");
    ymt_store::wait_blocking(receiver).expect("durable");
}

#[test]
fn a_backup_taken_during_writes_holds_every_acknowledged_batch_whole() {
    let source_dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open(&source_dir));
    for n in 0..50 {
        append_batch(&store, n);
    }
    // A writer goes on while the backup is taken.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let store = Arc::clone(&store);
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut n = 50;
            while !stop.load(Ordering::Acquire) {
                append_batch(&store, n);
                n += 1;
            }
            n
        })
    };
    // Acknowledged before the backup starts: must all be in it.
    while store.last_seq() < (60 * BATCH_EVENTS) as u64 {
        std::thread::yield_now();
    }
    let acknowledged_before = store.last_seq();
    let backup_dir = tempfile::tempdir().unwrap();
    let summary = store.backup_to(backup_dir.path()).expect("backed up");
    stop.store(true, Ordering::Release);
    let batches_written = writer.join().unwrap();
    assert!(summary.entries_of("events") >= acknowledged_before);

    let target = tempfile::tempdir().unwrap();
    let store_dir = target.path().join("store");
    assert_eq!(
        restore(backup_dir.path(), &store_dir).expect("restored"),
        summary
    );
    let restored = EmbeddedStore::open(&store_dir, StoreConfig::default()).expect("opens");
    let report = restored
        .audit_verify()
        .expect("the audit chain of the backup verifies");
    assert!(report.is_intact(), "{report:?}");
    assert!(report.records_checked > 0);
    assert_eq!(restored.last_seq(), summary.entries_of("events"));
    let mut batches_in_backup = 0;
    for n in 0..batches_written {
        let person = ymt_core::PersonId::parse(&format!("p{n}")).unwrap();
        let stored = restored.events_for_person(&person).unwrap().len();
        assert!(
            stored == 0 || stored == BATCH_EVENTS,
            "batch {n} is torn in the backup: {stored} of {BATCH_EVENTS} events"
        );
        if stored == BATCH_EVENTS {
            batches_in_backup += 1;
            assert_eq!(batches_in_backup, n + 1, "batches are a prefix of the log");
        }
    }
    assert!(batches_in_backup as u64 * BATCH_EVENTS as u64 >= acknowledged_before);
    // The restored store takes new writes after the backed-up ones.
    append_batch(&restored, batches_written + 1);
    assert_eq!(
        restored.last_seq(),
        summary.entries_of("events") + BATCH_EVENTS as u64
    );
}

fn backed_up_store() -> (tempfile::TempDir, Vec<u8>) {
    let source_dir = tempfile::tempdir().unwrap();
    let store = open(&source_dir);
    for n in 0..5 {
        append_batch(&store, n);
    }
    let backup_dir = tempfile::tempdir().unwrap();
    store.backup_to(backup_dir.path()).expect("backed up");
    let bytes = std::fs::read(backup_dir.path().join(STORE_BACKUP_FILE)).unwrap();
    (backup_dir, bytes)
}

/// Restores `bytes` as a backup; the error, and whether anything was written.
fn restore_bytes(bytes: &[u8]) -> (Result<(), StoreError>, bool) {
    let backup_dir = tempfile::tempdir().unwrap();
    std::fs::write(backup_dir.path().join(STORE_BACKUP_FILE), bytes).unwrap();
    let target = tempfile::tempdir().unwrap();
    let store_dir = target.path().join("store");
    let result = restore(backup_dir.path(), &store_dir).map(|_| ());
    (result, store_dir.join("engine").exists())
}

#[test]
fn a_damaged_backup_is_refused_before_anything_is_restored() {
    let (_dir, bytes) = backed_up_store();
    let mut flipped = bytes.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x01;
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("one bit flipped", flipped, "checksum mismatch"),
        ("truncated", bytes[..bytes.len() - 40].to_vec(), "truncated"),
        (
            "not a backup",
            b"PK\x03\x04 a zip file".to_vec(),
            "bad magic",
        ),
        ("empty", Vec::new(), "truncated"),
    ];
    for (label, input, expect) in cases {
        let (result, written) = restore_bytes(&input);
        let error = result.expect_err(label).to_string();
        assert!(error.contains(expect), "{label}: {error}");
        assert!(
            !written,
            "{label}: nothing is written from a damaged backup"
        );
    }
}

#[test]
fn a_restore_never_overwrites_an_existing_store() {
    let (backup_dir, _) = backed_up_store();
    let target = tempfile::tempdir().unwrap();
    let existing = EmbeddedStore::open(target.path(), StoreConfig::default()).unwrap();
    append_batch(&existing, 99);
    drop(existing);
    let error = restore(backup_dir.path(), target.path()).expect_err("refused");
    assert!(
        error.to_string().contains("already holds a store"),
        "{error}"
    );
    let reopened = EmbeddedStore::open(target.path(), StoreConfig::default()).unwrap();
    assert_eq!(reopened.last_seq(), BATCH_EVENTS as u64, "untouched");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any change to a backup's bytes is refused by the check, and no
    /// input makes it panic or allocate past the file.
    #[test]
    fn any_change_to_a_backup_is_refused(
        position in any::<prop::sample::Index>(),
        xor in 1u8..=255,
        cut in any::<prop::sample::Index>(),
    ) {
        let (_dir, bytes) = BACKUP.with(|backup| backup.clone());
        let mut changed = bytes.clone();
        let at = position.index(changed.len());
        changed[at] ^= xor;
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(STORE_BACKUP_FILE), &changed).unwrap();
        prop_assert!(check(dir.path()).is_err());
        let truncated = &bytes[..cut.index(bytes.len())];
        std::fs::write(dir.path().join(STORE_BACKUP_FILE), truncated).unwrap();
        prop_assert!(check(dir.path()).is_err());
    }

    #[test]
    fn arbitrary_bytes_never_pass_as_a_backup(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let dir = tempfile::tempdir().unwrap();
        let mut input = b"YMTBAK01".to_vec();
        input.extend_from_slice(&bytes);
        std::fs::write(dir.path().join(STORE_BACKUP_FILE), &input).unwrap();
        prop_assert!(check(dir.path()).is_err());
    }
}

thread_local! {
    static BACKUP: (Arc<tempfile::TempDir>, Vec<u8>) = {
        let (dir, bytes) = backed_up_store();
        (Arc::new(dir), bytes)
    };
}
