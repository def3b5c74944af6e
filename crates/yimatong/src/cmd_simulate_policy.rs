//! `yimatong simulate policy`: the policy simulator (issue 14). Runs each
//! policy over the same seeds with the real node in the loop, prints the
//! comparison table (mean and 95 % interval over seeds) and writes SVG
//! charts. docs/simulation.md describes the model and every parameter.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use ymt_core::{RegionCode, Timestamp};
use ymt_sim::CityConfig;
use ymt_sim::epidemic::EpidemicParams;
use ymt_sim::policy::{
    ChartLanguage, Policy, comparison_charts, comparison_table, goal_check, run_comparison_on,
};

/// Every parameter of the epidemic, one flag each (defaults and sources in docs/simulation.md).
#[derive(clap::Args, Clone, Debug)]
pub struct EpidemicArgs {
    /// Expected secondary infections per infection without codes (R); the venue rate is calibrated to it.
    #[arg(long, default_value_t = EpidemicParams::default().reproduction_number)]
    pub reproduction_number: f64,
    /// Mean generation interval, days (Park et al. 2023; Xu et al. 2023).
    #[arg(long, default_value_t = EpidemicParams::default().generation_mean_days)]
    pub generation_mean_days: f64,
    /// Standard deviation of the generation interval, days (assumption).
    #[arg(long, default_value_t = EpidemicParams::default().generation_sd_days)]
    pub generation_sd_days: f64,
    /// Mean incubation period, days (Xu et al. 2023, BA.1).
    #[arg(long, default_value_t = EpidemicParams::default().incubation_mean_days)]
    pub incubation_mean_days: f64,
    /// Standard deviation of the incubation period, days (assumption).
    #[arg(long, default_value_t = EpidemicParams::default().incubation_sd_days)]
    pub incubation_sd_days: f64,
    /// Share of infections without symptoms (assumption).
    #[arg(long, default_value_t = EpidemicParams::default().asymptomatic_fraction)]
    pub asymptomatic_fraction: f64,
    /// Infectiousness of an asymptomatic infection relative to a symptomatic one (assumption).
    #[arg(long, default_value_t = EpidemicParams::default().asymptomatic_relative_infectiousness)]
    pub asymptomatic_relative_infectiousness: f64,
    /// Chance one household member infects another over an infection (assumption).
    #[arg(long, default_value_t = EpidemicParams::default().household_attack_rate)]
    pub household_attack_rate: f64,
    /// Risk of an outdoor contact-hour relative to an indoor one (assumption).
    #[arg(long, default_value_t = EpidemicParams::default().outdoor_relative_risk)]
    pub outdoor_relative_risk: f64,
    /// Crowding factor 1 + weight x min(visitors / mean visitors, 4) (assumption).
    #[arg(long, default_value_t = EpidemicParams::default().crowding_weight)]
    pub crowding_weight: f64,
    /// Infected persons seeded on day 0.
    #[arg(long, default_value_t = EpidemicParams::default().initial_infections)]
    pub initial_infections: u32,
    /// Infected travellers arriving per day (assumption).
    #[arg(long, default_value_t = EpidemicParams::default().imported_infections_per_day)]
    pub imported_infections_per_day: f64,
    /// Days between rounds of mass PCR screening; 0: none.
    #[arg(long, default_value_t = EpidemicParams::default().mass_screening_interval_days)]
    pub mass_screening_interval_days: u32,
    /// Share of persons taking part in mass screening.
    #[arg(long, default_value_t = EpidemicParams::default().mass_screening_participation)]
    pub mass_screening_participation: f64,
    /// Share of symptomatic persons taking a PCR test after onset.
    #[arg(long, default_value_t = EpidemicParams::default().symptomatic_testing_fraction)]
    pub symptomatic_testing_fraction: f64,
    /// Share of symptomatic persons taking an antigen self-test at onset.
    #[arg(long, default_value_t = EpidemicParams::default().symptomatic_antigen_fraction)]
    pub symptomatic_antigen_fraction: f64,
    /// Hours from onset to the symptomatic PCR test.
    #[arg(long, default_value_t = EpidemicParams::default().symptomatic_test_delay_hours)]
    pub symptomatic_test_delay_hours: f64,
    /// Highest PCR sensitivity, days 3-10 after infection (assumption).
    #[arg(long, default_value_t = EpidemicParams::default().pcr_peak_sensitivity)]
    pub pcr_peak_sensitivity: f64,
    /// Highest antigen-test sensitivity (assumption).
    #[arg(long, default_value_t = EpidemicParams::default().antigen_peak_sensitivity)]
    pub antigen_peak_sensitivity: f64,
    /// Hours from a PCR sample to its reported result.
    #[arg(long, default_value_t = EpidemicParams::default().pcr_report_delay_hours)]
    pub pcr_report_delay_hours: f64,
    /// Minutes from an antigen sample to its reported result.
    #[arg(long, default_value_t = EpidemicParams::default().antigen_report_delay_minutes)]
    pub antigen_report_delay_minutes: f64,
    /// Share of venue stays scanned (checked in).
    #[arg(long, default_value_t = EpidemicParams::default().check_in_compliance)]
    pub check_in_compliance: f64,
    /// Venues per 1,000 persons.
    #[arg(long, default_value_t = EpidemicParams::default().venues_per_thousand_persons)]
    pub venues_per_thousand_persons: f64,
}

