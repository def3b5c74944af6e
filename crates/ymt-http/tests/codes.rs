//! Signed codes, the trust list, token verification, citizen sessions and
//! appeals, through HTTP against an in-process node.

use std::sync::Arc;

use serde_json::{Value, json};
use ymt_core::Timestamp;
use ymt_http::router;
use ymt_node::auth::{Principal, Role, key_sha256, new_api_key};
use ymt_node::codes::DemoFixedCode;
use ymt_node::{ManualClock, Node, ServerConfig};

struct TestHarness {
    base: String,
    client: reqwest::Client,
    clock: Arc<ManualClock>,
    state: Arc<Node>,
    _dir: tempfile::TempDir,
}

const T0: i64 = 1_795_000_000;

async fn node() -> TestHarness {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp::from_unix_secs(T0).unwrap()));
    let state =
        Node::open_embedded(ServerConfig::new(dir.path().to_path_buf()), clock.clone()).unwrap();
    state.spawn_scheduler();
    state.spawn_read_audit_writer();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = router(state.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    TestHarness {
        base,
        client: reqwest::Client::new(),
        clock,
        state,
        _dir: dir,
    }
}

impl TestHarness {
    fn principal(&self, id: &str, role: Role, jurisdiction: &str) -> String {
        let key = new_api_key(id);
        self.state
            .add_principal(Principal {
                id: id.into(),
                role,
                jurisdiction: jurisdiction.parse().unwrap(),
                display_name: id.into(),
                key_sha256: key_sha256(&key),
                disabled: false,
            })
            .unwrap();
        key
    }

    /// Sends a request; `auth` is an API key or `cookie:<header value>`.
    async fn call(
        &self,
        method: &str,
        path: &str,
        auth: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value, Option<String>) {
        let mut request = self
            .client
            .request(method.parse().unwrap(), format!("{}{path}", self.base));
        match auth {
            Some(cookie) if cookie.starts_with("cookie:") => {
                request = request.header("Cookie", &cookie["cookie:".len()..])
            }
            Some(key) => request = request.bearer_auth(key),
            None => {}
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let cookie = response
            .headers()
            .get("set-cookie")
            .map(|value| value.to_str().unwrap().to_owned());
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
            cookie,
        )
    }
}

