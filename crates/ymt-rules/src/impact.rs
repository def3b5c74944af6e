//! Impact preview: who would change color if a proposed rule set or profile
//! replaced the current one. A tightening is seen before it is published.

use std::collections::BTreeMap;

use serde::Serialize;
use ymt_core::{Color, Facts, PersonId, Timestamp};

use crate::decision::{CompiledRules, EvaluateError};

/// How many example persons per transition the report lists.
pub const IMPACT_EXAMPLES_MAX: usize = 20;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ImpactReport {
    pub persons_total: u64,
    pub persons_changed: u64,
    /// Counts per transition, keyed `"green→yellow"`.
    pub transitions: BTreeMap<String, u64>,
    /// A few pseudonymous ids per transition, for spot checks.
    pub examples: BTreeMap<String, Vec<PersonId>>,
    /// Persons whose evaluation failed under either rule set.
    pub errors: u64,
    /// Persons the proposed rules cannot decide (a publication with any is
    /// refused), and the first such failure, naming the person and the rule.
    pub errors_proposed: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_error_proposed: Option<String>,
}

impl ImpactReport {
    pub fn record(&mut self, person: &PersonId, current: Color, proposed: Color) {
        self.persons_total += 1;
        if current == proposed {
            return;
        }
        self.persons_changed += 1;
        let key = format!("{current}→{proposed}");
        *self.transitions.entry(key.clone()).or_default() += 1;
        let examples = self.examples.entry(key).or_default();
        if examples.len() < IMPACT_EXAMPLES_MAX {
            examples.push(person.clone());
        }
    }

    /// One line per transition, e.g. `green→yellow: 12,345`.
    pub fn summary_lines(&self) -> Vec<String> {
        self.transitions
            .iter()
            .map(|(transition, count)| format!("{transition}: {}", group_thousands(*count)))
            .collect()
    }
}

fn group_thousands(count: u64) -> String {
    let digits = count.to_string();
    let mut grouped = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    grouped
}

/// Evaluates every person under both rule sets at `now`.
pub fn preview<'a>(
    current: &CompiledRules,
    proposed: &CompiledRules,
    population: impl IntoIterator<Item = (&'a PersonId, &'a Facts)>,
    now: Timestamp,
) -> ImpactReport {
    let mut report = ImpactReport::default();
    for (person, facts) in population {
        let before: Result<Color, EvaluateError> =
            current.evaluate(facts, now).map(|decision| decision.color);
        let after: Result<Color, EvaluateError> =
            proposed.evaluate(facts, now).map(|decision| decision.color);
        match (before, after) {
            (Ok(before), Ok(after)) => report.record(person, before, after),
            (_, after) => {
                report.persons_total += 1;
                report.errors += 1;
                if let Err(error) = after {
                    report.errors_proposed += 1;
                    report
                        .first_error_proposed
                        .get_or_insert_with(|| format!("person {person}: {error}"));
                }
            }
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_thousands() {
        for (count, expected) in [
            (0, "0"),
            (999, "999"),
            (1000, "1,000"),
            (12345, "12,345"),
            (1234567, "1,234,567"),
        ] {
            assert_eq!(group_thousands(count), expected);
        }
    }
}
