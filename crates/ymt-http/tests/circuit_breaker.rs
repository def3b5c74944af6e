//! The circuit breaker: designations, bulk overrides, rules changes and
//! automatic tracing that would change too many colors wait for a second,
//! national principal.

mod support;

use serde_json::json;
use support::tracing_world::{NANSHAN, check_in, check_ins, positive, risk_area, world};
use support::{TestNode, at_minutes};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_breaker_holds_large_actions_until_a_second_admin_approves() {
    let node = TestNode::start_with_config(|config| config.tracing.breaker_persons_max = 1).await;
    let world = world(&node).await;
    check_ins(
        &node,
        &world,
        vec![
            check_in("c1", "p1", "v-mall", -120, Some(-60)),
            check_in("c2", "p2", "v-mall", -100, Some(-50)),
        ],
    )
    .await;
    let (status, body) = node
        .post_as(
            &world.authority,
            "/v1/risk-areas",
            risk_area("ra-1", json!({"venues": ["v-mall"]})),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["pending"]["impact"]["persons_changing"], 2);
    assert_eq!(body["pending"]["impact"]["transitions"]["green->yellow"], 2);
    let id = body["pending"]["id"].as_str().unwrap().to_string();
    assert_eq!(node.color(&world.authority, "p1").await, "green");
    let (status, listed) = node
        .get_as(&world.national, "/v1/pending?status=pending")
        .await;
    assert_eq!(status, 200);
    assert_eq!(listed["pending"].as_array().unwrap().len(), 1);

    let (status, body) = node
        .post_as(
            &world.national,
            &format!("/v1/pending/{id}:approve"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(node.color(&world.authority, "p1").await, "yellow");
    assert_eq!(node.color(&world.authority, "p2").await, "yellow");
    // Decided once only.
    let (status, _) = node
        .post_as(
            &world.national_2,
            &format!("/v1/pending/{id}:reject"),
            json!({}),
        )
        .await;
    assert_eq!(status, 409);

    // A bulk override by a national admin needs a second one.
    let (status, body) = node
        .post_as(
            &world.national,
            "/v1/overrides:bulk",
            json!({"id": "bulk-1", "pids": ["p1", "p2", "p3"], "region": NANSHAN, "color": "red",
                   "reason": "outbreak control", "from": at_minutes(0), "until": at_minutes(7 * 1440)}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let id = body["pending"]["id"].as_str().unwrap().to_string();
    let (status, _) = node
        .post_as(
            &world.national,
            &format!("/v1/pending/{id}:approve"),
            json!({}),
        )
        .await;
    assert_eq!(status, 403);
    assert_eq!(node.color(&world.authority, "p1").await, "yellow");
    let (status, body) = node
        .post_as(
            &world.national_2,
            &format!("/v1/pending/{id}:approve"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["pending"]["events_stored"], 3);
    assert_eq!(node.color(&world.authority, "p1").await, "red");
    assert_eq!(node.color(&world.authority, "p3").await, "red");

    // A rejected action changes nothing.
    let (status, body) = node
        .post_as(
            &world.authority,
            "/v1/overrides:bulk",
            json!({"id": "bulk-2", "pids": ["p4", "p5"], "region": NANSHAN, "color": "yellow",
                   "reason": "x", "from": at_minutes(0), "until": at_minutes(1440)}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let id = body["pending"]["id"].as_str().unwrap().to_string();
    let (status, _) = node
        .post_as(
            &world.national,
            &format!("/v1/pending/{id}:reject"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = node.get_as(&world.authority, "/v1/persons/p4/status").await;
    assert_eq!(status, 404);

    // Approvals and rejections are audited.
    let (_, audit) = node.get_as(&world.national, "/v1/audit?limit=1000").await;
    let actions: Vec<&str> = audit["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|record| record["action"].as_str())
        .collect();
    for action in ["pending.propose", "pending.approve", "pending.reject"] {
        assert!(actions.contains(&action), "{action} in {actions:?}");
    }
    node.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_breaker_holds_a_rules_change_that_would_change_many_colors() {
    let node = TestNode::start_with_config(|config| config.tracing.breaker_persons_max = 1).await;
    let world = world(&node).await;
    // Two close contacts designated 6 days ago: red nationally (7 days),
    // yellow under a 5-day profile.
    let designated = |id: &str, pid: &str| {
        json!({"id": id, "subject": {"pid": pid}, "region": NANSHAN, "kind": "contact_designation",
               "data": {"contact": "close", "designated_at": at_minutes(-6 * 1440), "last_exposure_at": at_minutes(-7 * 1440),
                        "reason": "traced by the CDC"}})
    };
    let (status, body) = node
        .post_as(
            &world.authority,
            "/v1/events:batch",
            json!({"events": [designated("d1", "p1"), designated("d2", "p2")]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(node.color(&world.authority, "p1").await, "red");
    let profile = json!({
        "kind": "parameter-profile",
        "id": "profile-nanshan",
        "region": NANSHAN,
        "ruleSet": "cn-national",
        "version": "1.0.0",
        "validFrom": "2022-06-28T00:00:00Z",
        "parameters": {"closeContactQuarantineDays": 5},
        "reason": "the 20 measures",
    });
    let (status, body) = node
        .post_as(&world.authority, "/v1/profiles", profile)
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["status"], "pending");
    assert_eq!(
        body["pending"]["impact"]["transitions"]["red->yellow"], 2,
        "{body}"
    );
    let id = body["pending"]["id"].as_str().unwrap().to_string();
    assert_eq!(node.color(&world.authority, "p1").await, "red");
    // The proposer's region authority cannot approve; a national admin can.
    let (status, _) = node
        .post_as(
            &world.authority,
            &format!("/v1/pending/{id}:approve"),
            json!({}),
        )
        .await;
    assert_eq!(status, 403);
    let (status, body) = node
        .post_as(
            &world.national,
            &format!("/v1/pending/{id}:approve"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(node.color(&world.authority, "p1").await, "yellow");
    assert_eq!(node.color(&world.authority, "p2").await, "yellow");
    let (_, audit) = node.get_as(&world.national, "/v1/audit?limit=1000").await;
    let actions: Vec<&str> = audit["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|record| record["action"].as_str())
        .collect();
    assert!(actions.contains(&"pending.propose"), "{actions:?}");
    node.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tracing_that_would_designate_more_than_the_breaker_allows_waits_for_approval() {
    let node = TestNode::start_with_config(|config| config.tracing.breaker_persons_max = 1).await;
    let world = world(&node).await;
    check_ins(
        &node,
        &world,
        vec![
            check_in("c1", "pcase", "v-mall", -180, Some(-60)),
            check_in("c2", "pclose", "v-mall", -150, Some(-90)),
            check_in("c3", "pclose2", "v-mall", -140, Some(-80)),
            check_in("c4", "pcase2", "v-gym", -180, Some(-60)),
            check_in("c5", "pother", "v-gym", -150, Some(-90)),
            check_in("c6", "pother2", "v-gym", -140, Some(-80)),
        ],
    )
    .await;
    // The lab's result is stored and the case is red at once; the two
    // designations wait.
    let (status, body) = node
        .post_as(&world.lab, "/v1/events", positive("lab-1:S1", "pcase", -60))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(node.color(&world.authority, "pcase").await, "red");
    assert_eq!(node.color(&world.authority, "pclose").await, "green");
    let (status, listed) = node
        .get_as(&world.national, "/v1/pending?status=pending")
        .await;
    assert_eq!(status, 200);
    let pending = listed["pending"]
        .as_array()
        .unwrap()
        .iter()
        .find(|pending| pending["id"] == "tracing.lab-1:S1")
        .expect("the tracing is held")
        .clone();
    assert_eq!(
        pending["impact"]["transitions"]["green->red"], 2,
        "{pending}"
    );
    assert_eq!(pending["proposer"], "auto-trace");

    // On approval the contacts are designated.
    let (status, body) = node
        .post_as(
            &world.national,
            "/v1/pending/tracing.lab-1:S1:approve",
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // Two close contacts, who met each other long enough to be each
    // other's secondary contacts too: four designations, two persons.
    assert_eq!(body["pending"]["events_stored"], 4, "{body}");
    assert_eq!(body["pending"]["persons_reached"], 2, "{body}");
    assert_eq!(node.color(&world.authority, "pclose").await, "red");
    assert_eq!(node.color(&world.authority, "pclose2").await, "red");

    // A positive retracted while its tracing waits is not traced on approval.
    let (status, body) = node
        .post_as(
            &world.lab,
            "/v1/events",
            positive("lab-1:S2", "pcase2", -60),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = node
        .post_as(
            &world.authority,
            "/v1/events",
            json!({"id": "ha-nanshan:R2", "subject": {"pid": "pcase2"}, "region": NANSHAN, "kind": "retraction",
                   "data": {"target": "lab-1:S2", "reason": "sample mix-up"}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = node
        .post_as(
            &world.national,
            "/v1/pending/tracing.lab-1:S2:approve",
            json!({}),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(node.color(&world.authority, "pother").await, "green");
    node.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rules_change_too_large_to_preview_waits_for_approval() {
    let node = TestNode::start_with_config(|config| config.impact_persons_max = 1).await;
    let world = world(&node).await;
    check_ins(
        &node,
        &world,
        vec![
            check_in("c1", "p1", "v-mall", -120, Some(-60)),
            check_in("c2", "p2", "v-mall", -120, Some(-60)),
        ],
    )
    .await;
    let profile = json!({
        "kind": "parameter-profile",
        "id": "profile-nanshan",
        "region": NANSHAN,
        "ruleSet": "cn-national",
        "version": "1.0.0",
        "validFrom": "2022-06-28T00:00:00Z",
        "parameters": {"closeContactQuarantineDays": 5},
        "reason": "the 20 measures",
    });
    let (status, body) = node
        .post_as(&world.authority, "/v1/profiles", profile)
        .await;
    assert_eq!(status, 202, "{body}");
    assert!(
        body["pending"]["held_because"][0]
            .as_str()
            .unwrap()
            .contains("impact preview not computed"),
        "{body}"
    );
    assert!(node.state.rules.read().profiles.is_empty());
    let id = body["pending"]["id"].as_str().unwrap().to_string();
    let (status, body) = node
        .post_as(
            &world.national,
            &format!("/v1/pending/{id}:approve"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(node.state.rules.read().profiles.len(), 1);
    node.close().await;
}
