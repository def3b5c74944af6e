//! 规则公示: the rules in force are public without signing in, each regional
//! parameter beside its national bound, and a publication appears in the
//! history (with its approval and diff) only once it is in force.

mod support;

use serde_json::{Value, json};
use support::TestNode;
use ymt_node::auth::Role;

fn national_rule_set(version: &str) -> Value {
    let mut document: Value =
        serde_json::from_str(ymt_rules::ruleset::NATIONAL_RULE_SET_JSON).unwrap();
    document["version"] = json!(version);
    document["rules"]
        .as_array_mut()
        .unwrap()
        .retain(|rule| rule["id"] != "CN-ANTIGEN-01");
    document
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_public_rules_need_no_sign_in_and_show_each_profile_beside_its_national_bounds() {
    let node = TestNode::start().await;
    let authority = node.add_principal("ha-nanshan", Role::HealthAuthority, "440305");
    let profile = json!({
        "kind": "parameter-profile", "id": "profile-440305", "region": "440305",
        "ruleSet": "cn-national", "version": "1.0.0", "validFrom": "2022-06-28T00:00:00Z",
        "parameters": {"closeContactQuarantineDays": 5}, "reason": "regional choice",
    });
    let (status, body) = node.post_as(&authority, "/v1/profiles", profile).await;
    assert_eq!(status, 200, "{body}");

    let (status, body) = node.get("/v1/public/rules", None).await.status_and_json();
    assert_eq!(status, 200, "{body}");
    let rules = body["national"]["rules"].as_array().unwrap();
    assert!(rules.len() > 5, "{body}");
    for rule in rules {
        let text = rule["clears"]["en"].as_str().unwrap();
        assert!(!text.contains('{'), "a placeholder left unfilled: {text}");
    }
    let profile = &body["profiles"][0];
    assert_eq!(profile["region"], "440305", "{body}");
    let quarantine = profile["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|parameter| parameter["name"] == "closeContactQuarantineDays")
        .expect("the parameter is listed");
    assert_eq!(quarantine["value"], 5);
    assert_eq!(quarantine["set_by_profile"], true);
    assert_eq!(quarantine["national_default"], 7);
    assert_eq!(quarantine["national_min"], 5);
    assert_eq!(quarantine["national_max"], 7);
    // The page itself is served without a key too.
    let page = node.get("/rules?lang=en", None).await;
    assert_eq!(page.status, 200);
    let html = String::from_utf8_lossy(&page.bytes);
    assert!(
        html.contains("<title>Rules in force ·") && html.contains("<h1>Rules in force</h1>"),
        "the page is titled as the rules page: {html}"
    );
    node.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_public_rules_leak_no_proposal_before_it_is_approved() {
    let node = TestNode::start().await;
    let admin = node.add_principal("admin-1", Role::NationalAdmin, "nation");
    let second = node.add_principal("admin-2", Role::NationalAdmin, "nation");
    let (status, body) = node
        .post_as(&admin, "/v1/rule-sets", national_rule_set("1.0.1"))
        .await;
    assert_eq!(status, 202, "{body}");
    let pending_id = body["pending"]["id"].as_str().unwrap().to_owned();

    let text = node.get("/v1/public/rules", None).await.text();
    assert!(
        !text.contains("1.0.1"),
        "a pending proposal is public: {text}"
    );
    assert!(
        !text.contains("admin-1"),
        "a pending proposer is public: {text}"
    );

    let (status, body) = node
        .post_as(
            &second,
            &format!("/v1/pending/{pending_id}:approve"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, body) = node.get("/v1/public/rules", None).await.status_and_json();
    assert_eq!(body["national"]["version"], "1.0.1", "{body}");
    let newest = &body["history"][0];
    assert_eq!(newest["version"], "1.0.1", "{body}");
    assert_eq!(newest["approval"]["proposed_by"], "admin-1", "{body}");
    assert_eq!(newest["approval"]["approved_by"], "admin-2", "{body}");
    assert_eq!(
        newest["diff"]["rules_removed"],
        json!(["CN-ANTIGEN-01"]),
        "{body}"
    );
    node.close().await;
}

/// Simulate before publishing (issue 14): a proposed profile runs in the
/// policy simulator beside the national rule set and no codes; the job's
/// result is its author's alone, and what could not be published cannot
/// be simulated either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proposal_is_simulated_before_publishing_and_only_its_author_reads_the_result() {
    let node = TestNode::start().await;
    let authority = node.add_principal("ha-nanshan", Role::HealthAuthority, "440305");
    let other_authority = node.add_principal("ha-futian", Role::HealthAuthority, "440304");
    let lab = node.add_principal("lab-nanshan", Role::Lab, "440305");
    let profile = |quarantine_days: u32| {
        json!({
            "kind": "parameter-profile",
            "id": "profile-nanshan",
            "region": "440305",
            "ruleSet": "cn-national",
            "version": "1.0.0",
            "validFrom": "2022-06-28T00:00:00Z",
            "parameters": {"closeContactQuarantineDays": quarantine_days},
            "reason": "the 20 measures",
        })
    };
    let small = "/v1/rule-sets:simulate?persons=50&days=10&seeds=1&lang=zh-CN";
    let (status, _) = node.post_as(&lab, small, profile(5)).await;
    assert_eq!(status, 403, "a lab may not");
    let (status, body) = node
        .post_as(
            &authority,
            "/v1/rule-sets:simulate?persons=100000",
            profile(5),
        )
        .await;
    assert_eq!(status, 400, "a city beyond the node's bound: {body}");
    let (status, body) = node.post_as(&authority, small, profile(99)).await;
    assert_eq!(status, 422, "beyond the national bounds: {body}");
    let (status, body) = node
        .post_as(
            &authority,
            "/v1/rule-sets:simulate?persons=50&days=10&seeds=1&lang=fr",
            profile(5),
        )
        .await;
    assert_eq!(status, 400, "a language the console does not speak: {body}");

    let (status, started) = node.post_as(&authority, small, profile(5)).await;
    assert_eq!(status, 202, "{started}");
    let poll = started["poll"].as_str().expect("where to poll").to_owned();
    let (status, _) = node.get_as(&other_authority, &poll).await;
    assert_eq!(
        status, 404,
        "another authority does not see the proposal's job"
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(600);
    let done = loop {
        let (status, job) = node.get_as(&authority, &poll).await;
        assert_eq!(status, 200, "{job}");
        if job["state"] != "running" {
            break job;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the simulation never ended: {job}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert_eq!(done["state"], "done", "{done}");
    assert_eq!(done["days_done"], done["days_total"]);
    assert_eq!(done["days_total"], 30, "three policies, one seed, ten days");
    let table = done["table"].as_str().expect("the table");
    for policy in ["national", "candidate (proposal)", "no-codes"] {
        assert!(table.contains(policy), "{policy} in the table:\n{table}");
    }
    // The charts speak the reader's language (asked in zh-CN).
    for (chart, title) in [
        ("epidemic_svg", "每日新增感染"),
        ("restricted_svg", "每日受限人数"),
    ] {
        let svg = done[chart].as_str().unwrap_or_default();
        assert!(svg.starts_with("<svg"), "{chart}");
        assert!(
            svg.contains(title) && svg.contains(">天<"),
            "{chart}: {svg}"
        );
    }
    node.close().await;
}
