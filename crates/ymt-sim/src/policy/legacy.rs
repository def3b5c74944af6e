//! LEGACY POLICIES — SIMULATOR ONLY. Nothing here exists in the node or may
//! ever be published: these are the practices issue 14 measures the
//! national rule set against (区域赋码, judging by the ID card's address,
//! 层层加码, the 800 m-grid companion rule). Each is an overlay the
//! simulated authority applies on top of the node's colors, from what it
//! knows (positive results reported, stays scanned), except 层层加码, which
//! is a rule set with parameters beyond the national bounds that the node
//! runs as it runs any rule set.

use ymt_core::Color;

use crate::epidemic::{COMMUNITIES_PER_DISTRICT, DISTRICTS, Population, Stay};

/// How long an area or county stays flagged after its latest case, days
/// (an assumption: the 14 days of the pre-9th-edition local rules).
pub const LEGACY_FLAG_DAYS: u32 = 14;
/// Days of a grid companion's yellow (pre-9th-edition practice: yellow
/// until two negative tests; here a fixed week).
pub const GRID_COMPANION_YELLOW_DAYS: u32 = 7;
/// A grid companion shared the cell for more than this (Chengdu's 10 minutes).
pub const GRID_COMPANION_MIN_STAY_SECS: i64 = 10 * 60;
/// Days of stays before a case's sampling that the grid rule looks at.
pub const GRID_LOOKBACK_DAYS: u32 = 4;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LegacyKind {
    /// 区域赋码: everyone whose home or a scanned stay of the last 14 days
    /// is in a district (street) with a case turns red.
    DistrictRed,
    /// Persons whose ID-card county has had a case turn yellow.
    IdCardAddress,
    /// Same community (as the 800 m grid cell) on the same day as a case,
    /// for more than 10 minutes: yellow.
    Grid800m,
}

/// The overlay's state over the run.
pub struct LegacyOverlay {
    kind: LegacyKind,
    /// Day (exclusive) until which each district is red.
    district_red_until: [u32; DISTRICTS],
    /// Day (exclusive) until which each ID-card county is flagged.
    county_flagged_until: Vec<u32>,
    /// Per person: day (exclusive) until which the overlay colors them.
    person_until: Vec<u32>,
    /// Districts visited (bit per district) per person, per day of the last 14.
    visited: Vec<Vec<u8>>,
    /// Scanned stays of the last few days (index: day modulo the ring).
    recent_stays: Vec<Vec<Stay>>,
}

impl LegacyOverlay {
    pub fn new(kind: LegacyKind, population: &Population) -> LegacyOverlay {
        let persons = population.len();
        LegacyOverlay {
            kind,
            district_red_until: [0; DISTRICTS],
            county_flagged_until: vec![0; population.id_counties.len()],
            person_until: vec![0; persons],
            visited: if kind == LegacyKind::DistrictRed {
                vec![vec![0; persons]; LEGACY_FLAG_DAYS as usize]
            } else {
                Vec::new()
            },
            recent_stays: vec![Vec::new(); GRID_LOOKBACK_DAYS as usize + 1],
        }
    }

