//! The city: persons, venues, the story, and the two passes that turn
//! plans into events.

use std::collections::{BTreeMap, HashMap, HashSet};

use rand::{Rng, RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use ymt_core::event::{
    CheckIn, ContactDesignation, ContactKind, Override, Quarantine, QuarantineKind, Retraction,
    RiskExposure, RiskLevel, TestKind, TestOutcome, TestResult, Travel, Vaccination,
};
use ymt_core::identity::MaskedName;
use ymt_core::{Color, Event, EventBody, EventId, PersonId, RegionCode, Timestamp};

use crate::names::{TRAVEL_DESTINATIONS, county_name};
use crate::persons::{SimPerson, generate_persons};
use crate::plan::{
    Clock, DAY_SECS, HOUR_SECS, LABS, MINUTE_SECS, PersonPlan, PlannedCheckIn,
    TRAVEL_RECORDED_AFTER_SECS, VenueIndex, plan_person,
};
use crate::venues::{SimVenue, VenueCategory, community_code, generate_venues};
use crate::{CityConfig, SimError};

/// Random streams: one each for persons, venues and the story, and one per
/// person (from `PERSON_STREAM_BASE` on) for their routine.
const PERSONS_STREAM: u64 = 1;
const VENUES_STREAM: u64 = 2;
const STORY_STREAM: u64 = 3;
const PERSON_STREAM_BASE: u64 = 1 << 32;

/// How far back from the case's sampling venue stays count.
const LOOKBACK_SECS: i64 = 4 * DAY_SECS;
/// The shortest indoor overlap that makes a close contact.
const CLOSE_OVERLAP_SECS: i64 = 30 * MINUTE_SECS;
/// Close-contact quarantine: PCR on these days after the designation.
const QUARANTINE_TEST_DAYS: [i64; 5] = [1, 2, 3, 5, 7];
const CLOSE_QUARANTINE_DAYS: i64 = 7;

/// The roles of the notable persons of the story.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StoryRole {
    Case,
    CloseContact,
    SecondaryContact,
    Companion,
    HomeQuarantine,
    HighRiskExposure,
    AuthorityOverride,
    RetractedPositive,
    AntigenCleared,
    AntigenPending,
    ElderWithoutPhone,
}

/// A notable person of the story and the color they should show at the end
/// of the period.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StoryEntry {
    pub role: StoryRole,
    pub person: usize,
    pub pid: PersonId,
    pub masked_name: String,
    pub expected_color: Color,
    pub zh: String,
    pub en: String,
}

/// Everything about a generated city except its events.
#[derive(Clone, Debug)]
pub struct CityOutline {
    pub persons: Vec<SimPerson>,
    pub venues: Vec<SimVenue>,
    pub story: Vec<StoryEntry>,
    /// The instant at which the story's expected colors hold.
    pub end: Timestamp,
    pub events_total: u64,
    pub events_by_kind: BTreeMap<&'static str, u64>,
    pub close_contacts: usize,
    pub secondary_contacts: usize,
    pub companions: usize,
}

#[derive(Clone, Debug)]
pub struct City {
    pub persons: Vec<SimPerson>,
    pub venues: Vec<SimVenue>,
    /// Sorted by `recorded_at`, then by id.
    pub events: Vec<Event>,
    pub story: Vec<StoryEntry>,
    pub end: Timestamp,
    pub close_contacts: usize,
    pub secondary_contacts: usize,
    pub companions: usize,
}

impl City {
    /// The events in the order they became known (then by id).
    pub fn events_sorted(&self) -> &[Event] {
        &self.events
    }

    /// The notable persons and what happened to them.
    pub fn story(&self) -> &[StoryEntry] {
        &self.story
    }

    /// The story as text, one notable person a line, in Chinese then English.
    pub fn story_text(&self) -> String {
        story_text(&self.story)
    }

    /// The events of one person (by placeholder pseudonym).
    pub fn events_of<'a>(&'a self, pid: &'a PersonId) -> impl Iterator<Item = &'a Event> + 'a {
        self.events.iter().filter(move |event| &event.person == pid)
    }
}

/// The story as text: `pid  masked name  expected color  zh / en`, a line each.
pub fn story_text(story: &[StoryEntry]) -> String {
    story
        .iter()
        .map(|entry| {
            format!(
                "{}  {}  {} ({})  {} / {}\n",
                entry.pid,
                entry.masked_name,
                entry.expected_color.label_zh(),
                entry.expected_color,
                entry.zh,
                entry.en
            )
        })
        .collect()
}

/// Generates the whole city in memory. For millions of persons prefer
/// [`generate_events_streaming`], which holds no events.
pub fn generate_city(config: &CityConfig) -> Result<City, SimError> {
    let mut events = Vec::new();
    let outline = generate_events_streaming(config, |event| events.push(event))?;
    events.sort_by(|a, b| (a.recorded_at, &a.id).cmp(&(b.recorded_at, &b.id)));
    Ok(City {
        persons: outline.persons,
        venues: outline.venues,
        events,
        story: outline.story,
        end: outline.end,
        close_contacts: outline.close_contacts,
        secondary_contacts: outline.secondary_contacts,
        companions: outline.companions,
    })
}

fn instant(secs: i64) -> Timestamp {
    Timestamp::EPOCH.plus_secs(secs)
}

