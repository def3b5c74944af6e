//! Issue 12, items 2 and 3: no principal widens its jurisdiction by writing,
//! and no principal bypasses the two-person rule. Each test is named after
//! what it prevents.

mod support;

use serde_json::{Value, json};
use support::{DAY_SECS, HOUR_SECS, T0_UNIX_SECS, TestNode, event_of_kind, rfc3339_of_unix_secs};
use ymt_node::auth::Role;

const WARD_PASSPORT: &str = "E44030501";
const GUARDIAN_PASSPORT: &str = "E31011501";
const ONE_TIME_CODE: &str = "246810";

/// Registers a person by `registrar`; the status and body of the answer.
async fn register(
    node: &TestNode,
    registrar: &str,
    passport: &str,
    region: &str,
    guardian_of: Vec<String>,
) -> (u16, Value) {
    node.post_as(
        registrar,
        "/v1/persons",
        json!({"id_type": "passport", "id_number": passport, "display_name": "王小明",
               "region": region, "guardian_of": guardian_of}),
    )
    .await
}

async fn registered_pid(node: &TestNode, registrar: &str, passport: &str, region: &str) -> String {
    let (status, body) = register(node, registrar, passport, region, vec![]).await;
    assert_eq!(status, 200, "{body}");
    body["pid"].as_str().expect("a pid").to_owned()
}

