//! The epidemic's parameters. Every one has a default, a source (or says it
//! is an assumption) in docs/simulation.md, and a command-line flag of
//! `yimatong simulate policy` named after the field (`--generation-mean-days`).

/// Parameters of the disease, of transmission and of behaviour.
#[derive(Clone, Debug, PartialEq)]
pub struct EpidemicParams {
    /// Expected secondary infections of one infection in a fully susceptible
    /// city without codes (R). The venue transmission rate is calibrated to
    /// it (docs/simulation.md, "Calibration").
    pub reproduction_number: f64,
    /// Mean of the generation interval (infectiousness by time since
    /// infection), days. Park et al. 2023; Xu et al. 2023.
    pub generation_mean_days: f64,
    /// Standard deviation of the generation interval, days. Assumption.
    pub generation_sd_days: f64,
    /// Mean incubation period, days. Xu et al. 2023 (BA.1).
    pub incubation_mean_days: f64,
    /// Standard deviation of the incubation period, days. Assumption.
    pub incubation_sd_days: f64,
    /// Share of infections that never show symptoms. Assumption.
    pub asymptomatic_fraction: f64,
    /// Infectiousness of an asymptomatic infection relative to a
    /// symptomatic one. Assumption.
    pub asymptomatic_relative_infectiousness: f64,
    /// Chance that one household member infects another over the whole
    /// infection (a symptomatic infector, everyone at home). Assumption.
    pub household_attack_rate: f64,
    /// Risk of an outdoor contact-hour relative to an indoor one. Assumption.
    pub outdoor_relative_risk: f64,
    /// How much crowding raises the risk of a contact-hour: the factor is
    /// 1 + weight × min(visitors / mean visitors of a venue, 4). Assumption.
    pub crowding_weight: f64,
    /// Infected persons seeded on day 0.
    pub initial_infections: u32,
    /// Infected travellers arriving per day (residents returning infected
    /// from elsewhere). Assumption.
    pub imported_infections_per_day: f64,
    /// Days between two rounds of mass screening (PCR); 0: none.
    pub mass_screening_interval_days: u32,
    /// Share of persons who take part in mass screening.
    pub mass_screening_participation: f64,
    /// Share of symptomatic persons who get a PCR test after onset.
    pub symptomatic_testing_fraction: f64,
    /// Share of symptomatic persons who take an antigen self-test at onset.
    pub symptomatic_antigen_fraction: f64,
    /// Hours from onset to the symptomatic PCR test.
    pub symptomatic_test_delay_hours: f64,
    /// Highest sensitivity of PCR (reached days 3 to 10 after infection). Assumption.
    pub pcr_peak_sensitivity: f64,
    /// Highest sensitivity of an antigen test. Assumption.
    pub antigen_peak_sensitivity: f64,
    /// Hours from a PCR sample to its reported result.
    pub pcr_report_delay_hours: f64,
    /// Minutes from an antigen sample to its reported result.
    pub antigen_report_delay_minutes: f64,
    /// Share of venue stays that are scanned (checked in).
    pub check_in_compliance: f64,
    /// Venues per 1,000 persons.
    pub venues_per_thousand_persons: f64,
}

impl Default for EpidemicParams {
    fn default() -> EpidemicParams {
        EpidemicParams {
            reproduction_number: 1.8,
            generation_mean_days: 3.0,
            generation_sd_days: 1.7,
            incubation_mean_days: 3.5,
            incubation_sd_days: 1.8,
            asymptomatic_fraction: 0.3,
            asymptomatic_relative_infectiousness: 0.5,
            household_attack_rate: 0.25,
            outdoor_relative_risk: 0.2,
            crowding_weight: 0.5,
            initial_infections: 10,
            imported_infections_per_day: 1.0,
            mass_screening_interval_days: 3,
            mass_screening_participation: 0.8,
            symptomatic_testing_fraction: 0.7,
            symptomatic_antigen_fraction: 0.3,
            symptomatic_test_delay_hours: 24.0,
            pcr_peak_sensitivity: 0.95,
            antigen_peak_sensitivity: 0.65,
            pcr_report_delay_hours: 12.0,
            antigen_report_delay_minutes: 30.0,
            check_in_compliance: 0.9,
            venues_per_thousand_persons: 20.0,
        }
    }
}

impl EpidemicParams {
    /// Refuses values outside their meaning (a share above 1, a negative
    /// delay), naming the field.
    pub fn validate(&self) -> Result<(), String> {
        let shares = [
            ("asymptomatic-fraction", self.asymptomatic_fraction),
            (
                "asymptomatic-relative-infectiousness",
                self.asymptomatic_relative_infectiousness,
            ),
            ("household-attack-rate", self.household_attack_rate),
            ("outdoor-relative-risk", self.outdoor_relative_risk),
            (
                "mass-screening-participation",
                self.mass_screening_participation,
            ),
            (
                "symptomatic-testing-fraction",
                self.symptomatic_testing_fraction,
            ),
            (
                "symptomatic-antigen-fraction",
                self.symptomatic_antigen_fraction,
            ),
            ("pcr-peak-sensitivity", self.pcr_peak_sensitivity),
            ("antigen-peak-sensitivity", self.antigen_peak_sensitivity),
            ("check-in-compliance", self.check_in_compliance),
        ];
        for (name, value) in shares {
            if !(0.0..=1.0).contains(&value) {
                return Err(format!("{name} must lie between 0 and 1, got {value}"));
            }
        }
        if self.household_attack_rate >= 1.0 {
            return Err("household-attack-rate must be below 1".into());
        }
        let ranges = [
            ("reproduction-number", self.reproduction_number, 0.0, 20.0),
            ("generation-mean-days", self.generation_mean_days, 0.5, 14.0),
            ("generation-sd-days", self.generation_sd_days, 0.2, 10.0),
            ("incubation-mean-days", self.incubation_mean_days, 0.5, 14.0),
            ("incubation-sd-days", self.incubation_sd_days, 0.2, 10.0),
            ("crowding-weight", self.crowding_weight, 0.0, 10.0),
            (
                "imported-infections-per-day",
                self.imported_infections_per_day,
                0.0,
                10_000.0,
            ),
            (
                "symptomatic-test-delay-hours",
                self.symptomatic_test_delay_hours,
                0.0,
                240.0,
            ),
            (
                "pcr-report-delay-hours",
                self.pcr_report_delay_hours,
                0.0,
                240.0,
            ),
            (
                "antigen-report-delay-minutes",
                self.antigen_report_delay_minutes,
                0.0,
                1440.0,
            ),
            (
                "venues-per-thousand-persons",
                self.venues_per_thousand_persons,
                0.1,
                1000.0,
            ),
        ];
        for (name, value, min, max) in ranges {
            if !(min..=max).contains(&value) {
                return Err(format!(
                    "{name} must lie between {min} and {max}, got {value}"
                ));
            }
        }
        if self.mass_screening_interval_days > 60 {
            return Err("mass-screening-interval-days must be at most 60".into());
        }
        Ok(())
    }
}
