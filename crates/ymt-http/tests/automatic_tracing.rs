//! Automatic tracing: a positive PCR result designates close contacts,
//! companions and secondary contacts from the check-in index at once, with
//! thresholds from the rules governing the case; retractions of the positive
//! or of a check-in, before or after a restart, and a retried positive.

mod support;

use serde_json::{Value, json};
use support::tracing_world::{COMMUNITY_A, NANSHAN, check_in, check_ins, positive, reasons, world};
use support::{TestNode, at_minutes};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tracing_designates_at_once_and_a_retraction_restores_everyone() {
    let node = TestNode::start().await;
    let world = world(&node).await;
    check_ins(
        &node,
        &world,
        vec![
            // The case: the mall (indoor) and the park (outdoor).
            check_in("c1", "pcase", "v-mall", -180, Some(-60)),
            check_in("c2", "pcase", "v-park", -360, Some(-300)),
            // 60 min indoors with the case: a close contact.
            check_in("c3", "pclose", "v-mall", -150, Some(-90)),
            // 30 min outdoors: a companion.
            check_in("c4", "pcompanion", "v-park", -330, Some(-240)),
            // 10 min: below the least overlap.
            check_in("c5", "pbrief", "v-mall", -70, Some(-30)),
            // The close contact's gym visit the day before, with a friend.
            check_in("c6", "pclose", "v-gym", -1200, Some(-1140)),
            check_in("c7", "psecondary", "v-gym", -1210, Some(-1130)),
            // Before the look-back window (6 days ago): not traced.
            check_in("c8", "pcase", "v-gym", -8640, Some(-8580)),
            check_in("c9", "pold", "v-gym", -8640, Some(-8580)),
        ],
    )
    .await;
    for pid in [
        "pcase",
        "pclose",
        "pcompanion",
        "pbrief",
        "psecondary",
        "pold",
    ] {
        assert_eq!(node.color(&world.authority, pid).await, "green", "{pid}");
    }
    assert_eq!(node.state.tracing.index.read().len(), 9);

    let (status, body) = node
        .post_as(&world.lab, "/v1/events", positive("lab-1:S1", "pcase", -60))
        .await;
    assert_eq!(status, 200, "{body}");

    // The moment the positive result is acknowledged, codes have changed.
    assert_eq!(node.color(&world.authority, "pcase").await, "red");
    assert_eq!(node.color(&world.authority, "pclose").await, "red");
    let (_, companion) = node
        .get_as(&world.authority, "/v1/persons/pcompanion/status")
        .await;
    assert_eq!(companion["color"], "yellow", "{companion}");
    assert!(
        reasons(&companion).contains(&"CN-COMPANION-01".to_string()),
        "{companion}"
    );
    assert_eq!(node.color(&world.authority, "psecondary").await, "yellow");
    assert_eq!(node.color(&world.authority, "pbrief").await, "green");
    assert_eq!(node.color(&world.authority, "pold").await, "green");

    // The evidence: venue, overlap, source case, tracing rule, author.
    let (status, timeline) = node
        .get_as(&world.authority, "/v1/persons/pcompanion/timeline")
        .await;
    assert_eq!(status, 200, "{timeline}");
    let designation = timeline["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|record| record["event"]["kind"] == "contact_designation")
        .expect("a designation")
        .clone();
    let event = &designation["event"];
    assert_eq!(event["author"], "auto-trace");
    assert_eq!(event["data"]["contact"], "companion");
    assert_eq!(event["data"]["venue"], "v-park");
    assert_eq!(event["data"]["source_case"], "pcase");
    assert_eq!(
        event["data"]["overlap_start"],
        at_minutes(-330).to_rfc3339()
    );
    assert_eq!(event["data"]["overlap_end"], at_minutes(-300).to_rfc3339());
    assert_eq!(event["data"]["rule"], "TRACE-COMPANION-01");
    assert_eq!(designation["region"], COMMUNITY_A);

    // An authority may retract one designation through the ordinary path.
    let (status, body) = node
        .post_as(
            &world.authority,
            "/v1/events",
            json!({"id": "ha-nanshan:R0", "subject": {"pid": "pcompanion"}, "region": COMMUNITY_A, "kind": "retraction",
                   "data": {"target": event["id"], "reason": "the companion was elsewhere"}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(node.color(&world.authority, "pcompanion").await, "green");
    assert_eq!(node.color(&world.authority, "pclose").await, "red");

    // Retracting the positive retracts everything traced from it.
    let (status, body) = node
        .post_as(
            &world.authority,
            "/v1/events",
            json!({"id": "ha-nanshan:R1", "subject": {"pid": "pcase"}, "region": NANSHAN, "kind": "retraction",
                   "data": {"target": "lab-1:S1", "reason": "sample mix-up"}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    for pid in ["pcase", "pclose", "pcompanion", "psecondary"] {
        assert_eq!(node.color(&world.authority, pid).await, "green", "{pid}");
    }
    node.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secondary_tracing_can_be_disabled() {
    let node =
        TestNode::start_with_config(|config| config.tracing.secondary_contacts_enabled = false)
            .await;
    let world = world(&node).await;
    check_ins(
        &node,
        &world,
        vec![
            check_in("c1", "pcase", "v-mall", -180, Some(-60)),
            check_in("c3", "pclose", "v-mall", -150, Some(-90)),
            check_in("c6", "pclose", "v-gym", -1200, Some(-1140)),
            check_in("c7", "psecondary", "v-gym", -1210, Some(-1130)),
        ],
    )
    .await;
    let (status, body) = node
        .post_as(&world.lab, "/v1/events", positive("lab-1:S1", "pcase", -60))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(node.color(&world.authority, "pclose").await, "red");
    assert_eq!(node.color(&world.authority, "psecondary").await, "green");
    node.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tracing_thresholds_come_from_the_rules_governing_the_case() {
    let node = TestNode::start().await;
    let world = world(&node).await;
    // Nanshan traces less widely than the nation: longer overlaps needed.
    let (status, body) = node
        .post_as(
            &world.national,
            "/v1/profiles",
            json!({
                "kind": "parameter-profile",
                "id": "profile-nanshan",
                "region": NANSHAN,
                "ruleSet": "cn-national",
                "version": "1.0.0",
                "validFrom": "2022-06-28T00:00:00Z",
                "parameters": {
                    "tracingCompanionMinOverlapMinutes": 60,
                    "tracingCloseContactIndoorMinOverlapMinutes": 90,
                },
                "reason": "regional choice within national bounds",
            }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    check_ins(
        &node,
        &world,
        vec![
            check_in("c1", "pcase", "v-mall", -180, Some(-60)),
            check_in("c2", "pcase", "v-park", -360, Some(-300)),
            // 60 min indoors: a close contact nationally, a companion here.
            check_in("c3", "pindoor", "v-mall", -150, Some(-90)),
            // 30 min outdoors: a companion nationally, nothing here.
            check_in("c4", "poutdoor", "v-park", -330, Some(-240)),
        ],
    )
    .await;
    let (status, body) = node
        .post_as(&world.lab, "/v1/events", positive("lab-1:S1", "pcase", -60))
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, indoor) = node
        .get_as(&world.authority, "/v1/persons/pindoor/status")
        .await;
    assert_eq!(indoor["color"], "yellow", "{indoor}");
    assert!(
        reasons(&indoor).contains(&"CN-COMPANION-01".to_string()),
        "{indoor}"
    );
    assert_eq!(node.color(&world.authority, "poutdoor").await, "green");
    node.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retracted_check_in_is_not_traced_before_or_after_a_restart() {
    let node = TestNode::start().await;
    let world = world(&node).await;
    check_ins(
        &node,
        &world,
        vec![
            check_in("c1", "pcase", "v-mall", -180, Some(-60)),
            check_in("c2", "pmistaken", "v-mall", -150, Some(-90)),
            check_in("c3", "pcase2", "v-gym", -180, Some(-60)),
            check_in("c4", "pmistaken2", "v-gym", -150, Some(-90)),
        ],
    )
    .await;
    for (id, pid, target) in [
        ("r2", "pmistaken", "scanner-1:c2"),
        ("r4", "pmistaken2", "scanner-1:c4"),
    ] {
        let (status, body) = node
            .post_as(
                &world.authority,
                "/v1/events",
                json!({"id": id, "subject": {"pid": pid}, "region": COMMUNITY_A, "kind": "retraction",
                       "data": {"target": target, "reason": "scanned at the wrong venue"}}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, body) = node
        .post_as(&world.lab, "/v1/events", positive("lab-1:S1", "pcase", -60))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(node.color(&world.authority, "pcase").await, "red");
    assert_eq!(node.color(&world.authority, "pmistaken").await, "green");

    // The index rebuilt on start leaves the retracted stay out too (the
    // principals and their keys are stored, so they still work).
    let node = node.restart().await;
    let (status, body) = node
        .post_as(
            &world.lab,
            "/v1/events",
            positive("lab-1:S3", "pcase2", -60),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(node.color(&world.authority, "pcase2").await, "red");
    assert_eq!(node.color(&world.authority, "pmistaken2").await, "green");
    node.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_positive_whose_tracing_was_cut_short_is_traced() {
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
    // As if the node had crashed after storing the positive and before
    // tracing it: the result is stored, its tracing never ran.
    let state = node.state.clone();
    tokio::task::spawn_blocking(move || {
        let record: ymt_node::state::EventRecord = serde_json::from_value(json!({
            "region": NANSHAN,
            "event": {"id": "lab-1:S1", "person": "pcase", "recorded_at": at_minutes(0), "author": "lab-1",
                      "kind": "test_result",
                      "data": {"test": "pcr", "result": "positive", "sampled_at": at_minutes(-60),
                               "reported_at": at_minutes(0), "lab": "lab-1"}},
        }))
        .unwrap();
        state.import_records(&[record], "test").unwrap();
    })
    .await
    .unwrap();
    assert_eq!(node.color(&world.authority, "pcase").await, "red");
    assert_eq!(node.color(&world.authority, "pclose").await, "green");
    // The lab never saw an answer and retries: a duplicate, now traced.
    let (status, body) = node
        .post_as(&world.lab, "/v1/events", positive("lab-1:S1", "pcase", -60))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["results"][0]["status"], "duplicate", "{body}");
    assert_eq!(node.color(&world.authority, "pclose").await, "red");
    // A further retry changes nothing.
    let (status, _) = node
        .post_as(&world.lab, "/v1/events", positive("lab-1:S1", "pcase", -60))
        .await;
    assert_eq!(status, 200);
    assert_eq!(node.color(&world.authority, "pclose").await, "red");
    node.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_imported_retraction_withdraws_its_check_in_from_the_index() {
    let node = TestNode::start().await;
    let world = world(&node).await;
    let record =
        |value: Value| -> ymt_node::state::EventRecord { serde_json::from_value(value).unwrap() };
    let check_in_record = |id: &str, pid: &str, enter: i64, leave: i64| {
        record(json!({
            "region": COMMUNITY_A,
            "event": {"id": id, "person": pid, "recorded_at": at_minutes(-30), "author": "import",
                      "kind": "check_in",
                      "data": {"venue": "v-mall", "entered_at": at_minutes(enter), "left_at": at_minutes(leave)}},
        }))
    };
    // The retraction comes first in the file, before its check-in.
    let records = vec![
        record(json!({
            "region": COMMUNITY_A,
            "event": {"id": "r2", "person": "pmistaken", "recorded_at": at_minutes(-20), "author": "import",
                      "kind": "retraction",
                      "data": {"target": "c2", "reason": "scanned at the wrong venue"}},
        })),
        check_in_record("c1", "pcase", -180, -60),
        check_in_record("c2", "pmistaken", -150, -90),
    ];
    let state = node.state.clone();
    tokio::task::spawn_blocking(move || state.import_records(&records, "test").unwrap())
        .await
        .unwrap();
    let (status, body) = node
        .post_as(&world.lab, "/v1/events", positive("lab-1:S1", "pcase", -60))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(node.color(&world.authority, "pcase").await, "red");
    assert_eq!(node.color(&world.authority, "pmistaken").await, "green");
    node.close().await;
}
