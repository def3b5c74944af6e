//! Citizens sign in through a real OpenID provider (`oidc-provider` on
//! loopback, support/oidc.rs) and its own login page: the authorization code
//! flow with PKCE, end to end, and the attacks on it each named after what
//! they would do. Checks of the ID token alone are in `oidc_tokens.rs`.

mod support;

use serde_json::{Value, json};
use support::oidc::{Browser, CLIENT_ID, CLIENT_SECRET, ID_NUMBER_CLAIM, OidcProvider};
use support::*;
use ymt_core::identity::{IdDocument, IdType};
use ymt_node::auth::Role;
use ymt_node::config::OidcConfig;

const ALICE_ID_NUMBER: &str = "44030519900101123X";
const BOB_ID_NUMBER: &str = "44030519850315456X";

fn accounts() -> Value {
    json!({
        "alice": {ID_NUMBER_CLAIM: ALICE_ID_NUMBER, "name": "张三"},
        "bob": {ID_NUMBER_CLAIM: BOB_ID_NUMBER, "name": "李四"},
        // Verified by the provider, but without the identity claim.
        "carol": {"name": "王五"},
    })
}

fn oidc_config(issuer: &str) -> OidcConfig {
    OidcConfig {
        issuer_url: issuer.to_owned(),
        client_id: CLIENT_ID.to_owned(),
        client_secret: CLIENT_SECRET.to_owned(),
        id_number_claim: ID_NUMBER_CLAIM.to_owned(),
        id_type: IdType::ResidentId,
    }
}

/// A node registered as a client of a fresh provider. The provider stamps
/// its tokens by its own clock, so the node's clock is moved to the same
/// instant (the test asserts no instant).
async fn start() -> (TestNode, OidcProvider) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free port");
    let node_base = format!("http://{}", listener.local_addr().expect("an address"));
    let provider = OidcProvider::start(&node_base, accounts()).await;
    let issuer = provider.issuer.clone();
    let node =
        TestNode::start_on(listener, |config| config.oidc = Some(oidc_config(&issuer))).await;
    let provider_now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    node.move_clock_to(instant_of_unix_secs(
        i64::try_from(provider_now).expect("in range"),
    ))
    .await;
    (node, provider)
}

fn pid_of(node: &TestNode, number: &str) -> String {
    node.state
        .person_id(&IdDocument::parse(IdType::ResidentId, number).expect("a valid number"))
        .as_str()
        .to_owned()
}

/// The session cookie a browser holds, as `name=value`.
fn session_of(browser: &Browser) -> Option<String> {
    browser
        .cookies
        .get("ymt_session")
        .map(|value| format!("ymt_session={value}"))
}

async fn signed_in_pid(node: &TestNode, browser: &Browser) -> Option<String> {
    let cookie = session_of(browser)?;
    let reply = node
        .send_with_cookie("GET", "/v1/session", &cookie, None)
        .await;
    let body = reply.json();
    body["signed_in"]
        .as_bool()
        .unwrap_or(false)
        .then(|| body["pid"].as_str().expect("a pid").to_owned())
}

fn query_parameter(url: &str, name: &str) -> String {
    reqwest::Url::parse(url)
        .expect("a URL")
        .query_pairs()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
        .unwrap_or_else(|| panic!("{url} has no {name}"))
}

fn assert_refused(page: &support::oidc::Page, reason_contains: &str) {
    assert_eq!(page.status, 401, "{}", page.body);
    assert!(
        page.body.contains(reason_contains),
        "the refusal should say `{reason_contains}`: {}",
        page.body
    );
    assert!(
        !page
            .set_cookies
            .iter()
            .any(|cookie| cookie.starts_with("ymt_session=")),
        "a refusal opens no session"
    );
}

