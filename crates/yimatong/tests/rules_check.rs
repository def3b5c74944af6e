//! `yimatong rules check` runs every rule against stress timelines as full
//! as the per-person cap allows, and refuses (non-zero exit) a rule set
//! whose rules exceed the evaluation budget on one (issue 12, item 1).

use std::process::Command;

use serde_json::{Value, json};

fn rules_check(document: &Value) -> (bool, String, String) {
    let dir = std::env::temp_dir().join(format!("ymt-rules-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!(
        "rules-{}.json",
        document["version"].as_str().unwrap_or("x")
    ));
    std::fs::write(&path, serde_json::to_vec(document).unwrap()).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_yimatong"))
        .args(["rules", "check"])
        .arg(&path)
        .output()
        .expect("the binary runs");
    let _ = std::fs::remove_file(&path);
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn national_with(version: &str, extra_rules: Vec<Value>) -> Value {
    let mut document: Value =
        serde_json::from_str(ymt_rules::ruleset::NATIONAL_RULE_SET_JSON).unwrap();
    document["version"] = json!(version);
    document["rules"]
        .as_array_mut()
        .unwrap()
        .extend(extra_rules);
    document
}

#[test]
fn rules_check_refuses_a_rule_that_exceeds_the_budget_on_a_full_timeline() {
    let count = |list: &str, inner: Value| json!({"reduce": [{"var": list}, {"+": [{"var": "accumulator"}, inner]}, 0]});
    let cubic = json!({
        "id": "XX-CUBIC-01",
        "color": "yellow",
        "over": "tests",
        "description": {"zh-CN": "测试", "en": "a rule too costly to decide"},
        "clears": {"zh-CN": "测试", "en": "never"},
        "source": "a test",
        "logic": {"<": [count("facts.tests", count("data.facts.tests", count("data.data.facts.tests", json!(1)))), 0]},
    });
    let (ok, stdout, stderr) = rules_check(&national_with("1.1.0", vec![cubic]));
    assert!(!ok, "refused: {stdout} {stderr}");
    let report: Value = serde_json::from_str(&stdout).expect("a JSON report");
    assert_eq!(report["ok"], false, "{report}");
    assert!(
        report["over_budget"]
            .as_array()
            .unwrap()
            .iter()
            .any(|failure| failure["rule"] == "XX-CUBIC-01"),
        "{report}"
    );
    assert!(stderr.contains("XX-CUBIC-01"), "{stderr}");

    // The shipped rules pass at the default cap.
    let (ok, stdout, stderr) = rules_check(&national_with("1.2.0", vec![]));
    assert!(ok, "accepted: {stdout} {stderr}");
}

/// The example at the end of `rules explain --help` is run as printed, so
/// the help never shows a command that fails.
#[test]
fn the_rules_explain_help_example_runs_and_points_to_the_facts_document() {
    let bin = env!("CARGO_BIN_EXE_yimatong");
    let help = Command::new(bin)
        .args(["rules", "explain", "--help"])
        .output()
        .expect("the binary runs");
    let help = String::from_utf8_lossy(&help.stdout).into_owned();
    assert!(help.contains("docs/facts.md"), "{help}");
    let event_line = help
        .lines()
        .map(str::trim)
        .find(|line| line.starts_with("{\"id\""))
        .unwrap_or_else(|| panic!("no example event in the help:\n{help}"));
    let command_line = help
        .lines()
        .map(str::trim)
        .find(|line| line.starts_with("yimatong rules explain"))
        .unwrap_or_else(|| panic!("no example command in the help:\n{help}"));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("events.jsonl"), format!("{event_line}\n")).unwrap();
    let output = Command::new(bin)
        .current_dir(dir.path())
        .args(command_line.split_whitespace().skip(1))
        .output()
        .expect("the binary runs");
    assert!(output.status.success(), "{output:?}");
    let decision: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(decision["color"], "red", "{decision}");
    assert_eq!(decision["fired"][0]["rule_id"], "CN-CASE-01", "{decision}");
    assert_eq!(decision["fired"][0]["evidence"][0], "pos1", "{decision}");
}
