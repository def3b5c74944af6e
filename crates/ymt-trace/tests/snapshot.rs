//! Property tests of index snapshots: a restored index answers every query
//! and takes every later change exactly like the original, and damaged or
//! arbitrary bytes are refused or restore a usable index, never a panic.

use proptest::prelude::*;
use ymt_core::{PersonId, Timestamp, VenueId};
use ymt_trace::{
    CheckIn, Positive, RawStay, StayPolicy, TIME_BASE_UNIX_SECS, TraceIndex, TraceQuery,
    TraceResult,
};

/// 2022-01-01T00:00:00Z; every instant is an offset from it.
const T0: i64 = 1_640_995_200;

/// Header: magic (8 bytes), format version (4), body length (8).
const HEADER_BYTES: usize = 20;
const BODY_LEN_AT: usize = 12;
const TRAILER_BYTES: usize = 8;

fn instant(offset_secs: i64) -> Timestamp {
    Timestamp::from_unix_secs(T0 + offset_secs).unwrap()
}

fn rel(offset_secs: i64) -> u32 {
    (T0 + offset_secs - TIME_BASE_UNIX_SECS) as u32
}

/// One change to an index. Numbers pick among what exists at the time, so
/// every generated sequence is valid whatever came before.
#[derive(Clone, Debug)]
enum Op {
    /// Some stays exceed the default 24 h maximum and are refused.
    Append {
        person: u8,
        venue: u8,
        enter_secs: i64,
        stay_secs: i64,
    },
    /// Stays by number, as the CSV import and log loader add them.
    Extend(Vec<(u8, u8, i64, i64)>),
    Seal,
    /// Retracts the n-th appended check-in (mod how many there are).
    Retract(usize),
    Purge {
        cutoff_secs: i64,
    },
}

fn op_strategy() -> impl Strategy<Value = Op> {
    let stay_secs = prop_oneof![0i64..120, 1790i64..1810, 7190i64..7210, 7210i64..20_000];
    prop_oneof![
        6 => (0u8..10, 0u8..5, 0i64..9000, stay_secs.clone()).prop_map(
            |(person, venue, enter_secs, stay_secs)| Op::Append { person, venue, enter_secs, stay_secs }
        ),
        1 => (0u8..10, 0u8..5, 0i64..9000, Just(90_000i64)).prop_map(
            |(person, venue, enter_secs, stay_secs)| Op::Append { person, venue, enter_secs, stay_secs }
        ),
        2 => proptest::collection::vec((any::<u8>(), any::<u8>(), 0i64..9000, stay_secs), 0..6)
            .prop_map(Op::Extend),
        1 => Just(Op::Seal),
        2 => any::<usize>().prop_map(Op::Retract),
        1 => (0i64..12_000).prop_map(|cutoff_secs| Op::Purge { cutoff_secs }),
    ]
}

/// Applies `op`; `appended` lists the check-ins appended so far, so a
/// retraction names one that may still be in the index.
fn apply(index: &mut TraceIndex, op: &Op, appended: &mut Vec<CheckIn>) {
    let policy = StayPolicy::default();
    match op {
        &Op::Append {
            person,
            venue,
            enter_secs,
            stay_secs,
        } => {
            let checkin = CheckIn {
                person: PersonId::parse(&format!("p{person}")).unwrap(),
                venue: VenueId::parse(&format!("v{venue}")).unwrap(),
                enter: instant(enter_secs),
                leave: Some(instant(enter_secs + stay_secs)),
            };
            if index.append(&checkin, &policy).is_ok() {
                appended.push(checkin);
            }
        }
        Op::Extend(stays) => {
            let persons = index.persons().len() as u32;
            let venues = index.venues().len() as u32;
            if persons == 0 || venues == 0 {
                return;
            }
            let stays: Vec<RawStay> = stays
                .iter()
                .map(|&(person, venue, enter_secs, stay_secs)| RawStay {
                    person: u32::from(person) % persons,
                    venue: u32::from(venue) % venues,
                    enter_rel: rel(enter_secs),
                    leave_rel: rel(enter_secs + stay_secs),
                })
                .collect();
            index.extend(stays).unwrap();
        }
        Op::Seal => index.seal(),
        &Op::Retract(pick) => {
            if !appended.is_empty() {
                let checkin = appended[pick % appended.len()].clone();
                index.retract(&checkin, &policy);
            }
        }
        &Op::Purge { cutoff_secs } => {
            index.purge_before(instant(cutoff_secs));
        }
    }
}

