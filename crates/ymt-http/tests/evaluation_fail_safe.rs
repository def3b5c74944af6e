//! One person's evaluation can never hurt another person or the node
//! (issue 12, item 1). The national rule CN-CASE-01 reads every test of a
//! person for each positive one, so one positive PCR and 1,000 negatives
//! within a day make it exceed the evaluation budget (10M steps).
//!
//! - A batch the rules could not decide, or one past the cap of events per
//!   person and window, is refused before anything is stored (422, naming
//!   the person and the rule, or the cap and the window).
//! - A stored timeline the rules cannot decide (imported, or stored under
//!   other rules, or an event that no longer reads) puts that person alone
//!   into the fail-safe state "cannot be computed, check in person": never
//!   green, never 404, no signed code, counted by an alert metric; everyone
//!   else's transitions go on, and the node starts again after a clean stop
//!   and after a crash.
//! - A publication the rules could not decide with is refused, changing
//!   nothing; a national publication recompiles every profile in force.

mod support;

use serde_json::{Value, json};
use support::{
    DAY_SECS, HOUR_SECS, MINUTE_SECS, T0_UNIX_SECS, TestNode, at_days, close_contact_data,
    pcr_data, submission,
};
use ymt_core::identity::{IdDocument, IdType, resident_id_check_char};
use ymt_core::{Event, EventBody, EventId, EventKind, PersonId, Timestamp};
use ymt_node::auth::Role;
use ymt_node::model::EventRecord;

const REGION: &str = "440305";

/// A valid resident ID number.
fn resident_id() -> String {
    let first = "11010519491231007";
    let digits: [u8; 17] = first.as_bytes().try_into().expect("17 digits");
    format!("{first}{}", resident_id_check_char(&digits) as char)
}

fn pid_of_resident_id(node: &TestNode) -> String {
    let document = IdDocument::parse(IdType::ResidentId, &resident_id()).expect("a valid id");
    node.state.person_id(&document).as_str().to_owned()
}

/// One positive PCR, then `negatives` negatives sampled within the next
/// 24 hours (none 24 h after another, so none clears the positive), all
/// before T0.
fn positive_then_negatives(pid: &str, negatives: usize) -> Vec<Value> {
    let start = T0_UNIX_SECS - 23 * HOUR_SECS;
    let mut events = vec![submission(
        "lab-440305:pos",
        pid,
        REGION,
        "test_result",
        pcr_data(start, start + MINUTE_SECS, "positive"),
    )];
    for index in 0..negatives {
        let sampled = start + 1 + (index as i64 * 22 * HOUR_SECS) / negatives as i64;
        events.push(submission(
            &format!("lab-440305:neg{index}"),
            pid,
            REGION,
            "test_result",
            pcr_data(sampled, sampled + MINUTE_SECS, "negative"),
        ));
    }
    events
}

/// The same timeline as stored records, imported around the checks of
/// ingest (as an import from another system, or events stored before a
/// rule change, would be).
fn import_positive_then_negatives(node: &TestNode, pid: &str, negatives: usize) {
    let records: Vec<EventRecord> = positive_then_negatives(pid, negatives)
        .into_iter()
        .map(|submission| EventRecord {
            region: REGION.parse().expect("a region"),
            event: Event {
                id: EventId::parse(submission["id"].as_str().unwrap()).unwrap(),
                person: PersonId::parse(pid).unwrap(),
                recorded_at: Timestamp::from_unix_secs(T0_UNIX_SECS - HOUR_SECS).unwrap(),
                author: "lab-440305".into(),
                body: EventBody::from_kind_and_data(
                    EventKind::TestResult,
                    submission["data"].clone(),
                )
                .unwrap(),
            },
        })
        .collect();
    let state = node.state.clone();
    // Before the fix, this import itself failed ("evaluation failed").
    tokio::task::block_in_place(|| state.import_records(&records, "test"))
        .expect("the import is stored");
}

async fn status_of(node: &TestNode, key: &str, pid: &str) -> (u16, Value) {
    node.get_as(key, &format!("/v1/persons/{pid}/status")).await
}

