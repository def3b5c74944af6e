//! How long a node takes to snapshot and restore a national-scale check-in
//! index: 20,000,000 check-ins of 1,000,000 persons at 50,000 venues.
//!
//! `cargo run --release -p ymt-trace --example snapshot_restore` prints one
//! JSON line. The data is synthetic and the same on every run (a fixed
//! seed), so figures from different builds compare. Wall times on a shared
//! machine vary with its other load; the CPU seconds (user + system, all
//! threads) vary much less.

use std::time::Instant;

use ymt_trace::{Interner, RawStay, TraceIndex};

const CHECKINS: usize = 20_000_000;
const PERSONS: usize = 1_000_000;
const VENUES: usize = 50_000;
const SEED: u64 = 0x5EED_2022;
/// Check-ins spread over the 21 days a trace looks back, from 2022-01-01.
const WINDOW_START_REL: u32 = 63_158_400;
const WINDOW_SECS: u32 = 21 * 86_400;
/// Restores are timed this many times and the median reported, so one slow
/// run on the shared machine does not decide the figure.
const RESTORE_REPEATS: usize = 3;

/// SplitMix64: a fixed, dependency-free stream of well-mixed numbers.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, bound: u32) -> u32 {
        (self.next_u64() % u64::from(bound)) as u32
    }
}

/// User plus system CPU seconds of this process so far (Linux; 10 ms steps).
fn process_cpu_secs() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    let user_ticks: u64 = fields.get(11)?.parse().ok()?;
    let system_ticks: u64 = fields.get(12)?.parse().ok()?;
    Some((user_ticks + system_ticks) as f64 / 100.0)
}

fn json_list(values: &[Option<f64>]) -> String {
    let items: Vec<String> = values
        .iter()
        .map(|value| value.map_or("null".to_owned(), |value| format!("{value:.3}")))
        .collect();
    format!("[{}]", items.join(","))
}

fn synthetic_index() -> TraceIndex {
    let mut random = SplitMix64(SEED);
    // Person ids look like keyed hashes (32 hex digits), venue ids like
    // venue codes; their length matters for the id tables' cost.
    let person_ids: Vec<String> = (0..PERSONS)
        .map(|_| format!("{:016x}{:016x}", random.next_u64(), random.next_u64()))
        .collect();
    let venue_ids: Vec<String> = (0..VENUES)
        .map(|venue| format!("V44030{venue:07}"))
        .collect();
    let person_refs: Vec<&str> = person_ids.iter().map(String::as_str).collect();
    let venue_refs: Vec<&str> = venue_ids.iter().map(String::as_str).collect();
    let persons = Interner::from_distinct(&person_refs).expect("synthetic person ids are distinct");
    let venues = Interner::from_distinct(&venue_refs).expect("synthetic venue ids are distinct");
    let stays: Vec<RawStay> = (0..CHECKINS)
        .map(|_| {
            let enter_rel = WINDOW_START_REL + random.below(WINDOW_SECS);
            // Mostly short visits, some meals and shifts, a few long stays:
            // every stay-length class is populated.
            let stay_secs = match random.below(10) {
                0..=5 => 60 + random.below(1740),
                6..=8 => 1800 + random.below(5400),
                _ => 7200 + random.below(36_000),
            };
            RawStay {
                person: random.below(PERSONS as u32),
                venue: random.below(VENUES as u32),
                enter_rel,
                leave_rel: enter_rel + stay_secs,
            }
        })
        .collect();
    let mut index = TraceIndex::from_parts(persons, venues, stays);
    index.seal();
    index
}

fn main() {
    let build_started = Instant::now();
    let index = synthetic_index();
    let build_secs = build_started.elapsed().as_secs_f64();

    let write_started = Instant::now();
    let snapshot = index.to_snapshot_bytes();
    let write_secs = write_started.elapsed().as_secs_f64();

    let mut restore_secs: Vec<f64> = Vec::with_capacity(RESTORE_REPEATS);
    let mut restore_cpu_secs: Vec<Option<f64>> = Vec::with_capacity(RESTORE_REPEATS);
    let mut restored = None;
    for _ in 0..RESTORE_REPEATS {
        // The previous copy is freed before the next restore is timed.
        drop(restored.take());
        let cpu_started_secs = process_cpu_secs();
        let restore_started = Instant::now();
        let index = TraceIndex::from_snapshot_bytes(&snapshot).expect("the snapshot restores");
        restore_secs.push(restore_started.elapsed().as_secs_f64());
        restore_cpu_secs.push(
            process_cpu_secs()
                .zip(cpu_started_secs)
                .map(|(ended, started)| ended - started),
        );
        restored = Some(index);
    }
    let restored = restored.expect("at least one restore");
    assert_eq!(restored.stats().checkins, index.stats().checkins);
    assert!(restored.iter_raw().eq(index.iter_raw()));
    let mut restore_secs_sorted = restore_secs.clone();
    restore_secs_sorted.sort_by(f64::total_cmp);

    println!(
        "{{\"checkins\":{},\"persons\":{},\"venues\":{},\"snapshot_bytes\":{},\"build_seconds\":{:.3},\"write_seconds\":{:.3},\"restore_seconds\":{:.3},\"restore_seconds_runs\":{},\"restore_cpu_seconds_runs\":{},\"threads\":{}}}",
        index.len(),
        index.persons().len(),
        index.venues().len(),
        snapshot.len(),
        build_secs,
        write_secs,
        restore_secs_sorted[RESTORE_REPEATS / 2],
        json_list(&restore_secs.iter().copied().map(Some).collect::<Vec<_>>()),
        json_list(&restore_cpu_secs),
        rayon::current_num_threads(),
    );
}