    /// Learns a day's scanned stays and the cases reported that day
    /// (persons with a positive PCR reported).
    pub fn end_of_day(
        &mut self,
        day: u32,
        population: &Population,
        scanned: &[Stay],
        cases: &[u32],
    ) {
        let ring = self.recent_stays.len();
        self.recent_stays[day as usize % ring] = scanned.to_vec();
        match self.kind {
            LegacyKind::DistrictRed => {
                let slot = day as usize % self.visited.len();
                self.visited[slot].iter_mut().for_each(|mask| *mask = 0);
                for stay in scanned {
                    let district = population.venue_community[stay.venue as usize] as usize
                        / COMMUNITIES_PER_DISTRICT;
                    self.visited[slot][stay.person as usize] |= 1 << district;
                }
                for &case in cases {
                    let home = population.residents[case as usize].home_community as usize
                        / COMMUNITIES_PER_DISTRICT;
                    let mut districts = 1u8 << home;
                    for masks in &self.visited {
                        districts |= masks[case as usize];
                    }
                    for (district, until) in self.district_red_until.iter_mut().enumerate() {
                        if districts & (1 << district) != 0 {
                            *until = day + 1 + LEGACY_FLAG_DAYS;
                        }
                    }
                }
            }
            LegacyKind::IdCardAddress => {
                for &case in cases {
                    let county = population.residents[case as usize].id_county as usize;
                    self.county_flagged_until[county] = day + 1 + LEGACY_FLAG_DAYS;
                }
            }
            LegacyKind::Grid800m => {
                let case_set: std::collections::HashSet<u32> = cases.iter().copied().collect();
                if case_set.is_empty() {
                    return;
                }
                // Cells (community, day) the cases were in.
                let mut cells = std::collections::HashSet::new();
                for (slot, stays) in self.recent_stays.iter().enumerate() {
                    for stay in stays.iter().filter(|stay| case_set.contains(&stay.person)) {
                        cells.insert((population.venue_community[stay.venue as usize], slot));
                    }
                }
                for (slot, stays) in self.recent_stays.iter().enumerate() {
                    for stay in stays {
                        if stay.left - stay.entered > GRID_COMPANION_MIN_STAY_SECS
                            && cells
                                .contains(&(population.venue_community[stay.venue as usize], slot))
                        {
                            let until = &mut self.person_until[stay.person as usize];
                            *until = (*until).max(day + 1 + GRID_COMPANION_YELLOW_DAYS);
                        }
                    }
                }
            }
        }
    }

    /// The overlay's color of a person on a day.
    pub fn color(&self, day: u32, population: &Population, person: u32) -> Color {
        match self.kind {
            LegacyKind::DistrictRed => {
                let mut red_mask = 0u8;
                for (district, until) in self.district_red_until.iter().enumerate() {
                    if day < *until {
                        red_mask |= 1 << district;
                    }
                }
                if red_mask == 0 {
                    return Color::Green;
                }
                let home = population.residents[person as usize].home_community as usize
                    / COMMUNITIES_PER_DISTRICT;
                let mut mask = 1u8 << home;
                for masks in &self.visited {
                    mask |= masks[person as usize];
                }
                if mask & red_mask != 0 {
                    Color::Red
                } else {
                    Color::Green
                }
            }
            LegacyKind::IdCardAddress => {
                let county = population.residents[person as usize].id_county as usize;
                if day < self.county_flagged_until[county] {
                    Color::Yellow
                } else {
                    Color::Green
                }
            }
            LegacyKind::Grid800m => {
                if day < self.person_until[person as usize] {
                    Color::Yellow
                } else {
                    Color::Green
                }
            }
        }
    }
}

/// 层层加码 (SIMULATOR ONLY): the shipped national rule set with each level's
/// additions on top — longer quarantines and yellow periods, a longer
/// look-back, lower contact thresholds — and its bounds widened so that it
/// passes the publish checks of a rule set. The node runs it like any other
/// rule set; it exists only to be measured.
pub fn escalated_rule_set() -> Vec<u8> {
    let mut document: serde_json::Value =
        serde_json::from_str(ymt_rules::ruleset::NATIONAL_RULE_SET_JSON)
            .expect("the shipped national rule set is JSON");
    document["id"] = "cn-national".into();
    document["version"] = "99.0.0-legacy-escalation".into();
    let escalated: [(&str, i64); 11] = [
        ("closeContactQuarantineDays", 14),
        ("closeContactMonitoringDays", 7),
        ("secondaryContactQuarantineDays", 14),
        ("highRiskStayYellowDays", 14),
        ("mediumRiskStayYellowDays", 14),
        ("companionTestGapHours", 48),
        ("caseClearanceTestGapHours", 48),
        ("tracingLookbackDays", 7),
        ("tracingCompanionMinOverlapMinutes", 5),
        ("tracingCloseContactIndoorMinOverlapMinutes", 10),
        ("tracingCloseContactOutdoorMinOverlapMinutes", 60),
    ];
    for (name, value) in escalated {
        let spec = &mut document["parameters"][name];
        spec["default"] = value.into();
        spec["min"] = value.min(spec["min"].as_i64().unwrap_or(value)).into();
        spec["max"] = value.max(spec["max"].as_i64().unwrap_or(value)).into();
    }
    serde_json::to_vec_pretty(&document).expect("JSON serialises")
}