async fn metric(node: &TestNode, name: &str) -> f64 {
    let text = node.get("/metrics", None).await.text();
    text.lines()
        .find_map(|line| line.strip_prefix(&format!("{name} ")))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("metric {name} in\n{text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_the_rules_cannot_decide_is_refused_before_anything_is_stored() {
    // The cap is raised so that the rules, not the cap, refuse the batch.
    let node = TestNode::start_with_config(|config| {
        config.person_events_per_window_max = 5_000;
    })
    .await;
    let lab = node.add_principal("lab-440305", Role::Lab, REGION);
    let verifier = node.add_principal("verifier-440305", Role::VerifierDevice, REGION);
    let pid = "p-many-tests";
    let seq_before = node.last_seq();
    let batch = json!({"events": positive_then_negatives(pid, 1_000)});
    for attempt in ["first", "retry"] {
        let (status, body) = node.post_as(&lab, "/v1/events:batch", batch.clone()).await;
        assert_eq!(status, 422, "{attempt}: {body}");
        let detail = body["detail"].as_str().unwrap();
        assert!(
            detail.contains(pid) && detail.contains("CN-CASE-01"),
            "{attempt}: the refusal names the person and the rule: {detail}"
        );
        assert!(detail.contains("nothing stored"), "{detail}");
    }
    assert_eq!(node.last_seq(), seq_before, "nothing was stored");
    let (status, _) = status_of(&node, &verifier, pid).await;
    assert_eq!(status, 404, "the person has no events");
    node.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_person_cannot_pile_more_events_into_a_window_than_the_cap() {
    let node = TestNode::start_with_config(|config| {
        config.person_events_per_window_max = 50;
        config.person_events_window_secs = DAY_SECS;
    })
    .await;
    let lab = node.add_principal("lab-440305", Role::Lab, REGION);
    let pid = "p-capped";
    let seq_before = node.last_seq();
    // 1 + 50 events within 24 h: one too many.
    let (status, body) = node
        .post_as(
            &lab,
            "/v1/events:batch",
            json!({"events": positive_then_negatives(pid, 50)}),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    let detail = body["detail"].as_str().unwrap();
    for named in [pid, "51 events", "at most 50", "86400 s"] {
        assert!(
            detail.contains(named),
            "the refusal names {named}: {detail}"
        );
    }
    assert_eq!(node.last_seq(), seq_before, "nothing was stored");
    // Up to the cap is accepted, and one more later in the same window is not.
    let (status, body) = node
        .post_as(
            &lab,
            "/v1/events:batch",
            json!({"events": positive_then_negatives(pid, 49)}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let one_more = submission(
        "lab-440305:one-more",
        pid,
        REGION,
        "test_result",
        pcr_data(
            T0_UNIX_SECS - HOUR_SECS,
            T0_UNIX_SECS - MINUTE_SECS,
            "negative",
        ),
    );
    let (status, body) = node.post_as(&lab, "/v1/events", one_more).await;
    assert_eq!(status, 422, "{body}");
    node.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeline_the_rules_cannot_decide_harms_no_one_else_and_never_shows_green() {
    let node = TestNode::start().await;
    let authority = node.add_principal("cdc-440305", Role::HealthAuthority, REGION);
    let verifier = node.add_principal("verifier-440305", Role::VerifierDevice, REGION);
    // The lab whose imported results place the person in the authority's
    // region (writing alone grants no reading: presence.rs).
    node.add_principal("lab-440305", Role::Lab, REGION);
    let stuck = pid_of_resident_id(&node);
    // Someone else, whose code turns yellow on the clock at day 7.
    let other = "p-close-contact";
    let (status, body) = node
        .post_as(
            &authority,
            "/v1/events",
            submission(
                "cdc-440305:cc1",
                other,
                REGION,
                "contact_designation",
                close_contact_data(T0_UNIX_SECS),
            ),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    import_positive_then_negatives(&node, &stuck, 1_000);

    let mut node = node;
    // A crash first: no snapshot yet, so the start decides everyone from
    // the log (before the fix it refused to start: "evaluation failed");
    // then a clean restart, from the snapshot that keeps the state.
    for phase in ["running", "after a crash", "after a restart"] {
        let (status, body) = status_of(&node, &verifier, &stuck).await;
        assert_eq!(status, 200, "{phase}: never 404: {body}");
        assert_eq!(body["color"], "cannot_compute", "{phase}: {body}");
        assert_eq!(body["state"], "cannot_compute", "{phase}: {body}");
        assert_eq!(body["check_in_person"], true, "{phase}: {body}");
        assert!(
            body["detail"].as_str().unwrap().contains("CN-CASE-01"),
            "{phase}: {body}"
        );
        let (status, card) = node
            .post_as(
                &verifier,
                "/v1/verify/id-card",
                json!({"id_type": "resident_id", "id_number": resident_id()}),
            )
            .await;
        assert_eq!(status, 200, "{phase}: {card}");
        assert_eq!(
            card["color"], "cannot_compute",
            "{phase}: not green: {card}"
        );
        assert_eq!(card["check_in_person"], true, "{phase}: {card}");
        assert_eq!(
            card["label"]["en"], "Cannot be computed: check in person",
            "{phase}: {card}"
        );
        let (status, code) = node
            .get_as(&authority, &format!("/v1/persons/{stuck}/code"))
            .await;
        assert_eq!(status, 409, "{phase}: no signed code: {code}");
        assert!(
            code["detail"].as_str().unwrap().contains("check in person"),
            "{phase}: {code}"
        );
        let (status, timeline) = node
            .get_as(&authority, &format!("/v1/persons/{stuck}/timeline"))
            .await;
        assert_eq!(status, 200, "{phase}: {timeline}");
        assert_eq!(timeline["decision"]["state"], "cannot_compute");
        assert_eq!(
            metric(&node, "ymt_persons_cannot_compute").await,
            1.0,
            "{phase}"
        );
        node = match phase {
            "running" => node.kill().await.start().await,
            "after a crash" => node.restart().await,
            _ => node,
        };
    }
    // Everyone else's transitions go on: the close contact turns yellow at
    // day 7, on the clock alone.
    assert_eq!(node.color(&verifier, other).await, "red");
    node.move_clock_to(at_days(7)).await;
    assert_eq!(node.color(&verifier, other).await, "yellow");
    assert_eq!(
        status_of(&node, &verifier, &stuck).await.1["color"],
        "cannot_compute"
    );
    node.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_event_that_no_longer_reads_does_not_stop_the_node() {
    let node = TestNode::start().await;
    let authority = node.add_principal("cdc-440305", Role::HealthAuthority, REGION);
    let pid = "p-unreadable";
    store_unreadable_event(&node, "garbage-1", pid);
    // Before the fix the node could not start again on such a log.
    let node = node.kill().await.start().await;
    let (status, body) = node
        .get_as(&authority, &format!("/v1/persons/{pid}/status"))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["color"], "cannot_compute", "{body}");
    node.close().await;
}

/// Stores an event that does not read as an event record, around every
/// check (as a damaged or future-format record would be).
fn store_unreadable_event(node: &TestNode, id: &str, pid: &str) {
    let garbage = ymt_store::NewEvent {
        id: EventId::parse(id).unwrap(),
        person: PersonId::parse(pid).unwrap(),
        recorded_at: node.now(),
        payload: br#"{"not": "an event record"}"#.to_vec(),
    };
    let state = node.state.clone();
    tokio::task::block_in_place(|| {
        ymt_store::wait_blocking(
            state
                .store
                .submit_with_audit(vec![garbage], vec![])
                .unwrap(),
        )
    })
    .expect("stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_who_cannot_be_computed_when_due_does_not_hold_back_the_others_due_then() {
    // One worker: the persons due at one instant are decided in one pass.
    let node = TestNode::start_with_config(|config| config.worker_threads = 1).await;
    let authority = node.add_principal("cdc-440305", Role::HealthAuthority, REGION);
    let verifier = node.add_principal("verifier-440305", Role::VerifierDevice, REGION);
    let persons: Vec<String> = (0..8).map(|n| format!("p-due-{n}")).collect();
    for (n, pid) in persons.iter().enumerate() {
        let (status, body) = node
            .post_as(
                &authority,
                "/v1/events",
                submission(
                    &format!("cdc-440305:cc{n}"),
                    pid,
                    REGION,
                    "contact_designation",
                    close_contact_data(T0_UNIX_SECS),
                ),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    // All eight turn yellow at day 7; by then one timeline no longer reads.
    store_unreadable_event(&node, "garbage-due", &persons[3]);
    // Before the fix the scheduler's pass failed on that person, dropped the
    // others due with them, and never reported day 7 as applied.
    tokio::time::timeout(
        std::time::Duration::from_secs(120),
        node.move_clock_to(at_days(7)),
    )
    .await
    .expect("the scheduler applies every transition due at day 7");
    for (n, pid) in persons.iter().enumerate() {
        let expected = if n == 3 { "cannot_compute" } else { "yellow" };
        assert_eq!(node.color(&verifier, pid).await, expected, "{pid}");
    }
    node.close().await;
}

/// The national rule set under a new version, with `extra_rules` added.
fn national_rule_set(version: &str, extra_rules: Vec<Value>) -> Value {
    let mut document: Value =
        serde_json::from_str(ymt_rules::ruleset::NATIONAL_RULE_SET_JSON).unwrap();
    document["version"] = json!(version);
    document["rules"]
        .as_array_mut()
        .unwrap()
        .extend(extra_rules);
    document
}

/// A rule that reads every test for every test for every test: cubic, so it
/// exceeds the budget on any timeline near the cap.
fn over_budget_rule() -> Value {
    let count = |list: &str, inner: Value| json!({"reduce": [{"var": list}, {"+": [{"var": "accumulator"}, inner]}, 0]});
    json!({
        "id": "XX-CUBIC-01",
        "color": "yellow",
        "over": "tests",
        "description": {"zh-CN": "测试", "en": "a rule too costly to decide"},
        "clears": {"zh-CN": "测试", "en": "never"},
        "source": "a test",
        "logic": {"<": [count("facts.tests", count("data.facts.tests", count("data.data.facts.tests", json!(1)))), 0]},
    })
}

/// Publishes, approving with a second national admin if it is held.
async fn publish(node: &TestNode, keys: &[String; 2], path: &str, document: Value) -> (u16, Value) {
    let (status, body) = node.post_as(&keys[0], path, document).await;
    if status != 202 {
        return (status, body);
    }
    let id = body["pending"]["id"].as_str().unwrap().to_owned();
    node.post_as(&keys[1], &format!("/v1/pending/{id}:approve"), json!({}))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publication_the_rules_cannot_decide_with_is_refused_and_changes_nothing() {
    let node = TestNode::start().await;
    let admins = [
        node.add_principal("admin-1", Role::NationalAdmin, "nation"),
        node.add_principal("admin-2", Role::NationalAdmin, "nation"),
    ];
    // A rule that exceeds the budget on the stress timelines.
    let (status, body) = publish(
        &node,
        &admins,
        "/v1/rule-sets",
        national_rule_set("1.1.0", vec![over_budget_rule()]),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains("XX-CUBIC-01"), "names the rule: {detail}");
    assert_eq!(
        node.state.rules.read().national.version().to_string(),
        "1.0.0"
    );
    assert!(
        node.state.store.meta_list("rule-sets").unwrap().is_empty(),
        "nothing stored"
    );

    // A profile, while a stored timeline cannot be decided under it.
    import_positive_then_negatives(&node, "p-stuck", 1_000);
    let profile = json!({
        "kind": "parameter-profile",
        "id": "profile-440305",
        "region": REGION,
        "ruleSet": "cn-national",
        "version": "1.0.0",
        "validFrom": "2022-06-28T00:00:00Z",
        "parameters": {"closeContactQuarantineDays": 5},
        "reason": "regional choice within national bounds",
    });
    let (status, body) = publish(&node, &admins, "/v1/profiles", profile).await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("p-stuck"),
        "{body}"
    );
    assert!(
        node.state.rules.read().profiles.is_empty(),
        "nothing in force"
    );
    assert!(
        node.state.store.meta_list("profiles").unwrap().is_empty(),
        "nothing stored"
    );
    // Both refusals are audited as refusals of the proposer.
    let refusals = node
        .state
        .store
        .audit_list(
            &ymt_store::AuditFilter {
                principal: Some("admin-1".into()),
                action: Some("pending.propose".into()),
                outcome: Some(ymt_store::AuditOutcome::Denied),
                ..ymt_store::AuditFilter::default()
            },
            100,
        )
        .unwrap();
    assert_eq!(refusals.len(), 2, "{refusals:?}");
    node.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_national_publication_recompiles_every_regional_profile_in_force() {
    let node = TestNode::start().await;
    let admins = [
        node.add_principal("admin-1", Role::NationalAdmin, "nation"),
        node.add_principal("admin-2", Role::NationalAdmin, "nation"),
    ];
    let authority = node.add_principal("cdc-440305", Role::HealthAuthority, REGION);
    let profile = json!({
        "kind": "parameter-profile",
        "id": "profile-440305",
        "region": REGION,
        "ruleSet": "cn-national",
        "version": "1.0.0",
        "validFrom": "2022-06-28T00:00:00Z",
        "parameters": {"closeContactQuarantineDays": 5},
        "reason": "regional choice within national bounds",
    });
    let (status, body) = publish(&node, &admins, "/v1/profiles", profile).await;
    assert_eq!(status, 200, "{body}");
    // A close contact managed in 440305: decided under its profile.
    let pid = "p-managed";
    let (status, body) = node
        .post_as(
            &authority,
            "/v1/events",
            submission(
                "cdc-440305:cc1",
                pid,
                REGION,
                "contact_designation",
                close_contact_data(T0_UNIX_SECS),
            ),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, status_body) = node
        .get_as(&authority, &format!("/v1/persons/{pid}/status"))
        .await;
    assert_eq!(status_body["rules"]["version"], "1.0.0", "{status_body}");
    assert_eq!(
        status_body["valid_until"],
        json!(at_days(5).to_rfc3339()),
        "the profile's 5 days: {status_body}"
    );

    let (status, body) = publish(
        &node,
        &admins,
        "/v1/rule-sets",
        national_rule_set("1.1.0", vec![]),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (_, status_body) = node
        .get_as(&authority, &format!("/v1/persons/{pid}/status"))
        .await;
    assert_eq!(
        status_body["rules"]["version"], "1.1.0",
        "the profile is compiled over the new national version at once: {status_body}"
    );
    assert_eq!(
        status_body["rules"]["profile"]["region"], REGION,
        "{status_body}"
    );
    assert_eq!(
        status_body["valid_until"],
        json!(at_days(5).to_rfc3339()),
        "still the profile's parameters: {status_body}"
    );
    node.close().await;
}
