//! Publishing refuses bad rule sets and profiles with an error that names the
//! location, and an impact preview counts transitions.

use serde_json::{Value, json};
use ymt_core::{Event, Facts, PersonId, Timestamp};
use ymt_rules::{CompiledRules, RuleSet};

fn national_document() -> Value {
    serde_json::from_str(ymt_rules::ruleset::NATIONAL_RULE_SET_JSON).unwrap()
}

/// Publishes `document` (after `edit`) and checks the error contains every
/// expected fragment.
fn check(edit: impl FnOnce(&mut Value), expect: &[&str]) {
    let mut document = national_document();
    edit(&mut document);
    let bytes = serde_json::to_vec(&document).unwrap();
    let error = RuleSet::publish(&bytes).expect_err("the edited rule set must be refused");
    let message = error.to_string();
    for fragment in expect {
        assert!(
            message.contains(fragment),
            "`{message}` should contain `{fragment}`"
        );
    }
}

#[test]
fn malformed_json_names_line_and_column() {
    let error = RuleSet::publish(b"{\n  \"kind\": \"rule-set\",\n  oops\n}").unwrap_err();
    let message = error.to_string();
    assert!(message.contains("line 3"), "{message}");
    assert!(message.contains("column"), "{message}");
}

#[test]
fn bad_rule_sets_are_refused_with_their_location() {
    check(
        |document| document["rules"][0]["logic"] = json!({"and": [true, {"frobnicate": [1]}]}),
        &["CN-CASE-01", "/and/1", "frobnicate"],
    );
    check(
        |document| document["rules"][2]["logic"] = json!({"if": [true, false]}),
        &["CN-CLOSE-01", "if"],
    );
    check(
        |document| {
            document["rules"][0]["logic"] = json!({"===": [{"var": "facts.homeAddress"}, "x"]})
        },
        &["CN-CASE-01", "unknown fact path", "facts.homeAddress"],
    );
    check(
        |document| {
            document["rules"][0]["logic"] = json!({"===": [{"var": "item.idCardRegion"}, "4201"]})
        },
        &["unknown fact path", "item.idCardRegion"],
    );
    check(
        |document| document["rules"][2]["logic"] = json!({"before": [{"plusTime": [{"var": "now"}, -7, "day"]}, {"var": "item.designatedAt"}]}),
        &["CN-CLOSE-01", "`now` may only be a direct operand"],
    );
    check(
        |document| document["rules"][1]["color"] = json!("green"),
        &["/rules/1/color", "green"],
    );
    check(
        |document| document["rules"][1]["over"] = json!("homes"),
        &["/rules/1/over", "homes"],
    );
    check(
        |document| document["parameters"]["closeContactQuarantineDays"]["default"] = json!(30),
        &["closeContactQuarantineDays", "within"],
    );
    check(
        |document| {
            let first = document["rules"][0].clone();
            document["rules"].as_array_mut().unwrap().push(first);
        },
        &["duplicate rule id", "CN-CASE-01"],
    );
}

#[test]
fn out_of_bounds_profiles_name_the_parameter_and_bounds() {
    let national = RuleSet::national();
    let profile = json!({"kind": "parameter-profile", "id": "p", "region": "1101", "ruleSet": "cn-national",
        "version": "1.0.0", "validFrom": "2022-06-28T00:00:00Z", "parameters": {"companionTestGapHours": 12}});
    let message = national
        .check_profile(&serde_json::to_vec(&profile).unwrap())
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("`companionTestGapHours` = 12"),
        "{message}"
    );
    assert!(message.contains("[24, 48]"), "{message}");
    let unknown = json!({"kind": "parameter-profile", "id": "p", "region": "1101", "ruleSet": "cn-national",
        "version": "1.0.0", "validFrom": "2022-06-28T00:00:00Z", "parameters": {"pcrEveryHours": 24}});
    let message = national
        .check_profile(&serde_json::to_vec(&unknown).unwrap())
        .unwrap_err()
        .to_string();
    assert!(message.contains("pcrEveryHours"), "{message}");
}

#[test]
fn impact_preview_counts_transitions() {
    let national = RuleSet::national();
    let current = CompiledRules::compile(&national, None).unwrap();
    let profile_bytes = serde_json::to_vec(
        &json!({"kind": "parameter-profile", "id": "p", "region": "4403",
        "ruleSet": "cn-national", "version": "1.0.0", "validFrom": "2022-06-28T00:00:00Z",
        "parameters": {"closeContactQuarantineDays": 5}}),
    )
    .unwrap();
    let profile = national.check_profile(&profile_bytes).unwrap();
    let proposed = CompiledRules::compile(&national, Some(&profile)).unwrap();
    let designated = Timestamp::parse_rfc3339("2022-07-01T08:00:00Z").unwrap();
    let now = designated.plus_secs(6 * 86_400);
    // Three close contacts on day 6 (red under 7 days, yellow under 5) and
    // one person with nothing (green under both).
    let mut population = Vec::new();
    for index in 0..4 {
        let pid = PersonId::parse(&format!("p{index}")).unwrap();
        let events: Vec<Event> = if index < 3 {
            vec![serde_json::from_value(json!({"id": format!("cc{index}"), "person": pid, "recorded_at": designated,
                "author": "cdc", "kind": "contact_designation",
                "data": {"contact": "close", "designated_at": designated, "last_exposure_at": designated, "reason": "traced"}}))
            .unwrap()]
        } else {
            Vec::new()
        };
        population.push((pid, Facts::derive(&events, now)));
    }
    let report = ymt_rules::impact::preview(
        &current,
        &proposed,
        population.iter().map(|(pid, facts)| (pid, facts)),
        now,
    );
    assert_eq!(report.persons_total, 4);
    assert_eq!(report.persons_changed, 3);
    assert_eq!(report.summary_lines(), vec!["red→yellow: 3".to_string()]);
}
