//! Golden scenarios of the services, end to end.

use serde_json::json;
use ymt_node::auth::Role;
use ymt_store::AuditOutcome;

use crate::support::{DAY_SECS, HOUR_SECS, T0_UNIX_SECS};
use crate::world::*;

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
        .move_clock_to(crate::support::instant_of_unix_secs(
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
        "kind": "contact_designation", "data": crate::support::close_contact_data(now)});
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