fn override_red(id: &str, pid: &str, region: &str) -> Value {
    json!({"id": id, "subject": {"pid": pid}, "region": region, "kind": "override",
           "data": {"color": "red", "reason": "ordered",
                    "from": rfc3339_of_unix_secs(T0_UNIX_SECS),
                    "until": rfc3339_of_unix_secs(T0_UNIX_SECS + DAY_SECS)}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writing_an_event_does_not_grant_reading_a_person() {
    let node = TestNode::start().await;
    let shenzhen = node.add_principal("cdc-440305", Role::HealthAuthority, "440305");
    let shanghai = node.add_principal("cdc-310115", Role::HealthAuthority, "310115");
    let pid = registered_pid(&node, &shenzhen, WARD_PASSPORT, "440305").await;
    // Shanghai may still record what it did (a vaccination of a traveller)…
    let vaccination = event_of_kind("vaccination", "vax-1", &pid, "310115", T0_UNIX_SECS);
    let (status, body) = node.post_as(&shanghai, "/v1/events", vaccination).await;
    assert_eq!(status, 200, "{body}");
    // …but that write does not make the person one of its own.
    let (status, body) = node
        .get_as(&shanghai, &format!("/v1/persons/{pid}/timeline"))
        .await;
    assert_eq!(status, 404, "the timeline stays hidden: {body}");
    let (status, body) = node
        .get_as(&shanghai, &format!("/v1/persons/{pid}/code"))
        .await;
    assert_eq!(status, 403, "the code stays hidden: {body}");
    // The person's own region still reads both.
    let (status, _) = node
        .get_as(&shenzhen, &format!("/v1/persons/{pid}/timeline"))
        .await;
    assert_eq!(status, 200);
    node.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_authority_cannot_override_a_person_without_presence_in_its_region_alone() {
    let node = TestNode::start().await;
    let shenzhen = node.add_principal("cdc-440305", Role::HealthAuthority, "440305");
    let shanghai = node.add_principal("cdc-310115", Role::HealthAuthority, "310115");
    let admin = node.add_principal("admin-1", Role::NationalAdmin, "nation");
    let verifier = node.add_principal("verifier-440305", Role::VerifierDevice, "440305");
    let pid = registered_pid(&node, &shenzhen, WARD_PASSPORT, "440305").await;
    let vaccination = event_of_kind("vaccination", "vax-1", &pid, "310115", T0_UNIX_SECS);
    assert_eq!(
        node.post_as(&shanghai, "/v1/events", vaccination).await.0,
        200
    );
    // A direct override event is refused…
    let (status, body) = node
        .post_as(
            &shanghai,
            "/v1/events",
            override_red("ov-1", &pid, "310115"),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(node.color(&verifier, &pid).await, "green");
    // …and a bulk override waits for a second authority.
    let bulk = json!({"id": "bulk-1", "pids": [pid], "region": "310115", "color": "red",
                      "reason": "ordered", "from": rfc3339_of_unix_secs(T0_UNIX_SECS),
                      "until": rfc3339_of_unix_secs(T0_UNIX_SECS + DAY_SECS)});
    let (status, body) = node.post_as(&shanghai, "/v1/overrides:bulk", bulk).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(node.color(&verifier, &pid).await, "green");
    let (status, body) = node
        .post_as(
            &admin,
            "/v1/pending/bulk_override.bulk-1:approve",
            json!(null),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(node.color(&verifier, &pid).await, "red");
    // An authority of the person's own region overrides at once.
    let (status, body) = node
        .post_as(
            &shenzhen,
            "/v1/events",
            override_red("ov-2", &pid, "440305"),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    node.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_authority_cannot_re_register_a_person_of_another_region() {
    let node = TestNode::start().await;
    let shenzhen = node.add_principal("cdc-440305", Role::HealthAuthority, "440305");
    let shanghai = node.add_principal("cdc-310115", Role::HealthAuthority, "310115");
    let pid = registered_pid(&node, &shenzhen, WARD_PASSPORT, "440305").await;
    let (status, body) = register(&node, &shanghai, WARD_PASSPORT, "310115", vec![]).await;
    assert_eq!(status, 403, "{body}");
    let record = node
        .state
        .person_record(&ymt_core::PersonId::parse(&pid).unwrap())
        .unwrap()
        .expect("still registered");
    assert_eq!(record.region.as_str(), "440305", "still Shenzhen's");
    // Its own region may update the registration.
    let (status, body) = register(&node, &shenzhen, WARD_PASSPORT, "440305", vec![]).await;
    assert_eq!(status, 200, "{body}");
    node.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_authority_cannot_make_anyone_the_guardian_of_a_person_outside_its_jurisdiction() {
    let node = TestNode::start().await;
    node.enable_citizen_sign_in_with_one_time_code(ONE_TIME_CODE);
    let shenzhen = node.add_principal("cdc-440305", Role::HealthAuthority, "440305");
    let shanghai = node.add_principal("cdc-310115", Role::HealthAuthority, "310115");
    let ward = registered_pid(&node, &shenzhen, WARD_PASSPORT, "440305").await;
    let (status, body) = register(
        &node,
        &shanghai,
        GUARDIAN_PASSPORT,
        "310115",
        vec![ward.clone()],
    )
    .await;
    assert_eq!(status, 403, "{body}");
    let reply = node
        .sign_in_citizen("passport", GUARDIAN_PASSPORT, ONE_TIME_CODE)
        .await;
    if let Some(cookie) = reply.session_cookie() {
        let reply = node
            .send_with_cookie("GET", &format!("/v1/persons/{ward}/code"), &cookie, None)
            .await;
        assert_eq!(reply.status, 403, "no code of the ward");
    }
    node.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guardian_cannot_read_a_wards_code_before_the_guardianship_is_confirmed() {
    let node = TestNode::start().await;
    node.enable_citizen_sign_in_with_one_time_code(ONE_TIME_CODE);
    let registrar = node.add_principal("cdc-440305", Role::HealthAuthority, "440305");
    let second = node.add_principal("cdc-440305-b", Role::HealthAuthority, "440305");
    let ward = registered_pid(&node, &registrar, WARD_PASSPORT, "440305").await;
    let (status, body) = register(
        &node,
        &registrar,
        GUARDIAN_PASSPORT,
        "440305",
        vec![ward.clone()],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let guardian = body["pid"].as_str().unwrap().to_owned();
    let cookie = node
        .sign_in_citizen("passport", GUARDIAN_PASSPORT, ONE_TIME_CODE)
        .await
        .session_cookie()
        .expect("signed in");
    let code_path = format!("/v1/persons/{ward}/code");
    let reply = node
        .send_with_cookie("GET", &code_path, &cookie, None)
        .await;
    assert_eq!(reply.status, 403, "pending guardianship: {}", reply.text());
    // The registrar cannot confirm what it declared itself.
    let confirmation = json!({"guardian": guardian, "ward": ward});
    let (status, body) = node
        .post_as(
            &registrar,
            "/v1/guardianships:confirm",
            confirmation.clone(),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    // A second authority of the ward's region confirms it.
    let (status, body) = node
        .post_as(&second, "/v1/guardianships:confirm", confirmation)
        .await;
    assert_eq!(status, 200, "{body}");
    let reply = node
        .send_with_cookie("GET", &code_path, &cookie, None)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    node.close().await;
}

async fn register_venue(node: &TestNode, authority: &str, body: Value) {
    let (status, reply) = node.post_as(authority, "/v1/venues", body).await;
    assert_eq!(status, 201, "{reply}");
}

fn check_in(id: &str, pid: &str, venue: &str, region: &str) -> Value {
    json!({"id": id, "subject": {"pid": pid}, "region": region, "kind": "check_in",
           "data": {"venue": venue,
                    "entered_at": rfc3339_of_unix_secs(T0_UNIX_SECS - 2 * HOUR_SECS),
                    "left_at": rfc3339_of_unix_secs(T0_UNIX_SECS - HOUR_SECS)}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_in_at_a_venue_outside_the_submitters_jurisdiction_is_refused() {
    let node = TestNode::start().await;
    let nanshan = node.add_principal("cdc-440305", Role::HealthAuthority, "440305");
    let baoan = node.add_principal("cdc-440306", Role::HealthAuthority, "440306");
    let scanner = node.add_principal("scanner-440305", Role::Venue, "440305");
    register_venue(
        &node,
        &baoan,
        json!({"id": "v-baoan", "name": "a market", "region": "440306001001", "category": "market", "indoor": true}),
    )
    .await;
    register_venue(
        &node,
        &nanshan,
        json!({"id": "v-nanshan", "name": "a mall", "region": "440305001001", "category": "retail",
               "indoor": true, "operators": ["scanner-440305"]}),
    )
    .await;
    let before = node.last_seq();
    for (who, key) in [
        ("the venue principal", &scanner),
        ("the authority", &nanshan),
    ] {
        let (status, body) = node
            .post_as(
                key,
                "/v1/events",
                check_in("ci-1", "p-1", "v-baoan", "440305"),
            )
            .await;
        assert_eq!(status, 403, "{who}: {body}");
    }
    assert_eq!(node.last_seq(), before, "nothing stored");
    let (status, body) = node
        .post_as(
            &scanner,
            "/v1/events",
            check_in("ci-2", "p-1", "v-nanshan", "440305"),
        )
        .await;
    assert_eq!(status, 200, "its own venue: {body}");
    node.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_venue_principal_cannot_check_in_at_a_venue_it_does_not_operate() {
    let node = TestNode::start().await;
    let nanshan = node.add_principal("cdc-440305", Role::HealthAuthority, "440305");
    let scanner = node.add_principal("scanner-440305", Role::Venue, "440305");
    register_venue(
        &node,
        &nanshan,
        json!({"id": "v-other", "name": "a gym", "region": "440305001002", "category": "gym", "indoor": true}),
    )
    .await;
    let (status, body) = node
        .post_as(
            &scanner,
            "/v1/events",
            check_in("ci-1", "p-1", "v-other", "440305"),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    node.close().await;
}

fn positive(id: &str, pid: &str, region: &str, lab_field: &str) -> Value {
    json!({"id": id, "subject": {"pid": pid}, "region": region, "kind": "test_result",
           "data": {"test": "pcr", "result": "positive",
                    "sampled_at": rfc3339_of_unix_secs(T0_UNIX_SECS - DAY_SECS),
                    "reported_at": rfc3339_of_unix_secs(T0_UNIX_SECS - HOUR_SECS),
                    "lab": lab_field}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lab_cannot_claim_another_labs_event_id() {
    let node = TestNode::start().await;
    let shenzhen_lab = node.add_principal("lab-440305", Role::Lab, "440305");
    let shanghai_lab = node.add_principal("lab-310115", Role::Lab, "310115");
    let (status, body) = node
        .post_as(
            &shenzhen_lab,
            "/v1/events",
            positive("lab-310115:S0001", "p-2", "440305", "lab-310115"),
        )
        .await;
    assert_ne!(status, 200, "another lab's namespace: {body}");
    let (status, body) = node
        .post_as(
            &shanghai_lab,
            "/v1/events",
            positive("lab-310115:S0001", "p-1", "310115", "lab-310115"),
        )
        .await;
    assert_eq!(status, 200, "the real lab's positive is stored: {body}");
    assert_eq!(body["results"][0]["status"], "stored");
    assert_eq!(body["results"][0]["id"], "lab-310115:S0001");
    // An id without a namespace is stored in its author's; a retry is a
    // duplicate, and another lab using the same local id conflicts with
    // nobody.
    for (key, expect_id) in [
        (&shanghai_lab, "lab-310115:S0002"),
        (&shenzhen_lab, "lab-440305:S0002"),
    ] {
        let region = if key == &shanghai_lab {
            "310115"
        } else {
            "440305"
        };
        for expect_status in ["stored", "duplicate"] {
            let (status, body) = node
                .post_as(key, "/v1/events", positive("S0002", "p-3", region, "x"))
                .await;
            assert_eq!(status, 200, "{body}");
            assert_eq!(body["results"][0]["id"], expect_id);
            assert_eq!(body["results"][0]["status"], expect_status);
        }
    }
    node.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lab_cannot_sign_its_result_with_another_labs_name() {
    let node = TestNode::start().await;
    let shenzhen_lab = node.add_principal("lab-440305", Role::Lab, "440305");
    let (status, body) = node
        .post_as(
            &shenzhen_lab,
            "/v1/events",
            positive("S0009", "p-1", "440305", "lab-310115"),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let records = node
        .state
        .person_records(&ymt_core::PersonId::parse("p-1").unwrap())
        .unwrap();
    let ymt_core::EventBody::TestResult(test) = &records[0].event.body else {
        panic!("a test result");
    };
    assert_eq!(test.lab, "lab-440305", "the lab is the author");
    node.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_national_admin_cannot_create_another_national_admin_alone() {
    let node = TestNode::start().await;
    let admin = node.add_principal("admin-1", Role::NationalAdmin, "nation");
    let second = node.add_principal("admin-2", Role::NationalAdmin, "nation");
    for (n, role) in ["national_admin", "auditor"].into_iter().enumerate() {
        let id = format!("puppet-{n}");
        let (status, body) = node
            .post_as(
                &admin,
                "/v1/admin/principals",
                json!({"id": id, "role": role, "jurisdiction": "nation", "display_name": "puppet"}),
            )
            .await;
        assert_eq!(status, 202, "{role}: {body}");
        let key = body["api_key"]
            .as_str()
            .expect("the key, shown once")
            .to_owned();
        let (status, _) = node.get_as(&key, "/v1/audit?limit=1").await;
        assert_eq!(status, 401, "{role}: not a principal before approval");
        let (status, body) = node
            .post_as(
                &admin,
                &format!("/v1/pending/principal.{id}:approve"),
                json!(null),
            )
            .await;
        assert_eq!(status, 403, "{role}: not by its proposer: {body}");
        let (status, body) = node
            .post_as(
                &second,
                &format!("/v1/pending/principal.{id}:approve"),
                json!(null),
            )
            .await;
        assert_eq!(status, 200, "{role}: {body}");
        let (status, _) = node.get_as(&key, "/v1/audit?limit=1").await;
        assert_eq!(status, 200, "{role}: a principal once approved");
    }
    node.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_principal_created_by_the_proposer_cannot_approve_its_action() {
    let node = TestNode::start().await;
    let admin = node.add_principal("admin-1", Role::NationalAdmin, "nation");
    let second = node.add_principal("admin-2", Role::NationalAdmin, "nation");
    // The puppet is created by admin-1 (with a second admin's approval,
    // as every national admin now is): admin-1 holds its key.
    let (status, body) = node
        .post_as(
            &admin,
            "/v1/admin/principals",
            json!({"id": "puppet-admin", "role": "national_admin", "jurisdiction": "nation", "display_name": "puppet"}),
        )
        .await;
    assert!(status == 201 || status == 202, "{body}");
    let puppet = body["api_key"].as_str().unwrap().to_owned();
    if status == 202 {
        let (status, body) = node
            .post_as(
                &second,
                "/v1/pending/principal.puppet-admin:approve",
                json!(null),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let area = json!({"id": "area-1", "region": "440305", "level": "high",
                      "from": rfc3339_of_unix_secs(T0_UNIX_SECS - DAY_SECS),
                      "until": rfc3339_of_unix_secs(T0_UNIX_SECS + DAY_SECS), "reason": "cluster"});
    let (status, body) = node.post_as(&admin, "/v1/risk-areas", area).await;
    assert_eq!(status, 202, "{body}");
    let (status, body) = node
        .post_as(&puppet, "/v1/pending/risk_area.area-1:approve", json!(null))
        .await;
    assert_eq!(status, 403, "the proposer's own principal: {body}");
    let (status, body) = node
        .post_as(&second, "/v1/pending/risk_area.area-1:approve", json!(null))
        .await;
    assert_eq!(status, 200, "{body}");
    node.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_national_admin_cannot_publish_a_rule_set_alone() {
    let node = TestNode::start().await;
    let admin = node.add_principal("admin-1", Role::NationalAdmin, "nation");
    let second = node.add_principal("admin-2", Role::NationalAdmin, "nation");
    let mut rule_set: Value =
        serde_json::from_str(include_str!("../../ymt-rules/rulesets/cn-national.json")).unwrap();
    rule_set["version"] = json!("1.0.1");
    rule_set["rules"].as_array_mut().unwrap().retain(|rule| {
        !matches!(
            rule["id"].as_str(),
            Some("CN-COMPANION-01" | "CN-ANTIGEN-01")
        )
    });
    let (status, body) = node.post_as(&admin, "/v1/rule-sets", rule_set).await;
    assert_eq!(status, 202, "held for a second admin: {body}");
    assert_eq!(
        node.state.rules.read().national.version().to_string(),
        "1.0.0",
        "not in force"
    );
    let id = body["pending"]["id"].as_str().unwrap().to_owned();
    let (status, body) = node
        .post_as(&second, &format!("/v1/pending/{id}:approve"), json!(null))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        node.state.rules.read().national.version().to_string(),
        "1.0.1"
    );
    node.close().await;
}

/// Issue 13 item 17: an ID number resolved to its pseudonym is what links a
/// code (which shows the pid) back to a person. Labs submit results by the
/// identity document itself (`subject: {id_type, id_number}`), so their flow
/// never needs the pid: resolving is for authorities, inside their
/// jurisdiction, audited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lab_cannot_resolve_an_id_number_to_a_pseudonym() {
    let node = TestNode::start().await;
    let authority = node.add_principal("cdc-440305", Role::HealthAuthority, "440305");
    let lab = node.add_principal("lab-440305-01", Role::Lab, "440305");
    registered_pid(&node, &authority, WARD_PASSPORT, "440305").await;
    let document = json!({"id_type": "passport", "id_number": WARD_PASSPORT});
    let (status, body) = node.post_as(&lab, "/v1/persons:resolve", document).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        node.denied_records()
            .iter()
            .any(|record| record.principal == "lab-440305-01"),
        "the refusal is audited"
    );
    // The lab's own flow still works: a result submitted by the document.
    let result = json!({"id": "t-1", "subject": {"id_type": "passport", "id_number": WARD_PASSPORT},
        "region": "440305", "kind": "test_result",
        "data": support::pcr_data(T0_UNIX_SECS - HOUR_SECS, T0_UNIX_SECS - 60, "negative")});
    let (status, body) = node.post_as(&lab, "/v1/events", result).await;
    assert_eq!(status, 200, "{body}");
    node.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_authority_cannot_resolve_the_id_number_of_a_person_outside_its_jurisdiction() {
    let node = TestNode::start().await;
    let shenzhen = node.add_principal("cdc-440305", Role::HealthAuthority, "440305");
    let shanghai = node.add_principal("cdc-310115", Role::HealthAuthority, "310115");
    let pid = registered_pid(&node, &shenzhen, WARD_PASSPORT, "440305").await;
    let document = json!({"id_type": "passport", "id_number": WARD_PASSPORT});
    let (status, body) = node
        .post_as(&shanghai, "/v1/persons:resolve", document.clone())
        .await;
    assert_eq!(status, 404, "{body}");
    assert!(
        node.denied_records()
            .iter()
            .any(|record| record.principal == "cdc-310115" && record.action == "person.resolve"),
        "the refusal is audited"
    );
    let (status, body) = node
        .post_as(&shenzhen, "/v1/persons:resolve", document)
        .await;
    assert_eq!((status, body["pid"].as_str()), (200, Some(pid.as_str())));
    node.close().await;
}
