//! What an attacker cannot do with the services; each test is named after
//! what it prevents.

use serde_json::{Value, json};
use ymt_node::auth::Role;

use crate::world::*;

#[tokio::test]
async fn a_hospital_cannot_read_results_without_consent_nor_with_another_hospitals() {
    let world = world().await;
    let pid = world.person("C5000001", &[]).await;
    let results = |venue: &str| format!("/v1/hospitals/{venue}/persons/{pid}/test-results");
    let (status, body) = world
        .node
        .get_as(&world.hospital_staff, &results(HOSPITAL))
        .await;
    assert_eq!(status, 403, "no consent: {body}");
    let cookie = world.cookie("C5000001").await;
    let reply = world
        .node
        .send_with_cookie(
            "POST",
            &format!("/v1/persons/{pid}/consents"),
            &cookie,
            Some(&json!({"venue": HOSPITAL})),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    // The other hospital: neither through its own venue nor through the consented one.
    let (status, body) = world
        .node
        .get_as(&world.other_hospital_staff, &results(OTHER_HOSPITAL))
        .await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = world
        .node
        .get_as(&world.other_hospital_staff, &results(HOSPITAL))
        .await;
    assert_eq!(status, 403, "{body}");
    // Nor a care home, nor an authority, through the consented hospital.
    for key in [&world.care_staff, &world.authority, &world.admin] {
        let (status, body) = world.node.get_as(key, &results(HOSPITAL)).await;
        assert_eq!(status, 403, "{body}");
    }
    world.node.close().await;
}

#[tokio::test]
async fn a_hospital_cannot_give_itself_a_persons_consent() {
    let world = world().await;
    let pid = world.person("C6000001", &[]).await;
    for key in [&world.hospital_staff, &world.authority, &world.admin] {
        let (status, body) = world
            .node
            .post_as(
                key,
                &format!("/v1/persons/{pid}/consents"),
                json!({"venue": HOSPITAL}),
            )
            .await;
        assert_eq!(status, 403, "{body}");
    }
    // Nor does another citizen give it for them.
    world.person("X6000001", &[]).await;
    let stranger = world.cookie("X6000001").await;
    let reply = world
        .node
        .send_with_cookie(
            "POST",
            &format!("/v1/persons/{pid}/consents"),
            &stranger,
            Some(&json!({"venue": HOSPITAL})),
        )
        .await;
    assert_eq!(reply.status, 403, "{}", reply.text());
    let (status, body) = world
        .node
        .get_as(
            &world.hospital_staff,
            &format!("/v1/hospitals/{HOSPITAL}/persons/{pid}/test-results"),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    world.node.close().await;
}

#[tokio::test]
async fn a_care_home_cannot_widen_its_policy_beyond_the_bounds_nor_add_logic() {
    let world = world().await;
    let (status, body) = world
        .profile(&world.care_staff, CARE_HOME, "1.0.0", 720)
        .await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = world
        .profile(&world.care_staff, CARE_HOME, "1.0.0", 12)
        .await;
    assert_eq!(status, 422, "{body}");
    let adds_logic = json!({
        "kind": "parameter-profile", "id": "p", "region": COMMUNITY, "ruleSet": "care-visit",
        "version": "1.0.0", "validFrom": "2022-06-28T00:00:00Z", "parameters": {},
        "rules": [{"id": "ALLOW-ALL"}],
    });
    let (status, body) = world
        .node
        .post_as(
            &world.care_staff,
            &format!("/v1/services/care-visit/venues/{CARE_HOME}/profile"),
            adds_logic,
        )
        .await;
    assert_eq!(status, 422, "{body}");
    // Nor for another home, nor a hospital's rules for a care home.
    let (status, body) = world
        .profile(&world.care_staff, OTHER_CARE_HOME, "1.0.0", 48)
        .await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = world
        .profile(&world.care_staff, HOSPITAL, "1.0.0", 48)
        .await;
    assert_eq!(status, 404, "{body}");
    let (_, described) = world
        .node
        .get_as(
            &world.care_staff,
            &format!("/v1/services/care-visit/rule-set?venue={CARE_HOME}"),
        )
        .await;
    assert!(
        described["profile"].is_null(),
        "nothing was published: {described}"
    );
    world.node.close().await;
}

#[tokio::test]
async fn staff_of_one_home_cannot_read_or_set_another_homes_roster_nor_decide_at_its_door() {
    let world = world().await;
    let visitor = world.person("V7000001", &[]).await;
    let roster = format!("/v1/care-homes/{CARE_HOME}/roster");
    let (status, body) = world
        .node
        .post_as(
            &world.other_care_staff,
            &roster,
            json!({"staff": [visitor]}),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = world
        .node
        .get_as(&world.other_care_staff, &format!("{roster}-check"))
        .await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = world
        .visit(&world.other_care_staff, CARE_HOME, "V7000001", &visitor)
        .await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = world
        .entrance(
            &world.care_staff,
            HOSPITAL,
            json!({"id_type": "passport", "id_number": "V7000001"}),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    // An authority outside the region does not reach it either.
    let outside = world
        .node
        .add_principal("cdc-110105", Role::HealthAuthority, "110105");
    let (status, body) = world
        .node
        .get_as(&outside, &format!("{roster}-check"))
        .await;
    assert_eq!(status, 403, "{body}");
    assert!(world.node.denied_records().len() >= 5);
    world.node.close().await;
}

#[tokio::test]
async fn one_admin_cannot_put_a_service_rule_set_into_force_alone() {
    let world = world().await;
    let mut document: Value = serde_json::from_str(include_str!(
        "../../../ymt-node/services/hospital-entrance.json"
    ))
    .unwrap();
    document["version"] = json!("1.1.0");
    document["parameters"]["feverClinicAntigenHours"]["default"] = json!(24);
    let path = "/v1/services/hospital/rule-sets";
    let (status, body) = world
        .node
        .post_as(&world.authority, path, document.clone())
        .await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = world
        .node
        .post_as(&world.admin, path, document.clone())
        .await;
    assert_eq!(status, 202, "{body}");
    let pending = body["pending"]["id"]
        .as_str()
        .expect("a pending id")
        .to_owned();
    let approve = format!("/v1/pending/{pending}:approve");
    let (status, body) = world.node.post_as(&world.admin, &approve, json!({})).await;
    assert_eq!(status, 403, "the proposer cannot approve: {body}");
    let (_, described) = world
        .node
        .get_as(&world.admin, "/v1/services/hospital/rule-set")
        .await;
    assert_eq!(described["rule_set"]["version"], "1.0.0");
    let (status, body) = world
        .node
        .post_as(&world.second_admin, &approve, json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, described) = world
        .node
        .get_as(&world.admin, "/v1/services/hospital/rule-set")
        .await;
    assert_eq!(described["rule_set"]["version"], "1.1.0");
    // Another service's rule set under this service's name is refused.
    let mut wrong: Value =
        serde_json::from_str(include_str!("../../../ymt-node/services/care-visit.json")).unwrap();
    wrong["version"] = json!("2.0.0");
    let (status, body) = world.node.post_as(&world.admin, path, wrong).await;
    assert_eq!(status, 422, "{body}");
    // It survives a restart.
    let node = world.node.restart().await;
    let (_, described) = node
        .get_as(&world.admin, "/v1/services/hospital/rule-set")
        .await;
    assert_eq!(described["rule_set"]["version"], "1.1.0");
    node.close().await;
}

#[tokio::test]
async fn a_person_who_cannot_be_identified_changes_nothing_and_gets_a_clear_error() {
    let world = world().await;
    for body in [
        json!({"code": "YMT1:not-a-code", "symptoms": true}),
        json!({"id_type": "passport", "symptoms": true}),
        json!({"symptoms": true}),
        json!({"code": "x", "id_type": "passport", "id_number": "E1", "symptoms": true}),
    ] {
        let (status, reply) = world.entrance(&world.hospital_staff, HOSPITAL, body).await;
        assert_eq!(status, 422, "{reply}");
    }
    let (status, reply) = world
        .visit(
            &world.care_staff,
            CARE_HOME,
            "not a passport number!",
            "p-resident",
        )
        .await;
    assert_eq!(status, 422, "{reply}");
    let store = &world.node.state.store;
    for namespace in [
        ymt_node::hospital::META_HOSPITAL_SYMPTOMS,
        ymt_node::care_homes::META_CARE_VISITS,
    ] {
        assert!(
            store.meta_list(namespace).unwrap().is_empty(),
            "{namespace}: nothing stored"
        );
    }
    // A consent names a hospital, nothing else.
    let pid = world.person("C8000001", &[]).await;
    let cookie = world.cookie("C8000001").await;
    for venue in [CARE_HOME, "no-such-venue"] {
        let reply = world
            .node
            .send_with_cookie(
                "POST",
                &format!("/v1/persons/{pid}/consents"),
                &cookie,
                Some(&json!({"venue": venue})),
            )
            .await;
        assert_eq!(reply.status, 404, "{}", reply.text());
    }
    world.node.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_whose_evaluation_fails_is_never_sent_to_outpatients_nor_let_in() {
    let world = world().await;
    let broken = world.person("F9000001", &[]).await;
    world.person("F9000002", &[]).await;
    // An event that no longer reads, stored around every check.
    let garbage = ymt_store::NewEvent {
        id: ymt_core::EventId::parse("damaged-1").unwrap(),
        person: ymt_core::PersonId::parse(&broken).unwrap(),
        recorded_at: world.node.now(),
        payload: br#"{"not": "an event record"}"#.to_vec(),
    };
    let state = world.node.state.clone();
    tokio::task::block_in_place(|| {
        ymt_store::wait_blocking(
            state
                .store
                .submit_with_audit(vec![garbage], vec![])
                .unwrap(),
        )
    })
    .expect("stored");
    drop(state);
    let (status, body) = world
        .entrance(
            &world.hospital_staff,
            HOSPITAL,
            json!({"id_type": "passport", "id_number": "F9000001"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["outcome"], "isolation_ward", "{body}");
    assert_eq!(body["tier"], "cannot_compute");
    assert_eq!(body["check_in_person"], true);
    let (status, body) = world
        .visit(&world.care_staff, CARE_HOME, "F9000001", "p-resident")
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["decision"]["outcome"], "refused", "{body}");
    assert_eq!(body["decision"]["check_in_person"], true);
    // Nobody else is affected.
    assert_eq!(world.lane("F9000002").await, ("outpatient".into(), vec![]));
    world.node.close().await;
}

#[tokio::test]
async fn a_module_cannot_write_a_record_kind_or_namespace_it_does_not_declare() {
    let world = world().await;
    let record =
        |module: &str, kind: &str, namespace: &str| ymt_node::record::Record::ModuleRecorded {
            module: module.into(),
            record_kind: kind.into(),
            namespace: namespace.into(),
            key: "k".into(),
            value: json!({}),
        };
    let author = ymt_node::record::Author::operator();
    for (module, kind, namespace) in [
        // The hospital writing the care homes' visits.
        (
            "hospital",
            "care_visit.visit_recorded",
            ymt_node::care_homes::META_CARE_VISITS,
        ),
        // A declared kind into another module's namespace.
        (
            "hospital",
            "hospital.consent_given",
            ymt_node::care_homes::META_CARE_VISITS,
        ),
        // A declared kind into the node's own principals.
        ("care-homes", "care_visit.roster_set", "principals"),
        // A module that is not part of the node.
        ("no-such-module", "x.y", "x"),
    ] {
        let result = world.node.state.apply(
            &author,
            world.node.now(),
            record(module, kind, namespace),
            "attempt",
        );
        assert!(result.is_err(), "{module} {kind} {namespace} was written");
    }
    assert!(
        world
            .node
            .state
            .store
            .meta_list(ymt_node::care_homes::META_CARE_VISITS)
            .unwrap()
            .is_empty()
    );
    assert!(
        world
            .node
            .state
            .store
            .meta_get("principals", "k")
            .unwrap()
            .is_none()
    );
    world.node.close().await;
}

/// A rule that reads every test for every test for every test: cubic, so it
/// exceeds the evaluation budget on a timeline near the per-person cap.
fn over_budget_rule() -> Value {
    let count = |list: &str, inner: Value| json!({"reduce": [{"var": list}, {"+": [{"var": "accumulator"}, inner]}, 0]});
    json!({
        "id": "XX-CUBIC-01", "color": "yellow", "over": "tests",
        "description": {"zh-CN": "测试", "en": "a rule too costly to decide"},
        "clears": {"zh-CN": "测试", "en": "never"}, "source": "a test",
        "logic": {"<": [count("facts.tests", count("data.facts.tests", count("data.data.facts.tests", json!(1)))), 0]},
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_rule_set_that_cannot_decide_is_refused_so_it_cannot_send_everyone_to_isolation()
{
    let world = world().await;
    let mut document: Value = serde_json::from_str(include_str!(
        "../../../ymt-node/services/hospital-entrance.json"
    ))
    .unwrap();
    document["version"] = json!("1.1.0");
    document["rules"]
        .as_array_mut()
        .unwrap()
        .push(over_budget_rule());
    let (status, body) = world
        .node
        .post_as(&world.admin, "/v1/services/hospital/rule-sets", document)
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("XX-CUBIC-01"),
        "{body}"
    );
    let (_, described) = world
        .node
        .get_as(&world.admin, "/v1/services/hospital/rule-set")
        .await;
    assert_eq!(described["rule_set"]["version"], "1.0.0");
    world.node.close().await;
}

#[tokio::test]
async fn a_resident_id_cannot_put_a_visits_check_in_into_another_authors_namespace() {
    let world = world().await;
    let visitor = world.person("V9200001", &[]).await;
    world
        .test(
            "n-1",
            &visitor,
            "pcr",
            "negative",
            world.node.now().unix_secs() - 3_600,
        )
        .await;
    let (status, body) = world
        .visit(&world.care_staff, CARE_HOME, "V9200001", "x:y")
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["decision"]["outcome"], "allowed", "{body}");
    let check_in = body["visit"]["check_in"].as_str().expect("a check-in");
    assert!(
        check_in.starts_with("care-home-1-door:visit-"),
        "{check_in}"
    );
    world.node.close().await;
}
