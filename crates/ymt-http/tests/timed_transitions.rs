//! Timed transitions end to end: a close contact turns from red to yellow to
//! green on the clock alone, with no write in between, and a retraction
//! restores the earlier color at once.

mod support;

use serde_json::json;
use support::{
    DAY_SECS, HOUR_SECS, T0_UNIX_SECS, TestNode, at_days, at_secs, check, close_contact_data,
    instant_of_unix_secs, pcr_data, submission,
};
use ymt_node::auth::Role;

/// Reads a person's status through two verifiers of different regions,
/// asserts both bodies are byte-identical, and returns color and valid_until.
async fn read_twice(node: &TestNode, keys: &[String; 2], pid: &str) -> (String, Option<String>) {
    let path = format!("/v1/persons/{pid}/status");
    let first = node.get(&path, Some(&keys[0])).await;
    let second = node.get(&path, Some(&keys[1])).await;
    check("status read (440305)", &first, 200);
    check("status read (110105)", &second, 200);
    assert_eq!(
        first.bytes,
        second.bytes,
        "two regions see the same status body: {} vs {}",
        String::from_utf8_lossy(&first.bytes),
        String::from_utf8_lossy(&second.bytes)
    );
    let body = first.json();
    (
        body["color"].as_str().unwrap_or_default().to_owned(),
        body["valid_until"].as_str().map(str::to_owned),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_contact_turns_yellow_then_green_on_the_clock_alone() {
    let node = TestNode::start().await;
    let authority = node.add_principal("cdc-440305", Role::HealthAuthority, "440305");
    let lab = node.add_principal("lab-440305", Role::Lab, "440305");
    let verifiers = [
        node.add_principal("verifier-440305", Role::VerifierDevice, "440305"),
        node.add_principal("verifier-110105", Role::VerifierDevice, "110105"),
    ];
    let pid = "p-close-contact";
    let t0 = T0_UNIX_SECS;

    let designation = submission(
        "cc1",
        pid,
        "440305",
        "contact_designation",
        close_contact_data(t0),
    );
    check(
        "designation",
        &node
            .post("/v1/events", Some(&authority), &designation)
            .await,
        200,
    );
    let (color, valid_until) = read_twice(&node, &verifiers, pid).await;
    assert_eq!(color, "red", "a close contact is red at t0");
    assert_eq!(
        valid_until.as_deref(),
        Some(at_days(7).to_rfc3339().as_str())
    );

    // The quarantine tests of days 1, 2, 3, 5 and 7, each reported when the
    // clock reaches it.
    for day in [1, 2, 3, 5, 7] {
        let sampled = t0 + (day - 1) * DAY_SECS + 2 * HOUR_SECS;
        node.move_clock_to(instant_of_unix_secs(sampled)).await;
        let test = submission(
            &format!("q-d{day}"),
            pid,
            "440305",
            "test_result",
            pcr_data(sampled, sampled, "negative"),
        );
        check(
            &format!("test of day {day}"),
            &node.post("/v1/events", Some(&lab), &test).await,
            200,
        );
        let (color, _) = read_twice(&node, &verifiers, pid).await;
        assert_eq!(color, "red", "still red on day {day}");
    }

    // No write from here to the transition: the scheduler alone moves it.
    node.move_clock_to(at_secs(7 * DAY_SECS - 1)).await;
    assert_eq!(read_twice(&node, &verifiers, pid).await.0, "red");
    node.move_clock_to(at_secs(7 * DAY_SECS)).await;
    assert_eq!(
        read_twice(&node, &verifiers, pid).await.0,
        "yellow",
        "yellow at exactly t0+7d"
    );

    // The last monitoring day's test, reported in the afternoon of day 10.
    let sampled = t0 + 9 * DAY_SECS + 2 * HOUR_SECS;
    let reported = t0 + 9 * DAY_SECS + 8 * HOUR_SECS;
    node.move_clock_to(instant_of_unix_secs(reported)).await;
    let test = submission(
        "m-d3",
        pid,
        "440305",
        "test_result",
        pcr_data(sampled, reported, "negative"),
    );
    check(
        "monitoring test",
        &node.post("/v1/events", Some(&lab), &test).await,
        200,
    );
    let (color, valid_until) = read_twice(&node, &verifiers, pid).await;
    assert_eq!(color, "yellow");
    assert_eq!(
        valid_until.as_deref(),
        Some(at_days(10).to_rfc3339().as_str())
    );

    node.move_clock_to(at_secs(10 * DAY_SECS - 1)).await;
    assert_eq!(read_twice(&node, &verifiers, pid).await.0, "yellow");
    node.move_clock_to(at_secs(10 * DAY_SECS)).await;
    assert_eq!(
        read_twice(&node, &verifiers, pid).await.0,
        "green",
        "green at exactly t0+10d"
    );
    node.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retracted_designation_restores_the_earlier_color_at_once() {
    let node = TestNode::start().await;
    let authority = node.add_principal("cdc-440305", Role::HealthAuthority, "440305");
    let lab = node.add_principal("lab-440305", Role::Lab, "440305");
    let verifiers = [
        node.add_principal("verifier-440305", Role::VerifierDevice, "440305"),
        node.add_principal("verifier-110105", Role::VerifierDevice, "110105"),
    ];
    let pid = "p-retracted";
    let t0 = T0_UNIX_SECS;

    // A known person first: a negative test, green.
    let test = submission(
        "t1",
        pid,
        "440305",
        "test_result",
        pcr_data(t0 - HOUR_SECS, t0, "negative"),
    );
    check(
        "test",
        &node.post("/v1/events", Some(&lab), &test).await,
        200,
    );
    let (before, _) = read_twice(&node, &verifiers, pid).await;
    assert_eq!(before, "green");

    node.move_clock_to(at_secs(HOUR_SECS)).await;
    let designation = submission(
        "cc-wrong",
        pid,
        "440305",
        "contact_designation",
        close_contact_data(t0 + HOUR_SECS),
    );
    check(
        "designation",
        &node
            .post("/v1/events", Some(&authority), &designation)
            .await,
        200,
    );
    assert_eq!(read_twice(&node, &verifiers, pid).await.0, "red");

    node.move_clock_to(at_secs(2 * HOUR_SECS)).await;
    let retraction = submission(
        "retract-cc-wrong",
        pid,
        "440305",
        "retraction",
        json!({"target": "cc-wrong", "reason": "designated in error"}),
    );
    check(
        "retraction",
        &node.post("/v1/events", Some(&authority), &retraction).await,
        200,
    );
    assert_eq!(
        read_twice(&node, &verifiers, pid).await.0,
        before,
        "the retraction restores the earlier color at once"
    );
    node.close().await;
}