/// The principals that author events in the simulated county.
struct Authors {
    cdc: String,
    labs: Vec<String>,
    vaccination: String,
}

const VENUE_SCANNER: &str = "venue-scanner";
const ITINERARY: &str = "itinerary-card";
const AUTO_TRACE: &str = "auto-trace";

impl Authors {
    fn new(county: &RegionCode) -> Authors {
        let county = county.as_str();
        Authors {
            cdc: format!("cdc-{county}"),
            labs: (1..=LABS)
                .map(|lab| format!("lab-{county}-{lab:02}"))
                .collect(),
            vaccination: format!("vac-{county}-01"),
        }
    }

    fn lab(&self, number: u8) -> &str {
        &self.labs[usize::from(number.clamp(1, LABS)) - 1]
    }
}

/// Counts and forwards events.
struct Emitter<F: FnMut(Event)> {
    sink: F,
    total: u64,
    by_kind: BTreeMap<&'static str, u64>,
}

impl<F: FnMut(Event)> Emitter<F> {
    fn emit(
        &mut self,
        id: String,
        person: &PersonId,
        recorded: i64,
        author: &str,
        body: EventBody,
    ) {
        let event = Event {
            id: EventId::parse(&id).expect("generated event ids are well formed"),
            person: person.clone(),
            recorded_at: instant(recorded),
            author: author.to_owned(),
            body,
        };
        self.total += 1;
        *self.by_kind.entry(event.kind().as_str()).or_insert(0) += 1;
        (self.sink)(event);
    }
}

fn test_body(
    test: TestKind,
    result: TestOutcome,
    sampled: i64,
    reported: i64,
    lab: &str,
) -> EventBody {
    EventBody::TestResult(TestResult {
        test,
        result,
        sampled_at: instant(sampled),
        reported_at: instant(reported),
        lab: lab.to_owned(),
    })
}

/// A stay of the case inside the exposure window.
#[derive(Clone, Copy, Debug)]
struct Stay {
    venue: u32,
    from: i64,
    until: i64,
}

/// A person's exposure to the case at venues.
#[derive(Clone, Copy, Debug)]
struct Overlap {
    person: usize,
    venue: u32,
    start: i64,
    end: i64,
    last_exposure: i64,
    close: bool,
}

impl Overlap {
    fn secs(&self) -> i64 {
        self.end - self.start
    }
}

/// The strongest overlap of a plan with the case's stays: a close-making
/// one if any, else the longest.
fn best_overlap(
    person: usize,
    plan: &PersonPlan,
    case_stays: &[Stay],
    venues: &[SimVenue],
) -> Option<Overlap> {
    let mut best: Option<Overlap> = None;
    let mut last_exposure = i64::MIN;
    for check_in in &plan.check_ins {
        for stay in case_stays
            .iter()
            .filter(|stay| stay.venue == check_in.venue)
        {
            let start = check_in.entered.max(stay.from);
            let end = check_in.left_or_assumed().min(stay.until);
            if end <= start {
                continue;
            }
            last_exposure = last_exposure.max(end);
            let close = venues[stay.venue as usize].indoor && end - start >= CLOSE_OVERLAP_SECS;
            let candidate = Overlap {
                person,
                venue: stay.venue,
                start,
                end,
                last_exposure: end,
                close,
            };
            let better = match &best {
                None => true,
                Some(current) => {
                    (candidate.close, candidate.secs(), -candidate.start)
                        > (current.close, current.secs(), -current.start)
                }
            };
            if better {
                best = Some(candidate);
            }
        }
    }
    best.map(|overlap| Overlap {
        last_exposure,
        ..overlap
    })
}

/// What the story changes in one person's routine.
#[derive(Clone, Copy, Debug, Default)]
struct Restriction {
    /// No check-ins entered at or after this instant (isolation, quarantine).
    check_ins_before: Option<i64>,
    /// No routine tests sampled at or after this instant.
    tests_before: Option<i64>,
    /// The routine trip is replaced by the story's.
    no_routine_travel: bool,
}

fn restrict(restrictions: &mut HashMap<usize, Restriction>, person: usize, update: Restriction) {
    let entry = restrictions.entry(person).or_default();
    let earliest = |a: Option<i64>, b: Option<i64>| match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    entry.check_ins_before = earliest(entry.check_ins_before, update.check_ins_before);
    entry.tests_before = earliest(entry.tests_before, update.tests_before);
    entry.no_routine_travel |= update.no_routine_travel;
}

struct Designation {
    person: usize,
    kind: ContactKind,
    designated: i64,
    last_exposure: i64,
    source: usize,
    overlap: Option<Overlap>,
}

/// Picks a random person accepted by `accept` and not yet taken, falling back
/// to any person not taken.
fn pick<R: Rng + ?Sized>(
    rng: &mut R,
    persons: &[SimPerson],
    taken: &HashSet<usize>,
    accept: impl Fn(&SimPerson) -> bool,
) -> usize {
    for _ in 0..2_000 {
        let index = rng.random_range(0..persons.len());
        if !taken.contains(&index) && accept(&persons[index]) {
            return index;
        }
    }
    let start = rng.random_range(0..persons.len());
    let rotated = (start..persons.len()).chain(0..start);
    let free: Vec<usize> = rotated.filter(|index| !taken.contains(index)).collect();
    free.iter()
        .copied()
        .find(|index| accept(&persons[*index]))
        .or_else(|| free.first().copied())
        .expect("the story takes far fewer persons than PERSONS_MIN")
}

