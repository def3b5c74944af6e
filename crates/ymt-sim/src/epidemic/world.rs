//! The epidemic on the synthetic city, with ground truth: who infected whom,
//! when and where. Pure: every draw comes from ChaCha8 seeded with the seed
//! and the draw's place (person, day, venue), so the same seed and options
//! give the same epidemic, and a policy changes only what behaviour changes.

use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use crate::epidemic::disease::{DAY_SECS, Disease, HOUR_SECS, TestKindSim};
use crate::epidemic::params::EpidemicParams;
use crate::epidemic::population::{Population, rng_at, stream};
use crate::{CityConfig, SimError};

/// One stay at a venue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stay {
    pub person: u32,
    pub venue: u32,
    pub entered: i64,
    pub left: i64,
    /// Whether the person scanned the venue's code (checked in).
    pub scanned: bool,
}

/// Where an infection happened.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Place {
    /// Infected on day 0 to start the epidemic.
    Seed,
    /// A resident returning infected from elsewhere, arriving at this instant.
    Travel {
        arrived_at: i64,
    },
    Household,
    /// A shared stay: the venue, the overlap and both stays.
    Venue {
        venue: u32,
        overlap_secs: i64,
        infector_stay: (i64, i64),
        infectee_stay: (i64, i64),
        infector_scanned: bool,
        infectee_scanned: bool,
    },
}

/// The ground truth of one infection.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Infection {
    pub infected_at: i64,
    pub infector: Option<u32>,
    pub place: Place,
    pub asymptomatic: bool,
    /// Symptom onset; none for an asymptomatic infection.
    pub onset_at: Option<i64>,
    /// Relative infectiousness (1, or less when asymptomatic).
    infectiousness: f64,
}

/// How codes restrict a person on a day.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Restriction {
    #[default]
    None,
    /// Yellow: avoids indoor venues.
    OutdoorOnly,
    /// Red: stays home.
    StayHome,
}

/// One test taken.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SimTest {
    pub person: u32,
    pub kind: TestKindSim,
    pub sampled: i64,
    pub reported: i64,
    pub positive: bool,
}

/// What one simulated day produced.
#[derive(Debug, Default)]
pub struct DayOutcome {
    /// The stays made (after behaviour), by person.
    pub stays: Vec<Stay>,
    pub tests: Vec<SimTest>,
    pub new_infections: u32,
}

/// The calibrated transmission rates.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Calibration {
    /// Per contact-hour at an indoor venue, per unit of infectiousness density.
    pub venue_rate: f64,
    /// Household hazard over a whole infection.
    pub household_rate: f64,
    /// Expected secondary infections in households (R's household part).
    pub household_reproduction: f64,
    /// Exposure-weighted mean of contact-hours per day at venues.
    pub effective_contact_hours_per_day: f64,
}

/// The epidemic: population, parameters, calibration and ground truth.
pub struct Epidemic {
    pub population: Population,
    pub params: EpidemicParams,
    pub disease: Disease,
    pub calibration: Calibration,
    pub seed: u64,
    /// Ground truth per person.
    pub infections: Vec<Option<Infection>>,
    /// Persons in the order they were infected.
    pub infected_order: Vec<u32>,
    /// The instant of each person's first onward transmission.
    pub first_onward: Vec<Option<i64>>,
    mean_visitors_per_venue: f64,
    /// Persons whose antigen self-test was positive, to take a PCR next day.
    confirm_next_day: Vec<u32>,
    buckets: Vec<Vec<Stay>>,
}

impl Epidemic {
    pub fn new(config: &CityConfig, params: EpidemicParams) -> Result<Epidemic, SimError> {
        let population = Population::generate(config, &params)?;
        let disease = Disease::new(&params);
        let count = population.len();
        let venue_count = population.venues.len();
        let mut epidemic = Epidemic {
            population,
            disease,
            calibration: Calibration {
                venue_rate: 0.0,
                household_rate: 0.0,
                household_reproduction: 0.0,
                effective_contact_hours_per_day: 0.0,
            },
            seed: config.seed,
            infections: vec![None; count],
            infected_order: Vec::new(),
            first_onward: vec![None; count],
            mean_visitors_per_venue: 1.0,
            confirm_next_day: Vec::new(),
            buckets: vec![Vec::new(); venue_count],
            params,
        };
        epidemic.calibrate();
        Ok(epidemic)
    }

