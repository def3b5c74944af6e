//! The epidemic on the synthetic city (issue 14): ground truth of every
//! infection, transmission at shared venue stays, in households and by
//! arriving travellers, the course of an infection from published
//! Omicron-era estimates, and behaviour (testing, check-in compliance,
//! reporting delays). Pure: no clock, no I/O; docs/simulation.md has every
//! parameter with its default and source.

mod disease;
mod params;
mod world;

pub use disease::{Disease, TestKindSim};
pub use params::EpidemicParams;
pub use world::{
    COMMUNITIES_PER_DISTRICT, Calibration, DISTRICTS, DayOutcome, Epidemic, Infection, Place,
    Population, Resident, Restriction, SimTest, Stay, community_code_of,
};