/// The index ranges of households (persons of one household are contiguous).
fn household_ranges(persons: &[SimPerson]) -> Vec<std::ops::Range<usize>> {
    let mut ranges: Vec<std::ops::Range<usize>> = Vec::new();
    for person in persons {
        match ranges.last_mut() {
            Some(range) if persons[range.start].household == person.household => {
                range.end = person.index + 1
            }
            _ => ranges.push(person.index..person.index + 1),
        }
    }
    ranges
}

fn masked(person: &SimPerson) -> String {
    MaskedName::mask(&person.display_name)
        .map(|name| name.as_str().to_owned())
        .unwrap_or_else(|_| "*".to_owned())
}

/// An instant as RFC 3339 in China Standard Time, as a resident reads it.
fn local_text(secs: i64) -> String {
    let offset = time::UtcOffset::from_hms(8, 0, 0).expect("+08:00 is an offset");
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|datetime| {
            datetime
                .to_offset(offset)
                .format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| instant(secs).to_rfc3339())
}

fn minutes_of(secs: i64) -> i64 {
    secs / MINUTE_SECS
}

/// Generates the city and passes every event to `sink`, person by person
/// (not in time order), then the story's designations. Memory stays
/// proportional to the persons, not the events.
pub fn generate_events_streaming(
    config: &CityConfig,
    sink: impl FnMut(Event),
) -> Result<CityOutline, SimError> {
    config.validate()?;
    let base_rng = ChaCha8Rng::seed_from_u64(config.seed);
    let stream = |number: u64| {
        let mut rng = base_rng.clone();
        rng.set_stream(number);
        rng
    };
    let clock = Clock::new(config.start.unix_secs(), config.days);
    let start_year = time::OffsetDateTime::from_unix_timestamp(clock.start)
        .map(|datetime| datetime.year())
        .map_err(|_| SimError::StartOutOfRange(config.start.to_string()))?;
    let persons = generate_persons(
        &mut stream(PERSONS_STREAM),
        &config.region,
        start_year,
        config.persons,
    )?;
    let venues = generate_venues(&mut stream(VENUES_STREAM), &config.region, config.venues);
    let venue_index = VenueIndex::new(&venues);
    let authors = Authors::new(&config.region);
    let households = household_ranges(&persons);
    let household_of = |person: usize| households[persons[person].household].clone();

    // ---- The story's cast and timeline -------------------------------------
    let mut story_rng = stream(STORY_STREAM);
    let rng = &mut story_rng;
    let mut taken: HashSet<usize> = HashSet::new();
    let case = pick(rng, &persons, &taken, |person| {
        person.is_adult() && person.phone && household_of(person.index).len() >= 2
    });
    let case_household: Vec<usize> = household_of(case).collect();
    taken.extend(case_household.iter().copied());
    let mut dinner_friends = Vec::new();
    for _ in 0..3 {
        let friend = pick(rng, &persons, &taken, |person| {
            person.is_adult() && person.phone && household_of(person.index).len() >= 2
        });
        taken.insert(friend);
        dinner_friends.push(friend);
    }
    let pick_role = |rng: &mut ChaCha8Rng, taken: &mut HashSet<usize>| {
        let person = pick(rng, &persons, taken, |person| {
            person.is_adult() && person.phone
        });
        taken.insert(person);
        person
    };
    let home_quarantined = pick_role(rng, &mut taken);
    let high_risk = pick_role(rng, &mut taken);
    let overridden = pick_role(rng, &mut taken);
    let retracted = pick_role(rng, &mut taken);
    let antigen_cleared = pick_role(rng, &mut taken);
    let antigen_pending = pick_role(rng, &mut taken);

    let case_day = clock.days().end - 4;
    let case_sampled = clock.at(
        case_day,
        9 * HOUR_SECS + rng.random_range(0..60) * MINUTE_SECS,
    );
    let case_reported = case_sampled + 11 * HOUR_SECS;
    let close_designated = case_reported + 4 * HOUR_SECS;
    let companion_designated = case_reported + 6 * HOUR_SECS;
    let secondary_designated = close_designated + 3 * HOUR_SECS;

    let restaurants: Vec<u32> = venues
        .iter()
        .enumerate()
        .filter(|(_, venue)| venue.category == VenueCategory::Restaurant)
        .map(|(index, _)| index as u32)
        .collect();
    let dinner_venue = if restaurants.is_empty() {
        venues.iter().position(|venue| venue.indoor).unwrap_or(0) as u32
    } else {
        restaurants[rng.random_range(0..restaurants.len())]
    };
    let dinner_start = clock.at(case_day - 2, 18 * HOUR_SECS + 30 * MINUTE_SECS);
    let mut extra_check_ins: HashMap<usize, Vec<PlannedCheckIn>> = HashMap::new();
    extra_check_ins.insert(
        case,
        vec![PlannedCheckIn {
            venue: dinner_venue,
            entered: dinner_start,
            left: Some(dinner_start + 130 * MINUTE_SECS),
        }],
    );
    for friend in &dinner_friends {
        let entered = dinner_start + rng.random_range(0..15) * MINUTE_SECS;
        let left = dinner_start + rng.random_range(105..135) * MINUTE_SECS;
        extra_check_ins.insert(
            *friend,
            vec![PlannedCheckIn {
                venue: dinner_venue,
                entered,
                left: Some(left),
            }],
        );
    }

    let plan_of = |index: usize| {
        let mut rng = stream(PERSON_STREAM_BASE + index as u64);
        let mut plan = plan_person(
            &mut rng,
            &persons[index],
            &venue_index,
            &clock,
            TRAVEL_DESTINATIONS.len(),
        );
        if let Some(extra) = extra_check_ins.get(&index) {
            plan.check_ins.extend(extra.iter().copied());
        }
        plan
    };

    // ---- Pass 1: who overlapped the case ----------------------------------
    let case_plan = plan_of(case);
    let window_start = case_sampled - LOOKBACK_SECS;
    let case_stays: Vec<Stay> = case_plan
        .check_ins
        .iter()
        .filter(|check_in| check_in.entered < case_reported)
        .map(|check_in| Stay {
            venue: check_in.venue,
            from: check_in.entered.max(window_start),
            until: check_in.left_or_assumed().min(case_reported),
        })
        .filter(|stay| stay.from < stay.until)
        .collect();
    let story_persons: HashSet<usize> = [
        home_quarantined,
        high_risk,
        overridden,
        retracted,
        antigen_cleared,
        antigen_pending,
    ]
    .into_iter()
    .collect();
    let mut overlaps: Vec<Overlap> = Vec::new();
    for person in 0..persons.len() {
        if case_household.contains(&person) || story_persons.contains(&person) {
            continue;
        }
        let plan = plan_of(person);
        if let Some(overlap) = best_overlap(person, &plan, &case_stays, &venues) {
            overlaps.push(overlap);
        }
    }

    // Tracing capacity is bounded: the strongest overlaps are designated.
    let close_max = (persons.len() / 50).clamp(5, 500);
    let companions_max = (persons.len() / 25).clamp(10, 5_000);
    let secondary_max = (persons.len() / 100).clamp(3, 1_000);
    let strongest_first =
        |a: &Overlap, b: &Overlap| (b.secs(), a.person).cmp(&(a.secs(), b.person));
    let (mut close_overlaps, mut companion_overlaps): (Vec<Overlap>, Vec<Overlap>) =
        overlaps.into_iter().partition(|overlap| overlap.close);
    close_overlaps.sort_by(strongest_first);
    companion_overlaps.sort_by(strongest_first);
    // Dinner friends are designated even if the cap would cut them.
    close_overlaps.sort_by_key(|overlap| !dinner_friends.contains(&overlap.person));
    close_overlaps.truncate(close_max);
    companion_overlaps.truncate(companions_max);

    let mut designations: Vec<Designation> = Vec::new();
    for member in case_household
        .iter()
        .copied()
        .filter(|member| *member != case)
    {
        designations.push(Designation {
            person: member,
            kind: ContactKind::Close,
            designated: close_designated,
            last_exposure: case_reported,
            source: case,
            overlap: None,
        });
    }
    for overlap in &close_overlaps {
        designations.push(Designation {
            person: overlap.person,
            kind: ContactKind::Close,
            designated: close_designated,
            last_exposure: overlap.last_exposure,
            source: case,
            overlap: Some(*overlap),
        });
    }
    let mut designated: HashSet<usize> = designations.iter().map(|d| d.person).collect();
    designated.insert(case);
    for overlap in &companion_overlaps {
        designations.push(Designation {
            person: overlap.person,
            kind: ContactKind::Companion,
            designated: companion_designated,
            last_exposure: overlap.last_exposure,
            source: case,
            overlap: Some(*overlap),
        });
        designated.insert(overlap.person);
    }
    let close_persons: Vec<usize> = designations
        .iter()
        .filter(|d| d.kind == ContactKind::Close)
        .map(|d| d.person)
        .collect();
    let mut secondary_count = 0usize;
    'close: for close in &close_persons {
        for member in household_of(*close) {
            if secondary_count >= secondary_max {
                break 'close;
            }
            if designated.contains(&member) || story_persons.contains(&member) {
                continue;
            }
            designations.push(Designation {
                person: member,
                kind: ContactKind::Secondary,
                designated: secondary_designated,
                last_exposure: close_designated,
                source: *close,
                overlap: None,
            });
            designated.insert(member);
            secondary_count += 1;
        }
    }

    let elder = persons
        .iter()
        .filter(|person| {
            !person.phone
                && person.age_years >= 65
                && person.guardian.is_some()
                && !designated.contains(&person.index)
                && !story_persons.contains(&person.index)
                && person.guardian.is_some_and(|guardian| {
                    !designated.contains(&guardian) && !story_persons.contains(&guardian)
                })
        })
        .map(|person| person.index)
        .next();

    // ---- Restrictions the story puts on routines ---------------------------
    let mut restrictions: HashMap<usize, Restriction> = HashMap::new();
    restrict(
        &mut restrictions,
        case,
        Restriction {
            check_ins_before: Some(case_reported),
            tests_before: Some(case_sampled - HOUR_SECS),
            no_routine_travel: true,
        },
    );
    for designation in &designations {
        let tests_before = match designation.kind {
            ContactKind::Close => Some(designation.designated),
            _ => None,
        };
        restrict(
            &mut restrictions,
            designation.person,
            Restriction {
                check_ins_before: match designation.kind {
                    ContactKind::Companion => None,
                    _ => Some(designation.designated),
                },
                tests_before,
                no_routine_travel: designation.kind != ContactKind::Companion,
            },
        );
    }
    let trip_arrived = clock.at(case_day - 5, 11 * HOUR_SECS);
    let trip_departed = clock.at(case_day + 1, 15 * HOUR_SECS);
    restrict(
        &mut restrictions,
        home_quarantined,
        Restriction {
            check_ins_before: Some(trip_arrived),
            tests_before: Some(trip_arrived),
            no_routine_travel: true,
        },
    );
    let antigen_pending_sampled = clock.end - 5 * HOUR_SECS;
    restrict(
        &mut restrictions,
        antigen_pending,
        Restriction {
            check_ins_before: Some(antigen_pending_sampled),
            tests_before: Some(antigen_pending_sampled),
            no_routine_travel: false,
        },
    );

    // ---- Pass 2: emit every person's routine -------------------------------
    let mut emitter = Emitter {
        sink,
        total: 0,
        by_kind: BTreeMap::new(),
    };
    let companion_exposure: HashMap<usize, i64> = designations
        .iter()
        .filter(|d| d.kind == ContactKind::Companion)
        .map(|d| (d.person, d.last_exposure))
        .collect();
    let mut companion_cleared: HashMap<usize, bool> = HashMap::new();
    for person in &persons {
        let plan = plan_of(person.index);
        let restriction = restrictions.get(&person.index).copied().unwrap_or_default();
        emit_routine(&mut emitter, &authors, person, &plan, &venues, &restriction);
        if let Some(last_exposure) = companion_exposure.get(&person.index) {
            let samples: Vec<i64> = plan
                .tests
                .iter()
                .filter(|test| test.test == TestKind::Pcr && test.sampled >= *last_exposure)
                .filter(|test| {
                    restriction
                        .tests_before
                        .is_none_or(|before| test.sampled < before)
                })
                .map(|test| test.sampled)
                .collect();
            let cleared = samples
                .iter()
                .any(|first| samples.iter().any(|second| *second >= first + DAY_SECS));
            companion_cleared.insert(person.index, cleared);
        }
    }

    // ---- The story's own events --------------------------------------------
    let cdc = authors.cdc.as_str();
    let case_pid = &persons[case].pid;
    let case_lab = authors.lab(2);
    emitter.emit(
        format!("{case_lab}:case-{case}"),
        case_pid,
        case_reported,
        case_lab,
        test_body(
            TestKind::Pcr,
            TestOutcome::Positive,
            case_sampled,
            case_reported,
            case_lab,
        ),
    );
    let mut quarantine_rng = stream(STORY_STREAM + 1);
    let mut close_rank = 0usize;
    for designation in &designations {
        let person = &persons[designation.person];
        let source = &persons[designation.source];
        let (author, prefix, rule, reason) = match (designation.kind, &designation.overlap) {
            (ContactKind::Close, Some(overlap)) => (
                cdc,
                "close",
                None,
                format!(
                    "在{}与病例同时停留{}分钟（室内）",
                    venues[overlap.venue as usize].name,
                    minutes_of(overlap.secs())
                ),
            ),
            (ContactKind::Close, None) => (cdc, "close", None, "病例的同住人员".to_owned()),
            (ContactKind::Companion, Some(overlap)) => (
                AUTO_TRACE,
                "companion",
                Some("venue-overlap".to_owned()),
                format!(
                    "在{}与病例停留时间重叠{}分钟",
                    venues[overlap.venue as usize].name,
                    minutes_of(overlap.secs())
                ),
            ),
            (ContactKind::Companion, None) => (
                AUTO_TRACE,
                "companion",
                Some("venue-overlap".to_owned()),
                "与病例停留时间重叠".to_owned(),
            ),
            (ContactKind::Secondary, _) => (
                cdc,
                "secondary",
                None,
                format!("密切接触者{}的同住人员", masked(source)),
            ),
        };
        emitter.emit(
            format!("{author}:{prefix}-{}", person.index),
            &person.pid,
            designation.designated,
            author,
            EventBody::ContactDesignation(ContactDesignation {
                contact: designation.kind,
                source_case: Some(source.pid.clone()),
                designated_at: instant(designation.designated),
                last_exposure_at: instant(designation.last_exposure),
                venue: designation
                    .overlap
                    .map(|overlap| venues[overlap.venue as usize].id.clone()),
                overlap_start: designation.overlap.map(|overlap| instant(overlap.start)),
                overlap_end: designation.overlap.map(|overlap| instant(overlap.end)),
                rule,
                reason,
            }),
        );
        if designation.kind != ContactKind::Close {
            continue;
        }
        let quarantine_start = designation.designated + 2 * HOUR_SECS;
        emitter.emit(
            format!("{cdc}:quarantine-{}", person.index),
            &person.pid,
            quarantine_start,
            cdc,
            EventBody::Quarantine(Quarantine {
                quarantine: QuarantineKind::Centralised,
                start: instant(quarantine_start),
                end: instant(designation.designated + CLOSE_QUARANTINE_DAYS * DAY_SECS),
                reason: "密切接触者集中隔离医学观察".to_owned(),
            }),
        );
        close_rank += 1;
        // Every fifth close contact's quarantine tests are missing.
        if close_rank.is_multiple_of(5) {
            continue;
        }
        let lab = authors.lab(quarantine_rng.random_range(1..=LABS));
        for day in QUARANTINE_TEST_DAYS {
            let sampled = designation.designated
                + (day - 1) * DAY_SECS
                + 9 * HOUR_SECS
                + quarantine_rng.random_range(0..120) * MINUTE_SECS;
            let reported = sampled + 8 * HOUR_SECS;
            if reported > clock.end {
                break;
            }
            emitter.emit(
                format!("{lab}:q{}-{day}", person.index),
                &person.pid,
                reported,
                lab,
                test_body(TestKind::Pcr, TestOutcome::Negative, sampled, reported, lab),
            );
        }
    }

    // Home quarantine after a trip.
    let traveller = &persons[home_quarantined];
    let (destination_code, destination_name) = ("310115", "上海市浦东新区");
    emitter.emit(
        format!("{ITINERARY}:story-{home_quarantined}"),
        &traveller.pid,
        trip_departed + 3 * HOUR_SECS,
        ITINERARY,
        EventBody::Travel(Travel {
            region: RegionCode::parse(destination_code).expect("a county code"),
            arrived_at: instant(trip_arrived),
            departed_at: Some(instant(trip_departed)),
        }),
    );
    let home_start = trip_departed + 5 * HOUR_SECS;
    emitter.emit(
        format!("{cdc}:home-{home_quarantined}"),
        &traveller.pid,
        home_start,
        cdc,
        EventBody::Quarantine(Quarantine {
            quarantine: QuarantineKind::Home,
            start: instant(home_start),
            end: instant(home_start + 7 * DAY_SECS),
            reason: format!("自{destination_name}返回，居家隔离7天"),
        }),
    );

    // A stay in a high-risk community.
    let high_risk_area = community_code(&config.region, 9, 1);
    let stay_start = clock.at(case_day - 1, 9 * HOUR_SECS);
    let stay_end = stay_start + 8 * HOUR_SECS;
    emitter.emit(
        format!("{cdc}:risk-{high_risk}"),
        &persons[high_risk].pid,
        stay_end + 6 * HOUR_SECS,
        cdc,
        EventBody::RiskExposure(RiskExposure {
            area: high_risk_area.clone(),
            level: RiskLevel::High,
            stay_start: instant(stay_start),
            stay_end: instant(stay_end),
            designated_from: instant(clock.at(case_day - 3, 0)),
            designated_until: instant(clock.end + 3 * DAY_SECS),
            designation: None,
        }),
    );

    // An authority's yellow override.
    let override_from = clock.at(case_day + 1, 10 * HOUR_SECS);
    let override_reason = format!(
        "社区排查：与入境人员同乘航班，居家健康监测期间赋黄码（{}疾控值班室）",
        county_name(config.region.as_str())
    );
    emitter.emit(
        format!("{cdc}:override-{overridden}"),
        &persons[overridden].pid,
        override_from,
        cdc,
        EventBody::Override(Override {
            color: Color::Yellow,
            reason: override_reason.clone(),
            from: instant(override_from),
            until: instant(override_from + 7 * DAY_SECS),
        }),
    );

    // A positive entered against the wrong person, then retracted.
    let wrong_lab = authors.lab(3);
    let wrong_sampled = clock.at(case_day - 2, 10 * HOUR_SECS);
    let wrong_reported = wrong_sampled + 12 * HOUR_SECS;
    let retraction_at = wrong_reported + 90 * MINUTE_SECS;
    let wrong_id = format!("{wrong_lab}:wrong-{retracted}");
    let retracted_pid = &persons[retracted].pid;
    emitter.emit(
        wrong_id.clone(),
        retracted_pid,
        wrong_reported,
        wrong_lab,
        test_body(
            TestKind::Pcr,
            TestOutcome::Positive,
            wrong_sampled,
            wrong_reported,
            wrong_lab,
        ),
    );
    emitter.emit(
        format!("{wrong_lab}:retract-{retracted}"),
        retracted_pid,
        retraction_at,
        wrong_lab,
        EventBody::Retraction(Retraction {
            target: EventId::parse(&wrong_id).expect("a generated id"),
            reason: "录入错误：样本编号与受检者不符，实际结果为阴性".to_owned(),
        }),
    );
    emitter.emit(
        format!("{wrong_lab}:corrected-{retracted}"),
        retracted_pid,
        retraction_at,
        wrong_lab,
        test_body(
            TestKind::Pcr,
            TestOutcome::Negative,
            wrong_sampled,
            retraction_at,
            wrong_lab,
        ),
    );

    // Antigen positives: one cleared by PCR, one still waiting.
    let antigen_lab = authors.lab(4);
    let antigen_sampled = clock.at(case_day, 8 * HOUR_SECS);
    let cleared_pid = &persons[antigen_cleared].pid;
    emitter.emit(
        format!("{antigen_lab}:ag-{antigen_cleared}"),
        cleared_pid,
        antigen_sampled + 20 * MINUTE_SECS,
        antigen_lab,
        test_body(
            TestKind::Antigen,
            TestOutcome::Positive,
            antigen_sampled,
            antigen_sampled + 20 * MINUTE_SECS,
            antigen_lab,
        ),
    );
    let pcr_sampled = antigen_sampled + 2 * HOUR_SECS;
    emitter.emit(
        format!("{antigen_lab}:agpcr-{antigen_cleared}"),
        cleared_pid,
        pcr_sampled + 10 * HOUR_SECS,
        antigen_lab,
        test_body(
            TestKind::Pcr,
            TestOutcome::Negative,
            pcr_sampled,
            pcr_sampled + 10 * HOUR_SECS,
            antigen_lab,
        ),
    );
    emitter.emit(
        format!("{antigen_lab}:ag-{antigen_pending}"),
        &persons[antigen_pending].pid,
        antigen_pending_sampled + 30 * MINUTE_SECS,
        antigen_lab,
        test_body(
            TestKind::Antigen,
            TestOutcome::Positive,
            antigen_pending_sampled,
            antigen_pending_sampled + 30 * MINUTE_SECS,
            antigen_lab,
        ),
    );

    // ---- The story, told ---------------------------------------------------
    let entry = |role: StoryRole, person: usize, color: Color, zh: String, en: String| StoryEntry {
        role,
        person,
        pid: persons[person].pid.clone(),
        masked_name: masked(&persons[person]),
        expected_color: color,
        zh,
        en,
    };
    let at = local_text;
    let mut story = vec![entry(
        StoryRole::Case,
        case,
        Color::Red,
        format!(
            "病例：{} 采样的核酸检测阳性，{} 报告；隔离治疗中。",
            at(case_sampled),
            at(case_reported)
        ),
        format!(
            "The case: PCR positive, sampled {}, reported {}; in isolation.",
            at(case_sampled),
            at(case_reported)
        ),
    )];
    // One of each kind of close contact: a housemate, a dinner friend, and
    // someone who only shared a venue by chance.
    let close_designations: Vec<&Designation> = designations
        .iter()
        .filter(|d| d.kind == ContactKind::Close)
        .collect();
    let housemate = close_designations.iter().find(|d| d.overlap.is_none());
    let friend = close_designations
        .iter()
        .find(|d| dinner_friends.contains(&d.person));
    let stranger = close_designations
        .iter()
        .find(|d| d.overlap.is_some() && !dinner_friends.contains(&d.person));
    let close_examples: Vec<&Designation> = housemate
        .into_iter()
        .chain(friend)
        .chain(stranger)
        .copied()
        .collect();
    for designation in close_examples {
        let how_zh = match &designation.overlap {
            Some(overlap) => format!(
                "在{}与病例同时停留{}分钟",
                venues[overlap.venue as usize].name,
                minutes_of(overlap.secs())
            ),
            None => "病例的同住人员".to_owned(),
        };
        let how_en = match &designation.overlap {
            Some(overlap) => format!(
                "shared {} for {} min with the case",
                venues[overlap.venue as usize].id,
                minutes_of(overlap.secs())
            ),
            None => "lives with the case".to_owned(),
        };
        story.push(entry(
            StoryRole::CloseContact,
            designation.person,
            Color::Red,
            format!("密切接触者：{how_zh}；集中隔离7天。"),
            format!("Close contact: {how_en}; 7 days of centralised quarantine."),
        ));
    }
    for designation in designations
        .iter()
        .filter(|d| d.kind == ContactKind::Secondary)
        .take(2)
    {
        story.push(entry(
            StoryRole::SecondaryContact,
            designation.person,
            Color::Yellow,
            format!(
                "密接的密接：与密切接触者{}同住；居家隔离7天。",
                masked(&persons[designation.source])
            ),
            format!(
                "Contact of a close contact: lives with {}; 7 days of home quarantine.",
                persons[designation.source].pid
            ),
        ));
    }
    let companion_examples: Vec<&Designation> = {
        let companions: Vec<&Designation> = designations
            .iter()
            .filter(|d| d.kind == ContactKind::Companion)
            .collect();
        let yellow = companions
            .iter()
            .find(|d| !companion_cleared.get(&d.person).copied().unwrap_or(false));
        let green = companions
            .iter()
            .find(|d| companion_cleared.get(&d.person).copied().unwrap_or(false));
        yellow.into_iter().chain(green).copied().collect()
    };
    for designation in companion_examples {
        let cleared = companion_cleared
            .get(&designation.person)
            .copied()
            .unwrap_or(false);
        let (color, zh_tail, en_tail) = if cleared {
            (
                Color::Green,
                "之后两次核酸阴性，已转绿码。",
                "two negative PCR tests since, green again.",
            )
        } else {
            (
                Color::Yellow,
                "待两次核酸阴性（间隔24小时）。",
                "awaiting two negative PCR tests 24 h apart.",
            )
        };
        story.push(entry(
            StoryRole::Companion,
            designation.person,
            color,
            format!("时空伴随者：与病例在同一场所停留时间重叠；{zh_tail}"),
            format!("Companion: a venue stay overlapped the case's; {en_tail}"),
        ));
    }
    story.push(entry(
        StoryRole::HomeQuarantine,
        home_quarantined,
        Color::Yellow,
        format!(
            "自{destination_name}返回，居家隔离7天（{} 起）。",
            at(home_start)
        ),
        format!(
            "Back from {destination_code} (Shanghai Pudong): 7 days of home quarantine from {}.",
            at(home_start)
        ),
    ));
    story.push(entry(
        StoryRole::HighRiskExposure,
        high_risk,
        Color::Yellow,
        format!(
            "曾在高风险社区 {high_risk_area} 停留（{} 至 {}）。",
            at(stay_start),
            at(stay_end)
        ),
        format!(
            "Stayed in high-risk community {high_risk_area} from {} to {}.",
            at(stay_start),
            at(stay_end)
        ),
    ));
    story.push(entry(
        StoryRole::AuthorityOverride,
        overridden,
        Color::Yellow,
        format!("卫生健康部门人工赋黄码，理由：{override_reason}"),
        "A health authority set the code to yellow, with a stated reason (flight shared with an arrival from abroad).".to_owned(),
    ));
    story.push(entry(
        StoryRole::RetractedPositive,
        retracted,
        Color::Green,
        format!(
            "实验室误录阳性（{}），{} 撤回并更正为阴性；红码约90分钟后恢复绿码。",
            at(wrong_reported),
            at(retraction_at)
        ),
        format!(
            "A lab entered a wrong positive at {} and retracted it at {}; red for 90 minutes, green again.",
            at(wrong_reported),
            at(retraction_at)
        ),
    ));
    story.push(entry(
        StoryRole::AntigenCleared,
        antigen_cleared,
        Color::Green,
        "抗原自测阳性，随后核酸阴性，已转绿码。".to_owned(),
        "Antigen positive, then a negative PCR: green.".to_owned(),
    ));
    story.push(entry(
        StoryRole::AntigenPending,
        antigen_pending,
        Color::Yellow,
        "抗原检测阳性，待核酸复核。".to_owned(),
        "Antigen positive, awaiting a PCR check.".to_owned(),
    ));
    if let Some(elder) = elder {
        let guardian = persons[elder].guardian.expect("filtered on a guardian");
        story.push(entry(
            StoryRole::ElderWithoutPhone,
            elder,
            Color::Green,
            format!(
                "{}岁老人，无智能手机：凭身份证核验，或由监护人{}代为出示。",
                persons[elder].age_years,
                masked(&persons[guardian])
            ),
            format!(
                "Aged {}, no smartphone: verified by ID card, or shown by guardian {}.",
                persons[elder].age_years, persons[guardian].pid
            ),
        ));
    }

    let count = |kind: ContactKind| designations.iter().filter(|d| d.kind == kind).count();
    Ok(CityOutline {
        close_contacts: count(ContactKind::Close),
        secondary_contacts: count(ContactKind::Secondary),
        companions: count(ContactKind::Companion),
        story,
        end: instant(clock.end),
        events_total: emitter.total,
        events_by_kind: emitter.by_kind,
        persons,
        venues,
    })
}

