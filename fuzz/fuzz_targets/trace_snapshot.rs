//! Fuzzes check-in index snapshot restore: the bytes as a whole snapshot
//! (mostly refused by the frame checks), and as a body behind a valid header
//! and checksum, so the fuzzer reaches the section decoders. Whatever
//! restores must be the canonical snapshot of the index it restored, answer
//! every query and take new check-ins without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ymt_core::{PersonId, Timestamp, VenueId};
use ymt_trace::{
    CheckIn, Positive, SNAPSHOT_FORMAT_VERSION, SNAPSHOT_MAGIC, StayPolicy, TraceIndex, TraceQuery,
};

fuzz_target!(|data: &[u8]| {
    exercise(data);
    let mut framed = SNAPSHOT_MAGIC.to_vec();
    framed.extend_from_slice(&SNAPSHOT_FORMAT_VERSION.to_le_bytes());
    framed.extend_from_slice(&(data.len() as u64).to_le_bytes());
    framed.extend_from_slice(data);
    let checksum = xxhash_rust::xxh3::xxh3_64(&framed);
    framed.extend_from_slice(&checksum.to_le_bytes());
    exercise(&framed);
});

fn exercise(bytes: &[u8]) {
    let Ok(mut index) = TraceIndex::from_snapshot_bytes(bytes) else {
        return;
    };
    // Decoding is exact, so writing the index again gives the same bytes.
    assert_eq!(index.to_snapshot_bytes(), bytes);
    let instant = |secs: i64| Timestamp::from_unix_secs(1_641_000_000 + secs).unwrap();
    let persons: Vec<PersonId> = index
        .persons()
        .iter()
        .map(|id| PersonId::parse(id).unwrap())
        .collect();
    for person in &persons {
        index.stays_of(person);
    }
    for venue in 0..index.venues().len() as u32 {
        index.for_each_stay_at(venue, |_| {});
    }
    let _ = index.iter_raw().count();
    let _ = index.stats();
    let positives: Vec<Positive> = persons
        .iter()
        .map(|person| Positive::new(person.clone(), instant(86_400)))
        .collect();
    let query = TraceQuery {
        min_overlap_secs: 60,
        before_confirmed: false,
    };
    let result = index.trace(&positives, &query).unwrap();
    for pair in &result.pairs {
        index.resolve_pair(pair);
    }
    let checkin = CheckIn {
        person: PersonId::parse("fuzz-person").unwrap(),
        venue: VenueId::parse("fuzz-venue").unwrap(),
        enter: instant(0),
        leave: Some(instant(900)),
    };
    index.append(&checkin, &StayPolicy::default()).unwrap();
    index.retract(&checkin, &StayPolicy::default());
    index.seal();
    index.purge_before(instant(0));
}