/// Everything the index answers, in the order it answers it.
#[derive(Debug, PartialEq)]
struct Answers {
    len: usize,
    checkins: usize,
    persons: usize,
    venues: usize,
    person_ids: Vec<String>,
    venue_ids: Vec<String>,
    person_numbers: Vec<Option<u32>>,
    stays_of: Vec<Vec<(VenueId, Timestamp, Timestamp)>>,
    stays_at: Vec<Vec<RawStay>>,
    raw: Vec<RawStay>,
    traces: Vec<TraceResult>,
}

fn answers(index: &TraceIndex) -> Answers {
    let person_ids: Vec<String> = index.persons().iter().map(str::to_owned).collect();
    let venue_ids: Vec<String> = index.venues().iter().map(str::to_owned).collect();
    // Known ids plus one the index never saw.
    let mut asked: Vec<PersonId> = person_ids
        .iter()
        .map(|id| PersonId::parse(id).unwrap())
        .collect();
    let unknown = PersonId::parse("p-unknown").unwrap();
    if index.persons().get(unknown.as_str()).is_none() {
        asked.push(unknown);
    }
    let stays_at = (0..venue_ids.len() as u32 + 1)
        .map(|venue| {
            let mut stays = Vec::new();
            index.for_each_stay_at(venue, |stay| stays.push(stay));
            stays
        })
        .collect();
    let positives: Vec<Positive> = asked
        .iter()
        .enumerate()
        .map(|(number, person)| Positive {
            person: person.clone(),
            confirmed: instant(1000 * number as i64),
            window_start: (number % 2 == 0).then(|| instant(500)),
            window_end: None,
        })
        .collect();
    let traces = [(0, false), (0, true), (600, false)]
        .into_iter()
        .map(|(min_overlap_secs, before_confirmed)| {
            let query = TraceQuery {
                min_overlap_secs,
                before_confirmed,
            };
            index.trace(&positives, &query).unwrap()
        })
        .collect();
    let stats = index.stats();
    Answers {
        len: index.len(),
        checkins: stats.checkins,
        persons: stats.persons,
        venues: stats.venues,
        person_numbers: asked
            .iter()
            .map(|person| index.persons().get(person.as_str()))
            .collect(),
        stays_of: asked.iter().map(|person| index.stays_of(person)).collect(),
        stays_at,
        raw: index.iter_raw().collect(),
        traces,
        person_ids,
        venue_ids,
    }
}

/// Fixes the body length and checksum of edited snapshot bytes, so the
/// decoder's structural checks are reached rather than the checksum's.
fn reseal(mut bytes: Vec<u8>) -> Vec<u8> {
    bytes.truncate(bytes.len().saturating_sub(TRAILER_BYTES));
    if bytes.len() < HEADER_BYTES {
        return bytes;
    }
    let body_len_bytes = (bytes.len() - HEADER_BYTES) as u64;
    bytes[BODY_LEN_AT..HEADER_BYTES].copy_from_slice(&body_len_bytes.to_le_bytes());
    let checksum = xxhash_rust::xxh3::xxh3_64(&bytes);
    bytes.extend_from_slice(&checksum.to_le_bytes());
    bytes
}

/// The parameters section of a snapshot this build writes: time base,
/// stay classes and a merge threshold of 4.
fn valid_parameters() -> Vec<u8> {
    let mut parameters = TIME_BASE_UNIX_SECS.to_le_bytes().to_vec();
    parameters.extend_from_slice(&3u32.to_le_bytes());
    parameters.extend_from_slice(&4u64.to_le_bytes());
    parameters
}

/// If `bytes` restore, they must be the snapshot of the restored index (the
/// decoding is exact), and the index must answer every query and take new
/// check-ins without panicking.
fn restore_and_use(bytes: &[u8]) {
    if let Ok(mut index) = TraceIndex::from_snapshot_bytes(bytes) {
        assert_eq!(index.to_snapshot_bytes(), bytes);
        answers(&index);
        let mut appended = Vec::new();
        for op in [
            Op::Append {
                person: 1,
                venue: 1,
                enter_secs: 100,
                stay_secs: 900,
            },
            Op::Extend(vec![(3, 4, 200, 60), (5, 6, 300, 8000)]),
            Op::Retract(0),
            Op::Seal,
            Op::Purge { cutoff_secs: 250 },
        ] {
            apply(&mut index, &op, &mut appended);
        }
        answers(&index);
    }
}

