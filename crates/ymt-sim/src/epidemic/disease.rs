//! The course of one infection: infectiousness by time since infection,
//! the incubation period, and test sensitivity by day since infection.
//!
//! Distributions are tabulated per hour once, from their mean and standard
//! deviation (gamma shapes), so a draw is a table look-up and every run
//! computes the same numbers.

use crate::epidemic::params::EpidemicParams;

pub(crate) const HOUR_SECS: i64 = 3_600;
pub(crate) const DAY_SECS: i64 = 24 * HOUR_SECS;
/// Hours tabulated: beyond three weeks nobody is infectious any more.
const TABLE_HOURS: usize = 21 * 24;

/// A gamma distribution with the given mean and standard deviation,
/// discretised per hour: `weights[h]` is the probability mass of hour `h`.
#[derive(Clone, Debug)]
pub(crate) struct HourlyTable {
    weights: Vec<f64>,
    cumulative: Vec<f64>,
}

impl HourlyTable {
    pub fn gamma(mean_days: f64, sd_days: f64) -> HourlyTable {
        let shape = (mean_days / sd_days).powi(2);
        let scale_hours = sd_days * sd_days / mean_days * 24.0;
        let mut weights: Vec<f64> = (0..TABLE_HOURS)
            .map(|hour| {
                let x = hour as f64 + 0.5;
                ((shape - 1.0) * x.ln() - x / scale_hours).exp()
            })
            .collect();
        let total: f64 = weights.iter().sum();
        for weight in &mut weights {
            *weight /= total;
        }
        let mut running = 0.0;
        let cumulative = weights
            .iter()
            .map(|weight| {
                running += weight;
                running
            })
            .collect();
        HourlyTable {
            weights,
            cumulative,
        }
    }

    /// The density per day at `secs` after the origin.
    pub fn density_per_day(&self, secs: i64) -> f64 {
        if secs < 0 {
            return 0.0;
        }
        self.weights
            .get((secs / HOUR_SECS) as usize)
            .map_or(0.0, |weight| weight * 24.0)
    }

    /// The mass between `from` and `to` seconds after the origin.
    pub fn mass_between(&self, from_secs: i64, to_secs: i64) -> f64 {
        let at = |secs: i64| -> f64 {
            if secs <= 0 {
                return 0.0;
            }
            let hour = (secs / HOUR_SECS) as usize;
            if hour >= self.cumulative.len() {
                return 1.0;
            }
            let before = if hour == 0 {
                0.0
            } else {
                self.cumulative[hour - 1]
            };
            let within = (secs % HOUR_SECS) as f64 / HOUR_SECS as f64;
            before + self.weights[hour] * within
        };
        (at(to_secs) - at(from_secs)).max(0.0)
    }

    /// The seconds after the origin at which a uniform draw `u` falls.
    pub fn sample_secs(&self, u: f64) -> i64 {
        let hour = self.cumulative.partition_point(|&mass| mass < u);
        let hour = hour.min(self.cumulative.len() - 1);
        hour as i64 * HOUR_SECS + HOUR_SECS / 2
    }

    /// The mean, in days.
    pub fn mean_days(&self) -> f64 {
        self.weights
            .iter()
            .enumerate()
            .map(|(hour, weight)| (hour as f64 + 0.5) * weight)
            .sum::<f64>()
            / 24.0
    }

    /// The first instant by which `mass` of the distribution has passed.
    pub fn quantile_secs(&self, mass: f64) -> i64 {
        self.sample_secs(mass) + HOUR_SECS / 2
    }
}

/// The tabulated course of an infection under one set of parameters.
#[derive(Clone, Debug)]
pub struct Disease {
    pub(crate) generation: HourlyTable,
    pub(crate) incubation: HourlyTable,
    /// After this many seconds since infection an infection is no longer
    /// counted as infectious (99 % of its infectiousness is spent).
    pub infectious_period_secs: i64,
    pcr_peak: f64,
    antigen_peak: f64,
}

/// Sensitivity relative to the peak by day since infection (piecewise
/// linear between these points; an assumption, docs/simulation.md).
const SENSITIVITY_SHAPE: [(f64, f64); 8] = [
    (0.0, 0.0),
    (1.0, 0.3),
    (2.0, 0.75),
    (3.0, 1.0),
    (10.0, 1.0),
    (15.0, 0.6),
    (20.0, 0.3),
    (30.0, 0.05),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TestKindSim {
    Pcr,
    Antigen,
}

impl Disease {
    pub fn new(params: &EpidemicParams) -> Disease {
        let generation = HourlyTable::gamma(params.generation_mean_days, params.generation_sd_days);
        let infectious_period_secs = generation.quantile_secs(0.99);
        Disease {
            generation,
            incubation: HourlyTable::gamma(params.incubation_mean_days, params.incubation_sd_days),
            infectious_period_secs,
            pcr_peak: params.pcr_peak_sensitivity,
            antigen_peak: params.antigen_peak_sensitivity,
        }
    }

    /// The chance that a test of `kind` sampled `since_infection_secs` after
    /// infection is positive.
    pub fn sensitivity(&self, kind: TestKindSim, since_infection_secs: i64) -> f64 {
        let days = since_infection_secs as f64 / DAY_SECS as f64;
        if days <= 0.0 {
            return 0.0;
        }
        let shape = SENSITIVITY_SHAPE
            .windows(2)
            .find(|pair| days < pair[1].0)
            .map_or(SENSITIVITY_SHAPE[SENSITIVITY_SHAPE.len() - 1].1, |pair| {
                let ((x0, y0), (x1, y1)) = (pair[0], pair[1]);
                y0 + (y1 - y0) * (days - x0) / (x1 - x0)
            });
        shape
            * match kind {
                TestKindSim::Pcr => self.pcr_peak,
                TestKindSim::Antigen => self.antigen_peak,
            }
    }

    /// The mean of the tabulated generation interval, days.
    pub fn generation_mean_days(&self) -> f64 {
        self.generation.mean_days()
    }

    /// The discretised generation interval per whole day (index: days).
    pub fn generation_per_day(&self) -> Vec<f64> {
        let days = TABLE_HOURS / 24;
        (0..days)
            .map(|day| {
                self.generation
                    .mass_between(day as i64 * DAY_SECS, (day as i64 + 1) * DAY_SECS)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_have_the_configured_mean() {
        let table = HourlyTable::gamma(3.0, 1.7);
        assert!(
            (table.mean_days() - 3.0).abs() < 0.02,
            "{}",
            table.mean_days()
        );
        assert!((table.mass_between(0, 30 * DAY_SECS) - 1.0).abs() < 1e-9);
    }

    #[test]
    fn sensitivity_rises_then_falls() {
        let disease = Disease::new(&EpidemicParams::default());
        let pcr = |days: f64| disease.sensitivity(TestKindSim::Pcr, (days * 86_400.0) as i64);
        assert_eq!(pcr(0.0), 0.0);
        assert!(pcr(1.5) < pcr(5.0));
        assert!((pcr(5.0) - 0.95).abs() < 1e-9);
        assert!(pcr(25.0) < pcr(12.0));
        assert!(disease.sensitivity(TestKindSim::Antigen, 5 * DAY_SECS) < pcr(5.0));
    }
}
