//! Services on the same platform (docs/services.md), end to end: golden
//! scenarios of the hospital rule set (every lane, its reasons, the timed
//! transitions) and of the care-visit rule set (every visit decision, a
//! profile within its bounds, the roster), a consent given, used and
//! revoked with its audit records, and what an attacker cannot do.

mod support;

use serde_json::{Value, json};
use support::{DAY_SECS, HOUR_SECS, T0_UNIX_SECS, TestNode, pcr_data, rfc3339_of_unix_secs};
use ymt_node::auth::Role;
use ymt_store::{AuditFilter, AuditOutcome};

const ONE_TIME_CODE: &str = "246810";
const REGION: &str = "440305";
const COMMUNITY: &str = "440305001001";
const HOSPITAL: &str = "hospital-1";
const OTHER_HOSPITAL: &str = "hospital-2";
const CARE_HOME: &str = "care-home-1";
const OTHER_CARE_HOME: &str = "care-home-2";

struct World {
    node: TestNode,
    admin: String,
    second_admin: String,
    authority: String,
    lab: String,
    hospital_staff: String,
    other_hospital_staff: String,
    care_staff: String,
    other_care_staff: String,
}

async fn world() -> World {
    let node = TestNode::start().await;
    node.enable_citizen_sign_in_with_one_time_code(ONE_TIME_CODE);
    let admin = node.add_principal("admin-1", Role::NationalAdmin, "nation");
    let second_admin = node.add_principal("admin-2", Role::NationalAdmin, "nation");
    let authority = node.add_principal("cdc-440305", Role::HealthAuthority, REGION);
    let lab = node.add_principal("lab-440305-01", Role::Lab, REGION);
    let hospital_staff = node.add_principal("hospital-1-door", Role::Venue, REGION);
    let other_hospital_staff = node.add_principal("hospital-2-door", Role::Venue, REGION);
    let care_staff = node.add_principal("care-home-1-door", Role::Venue, REGION);
    let other_care_staff = node.add_principal("care-home-2-door", Role::Venue, REGION);
    for (id, category, operator) in [
        (HOSPITAL, "hospital", "hospital-1-door"),
        (OTHER_HOSPITAL, "hospital", "hospital-2-door"),
        (CARE_HOME, "care_home", "care-home-1-door"),
        (OTHER_CARE_HOME, "care_home", "care-home-2-door"),
    ] {
        let venue = json!({"id": id, "name": format!("{id} 院"), "region": COMMUNITY,
                           "category": category, "indoor": true, "operators": [operator]});
        let (status, body) = node.post_as(&authority, "/v1/venues", venue).await;
        assert_eq!(status, 201, "{body}");
    }
    World {
        node,
        admin,
        second_admin,
        authority,
        lab,
        hospital_staff,
        other_hospital_staff,
        care_staff,
        other_care_staff,
    }
}

