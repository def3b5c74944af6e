//! Scenario tests: the close-contact definition at its boundaries, bad input,
//! imports, retention purge and recovery of the durable log.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

use ymt_core::{PersonId, Timestamp, VenueId};
use ymt_trace::{
    CheckIn, ImportOptions, Positive, StayPolicy, StoreError, TraceIndex, TraceQuery, TraceStore,
};

/// 2022-01-01T00:00:00Z; every scenario's instants are offsets from it.
const T0: i64 = 1_640_995_200;

fn instant(offset_secs: i64) -> Timestamp {
    Timestamp::from_unix_secs(T0 + offset_secs).unwrap()
}

fn checkin(person: &str, venue: &str, enter: i64, leave: Option<i64>) -> CheckIn {
    CheckIn {
        person: PersonId::parse(person).unwrap(),
        venue: VenueId::parse(venue).unwrap(),
        enter: instant(enter),
        leave: leave.map(instant),
    }
}

fn index_of(rows: &[(&str, &str, i64, i64)]) -> TraceIndex {
    let mut index = TraceIndex::new();
    for &(person, venue, enter, leave) in rows {
        index
            .append(
                &checkin(person, venue, enter, Some(leave)),
                &StayPolicy::default(),
            )
            .unwrap();
    }
    index
}

fn positive(person: &str, confirmed: i64) -> Positive {
    Positive::new(PersonId::parse(person).unwrap(), instant(confirmed))
}

/// Traces and returns the sorted (positive, contact) id pairs.
fn pairs(
    index: &TraceIndex,
    positives: &[Positive],
    min_overlap_secs: u32,
    before_confirmed: bool,
) -> Vec<(String, String)> {
    let query = TraceQuery {
        min_overlap_secs,
        before_confirmed,
    };
    let result = index.trace(positives, &query).unwrap();
    let mut pairs: Vec<(String, String)> = result
        .pairs
        .iter()
        .map(|pair| {
            let resolved = index.resolve_pair(pair);
            (resolved.positive.to_string(), resolved.contact.to_string())
        })
        .collect();
    pairs.sort();
    pairs
}

fn check(
    rows: &[(&str, &str, i64, i64)],
    positives: &[Positive],
    min_overlap_secs: u32,
    before_confirmed: bool,
    expect: &[(&str, &str)],
) {
    let index = index_of(rows);
    let expect: Vec<(String, String)> = expect
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(
        pairs(&index, positives, min_overlap_secs, before_confirmed),
        expect,
        "rows={rows:?} D={min_overlap_secs} before_confirmed={before_confirmed}"
    );
}

#[test]
fn overlap_is_exact_at_the_boundary() {
    // p is at v1 from 0 to 1000; a overlaps by exactly 900 s, b by 899 s.
    let rows = [
        ("p", "v1", 0, 1000),
        ("a", "v1", 100, 2000),
        ("b", "v1", 101, 2000),
    ];
    let confirmed = 100_000;
    check(
        &rows,
        &[positive("p", confirmed)],
        900,
        false,
        &[("p", "a")],
    );
    check(
        &rows,
        &[positive("p", confirmed)],
        899,
        false,
        &[("p", "a"), ("p", "b")],
    );
}

#[test]
fn touching_intervals_do_not_count() {
    let rows = [
        ("p", "v1", 0, 100),
        ("a", "v1", 100, 200),
        ("b", "v1", 99, 100),
    ];
    let positives = [positive("p", 100_000)];
    check(&rows, &positives, 1, false, &[("p", "b")]);
    // With D = 0 closed intervals that touch do overlap, by 0 s.
    check(&rows, &positives, 0, false, &[("p", "a"), ("p", "b")]);
}

#[test]
fn other_venues_and_own_stays_are_not_contacts() {
    let rows = [
        ("p", "v1", 0, 1000),
        ("p", "v1", 500, 1500),
        ("a", "v2", 0, 1000),
        ("b", "v1", 900, 5000),
    ];
    check(&rows, &[positive("p", 100_000)], 60, false, &[("p", "b")]);
}

#[test]
fn before_confirmed_uses_only_earlier_entries() {
    let rows = [
        ("p", "v1", 0, 1000),
        ("a", "v1", 0, 1000),
        ("p", "v2", 5000, 6000),
        ("b", "v2", 5000, 6000),
    ];
    // Entering exactly at confirmation is not before it.
    check(&rows, &[positive("p", 5000)], 1, true, &[("p", "a")]);
    check(
        &rows,
        &[positive("p", 5001)],
        1,
        true,
        &[("p", "a"), ("p", "b")],
    );
    check(
        &rows,
        &[positive("p", 5000)],
        1,
        false,
        &[("p", "a"), ("p", "b")],
    );
}

