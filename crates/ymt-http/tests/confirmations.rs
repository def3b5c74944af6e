//! Confirmations: an authority confirms an automatic designation, and the
//! person sees who confirmed it and why.

mod support;

use serde_json::json;
use support::TestNode;
use support::tracing_world::{check_in, check_ins, positive, world};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_authority_confirms_an_automatic_designation_and_the_person_sees_it() {
    let node = TestNode::start().await;
    let world = world(&node).await;
    check_ins(
        &node,
        &world,
        vec![
            check_in("c1", "pcase", "v-mall", -180, Some(-60)),
            check_in("c2", "pclose", "v-mall", -150, Some(-90)),
        ],
    )
    .await;
    let (status, body) = node
        .post_as(&world.lab, "/v1/events", positive("lab-1:S1", "pcase", -60))
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, timeline) = node
        .get_as(&world.authority, "/v1/persons/pclose/timeline")
        .await;
    let designation = timeline["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|record| record["event"]["kind"] == "contact_designation")
        .expect("a designation")["event"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/v1/designations/{designation}:confirm");
    // Another region's authority may not; a lab may not.
    let (status, _) = node
        .post_as(&world.other_authority, &path, json!({"note": "x"}))
        .await;
    assert_eq!(status, 403);
    let (status, _) = node.post_as(&world.lab, &path, json!({})).await;
    assert_eq!(status, 403);
    // Only automatic designations, and only once.
    let (status, _) = node
        .post_as(
            &world.authority,
            "/v1/designations/scanner-1:c2:confirm",
            json!({}),
        )
        .await;
    assert_eq!(status, 422);
    let (status, body) = node
        .post_as(
            &world.authority,
            &path,
            json!({"note": "the venue's records agree"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = node.post_as(&world.authority, &path, json!({})).await;
    assert_eq!(status, 409);
    // The color is unchanged; the person sees who confirmed it and why.
    assert_eq!(node.color(&world.authority, "pclose").await, "red");
    let (_, timeline) = node
        .get_as(&world.authority, "/v1/persons/pclose/timeline")
        .await;
    let confirmation = &timeline["confirmations"][0];
    assert_eq!(confirmation["designation"], designation.as_str());
    assert_eq!(confirmation["confirmed_by"], "ha-nanshan");
    assert_eq!(confirmation["note"], "the venue's records agree");
    node.close().await;
}
