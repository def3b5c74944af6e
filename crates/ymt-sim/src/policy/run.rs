//! One run: one policy, one seed. The epidemic steps day by day; the real
//! node (in-process, manual clock, a temporary directory without fsync)
//! receives the day's check-ins and test results as it would in life, and
//! its own rules, automatic tracing and risk-area code decide the colors
//! that shape the next day's behaviour. No rule is evaluated here.

use std::sync::Arc;
use std::time::Instant;

use serde_json::json;
use ymt_core::{Color, PersonId, RegionCode, Timestamp, VenueId};
use ymt_node::record::Author;
use ymt_node::state::{Subject, Submission};
use ymt_node::venues::Venue;
use ymt_node::{ManualClock, Node, ServerConfig};

use crate::CityConfig;
use crate::epidemic::{
    Epidemic, EpidemicParams, Restriction, SimTest, Stay, TestKindSim, community_code_of,
};
use crate::persons::placeholder_pid;
use crate::policy::legacy::{LegacyKind, LegacyOverlay, escalated_rule_set};
use crate::policy::metrics::{PhaseSeconds, RunResult};
use crate::policy::{Policy, PolicyError};

const DAY_SECS: i64 = 86_400;

/// The node in the loop and what it needs to be fed.
struct NodeInLoop {
    node: Arc<Node>,
    clock: Arc<ManualClock>,
    runtime: tokio::runtime::Runtime,
    principal: ymt_node::auth::Principal,
    pids: Vec<PersonId>,
    /// Every venue's id and community code.
    venues: Vec<(VenueId, RegionCode)>,
    county: RegionCode,
    /// Reported later than the day they were taken.
    pending_tests: Vec<(SimTest, u32)>,
    _dir: tempfile::TempDir,
}

fn instant(secs: i64) -> Result<Timestamp, PolicyError> {
    Timestamp::from_unix_secs(secs).map_err(|error| PolicyError::Node(error.to_string()))
}

fn node_error(error: impl std::fmt::Display) -> PolicyError {
    PolicyError::Node(error.to_string())
}

impl NodeInLoop {
    fn open(epidemic: &Epidemic, rules: Option<Vec<u8>>) -> Result<NodeInLoop, PolicyError> {
        let dir = tempfile::tempdir().map_err(node_error)?;
        let mut config = ServerConfig::new(dir.path().join("data"));
        // A fixed secret: pseudonyms play no part, and runs must repeat.
        config.pseudonym_secret_hex = Some("5a".repeat(32));
        // Nothing this node stores must survive: no fsync, no snapshots.
        config.store_sync_commits = false;
        config.snapshot_every_events = u64::MAX;
        // Check-ins the rules cannot observe change no decision: persons
        // whose inputs did not change are not re-read (docs/simulation.md, Cost).
        config.skip_unobserved_check_ins = true;
        let population = &epidemic.population;
        // Every person's parsed timeline kept: a decision reads from the
        // store only the events stored since the last (docs/simulation.md, Cost).
        config.timeline_cache_persons_max = population.len().max(1);
        let clock = Arc::new(ManualClock::new(instant(population.day_start(0))?));
        let node = Node::open_embedded(config, clock.clone()).map_err(node_error)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(node_error)?;
        let author = Author::operator();
        let mut venues = Vec::with_capacity(population.venues.len());
        for (index, venue) in population.venues.iter().enumerate() {
            let region = community_code_of(&population.county, population.venue_community[index]);
            node.register_venue(
                &author,
                Venue {
                    id: venue.id.clone(),
                    name: venue.name.clone(),
                    region: region.clone(),
                    category: venue.category.as_str().into(),
                    indoor: venue.indoor,
                    registered_by: "simulator".into(),
                    registered_at: clock.now_timestamp(),
                    operators: Vec::new(),
                    location: None,
                },
            )
            .map_err(node_error)?;
            venues.push((venue.id.clone(), region));
        }
        if let Some(document) = rules {
            ymt_node::publication::put_rules_into_force(&node, &author, &document)
                .map_err(|error| PolicyError::Rules(error.to_string()))?;
        }
        Ok(NodeInLoop {
            node,
            clock,
            runtime,
            principal: ymt_node::tracing_service::system_principal("simulator"),
            pids: (0..population.len()).map(placeholder_pid).collect(),
            venues,
            county: population.county.clone(),
            pending_tests: Vec::new(),
            _dir: dir,
        })
    }

