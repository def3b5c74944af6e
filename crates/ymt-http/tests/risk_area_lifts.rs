//! A designation previewed before it applies, and lifted early: the preview
//! stores nothing, a lift cuts the window at its instant (across restarts),
//! a large area's lift waits for a second national admin, and nobody previews
//! or lifts outside their jurisdiction.

mod support;

use serde_json::json;
use support::TestNode;
use support::tracing_world::{
    COMMUNITY_A, NANSHAN, World, check_in, check_ins, check_projection_matches_full_evaluation,
    risk_area, world,
};
use ymt_store::{AuditFilter, AuditOutcome};

/// The authority designates the whole county: held by the breaker, then
/// approved by a national admin, so it is in force.
async fn designate_the_county_through_a_national_admin(node: &TestNode, world: &World) {
    let (status, body) = node
        .post_as(
            &world.authority,
            "/v1/risk-areas",
            risk_area("ra-county", json!({"region": NANSHAN})),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let (status, body) = node
        .post_as(
            &world.national,
            "/v1/pending/risk_area.ra-county:approve",
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_designation_preview_applies_nothing_and_counts_who_would_change() {
    let node = TestNode::start().await;
    let world = world(&node).await;
    check_ins(
        &node,
        &world,
        vec![
            check_in("c1", "pmall", "v-mall", -120, Some(-60)),
            check_in("c2", "pgym", "v-gym", -120, Some(-60)),
        ],
    )
    .await;
    let (status, body) = node
        .post_as(
            &world.authority,
            "/v1/risk-areas:preview",
            risk_area("ra-1", json!({"region": COMMUNITY_A})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["impact"]["persons_reached"], 1, "{body}");
    assert_eq!(body["impact"]["persons_changing"], 1, "{body}");
    assert_eq!(body["impact"]["transitions"]["green->yellow"], 1, "{body}");
    assert_eq!(body["population"], 2, "{body}");
    assert_eq!(body["held_because"], json!([]), "{body}");
    // Nothing was designated: the person is still green, no area is listed,
    // and the same id can then be designated.
    assert_eq!(node.color(&world.authority, "pmall").await, "green");
    let (_, areas) = node.get_as(&world.authority, "/v1/risk-areas").await;
    assert_eq!(areas["risk_areas"], json!([]), "{areas}");
    // A county would be held: the preview says so before anything is proposed.
    let (status, body) = node
        .post_as(
            &world.authority,
            "/v1/risk-areas:preview",
            risk_area("ra-2", json!({"region": NANSHAN})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["held_because"][0]
            .as_str()
            .unwrap_or_default()
            .contains("granularity"),
        "{body}"
    );
    let (_, pending) = node.get_as(&world.national, "/v1/pending").await;
    assert_eq!(pending["pending"], json!([]), "{pending}");
    node.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_health_authority_cannot_preview_or_lift_outside_its_jurisdiction() {
    let node = TestNode::start().await;
    let world = world(&node).await;
    let (status, body) = node
        .post_as(
            &world.other_authority,
            "/v1/risk-areas:preview",
            risk_area("ra-x", json!({"venues": ["v-mall"]})),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = node
        .post_as(
            &world.authority,
            "/v1/risk-areas",
            risk_area("ra-1", json!({"region": COMMUNITY_A})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = node
        .post_as(
            &world.other_authority,
            "/v1/risk-areas/ra-1:lift",
            json!({"reason": "not mine to lift"}),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    let (_, areas) = node.get_as(&world.authority, "/v1/risk-areas").await;
    assert_eq!(areas["risk_areas"][0]["status"], "in_force", "{areas}");
    let denied = node
        .state
        .store
        .audit_list(
            &AuditFilter {
                action: Some("risk_area.lift".into()),
                outcome: Some(AuditOutcome::Denied),
                ..AuditFilter::default()
            },
            10,
        )
        .unwrap();
    assert_eq!(denied.len(), 1, "{denied:?}");
    node.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lifted_designation_exposes_no_stay_after_the_lift_even_after_a_restart() {
    let node = TestNode::start().await;
    let world = world(&node).await;
    check_ins(
        &node,
        &world,
        vec![check_in("c1", "pbefore", "v-mall", -120, Some(-60))],
    )
    .await;
    let (status, body) = node
        .post_as(
            &world.authority,
            "/v1/risk-areas",
            risk_area("ra-1", json!({"region": COMMUNITY_A})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(node.color(&world.authority, "pbefore").await, "yellow");
    let (status, body) = node
        .post_as(
            &world.authority,
            "/v1/risk-areas/ra-1:lift",
            json!({"reason": "all tests negative"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "applied", "{body}");
    // A stay before the lift keeps its exposure.
    assert_eq!(node.color(&world.authority, "pbefore").await, "yellow");
    let (_, areas) = node.get_as(&world.authority, "/v1/risk-areas").await;
    assert_eq!(areas["risk_areas"][0]["status"], "lifted", "{areas}");
    assert_eq!(
        areas["risk_areas"][0]["lifted"]["reason"], "all tests negative",
        "{areas}"
    );
    // Lifting again is a conflict, not a second record.
    let (status, body) = node
        .post_as(
            &world.authority,
            "/v1/risk-areas/ra-1:lift",
            json!({"reason": "again"}),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    // A stay after the lift, inside the window first designated: no exposure.
    node.advance_clock_minutes(60).await;
    check_ins(
        &node,
        &world,
        vec![check_in("c2", "pafter", "v-mall", 30, Some(50))],
    )
    .await;
    assert_eq!(node.color(&world.authority, "pafter").await, "green");
    check_projection_matches_full_evaluation(&node, &["pbefore", "pafter"]).await;
    let node = node.restart().await;
    assert_eq!(node.color(&world.authority, "pbefore").await, "yellow");
    assert_eq!(node.color(&world.authority, "pafter").await, "green");
    check_projection_matches_full_evaluation(&node, &["pbefore", "pafter"]).await;
    node.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifting_a_large_designation_cannot_bypass_the_two_person_rule() {
    let node = TestNode::start().await;
    let world = world(&node).await;
    designate_the_county_through_a_national_admin(&node, &world).await;
    // The authority's lift of the county is held, and it cannot approve it.
    let (status, body) = node
        .post_as(
            &world.authority,
            "/v1/risk-areas/ra-county:lift",
            json!({"reason": "over"}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let pending_id = body["pending"]["id"].as_str().unwrap().to_owned();
    assert!(
        pending_id.starts_with("risk_area_lift.ra-county.lift-"),
        "{pending_id}"
    );
    let (status, _) = node
        .post_as(
            &world.authority,
            &format!("/v1/pending/{pending_id}:approve"),
            json!({}),
        )
        .await;
    assert_eq!(status, 403);
    let (_, areas) = node.get_as(&world.authority, "/v1/risk-areas").await;
    assert_eq!(areas["risk_areas"][0]["status"], "in_force", "{areas}");
    // Rejected, it changes nothing, and a lift can be proposed again.
    let (status, body) = node
        .post_as(
            &world.national,
            &format!("/v1/pending/{pending_id}:reject"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, areas) = node.get_as(&world.authority, "/v1/risk-areas").await;
    assert_eq!(areas["risk_areas"][0]["status"], "in_force", "{areas}");
    node.advance_clock_secs(1).await;
    let (status, body) = node
        .post_as(
            &world.authority,
            "/v1/risk-areas/ra-county:lift",
            json!({"reason": "over, really"}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    node.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_lift_takes_effect_only_when_a_second_national_admin_approves() {
    let node = TestNode::start().await;
    let world = world(&node).await;
    designate_the_county_through_a_national_admin(&node, &world).await;
    let (status, body) = node
        .post_as(
            &world.national,
            "/v1/risk-areas/ra-county:lift",
            json!({"reason": "over"}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let pending_id = body["pending"]["id"].as_str().unwrap().to_owned();
    let (status, _) = node
        .post_as(
            &world.national,
            &format!("/v1/pending/{pending_id}:approve"),
            json!({}),
        )
        .await;
    assert_eq!(status, 403, "the proposer may not approve their own lift");
    let (status, body) = node
        .post_as(
            &world.national_2,
            &format!("/v1/pending/{pending_id}:approve"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, areas) = node.get_as(&world.authority, "/v1/risk-areas").await;
    assert_eq!(areas["risk_areas"][0]["status"], "lifted", "{areas}");
    assert_eq!(areas["risk_areas"][0]["lifted"]["by"], "nat-1", "{areas}");
    node.close().await;
}