#[test]
fn window_limits_the_traced_stays() {
    let rows = [
        ("p", "v1", 0, 1000),
        ("a", "v1", 0, 1000),
        ("p", "v2", 5000, 6000),
        ("b", "v2", 5000, 6000),
    ];
    let mut windowed = positive("p", 100_000);
    windowed.window_start = Some(instant(1001));
    check(&rows, &[windowed.clone()], 1, false, &[("p", "b")]);
    windowed.window_start = Some(instant(1000));
    windowed.window_end = Some(instant(5000));
    check(&rows, &[windowed], 1, false, &[("p", "a")]);
}

#[test]
fn positives_are_pairs_with_each_other_and_contacts_are_distinct() {
    let rows = [
        ("p", "v1", 0, 1000),
        ("q", "v1", 0, 1000),
        ("a", "v1", 0, 1000),
    ];
    let index = index_of(&rows);
    let positives = [positive("p", 100_000), positive("q", 100_000)];
    assert_eq!(
        pairs(&index, &positives, 1, false),
        vec![
            ("p".to_string(), "a".to_string()),
            ("p".to_string(), "q".to_string()),
            ("q".to_string(), "a".to_string()),
            ("q".to_string(), "p".to_string()),
        ]
    );
    let query = TraceQuery {
        min_overlap_secs: 1,
        before_confirmed: false,
    };
    let result = index.trace(&positives, &query).unwrap();
    assert_eq!(result.contacts.len(), 3);
    let duplicate = [positive("p", 1), positive("p", 2)];
    assert!(index.trace(&duplicate, &query).is_err());
    assert_eq!(
        index
            .trace(&[positive("nobody", 1)], &query)
            .unwrap()
            .positives_unknown,
        1
    );
}

#[test]
fn evidence_is_the_longest_overlap() {
    let rows = [
        ("p", "v1", 0, 1000),
        ("a", "v1", 900, 1000),
        ("p", "v2", 2000, 5000),
        ("a", "v2", 2500, 4000),
    ];
    let index = index_of(&rows);
    let query = TraceQuery {
        min_overlap_secs: 1,
        before_confirmed: false,
    };
    let result = index.trace(&[positive("p", 100_000)], &query).unwrap();
    assert_eq!(result.pairs.len(), 1);
    let resolved = index.resolve_pair(&result.pairs[0]);
    assert_eq!(resolved.venue.as_str(), "v2");
    assert_eq!(resolved.overlap_start, instant(2500));
    assert_eq!(resolved.overlap_end, instant(4000));
}

#[test]
fn bulk_and_incremental_stays_are_both_traced() {
    let mut index = index_of(&[("p", "v1", 0, 1000), ("a", "v1", 0, 1000)]);
    index.seal();
    index
        .append(&checkin("b", "v1", 500, Some(1500)), &StayPolicy::default())
        .unwrap();
    index
        .append(&checkin("p", "v2", 0, Some(1000)), &StayPolicy::default())
        .unwrap();
    index
        .append(&checkin("c", "v2", 0, Some(1000)), &StayPolicy::default())
        .unwrap();
    let expect: Vec<(String, String)> = [("p", "a"), ("p", "b"), ("p", "c")]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(pairs(&index, &[positive("p", 100_000)], 1, false), expect);
    index.seal();
    assert_eq!(pairs(&index, &[positive("p", 100_000)], 1, false), expect);
}

#[test]
fn missing_leave_gets_the_default_stay() {
    let mut index = TraceIndex::new();
    index
        .append(&checkin("p", "v1", 0, None), &StayPolicy::default())
        .unwrap();
    let stays = index.stays_of(&PersonId::parse("p").unwrap());
    assert_eq!(stays.len(), 1);
    assert_eq!(stays[0].2, instant(7200));
}

fn temp_dir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn open(dir: &Path) -> TraceStore {
    TraceStore::open(dir, StayPolicy::default()).unwrap().0
}

#[test]
fn bad_check_ins_change_nothing() {
    let dir = temp_dir();
    let mut store = open(dir.path());
    store.append(&[checkin("p", "v1", 0, Some(100))]).unwrap();
    let bytes = store.log().bytes();
    let cases: [(CheckIn, &str); 2] = [
        (checkin("q", "v9", 100, Some(99)), "leave"),
        (checkin("q", "v9", 0, Some(86_401)), "longer than"),
    ];
    for (bad, message) in cases {
        let error = store
            .append(&[checkin("r", "v1", 0, Some(10)), bad])
            .unwrap_err();
        assert!(
            matches!(error, StoreError::Invalid { index: 1, .. }),
            "{error}"
        );
        assert!(error.to_string().contains(message), "{error}");
        assert_eq!(store.index().len(), 1);
        assert_eq!(store.index().persons().len(), 1);
        assert_eq!(store.index().venues().len(), 1);
        assert_eq!(store.log().bytes(), bytes);
    }
    drop(store);
    let store = open(dir.path());
    assert_eq!(store.index().len(), 1);
}

