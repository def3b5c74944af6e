//! The policy simulator's acceptance tests (issue 14): determinism, and
//! validation of the epidemic against its configuration and of the node's
//! automatic tracing against the ground truth. Small cities, so they stay
//! fast; every figure is computed, no clock is read.

use ymt_sim::CityConfig;
use ymt_sim::epidemic::{Epidemic, EpidemicParams, Place, Restriction};
use ymt_sim::policy::{
    Policy, comparison_table, line_chart_svg, run_comparison_on, run_policy_traced,
};

const DAY_SECS: i64 = 86_400;

fn city(persons: usize, days: u32, seed: u64) -> CityConfig {
    CityConfig {
        seed,
        persons,
        venues: 5,
        days,
        ..CityConfig::default()
    }
}

/// The table and both charts of a small comparison, as the CLI prints and
/// writes them, with `workers` runs at a time.
fn comparison_output_on(seed: u64, workers: usize) -> String {
    let policies = [Policy::National, Policy::Grid800m];
    let all = run_comparison_on(
        &city(200, 10, seed),
        &EpidemicParams::default(),
        &policies,
        2,
        workers,
        &|_| {},
    )
    .expect("the comparison runs");
    let mut output = comparison_table(&all);
    output.push_str(&line_chart_svg(
        "infections",
        "day",
        "infections",
        &all,
        &|run| &run.daily_new_infections,
    ));
    output.push_str(&line_chart_svg(
        "restricted",
        "day",
        "persons",
        &all,
        &|run| &run.daily_restricted,
    ));
    output
}

fn comparison_output(seed: u64) -> String {
    comparison_output_on(seed, 1)
}

#[test]
fn runs_side_by_side_give_the_same_output_as_one_at_a_time() {
    assert_eq!(comparison_output_on(7, 2), comparison_output(7));
}

#[test]
fn the_same_seed_and_options_give_byte_identical_output() {
    let first = comparison_output(7);
    let second = comparison_output(7);
    assert_eq!(first, second, "two runs with the same seed differ");
    assert_ne!(
        first,
        comparison_output(8),
        "the seed changes nothing: it is not used"
    );
}

/// Runs the epidemic alone, without codes (no restriction), as the no-codes policy does.
fn epidemic_without_codes(config: &CityConfig, params: EpidemicParams) -> Epidemic {
    let mut epidemic = Epidemic::new(config, params).expect("the epidemic builds");
    let persons = epidemic.population.len();
    let restrictions = vec![Restriction::None; persons];
    let since = vec![-1; persons];
    for day in 0..config.days {
        epidemic.step_day(day, &restrictions, &since);
    }
    epidemic
}

fn growth_params() -> EpidemicParams {
    EpidemicParams {
        reproduction_number: 1.5,
        initial_infections: 30,
        imported_infections_per_day: 0.0,
        ..EpidemicParams::default()
    }
}

/// The growth rate r that a gamma generation interval (shape k, scale θ
/// days) and R imply (Euler–Lotka: R = (1 + rθ)^k).
fn implied_growth_rate(params: &EpidemicParams, reproduction_number: f64) -> f64 {
    let shape = (params.generation_mean_days / params.generation_sd_days).powi(2);
    let scale = params.generation_sd_days.powi(2) / params.generation_mean_days;
    (reproduction_number.powf(1.0 / shape) - 1.0) / scale
}

/// Least-squares slope of ln(daily infections) over the days given.
fn log_linear_slope(daily: &[u32], days: std::ops::Range<usize>) -> f64 {
    let points: Vec<(f64, f64)> = days
        .map(|day| (day as f64, f64::from(daily[day].max(1)).ln()))
        .collect();
    let n = points.len() as f64;
    let mean_x = points.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_y = points.iter().map(|p| p.1).sum::<f64>() / n;
    let covariance: f64 = points.iter().map(|p| (p.0 - mean_x) * (p.1 - mean_y)).sum();
    let variance: f64 = points.iter().map(|p| (p.0 - mean_x).powi(2)).sum();
    covariance / variance
}