    /// Moves the clock to `secs` and applies the transitions due by then.
    fn advance_to(&self, secs: i64) -> Result<(), PolicyError> {
        self.clock.set(instant(secs)?);
        self.node.apply_due_transitions().map_err(node_error)?;
        Ok(())
    }

    fn color(&self, person: usize) -> Color {
        self.node
            .projection
            .get(&self.pids[person])
            .map_or(Color::Green, |(slot, _)| slot.color())
    }

    /// Submits the day's scanned stays, then the results reported by the
    /// day's end (check-ins first, so tracing a positive finds them).
    /// Returns the events submitted and the persons with a positive PCR reported.
    fn submit_day(
        &mut self,
        day: u32,
        day_end: i64,
        stays: &[Stay],
        tests: Vec<SimTest>,
    ) -> Result<(u64, Vec<u32>), PolicyError> {
        self.clock.set(instant(day_end)?);
        let mut check_ins = Vec::new();
        let mut sequence_of_person: (u32, u32) = (u32::MAX, 0);
        for stay in stays.iter().filter(|stay| stay.scanned) {
            if sequence_of_person.0 != stay.person {
                sequence_of_person = (stay.person, 0);
            }
            sequence_of_person.1 += 1;
            let (venue, region) = &self.venues[stay.venue as usize];
            check_ins.push(Submission {
                id: format!("c{day}-{}-{}", stay.person, sequence_of_person.1)
                    .parse()
                    .map_err(node_error)?,
                subject: Subject::Pid {
                    pid: self.pids[stay.person as usize].clone(),
                },
                region: region.clone(),
                kind: ymt_core::event::EventKind::CheckIn,
                data: json!({"venue": venue, "entered_at": instant(stay.entered)?,
                             "left_at": instant(stay.left)?}),
            });
        }
        self.pending_tests
            .extend(tests.into_iter().map(|test| (test, day)));
        let (due, later): (Vec<_>, Vec<_>) = self
            .pending_tests
            .drain(..)
            .partition(|(test, _)| test.reported <= day_end);
        self.pending_tests = later;
        let mut results = Vec::new();
        let mut cases = Vec::new();
        for (test, taken_day) in due {
            let kind = match test.kind {
                TestKindSim::Pcr => "pcr",
                TestKindSim::Antigen => "antigen",
            };
            if test.positive && test.kind == TestKindSim::Pcr {
                cases.push(test.person);
            }
            results.push(Submission {
                id: format!("t{taken_day}-{}-{kind}", test.person)
                    .parse()
                    .map_err(node_error)?,
                subject: Subject::Pid {
                    pid: self.pids[test.person as usize].clone(),
                },
                region: self.county.clone(),
                kind: ymt_core::event::EventKind::TestResult,
                data: json!({"test": kind,
                             "result": if test.positive { "positive" } else { "negative" },
                             "sampled_at": instant(test.sampled)?,
                             "reported_at": instant(test.reported)?,
                             "lab": format!("lab-{}-01", self.county)}),
            });
        }
        let submitted = (check_ins.len() + results.len()) as u64;
        let batch_max = self.node.config.batch_events_max.max(1);
        for submissions in [check_ins, results] {
            let mut rest = submissions;
            while !rest.is_empty() {
                let tail = rest.split_off(rest.len().min(batch_max));
                let batch = std::mem::replace(&mut rest, tail);
                self.runtime
                    .block_on(self.node.ingest(&self.principal, batch))
                    .map_err(|error| PolicyError::Node(format!("day {day}: {error}")))?;
            }
        }
        Ok((submitted, cases))
    }
}

