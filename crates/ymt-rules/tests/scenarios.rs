//! Golden scenario tests for the national rule set.
//!
//! Each `tests/scenarios/NN-name.json` is one scenario: a timeline of events,
//! optional regional profiles, and checks (`at` → expected color, fired rules,
//! `valid_until`, evidence). The full decisions are also compared with the
//! golden file `NN-name.golden.json`; set `UPDATE_GOLDEN=1` to rewrite those
//! after an intended change, and review the diff.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use ymt_core::{Event, Facts, Timestamp};
use ymt_rules::{CompiledRules, ParameterProfile, RuleSet};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Scenario {
    name: String,
    description: String,
    #[serde(default)]
    profiles: BTreeMap<String, serde_json::Value>,
    events: Vec<serde_json::Value>,
    checks: Vec<Check>,
    #[serde(default)]
    profile_error: BTreeMap<String, String>,
    #[serde(default)]
    event_error: Option<EventErrorExpectation>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Check {
    at: Timestamp,
    color: String,
    fired: Vec<String>,
    valid_until: Option<Timestamp>,
    #[serde(default)]
    next_color: Option<String>,
    #[serde(default)]
    profile: Option<String>,
    #[serde(default)]
    evidence: BTreeMap<String, Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventErrorExpectation {
    event: serde_json::Value,
    message: String,
}

/// Fills in what scenario files leave out for brevity: the person, the author,
/// and, when absent, the recording instant.
fn complete_event(mut event: serde_json::Value) -> serde_json::Value {
    let object = event.as_object_mut().expect("scenario events are objects");
    object
        .entry("person")
        .or_insert_with(|| serde_json::Value::from("p-1"));
    object
        .entry("author")
        .or_insert_with(|| serde_json::Value::from("lab-440305-01"));
    event
}

fn scenario_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios")
}

fn check_scenario(path: &Path, national: &RuleSet) -> Vec<String> {
    let mut failures = Vec::new();
    let text = std::fs::read_to_string(path).unwrap();
    let scenario: Scenario = serde_json::from_str(&text)
        .unwrap_or_else(|error| panic!("{}: malformed scenario: {error}", path.display()));
    let mut fail = |message: String| failures.push(format!("{}: {message}", scenario.name));
    assert!(!scenario.description.is_empty());

    if let Some(expectation) = &scenario.event_error {
        match serde_json::from_value::<Event>(expectation.event.clone()) {
            Ok(_) => fail("expected the event to be refused".into()),
            Err(error) if error.to_string().contains(&expectation.message) => {}
            Err(error) => fail(format!(
                "event refused with `{error}`, expected a message containing `{}`",
                expectation.message
            )),
        }
    }

    let mut profiles: BTreeMap<String, ParameterProfile> = BTreeMap::new();
    for (name, document) in &scenario.profiles {
        let bytes = serde_json::to_vec(document).unwrap();
        match (
            national.check_profile(&bytes),
            scenario.profile_error.get(name),
        ) {
            (Ok(profile), None) => {
                profiles.insert(name.clone(), profile);
            }
            (Ok(_), Some(expected)) => fail(format!(
                "profile {name} accepted, expected refusal `{expected}`"
            )),
            (Err(error), Some(expected)) if error.to_string().contains(expected) => {}
            (Err(error), expected) => fail(format!(
                "profile {name} refused with `{error}`, expected {expected:?}"
            )),
        }
    }

    let events: Vec<Event> = scenario
        .events
        .iter()
        .map(|event| {
            serde_json::from_value(complete_event(event.clone()))
                .unwrap_or_else(|error| panic!("{}: bad event: {error}", scenario.name))
        })
        .collect();
    for event in &events {
        event
            .validate()
            .unwrap_or_else(|error| panic!("{}: invalid event: {error}", scenario.name));
    }

    let mut decisions = Vec::new();
    for check in &scenario.checks {
        let profile = check.profile.as_ref().map(|name| &profiles[name]);
        let compiled = CompiledRules::compile(national, profile).unwrap();
        let facts = Facts::derive(&events, check.at);
        let decision = compiled.evaluate(&facts, check.at).unwrap();
        let at = check.at;
        if decision.color.as_str() != check.color {
            fail(format!(
                "at {at}: color {} expected {}",
                decision.color, check.color
            ));
        }
        let mut fired: Vec<&str> = decision
            .fired
            .iter()
            .map(|rule| rule.rule_id.as_str())
            .collect();
        fired.sort();
        let mut expected_fired: Vec<&str> = check.fired.iter().map(String::as_str).collect();
        expected_fired.sort();
        if fired != expected_fired {
            fail(format!(
                "at {at}: fired {fired:?} expected {expected_fired:?}"
            ));
        }
        if decision.valid_until != check.valid_until {
            fail(format!(
                "at {at}: valid_until {:?} expected {:?}",
                decision.valid_until.map(|instant| instant.to_string()),
                check.valid_until.map(|instant| instant.to_string())
            ));
        }
        let next_color = decision.next_color.map(|color| color.to_string());
        if check.valid_until.is_some() && next_color != check.next_color {
            fail(format!(
                "at {at}: next color {next_color:?} expected {:?}",
                check.next_color
            ));
        }
        for (rule_id, expected_evidence) in &check.evidence {
            let evidence: Vec<String> = decision
                .fired
                .iter()
                .find(|rule| &rule.rule_id == rule_id)
                .map(|rule| rule.evidence.iter().map(|id| id.to_string()).collect())
                .unwrap_or_default();
            if &evidence != expected_evidence {
                fail(format!(
                    "at {at}: evidence of {rule_id} {evidence:?} expected {expected_evidence:?}"
                ));
            }
        }
        decisions.push(serde_json::to_value(&decision).unwrap());
    }

    let golden_path = path.with_extension("golden.json");
    let actual = serde_json::to_string_pretty(&decisions).unwrap() + "\n";
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&golden_path, &actual).unwrap();
    } else {
        match std::fs::read_to_string(&golden_path) {
            Ok(golden) if golden == actual => {}
            Ok(_) => fail(format!(
                "decisions differ from {} (rerun with UPDATE_GOLDEN=1 and review the diff)",
                golden_path.display()
            )),
            Err(_) => fail(format!("missing golden file {}", golden_path.display())),
        }
    }
    failures
}

#[test]
fn golden_scenarios() {
    let national = RuleSet::national();
    let mut paths: Vec<PathBuf> = std::fs::read_dir(scenario_dir())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            path.extension()
                .is_some_and(|extension| extension == "json")
                && !path.to_string_lossy().ends_with(".golden.json")
        })
        .collect();
    paths.sort();
    assert!(
        paths.len() >= 20,
        "at least 20 scenarios, found {}",
        paths.len()
    );
    let failures: Vec<String> = paths
        .iter()
        .flat_map(|path| check_scenario(path, &national))
        .collect();
    println!("{} scenarios checked", paths.len());
    assert!(
        failures.is_empty(),
        "scenario failures:\n{}",
        failures.join("\n")
    );
}
