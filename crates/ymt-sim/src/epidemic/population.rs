//! The city the epidemic runs on: residents with their households, home
//! communities, ID-card counties and habits, venues, and each person's
//! daily routine (drawn from the person's own stream, so a routine can be
//! made again without being kept).

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use ymt_core::RegionCode;

use crate::epidemic::disease::HOUR_SECS;
use crate::epidemic::params::EpidemicParams;
use crate::epidemic::world::Stay;
use crate::persons::generate_persons;
use crate::plan::{Clock, VenueIndex};
use crate::venues::{SimVenue, generate_venues};
use crate::{CityConfig, SimError};

const MINUTE_SECS: i64 = 60;

/// Streams of random draws; each draw's seed mixes one of these with its place.
pub(crate) mod stream {
    pub const PERSONS: u64 = 1;
    pub const VENUES: u64 = 2;
    pub const HABITS: u64 = 3;
    pub const ROUTINE: u64 = 4;
    pub const VENUE_TRANSMISSION: u64 = 5;
    pub const HOUSEHOLD: u64 = 6;
    pub const IMPORTS: u64 = 7;
    pub const COURSE: u64 = 8;
    pub const TESTS: u64 = 9;
    pub const HOMES: u64 = 10;
}

/// SplitMix64 over the words: a well-mixed seed for one place of drawing.
pub(crate) fn mix(words: &[u64]) -> u64 {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    for word in words {
        state ^= word.wrapping_mul(0xBF58_476D_1CE4_E5B9);
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        state = z ^ (z >> 31);
    }
    state
}

pub(crate) fn rng_at(words: &[u64]) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(mix(words))
}

/// Districts (streets) per county and communities per district, as the
/// synthetic city's venue codes have them.
pub const DISTRICTS: usize = 8;
pub const COMMUNITIES_PER_DISTRICT: usize = 12;

/// What the simulator knows of a person beyond the city's records.
#[derive(Clone, Debug)]
pub struct Resident {
    pub household: u32,
    /// Index of the home community (district × 12 + community).
    pub home_community: u16,
    /// Index into [`Population::id_counties`]: the county of the ID card's address.
    pub id_county: u16,
    pub(crate) workplace: Option<u32>,
    pub(crate) favourites: [u32; 3],
    pub(crate) outings_percent: u32,
    pub(crate) screening_phase: u32,
    pub(crate) takes_part_in_screening: bool,
    pub(crate) tests_when_symptomatic: bool,
    pub(crate) self_tests_when_symptomatic: bool,
}

/// The city: residents, households and venues.
#[derive(Clone, Debug)]
pub struct Population {
    pub residents: Vec<Resident>,
    pub households: Vec<Vec<u32>>,
    pub venues: Vec<SimVenue>,
    /// Community index of each venue.
    pub venue_community: Vec<u16>,
    /// ID-card counties, in order of first appearance ("foreign" for passports).
    pub id_counties: Vec<String>,
    pub county: RegionCode,
    pub(crate) clock: Clock,
    pub start_secs: i64,
    pub days: u32,
}

/// The community index (0..96) of a 12-digit community code of the city.
fn community_index(region: &RegionCode) -> u16 {
    let text = region.as_str();
    let street: usize = text[6..9].parse().unwrap_or(1);
    let community: usize = text[9..12].parse().unwrap_or(1);
    (((street.clamp(1, DISTRICTS) - 1) * COMMUNITIES_PER_DISTRICT)
        + (community.clamp(1, COMMUNITIES_PER_DISTRICT) - 1)) as u16
}

/// The community code of a community index under the county.
pub fn community_code_of(county: &RegionCode, index: u16) -> RegionCode {
    let street = index as usize / COMMUNITIES_PER_DISTRICT + 1;
    let community = index as usize % COMMUNITIES_PER_DISTRICT + 1;
    crate::venues::community_code(county, street as u32, community as u32)
}

