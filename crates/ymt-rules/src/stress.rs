//! Stress timelines: a rule set must decide, within the evaluation budget,
//! the heaviest timeline a node accepts for one person. A node caps the
//! events of one person per window (`person_events_per_window_max`); these
//! timelines put that many events of one kind (or of every kind) into one
//! window, in the shapes that make rules over a list quadratic: one positive
//! followed by negatives none of which clears it, alternating results, and
//! the same for every other fact list.
//!
//! Used by `yimatong rules check` and by the node before it puts a rule set
//! or profile into force.

use ymt_core::{Event, EventBody, EventId, EventKind, Facts, PersonId, Timestamp};

use crate::decision::{CompiledRules, EvaluateError};

/// One stress timeline: what it holds, and its facts at the instant it is
/// decided.
pub struct StressTimeline {
    pub name: String,
    pub facts: Facts,
    pub at: Timestamp,
}

/// A stress timeline a rule set cannot decide.
#[derive(Debug, Clone, PartialEq)]
pub struct StressFailure {
    pub timeline: String,
    /// The rule that failed, when the error names one.
    pub rule: String,
    pub error: String,
}

impl std::fmt::Display for StressFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "rule {} cannot decide the stress timeline \"{}\": {}",
            self.rule, self.timeline, self.error
        )
    }
}

/// The stress timelines for a cap of `events_max` events of one person
/// within `window_secs`, decided at `at` (the window ends there).
pub fn stress_timelines(events_max: usize, window_secs: i64, at: Timestamp) -> Vec<StressTimeline> {
    let events_max = events_max.max(1);
    let window_secs = window_secs.max(1);
    // The events share the window evenly; every instant lies inside it.
    let step_secs = (window_secs / events_max as i64).max(1);
    let start = at.plus_secs(-window_secs);
    let instant = |index: usize| start.plus_secs(index as i64 * step_secs);
    let rfc = |t: Timestamp| t.to_rfc3339();
    let test = |index: usize, test: &str, result: &str| {
        serde_json::json!({
            "test": test, "result": result, "sampled_at": rfc(instant(index)),
            "reported_at": rfc(instant(index)), "lab": "stress-lab",
        })
    };
    type Shape<'a> = Box<dyn Fn(usize) -> (EventKind, serde_json::Value) + 'a>;
    let shapes: Vec<(&str, Shape)> = vec![
        (
            "one positive PCR, then negatives that never clear it",
            Box::new(|index| {
                let result = if index == 0 { "positive" } else { "negative" };
                (EventKind::TestResult, test(index, "pcr", result))
            }),
        ),
        (
            "alternating positive and negative tests of both kinds",
            Box::new(|index| {
                let kind = if index % 4 < 2 { "pcr" } else { "antigen" };
                let result = if index % 2 == 0 {
                    "positive"
                } else {
                    "negative"
                };
                (EventKind::TestResult, test(index, kind, result))
            }),
        ),
        (
            "vaccinations",
            Box::new(|index| {
                (
                    EventKind::Vaccination,
                    serde_json::json!({"product": "CoronaVac", "dose": index % 10 + 1, "administered_at": rfc(instant(index))}),
                )
            }),
        ),
        (
            "check-ins",
            Box::new(|index| {
                (
                    EventKind::CheckIn,
                    serde_json::json!({"venue": format!("stress-venue-{}", index % 7), "entered_at": rfc(instant(index)), "left_at": rfc(instant(index).plus_secs(step_secs))}),
                )
            }),
        ),
        (
            "travel",
            Box::new(|index| {
                (
                    EventKind::Travel,
                    serde_json::json!({"region": if index % 2 == 0 { "310115" } else { "440305" }, "arrived_at": rfc(instant(index))}),
                )
            }),
        ),
        (
            "contact designations",
            Box::new(|index| {
                let contact = ["close", "secondary", "companion"][index % 3];
                (
                    EventKind::ContactDesignation,
                    serde_json::json!({"contact": contact, "designated_at": rfc(instant(index)), "last_exposure_at": rfc(instant(index).plus_secs(-3600)), "reason": "stress"}),
                )
            }),
        ),
        (
            "risk exposures",
            Box::new(|index| {
                let level = ["low", "medium", "high"][index % 3];
                (
                    EventKind::RiskExposure,
                    serde_json::json!({"area": "440305", "level": level, "stay_start": rfc(instant(index)), "stay_end": rfc(instant(index).plus_secs(step_secs)), "designated_from": rfc(start), "designated_until": rfc(at.plus_secs(7 * 86_400))}),
                )
            }),
        ),
        (
            "quarantines",
            Box::new(|index| {
                let kind = if index % 2 == 0 {
                    "home"
                } else {
                    "centralised"
                };
                (
                    EventKind::Quarantine,
                    serde_json::json!({"quarantine": kind, "start": rfc(instant(index)), "end": rfc(instant(index).plus_secs(7 * 86_400)), "reason": "stress"}),
                )
            }),
        ),
        (
            "overrides",
            Box::new(|index| {
                let color = if index % 2 == 0 { "yellow" } else { "red" };
                (
                    EventKind::Override,
                    serde_json::json!({"color": color, "reason": "stress", "from": rfc(instant(index)), "until": rfc(instant(index).plus_secs(86_400))}),
                )
            }),
        ),
    ];
    let person = PersonId::parse("stress-person").expect("a valid pid");
    let mut timelines = Vec::with_capacity(shapes.len());
    for (name, shape) in &shapes {
        let events: Vec<Event> = (0..events_max)
            .filter_map(|index| {
                let (kind, data) = shape(index);
                // A shape this crate writes is valid; one that is not (a
                // future field) is left out rather than failing the check.
                let body = EventBody::from_kind_and_data(kind, data).ok()?;
                Some(Event {
                    id: EventId::parse(&format!("stress-{index}")).ok()?,
                    person: person.clone(),
                    recorded_at: start,
                    author: "stress".into(),
                    body,
                })
            })
            .collect();
        timelines.push(StressTimeline {
            name: format!("{events_max} {name} within {window_secs} s"),
            facts: Facts::derive(&events, at),
            at,
        });
    }
    timelines
}

