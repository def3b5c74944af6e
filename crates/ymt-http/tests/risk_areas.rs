//! Risk areas: jurisdiction and granularity, and a designation deciding
//! everyone it reaches as a full evaluation would, across restarts and on
//! the way out.

mod support;

use serde_json::json;
use support::tracing_world::{
    COMMUNITY_A, NANSHAN, check_in, check_ins, check_projection_matches_full_evaluation, reasons,
    risk_area, world,
};
use support::{TestNode, at_days, at_minutes};
use ymt_core::PersonId;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn risk_areas_respect_jurisdiction_and_granularity() {
    let node = TestNode::start().await;
    let world = world(&node).await;
    check_ins(
        &node,
        &world,
        vec![
            check_in("c1", "pmall", "v-mall", -120, Some(-60)),
            check_in("c2", "pgym", "v-gym", -120, Some(-60)),
            check_in("c3", "pearly", "v-gym", -2000, Some(-1900)),
        ],
    )
    .await;

    // Outside the jurisdiction: refused.
    for area in [
        json!({"venues": ["v-mall"]}),
        json!({"region": COMMUNITY_A}),
    ] {
        let (status, body) = node
            .post_as(
                &world.other_authority,
                "/v1/risk-areas",
                risk_area("ra-x", area),
            )
            .await;
        assert_eq!(status, 403, "{body}");
    }

    // A community: applied at once.
    let (status, body) = node
        .post_as(
            &world.authority,
            "/v1/risk-areas",
            risk_area("ra-1", json!({"region": COMMUNITY_A})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "applied");
    let (_, mall) = node
        .get_as(&world.authority, "/v1/persons/pmall/status")
        .await;
    assert_eq!(mall["color"], "yellow", "{mall}");
    assert!(reasons(&mall).contains(&"CN-HIGH-RISK-01".to_string()));
    assert_eq!(node.color(&world.authority, "pgym").await, "green");

    // The whole county: held for national approval.
    let (status, body) = node
        .post_as(
            &world.authority,
            "/v1/risk-areas",
            risk_area("ra-2", json!({"region": NANSHAN})),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let pending_id = body["pending"]["id"].as_str().unwrap().to_string();
    assert!(
        body["pending"]["held_because"][0]
            .as_str()
            .unwrap()
            .contains("granularity"),
        "{body}"
    );
    assert_eq!(node.color(&world.authority, "pgym").await, "green");
    // The authority cannot approve; a national admin can.
    let (status, _) = node
        .post_as(
            &world.authority,
            &format!("/v1/pending/{pending_id}:approve"),
            json!({}),
        )
        .await;
    assert_eq!(status, 403);
    let (status, body) = node
        .post_as(
            &world.national,
            &format!("/v1/pending/{pending_id}:approve"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["pending"]["status"], "approved");
    assert_eq!(node.color(&world.authority, "pgym").await, "yellow");
    // A stay before the window is not exposed.
    assert_eq!(node.color(&world.authority, "pearly").await, "green");

    // A venue set spanning two communities is held too.
    let (status, body) = node
        .post_as(
            &world.authority,
            "/v1/risk-areas",
            risk_area("ra-3", json!({"venues": ["v-mall", "v-gym"]})),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    node.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_designation_decides_everyone_it_reaches_as_a_full_evaluation_would() {
    let node = TestNode::start().await;
    let world = world(&node).await;
    check_ins(
        &node,
        &world,
        vec![
            // Green before, one stay in the window.
            check_in("c1", "pone", "v-mall", -120, Some(-60)),
            // Two stays: the one that ended last counts.
            check_in("c2", "ptwo", "v-mall", -500, Some(-400)),
            check_in("c3", "ptwo", "v-mall", -100, Some(-90)),
            // No departure recorded: the default stay.
            check_in("c4", "pdefault", "v-mall", -200, None),
            // Another venue: not reached.
            check_in("c5", "pelsewhere", "v-gym", -120, Some(-60)),
            // A stay that will be retracted.
            check_in("c6", "pretracted", "v-mall", -300, Some(-250)),
            // Already red with timed transitions ahead.
            check_in("c7", "pred", "v-mall", -300, Some(-200)),
            // Already yellow (antigen positive).
            check_in("c8", "pyellow", "v-mall", -300, Some(-200)),
        ],
    )
    .await;
    let (status, body) = node
        .post_as(
            &world.authority,
            "/v1/events:batch",
            json!({"events": [
                {"id": "r6", "subject": {"pid": "pretracted"}, "region": COMMUNITY_A,
                 "kind": "retraction", "data": {"target": "scanner-1:c6", "reason": "scanned by mistake"}},
                {"id": "cc7", "subject": {"pid": "pred"}, "region": NANSHAN,
                 "kind": "contact_designation",
                 "data": {"contact": "close", "designated_at": at_minutes(-30), "last_exposure_at": at_minutes(-200),
                          "reason": "traced by the CDC"}},
            ]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = node
        .post_as(
            &world.lab,
            "/v1/events",
            json!({"id": "lab-1:A8", "subject": {"pid": "pyellow"}, "region": NANSHAN,
                   "kind": "test_result",
                   "data": {"test": "antigen", "result": "positive", "sampled_at": at_minutes(-20),
                            "reported_at": at_minutes(-10), "lab": "lab-1"}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let everyone = [
        "pone",
        "ptwo",
        "pdefault",
        "pelsewhere",
        "pretracted",
        "pred",
        "pyellow",
    ];
    assert_eq!(node.color(&world.authority, "pred").await, "red");
    assert_eq!(node.color(&world.authority, "pyellow").await, "yellow");
    // A snapshot from before the designation: a restart must apply it again.
    node.state.write_snapshot().await.unwrap();

    let evaluations = || {
        node.state
            .metrics
            .evaluations
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    let evaluations_before = evaluations();
    let (status, body) = node
        .post_as(
            &world.authority,
            "/v1/risk-areas",
            risk_area("ra-mall", json!({"venues": ["v-mall"]})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // The retracted stay has left the index: five persons are reached.
    assert_eq!(body["persons_reached"], 5, "{body}");
    // None of them was re-read: three were settled green, and the kept
    // decisions of the red and the yellow one were composed with the
    // exposure (checked against full evaluations below).
    assert_eq!(evaluations(), evaluations_before);
    for (pid, color) in [
        ("pone", "yellow"),
        ("ptwo", "yellow"),
        ("pdefault", "yellow"),
        ("pelsewhere", "green"),
        ("pretracted", "green"),
        ("pred", "red"),
        ("pyellow", "yellow"),
    ] {
        assert_eq!(node.color(&world.authority, pid).await, color, "{pid}");
    }
    check_projection_matches_full_evaluation(&node, &everyone).await;
    let (_, status) = node
        .get_as(&world.authority, "/v1/persons/pone/status")
        .await;
    assert!(reasons(&status).contains(&"CN-HIGH-RISK-01".to_string()));
    assert!(status.to_string().contains("ra-mall"), "{status}");

    // The person sees who designated the area, and why.
    let (status, timeline) = node
        .get_as(&world.authority, "/v1/persons/ptwo/timeline")
        .await;
    assert_eq!(status, 200, "{timeline}");
    let area = &timeline["risk_areas"][0];
    assert_eq!(area["id"], "ra-mall", "{timeline}");
    assert_eq!(area["designated_by"], "ha-nanshan");
    assert_eq!(area["reason"], "cluster");
    assert_eq!(area["exposure"]["from"], at_minutes(-100).to_rfc3339());
    assert_eq!(area["exposure"]["until"], at_minutes(-90).to_rfc3339());

    // After a restart from the earlier snapshot, the designation is joined
    // again and every status is the same. Killed, so that no shutdown
    // snapshot is written: the restart loads the one from before.
    let node = node.kill().await.start().await;
    assert_eq!(node.state.risk_areas.read().len(), 1);
    check_projection_matches_full_evaluation(&node, &everyone).await;
    assert_eq!(
        node.state
            .projection
            .get(&PersonId::parse("pone").unwrap())
            .unwrap()
            .0
            .color(),
        ymt_core::Color::Yellow
    );

    // A snapshot taken with the designation in force already reflects it:
    // a restart from it (killed: no shutdown snapshot) evaluates nobody again.
    node.state.write_snapshot().await.unwrap();
    let node = node.kill().await.start().await;
    assert_eq!(
        node.state
            .metrics
            .evaluations
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    check_projection_matches_full_evaluation(&node, &everyone).await;

    // The way out: a week after the stays, the scheduler's pass leaves every
    // status equal to a full evaluation again, and the exposed are green.
    for days in [6, 7, 8] {
        node.move_clock_to(at_days(days)).await;
        check_projection_matches_full_evaluation(&node, &everyone).await;
    }
    assert_eq!(node.color(&world.authority, "pone").await, "green");
    node.close().await;
}
