//! Bad input: every refusal is a 4xx problem+json with `status` and
//! `detail`, and stores nothing.

mod support;

use serde_json::{Value, json};
use support::{
    DAY_SECS, T0_UNIX_SECS, TestNode, check, check_in_data, event_of_kind, pcr_data, submission,
};
use ymt_node::auth::Role;

const BODY_BYTES_MAX: usize = 4096;
const BATCH_EVENTS_MAX: usize = 5;

/// Which key a case submits with.
#[derive(Clone, Copy)]
enum Who {
    Lab,
    Venue,
}

struct Case {
    label: &'static str,
    who: Who,
    path: &'static str,
    body: Vec<u8>,
    expect_status: u16,
}

fn bytes(value: Value) -> Vec<u8> {
    serde_json::to_vec(&value).expect("json")
}

fn good_test(id: &str, pid: &str) -> Value {
    event_of_kind("test_result", id, pid, "440305", T0_UNIX_SECS)
}

fn cases() -> Vec<Case> {
    let now = T0_UNIX_SECS;
    let mut unknown_field = good_test("e-unknown-field", "p1");
    unknown_field["color"] = json!("green");
    let mut unknown_data_field = good_test("e-unknown-data-field", "p1");
    unknown_data_field["data"]["note"] = json!("extra");
    let mut unknown_kind = good_test("e-unknown-kind", "p1");
    unknown_kind["kind"] = json!("teleportation");
    let oversized = {
        let mut event = good_test("e-oversized", "p1");
        event["data"]["lab"] = json!("x".repeat(BODY_BYTES_MAX * 2));
        bytes(event)
    };
    let too_many: Vec<Value> = (0..=BATCH_EVENTS_MAX)
        .map(|index| good_test(&format!("e-many-{index}"), "p1"))
        .collect();
    let future = submission(
        "e-future",
        "p1",
        "440305",
        "test_result",
        pcr_data(now + DAY_SECS, now + DAY_SECS, "negative"),
    );
    let bad_check_digit = json!({
        "id": "e-bad-id",
        "subject": {"id_type": "resident_id", "id_number": "110105194912310021"},
        "region": "440305",
        "kind": "test_result",
        "data": pcr_data(now - 3600, now, "negative"),
    });
    let other_region = event_of_kind("test_result", "e-other-region", "p1", "110105", now);
    let leave_before_enter = submission(
        "e-leave-first",
        "p1",
        "440305",
        "check_in",
        check_in_data("venue-1", now - 60, now - 3600),
    );
    let one_bad_in_batch = json!({"events": [
        good_test("e-batch-0", "p1"),
        good_test("e-batch-1", "p2"),
        future.clone(),
        good_test("e-batch-3", "p3"),
    ]});
    let mut changed_repeat = good_test("e-repeat", "p1");
    changed_repeat["region"] = json!("440305001");
    let id_repeated_with_other_content = json!({"events": [
        good_test("e-repeat", "p1"),
        changed_repeat,
    ]});
    vec![
        Case {
            label: "malformed JSON",
            who: Who::Lab,
            path: "/v1/events",
            body: br#"{"id": "e1", "subject": "#.to_vec(),
            expect_status: 400,
        },
        Case {
            label: "unknown event kind",
            who: Who::Lab,
            path: "/v1/events",
            body: bytes(unknown_kind),
            expect_status: 422,
        },
        Case {
            label: "unknown field",
            who: Who::Lab,
            path: "/v1/events",
            body: bytes(unknown_field),
            expect_status: 422,
        },
        Case {
            label: "unknown field in data",
            who: Who::Lab,
            path: "/v1/events",
            body: bytes(unknown_data_field),
            expect_status: 422,
        },
        Case {
            label: "oversized body",
            who: Who::Lab,
            path: "/v1/events",
            body: oversized,
            expect_status: 413,
        },
        Case {
            label: "batch repeating an id with other content",
            who: Who::Lab,
            path: "/v1/events:batch",
            body: bytes(id_repeated_with_other_content),
            expect_status: 422,
        },
        Case {
            label: "batch over batch_events_max",
            who: Who::Lab,
            path: "/v1/events:batch",
            body: bytes(json!({ "events": too_many })),
            expect_status: 413,
        },
        Case {
            label: "timestamps far in the future",
            who: Who::Lab,
            path: "/v1/events",
            body: bytes(future),
            expect_status: 422,
        },
        Case {
            label: "resident ID with a bad check digit",
            who: Who::Lab,
            path: "/v1/events",
            body: bytes(bad_check_digit),
            expect_status: 422,
        },
        Case {
            label: "event for another jurisdiction",
            who: Who::Lab,
            path: "/v1/events",
            body: bytes(other_region),
            expect_status: 403,
        },
        Case {
            label: "leave before enter in a check-in",
            who: Who::Venue,
            path: "/v1/events",
            body: bytes(leave_before_enter),
            expect_status: 422,
        },
        Case {
            label: "a batch with one bad event",
            who: Who::Lab,
            path: "/v1/events:batch",
            body: bytes(one_bad_in_batch),
            expect_status: 422,
        },
        Case {
            label: "an empty batch",
            who: Who::Lab,
            path: "/v1/events:batch",
            body: bytes(json!({"events": []})),
            expect_status: 400,
        },
        Case {
            label: "a batch with an unknown field",
            who: Who::Lab,
            path: "/v1/events:batch",
            body: bytes(json!({"events": [good_test("e-x", "p1")], "extra": 1})),
            expect_status: 422,
        },
    ]
}

