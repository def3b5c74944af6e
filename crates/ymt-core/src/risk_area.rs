//! Risk-area designations as shared facts.
//!
//! An authority designates venues (or the venues of a region) as high- or
//! medium-risk for a window. The designation is one record, not one event
//! per person: a person's exposure is *derived* by joining their own
//! check-ins with the designations in force, exactly like every other fact.
//! That keeps the color a pure function of the person's events and the
//! designations, and it lets a designation reaching a million people be one
//! durable write instead of a million (see ARCHITECTURE.md, "Risk areas").
//!
//! The join picks, per person and designation, the overlapping stay that
//! ended last (then entered last, then by venue id), so every node and every
//! code path (the full re-evaluation and the incremental one used when a
//! designation takes effect) picks the same stay.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::event::RiskLevel;
use crate::facts::{Facts, RiskExposureFact};
use crate::{EventId, RegionCode, Timestamp, VenueId};

/// One designation in force.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RiskArea {
    /// The designation's id; it is also the id of every exposure it gives,
    /// so a decision's evidence names the designation.
    pub id: EventId,
    pub level: RiskLevel,
    /// The window in which presence counts.
    pub from: Timestamp,
    pub until: Timestamp,
    /// When the designation took effect. Facts as of an earlier instant do
    /// not include it, just as they do not include events recorded later.
    pub in_force_at: Timestamp,
    /// The venues covered, each with its region (the exposure's `area`).
    pub venues: BTreeMap<VenueId, RegionCode>,
}

/// A stay at a venue, in unix seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StaySecs {
    pub enter_secs: i64,
    pub leave_secs: i64,
}

impl RiskArea {
    /// Whether a stay at one of the area's venues overlaps the window.
    pub fn overlaps(&self, stay: StaySecs) -> bool {
        stay.enter_secs <= self.until.unix_secs() && stay.leave_secs >= self.from.unix_secs()
    }

    /// Whether `candidate` (at `candidate_venue`) should replace `best` (at
    /// `best_venue`) as the stay an exposure rests on: the later end wins,
    /// then the later entry, then the smaller venue id.
    pub fn prefers(
        candidate: StaySecs,
        candidate_venue: &VenueId,
        best: StaySecs,
        best_venue: &VenueId,
    ) -> bool {
        (
            candidate.leave_secs,
            candidate.enter_secs,
            std::cmp::Reverse(candidate_venue),
        ) > (
            best.leave_secs,
            best.enter_secs,
            std::cmp::Reverse(best_venue),
        )
    }

    /// The exposure fact of a chosen stay: the stay clipped to the window.
    /// Low-risk areas carry no restriction and give no exposure.
    pub fn exposure(&self, venue: &VenueId, stay: StaySecs) -> Option<RiskExposureFact> {
        if self.level == RiskLevel::Low || !self.overlaps(stay) {
            return None;
        }
        let area = self.venues.get(venue)?.clone();
        let from = stay.enter_secs.max(self.from.unix_secs());
        let until = stay.leave_secs.min(self.until.unix_secs());
        Some(RiskExposureFact {
            id: self.id.clone(),
            area,
            level: self.level,
            from: Timestamp::from_unix_secs(from).ok()?,
            until: Timestamp::from_unix_secs(until).ok()?,
        })
    }
}

/// The designations in force, looked up by venue.
#[derive(Clone, Debug, Default)]
pub struct RiskAreas {
    by_id: BTreeMap<EventId, Arc<RiskArea>>,
    by_venue: HashMap<VenueId, Vec<Arc<RiskArea>>>,
}

impl RiskAreas {
    pub fn new() -> RiskAreas {
        RiskAreas::default()
    }

    /// Adds a designation; a second one with the same id is ignored, since
    /// designations, like events, are immutable.
    pub fn insert(&mut self, area: Arc<RiskArea>) -> bool {
        if self.by_id.contains_key(&area.id) {
            return false;
        }
        for venue in area.venues.keys() {
            self.by_venue
                .entry(venue.clone())
                .or_default()
                .push(area.clone());
        }
        self.by_id.insert(area.id.clone(), area);
        true
    }

    /// Replaces a designation by a new form of it (the same id, a window
    /// cut short when it is lifted early); returns the form it replaced.
    /// Lifting is the one change a designation knows: its id, level and
    /// venues stay, so the exposures it gave keep their ids.
    pub fn replace(&mut self, area: Arc<RiskArea>) -> Option<Arc<RiskArea>> {
        let old = self.by_id.remove(&area.id)?;
        for venue in old.venues.keys() {
            if let Some(areas) = self.by_venue.get_mut(venue) {
                areas.retain(|known| known.id != old.id);
                if areas.is_empty() {
                    self.by_venue.remove(venue);
                }
            }
        }
        self.insert(area);
        Some(old)
    }