trait NowTimestamp {
    fn now_timestamp(&self) -> Timestamp;
}

impl NowTimestamp for ManualClock {
    fn now_timestamp(&self) -> Timestamp {
        ymt_node::Clock::now(self)
    }
}

/// What a traced run keeps beside its measures, for validation against
/// the ground truth.
pub struct RunTrace {
    pub epidemic: Epidemic,
    /// The sampling instant of each person's first positive PCR reported to the node.
    pub first_positive_pcr_sampled: Vec<Option<i64>>,
    /// Whether the node's automatic tracing designated the person a close
    /// contact (read from the node's store at the end).
    pub designated_close_contact: Vec<bool>,
}

/// Runs one policy with one seed. `on_day` is called after every day.
pub fn run_policy(
    config: &CityConfig,
    params: &EpidemicParams,
    policy: &Policy,
    on_day: &mut dyn FnMut(u32),
) -> Result<RunResult, PolicyError> {
    run_policy_traced(config, params, policy, on_day, false).map(|(result, _)| result)
}

/// [`run_policy`], also returning the ground truth and what the node
/// designated when `trace` is set (reads every person's timeline at the end:
/// for tests on small cities).
pub fn run_policy_traced(
    config: &CityConfig,
    params: &EpidemicParams,
    policy: &Policy,
    on_day: &mut dyn FnMut(u32),
    trace: bool,
) -> Result<(RunResult, Option<RunTrace>), PolicyError> {
    let mut phase_secs = PhaseSeconds::default();
    let mut phase_started = Instant::now();
    // Adds the time since the last call to one phase.
    let mut lap = |phase: &mut f64| {
        let now = Instant::now();
        *phase += now.duration_since(phase_started).as_secs_f64();
        phase_started = now;
    };
    let mut epidemic =
        Epidemic::new(config, params.clone()).map_err(|e| PolicyError::Config(e.to_string()))?;
    let rules = match policy {
        Policy::NoCodes => None,
        Policy::Candidate { document, .. } => Some(document.clone()),
        Policy::Escalation => Some(escalated_rule_set()),
        Policy::National | Policy::DistrictRed | Policy::IdCardAddress | Policy::Grid800m => None,
    };
    let mut node = match policy {
        Policy::NoCodes => None,
        _ => Some(NodeInLoop::open(&epidemic, rules)?),
    };
    let mut overlay = match policy {
        Policy::DistrictRed => Some(LegacyOverlay::new(
            LegacyKind::DistrictRed,
            &epidemic.population,
        )),
        Policy::IdCardAddress => Some(LegacyOverlay::new(
            LegacyKind::IdCardAddress,
            &epidemic.population,
        )),
        Policy::Grid800m => Some(LegacyOverlay::new(
            LegacyKind::Grid800m,
            &epidemic.population,
        )),
        _ => None,
    };
    let persons = epidemic.population.len();
    let days = config.days;
    let mut restrictions = vec![Restriction::None; persons];
    let mut restricted_since = vec![-1i32; persons];
    let mut restricted_days = vec![0u16; persons];
    let mut restricted_at: Vec<Option<i64>> = vec![None; persons];
    let mut daily_new_infections = Vec::with_capacity(days as usize);
    let mut daily_restricted = Vec::with_capacity(days as usize);
    let mut peak_node_load = 0u64;
    let mut first_positive_pcr_sampled: Vec<Option<i64>> = vec![None; persons];
    lap(&mut phase_secs.setup);
    for day in 0..days {
        let day_start = epidemic.population.day_start(day);
        if let Some(node) = &node {
            node.advance_to(day_start)?;
        }
        let mut restricted_count = 0u32;
        for person in 0..persons {
            let node_color = node
                .as_ref()
                .map_or(Color::Green, |node| node.color(person));
            let overlay_color = overlay.as_ref().map_or(Color::Green, |overlay| {
                overlay.color(day, &epidemic.population, person as u32)
            });
            let color = node_color.max(overlay_color);
            restrictions[person] = match color {
                Color::Green => Restriction::None,
                Color::Yellow => Restriction::OutdoorOnly,
                Color::Red => Restriction::StayHome,
            };
            if color == Color::Green {
                restricted_since[person] = -1;
                continue;
            }
            restricted_count += 1;
            restricted_days[person] = restricted_days[person].saturating_add(1);
            if restricted_since[person] < 0 {
                restricted_since[person] = day as i32;
            }
            if restricted_at[person].is_none()
                && epidemic.infections[person]
                    .is_some_and(|infection| infection.infected_at < day_start)
            {
                restricted_at[person] = Some(day_start);
            }
        }
        daily_restricted.push(restricted_count);
        lap(&mut phase_secs.node_colors);
        let infected_before = epidemic.infected_order.len();
        let outcome = epidemic.step_day(day, &restrictions, &restricted_since);
        lap(&mut phase_secs.epidemic);
        // Infected while already restricted: restricted from the start.
        for &person in &epidemic.infected_order[infected_before..] {
            if restrictions[person as usize] != Restriction::None
                && restricted_at[person as usize].is_none()
            {
                restricted_at[person as usize] =
                    epidemic.infections[person as usize].map(|infection| infection.infected_at);
            }
        }
        daily_new_infections.push(outcome.new_infections);
        if let Some(node) = &mut node {
            let stored_before = node
                .node
                .metrics
                .events_stored
                .load(std::sync::atomic::Ordering::Relaxed);
            for test in &outcome.tests {
                if test.positive && test.kind == TestKindSim::Pcr {
                    let first = &mut first_positive_pcr_sampled[test.person as usize];
                    // Reported before the run ends, or the node never saw it.
                    if first.is_none() && test.reported <= epidemic.population.day_start(days) {
                        *first = Some(test.sampled);
                    }
                }
            }
            let (_submitted, cases) =
                node.submit_day(day, day_start + DAY_SECS, &outcome.stays, outcome.tests)?;
            let stored = node
                .node
                .metrics
                .events_stored
                .load(std::sync::atomic::Ordering::Relaxed)
                - stored_before;
            // Load: events stored (submitted and derived by tracing) plus
            // one status read per stay (the code checked at the door).
            peak_node_load = peak_node_load.max(stored + outcome.stays.len() as u64);
            lap(&mut phase_secs.node_ingest);
            if let Some(overlay) = &mut overlay {
                let scanned: Vec<Stay> = outcome
                    .stays
                    .iter()
                    .filter(|stay| stay.scanned)
                    .copied()
                    .collect();
                overlay.end_of_day(day, &epidemic.population, &scanned, &cases);
                lap(&mut phase_secs.legacy_overlay);
            }
        }
        on_day(day);
    }
    let end = epidemic.population.day_start(days);
    let mut result = RunResult::measure(
        &epidemic,
        end,
        &restricted_at,
        &restricted_days,
        daily_new_infections,
        daily_restricted,
        peak_node_load,
    );
    result.phase_secs = phase_secs;
    if !trace {
        return Ok((result, None));
    }
    let mut designated_close_contact = vec![false; persons];
    if let Some(node) = &node {
        for (person, designated) in designated_close_contact.iter_mut().enumerate() {
            let records = node
                .node
                .person_records(&node.pids[person])
                .map_err(node_error)?;
            *designated = records.iter().any(|record| {
                matches!(&record.event.body, ymt_core::event::EventBody::ContactDesignation(designation)
                    if designation.contact == ymt_core::event::ContactKind::Close)
            });
        }
    }
    Ok((
        result,
        Some(RunTrace {
            epidemic,
            first_positive_pcr_sampled,
            designated_close_contact,
        }),
    ))
}
