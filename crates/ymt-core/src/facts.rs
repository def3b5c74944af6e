//! Person facts: what the rules see of one person's timeline at an instant.
//!
//! Facts are derived from events by [`Facts::derive`]:
//! - only events recorded at or before the instant count;
//! - duplicates (same id) count once;
//! - a retraction removes its target (and is itself not a fact);
//! - every list is sorted by its own instant, then by event id, so the result
//!   does not depend on the order in which events arrived.
//!
//! There is deliberately no home address and no ID-card region here: a rule
//! cannot judge a person by where their card says they live, only by what
//! happened. The JSON shape is documented in docs/facts.md and versioned by
//! [`FACTS_VERSION`].

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::event::{
    CHECK_IN_DEFAULT_STAY_SECS, ContactKind, Event, EventBody, QuarantineKind, RiskLevel, TestKind,
    TestOutcome,
};
use crate::{Color, EventId, PersonId, RegionCode, Timestamp, VenueId};

/// The version of the facts document. Bumped on any change a rule could notice.
pub const FACTS_VERSION: u32 = 1;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Facts {
    pub version: u32,
    pub tests: Vec<TestFact>,
    pub vaccinations: Vec<VaccinationFact>,
    pub check_ins: Vec<CheckInFact>,
    pub travel: Vec<TravelFact>,
    pub contacts: Vec<ContactFact>,
    pub risk_exposures: Vec<RiskExposureFact>,
    pub quarantines: Vec<QuarantineFact>,
    pub overrides: Vec<OverrideFact>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TestFact {
    pub id: EventId,
    pub test: TestKind,
    pub result: TestOutcome,
    pub sampled_at: Timestamp,
    pub reported_at: Timestamp,
    pub lab: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VaccinationFact {
    pub id: EventId,
    pub product: String,
    pub dose: u8,
    pub administered_at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CheckInFact {
    pub id: EventId,
    pub venue: VenueId,
    pub entered_at: Timestamp,
    /// The recorded departure, or the entry plus the default stay.
    pub left_at: Timestamp,
    pub left_at_assumed: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TravelFact {
    pub id: EventId,
    pub region: RegionCode,
    pub arrived_at: Timestamp,
    pub departed_at: Option<Timestamp>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContactFact {
    pub id: EventId,
    pub kind: ContactKind,
    pub source_case: Option<PersonId>,
    pub designated_at: Timestamp,
    pub designated_by: String,
    pub last_exposure_at: Timestamp,
    pub venue: Option<VenueId>,
    pub overlap_start: Option<Timestamp>,
    pub overlap_end: Option<Timestamp>,
    pub rule: Option<String>,
    pub reason: String,
}

/// The intersection of a stay in an area with the window in which the area
/// was designated. Exposures whose stay missed the window are not facts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RiskExposureFact {
    pub id: EventId,
    pub area: RegionCode,
    pub level: RiskLevel,
    pub from: Timestamp,
    pub until: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QuarantineFact {
    pub id: EventId,
    pub kind: QuarantineKind,
    pub start: Timestamp,
    pub end: Timestamp,
    pub ordered_by: String,
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OverrideFact {
    pub id: EventId,
    pub color: Color,
    pub reason: String,
    pub by: String,
    pub from: Timestamp,
    pub until: Timestamp,
}

/// Every fact list and the fields of its items, as rules may name them
/// (`facts.<list>` and `<item>.<field>`). Publishing a rule that names
/// anything else is refused.
pub const FACT_LISTS: &[(&str, &[&str])] = &[
    (
        "tests",
        &["id", "test", "result", "sampledAt", "reportedAt", "lab"],
    ),
    ("vaccinations", &["id", "product", "dose", "administeredAt"]),
    (
        "checkIns",
        &["id", "venue", "enteredAt", "leftAt", "leftAtAssumed"],
    ),
    ("travel", &["id", "region", "arrivedAt", "departedAt"]),
    (
        "contacts",
        &[
            "id",
            "kind",
            "sourceCase",
            "designatedAt",
            "designatedBy",
            "lastExposureAt",
            "venue",
            "overlapStart",
            "overlapEnd",
            "rule",
            "reason",
        ],
    ),
    ("riskExposures", &["id", "area", "level", "from", "until"]),
    (
        "quarantines",
        &["id", "kind", "start", "end", "orderedBy", "reason"],
    ),
    (
        "overrides",
        &["id", "color", "reason", "by", "from", "until"],
    ),
];

/// The fields of the items of one fact list, if the list exists.
pub fn fact_list_fields(list: &str) -> Option<&'static [&'static str]> {
    FACT_LISTS
        .iter()
        .find(|(name, _)| *name == list)
        .map(|(_, fields)| *fields)
}

impl Facts {
    /// Derives the facts of one person's events as of `at`.
    ///
    /// The events may come in any order and may repeat. Events of other
    /// persons must not be passed; they would be mixed in.
    pub fn derive<'a>(events: impl IntoIterator<Item = &'a Event>, at: Timestamp) -> Facts {
        // Deduplicate by id first. Two events with one id are the same event
        // (the store refuses a conflicting payload), so keeping either is fine;
        // the BTreeMap keeps the one with the smallest id order deterministically.
        let mut unique: BTreeMap<&EventId, &Event> = BTreeMap::new();
        for event in events {
            if event.recorded_at <= at {
                unique.entry(&event.id).or_insert(event);
            }
        }
        let retracted: HashSet<&EventId> = unique
            .values()
            .filter_map(|event| match &event.body {
                EventBody::Retraction(retraction) => Some(&retraction.target),
                _ => None,
            })
            // A retraction of a retraction is refused at ingest; should one
            // arrive anyway it is ignored rather than resurrecting its target.
            .filter(|target| {
                !matches!(
                    unique.get(target).map(|event| &event.body),
                    Some(EventBody::Retraction(_))
                )
            })
            .collect();

        let mut facts = Facts {
            version: FACTS_VERSION,
            ..Facts::default()
        };
        for event in unique.values() {
            if retracted.contains(&event.id) {
                continue;
            }
            facts.push(event);
        }
        facts.sort();
        facts
    }

    fn push(&mut self, event: &Event) {
        let id = event.id.clone();
        match &event.body {
            EventBody::TestResult(test) => self.tests.push(TestFact {
                id,
                test: test.test,
                result: test.result,
                sampled_at: test.sampled_at,
                reported_at: test.reported_at,
                lab: test.lab.clone(),
            }),
            EventBody::Vaccination(vaccination) => self.vaccinations.push(VaccinationFact {
                id,
                product: vaccination.product.clone(),
                dose: vaccination.dose,
                administered_at: vaccination.administered_at,
            }),
            EventBody::Travel(travel) => self.travel.push(TravelFact {
                id,
                region: travel.region.clone(),
                arrived_at: travel.arrived_at,
                departed_at: travel.departed_at,
            }),
            EventBody::CheckIn(check_in) => self.check_ins.push(CheckInFact {
                id,
                venue: check_in.venue.clone(),
                entered_at: check_in.entered_at,
                left_at: check_in
                    .left_at
                    .unwrap_or_else(|| check_in.entered_at.plus_secs(CHECK_IN_DEFAULT_STAY_SECS)),
                left_at_assumed: check_in.left_at.is_none(),
            }),
            EventBody::ContactDesignation(designation) => self.contacts.push(ContactFact {
                id,
                kind: designation.contact,
                source_case: designation.source_case.clone(),
                designated_at: designation.designated_at,
                designated_by: event.author.clone(),
                last_exposure_at: designation.last_exposure_at,
                venue: designation.venue.clone(),
                overlap_start: designation.overlap_start,
                overlap_end: designation.overlap_end,
                rule: designation.rule.clone(),
                reason: designation.reason.clone(),
            }),
            EventBody::RiskExposure(exposure) => {
                let from = exposure.stay_start.max(exposure.designated_from);
                let until = exposure.stay_end.min(exposure.designated_until);
                if from <= until {
                    self.risk_exposures.push(RiskExposureFact {
                        id,
                        area: exposure.area.clone(),
                        level: exposure.level,
                        from,
                        until,
                    });
                }
            }
            EventBody::Quarantine(quarantine) => self.quarantines.push(QuarantineFact {
                id,
                kind: quarantine.quarantine,
                start: quarantine.start,
                end: quarantine.end,
                ordered_by: event.author.clone(),
                reason: quarantine.reason.clone(),
            }),
            EventBody::Override(override_) => self.overrides.push(OverrideFact {
                id,
                color: override_.color,
                reason: override_.reason.clone(),
                by: event.author.clone(),
                from: override_.from,
                until: override_.until,
            }),
            EventBody::Retraction(_) => {}
        }
    }

    fn sort(&mut self) {
        self.tests
            .sort_by(|a, b| (a.sampled_at, &a.id).cmp(&(b.sampled_at, &b.id)));
        self.vaccinations
            .sort_by(|a, b| (a.administered_at, &a.id).cmp(&(b.administered_at, &b.id)));
        self.check_ins
            .sort_by(|a, b| (a.entered_at, &a.id).cmp(&(b.entered_at, &b.id)));
        self.travel
            .sort_by(|a, b| (a.arrived_at, &a.id).cmp(&(b.arrived_at, &b.id)));
        self.contacts
            .sort_by(|a, b| (a.designated_at, &a.id).cmp(&(b.designated_at, &b.id)));
        self.risk_exposures
            .sort_by(|a, b| (a.from, &a.id).cmp(&(b.from, &b.id)));
        self.quarantines
            .sort_by(|a, b| (a.start, &a.id).cmp(&(b.start, &b.id)));
        self.overrides
            .sort_by(|a, b| (a.from, &a.id).cmp(&(b.from, &b.id)));
    }

    pub fn is_empty(&self) -> bool {
        self.tests.is_empty()
            && self.vaccinations.is_empty()
            && self.check_ins.is_empty()
            && self.travel.is_empty()
            && self.contacts.is_empty()
            && self.risk_exposures.is_empty()
            && self.quarantines.is_empty()
            && self.overrides.is_empty()
    }
}
