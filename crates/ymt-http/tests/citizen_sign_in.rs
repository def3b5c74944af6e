//! Citizen sign-in under attack: guessing one-time codes is throttled per ID
//! number and per client address, a flood of sign-ins cannot sign other
//! persons out, the cookie is `Secure` under an https public URL, and a
//! citizen's state-changing request must be JSON from the node's own origin.

mod support;

use serde_json::{Value, json};
use support::TestNode;
use ymt_node::auth::Role;

const ONE_TIME_CODE: &str = "246810";
const WRONG_CODE: &str = "000000";

/// Registers a person with a passport number; their pid.
async fn register(node: &TestNode, admin: &str, number: &str) -> String {
    let (status, body) = node
        .post_as(
            admin,
            "/v1/persons",
            json!({"id_type": "passport", "id_number": number, "display_name": "张三", "region": "440305"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["pid"].as_str().expect("a pid").to_owned()
}

async fn start(edit: impl FnOnce(&mut ymt_node::ServerConfig)) -> (TestNode, String) {
    let node = TestNode::start_with_config(edit).await;
    let admin = node.add_principal("admin", Role::NationalAdmin, "nation");
    node.enable_citizen_sign_in_with_one_time_code(ONE_TIME_CODE);
    (node, admin)
}

/// A client whose connections come from `local` (a loopback address).
fn client_from(local: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(Some(local.parse().expect("an address")))
        .build()
        .expect("a client")
}

async fn sign_in_from(client: &reqwest::Client, node: &TestNode, number: &str, code: &str) -> u16 {
    client
        .post(format!("{}/v1/session", node.base))
        .json(&json!({"id_type": "passport", "id_number": number, "code": code}))
        .send()
        .await
        .expect("answered")
        .status()
        .as_u16()
}

async fn signed_in(node: &TestNode, cookie: &str) -> bool {
    let reply = node
        .send_with_cookie("GET", "/v1/session", cookie, None)
        .await;
    reply.json()["signed_in"] == json!(true)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guessing_one_time_codes_for_one_id_number_is_locked_out() {
    let (node, admin) = start(|_| {}).await;
    register(&node, &admin, "E30000001").await;
    for attempt in 1..=5 {
        let reply = node
            .sign_in_citizen("passport", "E30000001", WRONG_CODE)
            .await;
        assert_eq!(reply.status, 401, "wrong code {attempt}");
    }
    // Locked out: even the right code is refused until the lockout ends.
    let reply = node
        .sign_in_citizen("passport", "E30000001", ONE_TIME_CODE)
        .await;
    assert_eq!(reply.status, 429, "{}", reply.text());
    assert_eq!(reply.retry_after.as_deref(), Some("30"));
    node.advance_clock_secs(30).await;
    // Each further failure doubles the lockout.
    let reply = node
        .sign_in_citizen("passport", "E30000001", WRONG_CODE)
        .await;
    assert_eq!(reply.status, 401);
    let reply = node
        .sign_in_citizen("passport", "E30000001", ONE_TIME_CODE)
        .await;
    assert_eq!(reply.status, 429);
    assert_eq!(reply.retry_after.as_deref(), Some("60"));
    node.advance_clock_secs(60).await;
    let reply = node
        .sign_in_citizen("passport", "E30000001", ONE_TIME_CODE)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    // A success clears the count: one mistake is a 401 again.
    let reply = node
        .sign_in_citizen("passport", "E30000001", WRONG_CODE)
        .await;
    assert_eq!(reply.status, 401);
    node.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_client_address_cannot_guess_codes_across_many_id_numbers() {
    let (node, admin) = start(|config| config.sign_in.failures_per_client_free = 3).await;
    register(&node, &admin, "E30000009").await;
    let attacker = client_from("127.0.0.3");
    for number in ["E30000002", "E30000003", "E30000004"] {
        assert_eq!(
            sign_in_from(&attacker, &node, number, WRONG_CODE).await,
            401,
            "{number}"
        );
    }
    assert_eq!(
        sign_in_from(&attacker, &node, "E30000009", ONE_TIME_CODE).await,
        429,
        "the address is locked out, whichever ID number it tries"
    );
    // Another client signs in meanwhile.
    let neighbour = client_from("127.0.0.4");
    assert_eq!(
        sign_in_from(&neighbour, &node, "E30000009", ONE_TIME_CODE).await,
        200
    );
    node.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_sign_ins_cannot_sign_other_persons_out() {
    let (node, admin) = start(|config| {
        config.sign_in.sessions_max = 4;
        config.sign_in.sessions_per_person_max = 2;
    })
    .await;
    for number in ["E30000011", "E30000012", "E30000013", "E30000014"] {
        register(&node, &admin, number).await;
    }
    let sign_in = |number: &'static str| {
        let node = &node;
        async move {
            node.sign_in_citizen("passport", number, ONE_TIME_CODE)
                .await
        }
    };
    let victim = sign_in("E30000011")
        .await
        .session_cookie()
        .expect("a cookie");
    let mut flooder = Vec::new();
    for _ in 0..10 {
        let reply = sign_in("E30000012").await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        flooder.push(reply.session_cookie().expect("a cookie"));
    }
    assert!(
        signed_in(&node, &victim).await,
        "the victim stays signed in"
    );
    assert!(
        !signed_in(&node, &flooder[0]).await,
        "the flooder's oldest sessions end"
    );
    assert!(signed_in(&node, &flooder[9]).await);
    // The table holds the victim, two of the flooder's and a third person's;
    // a fourth person is refused rather than signing anybody out.
    let third = sign_in("E30000013").await;
    assert_eq!(third.status, 200);
    let fourth = sign_in("E30000014").await;
    assert_eq!(fourth.status, 503, "{}", fourth.text());
    assert!(fourth.retry_after.is_some());
    assert!(signed_in(&node, &victim).await, "still signed in");
    node.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_cookie_is_secure_when_the_public_url_is_https() {
    for (public_url, expect_secure) in [
        (Some("https://ymt.example.cn"), true),
        (Some("http://ymt.example.cn"), false),
        (None, false),
    ] {
        let (node, admin) = start(|config| config.public_url = public_url.map(String::from)).await;
        register(&node, &admin, "E30000021").await;
        let reply = node
            .sign_in_citizen("passport", "E30000021", ONE_TIME_CODE)
            .await;
        assert_eq!(reply.status, 200);
        let cookie = reply.set_cookie.clone().expect("a cookie");
        assert_eq!(
            cookie.split(';').any(|part| part.trim() == "Secure"),
            expect_secure,
            "{public_url:?}: {cookie}"
        );
        node.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_citizens_state_changing_request_must_be_json_from_the_same_origin() {
    let (node, admin) = start(|_| {}).await;
    let pid = register(&node, &admin, "E30000031").await;
    let cookie = node
        .sign_in_citizen("passport", "E30000031", ONE_TIME_CODE)
        .await
        .session_cookie()
        .expect("a cookie");
    let own_origin = node.base.clone();
    let appeal = serde_json::to_vec(&json!({"pid": pid, "text": "please check"})).expect("json");
    let send = |method: &'static str,
                path: &'static str,
                content_type: Option<&'static str>,
                headers: Vec<(&'static str, String)>,
                body: Option<Vec<u8>>| {
        let node = &node;
        let cookie = cookie.clone();
        async move {
            let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
            let mut request = node
                .client
                .request(method, format!("{}{path}", node.base))
                .header("cookie", cookie);
            if let Some(content_type) = content_type {
                request = request.header("content-type", content_type);
            }
            for (name, value) in headers {
                request = request.header(name, value);
            }
            if let Some(body) = body {
                request = request.body(body);
            }
            let response = request.send().await.expect("answered");
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            (status, body)
        }
    };
    let foreign = || vec![("origin", "https://evil.example".to_owned())];
    let cases: Vec<(&str, (u16, Value), u16)> = vec![
        (
            "an appeal as text/plain",
            send(
                "POST",
                "/v1/appeals",
                Some("text/plain"),
                vec![],
                Some(appeal.clone()),
            )
            .await,
            415,
        ),
        (
            "an appeal without a content type",
            send("POST", "/v1/appeals", None, vec![], Some(appeal.clone())).await,
            415,
        ),
        (
            "an appeal from a foreign origin",
            send(
                "POST",
                "/v1/appeals",
                Some("application/json"),
                foreign(),
                Some(appeal.clone()),
            )
            .await,
            403,
        ),
        (
            "an appeal from a cross-site fetch",
            send(
                "POST",
                "/v1/appeals",
                Some("application/json"),
                vec![("sec-fetch-site", "cross-site".to_owned())],
                Some(appeal.clone()),
            )
            .await,
            403,
        ),
        (
            "a sign-out from a foreign origin",
            send("DELETE", "/v1/session", None, foreign(), None).await,
            403,
        ),
        (
            "a sign-in as text/plain",
            send(
                "POST",
                "/v1/session",
                Some("text/plain"),
                vec![],
                Some(br#"{"id_type":"passport","id_number":"E30000031","code":"246810"}"#.to_vec()),
            )
            .await,
            415,
        ),
        (
            "an appeal from the node's own origin",
            send(
                "POST",
                "/v1/appeals",
                Some("application/json; charset=utf-8"),
                vec![("origin", own_origin.clone())],
                Some(appeal.clone()),
            )
            .await,
            201,
        ),
    ];
    for (label, (status, body), expect) in cases {
        assert_eq!(status, expect, "{label}: {body}");
    }
    assert!(
        signed_in(&node, &cookie).await,
        "the foreign sign-out did nothing"
    );
    // An authority's API client (a bearer key) is not a browser session.
    let cdc = node.add_principal("cdc-440305", Role::HealthAuthority, "440305");
    let status = node
        .client
        .post(format!("{}/v1/appeals", node.base))
        .bearer_auth(&cdc)
        .header("content-type", "application/json")
        .header("origin", "https://console.example")
        .body(
            serde_json::to_vec(&json!({"pid": pid, "text": "filed by the authority"}))
                .expect("json"),
        )
        .send()
        .await
        .expect("answered")
        .status()
        .as_u16();
    assert_eq!(status, 201);
    node.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_citizen_page_hints_at_the_one_time_code_only_on_a_demo_node() {
    let node = TestNode::start().await;
    for path in ["/", "/citizen?lang=en"] {
        let page = node.get(path, None).await.text();
        assert!(
            page.contains(r#"id="request-code""#),
            "{path}: the step is there"
        );
        assert!(
            !page.contains("data-demo-code"),
            "{path}: no hint without --demo"
        );
    }
    node.enable_citizen_sign_in_with_one_time_code("135790");
    for path in ["/", "/citizen?lang=en"] {
        let page = node.get(path, None).await.text();
        assert!(
            page.contains(r#"data-demo-code="135790""#),
            "{path}: the demo's code is hinted"
        );
    }
    node.close().await;
}
