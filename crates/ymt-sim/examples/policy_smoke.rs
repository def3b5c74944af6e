//! A quick look at a small comparison (development aid).
use ymt_sim::CityConfig;

// As in the `yimatong` binary: the node in the loop allocates heavily.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use ymt_sim::epidemic::EpidemicParams;
use ymt_sim::policy::{Policy, comparison_table, goal_check, run_comparison_on};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let persons: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(2000);
    let days: u32 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(30);
    let config = CityConfig {
        persons,
        venues: 5,
        days,
        ..CityConfig::default()
    };
    // Overrides for quick sensitivity runs: SIM_PCR_DELAY_HOURS,
    // SIM_SCREENING_DAYS, SIM_COMPLIANCE; SIM_SEEDS, SIM_JOBS.
    let env = |name: &str| {
        std::env::var(name)
            .ok()
            .and_then(|value| value.parse::<f64>().ok())
    };
    let mut params = EpidemicParams::default();
    if let Some(hours) = env("SIM_PCR_DELAY_HOURS") {
        params.pcr_report_delay_hours = hours;
    }
    if let Some(days) = env("SIM_SCREENING_DAYS") {
        params.mass_screening_interval_days = days as u32;
    }
    if let Some(share) = env("SIM_COMPLIANCE") {
        params.check_in_compliance = share;
    }
    let started = std::time::Instant::now();
    let policies: Vec<Policy> = if args.len() > 3 {
        args[3..]
            .iter()
            .map(|name| Policy::parse(name, None).unwrap())
            .collect()
    } else {
        vec![
            Policy::National,
            Policy::DistrictRed,
            Policy::IdCardAddress,
            Policy::Escalation,
            Policy::Grid800m,
        ]
    };
    // SIM_SEEDS seeds per policy, SIM_JOBS runs at a time.
    let seeds = env("SIM_SEEDS").map_or(1, |seeds| seeds as u32);
    let jobs = env("SIM_JOBS").map_or(1, |jobs| jobs as usize);
    let all = run_comparison_on(&config, &params, &policies, seeds, jobs, &|_| {}).unwrap();
    print!("{}", comparison_table(&all));
    print!("{}", goal_check(&all));
    for runs in &all {
        println!(
            "{}: {:?}",
            runs.policy.name(),
            runs.runs[0].daily_new_infections
        );
    }
    for runs in &all {
        eprintln!("{}: {:?}", runs.policy.name(), runs.runs[0].phase_secs);
    }
    eprintln!("{:?}", started.elapsed());
}
