//! One person's routine: the plain-data plan of their check-ins, routine
//! tests, vaccinations and trips, before it becomes events.
//!
//! A plan is made from the person's own random stream, so it can be made
//! again, identically, without keeping it: the generator makes every plan
//! twice (once to find who overlapped the case, once to emit events) instead
//! of holding a million timelines in memory.

use rand::{Rng, RngExt};
use ymt_core::event::{CHECK_IN_DEFAULT_STAY_SECS, TestKind};

use crate::persons::SimPerson;
use crate::venues::{SimVenue, VenueCategory};

pub(crate) const HOUR_SECS: i64 = 3600;
pub(crate) const DAY_SECS: i64 = 24 * HOUR_SECS;
pub(crate) const MINUTE_SECS: i64 = 60;

/// China Standard Time, UTC+8, in which days and opening hours are reckoned.
const LOCAL_OFFSET_SECS: i64 = 8 * HOUR_SECS;

/// How long after the return a trip is recorded (from the itinerary card).
pub(crate) const TRAVEL_RECORDED_AFTER_SECS: i64 = HOUR_SECS;

/// Number of labs per simulated county (`lab-<county>-01` …).
pub(crate) const LABS: u8 = 5;

/// Vaccine products, as recorded.
pub(crate) const PRODUCTS: &[&str] =
    &["北京生物 BBIBP-CorV", "科兴 CoronaVac", "智飞龙科马 ZF2001"];

/// Local calendar arithmetic over the simulated period.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Clock {
    pub start: i64,
    pub end: i64,
    /// The UTC instant of local midnight on the start's local day.
    first_midnight: i64,
}

impl Clock {
    pub fn new(start: i64, days: u32) -> Clock {
        let local = start + LOCAL_OFFSET_SECS;
        let first_midnight = local - local.rem_euclid(DAY_SECS) - LOCAL_OFFSET_SECS;
        Clock {
            start,
            end: start + i64::from(days) * DAY_SECS,
            first_midnight,
        }
    }

    /// The instant of a local time of day on a local day (day 0 is the
    /// start's local day).
    pub fn at(&self, day: i64, local_secs: i64) -> i64 {
        self.first_midnight + day * DAY_SECS + local_secs
    }

    /// Days of the week from Monday (0) to Sunday (6).
    pub(crate) fn weekday(&self, day: i64) -> i64 {
        // 1970-01-01 was a Thursday (3).
        (((self.first_midnight + LOCAL_OFFSET_SECS) / DAY_SECS + day) + 3).rem_euclid(7)
    }

