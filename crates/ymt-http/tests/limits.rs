//! Overload: past the concurrent-request limit the node sheds with 503 and
//! Retry-After at once, and a full store queue is a 503 too.

mod support;

use axum::response::IntoResponse;
use support::{TestNode, check};
use ymt_http::problem::ApiError;
use ymt_node::auth::Role;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_past_the_concurrency_limit_are_shed_with_503() {
    let node = TestNode::start_with_config(|config| config.concurrent_requests_max = 1).await;
    let lab = node.add_principal("lab-440305", Role::Lab, "440305");
    let admin = node.add_principal("admin-1", Role::NationalAdmin, "000000");
    check(
        "a lone request",
        &node.get("/v1/rule-sets", Some(&lab)).await,
        200,
    );

    // Hold the only slot: a request waiting inside its handler.
    let mut held = node.hold_a_slot(&admin).await;

    // Another request on another route is shed once the slot is taken.
    let shed = node.get_until_shed(&mut held, "/v1/rule-sets", &lab).await;
    check("shed request", &shed, 503);
    assert_eq!(
        shed.retry_after.as_deref(),
        Some("1"),
        "503 says when to retry"
    );

    // Finish the held request; its slot frees and requests are served again.
    assert_eq!(held.release().await, 404, "the held request is answered");
    check(
        "once the slot is free",
        &node.get("/v1/rule-sets", Some(&lab)).await,
        200,
    );
    node.close().await;
}

#[test]
fn a_full_store_queue_is_503_with_retry_after() {
    let response = ApiError::from(ymt_store::StoreError::Overloaded).into_response();
    assert_eq!(response.status().as_u16(), 503);
    assert_eq!(
        response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("1")
    );
    assert_eq!(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/problem+json")
    );
    // Errors that a retry cannot cure are not disguised as overload.
    let response = ApiError::from(ymt_store::StoreError::WriterGone).into_response();
    assert_eq!(response.status().as_u16(), 500);
}

/// Xi'an 2022: the doors failed first. When citizen refreshes, console reads
/// and writes fill the node, a door's check is still served from the slots
/// reserved for the doors.
#[tokio::test]
async fn citizens_and_consoles_filling_the_node_cannot_shed_the_doors() {
    let node = TestNode::start_with_config(|config| config.concurrent_requests_max = 2).await;
    let lab = node.add_principal("lab-440305", Role::Lab, "440305");
    let verifier = node.add_principal("verifier-1", Role::VerifierDevice, "440305");
    let admin = node.add_principal("admin-1", Role::NationalAdmin, "000000");

    // Two slots, one reserved for the doors: one held console request fills
    // everything the others may take.
    let mut held = node.hold_a_slot(&admin).await;
    let shed = node.get_until_shed(&mut held, "/v1/rule-sets", &lab).await;
    check("a console read past the others' share", &shed, 503);

    // The doors are still served.
    check(
        "a verifier's status read",
        &node
            .get("/v1/persons/p-unknown/status", Some(&verifier))
            .await,
        404,
    );
    let verified = node
        .post(
            "/v1/verify/token",
            None,
            &serde_json::json!({"token": "YMT1:garbage"}),
        )
        .await;
    check("a code verified at a door", &verified, 200);

    assert_eq!(held.release().await, 404, "the held request is answered");
    node.close().await;
}