async fn start() -> (TestNode, String, String) {
    let node = TestNode::start_with_config(|config| {
        config.body_bytes_max = BODY_BYTES_MAX;
        config.batch_events_max = BATCH_EVENTS_MAX;
    })
    .await;
    let lab = node.add_principal("lab-440305", Role::Lab, "440305");
    let venue = node.add_principal("venue-440305", Role::Venue, "440305");
    (node, lab, venue)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_with_a_problem_and_stores_nothing() {
    let (node, lab, venue) = start().await;
    for case in cases() {
        let before = node.last_seq();
        let key = match case.who {
            Who::Lab => &lab,
            Who::Venue => &venue,
        };
        let reply = node
            .send("POST", case.path, Some(key), Some(case.body))
            .await;
        check(case.label, &reply, case.expect_status);
        assert_eq!(node.last_seq(), before, "{}: nothing stored", case.label);
    }
    // None of the ids of the refused events reached the store.
    for id in [
        "e-batch-0",
        "e-batch-1",
        "e-batch-3",
        "e-future",
        "e-bad-id",
    ] {
        let id = ymt_core::EventId::parse(id).expect("an id");
        assert!(
            node.state.store.event_by_id(&id).expect("reads").is_none(),
            "{id} was not stored"
        );
    }
    node.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_event_is_a_duplicate_and_a_changed_one_a_conflict() {
    let (node, lab, _venue) = start().await;
    let event = good_test("e-once", "p1");
    let first = node.post("/v1/events", Some(&lab), &event).await;
    check("first submission", &first, 200);
    assert_eq!(first.json()["results"][0]["status"], "stored");
    let stored_seq = node.last_seq();

    // A client retrying later (it never saw the first answer) must be told
    // `duplicate`, not refused, although the node's clock has moved on.
    node.advance_clock_secs(90).await;
    let again = node.post("/v1/events", Some(&lab), &event).await;
    check("the same event again", &again, 200);
    assert_eq!(again.json()["results"][0]["status"], "duplicate");
    assert_eq!(
        again.json()["results"][0]["seq"].as_u64(),
        Some(stored_seq),
        "a duplicate names the stored event's seq"
    );
    assert_eq!(node.last_seq(), stored_seq, "a duplicate stores nothing");

    let mut changed = event.clone();
    changed["data"]["result"] = json!("positive");
    let conflict = node.post("/v1/events", Some(&lab), &changed).await;
    check("same id, different content", &conflict, 409);
    assert_eq!(node.last_seq(), stored_seq, "a conflict stores nothing");

    // In a batch, a conflict refuses the whole batch.
    let batch = json!({"events": [good_test("e-new", "p2"), changed]});
    let conflict = node.post("/v1/events:batch", Some(&lab), &batch).await;
    check("a batch with a conflicting id", &conflict, 409);
    assert_eq!(
        node.last_seq(),
        stored_seq,
        "a conflicting batch stores nothing"
    );
    node.close().await;
}
