//! Facts as CertLogic values.
//!
//! Instants become date-time values directly (no string round trip), enums
//! become their wire strings, and absent optional fields become `null`.
//! Field names and enum strings are interned once per process, and fields are
//! listed in key order, so building an item allocates only for its own
//! strings and the object itself.

use std::sync::{Arc, OnceLock};

use ymt_core::Timestamp;
use ymt_core::event::{ContactKind, QuarantineKind, RiskLevel, TestKind, TestOutcome};
use ymt_core::facts::Facts;

use crate::certlogic::Value;

/// An interned `Arc<str>` for a string literal: one allocation per call site
/// per process.
macro_rules! interned {
    ($text:literal) => {{
        static INTERNED: OnceLock<Arc<str>> = OnceLock::new();
        INTERNED.get_or_init(|| Arc::from($text)).clone()
    }};
}

fn instant(timestamp: Timestamp) -> Value {
    Value::date_time_unix_secs(timestamp.unix_secs())
}

fn optional_instant(timestamp: Option<Timestamp>) -> Value {
    timestamp.map(instant).unwrap_or_else(Value::null)
}

fn text(text: &str) -> Value {
    Value::string(text)
}

fn optional_text(value: Option<&str>) -> Value {
    value.map(Value::string).unwrap_or_else(Value::null)
}

fn test_kind(kind: TestKind) -> Value {
    Value::String(match kind {
        TestKind::Pcr => interned!("pcr"),
        TestKind::Antigen => interned!("antigen"),
    })
}

fn test_outcome(outcome: TestOutcome) -> Value {
    Value::String(match outcome {
        TestOutcome::Positive => interned!("positive"),
        TestOutcome::Negative => interned!("negative"),
    })
}

fn contact_kind(kind: ContactKind) -> Value {
    Value::String(match kind {
        ContactKind::Close => interned!("close"),
        ContactKind::Secondary => interned!("secondary"),
        ContactKind::Companion => interned!("companion"),
    })
}

fn risk_level(level: RiskLevel) -> Value {
    Value::String(match level {
        RiskLevel::Low => interned!("low"),
        RiskLevel::Medium => interned!("medium"),
        RiskLevel::High => interned!("high"),
    })
}

fn quarantine_kind(kind: QuarantineKind) -> Value {
    Value::String(match kind {
        QuarantineKind::Centralised => interned!("centralised"),
        QuarantineKind::Home => interned!("home"),
    })
}

fn color(color: ymt_core::Color) -> Value {
    Value::String(match color {
        ymt_core::Color::Green => interned!("green"),
        ymt_core::Color::Yellow => interned!("yellow"),
        ymt_core::Color::Red => interned!("red"),
    })
}

/// The items of every fact list, in the order of `ymt_core::facts::FACT_LISTS`.
/// Each object's fields are written in key order (byte order of the names).
pub fn fact_items(facts: &Facts) -> Vec<Vec<Value>> {
    fact_items_of(facts, &[true; 8])
}