    fn setting_factor(&self, venue: u32) -> f64 {
        if self.population.venues[venue as usize].indoor {
            1.0
        } else {
            self.params.outdoor_relative_risk
        }
    }

    fn crowding_factor(&self, visitors: usize) -> f64 {
        1.0 + self.params.crowding_weight
            * (visitors as f64 / self.mean_visitors_per_venue).min(4.0)
    }

    /// The weight of one contact-hour between two visitors of a venue with
    /// `visitors` stays that day: indoor or outdoor, crowding, and
    /// frequency-dependent mixing (divided by the visitors: a person in an
    /// office of 2,000 does not meet 2,000 persons closely, so a
    /// person's expected contacts stay bounded while crowding still raises
    /// the risk).
    fn contact_factor(&self, venue: u32, visitors: usize) -> f64 {
        self.setting_factor(venue) * self.crowding_factor(visitors) * self.mean_visitors_per_venue
            / visitors.max(1) as f64
    }

    /// Calibrates the venue rate so that R (without codes, everyone
    /// susceptible) is the configured one: R = household part + venue part,
    /// the venue part being rate × mean infectiousness × the
    /// exposure-weighted mean of a person's daily contact-hours
    /// (Σc²/Σc: a person is infected in proportion to their contacts and
    /// infects in proportion to them). Measured over the first week of routines.
    fn calibrate(&mut self) {
        let count = self.population.len();
        let mut stays = Vec::new();
        let calibration_days = 7.min(self.population.days);
        let mut visitors_total = 0usize;
        let mut venues_visited = 0usize;
        for day in 0..calibration_days {
            stays.clear();
            for person in 0..count as u32 {
                self.population.routine(self.seed, person, day, &mut stays);
            }
            self.fill_buckets(&stays);
            for bucket in &self.buckets {
                if !bucket.is_empty() {
                    visitors_total += bucket.len();
                    venues_visited += 1;
                }
            }
        }
        self.mean_visitors_per_venue =
            (visitors_total as f64 / venues_visited.max(1) as f64).max(1.0);
        let mut contact_hours = vec![0.0f64; count];
        for day in 0..calibration_days {
            stays.clear();
            for person in 0..count as u32 {
                self.population.routine(self.seed, person, day, &mut stays);
            }
            self.fill_buckets(&stays);
            for (venue, bucket) in self.buckets.iter().enumerate() {
                let factor = self.contact_factor(venue as u32, bucket.len());
                for (i, a) in bucket.iter().enumerate() {
                    for b in &bucket[i + 1..] {
                        if b.entered >= a.left {
                            break;
                        }
                        let overlap = a.left.min(b.left) - a.entered.max(b.entered);
                        if overlap > 0 && a.person != b.person {
                            let weight = overlap as f64 / HOUR_SECS as f64 * factor;
                            contact_hours[a.person as usize] += weight;
                            contact_hours[b.person as usize] += weight;
                        }
                    }
                }
            }
        }
        let days = f64::from(calibration_days.max(1));
        let daily: Vec<f64> = contact_hours.iter().map(|hours| hours / days).collect();
        let mean_infectiousness = (1.0 - self.params.asymptomatic_fraction)
            + self.params.asymptomatic_fraction * self.params.asymptomatic_relative_infectiousness;
        let household_rate = -(1.0 - self.params.household_attack_rate).ln();
        let household_per_member = self.params.household_attack_rate * mean_infectiousness;
        // R is the dominant eigenvalue of the next-generation operator:
        // person i infects person j at a venue with β f c_i c_j / Σc
        // (proportionate mixing of contact-hours), and each member of
        // their household with SAR f. The eigenvalue grows with β; bisect.
        let sum: f64 = daily.iter().sum();
        let households = &self.population.households;
        let residents = &self.population.residents;
        let eigenvalue = |venue_rate: f64| -> f64 {
            let mut x = vec![1.0f64; count];
            let mut value = 0.0;
            for _ in 0..60 {
                let pressure: f64 = daily.iter().zip(&x).map(|(c, xi)| c * xi).sum::<f64>();
                let mut household_sums = vec![0.0f64; households.len()];
                for (person, resident) in residents.iter().enumerate() {
                    household_sums[resident.household as usize] += x[person];
                }
                let next: Vec<f64> = (0..count)
                    .map(|j| {
                        let venue = if sum > 0.0 {
                            venue_rate * mean_infectiousness * daily[j] * pressure / sum
                        } else {
                            0.0
                        };
                        let household = household_per_member
                            * (household_sums[residents[j].household as usize] - x[j]);
                        venue + household
                    })
                    .collect();
                let norm_before: f64 = x.iter().sum();
                let norm_after: f64 = next.iter().sum();
                value = if norm_before > 0.0 {
                    norm_after / norm_before
                } else {
                    0.0
                };
                if norm_after <= 0.0 {
                    return 0.0;
                }
                x = next
                    .into_iter()
                    .map(|xi| xi / norm_after * count as f64)
                    .collect();
            }
            value
        };
        let household_reproduction = eigenvalue(0.0);
        let target = self.params.reproduction_number;
        let venue_rate = if household_reproduction >= target || sum <= 0.0 {
            0.0
        } else {
            let (mut low, mut high) = (0.0f64, 1.0f64);
            while eigenvalue(high) < target && high < 1e9 {
                high *= 4.0;
            }
            for _ in 0..40 {
                let middle = (low + high) / 2.0;
                if eigenvalue(middle) < target {
                    low = middle
                } else {
                    high = middle
                }
            }
            (low + high) / 2.0
        };
        let effective = if sum > 0.0 {
            daily.iter().map(|c| c * c).sum::<f64>() / sum
        } else {
            0.0
        };
        self.calibration = Calibration {
            venue_rate,
            household_rate,
            household_reproduction,
            effective_contact_hours_per_day: effective,
        };
    }

