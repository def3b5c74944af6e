//! Signed codes, the trust list, token verification, citizen sessions and
//! appeals, through HTTP against an in-process node.

mod support;

use serde_json::{Value, json};
use support::{HOUR_SECS, TestNode, at_secs};
use ymt_node::auth::Role;

async fn register(
    node: &TestNode,
    admin: &str,
    number: &str,
    name: &str,
    region: &str,
    guardian_of: Vec<String>,
) -> String {
    let (status, body) = node
        .post_as(
            admin,
            "/v1/persons",
            json!({"id_type": "passport", "id_number": number, "display_name": name, "region": region, "guardian_of": guardian_of}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["pid"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codes_are_cached_verifiable_and_expire() {
    let node = TestNode::start().await;
    let admin = node.add_principal("admin", Role::NationalAdmin, "nation");
    let other_city = node.add_principal("cdc-440106", Role::HealthAuthority, "440106");
    let pid = register(&node, &admin, "E20000001", "李四", "440305", vec![]).await;
    let code_path = format!("/v1/persons/{pid}/code");

    let (status, first) = node.get_as(&admin, &code_path).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["color"], "green");
    assert_eq!(first["masked_name"], "李*");
    assert!(first["token"].as_str().unwrap().starts_with("YMT1:"));
    assert!(first["svg"].as_str().unwrap().starts_with("<svg"));
    node.advance_clock_secs(30).await;
    let (_, second) = node.get_as(&admin, &code_path).await;
    assert_eq!(
        first["token"], second["token"],
        "a fresh cached code is served again"
    );
    assert_eq!(node.state.codes.issuer.cached_codes(), 1);

    let (status, _) = node.get_as(&other_city, &code_path).await;
    assert_eq!(status, 403, "another city's authority gets no code");
    let status = node.get(&code_path, None).await.status;
    assert_eq!(status, 401);

    let token = first["token"].clone();
    let (status, report) = node
        .post("/v1/verify/token", None, &json!({"token": token}))
        .await
        .status_and_json();
    assert_eq!(status, 200);
    assert_eq!(report["valid"], true, "{report}");
    node.advance_clock_secs(600).await;
    let (_, report) = node
        .post("/v1/verify/token", None, &json!({"token": token}))
        .await
        .status_and_json();
    assert_eq!(report["valid"], false);
    assert_eq!(report["error"]["code"], "expired", "{report}");

    let (status, list) = node.get("/v1/trust-list", None).await.status_and_json();
    assert_eq!(status, 200);
    let signed = ymt_token::SignedTrustList::from_json(&list.to_string()).unwrap();
    let trust = signed.verify_with_embedded_signer().unwrap();
    assert_eq!(trust.entries().len(), 1);
    assert_eq!(trust.entries()[0].issuer, "ymt:cn");

    use std::os::unix::fs::PermissionsExt;
    let keys = node.data_dir().join("keys");
    let mut secrets = 0;
    for entry in std::fs::read_dir(&keys).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|extension| extension == "key") {
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", path.display());
            secrets += 1;
        }
    }
    assert_eq!(secrets, 2, "the signing key and the trust-list signer");
    node.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn citizens_sign_in_see_their_own_and_dependents_codes_and_appeal() {
    let node = TestNode::start().await;
    let admin = node.add_principal("admin", Role::NationalAdmin, "nation");
    let own_city = node.add_principal("cdc-440305", Role::HealthAuthority, "440305");
    let other_city = node.add_principal("cdc-440106", Role::HealthAuthority, "440106");
    let child = register(&node, &admin, "E20000002", "王小红", "440305", vec![]).await;
    let parent = register(
        &node,
        &admin,
        "E20000003",
        "王大明",
        "440305",
        vec![child.clone()],
    )
    .await;
    let stranger = register(&node, &admin, "E20000004", "赵五", "440305", vec![]).await;
    // The consent step: an authority of the child's region other than the
    // registrar confirms the guardianship.
    let (status, body) = node
        .post_as(
            &own_city,
            "/v1/guardianships:confirm",
            json!({"guardian": parent, "ward": child}),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    let status = node
        .sign_in_citizen("passport", "E20000003", "246810")
        .await
        .status;
    assert_eq!(
        status, 503,
        "no authenticator configured: sign-in is unavailable"
    );
    node.enable_citizen_sign_in_with_one_time_code("246810");
    let status = node
        .sign_in_citizen("passport", "E20000003", "000000")
        .await
        .status;
    assert_eq!(status, 401);
    let signed_in = node
        .sign_in_citizen("passport", "E20000003", "246810")
        .await;
    let (status, body) = signed_in.status_and_json();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["pid"], parent.as_str());
    let cookie = signed_in.set_cookie.clone().unwrap();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
    let session = signed_in.session_cookie().unwrap();

    let (status, body) = node
        .send_with_cookie("GET", "/v1/session", &session, None)
        .await
        .status_and_json();
    assert_eq!((status, body["signed_in"].clone()), (200, json!(true)));
    assert_eq!(body["dependents"][0]["pid"], child.as_str());
    for (pid, expect) in [(&parent, 200), (&child, 200), (&stranger, 403)] {
        let status = node
            .send_with_cookie("GET", &format!("/v1/persons/{pid}/code"), &session, None)
            .await
            .status;
        assert_eq!(status, expect, "code of {pid}");
    }

    let (status, appeal) = node
        .send_with_cookie(
            "POST",
            "/v1/appeals",
            &session,
            Some(&json!({"pid": child, "text": "please check"})),
        )
        .await
        .status_and_json();
    assert_eq!(status, 201, "{appeal}");
    let id = appeal["id"].as_str().unwrap().to_owned();
    let (_, listed) = node.get_as(&other_city, "/v1/appeals").await;
    assert_eq!(
        listed["appeals"].as_array().unwrap().len(),
        0,
        "another city sees no appeal"
    );
    let (status, _) = node
        .post_as(
            &other_city,
            &format!("/v1/appeals/{id}/resolve"),
            json!({"note": "x"}),
        )
        .await;
    assert_eq!(status, 404);
    let (_, listed) = node.get_as(&own_city, "/v1/appeals").await;
    assert_eq!(listed["appeals"][0]["id"], id.as_str());
    let resolve = json!({"note": "checked, color stands"});
    let (status, resolved) = node
        .post_as(
            &own_city,
            &format!("/v1/appeals/{id}/resolve"),
            resolve.clone(),
        )
        .await;
    assert_eq!(status, 200, "{resolved}");
    assert_eq!(resolved["resolved"]["by"], "cdc-440305");
    let (status, _) = node
        .post_as(&own_city, &format!("/v1/appeals/{id}/resolve"), resolve)
        .await;
    assert_eq!(status, 409);

    let status = node
        .send_with_cookie("DELETE", "/v1/session", &session, None)
        .await
        .status;
    assert_eq!(status, 204);
    let (_, body) = node
        .send_with_cookie("GET", "/v1/session", &session, None)
        .await
        .status_and_json();
    assert_eq!(body["signed_in"], false);
    node.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_and_the_chart_are_served() {
    let node = TestNode::start().await;
    let admin = node.add_principal("admin", Role::NationalAdmin, "nation");
    for (path, needle) in [
        ("/", "我的健康码"),
        ("/citizen?lang=en", "My health code"),
        ("/verify", "验码"),
        ("/console?lang=en", "Authority console"),
        ("/assets/cose.js", "Signature1"),
    ] {
        let reply = node.get(path, None).await;
        assert_eq!(reply.status, 200, "{path}");
        assert!(reply.text().contains(needle), "{path}");
    }
    let status = node.get("/assets/../Cargo.toml", None).await.status;
    assert_eq!(status, 404);
    let reply = node.get("/v1/dashboard/colors.svg", Some(&admin)).await;
    assert_eq!(reply.status, 200);
    assert!(reply.text().starts_with("<svg"));
    register(&node, &admin, "E20000005", "钱六", "440305", vec![]).await;
    let own_city = node.add_principal("cdc-440305", Role::HealthAuthority, "440305");
    let other_city = node.add_principal("cdc-440106", Role::HealthAuthority, "440106");
    for (key, green) in [(&own_city, "1"), (&other_city, "0")] {
        let reply = node.get("/v1/dashboard/colors.svg", Some(key)).await;
        assert_eq!(reply.status, 200);
        let svg = reply.text();
        // The second 13-point text of the chart is the green count.
        let green_count = svg.split("font-size=\"13\">").nth(2).unwrap();
        assert!(green_count.starts_with(&format!("{green}</text>")), "{svg}");
    }
    node.close().await;
}

#[test]
fn every_new_route_is_described_in_openapi() {
    let document: Value = ymt_http::openapi::openapi_json();
    for path in [
        "/v1/persons/{pid}/code",
        "/v1/trust-list",
        "/v1/verify/token",
        "/v1/session",
        "/v1/appeals",
        "/v1/appeals/{id}/resolve",
        "/v1/dashboard/colors.svg",
        "/",
        "/citizen",
        "/verify",
        "/console",
        "/assets/{name}",
    ] {
        assert!(document["paths"].get(path).is_some(), "{path}");
    }
}

/// An appeal about a person who is neither registered nor managed by any
/// authority goes to the region of their latest event, so the authority that
/// can act on them can also resolve it.
#[tokio::test]
async fn an_unregistered_persons_appeal_goes_to_the_region_of_their_latest_event() {
    let node = TestNode::start().await;
    let lab = node.add_principal("lab-440305", Role::Lab, "440305");
    let own_city = node.add_principal("cdc-440305", Role::HealthAuthority, "440305");
    let other_city = node.add_principal("cdc-110105", Role::HealthAuthority, "110105");
    let at = at_secs(-HOUR_SECS);
    let (status, body) = node
        .post_as(
            &lab,
            "/v1/events",
            json!({"id": "lab-440305:S1", "subject": {"id_type": "passport", "id_number": "E12345678"},
                "region": "440305", "kind": "test_result",
                "data": {"test": "pcr", "result": "positive", "sampled_at": at, "reported_at": at, "lab": "lab-440305"}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let pid = body["results"][0]["pid"].as_str().unwrap().to_owned();
    let (status, appeal) = node
        .post_as(
            &own_city,
            "/v1/appeals",
            json!({"pid": pid, "text": "the sample was mislabelled"}),
        )
        .await;
    assert_eq!(status, 201, "{appeal}");
    let id = appeal["id"].as_str().unwrap().to_owned();
    let (_, listed) = node.get_as(&other_city, "/v1/appeals").await;
    assert_eq!(
        listed["appeals"].as_array().unwrap().len(),
        0,
        "another city sees nothing"
    );
    let (_, listed) = node.get_as(&own_city, "/v1/appeals").await;
    assert_eq!(
        listed["appeals"][0]["id"],
        id.as_str(),
        "the event's region sees it"
    );
    let (status, resolved) = node
        .post_as(
            &own_city,
            &format!("/v1/appeals/{id}/resolve"),
            json!({"note": "sample re-tested"}),
        )
        .await;
    assert_eq!(status, 200, "{resolved}");
    node.close().await;
}

// ---- Printed codes (纸质码), issue 13 item 13 ---------------------------------

/// A city with a guardian (signed in) of a ward registered without a phone,
/// a stranger without a phone, a ward with a phone, and the authorities.
struct PrintWorld {
    node: TestNode,
    admin: String,
    authority: String,
    other_authority: String,
    lab: String,
    verifier: String,
    guardian: String,
    ward: String,
    ward_with_phone: String,
    unconfirmed_ward: String,
    stranger: String,
    session: String,
}

async fn register_full(
    node: &TestNode,
    key: &str,
    number: &str,
    has_phone: bool,
    guardian_of: Vec<String>,
) -> String {
    let (status, body) = node
        .post_as(
            key,
            "/v1/persons",
            json!({"id_type": "passport", "id_number": number, "display_name": "王小红", "region": "440305", "has_phone": has_phone, "guardian_of": guardian_of}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["pid"].as_str().unwrap().to_owned()
}

impl PrintWorld {
    async fn start() -> PrintWorld {
        let node = TestNode::start().await;
        let admin = node.add_principal("admin", Role::NationalAdmin, "nation");
        let authority = node.add_principal("cdc-440305", Role::HealthAuthority, "440305");
        let other_authority = node.add_principal("cdc-440106", Role::HealthAuthority, "440106");
        let lab = node.add_principal("lab-440305-01", Role::Lab, "440305");
        let verifier = node.add_principal("door-440305", Role::VerifierDevice, "440305");
        let ward = register_full(&node, &admin, "E30000001", false, vec![]).await;
        let ward_with_phone = register_full(&node, &admin, "E30000002", true, vec![]).await;
        let unconfirmed_ward = register_full(&node, &admin, "E30000003", false, vec![]).await;
        let stranger = register_full(&node, &admin, "E30000004", false, vec![]).await;
        let guardian = register_full(
            &node,
            &admin,
            "E30000005",
            false,
            vec![
                ward.clone(),
                ward_with_phone.clone(),
                unconfirmed_ward.clone(),
            ],
        )
        .await;
        for confirmed in [&ward, &ward_with_phone] {
            let (status, body) = node
                .post_as(
                    &authority,
                    "/v1/guardianships:confirm",
                    json!({"guardian": guardian, "ward": confirmed}),
                )
                .await;
            assert_eq!(status, 200, "{body}");
        }
        node.enable_citizen_sign_in_with_one_time_code("246810");
        let signed_in = node
            .sign_in_citizen("passport", "E30000005", "246810")
            .await;
        assert_eq!(signed_in.status, 200);
        let session = signed_in.session_cookie().unwrap();
        PrintWorld {
            node,
            admin,
            authority,
            other_authority,
            lab,
            verifier,
            guardian,
            ward,
            ward_with_phone,
            unconfirmed_ward,
            stranger,
            session,
        }
    }

    async fn print_as_guardian(&self, pid: &str) -> (u16, Value) {
        self.node
            .send_with_cookie(
                "POST",
                &format!("/v1/persons/{pid}/printed-code"),
                &self.session,
                None,
            )
            .await
            .status_and_json()
    }

    async fn print_as(&self, key: &str, pid: &str) -> (u16, Value) {
        self.node
            .send(
                "POST",
                &format!("/v1/persons/{pid}/printed-code"),
                Some(key),
                None,
            )
            .await
            .status_and_json()
    }

    async fn verify(&self, token: &Value, key: Option<&str>) -> Value {
        let (status, report) = self
            .node
            .post("/v1/verify/token", key, &json!({"token": token}))
            .await
            .status_and_json();
        assert_eq!(status, 200, "{report}");
        report
    }

    /// The print records (allowed or denied) of `target`.
    fn print_audit(&self, target: &str) -> Vec<ymt_store::AuditRecord> {
        self.node
            .state
            .store
            .audit_list(&ymt_store::AuditFilter::default(), 100_000)
            .unwrap()
            .into_iter()
            .filter(|record| record.action == "person.printed_code" && record.target == target)
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guardian_prints_a_long_lived_code_for_a_ward_without_a_phone_and_the_print_is_audited() {
    let world = PrintWorld::start().await;
    let (status, printed) = world.print_as_guardian(&world.ward).await;
    assert_eq!(status, 200, "{printed}");
    assert_eq!(printed["kind"], "printed");
    assert_eq!(printed["printed_by"], "guardian");
    assert_eq!(printed["color"], "green");
    let lifetime = ymt_token::trust::PRINTED_CODE_LIFETIME_SECS_DEFAULT;
    assert_eq!(printed["lifetime_secs"], lifetime);
    assert!(printed["svg"].as_str().unwrap().starts_with("<svg"));

    // Still valid two days later (a phone code lives five minutes), with its
    // kind, issue time and lifetime in the verify API's answer.
    world.node.advance_clock_days(2).await;
    let report = world.verify(&printed["token"], None).await;
    assert_eq!(report["valid"], true, "{report}");
    assert_eq!(report["claims"]["kind"], "printed");
    assert_eq!(report["kind"]["kind"], "printed");
    assert_eq!(report["kind"]["label"]["zh-CN"], "纸质码");
    assert_eq!(report["kind"]["label"]["en"], "printed code");
    assert_eq!(report["kind"]["lifetime_secs"], lifetime);
    assert_eq!(report["kind"]["issued_at"], printed["issued_at"]);
    world.node.advance_clock_days(1).await;
    let report = world.verify(&printed["token"], None).await;
    assert_eq!(report["valid"], false, "expired after its lifetime");

    // Who printed for whom, durably.
    let records = world.print_audit(&world.ward);
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0].principal, format!("citizen:{}", world.guardian));
    assert_eq!(records[0].outcome, ymt_store::AuditOutcome::Allowed);
    world.node.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guardian_cannot_print_for_anyone_but_a_confirmed_ward() {
    let world = PrintWorld::start().await;
    for (pid, why) in [
        (&world.stranger, "a stranger"),
        (
            &world.unconfirmed_ward,
            "a ward whose guardianship is not confirmed",
        ),
    ] {
        let (status, body) = world.print_as_guardian(pid).await;
        assert_eq!(status, 403, "{why}: {body}");
        let records = world.print_audit(pid);
        assert_eq!(records.len(), 1, "{why}");
        assert_eq!(records[0].outcome, ymt_store::AuditOutcome::Denied);
    }
    world.node.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_citizen_cannot_mint_a_long_lived_code_for_themselves() {
    let world = PrintWorld::start().await;
    // The guardian is registered without a phone too: still refused.
    let (status, body) = world.print_as_guardian(&world.guardian).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(
        world.print_audit(&world.guardian)[0].outcome,
        ymt_store::AuditOutcome::Denied
    );
    // Their own code stays a phone code of the usual lifetime.
    let (status, own) = world
        .node
        .send_with_cookie(
            "GET",
            &format!("/v1/persons/{}/code", world.guardian),
            &world.session,
            None,
        )
        .await
        .status_and_json();
    assert_eq!(status, 200, "{own}");
    let report = world.verify(&own["token"], None).await;
    assert_eq!(report["claims"]["kind"], "phone");
    assert_eq!(
        report["kind"]["lifetime_secs"],
        ymt_token::TOKEN_TTL_SECS_DEFAULT
    );
    world.node.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_printed_code_is_only_for_a_person_registered_without_a_phone() {
    let world = PrintWorld::start().await;
    let (status, body) = world.print_as_guardian(&world.ward_with_phone).await;
    assert_eq!(status, 409, "{body}");
    let (status, body) = world
        .print_as(&world.authority, &world.ward_with_phone)
        .await;
    assert_eq!(status, 409, "{body}");
    world.node.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_authority_prints_only_for_persons_registered_in_its_jurisdiction() {
    let world = PrintWorld::start().await;
    let (status, printed) = world.print_as(&world.authority, &world.stranger).await;
    assert_eq!(status, 200, "{printed}");
    assert_eq!(printed["printed_by"], "health_authority");
    let records = world.print_audit(&world.stranger);
    assert_eq!(records[0].principal, "cdc-440305");

    // Another city's authority, even once the person is present there (a
    // lab there tested them): registration decides, not presence.
    let lab_440106 = world.node.add_principal("lab-440106", Role::Lab, "440106");
    let test = support::submission(
        "t-away",
        &world.stranger,
        "440106",
        "test_result",
        support::pcr_data(
            support::T0_UNIX_SECS - 7200,
            support::T0_UNIX_SECS - 60,
            "negative",
        ),
    );
    let (status, body) = world.node.post_as(&lab_440106, "/v1/events", test).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = world
        .print_as(&world.other_authority, &world.stranger)
        .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(
        world.print_audit(&world.stranger).last().unwrap().outcome,
        ymt_store::AuditOutcome::Denied
    );
    // No other role prints: a national admin runs the platform, a lab, a
    // venue's verifier device print nothing.
    for key in [&world.admin, &world.lab, &world.verifier] {
        let (status, body) = world.print_as(key, &world.stranger).await;
        assert_eq!(status, 403, "{key}: {body}");
    }
    // Nobody without credentials.
    let reply = world
        .node
        .send(
            "POST",
            &format!("/v1/persons/{}/printed-code", world.stranger),
            None,
            None,
        )
        .await;
    assert_eq!(reply.status, 401);
    world.node.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_printed_red_code_stays_red_and_a_printed_green_code_of_a_person_now_red_is_not_green() {
    let world = PrintWorld::start().await;
    // A green code printed before the ward tests positive.
    let (_, green) = world.print_as_guardian(&world.ward).await;
    assert_eq!(green["color"], "green");
    let positive = support::submission(
        "t-pos",
        &world.ward,
        "440305",
        "test_result",
        support::pcr_data(
            support::T0_UNIX_SECS - 7200,
            support::T0_UNIX_SECS - 60,
            "positive",
        ),
    );
    let (status, body) = world.node.post_as(&world.lab, "/v1/events", positive).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(world.node.color(&world.verifier, &world.ward).await, "red");
    // Offline the paper says green (its color at printing, and the kind
    // tells the door so); a door online sees red and applies it.
    let report = world.verify(&green["token"], Some(&world.verifier)).await;
    assert_eq!(report["claims"]["color"], "green");
    assert_eq!(report["current"]["color"], "red", "{report}");
    assert_eq!(report["shown_color"], "red");

    // A red code printed now says red, and keeps saying red after the
    // positive is retracted (print again to show the new color).
    let (_, red) = world.print_as_guardian(&world.ward).await;
    assert_eq!(red["color"], "red");
    let retraction = support::submission(
        "r-pos",
        &world.ward,
        "440305",
        "retraction",
        json!({"target": "lab-440305-01:t-pos", "reason": "sample mixed up at the lab"}),
    );
    let (status, body) = world
        .node
        .post_as(&world.authority, "/v1/events", retraction)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        world.node.color(&world.verifier, &world.ward).await,
        "green"
    );
    let report = world.verify(&red["token"], Some(&world.verifier)).await;
    assert_eq!(report["valid"], true, "{report}");
    assert_eq!(report["claims"]["color"], "red");
    assert_eq!(report["current"]["color"], "green");
    assert_eq!(report["shown_color"], "red");
    // Without a door's key nobody learns the color now from a code.
    let report = world.verify(&red["token"], None).await;
    assert!(report.get("current").is_none(), "{report}");
    world.node.close().await;
}