const CSV_GOOD: &str = "person,venue,enter,leave\n\
    p,v1,1641000000,1641001000\n\
    a,v1,1641000500,1641002000\n\
    b,v2,1641000000,\n";

fn import(store: &mut TraceStore, text: &str, skip_bad: bool) -> Result<u64, StoreError> {
    let options = ImportOptions {
        skip_bad,
        ..ImportOptions::default()
    };
    store
        .import_csv(text.as_bytes(), &options, &mut |_| {})
        .map(|report| report.parse.skipped)
}

#[test]
fn import_is_all_or_nothing_and_names_the_line() {
    let dir = temp_dir();
    let mut store = open(dir.path());
    import(&mut store, CSV_GOOD, false).unwrap();
    assert_eq!(store.index().len(), 3);
    let segments = store.log().segment_count();
    let bytes = store.log().bytes();
    let cases: [(&str, &str); 5] = [
        ("person,venue,enter,leave\nx,v1,10,20\n", "line 2"),
        (
            "person,venue,enter,leave\nx,v1,1641000000,1641000100\ny,v1,1641000000\n",
            "line 3: expected 4 fields, found 3",
        ),
        (
            "person,venue,enter,leave\nx,v1,1641000000,1641000100\n\ny,v1,1641000100,1641000000\n",
            "line 4: leave",
        ),
        (
            "person,venue,enter,leave\nx y,v1,1641000000,1641000100\n",
            "line 2: person",
        ),
        ("person,place,enter,leave\n", "line 1: the header"),
    ];
    for (text, message) in cases {
        let error = import(&mut store, text, false).unwrap_err();
        assert!(
            error.to_string().starts_with(message),
            "{error} vs {message}"
        );
        assert_eq!(store.index().len(), 3);
        assert_eq!(store.index().persons().len(), 3);
        assert_eq!(store.log().segment_count(), segments);
        assert_eq!(store.log().bytes(), bytes);
    }
    let skipped = import(
        &mut store,
        "person,venue,enter,leave\nx,v1,1641000000,1641000100\ny,v1,1641000000\nz,v3,1641000000,1641000001\n",
        true,
    )
    .unwrap();
    assert_eq!(skipped, 1);
    assert_eq!(store.index().len(), 5);
    drop(store);
    let store = open(dir.path());
    assert_eq!(store.index().len(), 5);
    assert!(store.index().persons().get("y").is_none());
    assert_eq!(
        store.index().stays_of(&PersonId::parse("b").unwrap())[0].2,
        Timestamp::from_unix_secs(1_641_000_000 + 7200).unwrap()
    );
}

#[test]
fn purge_removes_old_check_ins_from_log_and_index() {
    let dir = temp_dir();
    let mut store = open(dir.path());
    store
        .append(&[
            checkin("old", "v1", 0, Some(100)),
            checkin("p", "v1", 0, Some(5000)),
        ])
        .unwrap();
    store
        .append(&[
            checkin("p", "v2", 10_000, Some(11_000)),
            checkin("a", "v2", 10_000, Some(11_000)),
            checkin("gone", "v3", 50, Some(150)),
        ])
        .unwrap();
    let report = store.purge_before(instant(1000)).unwrap();
    assert_eq!(report.checkins_purged, 2);
    assert_eq!(report.checkins_kept, 3);
    assert_eq!(report.persons_forgotten, 2);
    assert_eq!(report.venues_forgotten, 1);
    assert!(report.bytes_after < report.bytes_before);
    let check_store = |store: &TraceStore| {
        assert_eq!(store.index().len(), 3);
        assert!(store.index().persons().get("old").is_none());
        assert!(store.index().venues().get("v3").is_none());
        assert_eq!(
            pairs(store.index(), &[positive("p", 100_000)], 1, false),
            vec![("p".to_string(), "a".to_string())]
        );
    };
    check_store(&store);
    assert_eq!(store.log().segment_count(), 1);
    store
        .append(&[checkin("b", "v2", 10_500, Some(10_600))])
        .unwrap();
    drop(store);
    let store = open(dir.path());
    assert_eq!(store.index().len(), 4);
    assert_eq!(
        pairs(store.index(), &[positive("p", 100_000)], 1, false).len(),
        2
    );
}