    /// Sorts stays into per-venue buckets ordered by arrival.
    fn fill_buckets(&mut self, stays: &[Stay]) {
        for bucket in &mut self.buckets {
            bucket.clear();
        }
        for stay in stays {
            self.buckets[stay.venue as usize].push(*stay);
        }
        for bucket in &mut self.buckets {
            bucket.sort_by_key(|stay| (stay.entered, stay.person));
        }
    }

    fn infect(&mut self, person: u32, at: i64, infector: Option<u32>, place: Place) {
        let mut rng = rng_at(&[self.seed, stream::COURSE, u64::from(person)]);
        let asymptomatic = rng.random::<f64>() < self.params.asymptomatic_fraction;
        let incubation = self.disease.incubation.sample_secs(rng.random::<f64>());
        self.infections[person as usize] = Some(Infection {
            infected_at: at,
            infector,
            place,
            asymptomatic,
            onset_at: (!asymptomatic).then_some(at + incubation),
            infectiousness: if asymptomatic {
                self.params.asymptomatic_relative_infectiousness
            } else {
                1.0
            },
        });
        self.infected_order.push(person);
        if let Some(infector) = infector {
            let first = &mut self.first_onward[infector as usize];
            if first.is_none_or(|earlier| at < earlier) {
                *first = Some(at);
            }
        }
    }

    /// Infectiousness density per day of `person` at `at` (0 if not infected).
    fn infectiousness_at(&self, person: u32, at: i64) -> f64 {
        match &self.infections[person as usize] {
            Some(infection) if infection.infected_at < at => {
                infection.infectiousness
                    * self
                        .disease
                        .generation
                        .density_per_day(at - infection.infected_at)
            }
            _ => 0.0,
        }
    }