/// Like [`fact_items`], but lists whose flag is false stay empty: rule sets
/// that never read a list (check-ins, say) do not pay for converting it.
pub fn fact_items_of(facts: &Facts, needed: &[bool; 8]) -> Vec<Vec<Value>> {
    let lists = vec![
        facts
            .tests
            .iter()
            .take(if needed[0] { usize::MAX } else { 0 })
            .map(|test| {
                Value::object([
                    (interned!("id"), text(test.id.as_str())),
                    (interned!("lab"), text(&test.lab)),
                    (interned!("reportedAt"), instant(test.reported_at)),
                    (interned!("result"), test_outcome(test.result)),
                    (interned!("sampledAt"), instant(test.sampled_at)),
                    (interned!("test"), test_kind(test.test)),
                ])
            })
            .collect(),
        facts
            .vaccinations
            .iter()
            .take(if needed[1] { usize::MAX } else { 0 })
            .map(|vaccination| {
                Value::object([
                    (
                        interned!("administeredAt"),
                        instant(vaccination.administered_at),
                    ),
                    (interned!("dose"), Value::int(i64::from(vaccination.dose))),
                    (interned!("id"), text(vaccination.id.as_str())),
                    (interned!("product"), text(&vaccination.product)),
                ])
            })
            .collect(),
        facts
            .check_ins
            .iter()
            .take(if needed[2] { usize::MAX } else { 0 })
            .map(|check_in| {
                Value::object([
                    (interned!("enteredAt"), instant(check_in.entered_at)),
                    (interned!("id"), text(check_in.id.as_str())),
                    (interned!("leftAt"), instant(check_in.left_at)),
                    (
                        interned!("leftAtAssumed"),
                        Value::bool(check_in.left_at_assumed),
                    ),
                    (interned!("venue"), text(check_in.venue.as_str())),
                ])
            })
            .collect(),
        facts
            .travel
            .iter()
            .take(if needed[3] { usize::MAX } else { 0 })
            .map(|travel| {
                Value::object([
                    (interned!("arrivedAt"), instant(travel.arrived_at)),
                    (
                        interned!("departedAt"),
                        optional_instant(travel.departed_at),
                    ),
                    (interned!("id"), text(travel.id.as_str())),
                    (interned!("region"), text(travel.region.as_str())),
                ])
            })
            .collect(),
        facts
            .contacts
            .iter()
            .take(if needed[4] { usize::MAX } else { 0 })
            .map(|contact| {
                Value::object([
                    (interned!("designatedAt"), instant(contact.designated_at)),
                    (interned!("designatedBy"), text(&contact.designated_by)),
                    (interned!("id"), text(contact.id.as_str())),
                    (interned!("kind"), contact_kind(contact.kind)),
                    (
                        interned!("lastExposureAt"),
                        instant(contact.last_exposure_at),
                    ),
                    (
                        interned!("overlapEnd"),
                        optional_instant(contact.overlap_end),
                    ),
                    (
                        interned!("overlapStart"),
                        optional_instant(contact.overlap_start),
                    ),
                    (interned!("reason"), text(&contact.reason)),
                    (interned!("rule"), optional_text(contact.rule.as_deref())),
                    (
                        interned!("sourceCase"),
                        optional_text(contact.source_case.as_ref().map(|case| case.as_str())),
                    ),
                    (
                        interned!("venue"),
                        optional_text(contact.venue.as_ref().map(|venue| venue.as_str())),
                    ),
                ])
            })
            .collect(),
        facts
            .risk_exposures
            .iter()
            .take(if needed[5] { usize::MAX } else { 0 })
            .map(|exposure| {
                Value::object([
                    (interned!("area"), text(exposure.area.as_str())),
                    (interned!("from"), instant(exposure.from)),
                    (interned!("id"), text(exposure.id.as_str())),
                    (interned!("level"), risk_level(exposure.level)),
                    (interned!("until"), instant(exposure.until)),
                ])
            })
            .collect(),
        facts
            .quarantines
            .iter()
            .take(if needed[6] { usize::MAX } else { 0 })
            .map(|quarantine| {
                Value::object([
                    (interned!("end"), instant(quarantine.end)),
                    (interned!("id"), text(quarantine.id.as_str())),
                    (interned!("kind"), quarantine_kind(quarantine.kind)),
                    (interned!("orderedBy"), text(&quarantine.ordered_by)),
                    (interned!("reason"), text(&quarantine.reason)),
                    (interned!("start"), instant(quarantine.start)),
                ])
            })
            .collect(),
        facts
            .overrides
            .iter()
            .take(if needed[7] { usize::MAX } else { 0 })
            .map(|override_| {
                Value::object([
                    (interned!("by"), text(&override_.by)),
                    (interned!("color"), color(override_.color)),
                    (interned!("from"), instant(override_.from)),
                    (interned!("id"), text(override_.id.as_str())),
                    (interned!("reason"), text(&override_.reason)),
                    (interned!("until"), instant(override_.until)),
                ])
            })
            .collect(),
    ];
    lists
}

/// Interned keys of the per-item data context, in key order.
pub(crate) fn context_keys() -> [Arc<str>; 4] {
    [
        interned!("facts"),
        interned!("item"),
        interned!("now"),
        interned!("params"),
    ]
}

/// The interned name of a fact list.
pub(crate) fn list_key(list_index: usize) -> Arc<str> {
    static KEYS: OnceLock<Vec<Arc<str>>> = OnceLock::new();
    KEYS.get_or_init(|| {
        ymt_core::facts::FACT_LISTS
            .iter()
            .map(|(name, _)| Arc::from(*name))
            .collect()
    })[list_index]
        .clone()
}