    pub fn get(&self, id: &EventId) -> Option<&Arc<RiskArea>> {
        self.by_id.get(id)
    }

    /// Whether a stay at `venue` from `enter_secs` to `leave_secs` (unknown:
    /// `None`) can give an exposure, or change which stay one rests on: some
    /// designation (in force or not yet) that is not low risk lists the
    /// venue and overlaps the stay. Otherwise [`RiskAreas::join`] ignores it.
    pub fn may_expose(&self, venue: &VenueId, enter_secs: i64, leave_secs: Option<i64>) -> bool {
        self.by_venue.get(venue).is_some_and(|areas| {
            areas.iter().any(|area| {
                area.level != RiskLevel::Low
                    && leave_secs.is_none_or(|leave_secs| {
                        area.overlaps(StaySecs {
                            enter_secs,
                            leave_secs,
                        })
                    })
            })
        })
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<RiskArea>> {
        self.by_id.values()
    }

    /// Adds to `facts` the exposures that the designations in force at `at`
    /// give to the person's check-ins, plus those of `extra` (a designation
    /// being previewed). Facts must come from [`Facts::derive`] at the same
    /// instant, so retracted and later check-ins are already gone.
    pub fn join(&self, facts: &mut Facts, at: Timestamp, extra: Option<&RiskArea>) {
        if facts.check_ins.is_empty() || (self.by_id.is_empty() && extra.is_none()) {
            return;
        }
        // Per designation, the chosen stay and its venue.
        let mut chosen: BTreeMap<&EventId, (&RiskArea, StaySecs, &VenueId)> = BTreeMap::new();
        for check_in in &facts.check_ins {
            let stay = StaySecs {
                enter_secs: check_in.entered_at.unix_secs(),
                leave_secs: check_in.left_at.unix_secs(),
            };
            let from_registry = self
                .by_venue
                .get(&check_in.venue)
                .into_iter()
                .flatten()
                .map(|area| area.as_ref());
            let from_extra = extra.filter(|area| area.venues.contains_key(&check_in.venue));
            for area in from_registry.chain(from_extra) {
                if area.in_force_at > at || area.level == RiskLevel::Low || !area.overlaps(stay) {
                    continue;
                }
                match chosen.get_mut(&area.id) {
                    Some(best) => {
                        if RiskArea::prefers(stay, &check_in.venue, best.1, best.2) {
                            *best = (area, stay, &check_in.venue);
                        }
                    }
                    None => {
                        chosen.insert(&area.id, (area, stay, &check_in.venue));
                    }
                }
            }
        }
        if chosen.is_empty() {
            return;
        }
        let mut exposures = Vec::with_capacity(chosen.len());
        for (id, (area, stay, venue)) in chosen {
            // An explicit exposure event with the same id (imported from
            // another system) already stands for this designation.
            if facts.risk_exposures.iter().any(|known| &known.id == id) {
                continue;
            }
            exposures.extend(area.exposure(venue, stay));
        }
        facts.risk_exposures.extend(exposures);
        facts
            .risk_exposures
            .sort_by(|a, b| (a.from, &a.id).cmp(&(b.from, &b.id)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{CheckIn, Event, EventBody};
    use crate::{EventId, PersonId};

    fn ts(text: &str) -> Timestamp {
        Timestamp::parse_rfc3339(text).unwrap()
    }

    fn area(id: &str, level: RiskLevel, venues: &[(&str, &str)]) -> RiskArea {
        RiskArea {
            id: EventId::parse(id).unwrap(),
            level,
            from: ts("2022-05-01T00:00:00Z"),
            until: ts("2022-05-03T00:00:00Z"),
            in_force_at: ts("2022-05-04T00:00:00Z"),
            venues: venues
                .iter()
                .map(|(venue, region)| {
                    (
                        VenueId::parse(venue).unwrap(),
                        RegionCode::parse(region).unwrap(),
                    )
                })
                .collect(),
        }
    }

    fn check_in(id: &str, venue: &str, enter: &str, leave: &str) -> Event {
        Event {
            id: EventId::parse(id).unwrap(),
            person: PersonId::parse("p1").unwrap(),
            recorded_at: ts("2022-05-03T12:00:00Z"),
            author: "venue".into(),
            body: EventBody::CheckIn(CheckIn {
                venue: VenueId::parse(venue).unwrap(),
                entered_at: ts(enter),
                left_at: Some(ts(leave)),
            }),
        }
    }

    /// One helper for every case: the exposures (id, area, from, until) that
    /// the registry gives the timeline at `at`.
    fn check(areas: &[RiskArea], events: &[Event], at: &str, expect: &[(&str, &str, &str, &str)]) {
        let mut registry = RiskAreas::new();
        for area in areas {
            registry.insert(Arc::new(area.clone()));
        }
        let at = ts(at);
        let mut facts = Facts::derive(events, at);
        registry.join(&mut facts, at, None);
        let got: Vec<(String, String, String, String)> = facts
            .risk_exposures
            .iter()
            .map(|exposure| {
                (
                    exposure.id.to_string(),
                    exposure.area.to_string(),
                    exposure.from.to_string(),
                    exposure.until.to_string(),
                )
            })
            .collect();
        let expect: Vec<(String, String, String, String)> = expect
            .iter()
            .map(|(a, b, c, d)| (a.to_string(), b.to_string(), c.to_string(), d.to_string()))
            .collect();
        assert_eq!(got, expect);
    }

    #[test]
    fn join_clips_picks_the_latest_stay_and_respects_time_and_level() {
        let high = area(
            "ra-1",
            RiskLevel::High,
            &[("v-a", "440305001001"), ("v-b", "440305001002")],
        );
        let low = area("ra-low", RiskLevel::Low, &[("v-a", "440305001001")]);
        let early = check_in("c1", "v-a", "2022-04-30T22:00:00Z", "2022-05-01T02:00:00Z");
        let later = check_in("c2", "v-b", "2022-05-02T10:00:00Z", "2022-05-02T11:00:00Z");
        let outside = check_in("c3", "v-a", "2022-05-03T10:00:00Z", "2022-05-03T11:00:00Z");
        let elsewhere = check_in("c4", "v-z", "2022-05-02T10:00:00Z", "2022-05-02T11:00:00Z");
        // Clipped to the window's start.
        check(
            std::slice::from_ref(&high),
            std::slice::from_ref(&early),
            "2022-05-05T00:00:00Z",
            &[(
                "ra-1",
                "440305001001",
                "2022-05-01T00:00:00Z",
                "2022-05-01T02:00:00Z",
            )],
        );
        // The stay that ended last wins, with its venue's region.
        check(
            &[high.clone(), low.clone()],
            &[early.clone(), later.clone(), outside.clone(), elsewhere],
            "2022-05-05T00:00:00Z",
            &[(
                "ra-1",
                "440305001002",
                "2022-05-02T10:00:00Z",
                "2022-05-02T11:00:00Z",
            )],
        );
        // Before the designation took effect, it is not a fact.
        check(
            std::slice::from_ref(&high),
            std::slice::from_ref(&later),
            "2022-05-03T23:59:59Z",
            &[],
        );
        // A stay outside the window, or a low-risk area, gives nothing.
        check(&[high, low], &[outside], "2022-05-05T00:00:00Z", &[]);
    }

    #[test]
    fn retracted_check_ins_give_no_exposure() {
        let high = area("ra-1", RiskLevel::High, &[("v-a", "440305001001")]);
        let stay = check_in("c1", "v-a", "2022-05-02T10:00:00Z", "2022-05-02T11:00:00Z");
        let retraction = Event {
            id: EventId::parse("r1").unwrap(),
            person: PersonId::parse("p1").unwrap(),
            recorded_at: ts("2022-05-03T13:00:00Z"),
            author: "venue".into(),
            body: EventBody::Retraction(crate::event::Retraction {
                target: EventId::parse("c1").unwrap(),
                reason: "scanned by mistake".into(),
            }),
        };
        check(&[high], &[stay, retraction], "2022-05-05T00:00:00Z", &[]);
    }

    #[test]
    fn a_lifted_area_no_longer_counts_stays_after_it_was_lifted() {
        let mut registry = RiskAreas::new();
        let original = area("ra-1", RiskLevel::High, &[("v-a", "440305001001")]);
        registry.insert(Arc::new(original.clone()));
        let lifted = RiskArea {
            until: ts("2022-05-01T12:00:00Z"),
            ..original
        };
        assert!(registry.replace(Arc::new(lifted)).is_some());
        assert_eq!(registry.len(), 1);
        let at = ts("2022-05-04T00:00:00Z");
        let before = check_in("c1", "v-a", "2022-05-01T10:00:00Z", "2022-05-01T14:00:00Z");
        let after = check_in("c2", "v-a", "2022-05-02T10:00:00Z", "2022-05-02T14:00:00Z");
        let mut facts = Facts::derive([&before, &after], at);
        registry.join(&mut facts, at, None);
        // The stay that overlaps the lifted window still gives an exposure,
        // cut at the lift; the later stay gives none.
        let exposures: Vec<(String, String)> = facts
            .risk_exposures
            .iter()
            .map(|exposure| (exposure.from.to_string(), exposure.until.to_string()))
            .collect();
        assert_eq!(
            exposures,
            vec![(
                "2022-05-01T10:00:00Z".to_string(),
                "2022-05-01T12:00:00Z".to_string()
            )]
        );
        // Replacing an unknown designation changes nothing.
        let unknown = area("ra-x", RiskLevel::High, &[("v-a", "440305001001")]);
        assert!(registry.replace(Arc::new(unknown)).is_none());
        assert_eq!(registry.len(), 1);
    }
}
