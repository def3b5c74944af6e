//! Facts as CertLogic values.
//!
//! Instants become date-time values directly (no string round trip), enums
//! become their wire strings, and absent optional fields become `null`.

use std::sync::Arc;

use ymt_core::Timestamp;
use ymt_core::facts::Facts;

use crate::certlogic::Value;

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

/// The wire name of a serde-serialised unit enum, such as `TestKind::Pcr` → "pcr".
fn enum_name<T: serde::Serialize>(value: &T) -> Value {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => Value::string(&name),
        _ => Value::null(),
    }
}

fn object<const N: usize>(fields: [(&'static str, Value); N]) -> Value {
    Value::object(
        fields
            .into_iter()
            .map(|(name, value)| (Arc::<str>::from(name), value)),
    )
}

/// The items of every fact list, in the order of `ymt_core::facts::FACT_LISTS`.
pub fn fact_items(facts: &Facts) -> Vec<Vec<Value>> {
    vec![
        facts
            .tests
            .iter()
            .map(|test| {
                object([
                    ("id", text(test.id.as_str())),
                    ("test", enum_name(&test.test)),
                    ("result", enum_name(&test.result)),
                    ("sampledAt", instant(test.sampled_at)),
                    ("reportedAt", instant(test.reported_at)),
                    ("lab", text(&test.lab)),
                ])
            })
            .collect(),
        facts
            .vaccinations
            .iter()
            .map(|vaccination| {
                object([
                    ("id", text(vaccination.id.as_str())),
                    ("product", text(&vaccination.product)),
                    ("dose", Value::int(i64::from(vaccination.dose))),
                    ("administeredAt", instant(vaccination.administered_at)),
                ])
            })
            .collect(),
        facts
            .check_ins
            .iter()
            .map(|check_in| {
                object([
                    ("id", text(check_in.id.as_str())),
                    ("venue", text(check_in.venue.as_str())),
                    ("enteredAt", instant(check_in.entered_at)),
                    ("leftAt", instant(check_in.left_at)),
                    ("leftAtAssumed", Value::bool(check_in.left_at_assumed)),
                ])
            })
            .collect(),
        facts
            .travel
            .iter()
            .map(|travel| {
                object([
                    ("id", text(travel.id.as_str())),
                    ("region", text(travel.region.as_str())),
                    ("arrivedAt", instant(travel.arrived_at)),
                    ("departedAt", optional_instant(travel.departed_at)),
                ])
            })
            .collect(),
        facts
            .contacts
            .iter()
            .map(|contact| {
                object([
                    ("id", text(contact.id.as_str())),
                    ("kind", enum_name(&contact.kind)),
                    (
                        "sourceCase",
                        optional_text(contact.source_case.as_ref().map(|case| case.as_str())),
                    ),
                    ("designatedAt", instant(contact.designated_at)),
                    ("designatedBy", text(&contact.designated_by)),
                    ("lastExposureAt", instant(contact.last_exposure_at)),
                    (
                        "venue",
                        optional_text(contact.venue.as_ref().map(|venue| venue.as_str())),
                    ),
                    ("overlapStart", optional_instant(contact.overlap_start)),
                    ("overlapEnd", optional_instant(contact.overlap_end)),
                    ("rule", optional_text(contact.rule.as_deref())),
                    ("reason", text(&contact.reason)),
                ])
            })
            .collect(),
        facts
            .risk_exposures
            .iter()
            .map(|exposure| {
                object([
                    ("id", text(exposure.id.as_str())),
                    ("area", text(exposure.area.as_str())),
                    ("level", enum_name(&exposure.level)),
                    ("from", instant(exposure.from)),
                    ("until", instant(exposure.until)),
                ])
            })
            .collect(),
        facts
            .quarantines
            .iter()
            .map(|quarantine| {
                object([
                    ("id", text(quarantine.id.as_str())),
                    ("kind", enum_name(&quarantine.kind)),
                    ("start", instant(quarantine.start)),
                    ("end", instant(quarantine.end)),
                    ("orderedBy", text(&quarantine.ordered_by)),
                    ("reason", text(&quarantine.reason)),
                ])
            })
            .collect(),
        facts
            .overrides
            .iter()
            .map(|override_| {
                object([
                    ("id", text(override_.id.as_str())),
                    ("color", enum_name(&override_.color)),
                    ("reason", text(&override_.reason)),
                    ("by", text(&override_.by)),
                    ("from", instant(override_.from)),
                    ("until", instant(override_.until)),
                ])
            })
            .collect(),
    ]
}