impl EpidemicArgs {
    pub fn params(&self) -> EpidemicParams {
        EpidemicParams {
            reproduction_number: self.reproduction_number,
            generation_mean_days: self.generation_mean_days,
            generation_sd_days: self.generation_sd_days,
            incubation_mean_days: self.incubation_mean_days,
            incubation_sd_days: self.incubation_sd_days,
            asymptomatic_fraction: self.asymptomatic_fraction,
            asymptomatic_relative_infectiousness: self.asymptomatic_relative_infectiousness,
            household_attack_rate: self.household_attack_rate,
            outdoor_relative_risk: self.outdoor_relative_risk,
            crowding_weight: self.crowding_weight,
            initial_infections: self.initial_infections,
            imported_infections_per_day: self.imported_infections_per_day,
            mass_screening_interval_days: self.mass_screening_interval_days,
            mass_screening_participation: self.mass_screening_participation,
            symptomatic_testing_fraction: self.symptomatic_testing_fraction,
            symptomatic_antigen_fraction: self.symptomatic_antigen_fraction,
            symptomatic_test_delay_hours: self.symptomatic_test_delay_hours,
            pcr_peak_sensitivity: self.pcr_peak_sensitivity,
            antigen_peak_sensitivity: self.antigen_peak_sensitivity,
            pcr_report_delay_hours: self.pcr_report_delay_hours,
            antigen_report_delay_minutes: self.antigen_report_delay_minutes,
            check_in_compliance: self.check_in_compliance,
            venues_per_thousand_persons: self.venues_per_thousand_persons,
        }
    }
}

#[derive(clap::Args)]
pub struct PolicyArgs {
    /// Persons in the synthetic city.
    #[arg(long, default_value_t = 10_000)]
    persons: usize,
    /// Days simulated.
    #[arg(long, default_value_t = 60)]
    days: u32,
    /// Seeds per policy: the first is --seed, then --seed + 1, ….
    #[arg(long, default_value_t = 1)]
    seeds: u32,
    /// The first seed: the same seed and options always give the same output.
    #[arg(long, default_value_t = CityConfig::default().seed)]
    seed: u64,
    /// A policy to compare (repeat it): national, candidate, district-red,
    /// id-card, escalation, grid-800m, no-codes. Default: every one but the
    /// candidate (and the candidate too when --candidate is given).
    /// no-codes always runs, as the baseline of infections averted.
    #[arg(long = "policy")]
    policies: Vec<String>,
    /// A candidate rule set or regional parameter profile (JSON), as it would be published.
    #[arg(long)]
    candidate: Option<PathBuf>,
    /// The first instant of the period (RFC 3339).
    #[arg(long, default_value_t = CityConfig::default().start)]
    start: Timestamp,
    /// The county (6-digit code) the city lies in.
    #[arg(long, default_value_t = CityConfig::default().region)]
    region: RegionCode,
    /// The directory the SVG charts are written to.
    #[arg(long, default_value = "simulation")]
    out: PathBuf,
    /// Runs at a time, each with its own node (memory grows with it); the
    /// output is the same for any number.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    jobs: u16,
    /// Show progress even when standard error is not a terminal (as lines, one per percent).
    #[arg(long)]
    progress: bool,
    #[command(flatten)]
    epidemic: EpidemicArgs,
}

