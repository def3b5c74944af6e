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
