//! The policy simulator (issue 14): measures a rule set's precision and its
//! price before it is published — how many infected persons it restricts,
//! how early, and how many uninfected persons it restricts for nothing —
//! with the real node in the loop (`run.rs`). Legacy practices exist only
//! in [`legacy`], marked as such.

pub mod legacy;
mod metrics;
mod report;
mod run;

pub use metrics::{Estimate, RunResult};
pub use report::{PolicyRuns, comparison_table, goal_check, line_chart_svg};
pub use run::{RunTrace, run_policy, run_policy_traced};

use crate::CityConfig;
use crate::epidemic::EpidemicParams;

/// A policy: a rule set the node runs, plus, for the legacy policies, an
/// overlay of the simulator-only legacy module.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Policy {
    /// The national rule set as shipped.
    National,
    /// A candidate rule set or regional parameter profile, from a file.
    Candidate { name: String, document: Vec<u8> },
    /// LEGACY: 区域赋码, whole districts red.
    DistrictRed,
    /// LEGACY: yellow by the ID card's county.
    IdCardAddress,
    /// LEGACY: 层层加码, parameters beyond the national bounds.
    Escalation,
    /// LEGACY: the 800 m-grid companion rule.
    Grid800m,
    /// No codes at all: the baseline.
    NoCodes,
}

/// The names accepted by `--policy` (the candidate is `candidate`, with `--candidate FILE`).
pub const POLICY_NAMES: [&str; 7] = [
    "national",
    "candidate",
    "district-red",
    "id-card",
    "escalation",
    "grid-800m",
    "no-codes",
];

impl Policy {
    pub fn name(&self) -> String {
        match self {
            Policy::National => "national".into(),
            Policy::Candidate { name, .. } => format!("candidate ({name})"),
            Policy::DistrictRed => "district-red (legacy)".into(),
            Policy::IdCardAddress => "id-card (legacy)".into(),
            Policy::Escalation => "escalation 层层加码 (legacy)".into(),
            Policy::Grid800m => "grid-800m (legacy)".into(),
            Policy::NoCodes => "no-codes".into(),
        }
    }

    /// Parses a `--policy` name; the candidate needs its document.
    pub fn parse(name: &str, candidate: Option<(&str, &[u8])>) -> Result<Policy, PolicyError> {
        Ok(match name {
            "national" => Policy::National,
            "candidate" => {
                let (file, document) = candidate.ok_or_else(|| {
                    PolicyError::Config("--policy candidate needs --candidate FILE".into())
                })?;
                Policy::Candidate {
                    name: file.to_owned(),
                    document: document.to_vec(),
                }
            }
            "district-red" => Policy::DistrictRed,
            "id-card" => Policy::IdCardAddress,
            "escalation" => Policy::Escalation,
            "grid-800m" => Policy::Grid800m,
            "no-codes" => Policy::NoCodes,
            other => {
                return Err(PolicyError::Config(format!(
                    "unknown policy {other:?}; one of {}",
                    POLICY_NAMES.join(", ")
                )));
            }
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("configuration: {0}")]
    Config(String),
    #[error("the rule set or profile cannot be put into force: {0}")]
    Rules(String),
    #[error("the node in the loop: {0}")]
    Node(String),
}

/// Runs every policy with every seed (`first_seed`, `first_seed + 1`, …).
/// `no-codes` always runs (the baseline of infections averted) and comes last.
pub fn run_comparison(
    config: &CityConfig,
    params: &EpidemicParams,
    policies: &[Policy],
    seeds: u32,
    on_day: &mut dyn FnMut(u32),
) -> Result<Vec<PolicyRuns>, PolicyError> {
    params.validate().map_err(PolicyError::Config)?;
    let mut ordered: Vec<Policy> = policies
        .iter()
        .filter(|p| **p != Policy::NoCodes)
        .cloned()
        .collect();
    ordered.dedup();
    ordered.push(Policy::NoCodes);
    let mut all = Vec::new();
    for policy in ordered {
        let mut runs = Vec::new();
        for offset in 0..seeds {
            let seeded = CityConfig {
                seed: config.seed.wrapping_add(u64::from(offset)),
                ..config.clone()
            };
            runs.push(run_policy(&seeded, params, &policy, on_day)?);
        }
        all.push(PolicyRuns { policy, runs });
    }
    Ok(all)
}