impl World {
    /// Registers a person by passport; their pid.
    async fn person(&self, passport: &str, guardian_of: &[&str]) -> String {
        let (status, body) = self
            .node
            .post_as(
                &self.authority,
                "/v1/persons",
                json!({"id_type": "passport", "id_number": passport, "display_name": "王小明",
                       "region": REGION, "guardian_of": guardian_of}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["pid"].as_str().expect("a pid").to_owned()
    }

    async fn cookie(&self, passport: &str) -> String {
        self.node
            .sign_in_citizen("passport", passport, ONE_TIME_CODE)
            .await
            .session_cookie()
            .expect("signed in")
    }

    async fn test(&self, id: &str, pid: &str, test: &str, result: &str, sampled_unix_secs: i64) {
        let mut data = pcr_data(sampled_unix_secs, sampled_unix_secs + HOUR_SECS / 2, result);
        data["test"] = json!(test);
        data["reported_at"] = json!(rfc3339_of_unix_secs(
            sampled_unix_secs.max(self.node.now().unix_secs() - 1)
        ));
        let submission = json!({"id": id, "subject": {"pid": pid}, "region": REGION,
                                "kind": "test_result", "data": data});
        let (status, body) = self.node.post_as(&self.lab, "/v1/events", submission).await;
        assert!(status == 200 || status == 201, "{body}");
    }

    async fn entrance(&self, key: &str, venue: &str, body: Value) -> (u16, Value) {
        self.node
            .post_as(key, &format!("/v1/hospitals/{venue}/entrance"), body)
            .await
    }

    async fn lane(&self, passport: &str) -> (String, Vec<String>) {
        let (status, body) = self
            .entrance(
                &self.hospital_staff,
                HOSPITAL,
                json!({"id_type": "passport", "id_number": passport}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        (
            body["outcome"].as_str().unwrap().to_owned(),
            rules_of(&body),
        )
    }

    async fn visit(
        &self,
        key: &str,
        venue: &str,
        visitor_passport: &str,
        resident: &str,
    ) -> (u16, Value) {
        self.node
            .post_as(
                key,
                &format!("/v1/care-homes/{venue}/visits"),
                json!({"visitor": {"id_type": "passport", "id_number": visitor_passport},
                       "resident": resident}),
            )
            .await
    }

    async fn profile(&self, key: &str, venue: &str, version: &str, hours: i64) -> (u16, Value) {
        let profile = json!({
            "kind": "parameter-profile", "id": format!("{venue}-policy"), "region": COMMUNITY,
            "ruleSet": "care-visit", "version": version, "validFrom": "2022-06-28T00:00:00Z",
            "parameters": {"visitorPcrValidHours": hours}, "reason": "visitor policy",
        });
        self.node
            .post_as(
                key,
                &format!("/v1/services/care-visit/venues/{venue}/profile"),
                profile,
            )
            .await
    }
}

/// Audit records of one action and outcome (reads are audited in batches:
/// written by the time the node has restarted).
fn audited(node: &TestNode, action: &str, outcome: AuditOutcome) -> usize {
    let filter = AuditFilter {
        action: Some(action.into()),
        outcome: Some(outcome),
        ..AuditFilter::default()
    };
    node.state
        .store
        .audit_list(&filter, 1_000)
        .expect("the audit log reads")
        .len()
}

fn rules_of(body: &Value) -> Vec<String> {
    body["reasons"]
        .as_array()
        .expect("reasons")
        .iter()
        .map(|reason| reason["rule"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn hospital_lanes_golden_scenario_every_lane_with_its_reasons_and_timed_transitions() {
    let world = world().await;
    let now = T0_UNIX_SECS;
    world.person("G1000001", &[]).await;
    let yellow = world.person("Y1000001", &[]).await;
    let red = world.person("R1000001", &[]).await;
    world.person("S1000001", &[]).await;
    world
        .test("antigen-1", &yellow, "antigen", "positive", now - HOUR_SECS)
        .await;
    world
        .test("pcr-1", &red, "pcr", "positive", now - 2 * HOUR_SECS)
        .await;

    // Every lane, and each names its reasons; nobody is turned away.
    assert_eq!(world.lane("G1000001").await, ("outpatient".into(), vec![]));
    assert_eq!(
        world.lane("Y1000001").await,
        (
            "fever_clinic".into(),
            vec!["CN-ANTIGEN-01".into(), "HOSP-FEVER-ANTIGEN".into()]
        )
    );
    assert_eq!(
        world.lane("R1000001").await,
        (
            "isolation_ward".into(),
            vec!["CN-CASE-01".into(), "HOSP-ISOLATION-PCR".into()]
        )
    );
    // Symptoms reported at the door: the fever clinic, now and at the next
    // entrance within recentSymptomsDays (3).
    let (status, body) = world
        .entrance(
            &world.hospital_staff,
            HOSPITAL,
            json!({"id_type": "passport", "id_number": "S1000001", "symptoms": true}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["outcome"], "fever_clinic", "{body}");
    assert_eq!(rules_of(&body), ["HOSP-SYMPTOMS"]);
    assert_eq!(world.lane("S1000001").await.0, "fever_clinic");

    // The same code identifies the person at any hospital: no card, no ID number.
    let (status, code) = world
        .node
        .get_as(&world.admin, &format!("/v1/persons/{red}/code"))
        .await;
    assert_eq!(status, 200, "{code}");
    for (key, venue) in [
        (&world.hospital_staff, HOSPITAL),
        (&world.other_hospital_staff, OTHER_HOSPITAL),
    ] {
        let (status, body) = world
            .entrance(key, venue, json!({"code": code["token"]}))
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["pid"], json!(red));
        assert_eq!(body["outcome"], "isolation_ward");
    }

    // Timed transitions. A negative PCR clears the national yellow; the
    // hospital keeps the antigen result for 72 h.
    world.test("pcr-2", &yellow, "pcr", "negative", now).await;
    assert_eq!(
        world.lane("Y1000001").await,
        ("fever_clinic".into(), vec!["HOSP-FEVER-ANTIGEN".into()])
    );
    world.node.advance_clock_hours(70).await;
    assert_eq!(world.lane("Y1000001").await.0, "fever_clinic");
    // 72 h after the antigen sample (T0 - 1 h): the ordinary outpatients.
    world.node.advance_clock_hours(1).await;
    assert_eq!(world.lane("Y1000001").await, ("outpatient".into(), vec![]));
    // Symptoms reported at T0: the fever clinic for 3 days, then not.
    assert_eq!(world.lane("S1000001").await.0, "fever_clinic");
    world.node.advance_clock_hours(1).await;
    assert_eq!(world.lane("S1000001").await, ("outpatient".into(), vec![]));
    // The case cleared nationally by two negatives stays in the isolation
    // ward until 14 days after the positive sample.
    let t = world.node.now().unix_secs();
    world
        .test("pcr-3", &red, "pcr", "negative", t - 30 * HOUR_SECS)
        .await;
    world
        .test("pcr-4", &red, "pcr", "negative", t - HOUR_SECS)
        .await;
    assert_eq!(
        world.lane("R1000001").await,
        ("isolation_ward".into(), vec!["HOSP-ISOLATION-PCR".into()])
    );
    world
        .node
        .move_clock_to(support::instant_of_unix_secs(
            now - 2 * HOUR_SECS + 14 * DAY_SECS,
        ))
        .await;
    assert_eq!(world.lane("R1000001").await, ("outpatient".into(), vec![]));
    world.node.close().await;
}

#[tokio::test]
async fn care_visits_golden_scenario_every_decision_the_profile_and_the_roster() {
    let world = world().await;
    let now = T0_UNIX_SECS;
    let resident = world.person("E2000001", &[]).await;
    let tested = world.person("V2000001", &[]).await;
    world.person("V2000002", &[]).await;
    let contact = world.person("V2000003", &[]).await;
    world
        .test("v-pcr-1", &tested, "pcr", "negative", now - 10 * HOUR_SECS)
        .await;
    world
        .test("v-pcr-3", &contact, "pcr", "negative", now - 10 * HOUR_SECS)
        .await;
    let designation = json!({"id": "cc-1", "subject": {"pid": contact}, "region": REGION,
        "kind": "contact_designation", "data": support::close_contact_data(now)});
    let (status, body) = world
        .node
        .post_as(&world.authority, "/v1/events", designation)
        .await;
    assert!(status == 200 || status == 201, "{body}");

    // Allowed with a negative PCR within 48 h; the visit is a check-in.
    let (status, body) = world
        .visit(&world.care_staff, CARE_HOME, "V2000001", &resident)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["decision"]["outcome"], "allowed", "{body}");
    let check_in = body["visit"]["check_in"]
        .as_str()
        .expect("a check-in")
        .to_owned();
    let (status, timeline) = world
        .node
        .get_as(&world.authority, &format!("/v1/persons/{tested}/timeline"))
        .await;
    assert_eq!(status, 200, "{timeline}");
    assert!(
        timeline.to_string().contains(&check_in) && timeline.to_string().contains(CARE_HOME),
        "the visit is a check-in at the care home: {timeline}"
    );
    // Refused without a recent negative PCR; refused with a red code.
    let (_, body) = world
        .visit(&world.care_staff, CARE_HOME, "V2000002", &resident)
        .await;
    assert_eq!(body["decision"]["outcome"], "refused", "{body}");
    assert_eq!(rules_of(&body["decision"]), ["CARE-PCR-REQUIRED"]);
    assert!(
        body["visit"]["check_in"].is_null(),
        "a refused visit is no check-in"
    );
    let (_, body) = world
        .visit(&world.care_staff, CARE_HOME, "V2000003", &resident)
        .await;
    assert_eq!(body["decision"]["outcome"], "refused", "{body}");
    assert_eq!(rules_of(&body["decision"]), ["CN-CLOSE-01"]);

    // Timed: 48 h after the sample the test no longer counts.
    world.node.advance_clock_hours(37).await;
    let (_, body) = world
        .visit(&world.care_staff, CARE_HOME, "V2000001", &resident)
        .await;
    assert_eq!(body["decision"]["outcome"], "allowed", "47 h: {body}");
    world.node.advance_clock_hours(1).await;
    let (_, body) = world
        .visit(&world.care_staff, CARE_HOME, "V2000001", &resident)
        .await;
    assert_eq!(body["decision"]["outcome"], "refused", "48 h: {body}");
    // The home's policy, within the bounds (72 h at most), lets it count longer.
    let (status, body) = world
        .profile(&world.care_staff, CARE_HOME, "1.0.0", 72)
        .await;
    assert_eq!(status, 201, "{body}");
    let (_, body) = world
        .visit(&world.care_staff, CARE_HOME, "V2000001", &resident)
        .await;
    assert_eq!(body["decision"]["outcome"], "allowed", "under 72 h: {body}");
    // Another home keeps the national default.
    let (_, body) = world
        .visit(
            &world.other_care_staff,
            OTHER_CARE_HOME,
            "V2000001",
            &resident,
        )
        .await;
    assert_eq!(body["decision"]["outcome"], "refused", "{body}");

    // The daily roster check under the home's policy.
    let (status, body) = world
        .node
        .post_as(
            &world.care_staff,
            &format!("/v1/care-homes/{CARE_HOME}/roster"),
            json!({"staff": [tested, contact]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = world
        .node
        .get_as(
            &world.care_staff,
            &format!("/v1/care-homes/{CARE_HOME}/roster-check"),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let may_work: Vec<(String, bool)> = body["staff"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| {
            (
                entry["pid"].as_str().unwrap().to_owned(),
                entry["may_work"].as_bool().unwrap(),
            )
        })
        .collect();
    let mut expect = vec![(tested.clone(), true), (contact.clone(), false)];
    expect.sort();
    assert_eq!(may_work, expect);
    world.node.close().await;
}

#[tokio::test]
async fn a_guardian_sees_the_residents_visits_and_nobody_else_does() {
    let world = world().await;
    let resident = world.person("E3000001", &[]).await;
    world.person("X3000001", &[]).await;
    let second = world
        .node
        .add_principal("cdc-440305-b", Role::HealthAuthority, REGION);
    let guardian_pid = world.person("G3000001", &[&resident]).await;
    let (status, body) = world
        .node
        .post_as(
            &second,
            "/v1/guardianships:confirm",
            json!({"guardian": guardian_pid, "ward": resident}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    world.person("V3000001", &[]).await;
    let (status, _) = world
        .visit(&world.care_staff, CARE_HOME, "V3000001", &resident)
        .await;
    assert_eq!(status, 200);
    let path = format!("/v1/persons/{resident}/visits");
    let guardian = world.cookie("G3000001").await;
    let reply = world
        .node
        .send_with_cookie("GET", &path, &guardian, None)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let visits = reply.json()["visits"].clone();
    assert_eq!(visits.as_array().unwrap().len(), 1, "{visits}");
    assert_eq!(visits[0]["outcome"], "refused");
    let stranger = world.cookie("X3000001").await;
    let reply = world
        .node
        .send_with_cookie("GET", &path, &stranger, None)
        .await;
    assert_eq!(reply.status, 403, "{}", reply.text());
    // Nor does the care home read them with its key.
    let reply = world.node.get(&path, Some(&world.care_staff)).await;
    assert_eq!(reply.status, 403, "{}", reply.text());
    world.node.close().await;
}

#[tokio::test]
async fn a_consent_given_used_and_revoked_with_its_audit_records() {
    let world = world().await;
    let pid = world.person("C4000001", &[]).await;
    world
        .test("c-pcr-1", &pid, "pcr", "negative", T0_UNIX_SECS - HOUR_SECS)
        .await;
    let results = format!("/v1/hospitals/{HOSPITAL}/persons/{pid}/test-results");
    let cookie = world.cookie("C4000001").await;
    let consents = format!("/v1/persons/{pid}/consents");

    let reply = world
        .node
        .send_with_cookie(
            "POST",
            &consents,
            &cookie,
            Some(&json!({"venue": HOSPITAL})),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    let (status, body) = world.node.get_as(&world.hospital_staff, &results).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["tests"][0]["id"], "lab-440305-01:c-pcr-1", "{body}");
    let reply = world
        .node
        .send_with_cookie("GET", &consents, &cookie, None)
        .await;
    assert_eq!(reply.json()["consents"][0]["venue"], HOSPITAL);
    assert!(reply.json()["consents"][0]["revoked_at"].is_null());

    let revoke = format!("{consents}/{HOSPITAL}/revoke");
    let reply = world
        .node
        .send_with_cookie("POST", &revoke, &cookie, None)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let (status, body) = world.node.get_as(&world.hospital_staff, &results).await;
    assert_eq!(status, 403, "{body}");
    let reply = world
        .node
        .send_with_cookie("GET", &consents, &cookie, None)
        .await;
    assert!(
        reply.json()["consents"][0]["revoked_at"].is_string(),
        "{}",
        reply.text()
    );

    // A consent and its revocation survive a restart.
    let node = world.node.restart().await;
    let (status, body) = node.get_as(&world.hospital_staff, &results).await;
    assert_eq!(status, 403, "{body}");
    // The audit log holds the consent, its use, its revocation and the refusals.
    assert_eq!(
        audited(&node, "hospital.consent_given", AuditOutcome::Allowed),
        1
    );
    assert_eq!(
        audited(&node, "hospital.consent_revoked", AuditOutcome::Allowed),
        1
    );
    assert_eq!(
        audited(&node, "hospital.results.read", AuditOutcome::Allowed),
        1
    );
    assert_eq!(
        audited(&node, "hospital.results.read", AuditOutcome::Denied),
        2
    );
    node.close().await;
}

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
        "../../ymt-node/services/hospital-entrance.json"
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
        serde_json::from_str(include_str!("../../ymt-node/services/care-visit.json")).unwrap();
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
        let result = world
            .node
            .state
            .apply(&author, record(module, kind, namespace), "attempt");
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

#[tokio::test]
async fn tracing_covers_care_home_visits_like_any_venue() {
    let world = world().await;
    let resident = world.person("E9100001", &[]).await;
    let case = world.person("V9100001", &[]).await;
    let contact = world.person("V9100002", &[]).await;
    for (id, pid) in [("t-case", &case), ("t-contact", &contact)] {
        world
            .test(id, pid, "pcr", "negative", T0_UNIX_SECS - 5 * HOUR_SECS)
            .await;
    }
    // Both visit the resident at the same time: two check-ins at the home.
    for passport in ["V9100001", "V9100002"] {
        let (status, body) = world
            .visit(&world.care_staff, CARE_HOME, passport, &resident)
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["decision"]["outcome"], "allowed", "{body}");
    }
    // One of them tests positive the next hour: the other, who shared the
    // home with them, is a close contact the moment the result is stored.
    world.node.advance_clock_hours(1).await;
    world
        .test(
            "t-positive",
            &case,
            "pcr",
            "positive",
            T0_UNIX_SECS + HOUR_SECS / 2,
        )
        .await;
    let (status, body) = world
        .node
        .get_as(&world.authority, &format!("/v1/persons/{contact}/status"))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["color"], "red", "{body}");
    assert!(body.to_string().contains("CN-CLOSE-01"), "{body}");
    // And the hospital receives them in the isolation ward.
    assert_eq!(world.lane("V9100002").await.0, "isolation_ward");
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
        "../../ymt-node/services/hospital-entrance.json"
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