#[tokio::test]
async fn a_citizen_signs_in_on_the_providers_login_page_and_gets_their_own_code() {
    let (node, provider) = start().await;
    let authority = node.add_principal("cdc-440305", Role::HealthAuthority, "440305");
    let (status, registered) = node
        .post_as(
            &authority,
            "/v1/persons",
            json!({"id_type": "resident_id", "id_number": ALICE_ID_NUMBER, "display_name": "张三", "region": "440305"}),
        )
        .await;
    assert_eq!(status, 200, "{registered}");
    let mut browser = Browser::new();
    let callback = browser.sign_in_at_provider(&node.base, "alice").await;
    let landed = browser.get(&callback).await;
    assert_eq!(landed.status, 303, "{}", landed.body);
    assert_eq!(
        landed.location.as_deref(),
        Some(format!("{}/", node.base).as_str())
    );
    let session_cookie = landed
        .set_cookies
        .iter()
        .find(|cookie| cookie.starts_with("ymt_session="))
        .expect("a session cookie");
    assert!(session_cookie.contains("HttpOnly") && session_cookie.contains("SameSite=Strict"));
    assert!(
        !browser.cookies.contains_key("ymt_oidc_state"),
        "the state is cleared"
    );
    // The pid is the node's HMAC of the asserted ID number.
    let alice = pid_of(&node, ALICE_ID_NUMBER);
    assert_eq!(registered["pid"], json!(alice));
    assert_eq!(signed_in_pid(&node, &browser).await, Some(alice.clone()));
    let code = node
        .send_with_cookie(
            "GET",
            &format!("/v1/persons/{alice}/code"),
            &session_of(&browser).expect("a session"),
            None,
        )
        .await;
    assert_eq!(code.status, 200, "{}", String::from_utf8_lossy(&code.bytes));
    node.close().await;
    provider.stop().await;
}

#[tokio::test]
async fn the_id_number_from_the_provider_is_never_stored_or_audited() {
    let (node, provider) = start().await;
    let auditor = node.add_principal("auditor-1", Role::Auditor, "nation");
    let mut browser = Browser::new();
    let callback = browser.sign_in_at_provider(&node.base, "alice").await;
    assert_eq!(browser.get(&callback).await.status, 303);
    let alice = pid_of(&node, ALICE_ID_NUMBER);
    let (status, audit) = node.get_as(&auditor, "/v1/audit?limit=1000").await;
    assert_eq!(status, 200, "{audit}");
    let audit_text = audit.to_string();
    assert!(
        audit_text.contains(&format!("citizen:{alice}")),
        "the sign-in is audited by pid"
    );
    assert!(
        !audit_text.contains(ALICE_ID_NUMBER),
        "the audit holds no ID number"
    );
    let data_dir = node.data_dir().to_owned();
    let stopped = node.stop().await;
    for entry in walk(&data_dir) {
        let bytes = std::fs::read(&entry).expect("readable");
        assert!(
            !bytes
                .windows(ALICE_ID_NUMBER.len())
                .any(|window| window == ALICE_ID_NUMBER.as_bytes()),
            "{} holds the ID number",
            entry.display()
        );
    }
    drop(stopped);
    provider.stop().await;
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("a directory").flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[tokio::test]
async fn a_replayed_callback_opens_no_second_session() {
    let (node, provider) = start().await;
    let mut browser = Browser::new();
    let callback = browser.sign_in_at_provider(&node.base, "alice").await;
    let state_cookie = browser
        .cookies
        .get("ymt_oidc_state")
        .cloned()
        .expect("a state");
    assert_eq!(browser.get(&callback).await.status, 303);
    // Replayed with the same code, state and state cookie (e.g. from the
    // browser history or a log).
    let mut replaying = Browser::new();
    replaying
        .cookies
        .insert("ymt_oidc_state".into(), state_cookie);
    assert_refused(&replaying.get(&callback).await, "already used");
    node.close().await;
    provider.stop().await;
}

#[tokio::test]
async fn an_intercepted_code_redeemed_in_another_sign_in_fails_without_its_pkce_verifier() {
    let (node, provider) = start().await;
    let mut victim = Browser::new();
    let victims_callback = victim.sign_in_at_provider(&node.base, "alice").await;
    let stolen_code = query_parameter(&victims_callback, "code");
    // The attacker starts a sign-in of their own (their state, their cookie,
    // their PKCE verifier at the node) and hands the node the stolen code.
    let mut attacker = Browser::new();
    let start = attacker
        .get(&format!("{}/v1/session/oidc/start", node.base))
        .await;
    let attackers_state = query_parameter(&start.location.expect("to the provider"), "state");
    let forged = format!(
        "{}/v1/session/oidc/callback?code={stolen_code}&state={attackers_state}",
        node.base
    );
    assert_refused(
        &attacker.get(&forged).await,
        "refused the authorization code",
    );
    assert_eq!(signed_in_pid(&node, &attacker).await, None);
    node.close().await;
    provider.stop().await;
}

#[tokio::test]
async fn a_code_without_a_pkce_verifier_is_refused_by_the_provider() {
    // The provider the node is registered with must require PKCE: a code
    // alone, with the client's own secret, buys no token.
    let (node, provider) = start().await;
    let mut victim = Browser::new();
    let callback = victim.sign_in_at_provider(&node.base, "alice").await;
    let code = query_parameter(&callback, "code");
    let answer = reqwest::Client::new()
        .post(format!("{}/token", provider.issuer))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            (
                "redirect_uri",
                &format!("{}/v1/session/oidc/callback", node.base),
            ),
        ])
        .send()
        .await
        .expect("an answer");
    assert_eq!(answer.status().as_u16(), 400);
    let body: Value = answer.json().await.expect("json");
    assert!(
        matches!(
            body["error"].as_str(),
            Some("invalid_grant" | "invalid_request")
        ),
        "{body}"
    );
    node.close().await;
    provider.stop().await;
}