/// Decides every stress timeline with `rules` (with the whole trajectory,
/// as the node does) and returns those it cannot decide.
pub fn stress_check(
    rules: &CompiledRules,
    events_max: usize,
    window_secs: i64,
    at: Timestamp,
) -> Vec<StressFailure> {
    stress_timelines(events_max, window_secs, at)
        .into_iter()
        .filter_map(|timeline| {
            let error = rules
                .evaluate_with_trajectory(&timeline.facts, timeline.at)
                .err()?;
            let EvaluateError::Rule { rule, .. } = &error;
            Some(StressFailure {
                timeline: timeline.name,
                rule: rule.clone(),
                error: error.to_string(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RuleSet;

    fn at() -> Timestamp {
        Timestamp::from_unix_secs(1_656_662_400).unwrap()
    }

    #[test]
    fn every_shape_gives_a_full_timeline() {
        for timeline in stress_timelines(5, 86_400, at()) {
            let json = serde_json::to_value(&timeline.facts).unwrap();
            let items: usize = json
                .as_object()
                .unwrap()
                .values()
                .filter_map(|value| value.as_array())
                .map(Vec::len)
                .sum();
            assert_eq!(items, 5, "{}: {json}", timeline.name);
        }
    }

    #[test]
    fn the_national_rules_decide_the_default_cap() {
        let rules = CompiledRules::compile(&RuleSet::national(), None).unwrap();
        assert_eq!(stress_check(&rules, 100, 86_400, at()), vec![]);
    }

    #[test]
    fn the_national_case_rule_exceeds_the_budget_past_a_thousand_tests() {
        let rules = CompiledRules::compile(&RuleSet::national(), None).unwrap();
        let failures = stress_check(&rules, 1_001, 86_400, at());
        assert!(
            failures.iter().any(|failure| failure.rule == "CN-CASE-01"),
            "{failures:?}"
        );
    }
}