    /// Runs one day: behaviour under `restrictions` (per person, as the
    /// codes read at the start of the day), transmission, tests.
    /// `restricted_since[p]` is the day the person's current restriction
    /// began (quarantine testing on its days 1, 2, 3, 5 and 7), or -1.
    pub fn step_day(
        &mut self,
        day: u32,
        restrictions: &[Restriction],
        restricted_since: &[i32],
    ) -> DayOutcome {
        let count = self.population.len();
        let day_start = self.population.day_start(day);
        let day_end = day_start + DAY_SECS;
        let infected_before = self.infected_order.len();
        if day == 0 {
            let mut rng = rng_at(&[self.seed, stream::IMPORTS, u64::MAX]);
            for _ in 0..self.params.initial_infections.min(count as u32) {
                let person = rng.random_range(0..count as u32);
                if self.infections[person as usize].is_none() {
                    let at = day_start + rng.random_range(0..DAY_SECS);
                    self.infect(person, at, None, Place::Seed);
                }
            }
        }
        // Stays, after behaviour; whether each is scanned.
        let mut stays = Vec::new();
        let mut routine = Vec::new();
        for person in 0..count as u32 {
            let restriction = restrictions
                .get(person as usize)
                .copied()
                .unwrap_or_default();
            if restriction == Restriction::StayHome {
                continue;
            }
            routine.clear();
            self.population
                .routine(self.seed, person, day, &mut routine);
            let mut rng = rng_at(&[
                self.seed,
                stream::ROUTINE,
                u64::from(person),
                u64::from(day),
                1,
            ]);
            for stay in &routine {
                let scanned = rng.random::<f64>() < self.params.check_in_compliance;
                if restriction == Restriction::OutdoorOnly
                    && self.population.venues[stay.venue as usize].indoor
                {
                    continue;
                }
                stays.push(Stay { scanned, ..*stay });
            }
        }
        self.fill_buckets(&stays);
        // Venue transmission: every stay of an infectious person against
        // every overlapping stay of a susceptible one, venue by venue.
        let buckets = std::mem::take(&mut self.buckets);
        for (venue, bucket) in buckets.iter().enumerate() {
            let infectious: Vec<usize> = (0..bucket.len())
                .filter(|&i| {
                    self.infections[bucket[i].person as usize]
                        .is_some_and(|infection| infection.infected_at < day_start)
                })
                .collect();
            if infectious.is_empty() {
                continue;
            }
            let factor =
                self.contact_factor(venue as u32, bucket.len()) * self.calibration.venue_rate;
            let mut rng = rng_at(&[
                self.seed,
                stream::VENUE_TRANSMISSION,
                u64::from(day),
                venue as u64,
            ]);
            for i in infectious {
                let source = bucket[i];
                for target in bucket.iter() {
                    if target.entered >= source.left {
                        break;
                    }
                    let overlap = source.left.min(target.left) - source.entered.max(target.entered);
                    if overlap <= 0
                        || target.person == source.person
                        || self.infections[target.person as usize].is_some()
                    {
                        continue;
                    }
                    let middle = source.entered.max(target.entered) + overlap / 2;
                    let hazard =
                        factor * self.infectiousness_at(source.person, middle) * overlap as f64
                            / HOUR_SECS as f64;
                    if rng.random::<f64>() < 1.0 - (-hazard).exp() {
                        self.infect(
                            target.person,
                            middle,
                            Some(source.person),
                            Place::Venue {
                                venue: venue as u32,
                                overlap_secs: overlap,
                                infector_stay: (source.entered, source.left),
                                infectee_stay: (target.entered, target.left),
                                infector_scanned: source.scanned,
                                infectee_scanned: target.scanned,
                            },
                        );
                    }
                }
            }
        }
        self.buckets = buckets;
        // Households: everyone is home in the evening, codes or not.
        let mut rng = rng_at(&[self.seed, stream::HOUSEHOLD, u64::from(day)]);
        let evening = day_start + 20 * HOUR_SECS;
        for position in 0..infected_before {
            let source = self.infected_order[position];
            let infection =
                self.infections[source as usize].expect("infected persons have an infection");
            let since = day_start - infection.infected_at;
            if since < 0 || since > self.disease.infectious_period_secs {
                continue;
            }
            let mass = self
                .disease
                .generation
                .mass_between(since, since + DAY_SECS);
            let hazard = self.calibration.household_rate * infection.infectiousness * mass;
            let household = self.population.residents[source as usize].household as usize;
            for member_position in 0..self.population.households[household].len() {
                let member = self.population.households[household][member_position];
                if member == source || self.infections[member as usize].is_some() {
                    continue;
                }
                if rng.random::<f64>() < 1.0 - (-hazard).exp() {
                    self.infect(
                        member,
                        evening.max(infection.infected_at + 1),
                        Some(source),
                        Place::Household,
                    );
                }
            }
        }
        // Travellers returning infected from elsewhere.
        let mut rng = rng_at(&[self.seed, stream::IMPORTS, u64::from(day)]);
        let rate = self.params.imported_infections_per_day;
        let arrivals = rate.floor() as u32 + u32::from(rng.random::<f64>() < rate.fract());
        let mut arrived: Vec<(u32, i64)> = Vec::new();
        for _ in 0..arrivals {
            let person = rng.random_range(0..count as u32);
            let arrived_at = day_start + rng.random_range(10 * HOUR_SECS..20 * HOUR_SECS);
            let infected_at = arrived_at - rng.random_range(0..3 * DAY_SECS);
            if self.infections[person as usize].is_none() {
                self.infect(person, infected_at, None, Place::Travel { arrived_at });
                arrived.push((person, arrived_at));
            }
        }
        let tests = self.tests_of_day(day, day_start, day_end, restricted_since);
        DayOutcome {
            stays,
            tests,
            new_infections: (self.infected_order.len() - infected_before) as u32,
        }
    }