#[tokio::test]
async fn a_callback_opened_in_another_browser_signs_nobody_in() {
    // Login CSRF: an attacker signs in at the provider, stops at the
    // redirect back and makes the victim's browser open it, so that the
    // victim would use the attacker's session.
    let (node, provider) = start().await;
    let mut attacker = Browser::new();
    let callback = attacker.sign_in_at_provider(&node.base, "bob").await;
    let mut victim = Browser::new();
    assert_refused(
        &victim.get(&callback).await,
        "did not start in this browser",
    );
    node.close().await;
    provider.stop().await;
}

#[tokio::test]
async fn a_sign_in_the_provider_denied_opens_no_session() {
    let (node, provider) = start().await;
    let mut browser = Browser::new();
    let start = browser
        .get(&format!("{}/v1/session/oidc/start", node.base))
        .await;
    let state = query_parameter(&start.location.expect("to the provider"), "state");
    let denied = format!(
        "{}/v1/session/oidc/callback?error=access_denied&state={state}",
        node.base
    );
    assert_refused(&browser.get(&denied).await, "access_denied");
    node.close().await;
    provider.stop().await;
}

#[tokio::test]
async fn an_account_without_the_id_number_claim_cannot_sign_in() {
    let (node, provider) = start().await;
    let mut browser = Browser::new();
    let callback = browser.sign_in_at_provider(&node.base, "carol").await;
    assert_refused(&browser.get(&callback).await, "no `id_number` claim");
    node.close().await;
    provider.stop().await;
}

#[tokio::test]
async fn tokens_signed_with_the_providers_new_key_are_accepted_after_a_rotation() {
    let (node, mut provider) = start().await;
    let mut alice = Browser::new();
    let callback = alice.sign_in_at_provider(&node.base, "alice").await;
    assert_eq!(alice.get(&callback).await.status, 303);
    provider.rotate_keys().await;
    let mut bob = Browser::new();
    let callback = bob.sign_in_at_provider(&node.base, "bob").await;
    let landed = bob.get(&callback).await;
    assert_eq!(landed.status, 303, "{}", landed.body);
    assert_eq!(
        signed_in_pid(&node, &bob).await,
        Some(pid_of(&node, BOB_ID_NUMBER))
    );
    node.close().await;
    provider.stop().await;
}

#[tokio::test]
async fn sessions_continue_while_the_provider_is_down() {
    let (node, provider) = start().await;
    let mut browser = Browser::new();
    let callback = browser.sign_in_at_provider(&node.base, "alice").await;
    assert_eq!(browser.get(&callback).await.status, 303);
    provider.stop().await;
    assert_eq!(
        signed_in_pid(&node, &browser).await,
        Some(pid_of(&node, ALICE_ID_NUMBER))
    );
    node.close().await;
}

#[tokio::test]
async fn sign_in_says_the_provider_is_unreachable_rather_than_failing_silently() {
    // An issuer nobody listens on (the port was free a moment ago).
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let issuer = format!("http://{}", closed.local_addr().expect("an address"));
    drop(closed);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free port");
    let node =
        TestNode::start_on(listener, |config| config.oidc = Some(oidc_config(&issuer))).await;
    let reply = node.get("/v1/session/oidc/start", None).await;
    assert_eq!(reply.status, 503);
    let body = reply.json();
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|detail| detail.contains("cannot be reached")),
        "{body}"
    );
    node.close().await;
}

#[tokio::test]
async fn without_an_issuer_the_provider_sign_in_is_not_served() {
    let node = TestNode::start().await;
    assert_eq!(node.get("/v1/session/oidc/start", None).await.status, 404);
    assert_eq!(
        node.get("/v1/session/oidc/callback?state=x&code=y", None)
            .await
            .status,
        404
    );
    node.close().await;
}
