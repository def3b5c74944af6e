//! Table and property tests of the index snapshot format.

use proptest::prelude::*;
use ymt_core::{PersonId, Timestamp, VenueId};

use super::*;
use crate::stay::{CheckIn, StayPolicy};

const T0: i64 = 1_640_995_200;
const BODY_LEN_AT: usize = 12;

fn checkin(person: &str, venue: &str, enter_secs: i64, stay_secs: i64) -> CheckIn {
    CheckIn {
        person: PersonId::parse(person).unwrap(),
        venue: VenueId::parse(venue).unwrap(),
        enter: Timestamp::from_unix_secs(T0 + enter_secs).unwrap(),
        leave: Some(Timestamp::from_unix_secs(T0 + enter_secs + stay_secs).unwrap()),
    }
}

/// An index with stays in all three places: main run, delta run and
/// pending buffer, and a retracted (emptied) stay in the main run.
fn index_in_every_part() -> TraceIndex {
    let policy = StayPolicy::default();
    let mut index = TraceIndex::with_pending_min(2);
    for number in 0..16 {
        let stay = checkin(
            &format!("person-{}", number % 5),
            &format!("venue-{}", number % 3),
            number * 600,
            [300, 3600, 9000][number as usize % 3],
        );
        index.append(&stay, &policy).unwrap();
    }
    index.seal();
    assert!(index.retract(&checkin("person-1", "venue-1", 600, 3600), &policy));
    for number in 0..3 {
        let stay = checkin("person-new", &format!("venue-{number}"), 100, 1000);
        index.append(&stay, &policy).unwrap();
    }
    assert_eq!(
        (index.main.len(), index.delta.len(), index.pending.len()),
        (16, 2, 1)
    );
    index
}

/// Header plus body of `bytes` (the trailer dropped), with the body
/// length and checksum recomputed.
fn reseal(mut bytes: Vec<u8>) -> Vec<u8> {
    bytes.truncate(bytes.len() - TRAILER_BYTES);
    let body_len_bytes = (bytes.len() - HEADER_BYTES) as u64;
    bytes[BODY_LEN_AT..HEADER_BYTES].copy_from_slice(&body_len_bytes.to_le_bytes());
    let checksum = xxh3_64(&bytes);
    bytes.extend_from_slice(&checksum.to_le_bytes());
    bytes
}

/// A short name of each error, so tables of expectations stay readable.
fn kind(error: &SnapshotError) -> String {
    match error {
        SnapshotError::TooShort { .. } => "too-short".into(),
        SnapshotError::BadMagic { .. } => "bad-magic".into(),
        SnapshotError::UnsupportedVersion { found } => format!("unsupported-version {found}"),
        SnapshotError::Truncated { .. } => "truncated".into(),
        SnapshotError::TrailingBytes { .. } => "trailing-bytes".into(),
        SnapshotError::ChecksumMismatch { .. } => "checksum-mismatch".into(),
        SnapshotError::ParameterMismatch { parameter, .. } => {
            format!("parameter-mismatch {parameter}")
        }
        SnapshotError::Overrun { section, .. } => format!("overrun {section}"),
        SnapshotError::InvalidId {
            section, number, ..
        } => {
            format!("invalid-id {section} {number}")
        }
        SnapshotError::DuplicateId {
            section,
            number,
            first,
        } => format!("duplicate-id {section} {number} {first}"),
        SnapshotError::Inconsistent { section, reason } => {
            format!("inconsistent {section}: {reason}")
        }
    }
}

/// Restores `input`; `expect` is the number of stays or the error's kind.
fn check(input: &[u8], expect: Result<usize, &str>) {
    let got = TraceIndex::from_snapshot_bytes(input)
        .map(|index| index.len())
        .map_err(|error| kind(&error));
    assert_eq!(
        got,
        expect.map_err(str::to_owned),
        "input of {} bytes",
        input.len()
    );
}

fn edited(bytes: &[u8], at: usize, replacement: &[u8]) -> Vec<u8> {
    let mut edited = bytes.to_vec();
    edited[at..at + replacement.len()].copy_from_slice(replacement);
    edited
}