    /// The tests taken on a day: mass screening, symptomatic PCR and
    /// antigen self-tests, arrival tests of travellers (2 PCR within 3
    /// days), quarantine tests of restricted persons (days 1, 2, 3, 5, 7),
    /// and a PCR the day after a positive self-test. One test of a kind per
    /// person and day.
    fn tests_of_day(
        &mut self,
        day: u32,
        day_start: i64,
        day_end: i64,
        restricted_since: &[i32],
    ) -> Vec<SimTest> {
        let count = self.population.len();
        let mut wants_pcr = vec![false; count];
        let mut wants_antigen: Vec<u32> = Vec::new();
        let interval = self.params.mass_screening_interval_days;
        if interval > 0 {
            for (person, resident) in self.population.residents.iter().enumerate() {
                if resident.takes_part_in_screening
                    && (day + resident.screening_phase).is_multiple_of(interval)
                {
                    wants_pcr[person] = true;
                }
            }
        }
        for (person, since) in restricted_since.iter().enumerate().take(count) {
            if *since >= 0 && [1, 2, 3, 5, 7].contains(&(day as i32 - since)) {
                wants_pcr[person] = true;
            }
        }
        for person in std::mem::take(&mut self.confirm_next_day) {
            wants_pcr[person as usize] = true;
        }
        let delay = (self.params.symptomatic_test_delay_hours * HOUR_SECS as f64) as i64;
        for &person in &self.infected_order {
            let infection = self.infections[person as usize].expect("infected");
            let resident = &self.population.residents[person as usize];
            if let Some(onset) = infection.onset_at {
                if resident.tests_when_symptomatic
                    && (day_start..day_end).contains(&(onset + delay))
                {
                    wants_pcr[person as usize] = true;
                }
                if resident.self_tests_when_symptomatic && (day_start..day_end).contains(&onset) {
                    wants_antigen.push(person);
                }
            }
            if let Place::Travel { arrived_at } = infection.place {
                let arrival_day = (arrived_at - self.population.start_secs).div_euclid(DAY_SECS);
                if [0, 2].contains(&(i64::from(day) - arrival_day)) {
                    wants_pcr[person as usize] = true;
                }
            }
        }
        let pcr_delay = (self.params.pcr_report_delay_hours * HOUR_SECS as f64) as i64;
        let antigen_delay = (self.params.antigen_report_delay_minutes * 60.0) as i64;
        let mut tests = Vec::new();
        for (person, wanted) in wants_pcr.iter().enumerate() {
            if !wanted {
                continue;
            }
            let mut rng = rng_at(&[self.seed, stream::TESTS, person as u64, u64::from(day), 0]);
            let sampled = day_start + 8 * HOUR_SECS + rng.random_range(0..12 * HOUR_SECS);
            let positive = self.draw_result(person as u32, TestKindSim::Pcr, sampled, &mut rng);
            tests.push(SimTest {
                person: person as u32,
                kind: TestKindSim::Pcr,
                sampled,
                reported: sampled + pcr_delay,
                positive,
            });
        }
        wants_antigen.sort_unstable();
        wants_antigen.dedup();
        for person in wants_antigen {
            let mut rng = rng_at(&[
                self.seed,
                stream::TESTS,
                u64::from(person),
                u64::from(day),
                1,
            ]);
            let sampled = day_start + 8 * HOUR_SECS + rng.random_range(0..14 * HOUR_SECS);
            let positive = self.draw_result(person, TestKindSim::Antigen, sampled, &mut rng);
            if positive {
                self.confirm_next_day.push(person);
            }
            tests.push(SimTest {
                person,
                kind: TestKindSim::Antigen,
                sampled,
                reported: sampled + antigen_delay,
                positive,
            });
        }
        tests
    }

    fn draw_result(
        &self,
        person: u32,
        kind: TestKindSim,
        sampled: i64,
        rng: &mut ChaCha8Rng,
    ) -> bool {
        let draw = rng.random::<f64>();
        match &self.infections[person as usize] {
            Some(infection) if infection.infected_at < sampled => {
                draw < self
                    .disease
                    .sensitivity(kind, sampled - infection.infected_at)
            }
            // Specificity 1: a false positive is not modelled.
            _ => false,
        }
    }
}
