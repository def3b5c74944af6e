//! `yimatong bench restart`: how long a node takes from start to serving,
//! with a snapshot and without one, over a store of check-ins and tests as
//! the API stores them (one JSON event record each in the event log, every
//! check-in in the venue×time index).

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use ymt_core::event::{CheckIn, TestKind, TestOutcome, TestResult};
use ymt_core::{Event, EventBody, EventId, PersonId, RegionCode, Timestamp, VenueId};
use ymt_node::record::Author;
use ymt_node::state::EventRecord;
use ymt_node::venues::Venue;
use ymt_node::{Node, ServerConfig, SystemClock};

#[derive(clap::Args)]
pub struct BenchRestartArgs {
    /// Events stored before the restart: one PCR test per person, the rest
    /// check-ins.
    #[arg(long, default_value_t = 1_000_000)]
    pub events: usize,
    /// Persons the events are about.
    #[arg(long, default_value_t = 50_000)]
    pub persons: usize,
    /// Venues the check-ins are at.
    #[arg(long, default_value_t = 20_000)]
    pub venues: usize,
    /// Where the store is built (a fresh temporary directory by default).
    #[arg(long)]
    pub data: Option<std::path::PathBuf>,
}

fn pid_for(person: usize) -> PersonId {
    PersonId::parse(&format!("{:032x}", 0x5eed_0000_0000u64 + person as u64)).expect("pid")
}

fn venue_id(venue: usize) -> VenueId {
    VenueId::parse(&format!("v-bench-{venue}")).expect("venue id")
}

/// The `index`th event of `person`: a negative PCR first, then check-ins,
/// one a day back from `now`, at a venue chosen by a fixed mix of both.
fn event_of(person: usize, index: usize, venues: usize, now: Timestamp) -> EventRecord {
    let pid = pid_for(person);
    let body = if index == 0 {
        let sampled = now.plus_secs(-7200);
        EventBody::TestResult(TestResult {
            test: TestKind::Pcr,
            result: TestOutcome::Negative,
            sampled_at: sampled,
            reported_at: sampled.plus_secs(3600),
            lab: "bench-lab".into(),
        })
    } else {
        let venue = (person.wrapping_mul(7919) + index.wrapping_mul(104_729)) % venues;
        let entered = now.plus_secs(-(index as i64) * 3600 - (person % 3600) as i64);
        EventBody::CheckIn(CheckIn {
            venue: venue_id(venue),
            entered_at: entered,
            left_at: Some(entered.plus_secs(1800)),
        })
    };
    EventRecord {
        region: RegionCode::parse("440305").expect("region"),
        event: Event {
            id: EventId::parse(&format!("b-{person}-{index}")).expect("id"),
            person: pid,
            recorded_at: now,
            author: "bench".into(),
            body,
        },
    }
}

/// Stores the workload person by person (so each person is evaluated about
/// once), snapshots, then times a restart with the snapshot and one
/// without it.
pub fn run_restart(args: BenchRestartArgs) -> anyhow::Result<ExitCode> {
    let temporary = tempfile::tempdir()?;
    let data = args
        .data
        .clone()
        .unwrap_or_else(|| temporary.path().to_path_buf());
    let mut config = ServerConfig::new(data.clone());
    // The benchmark snapshots once, at the end.
    config.snapshot_every_events = u64::MAX;
    let node = Node::open_embedded(config.clone(), Arc::new(SystemClock))?;
    let now = node.now();
    let venues = args.venues.max(1);
    let persons = args.persons.max(1);
    let per_person = args.events.div_ceil(persons).max(1);
    let started = Instant::now();
    for venue in 0..venues {
        node.register_venue(
            &Author::operator(),
            Venue {
                id: venue_id(venue),
                name: format!("bench venue {venue}"),
                region: RegionCode::parse("440305001001").expect("community"),
                category: "market".into(),
                indoor: venue % 4 != 0,
                registered_by: "bench".into(),
                registered_at: now,
                operators: Vec::new(),
                location: None,
            },
        )
        .map_err(|error| anyhow::anyhow!(error.detail))?;
    }
    let progress = crate::progress::bar(args.events as u64, "storing events");
    let mut stored = 0usize;
    let mut chunk = Vec::with_capacity(100_000);
    'persons: for person in 0..persons {
        for index in 0..per_person {
            if stored == args.events {
                break 'persons;
            }
            chunk.push(event_of(person, index, venues, now));
            stored += 1;
        }
        if chunk.len() >= 100_000 {
            node.import_records(&chunk, "bench")
                .map_err(|error| anyhow::anyhow!(error.detail))?;
            progress.inc(chunk.len() as u64);
            chunk.clear();
        }
    }
    if !chunk.is_empty() {
        node.import_records(&chunk, "bench")
            .map_err(|error| anyhow::anyhow!(error.detail))?;
        progress.inc(chunk.len() as u64);
    }
    progress.finish_and_clear();
    let load_seconds = started.elapsed().as_secs_f64();
    let persons_stored = node.projection.len();
    let checkins_indexed = node.tracing.index.read().len();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let started = Instant::now();
    runtime
        .block_on(node.write_snapshot())
        .map_err(|error| anyhow::anyhow!(error.detail))?;
    let snapshot_seconds = started.elapsed().as_secs_f64();
    drop(node);
    let snapshot_bytes: u64 = std::fs::read_dir(data.join("store").join("snapshots"))?
        .filter_map(|entry| entry.ok()?.metadata().ok())
        .map(|metadata| metadata.len())
        .max()
        .unwrap_or(0);

    let started = Instant::now();
    let reopened = Node::open_embedded(config.clone(), Arc::new(SystemClock))?;
    let with_snapshot_seconds = started.elapsed().as_secs_f64();
    let persons_after = reopened.projection.len();
    let checkins_after = reopened.tracing.index.read().len();
    drop(reopened);

    std::fs::remove_dir_all(data.join("store").join("snapshots")).ok();
    let started = Instant::now();
    let rebuilt = Node::open_embedded(config, Arc::new(SystemClock))?;
    let without_snapshot_seconds = started.elapsed().as_secs_f64();
    let persons_rebuilt = rebuilt.projection.len();
    let checkins_rebuilt = rebuilt.tracing.index.read().len();
    drop(rebuilt);
    println!(
        "{}",
        serde_json::json!({
            "bench": "restart",
            "events": stored,
            "persons": persons_stored,
            "checkins_indexed": checkins_indexed,
            "venues": venues,
            "load_seconds": load_seconds,
            "snapshot_seconds": snapshot_seconds,
            "snapshot_bytes": snapshot_bytes,
            "restart_with_snapshot_seconds": with_snapshot_seconds,
            "persons_after_restart": persons_after,
            "checkins_after_restart": checkins_after,
            "restart_without_snapshot_seconds": without_snapshot_seconds,
            "persons_after_rebuild": persons_rebuilt,
            "checkins_after_rebuild": checkins_rebuilt,
            "note": "events stored as the API stores them (JSON event records, check-ins indexed), through the import path to keep the set-up short; a restart is Node::open until it can serve",
        })
    );
    Ok(ExitCode::SUCCESS)
}