impl Population {
    pub fn generate(config: &CityConfig, params: &EpidemicParams) -> Result<Population, SimError> {
        config.validate()?;
        let seed = config.seed;
        let start_year = time::OffsetDateTime::from_unix_timestamp(config.start.unix_secs())
            .map_or(2022, |instant| instant.year());
        let persons = generate_persons(
            &mut rng_at(&[seed, stream::PERSONS]),
            &config.region,
            start_year,
            config.persons,
        )?;
        let venue_count =
            ((config.persons as f64 * params.venues_per_thousand_persons / 1000.0) as usize).max(5);
        let venues = generate_venues(
            &mut rng_at(&[seed, stream::VENUES]),
            &config.region,
            venue_count,
        );
        let venue_community: Vec<u16> = venues
            .iter()
            .map(|venue| community_index(&venue.region))
            .collect();
        let index = VenueIndex::new(&venues);
        let household_count = persons.last().map_or(0, |person| person.household + 1);
        let mut households: Vec<Vec<u32>> = vec![Vec::new(); household_count];
        let mut homes = rng_at(&[seed, stream::HOMES]);
        let home_of_household: Vec<u16> = (0..household_count)
            .map(|_| homes.random_range(0..(DISTRICTS * COMMUNITIES_PER_DISTRICT) as u16))
            .collect();
        let mut id_counties: Vec<String> = Vec::new();
        let interval = params.mass_screening_interval_days.max(1);
        let residents = persons
            .iter()
            .map(|person| {
                households[person.household].push(person.index as u32);
                let number = person.document.number_for_hashing();
                let county_text = if number.len() == 18 {
                    number[..6].to_owned()
                } else {
                    "foreign".to_owned()
                };
                let id_county = match id_counties.iter().position(|known| *known == county_text) {
                    Some(position) => position,
                    None => {
                        id_counties.push(county_text);
                        id_counties.len() - 1
                    }
                } as u16;
                let mut rng = rng_at(&[seed, stream::HABITS, person.index as u64]);
                let age = person.age_years;
                let favourites = [
                    index.popular(&mut rng),
                    index.popular(&mut rng),
                    index.popular(&mut rng),
                ];
                let workplace = if (18..65).contains(&age) && rng.random_ratio(7, 10) {
                    VenueIndex::skewed_from(&mut rng, &index.workplaces)
                } else if (6..18).contains(&age) {
                    VenueIndex::skewed_from(&mut rng, &index.schools)
                } else {
                    None
                };
                let outings_percent = match age {
                    0..6 => 20,
                    6..18 => 35,
                    18..65 => 55,
                    _ => 30,
                };
                Resident {
                    household: person.household as u32,
                    home_community: home_of_household[person.household],
                    id_county,
                    workplace,
                    favourites,
                    outings_percent,
                    screening_phase: rng.random_range(0..interval),
                    takes_part_in_screening: rng.random::<f64>()
                        < params.mass_screening_participation,
                    tests_when_symptomatic: rng.random::<f64>()
                        < params.symptomatic_testing_fraction,
                    self_tests_when_symptomatic: rng.random::<f64>()
                        < params.symptomatic_antigen_fraction,
                }
            })
            .collect();
        Ok(Population {
            residents,
            households,
            venues,
            venue_community,
            id_counties,
            county: config.region.clone(),
            clock: Clock::new(config.start.unix_secs(), config.days),
            start_secs: config.start.unix_secs(),
            days: config.days,
        })
    }

    pub fn len(&self) -> usize {
        self.residents.len()
    }

    pub fn is_empty(&self) -> bool {
        self.residents.is_empty()
    }

    /// The instant day `day` begins (local midnight).
    pub fn day_start(&self, day: u32) -> i64 {
        self.clock.at(i64::from(day), 0)
    }

    /// A person's venue stays on one day, as they would be without codes.
    pub(crate) fn routine(&self, seed: u64, person: u32, day: u32, out: &mut Vec<Stay>) {
        let resident = &self.residents[person as usize];
        let mut rng = rng_at(&[seed, stream::ROUTINE, u64::from(person), u64::from(day)]);
        let day_index = i64::from(day);
        let commute_minute = rng.random_range(0..105i64);
        let outings = if rng.random_ratio(resident.outings_percent, 100) {
            rng.random_range(1..=2)
        } else {
            0
        };
        let mut local = 9 * HOUR_SECS + rng.random_range(0..180i64) * MINUTE_SECS;
        let minutes = |rng: &mut ChaCha8Rng, (low, high): (i64, i64)| {
            rng.random_range(low..=high) * MINUTE_SECS
        };
        if let (Some(workplace), true) = (resident.workplace, self.clock.weekday(day_index) < 5) {
            let entered_local = 8 * HOUR_SECS + commute_minute * MINUTE_SECS;
            let stay = minutes(
                &mut rng,
                self.venues[workplace as usize].category.stay_mins(),
            );
            let entered = self.clock.at(day_index, entered_local);
            out.push(Stay {
                person,
                venue: workplace,
                entered,
                left: entered + stay,
                scanned: false,
            });
            local = entered_local + stay + rng.random_range(10..60i64) * MINUTE_SECS;
        }
        for _ in 0..outings {
            if local > 21 * HOUR_SECS {
                break;
            }
            let venue = if rng.random_ratio(7, 10) {
                resident.favourites[rng.random_range(0..3usize)]
            } else {
                let uniform: f64 = rng.random();
                let skewed = uniform * uniform * uniform.sqrt();
                ((skewed * self.venues.len() as f64) as usize).min(self.venues.len() - 1) as u32
            };
            let stay = minutes(&mut rng, self.venues[venue as usize].category.stay_mins())
                .min(3 * HOUR_SECS);
            let entered = self.clock.at(day_index, local);
            out.push(Stay {
                person,
                venue,
                entered,
                left: entered + stay,
                scanned: false,
            });
            local += stay + rng.random_range(15..120i64) * MINUTE_SECS;
        }
    }
}