async fn register(
    node: &TestHarness,
    admin: &str,
    number: &str,
    name: &str,
    region: &str,
    guardian_of: Vec<String>,
) -> String {
    let (status, body, _) = node
        .call(
            "POST",
            "/v1/persons",
            Some(admin),
            Some(json!({"id_type": "passport", "id_number": number, "display_name": name, "region": region, "guardian_of": guardian_of})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["pid"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codes_are_cached_verifiable_and_expire() {
    let node = node().await;
    let admin = node.principal("admin", Role::NationalAdmin, "nation");
    let other_city = node.principal("cdc-440106", Role::HealthAuthority, "440106");
    let pid = register(&node, &admin, "E20000001", "李四", "440305", vec![]).await;

    let (status, first, _) = node
        .call(
            "GET",
            &format!("/v1/persons/{pid}/code"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["color"], "green");
    assert_eq!(first["masked_name"], "李*");
    assert!(first["token"].as_str().unwrap().starts_with("YMT1:"));
    assert!(first["svg"].as_str().unwrap().starts_with("<svg"));
    node.clock.advance_secs(30);
    let (_, second, _) = node
        .call(
            "GET",
            &format!("/v1/persons/{pid}/code"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(
        first["token"], second["token"],
        "a fresh cached code is served again"
    );
    assert_eq!(node.state.codes.issuer.cached_codes(), 1);

    let (status, _, _) = node
        .call(
            "GET",
            &format!("/v1/persons/{pid}/code"),
            Some(&other_city),
            None,
        )
        .await;
    assert_eq!(status, 403, "another city's authority gets no code");
    let (status, _, _) = node
        .call("GET", &format!("/v1/persons/{pid}/code"), None, None)
        .await;
    assert_eq!(status, 401);

    let token = first["token"].clone();
    let (status, report, _) = node
        .call(
            "POST",
            "/v1/verify/token",
            None,
            Some(json!({"token": token})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(report["valid"], true, "{report}");
    node.clock.advance_secs(600);
    let (_, report, _) = node
        .call(
            "POST",
            "/v1/verify/token",
            None,
            Some(json!({"token": token})),
        )
        .await;
    assert_eq!(report["valid"], false);
    assert_eq!(report["error"]["code"], "expired", "{report}");

    let (status, list, _) = node.call("GET", "/v1/trust-list", None, None).await;
    assert_eq!(status, 200);
    let signed = ymt_token::SignedTrustList::from_json(&list.to_string()).unwrap();
    let trust = signed.verify_with_embedded_signer().unwrap();
    assert_eq!(trust.entries().len(), 1);
    assert_eq!(trust.entries()[0].issuer, "ymt:cn");

    use std::os::unix::fs::PermissionsExt;
    let keys = node._dir.path().join("keys");
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
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn citizens_sign_in_see_their_own_and_dependents_codes_and_appeal() {
    let node = node().await;
    let admin = node.principal("admin", Role::NationalAdmin, "nation");
    let own_city = node.principal("cdc-440305", Role::HealthAuthority, "440305");
    let other_city = node.principal("cdc-440106", Role::HealthAuthority, "440106");
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
    let sign_in = json!({"id_type": "passport", "id_number": "E20000003", "code": "246810"});

    let (status, _, _) = node
        .call("POST", "/v1/session", None, Some(sign_in.clone()))
        .await;
    assert_eq!(
        status, 503,
        "no authenticator configured: sign-in is unavailable"
    );
    node.state.codes.set_authenticator(Arc::new(DemoFixedCode {
        code: "246810".into(),
    }));
    let wrong = json!({"id_type": "passport", "id_number": "E20000003", "code": "000000"});
    let (status, _, _) = node.call("POST", "/v1/session", None, Some(wrong)).await;
    assert_eq!(status, 401);
    let (status, body, cookie) = node.call("POST", "/v1/session", None, Some(sign_in)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["pid"], parent.as_str());
    let cookie = cookie.unwrap();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
    let session = format!("cookie:{}", cookie.split(';').next().unwrap());

    let (status, body, _) = node.call("GET", "/v1/session", Some(&session), None).await;
    assert_eq!((status, body["signed_in"].clone()), (200, json!(true)));
    assert_eq!(body["dependents"][0]["pid"], child.as_str());
    for (pid, expect) in [(&parent, 200), (&child, 200), (&stranger, 403)] {
        let (status, _, _) = node
            .call(
                "GET",
                &format!("/v1/persons/{pid}/code"),
                Some(&session),
                None,
            )
            .await;
        assert_eq!(status, expect, "code of {pid}");
    }

    let (status, appeal, _) = node
        .call(
            "POST",
            "/v1/appeals",
            Some(&session),
            Some(json!({"pid": child, "text": "please check"})),
        )
        .await;
    assert_eq!(status, 201, "{appeal}");
    let id = appeal["id"].as_str().unwrap().to_owned();
    let (_, listed, _) = node
        .call("GET", "/v1/appeals", Some(&other_city), None)
        .await;
    assert_eq!(
        listed["appeals"].as_array().unwrap().len(),
        0,
        "another city sees no appeal"
    );
    let (status, _, _) = node
        .call(
            "POST",
            &format!("/v1/appeals/{id}/resolve"),
            Some(&other_city),
            Some(json!({"note": "x"})),
        )
        .await;
    assert_eq!(status, 404);
    let (_, listed, _) = node.call("GET", "/v1/appeals", Some(&own_city), None).await;
    assert_eq!(listed["appeals"][0]["id"], id.as_str());
    let resolve = json!({"note": "checked, color stands"});
    let (status, resolved, _) = node
        .call(
            "POST",
            &format!("/v1/appeals/{id}/resolve"),
            Some(&own_city),
            Some(resolve.clone()),
        )
        .await;
    assert_eq!(status, 200, "{resolved}");
    assert_eq!(resolved["resolved"]["by"], "cdc-440305");
    let (status, _, _) = node
        .call(
            "POST",
            &format!("/v1/appeals/{id}/resolve"),
            Some(&own_city),
            Some(resolve),
        )
        .await;
    assert_eq!(status, 409);

    let (status, _, _) = node
        .call("DELETE", "/v1/session", Some(&session), None)
        .await;
    assert_eq!(status, 204);
    let (_, body, _) = node.call("GET", "/v1/session", Some(&session), None).await;
    assert_eq!(body["signed_in"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_and_the_chart_are_served() {
    let node = node().await;
    let admin = node.principal("admin", Role::NationalAdmin, "nation");
    for (path, needle) in [
        ("/", "我的健康码"),
        ("/citizen?lang=en", "My health code"),
        ("/verify", "验码"),
        ("/console?lang=en", "Authority console"),
        ("/assets/cose.js", "Signature1"),
    ] {
        let (status, body, _) = node.call("GET", path, None, None).await;
        assert_eq!(status, 200, "{path}");
        assert!(body.as_str().unwrap().contains(needle), "{path}");
    }
    let (status, _, _) = node.call("GET", "/assets/../Cargo.toml", None, None).await;
    assert_eq!(status, 404);
    let (status, body, _) = node
        .call("GET", "/v1/dashboard/colors.svg", Some(&admin), None)
        .await;
    assert_eq!(status, 200);
    assert!(body.as_str().unwrap().starts_with("<svg"));
    register(&node, &admin, "E20000005", "钱六", "440305", vec![]).await;
    let own_city = node.principal("cdc-440305", Role::HealthAuthority, "440305");
    let other_city = node.principal("cdc-440106", Role::HealthAuthority, "440106");
    for (key, green) in [(&own_city, "1"), (&other_city, "0")] {
        let (status, body, _) = node
            .call("GET", "/v1/dashboard/colors.svg", Some(key), None)
            .await;
        assert_eq!(status, 200);
        let svg = body.as_str().unwrap();
        // The second 13-point text of the chart is the green count.
        let green_count = svg.split("font-size=\"13\">").nth(2).unwrap();
        assert!(green_count.starts_with(&format!("{green}</text>")), "{svg}");
    }
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
    let node = node().await;
    let lab = node.principal("lab-440305", Role::Lab, "440305");
    let own_city = node.principal("cdc-440305", Role::HealthAuthority, "440305");
    let other_city = node.principal("cdc-110105", Role::HealthAuthority, "110105");
    let at = Timestamp::from_unix_secs(T0 - 3600).unwrap();
    let (status, body, _) = node
        .call(
            "POST",
            "/v1/events",
            Some(&lab),
            Some(json!({"id": "lab-440305:S1", "subject": {"id_type": "passport", "id_number": "E12345678"},
                "region": "440305", "kind": "test_result",
                "data": {"test": "pcr", "result": "positive", "sampled_at": at, "reported_at": at, "lab": "lab-440305"}})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let pid = body["results"][0]["pid"].as_str().unwrap().to_owned();
    let (status, appeal, _) = node
        .call(
            "POST",
            "/v1/appeals",
            Some(&own_city),
            Some(json!({"pid": pid, "text": "the sample was mislabelled"})),
        )
        .await;
    assert_eq!(status, 201, "{appeal}");
    let id = appeal["id"].as_str().unwrap().to_owned();
    let (_, listed, _) = node
        .call("GET", "/v1/appeals", Some(&other_city), None)
        .await;
    assert_eq!(
        listed["appeals"].as_array().unwrap().len(),
        0,
        "another city sees nothing"
    );
    let (_, listed, _) = node.call("GET", "/v1/appeals", Some(&own_city), None).await;
    assert_eq!(
        listed["appeals"][0]["id"],
        id.as_str(),
        "the event's region sees it"
    );
    let (status, resolved, _) = node
        .call(
            "POST",
            &format!("/v1/appeals/{id}/resolve"),
            Some(&own_city),
            Some(json!({"note": "sample re-tested"})),
        )
        .await;
    assert_eq!(status, 200, "{resolved}");
}
