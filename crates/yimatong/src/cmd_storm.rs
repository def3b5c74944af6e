//! `yimatong bench storm`: the recompute storm after one risk-area
//! designation. N persons checked in at one venue are loaded into an
//! in-process node; the clock then measures one designation of that venue
//! as high risk, from the call until every reached person's status has
//! changed: storing the designation durably, finding the exposed persons in
//! the check-in index and deciding every one of them (see risk.rs). It then
//! moves the clock to the instant every exposure ends and times the
//! scheduler's pass that turns them green again.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use ymt_core::event::{CheckIn, ContactDesignation, ContactKind, RiskLevel};
use ymt_core::{Color, Event, EventBody, EventId, PersonId, RegionCode, Timestamp, VenueId};
use ymt_node::risk::RiskAreaRequest;
use ymt_node::state::EventRecord;
use ymt_node::venues::Venue;
use ymt_node::{ManualClock, ServerConfig};

#[derive(clap::Args)]
pub struct BenchStormArgs {
    /// Persons exposed by the designation.
    #[arg(long, default_value_t = 100_000)]
    pub persons: usize,
    /// The share of them, in percent, who are already close contacts (red,
    /// with timed transitions ahead), whom the node must re-read and
    /// evaluate in full.
    #[arg(long, default_value_t = 0.0)]
    pub unsettled_percent: f64,
}

fn pid_for(index: usize) -> PersonId {
    PersonId::parse(&format!(
        "{:032x}",
        (index as u128).wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835) | 1
    ))
    .expect("hex pid")
}

pub fn run_storm(args: BenchStormArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(storm(args))
}