fn index_after(pending_min: usize, ops: &[Op]) -> (TraceIndex, Vec<CheckIn>) {
    let mut index = TraceIndex::with_pending_min(pending_min);
    let mut appended = Vec::new();
    for op in ops {
        apply(&mut index, op, &mut appended);
    }
    (index, appended)
}

proptest! {
    #[test]
    fn a_restored_index_answers_and_changes_like_the_original(
        pending_min in 1usize..6,
        before in proptest::collection::vec(op_strategy(), 0..40),
        after in proptest::collection::vec(op_strategy(), 0..20),
    ) {
        let (mut original, appended) = index_after(pending_min, &before);
        let snapshot = original.to_snapshot_bytes();
        let mut restored = TraceIndex::from_snapshot_bytes(&snapshot).unwrap();
        prop_assert_eq!(answers(&restored), answers(&original));
        // The restored copy holds no more memory than the original, whose
        // vectors may have grown past their length.
        let (restored_stats, original_stats) = (restored.stats(), original.stats());
        prop_assert!(restored_stats.index_bytes <= original_stats.index_bytes);
        prop_assert!(restored_stats.interner_bytes <= original_stats.interner_bytes);
        // A snapshot of the restored index is the same bytes again.
        prop_assert_eq!(&restored.to_snapshot_bytes(), &snapshot);
        let mut streamed = Vec::new();
        original.write_snapshot(&mut streamed).unwrap();
        prop_assert_eq!(&streamed, &snapshot);

        let mut appended_original = appended.clone();
        let mut appended_restored = appended;
        for op in &after {
            apply(&mut original, op, &mut appended_original);
            apply(&mut restored, op, &mut appended_restored);
        }
        prop_assert_eq!(answers(&restored), answers(&original));
        prop_assert_eq!(restored.to_snapshot_bytes(), original.to_snapshot_bytes());
    }

    #[test]
    fn arbitrary_bytes_are_refused_or_restore_a_usable_index(
        bytes in proptest::collection::vec(any::<u8>(), 0..400),
        header_version in prop_oneof![Just(1u32), any::<u32>()],
    ) {
        restore_and_use(&bytes);
        // The same bytes behind a valid header and checksum reach the body
        // decoder, and behind valid parameters its id and run sections.
        let mut framed = b"YMTTRIDX".to_vec();
        framed.extend_from_slice(&header_version.to_le_bytes());
        framed.extend_from_slice(&0u64.to_le_bytes());
        let mut with_parameters = framed.clone();
        for (body, prefix) in [(&mut framed, Vec::new()), (&mut with_parameters, valid_parameters())] {
            body.extend_from_slice(&prefix);
            body.extend_from_slice(&bytes);
            body.extend_from_slice(&[0; TRAILER_BYTES]);
        }
        restore_and_use(&reseal(framed));
        restore_and_use(&reseal(with_parameters));
    }
}

proptest! {
    // Every case tries every truncation and every bit flip of a snapshot of
    // up to a kilobyte, tens of thousands of restores, so fewer cases cover
    // plenty.
    #![proptest_config(ProptestConfig::with_cases(16))]

    #[test]
    fn damaged_snapshots_are_refused_or_restore_a_usable_index(
        pending_min in 1usize..6,
        ops in proptest::collection::vec(op_strategy(), 0..16),
    ) {
        let (index, _) = index_after(pending_min, &ops);
        let snapshot = index.to_snapshot_bytes();
        // Inside a one-thread pool the decoder's parallel loops run inline;
        // called from outside, each would hand its kilobyte to the global
        // pool and wait, which costs far more than decoding it.
        let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        pool.install(|| {
            for len in 0..snapshot.len() {
                prop_assert!(TraceIndex::from_snapshot_bytes(&snapshot[..len]).is_err());
            }
            let mut damaged = snapshot.clone();
            for bit in 0..snapshot.len() * 8 {
                damaged[bit / 8] ^= 1 << (bit % 8);
                // The checksum catches every single flipped bit...
                prop_assert!(TraceIndex::from_snapshot_bytes(&damaged).is_err(), "bit {}", bit);
                // ...and behind a recomputed checksum the body decoder
                // refuses it or yields an index that still works.
                restore_and_use(&reseal(damaged.clone()));
                damaged[bit / 8] ^= 1 << (bit % 8);
            }
            Ok(())
        })?;
    }
}
