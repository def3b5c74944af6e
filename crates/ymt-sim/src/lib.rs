//! A synthetic city for demos, tests and benchmarks: residents with
//! synthetic identity documents, venues, and a stream of events with a
//! running outbreak story.
//!
//! Pure: the seed and the start instant are arguments, nothing reads the
//! clock or the OS's randomness, and the same configuration always yields
//! byte-identical output. Every random draw comes from ChaCha8 seeded with
//! [`CityConfig::seed`]; persons, venues, the story and each person's routine
//! have their own stream, so a person's routine can be regenerated alone.
//!
//! The story, anchored at the end of the period ([`CityConfig::end`]):
//! three days before the end a resident tests PCR positive (the case). Their
//! household and everyone who shared an indoor venue with them for 30
//! minutes or more in the four days before sampling become close contacts;
//! shorter or outdoor overlaps make companions (时空伴随者); household members of
//! close contacts become secondary contacts. Alongside: a traveller in home
//! quarantine, a visitor of a high-risk community, an authority override, a
//! wrongly entered positive that the lab retracted, and two antigen positives
//! (one cleared by PCR, one pending). [`City::story`] lists them with the
//! color each should show at the end.

mod city;
pub mod epidemic;
mod names;
mod persons;
mod plan;
pub mod policy;
mod venues;

pub use city::{
    City, CityOutline, StoryEntry, StoryRole, generate_city, generate_events_streaming,
};
pub use persons::{SimPerson, placeholder_pid, synthetic_resident_id};
pub use venues::{SimVenue, VenueCategory};

use ymt_core::{RegionCode, Timestamp};

/// Bounds of a configuration.
pub const PERSONS_MIN: usize = 50;
pub const PERSONS_MAX: usize = 20_000_000;
pub const VENUES_MIN: usize = 5;
pub const VENUES_MAX: usize = 2_000_000;
/// The story needs ten days: four of look-back before the case and a few after.
pub const DAYS_MIN: u32 = 10;
pub const DAYS_MAX: u32 = 60;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CityConfig {
    pub seed: u64,
    pub persons: usize,
    pub venues: usize,
    /// The first instant of the period. A live demo passes "now minus
    /// `days`", so that the story's present is the real present.
    pub start: Timestamp,
    pub days: u32,
    /// The county (6-digit GB/T 2260 code) the city lies in; it prefixes
    /// most resident IDs and every venue's community code.
    pub region: RegionCode,
}

impl Default for CityConfig {
    fn default() -> Self {
        CityConfig {
            seed: 20_220_701,
            persons: 3_000,
            venues: 200,
            // 2022-07-01T00:00:00+08:00, after the 9th edition of the plan.
            start: Timestamp::from_unix_secs(1_656_604_800).expect("a valid instant"),
            days: 14,
            region: RegionCode::parse("440305").expect("Nanshan, Shenzhen"),
        }
    }
}

impl CityConfig {
    /// The end of the period: the instant at which the story's colors hold.
    pub fn end(&self) -> Timestamp {
        self.start.plus_secs(i64::from(self.days) * plan::DAY_SECS)
    }

    pub fn validate(&self) -> Result<(), SimError> {
        if !(PERSONS_MIN..=PERSONS_MAX).contains(&self.persons) {
            return Err(SimError::OutOfRange {
                field: "persons",
                value: self.persons as u64,
                min: PERSONS_MIN as u64,
                max: PERSONS_MAX as u64,
            });
        }
        if !(VENUES_MIN..=VENUES_MAX).contains(&self.venues) {
            return Err(SimError::OutOfRange {
                field: "venues",
                value: self.venues as u64,
                min: VENUES_MIN as u64,
                max: VENUES_MAX as u64,
            });
        }
        if !(DAYS_MIN..=DAYS_MAX).contains(&self.days) {
            return Err(SimError::OutOfRange {
                field: "days",
                value: u64::from(self.days),
                min: u64::from(DAYS_MIN),
                max: u64::from(DAYS_MAX),
            });
        }
        if self.region.as_str().len() != 6 {
            return Err(SimError::RegionNotCounty(self.region.to_string()));
        }
        // Vaccinations reach up to 600 days back; quarantines a few weeks ahead.
        let earliest = 2 * 365 * plan::DAY_SECS;
        let latest = Timestamp::MAX.unix_secs() - 100 * plan::DAY_SECS;
        let start = self.start.unix_secs();
        if start < earliest || start > latest {
            return Err(SimError::StartOutOfRange(self.start.to_string()));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimError {
    #[error("{field} must be between {min} and {max}, got {value}")]
    OutOfRange {
        field: &'static str,
        value: u64,
        min: u64,
        max: u64,
    },
    #[error("region must be a 6-digit county code such as 440305, got {0:?}")]
    RegionNotCounty(String),
    #[error("start must lie between 1972 and 9999 less 100 days, got {0}")]
    StartOutOfRange(String),
    #[error("a synthetic resident ID needs a birth year between 1800 and 9999: {0}")]
    BirthDate(String),
}