#[test]
fn the_frame_is_checked_before_the_body() {
    let valid = index_in_every_part().to_snapshot_bytes();
    let empty = TraceIndex::new().to_snapshot_bytes();
    let body_len_bytes = (valid.len() - HEADER_BYTES - TRAILER_BYTES) as u64;
    let last = valid.len() - 1;
    check(&valid, Ok(19));
    check(&empty, Ok(0));
    check(b"", Err("too-short"));
    check(&valid[..HEADER_BYTES - 1], Err("too-short"));
    check(&valid[..HEADER_BYTES + TRAILER_BYTES - 1], Err("truncated"));
    check(&edited(&valid, 0, b"YMTTRIDY"), Err("bad-magic"));
    check(&edited(&valid, 0, b"PK\x03\x04"), Err("bad-magic"));
    check(
        &edited(&valid, 8, &2u32.to_le_bytes()),
        Err("unsupported-version 2"),
    );
    check(
        &edited(&valid, 8, &0u32.to_le_bytes()),
        Err("unsupported-version 0"),
    );
    let longer = (body_len_bytes + 1).to_le_bytes();
    check(&edited(&valid, BODY_LEN_AT, &longer), Err("truncated"));
    let shorter = (body_len_bytes - 1).to_le_bytes();
    check(
        &edited(&valid, BODY_LEN_AT, &shorter),
        Err("trailing-bytes"),
    );
    let huge = u64::MAX.to_le_bytes();
    check(&edited(&valid, BODY_LEN_AT, &huge), Err("truncated"));
    check(&valid[..last], Err("truncated"));
    check(&valid[..HEADER_BYTES + TRAILER_BYTES], Err("truncated"));
    check(&[valid.as_slice(), b"\n"].concat(), Err("trailing-bytes"));
    check(
        &edited(&valid, HEADER_BYTES + 3, &[0x55]),
        Err("checksum-mismatch"),
    );
    check(
        &edited(&valid, last, &[valid[last] ^ 1]),
        Err("checksum-mismatch"),
    );
    // A header alone, with a zero-length body, has no parameters.
    let mut header_only = valid[..HEADER_BYTES].to_vec();
    header_only.extend_from_slice(&[0; TRAILER_BYTES]);
    check(&reseal(header_only), Err("overrun parameters"));
}

#[test]
fn body_parameters_and_counts_are_checked() {
    let valid = index_in_every_part().to_snapshot_bytes();
    let parameters_at = HEADER_BYTES;
    let pending_min_at = parameters_at + 12;
    let persons_at = parameters_at + 20;
    check(
        &reseal(edited(&valid, parameters_at, &0i64.to_le_bytes())),
        Err("parameter-mismatch time base (unix seconds)"),
    );
    check(
        &reseal(edited(&valid, parameters_at + 8, &4u32.to_le_bytes())),
        Err("parameter-mismatch stay classes"),
    );
    check(
        &reseal(edited(&valid, pending_min_at, &0u64.to_le_bytes())),
        Err("inconsistent parameters: the pending buffer's merge threshold is 0 or out of range"),
    );
    // Counts far beyond the bytes left are refused before allocating.
    for count in [u64::MAX, u64::MAX / 8 + 1, 1 << 40] {
        check(
            &reseal(edited(&valid, persons_at, &count.to_le_bytes())),
            Err("overrun persons"),
        );
    }
    check(
        &reseal([valid.as_slice(), &[0; 4]].concat()),
        Err("inconsistent body: bytes follow the last section"),
    );
}

#[test]
fn body_ids_are_checked() {
    let mut index = index_in_every_part();
    let valid = index.to_snapshot_bytes();
    let at = |needle: &[u8]| {
        valid
            .windows(needle.len())
            .position(|window| window == needle)
            .unwrap()
    };
    check(
        &reseal(edited(&valid, at(b"person-3"), b"person-1")),
        Err("duplicate-id persons 3 1"),
    );
    check(
        &reseal(edited(&valid, at(b"venue-2"), b"venue-0")),
        Err("duplicate-id venues 2 0"),
    );
    check(
        &reseal(edited(&valid, at(b"person-3"), b"person 3")),
        Err("invalid-id persons 3"),
    );
    check(
        &reseal(edited(&valid, at(b"venue-2"), b"venue-\xff")),
        Err("inconsistent venues: the ids are not UTF-8"),
    );
    check(
        &reseal(edited(&valid, at(b"venue-2"), "venueé".as_bytes())),
        Err("invalid-id venues 2"),
    );
    // The first person's end offset, moved past the blob.
    let first_end_at = HEADER_BYTES + 20 + 8;
    check(
        &reseal(edited(&valid, first_end_at, &1000u64.to_le_bytes())),
        Err(
            "inconsistent persons: the id offsets decrease, leave the id bytes or split a character",
        ),
    );
    check(
        &reseal(edited(&valid, first_end_at, &0u64.to_le_bytes())),
        Err("invalid-id persons 0"),
    );
    // An id that was never a valid person id (interned without parsing).
    index.persons.intern("").unwrap();
    check(&index.to_snapshot_bytes(), Err("invalid-id persons 6"));
}