/// Tolerance: the realised R of the first infections (ground truth: their
/// infectees) within 25 % of the configured one, and the early growth rate
/// within 35 % of the rate that this R and the configured generation
/// interval imply (Euler–Lotka). Measured with this seed: R 1.22 for 1.5
/// configured (the calibration assumes proportionate mixing; repeated
/// contacts among the same coworkers and households saturate), growth
/// 0.075/day against 0.066/day implied by the realised R (0.144/day by the
/// configured R). docs/simulation.md, "Validation".
#[test]
fn early_growth_without_codes_matches_the_configured_reproduction_number() {
    let params = growth_params();
    let config = city(20_000, 36, 11);
    let epidemic = epidemic_without_codes(&config, params.clone());
    let start = epidemic.population.day_start(0);
    let mut daily = vec![0u32; config.days as usize];
    for infection in epidemic.infections.iter().flatten() {
        let day = ((infection.infected_at - start) / DAY_SECS) as usize;
        if day < daily.len() {
            daily[day] += 1;
        }
    }
    // Secondary infections of everyone infected on days 2 to 14 but the
    // seeds, who are random persons rather than persons chosen by their
    // contacts (their infectious periods end well before day 36).
    let early: Vec<usize> = (0..epidemic.infections.len())
        .filter(|&person| {
            epidemic.infections[person].is_some_and(|infection| {
                infection.place != Place::Seed
                    && (start + 2 * DAY_SECS..start + 14 * DAY_SECS)
                        .contains(&infection.infected_at)
            })
        })
        .collect();
    let mut secondary = vec![0u32; epidemic.infections.len()];
    for infection in epidemic.infections.iter().flatten() {
        if let Some(infector) = infection.infector {
            secondary[infector as usize] += 1;
        }
    }
    let realised_r = early
        .iter()
        .map(|&person| f64::from(secondary[person]))
        .sum::<f64>()
        / early.len() as f64;
    let infected_share = epidemic.infected_order.len() as f64 / epidemic.population.len() as f64;
    let growth = log_linear_slope(&daily, 8..28);
    let implied = implied_growth_rate(&params, realised_r);
    eprintln!(
        "configured R {:.2}, realised R of days 2 to 14 {:.3} over {} infections; growth {:.4}/day, implied by the realised R {:.4}/day, by the configured R {:.4}/day; {:.1} % infected by day 36; daily {:?}",
        params.reproduction_number,
        realised_r,
        early.len(),
        growth,
        implied,
        implied_growth_rate(&params, params.reproduction_number),
        infected_share * 100.0,
        daily
    );
    assert!(
        (realised_r / params.reproduction_number - 1.0).abs() <= 0.25,
        "realised R {realised_r:.3} is not within 25 % of {}",
        params.reproduction_number
    );
    assert!(
        (growth / implied - 1.0).abs() <= 0.35,
        "growth rate {growth:.4}/day is not within 35 % of the implied {implied:.4}/day"
    );
}

/// Tolerance: the realised mean generation interval of the first
/// infections within 0.4 days of the configured mean, and the distribution
/// per whole day within a total-variation distance of 0.12.
#[test]
fn the_realised_generation_interval_matches_the_configured_distribution() {
    let params = growth_params();
    let config = city(20_000, 36, 12);
    let epidemic = epidemic_without_codes(&config, params.clone());
    let start = epidemic.population.day_start(0);
    let mut intervals_secs = Vec::new();
    for infection in epidemic.infections.iter().flatten() {
        if let Some(infector) = infection.infector {
            let source = epidemic.infections[infector as usize].expect("infectors are infected");
            if source.infected_at < start + 12 * DAY_SECS {
                intervals_secs.push(infection.infected_at - source.infected_at);
            }
        }
    }
    assert!(
        intervals_secs.len() > 200,
        "too few transmissions to judge: {}",
        intervals_secs.len()
    );
    let mean_days =
        intervals_secs.iter().sum::<i64>() as f64 / intervals_secs.len() as f64 / DAY_SECS as f64;
    let configured = epidemic.disease.generation_per_day();
    let mut realised = vec![0.0f64; configured.len()];
    for secs in &intervals_secs {
        let day = (*secs / DAY_SECS) as usize;
        if day < realised.len() {
            realised[day] += 1.0 / intervals_secs.len() as f64;
        }
    }
    let distance: f64 = configured
        .iter()
        .zip(&realised)
        .map(|(a, b)| (a - b).abs())
        .sum::<f64>()
        / 2.0;
    eprintln!(
        "generation interval: realised mean {mean_days:.3} days over {} transmissions, configured {:.3}; total-variation distance {distance:.3}",
        intervals_secs.len(),
        params.generation_mean_days
    );
    assert!(
        (mean_days - params.generation_mean_days).abs() <= 0.4,
        "realised mean {mean_days:.3} days"
    );
    assert!(distance <= 0.12, "total-variation distance {distance:.3}");
}