    /// The local days that overlap the period.
    pub fn days(&self) -> std::ops::Range<i64> {
        0..((self.end - self.first_midnight) / DAY_SECS + 1)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PlannedCheckIn {
    pub venue: u32,
    pub entered: i64,
    pub left: Option<i64>,
}

impl PlannedCheckIn {
    /// The departure the facts will see: recorded, or assumed.
    pub fn left_or_assumed(&self) -> i64 {
        self.left
            .unwrap_or(self.entered + CHECK_IN_DEFAULT_STAY_SECS)
    }

    pub fn recorded(&self) -> i64 {
        self.left.unwrap_or(self.entered)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PlannedTest {
    pub test: TestKind,
    /// 1-based lab number.
    pub lab: u8,
    pub sampled: i64,
    pub reported: i64,
    /// Numbers the person's tests, for event ids.
    pub sequence: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PlannedVaccination {
    pub product: &'static str,
    pub dose: u8,
    pub administered: i64,
    pub recorded: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PlannedTravel {
    pub destination: usize,
    pub arrived: i64,
    pub departed: i64,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct PersonPlan {
    pub check_ins: Vec<PlannedCheckIn>,
    pub tests: Vec<PlannedTest>,
    pub vaccinations: Vec<PlannedVaccination>,
    pub travel: Option<PlannedTravel>,
}

/// What the planner needs to know about the venues.
pub(crate) struct VenueIndex<'a> {
    pub venues: &'a [SimVenue],
    pub workplaces: Vec<u32>,
    pub schools: Vec<u32>,
}

impl<'a> VenueIndex<'a> {
    pub fn new(venues: &'a [SimVenue]) -> VenueIndex<'a> {
        let of = |wanted: &[VenueCategory]| -> Vec<u32> {
            venues
                .iter()
                .enumerate()
                .filter(|(_, venue)| wanted.contains(&venue.category))
                .map(|(index, _)| index as u32)
                .collect()
        };
        VenueIndex {
            venues,
            workplaces: of(&[VenueCategory::Office, VenueCategory::Hospital]),
            schools: of(&[VenueCategory::School]),
        }
    }

    /// A venue index skewed towards low indexes: a few venues are popular,
    /// most are quiet.
    pub(crate) fn popular<R: Rng + ?Sized>(&self, rng: &mut R) -> u32 {
        let uniform: f64 = rng.random();
        // u^2.5, spelled with operations IEEE 754 rounds exactly (unlike
        // `powf`), so every platform picks the same venue.
        let skewed = uniform * uniform * uniform.sqrt();
        let index = (skewed * self.venues.len() as f64) as usize;
        index.min(self.venues.len() - 1) as u32
    }

    pub(crate) fn skewed_from<R: Rng + ?Sized>(rng: &mut R, pool: &[u32]) -> Option<u32> {
        if pool.is_empty() {
            return None;
        }
        let uniform: f64 = rng.random();
        let index = (uniform * uniform * pool.len() as f64) as usize;
        Some(pool[index.min(pool.len() - 1)])
    }
}

fn minutes<R: Rng + ?Sized>(rng: &mut R, range: (i64, i64)) -> i64 {
    rng.random_range(range.0..=range.1) * MINUTE_SECS
}

/// Plans one person's routine over the period. Everything drawn comes from
/// `rng`, the person's own stream, so the same person always gets the same plan.
pub(crate) fn plan_person<R: Rng + ?Sized>(
    rng: &mut R,
    person: &SimPerson,
    venues: &VenueIndex<'_>,
    clock: &Clock,
    travel_destinations: usize,
) -> PersonPlan {
    let mut plan = PersonPlan::default();
    let age = person.age_years;

    // Habits first, so that every later draw is independent of them.
    let favourites: [u32; 3] = [
        venues.popular(rng),
        venues.popular(rng),
        venues.popular(rng),
    ];
    let workplace = if (18..65).contains(&age) && rng.random_ratio(7, 10) {
        VenueIndex::skewed_from(rng, &venues.workplaces)
    } else if (6..18).contains(&age) {
        VenueIndex::skewed_from(rng, &venues.schools)
    } else {
        None
    };
    let outings_percent: u32 = match age {
        0..6 => 20,
        6..18 => 35,
        18..65 => 55,
        _ => 30,
    };

    plan_vaccinations(rng, age, clock, &mut plan);

    if rng.random_ratio(3, 100) && travel_destinations > 0 {
        let last_day = clock.days().end - 3;
        if last_day > 1 {
            let day = rng.random_range(1..last_day);
            let arrived = clock.at(day, rng.random_range(10 * HOUR_SECS..16 * HOUR_SECS));
            let departed = clock.at(
                day + rng.random_range(1..=3),
                rng.random_range(14 * HOUR_SECS..20 * HOUR_SECS),
            );
            let destination = rng.random_range(0..travel_destinations);
            // A trip becomes known on return; one still under way at the end
            // is not known yet.
            if departed + TRAVEL_RECORDED_AFTER_SECS <= clock.end {
                plan.travel = Some(PlannedTravel {
                    destination,
                    arrived,
                    departed,
                });
            }
        }
    }

    for day in clock.days() {
        let away = plan.travel.is_some_and(|trip| {
            clock.at(day + 1, 0) > trip.arrived && clock.at(day, 0) < trip.departed
        });
        // Draw the day's numbers even when away, so a trip does not shift
        // the rest of the plan.
        let commute_minute = rng.random_range(0..105);
        let outings = if rng.random_ratio(outings_percent, 100) {
            rng.random_range(1..=2)
        } else {
            0
        };
        if away {
            continue;
        }
        let mut clock_secs = 9 * HOUR_SECS + rng.random_range(0..180) * MINUTE_SECS;
        let workday = clock.weekday(day) < 5;
        if let (Some(workplace), true) = (workplace, workday) {
            let entered_local = 8 * HOUR_SECS + commute_minute * MINUTE_SECS;
            let stay = minutes(rng, venues.venues[workplace as usize].category.stay_mins());
            push_check_in(rng, &mut plan, clock, day, workplace, entered_local, stay);
            clock_secs = entered_local + stay + rng.random_range(10..60) * MINUTE_SECS;
        }
        for _ in 0..outings {
            if clock_secs > 21 * HOUR_SECS {
                break;
            }
            let venue = if rng.random_ratio(7, 10) {
                favourites[rng.random_range(0..favourites.len())]
            } else {
                venues.popular(rng)
            };
            let stay =
                minutes(rng, venues.venues[venue as usize].category.stay_mins()).min(3 * HOUR_SECS);
            push_check_in(rng, &mut plan, clock, day, venue, clock_secs, stay);
            clock_secs += stay + rng.random_range(15..120) * MINUTE_SECS;
        }
    }

    plan_tests(rng, age, clock, &mut plan);
    plan
}

fn push_check_in<R: Rng + ?Sized>(
    rng: &mut R,
    plan: &mut PersonPlan,
    clock: &Clock,
    day: i64,
    venue: u32,
    entered_local: i64,
    stay_secs: i64,
) {
    let entered = clock.at(day, entered_local);
    // About one stay in twelve has no recorded departure.
    let left = (!rng.random_ratio(1, 12)).then_some(entered + stay_secs);
    let check_in = PlannedCheckIn {
        venue,
        entered,
        left,
    };
    if entered >= clock.start && check_in.recorded() <= clock.end {
        plan.check_ins.push(check_in);
    }
}

fn plan_vaccinations<R: Rng + ?Sized>(rng: &mut R, age: u32, clock: &Clock, plan: &mut PersonPlan) {
    let vaccinated_percent = match age {
        0..3 => 0,
        3..18 => 80,
        18..65 => 92,
        _ => 75,
    };
    let vaccinated = rng.random_ratio(vaccinated_percent, 100);
    let product = PRODUCTS[rng.random_range(0..PRODUCTS.len())];
    let booster_product = PRODUCTS[rng.random_range(0..PRODUCTS.len())];
    let first = clock.start - rng.random_range(400..600) * DAY_SECS
        + rng.random_range(8 * HOUR_SECS..17 * HOUR_SECS);
    let second = first + rng.random_range(21..56) * DAY_SECS;
    let third = second + rng.random_range(180..270) * DAY_SECS;
    let doses = if !vaccinated {
        0
    } else if rng.random_ratio(5, 100) {
        1
    } else if rng.random_ratio(7, 10) && third < clock.start - DAY_SECS {
        3
    } else {
        2
    };
    for (dose, administered) in [first, second, third].into_iter().enumerate().take(doses) {
        plan.vaccinations.push(PlannedVaccination {
            product: if dose == 2 { booster_product } else { product },
            dose: dose as u8 + 1,
            administered,
            recorded: administered + rng.random_range(0..HOUR_SECS),
        });
    }
}

/// Routine testing (常态化核酸): most persons every two or three days, plus
/// the odd antigen self-test.
fn plan_tests<R: Rng + ?Sized>(rng: &mut R, age: u32, clock: &Clock, plan: &mut PersonPlan) {
    let routine_percent = match age {
        0..6 => 30,
        6..18 => 60,
        18..65 => 85,
        _ => 60,
    };
    let mut sequence = 0u32;
    if rng.random_ratio(routine_percent, 100) {
        let interval_days = rng.random_range(2..=3i64);
        let mut day = rng.random_range(0..interval_days);
        while clock.days().contains(&day) {
            let sampled = clock.at(day, rng.random_range(7 * HOUR_SECS..21 * HOUR_SECS));
            let reported = sampled + rng.random_range(6 * HOUR_SECS..18 * HOUR_SECS);
            let lab = rng.random_range(1..=LABS);
            let away = plan
                .travel
                .is_some_and(|trip| sampled >= trip.arrived && sampled < trip.departed);
            if sampled >= clock.start && reported <= clock.end && !away {
                plan.tests.push(PlannedTest {
                    test: TestKind::Pcr,
                    lab,
                    sampled,
                    reported,
                    sequence,
                });
            }
            sequence += 1;
            day += interval_days;
        }
    }
    if rng.random_ratio(8, 100) {
        let day = rng.random_range(clock.days());
        let sampled = clock.at(day, rng.random_range(7 * HOUR_SECS..22 * HOUR_SECS));
        let reported = sampled + rng.random_range(15..40) * MINUTE_SECS;
        let lab = rng.random_range(1..=LABS);
        if sampled >= clock.start && reported <= clock.end {
            plan.tests.push(PlannedTest {
                test: TestKind::Antigen,
                lab,
                sampled,
                reported,
                sequence: 1000,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_days_start_at_local_midnight() {
        // 2022-07-01T00:00:00+08:00.
        let start = 1_656_604_800;
        let clock = Clock::new(start, 14);
        assert_eq!(clock.at(0, 0), start);
        // 2022-07-01 was a Friday.
        assert_eq!(clock.weekday(0), 4);
        assert_eq!(clock.weekday(3), 0);
        // A start at noon local still counts days from that local midnight.
        let noon = Clock::new(start + 12 * HOUR_SECS, 14);
        assert_eq!(noon.at(1, 0), start + DAY_SECS);
        assert_eq!(noon.days(), 0..15);
    }
}