/// Writes an index whose internals `damage` broke and restores it; the
/// writer copies what it finds, so each invariant's check is reached.
fn check_damaged(damage: impl FnOnce(&mut TraceIndex), expect: &str) {
    let mut index = index_in_every_part();
    damage(&mut index);
    check(&index.to_snapshot_bytes(), Err(expect));
}

#[test]
fn body_runs_and_pending_are_checked() {
    check_damaged(
        |index| index.main.stays[0].leave_rel = index.main.stays[0].enter_rel - 1,
        "inconsistent main run: a stay leaves before it enters",
    );
    check_damaged(
        |index| index.main.stays[0].leave_rel += 10_000,
        "inconsistent main run: a stay is longer than its group's longest",
    );
    check_damaged(
        |index| index.main.stays.swap(0, 1),
        "inconsistent main run: a group is not sorted by enter",
    );
    // Person 5 was interned after the main run was built.
    check_damaged(
        |index| index.main.stays[0].person = 5,
        "inconsistent main run: a stay names a person the run does not know",
    );
    check_damaged(
        |index| index.delta.stays[0].person = 6,
        "inconsistent delta run: a stay names a person the run does not know",
    );
    check_damaged(
        |index| index.main.person_positions.swap(0, 1),
        "inconsistent main run: the person table does not match the stays",
    );
    check_damaged(
        |index| {
            let offsets = &mut index.main.person_offsets;
            offsets[1] += 1;
        },
        "inconsistent main run: the person table does not match the stays",
    );
    check_damaged(
        |index| index.main.person_offsets[2] = 0,
        "inconsistent main run: the person table does not partition the stays",
    );
    check_damaged(
        |index| index.main.person_positions.push(0),
        "inconsistent main run: the person table does not partition the stays",
    );
    check_damaged(
        |index| index.main.person_offsets.extend([16, 16, 16]),
        "inconsistent main run: the person table is longer than the person ids",
    );
    check_damaged(
        |index| index.main.group_offsets[1] = 100,
        "inconsistent main run: the group offsets do not partition the stays",
    );
    check_damaged(
        |index| index.main.group_offsets.push(16),
        "inconsistent main run: the groups do not match the venues",
    );
    check_damaged(
        |index| index.main.group_stay_max_secs.pop().map(drop).unwrap_or(()),
        "inconsistent main run: not one longest stay per group",
    );
    check_damaged(
        |index| {
            index.delta = Run {
                stays: index.delta.stays.clone(),
                ..Run::default()
            }
        },
        "inconsistent delta run: the group offsets do not partition the stays",
    );
    check_damaged(
        |index| index.pending[0].venue = 3,
        "inconsistent pending: a stay names an unknown person or venue",
    );
    check_damaged(
        |index| index.pending[0].leave_rel = 0,
        "inconsistent pending: a stay leaves before it enters",
    );
}

proptest! {
    /// Beyond answering queries alike (tests/snapshot.rs), the restored
    /// index is the same data structure: runs, pending buffer, merge
    /// threshold and the interners' internal layout.
    #[test]
    fn a_restored_index_is_structurally_identical(
        pending_min in 1usize..6,
        stays in proptest::collection::vec((0u8..9, 0u8..4, 0i64..9000, 0i64..20_000), 0..50),
        seal_at in 0usize..50,
        retract_every in 1usize..5,
        purge_cutoff in proptest::option::of(0i64..12_000),
    ) {
        let policy = StayPolicy::default();
        let mut index = TraceIndex::with_pending_min(pending_min);
        let checkins: Vec<CheckIn> = stays
            .iter()
            .map(|&(person, venue, enter, len)| {
                checkin(&format!("p{person}"), &format!("v{venue}"), enter, len)
            })
            .collect();
        for (number, checkin) in checkins.iter().enumerate() {
            if number == seal_at {
                index.seal();
            }
            index.append(checkin, &policy).unwrap();
        }
        for checkin in checkins.iter().step_by(retract_every) {
            index.retract(checkin, &policy);
        }
        if let Some(cutoff) = purge_cutoff {
            index.purge_before(Timestamp::from_unix_secs(T0 + cutoff).unwrap());
        }
        let restored = TraceIndex::from_snapshot_bytes(&index.to_snapshot_bytes()).unwrap();
        prop_assert!(restored.persons.same_layout(&index.persons));
        prop_assert!(restored.venues.same_layout(&index.venues));
        prop_assert_eq!(&restored.main, &index.main);
        prop_assert_eq!(&restored.delta, &index.delta);
        prop_assert_eq!(&restored.pending, &index.pending);
        prop_assert_eq!(restored.pending_min, index.pending_min);
    }
}