#[test]
fn with_perfect_compliance_and_instant_reporting_tracing_flags_every_venue_infection_meeting_the_close_contact_thresholds()
 {
    let params = EpidemicParams {
        reproduction_number: 3.0,
        initial_infections: 16,
        imported_infections_per_day: 0.0,
        check_in_compliance: 1.0,
        pcr_report_delay_hours: 0.0,
        antigen_report_delay_minutes: 0.0,
        // Every third day, so infectors meet others before they are found.
        mass_screening_interval_days: 3,
        mass_screening_participation: 1.0,
        symptomatic_testing_fraction: 1.0,
        symptomatic_test_delay_hours: 0.0,
        ..EpidemicParams::default()
    };
    let (_, trace) = run_policy_traced(
        &city(1_000, 12, 21),
        &params,
        &Policy::National,
        &mut |_| {},
        true,
    )
    .expect("the run completes");
    let trace = trace.expect("a traced run keeps its trace");
    let epidemic = &trace.epidemic;
    // National thresholds (cn-national.json): indoors 30 minutes, a
    // look-back of 4 days before the infector's sampling.
    let (indoor_min_secs, lookback_secs) = (30 * 60, 4 * DAY_SECS);
    let mut meeting = 0;
    let mut missed = Vec::new();
    let venue_infections = epidemic
        .infections
        .iter()
        .flatten()
        .filter(|i| matches!(i.place, Place::Venue { .. }))
        .count();
    let positives = trace.first_positive_pcr_sampled.iter().flatten().count();
    eprintln!(
        "infections {}, at venues {venue_infections}, persons with a positive PCR {positives}",
        epidemic.infected_order.len()
    );
    for (person, infection) in epidemic.infections.iter().enumerate() {
        let Some(infection) = infection else { continue };
        let Place::Venue {
            venue,
            overlap_secs,
            infector_stay,
            ..
        } = infection.place
        else {
            continue;
        };
        let infector = infection
            .infector
            .expect("a venue infection has an infector") as usize;
        let Some(sampled) = trace.first_positive_pcr_sampled[infector] else {
            continue;
        };
        let indoor = epidemic.population.venues[venue as usize].indoor;
        // Reported at once, the result is traced at the end of its day,
        // after that day's check-ins went in: the window runs from 4 days
        // before sampling to then.
        let start = epidemic.population.day_start(0);
        let traced_at = start + ((sampled - start) / DAY_SECS + 1) * DAY_SECS;
        if indoor
            && overlap_secs >= indoor_min_secs
            && infector_stay.0 >= sampled - lookback_secs
            && infector_stay.1 <= traced_at
        {
            meeting += 1;
            if !trace.designated_close_contact[person] {
                missed.push((person, infector, venue, overlap_secs));
            }
        }
    }
    eprintln!(
        "venue infections meeting the close-contact thresholds: {meeting}, not flagged: {}",
        missed.len()
    );
    assert!(
        meeting > 0,
        "the scenario must have venue infections to check"
    );
    assert!(
        missed.is_empty(),
        "not flagged by automatic tracing: {missed:?}"
    );
}

#[test]
fn the_escalated_legacy_rule_set_passes_the_publish_checks_only_because_its_bounds_are_widened() {
    let document = ymt_sim::policy::legacy::escalated_rule_set();
    let rule_set =
        ymt_rules::RuleSet::publish(&document).expect("the legacy rule set is a valid rule set");
    assert_eq!(
        rule_set.default_parameters()["closeContactQuarantineDays"],
        14
    );
    // The same values as a profile of the shipped national set are refused.
    let profile = serde_json::json!({
        "kind": "parameter-profile", "id": "escalation", "region": "440305",
        "ruleSet": "cn-national", "version": "1.0.0", "validFrom": "2022-07-01T00:00:00Z",
        "parameters": {"closeContactQuarantineDays": 14}, "reason": "层层加码"
    });
    assert!(
        ymt_rules::RuleSet::national()
            .check_profile(profile.to_string().as_bytes())
            .is_err()
    );
}