fn segment_paths(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut paths: Vec<_> = std::fs::read_dir(dir.join("checkins"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "ymtc"))
        .collect();
    paths.sort();
    paths
}

#[test]
fn a_torn_tail_is_truncated_on_open() {
    let dir = temp_dir();
    let mut store = open(dir.path());
    store.append(&[checkin("p", "v1", 0, Some(100))]).unwrap();
    store.append(&[checkin("a", "v1", 0, Some(100))]).unwrap();
    let good_bytes = store.log().bytes();
    drop(store);
    let last = segment_paths(dir.path()).pop().unwrap();
    // A crash in the middle of writing a third block: its header and part of its payload.
    let mut file = OpenOptions::new().append(true).open(&last).unwrap();
    file.write_all(&200u32.to_le_bytes()).unwrap();
    file.write_all(&[7u8; 4 + 50]).unwrap();
    drop(file);
    let (store, recovery) = TraceStore::open(dir.path(), StayPolicy::default()).unwrap();
    assert_eq!(recovery.torn_bytes_truncated, 58);
    assert_eq!(store.index().len(), 2);
    assert_eq!(store.log().bytes(), good_bytes);
    assert_eq!(std::fs::metadata(&last).unwrap().len(), good_bytes);
    drop(store);

    // A flipped byte inside the last block fails its checksum: that block is torn.
    let mut bytes = std::fs::read(&last).unwrap();
    let end = bytes.len();
    bytes[end - 3] ^= 0xFF;
    std::fs::write(&last, &bytes).unwrap();
    let (store, recovery) = TraceStore::open(dir.path(), StayPolicy::default()).unwrap();
    assert!(recovery.torn_bytes_truncated > 0);
    assert_eq!(store.index().len(), 1);
}

#[test]
fn damage_before_the_last_segment_is_an_error() {
    let dir = temp_dir();
    let mut store = open(dir.path());
    store.append(&[checkin("p", "v1", 0, Some(100))]).unwrap();
    import(&mut store, CSV_GOOD, false).unwrap();
    drop(store);
    let first = segment_paths(dir.path()).remove(0);
    let mut bytes = std::fs::read(&first).unwrap();
    let end = bytes.len();
    bytes[end - 3] ^= 0xFF;
    std::fs::write(&first, &bytes).unwrap();
    let error = TraceStore::open(dir.path(), StayPolicy::default()).unwrap_err();
    assert!(error.to_string().contains("corrupt"), "{error}");
}

#[test]
fn one_writer_at_a_time() {
    let dir = temp_dir();
    let store = open(dir.path());
    let error = TraceStore::open(dir.path(), StayPolicy::default()).unwrap_err();
    assert!(error.to_string().contains("another process"), "{error}");
    // Readers need no lock.
    assert!(ymt_trace::CheckinLog::load_read_only(dir.path()).is_ok());
    drop(store);
    assert!(TraceStore::open(dir.path(), StayPolicy::default()).is_ok());
}

#[test]
fn a_retracted_check_in_is_no_longer_traced_wherever_it_sits() {
    let rows = [
        ("case", "v1", 0, 3600),
        ("contact", "v1", 600, 1800),
        // An identical second check-in: retracting one keeps the other.
        ("twin", "v1", 600, 1800),
        ("twin", "v1", 600, 1800),
    ];
    let policy = StayPolicy::default();
    // Sealed (sorted runs) and unsealed (pending tail) indexes.
    for sealed in [false, true] {
        let mut index = index_of(&rows);
        if sealed {
            index.seal();
        }
        let before = pairs(&index, &[positive("case", 7200)], 1, false);
        assert_eq!(
            before,
            vec![
                ("case".into(), "contact".into()),
                ("case".into(), "twin".into())
            ]
        );
        assert!(index.retract(&checkin("contact", "v1", 600, Some(1800)), &policy));
        // A second retraction of the same stay finds nothing left.
        assert!(!index.retract(&checkin("contact", "v1", 600, Some(1800)), &policy));
        assert!(index.retract(&checkin("twin", "v1", 600, Some(1800)), &policy));
        // Unknown persons and venues are not found.
        assert!(!index.retract(&checkin("nobody", "v1", 600, Some(1800)), &policy));
        assert!(!index.retract(&checkin("contact", "v9", 600, Some(1800)), &policy));
        assert_eq!(
            pairs(&index, &[positive("case", 7200)], 1, false),
            vec![("case".to_string(), "twin".to_string())],
            "sealed={sealed}"
        );
        // The case's own retracted stay traces nobody.
        assert!(index.retract(&checkin("case", "v1", 0, Some(3600)), &policy));
        assert!(pairs(&index, &[positive("case", 7200)], 1, false).is_empty());
    }
}