pub fn run(args: PolicyArgs) -> anyhow::Result<ExitCode> {
    let params = args.epidemic.params();
    params
        .validate()
        .map_err(anyhow::Error::msg)
        .context("simulate policy")?;
    let config = CityConfig {
        seed: args.seed,
        persons: args.persons,
        venues: ymt_sim::VENUES_MIN,
        start: args.start,
        days: args.days,
        region: args.region,
    };
    config.validate().context("simulate policy")?;
    anyhow::ensure!(
        (1..=1000).contains(&args.seeds),
        "--seeds must lie between 1 and 1000"
    );
    let candidate = match &args.candidate {
        Some(path) => Some((
            path.display().to_string(),
            std::fs::read(path).with_context(|| format!("reading {}", path.display()))?,
        )),
        None => None,
    };
    let names: Vec<String> = if args.policies.is_empty() {
        ymt_sim::policy::POLICY_NAMES
            .iter()
            .filter(|name| **name != "candidate" || candidate.is_some())
            .map(|name| (*name).to_owned())
            .collect()
    } else {
        args.policies.clone()
    };
    let policies = names
        .iter()
        .map(|name| {
            Policy::parse(
                name,
                candidate
                    .as_ref()
                    .map(|(file, bytes)| (file.as_str(), bytes.as_slice())),
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    let runs_total = (policies
        .iter()
        .filter(|policy| **policy != Policy::NoCodes)
        .count()
        + 1) as u64
        * u64::from(args.seeds)
        * u64::from(args.days);
    let what = "simulated days (policies x seeds x days)";
    let bar = crate::progress::bar(runs_total, what);
    let lines = (args.progress && bar.is_hidden())
        .then(|| std::sync::Mutex::new(crate::progress::LineProgress::new(runs_total, what)));
    let started = std::time::Instant::now();
    let on_day = |_day: u32| {
        bar.inc(1);
        if let Some(lines) = &lines {
            lines.lock().expect("the progress lines").inc();
        }
    };
    let all = run_comparison_on(
        &config,
        &params,
        &policies,
        args.seeds,
        usize::from(args.jobs),
        &on_day,
    )?;
    bar.finish_and_clear();
    let elapsed = started.elapsed();
    print!("{}", comparison_table(&all));
    println!();
    print!("{}", goal_check(&all));
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let charts = comparison_charts(&all, ChartLanguage::English);
    for (name, svg) in charts {
        let path = args.out.join(name);
        std::fs::write(&path, svg).with_context(|| format!("writing {}", path.display()))?;
        println!("chart: {}", path.display());
    }
    // Timing goes to stderr: the standard output depends only on the seed and options.
    let person_days =
        args.persons as f64 * f64::from(args.days) * (runs_total / u64::from(args.days)) as f64;
    eprintln!(
        "simulated {} policy-seed runs in {:.1} s ({:.2} µs per simulated person-day)",
        runs_total / u64::from(args.days),
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1e6 / person_days
    );
    let mut phases = ymt_sim::policy::PhaseSeconds::default();
    for runs in &all {
        for run in &runs.runs {
            phases.add(&run.phase_secs);
        }
    }
    let share = |secs: f64| 100.0 * secs / phases.total().max(f64::MIN_POSITIVE);
    eprintln!(
        "where it went: setup {:.1} s ({:.0} %), node transitions and color reads {:.1} s ({:.0} %), \
         epidemic {:.1} s ({:.0} %), node ingest {:.1} s ({:.0} %), legacy overlays {:.1} s ({:.0} %)",
        phases.setup,
        share(phases.setup),
        phases.node_colors,
        share(phases.node_colors),
        phases.epidemic,
        share(phases.epidemic),
        phases.node_ingest,
        share(phases.node_ingest),
        phases.legacy_overlay,
        share(phases.legacy_overlay),
    );
    Ok(ExitCode::SUCCESS)
}