/// Emits one person's routine events, as restricted by the story.
fn emit_routine<F: FnMut(Event)>(
    emitter: &mut Emitter<F>,
    authors: &Authors,
    person: &SimPerson,
    plan: &PersonPlan,
    venues: &[SimVenue],
    restriction: &Restriction,
) {
    let index = person.index;
    for vaccination in &plan.vaccinations {
        emitter.emit(
            format!("{}:v{index}-{}", authors.vaccination, vaccination.dose),
            &person.pid,
            vaccination.recorded,
            &authors.vaccination,
            EventBody::Vaccination(Vaccination {
                product: vaccination.product.to_owned(),
                dose: vaccination.dose,
                administered_at: instant(vaccination.administered),
            }),
        );
    }
    if let (Some(trip), false) = (plan.travel, restriction.no_routine_travel) {
        let (code, _) = TRAVEL_DESTINATIONS[trip.destination];
        emitter.emit(
            format!("{ITINERARY}:t{index}"),
            &person.pid,
            trip.departed + TRAVEL_RECORDED_AFTER_SECS,
            ITINERARY,
            EventBody::Travel(Travel {
                region: RegionCode::parse(code).expect("a county code"),
                arrived_at: instant(trip.arrived),
                departed_at: Some(instant(trip.departed)),
            }),
        );
    }
    for (number, check_in) in plan.check_ins.iter().enumerate() {
        if restriction
            .check_ins_before
            .is_some_and(|before| check_in.entered >= before)
        {
            continue;
        }
        emitter.emit(
            format!("{VENUE_SCANNER}:c{index}-{number}"),
            &person.pid,
            check_in.recorded(),
            VENUE_SCANNER,
            EventBody::CheckIn(CheckIn {
                venue: venues[check_in.venue as usize].id.clone(),
                entered_at: instant(check_in.entered),
                left_at: check_in.left.map(instant),
            }),
        );
    }
    for test in &plan.tests {
        if restriction
            .tests_before
            .is_some_and(|before| test.sampled >= before)
        {
            continue;
        }
        let lab = authors.lab(test.lab);
        emitter.emit(
            format!("{lab}:s{index}-{}", test.sequence),
            &person.pid,
            test.reported,
            lab,
            test_body(
                test.test,
                TestOutcome::Negative,
                test.sampled,
                test.reported,
                lab,
            ),
        );
    }
}
