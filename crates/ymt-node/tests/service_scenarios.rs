//! Golden scenarios of the services' rule sets, in the style of the
//! national ones (`ymt-rules/tests/scenarios`): each
//! `services/scenarios/NAME.json` is a timeline of events, an optional venue
//! profile (parameters only, checked against the rule set's bounds) and
//! checks (`at` → the service's outcome and the rules that give it). The
//! decision is `services::decide_facts`: the shipped national rule set and
//! the service's over the same facts; a care-home check is the visit being
//! decided, a check-in at the home at `at`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use ymt_core::{Event, Facts, PersonId, Timestamp, VenueId};
use ymt_node::services::{ServiceSpec, decide_facts};
use ymt_rules::{CompiledRules, RuleSet};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Scenario {
    name: String,
    description: String,
    service: String,
    #[serde(default)]
    profile: Option<BTreeMap<String, i64>>,
    events: Vec<serde_json::Value>,
    checks: Vec<Check>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Check {
    at: Timestamp,
    outcome: String,
    rules: Vec<String>,
}

fn spec_of(service: &str) -> &'static ServiceSpec {
    match service {
        "hospital" => &ymt_node::hospital::SPEC,
        "care-visit" => &ymt_node::care_homes::SPEC,
        other => panic!("no service {other}"),
    }
}

fn check_scenario(path: &Path) -> Vec<String> {
    let mut failures = Vec::new();
    let scenario: Scenario = serde_json::from_str(&std::fs::read_to_string(path).unwrap())
        .unwrap_or_else(|error| panic!("{}: malformed scenario: {error}", path.display()));
    assert!(!scenario.description.is_empty());
    let spec = spec_of(&scenario.service);
    let rule_set = RuleSet::publish(spec.rule_set_json.as_bytes()).expect("the shipped rule set");
    let venue = VenueId::parse("venue-1").unwrap();
    let profile = scenario.profile.as_ref().map(|parameters| {
        let document = serde_json::json!({
            "kind": "parameter-profile", "id": "venue-1-profile", "region": "440305001001",
            "ruleSet": rule_set.id(), "version": "1.0.0", "validFrom": "2022-06-28T00:00:00Z",
            "parameters": parameters,
        });
        rule_set
            .check_profile(&serde_json::to_vec(&document).unwrap())
            .unwrap_or_else(|error| panic!("{}: profile refused: {error}", scenario.name))
    });
    let service = CompiledRules::compile(&rule_set, profile.as_ref()).unwrap();
    let national = CompiledRules::compile(&RuleSet::national(), None).unwrap();
    let events: Vec<Event> = scenario
        .events
        .iter()
        .map(|event| {
            let mut event = event.clone();
            let object = event.as_object_mut().unwrap();
            object.entry("person").or_insert("p-1".into());
            object.entry("author").or_insert("lab-440305-01".into());
            serde_json::from_value(event)
                .unwrap_or_else(|error| panic!("{}: bad event: {error}", scenario.name))
        })
        .collect();
    let pid = PersonId::parse("p-1").unwrap();
    for check in &scenario.checks {
        let mut facts = Facts::derive(&events, check.at);
        if scenario.service == "care-visit" {
            ymt_node::care_homes::arrival(&venue, check.at)(&mut facts);
        }
        let decision = decide_facts(
            spec,
            &pid,
            &venue,
            &national,
            &service,
            &facts,
            check.at,
            Vec::new(),
        )
        .unwrap_or_else(|error| panic!("{}: {error}", scenario.name));
        let rules: Vec<&str> = decision.reasons.iter().map(|r| r.rule.as_str()).collect();
        if decision.outcome != check.outcome || rules != check.rules {
            failures.push(format!(
                "{} at {}: {} {:?}, expected {} {:?}",
                scenario.name, check.at, decision.outcome, rules, check.outcome, check.rules
            ));
        }
    }
    failures
}

#[test]
fn every_service_scenario_decides_as_written() {
    let directory = Path::new(env!("CARGO_MANIFEST_DIR")).join("services/scenarios");
    let mut paths: Vec<_> = std::fs::read_dir(&directory)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    paths.sort();
    assert!(paths.len() >= 11, "the scenarios are there");
    let failures: Vec<String> = paths.iter().flat_map(|path| check_scenario(path)).collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_outcome_of_each_vocabulary_has_a_scenario() {
    let directory = Path::new(env!("CARGO_MANIFEST_DIR")).join("services/scenarios");
    let mut seen = std::collections::BTreeSet::new();
    for entry in std::fs::read_dir(&directory).unwrap() {
        let scenario: Scenario =
            serde_json::from_str(&std::fs::read_to_string(entry.unwrap().path()).unwrap()).unwrap();
        for check in scenario.checks {
            seen.insert((scenario.service.clone(), check.outcome));
        }
    }
    for spec in [&ymt_node::hospital::SPEC, &ymt_node::care_homes::SPEC] {
        for outcome in spec.outcomes {
            assert!(
                seen.contains(&(spec.id.to_owned(), outcome.code.to_owned())),
                "no scenario of {} {}",
                spec.id,
                outcome.code
            );
        }
    }
}