async fn storm(args: BenchStormArgs) -> anyhow::Result<ExitCode> {
    let persons = args.persons.max(1);
    let dir = tempfile::tempdir()?;
    let mut config = ServerConfig::new(dir.path().to_path_buf());
    config.tracing.breaker_persons_max = usize::MAX;
    config.snapshot_every_events = u64::MAX;
    let now = Timestamp::parse_rfc3339("2022-05-10T12:00:00Z")?;
    let clock = Arc::new(ManualClock::new(now));
    // Started as the binary starts a node (node_start.rs): the scheduler,
    // retention and read-audit writer run, and the API is served on a
    // loopback port, though the benchmark drives the node directly.
    let state = crate::node_start::open_node(config, clock.clone())?;
    let serving =
        crate::node_start::bind_and_serve_node(state.clone(), "127.0.0.1:0".parse()?).await?;
    let region = RegionCode::parse("440305001001")?;
    let venue = VenueId::parse("v-storm")?;
    state
        .register_venue(
            &ymt_node::record::Author::operator(),
            Venue {
                id: venue.clone(),
                name: "storm venue".into(),
                region: region.clone(),
                category: "market".into(),
                indoor: true,
                registered_by: "bench".into(),
                registered_at: now,
                operators: Vec::new(),
                location: None,
            },
        )
        .map_err(|error| anyhow::anyhow!(error.detail))?;

    let setup_started = Instant::now();
    let unsettled_every = (args.unsettled_percent > 0.0)
        .then(|| ((100.0 / args.unsettled_percent).round() as usize).max(1));
    let is_unsettled =
        |index: usize| unsettled_every.is_some_and(|every| index.is_multiple_of(every));
    let unsettled: Vec<EventRecord> = (0..persons)
        .filter(|&index| is_unsettled(index))
        .map(|index| EventRecord {
            region: region.clone(),
            event: Event {
                id: EventId::parse(&format!("cc-{index}")).expect("event id"),
                person: pid_for(index),
                recorded_at: now.plus_secs(-3600),
                author: "bench".into(),
                body: EventBody::ContactDesignation(ContactDesignation {
                    contact: ContactKind::Close,
                    source_case: None,
                    designated_at: now.plus_secs(-3600),
                    last_exposure_at: now.plus_secs(-7200),
                    venue: None,
                    overlap_start: None,
                    overlap_end: None,
                    rule: None,
                    reason: "storm benchmark".into(),
                }),
            },
        })
        .collect();
    let unsettled_count = unsettled.len();
    let records: Vec<EventRecord> = (0..persons)
        .map(|index| EventRecord {
            region: region.clone(),
            event: Event {
                id: EventId::parse(&format!("ci-{index}")).expect("event id"),
                person: pid_for(index),
                recorded_at: now.plus_secs(-3600),
                author: "bench".into(),
                body: EventBody::CheckIn(CheckIn {
                    venue: venue.clone(),
                    entered_at: now.plus_secs(-7200 + (index % 1800) as i64),
                    left_at: Some(now.plus_secs(-3600)),
                }),
            },
        })
        .chain(unsettled)
        .collect();
    tokio::task::block_in_place(|| crate::progress::import_records(&state, &records, "bench"))
        .map_err(|error| anyhow::anyhow!(error.detail))?;
    drop(records);
    let setup_secs = setup_started.elapsed().as_secs_f64();

    let request = RiskAreaRequest {
        id: EventId::parse("ra-storm")?,
        venues: vec![venue],
        region: None,
        level: RiskLevel::High,
        from: now.plus_secs(-86_400),
        until: now.plus_secs(86_400),
        reason: "storm benchmark".into(),
    };
    let proposer = ymt_node::tracing_service::system_principal("bench");
    let started = Instant::now();
    let outcome = ymt_node::risk::take_effect(&state, &request, &proposer)
        .await
        .map_err(|error| anyhow::anyhow!(error.detail))?;
    let elapsed_secs = started.elapsed().as_secs_f64();

    // Everyone is yellow now, except the close contacts, who stay red.
    let as_expected = (0..persons)
        .filter(|&index| {
            let expected = if is_unsettled(index) {
                Color::Red
            } else {
                Color::Yellow
            };
            state
                .projection
                .get(&pid_for(index))
                .is_some_and(|(slot, _)| slot.color() == expected)
        })
        .count();
    // The way out: every exposure ends together, seven days after the stays
    // ended, and the scheduler's pass turns those persons green again. Timed
    // from the clock's move until the scheduler reports the instant done.
    let transitions_before = state.metrics.timed_transitions.load(Ordering::Relaxed);
    let expiry = now.plus_secs(7 * 86_400);
    let mut applied_until = state.transitions_applied_until.subscribe();
    let expiry_started = Instant::now();
    clock.set(expiry);
    applied_until
        .wait_for(|until| *until >= expiry.unix_secs())
        .await
        .map_err(|_| anyhow::anyhow!("the scheduler stopped"))?;
    let expiry_secs = expiry_started.elapsed().as_secs_f64();
    let expiry_transitions =
        state.metrics.timed_transitions.load(Ordering::Relaxed) - transitions_before;
    let green_after_expiry = (0..persons)
        .filter(|&index| {
            !is_unsettled(index)
                && state
                    .projection
                    .get(&pid_for(index))
                    .is_some_and(|(slot, _)| slot.color() == Color::Green)
        })
        .count();
    let secs_per_million = elapsed_secs * 1_000_000.0 / persons as f64;
    println!(
        "{}",
        serde_json::json!({
            "bench": "storm",
            "persons": persons,
            "persons_reached": outcome.impact.persons_reached,
            "decided_incrementally": outcome.decided_incrementally,
            "decided_by_composition": outcome.decided_by_composition,
            "decided_in_full": outcome.decided_in_full,
            "persons_unsettled_before": unsettled_count,
            "persons_as_expected_after": as_expected,
            "setup_secs": setup_secs,
            "designation_to_all_updated_secs": elapsed_secs,
            "secs_per_million_persons": secs_per_million,
            "goal_secs_per_million": 1.0,
            "expiry_transitions": expiry_transitions,
            "expiry_all_updated_secs": expiry_secs,
            "persons_green_after_expiry": green_after_expiry,
        })
    );
    drop(state);
    serving.shut_down().await?;
    Ok(
        if as_expected == persons && green_after_expiry == persons - unsettled_count {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        },
    )
}
