//! How many persons are registered in each region, kept in memory.
//!
//! The dashboard of a health authority counts the persons registered in its
//! jurisdiction by color. Listing every registration for that is capped
//! (the store's `meta_list_max`, 100,000) and would fail past it; this count
//! is rebuilt once at start by streaming the registrations, then kept up to
//! date by every registration. Colors come from the projection's non-green
//! persons (green = registered − yellow − red).

use std::collections::HashMap;

use parking_lot::{Mutex, MutexGuard};
use ymt_core::RegionCode;

/// Registered persons per region of registration.
#[derive(Default)]
pub struct RegisteredPersons {
    by_region: Mutex<HashMap<RegionCode, i64>>,
}

/// The counts, locked by a registration from reading the previous record to
/// updating them, so two registrations of one person count once.
pub type RegisteredPersonsGuard<'a> = MutexGuard<'a, HashMap<RegionCode, i64>>;

impl RegisteredPersons {
    pub fn lock(&self) -> RegisteredPersonsGuard<'_> {
        self.by_region.lock()
    }

    /// Counts a registration: a new person in `region`, or one moved there
    /// from `previous` (re-registration in the same region changes nothing).
    pub fn record(
        counts: &mut HashMap<RegionCode, i64>,
        previous: Option<&RegionCode>,
        region: &RegionCode,
    ) {
        if previous == Some(region) {
            return;
        }
        if let Some(previous) = previous
            && let Some(count) = counts.get_mut(previous)
        {
            *count -= 1;
            if *count <= 0 {
                counts.remove(previous);
            }
        }
        *counts.entry(region.clone()).or_default() += 1;
    }

    /// Persons registered in the regions `in_scope` accepts.
    pub fn total_where(&self, in_scope: impl Fn(&RegionCode) -> bool) -> i64 {
        self.by_region
            .lock()
            .iter()
            .filter(|(region, _)| in_scope(region))
            .map(|(_, count)| *count)
            .sum()
    }

    /// Replaces the counts (at start).
    pub fn replace(&self, counts: HashMap<RegionCode, i64>) {
        *self.by_region.lock() = counts;
    }
}
