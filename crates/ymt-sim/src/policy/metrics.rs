//! What one run measures, from the ground truth and the colors read each day.

use crate::epidemic::Epidemic;

const DAY_SECS: f64 = 86_400.0;

/// The measures of one run (one policy, one seed).
#[derive(Clone, Debug, PartialEq)]
pub struct RunResult {
    pub total_infections: u32,
    /// Infected persons whose infection could be judged (infected at least
    /// one infectious period before the end).
    pub judged_infections: u32,
    /// Share of judged infections restricted before their infectious period ended.
    pub caught_while_infectious: f64,
    /// Share of judged infections restricted before their first onward
    /// transmission (or, without one, while infectious).
    pub caught_before_onward: f64,
    /// Median days from infection to restriction, among infected persons restricted.
    pub median_delay_days: Option<f64>,
    /// Person-days restricted (yellow or red) of persons never infected in the run.
    pub uninfected_restricted_person_days: u64,
    /// Person-days restricted of everyone.
    pub restricted_person_days: u64,
    /// The most events stored plus status reads on one day.
    pub peak_node_load: u64,
    pub daily_new_infections: Vec<u32>,
    pub daily_restricted: Vec<u32>,
    /// Where the run's wall-clock time went (standard error only).
    pub phase_secs: PhaseSeconds,
}

/// Wall-clock seconds of one run by phase, for the cost report. Timings are
/// not measures: they never make two results differ, and never reach the
/// standard output (which depends only on the seed and options).
#[derive(Clone, Copy, Debug, Default)]
pub struct PhaseSeconds {
    /// Building the city and the epidemic, opening the node, registering venues.
    pub setup: f64,
    /// The node's due transitions at midnight and each person's color read.
    pub node_colors: f64,
    /// Routines, transmission and tests (the ground truth).
    pub epidemic: f64,
    /// `Node::ingest` of the day's check-ins and results: screening,
    /// storing, re-evaluation, automatic tracing.
    pub node_ingest: f64,
    /// The simulator-only legacy overlay.
    pub legacy_overlay: f64,
}

impl PartialEq for PhaseSeconds {
    fn eq(&self, _other: &PhaseSeconds) -> bool {
        true
    }
}

impl PhaseSeconds {
    pub fn add(&mut self, other: &PhaseSeconds) {
        self.setup += other.setup;
        self.node_colors += other.node_colors;
        self.epidemic += other.epidemic;
        self.node_ingest += other.node_ingest;
        self.legacy_overlay += other.legacy_overlay;
    }

    pub fn total(&self) -> f64 {
        self.setup + self.node_colors + self.epidemic + self.node_ingest + self.legacy_overlay
    }
}

impl RunResult {
    pub(crate) fn measure(
        epidemic: &Epidemic,
        end_secs: i64,
        restricted_at: &[Option<i64>],
        restricted_days: &[u16],
        daily_new_infections: Vec<u32>,
        daily_restricted: Vec<u32>,
        peak_node_load: u64,
    ) -> RunResult {
        let period = epidemic.disease.infectious_period_secs;
        let mut judged = 0u32;
        let mut caught_infectious = 0u32;
        let mut caught_onward = 0u32;
        let mut delays: Vec<i64> = Vec::new();
        for &person in &epidemic.infected_order {
            let infection = epidemic.infections[person as usize].expect("infected");
            let restricted = restricted_at[person as usize];
            if let Some(at) = restricted {
                delays.push((at - infection.infected_at).max(0));
            }
            if infection.infected_at + period > end_secs {
                continue;
            }
            judged += 1;
            let infectious_end = infection.infected_at + period;
            if restricted.is_some_and(|at| at <= infectious_end) {
                caught_infectious += 1;
            }
            let deadline = epidemic.first_onward[person as usize].unwrap_or(infectious_end);
            if restricted.is_some_and(|at| at <= deadline) {
                caught_onward += 1;
            }
        }
        delays.sort_unstable();
        let median_delay_days = (!delays.is_empty()).then(|| {
            let middle = delays.len() / 2;
            let secs = if delays.len() % 2 == 1 {
                delays[middle] as f64
            } else {
                (delays[middle - 1] + delays[middle]) as f64 / 2.0
            };
            secs / DAY_SECS
        });
        let share = |count: u32| {
            if judged == 0 {
                0.0
            } else {
                f64::from(count) / f64::from(judged)
            }
        };
        let uninfected_restricted_person_days = restricted_days
            .iter()
            .zip(&epidemic.infections)
            .filter(|(_, infection)| infection.is_none())
            .map(|(days, _)| u64::from(*days))
            .sum();
        RunResult {
            total_infections: epidemic.infected_order.len() as u32,
            judged_infections: judged,
            caught_while_infectious: share(caught_infectious),
            caught_before_onward: share(caught_onward),
            median_delay_days,
            uninfected_restricted_person_days,
            restricted_person_days: restricted_days.iter().map(|days| u64::from(*days)).sum(),
            peak_node_load,
            daily_new_infections,
            daily_restricted,
            phase_secs: PhaseSeconds::default(),
        }
    }
}

/// A mean with its 95 % interval over seeds (Student's t; no interval for one seed).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Estimate {
    pub mean: f64,
    pub half_width: Option<f64>,
    pub samples: usize,
}

/// Two-sided 97.5 % quantiles of Student's t for 1 to 30 degrees of freedom.
const T_975: [f64; 30] = [
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
    2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
    2.052, 2.048, 2.045, 2.042,
];

impl Estimate {
    pub fn of(values: &[f64]) -> Option<Estimate> {
        if values.is_empty() {
            return None;
        }
        let count = values.len();
        let mean = values.iter().sum::<f64>() / count as f64;
        let half_width = (count > 1).then(|| {
            let variance = values
                .iter()
                .map(|value| (value - mean).powi(2))
                .sum::<f64>()
                / (count - 1) as f64;
            let t = T_975.get(count - 2).copied().unwrap_or(1.96);
            t * (variance / count as f64).sqrt()
        });
        Some(Estimate {
            mean,
            half_width,
            samples: count,
        })
    }
}
