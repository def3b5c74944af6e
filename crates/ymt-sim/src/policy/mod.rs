//! The policy simulator (issue 14): measures a rule set's precision and its
//! price before it is published — how many infected persons it restricts,
//! how early, and how many uninfected persons it restricts for nothing —
//! with the real node in the loop (`run.rs`). Legacy practices exist only
//! in [`legacy`], marked as such.

pub mod legacy;
mod metrics;
mod report;
mod run;

pub use metrics::{Estimate, PhaseSeconds, RunResult};
pub use report::{
    ChartLanguage, PolicyRuns, comparison_charts, comparison_table, goal_check, line_chart_svg,
};
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
    on_day: &mut (dyn FnMut(u32) + Send),
) -> Result<Vec<PolicyRuns>, PolicyError> {
    let on_day = std::sync::Mutex::new(on_day);
    run_comparison_on(config, params, policies, seeds, 1, &|day| {
        (on_day.lock().expect("the progress callback"))(day)
    })
}

/// [`run_comparison`] with `workers` runs at a time, each on its own thread
/// with its own node. Each run depends only on its policy and seed, and the
/// results are put in (policy, seed) order, so the output is the same for
/// any number of workers.
pub fn run_comparison_on(
    config: &CityConfig,
    params: &EpidemicParams,
    policies: &[Policy],
    seeds: u32,
    workers: usize,
    on_day: &(dyn Fn(u32) + Sync),
) -> Result<Vec<PolicyRuns>, PolicyError> {
    params.validate().map_err(PolicyError::Config)?;
    let mut ordered: Vec<Policy> = policies
        .iter()
        .filter(|p| **p != Policy::NoCodes)
        .cloned()
        .collect();
    ordered.dedup();
    ordered.push(Policy::NoCodes);
    let jobs: Vec<(usize, u32)> = (0..ordered.len())
        .flat_map(|policy| (0..seeds).map(move |offset| (policy, offset)))
        .collect();
    let next_job = std::sync::atomic::AtomicUsize::new(0);
    type Slot = Option<Result<RunResult, PolicyError>>;
    let results: std::sync::Mutex<Vec<Slot>> =
        std::sync::Mutex::new((0..jobs.len()).map(|_| None).collect());
    let failed = std::sync::atomic::AtomicBool::new(false);
    let work = || {
        loop {
            let job = next_job.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if job >= jobs.len() || failed.load(std::sync::atomic::Ordering::Relaxed) {
                return;
            }
            let (policy, offset) = jobs[job];
            let seeded = CityConfig {
                seed: config.seed.wrapping_add(u64::from(offset)),
                ..config.clone()
            };
            let result = run_policy(&seeded, params, &ordered[policy], &mut |day| on_day(day));
            if result.is_err() {
                failed.store(true, std::sync::atomic::Ordering::Relaxed);
            }
            results.lock().expect("the results")[job] = Some(result);
        }
    };
    std::thread::scope(|scope| {
        for _ in 1..workers.clamp(1, jobs.len().max(1)) {
            scope.spawn(work);
        }
        work();
    });
    let mut results = results.into_inner().expect("the results").into_iter();
    let mut all = Vec::new();
    for policy in ordered {
        let mut runs = Vec::new();
        for _ in 0..seeds {
            match results.next().flatten() {
                Some(result) => runs.push(result?),
                // A run left undone because another failed: its error
                // comes first, in job order.
                None => continue,
            }
        }
        all.push(PolicyRuns { policy, runs });
    }
    Ok(all)
}
