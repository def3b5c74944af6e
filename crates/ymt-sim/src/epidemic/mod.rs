//! The epidemic on the synthetic city (issue 14): ground truth of every
//! infection, transmission at shared venue stays, in households and by
//! arriving travellers, the course of an infection from published
//! Omicron-era estimates, and behaviour (testing, check-in compliance,
//! reporting delays). Pure: no clock, no I/O; docs/simulation.md has every
//! parameter with its default and source.

mod disease;
mod params;
mod population;
mod world;

pub use disease::{Disease, TestKindSim};
pub use params::EpidemicParams;
pub use population::{
    COMMUNITIES_PER_DISTRICT, DISTRICTS, Population, Resident, community_code_of,
};
pub use world::{Calibration, DayOutcome, Epidemic, Infection, Place, Restriction, SimTest, Stay};
