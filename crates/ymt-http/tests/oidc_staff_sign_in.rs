//! Staff sign in to the console through a real OpenID provider
//! (`oidc-provider` on loopback, support/oidc.rs): their role and
//! jurisdiction come from the principal registry, matched by the provider's
//! subject, never from a claim; sessions are short, browser-bound and
//! revocable. Each test is named after what it prevents.

mod support;

use serde_json::{Value, json};
use support::oidc::{Browser, CLIENT_ID, CLIENT_SECRET, ID_NUMBER_CLAIM, OidcProvider};
use support::*;
use ymt_core::identity::IdType;
use ymt_node::auth::{KeyLifecycle, Principal, Role, key_sha256, new_api_key};
use ymt_node::config::OidcConfig;

fn accounts() -> Value {
    json!({
        "dr-wang": {"name": "王医生"},
        // A claim saying "national admin" is only a claim.
        "dr-li": {"name": "李医生", "role": "national_admin", "jurisdiction": "nation"},
        "mallory": {"name": "Mallory"},
    })
}

async fn start() -> (TestNode, OidcProvider) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free port");
    let node_base = format!("http://{}", listener.local_addr().expect("an address"));
    let provider = OidcProvider::start(&node_base, accounts()).await;
    let issuer = provider.issuer.clone();
    let node = TestNode::start_on(listener, |config| {
        config.oidc = Some(OidcConfig {
            issuer_url: issuer,
            client_id: CLIENT_ID.to_owned(),
            client_secret: CLIENT_SECRET.to_owned(),
            id_number_claim: ID_NUMBER_CLAIM.to_owned(),
            id_type: IdType::ResidentId,
        });
    })
    .await;
    let provider_now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    node.move_clock_to(instant_of_unix_secs(
        i64::try_from(provider_now).expect("in range"),
    ))
    .await;
    for (id, subject) in [("cdc-wang", "dr-wang"), ("cdc-li", "dr-li")] {
        node.state
            .add_principal(Principal {
                id: id.into(),
                role: Role::HealthAuthority,
                jurisdiction: "440305".parse().expect("a region"),
                display_name: id.into(),
                key_sha256: key_sha256(&new_api_key(id)),
                disabled: false,
                created_by: String::new(),
                keys: KeyLifecycle::default(),
                key_in_use: None,
                oidc_subject: Some(subject.into()),
            })
            .expect("stored");
    }
    (node, provider)
}

async fn console_signed_in(node: &TestNode, login: &str) -> Browser {
    let mut browser = Browser::new();
    let callback = browser
        .sign_in_to_console_at_provider(&node.base, login)
        .await;
    let landed = browser.get(&callback).await;
    assert_eq!(landed.status, 303, "{}", landed.body);
    assert_eq!(
        landed.location.as_deref(),
        Some(format!("{}/console", node.base).as_str())
    );
    let cookie = landed
        .set_cookies
        .iter()
        .find(|cookie| cookie.starts_with("ymt_staff_session="))
        .expect("a staff session cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    browser
}

fn risk_area(node: &TestNode, id: &str, region: &str) -> Value {
    json!({"id": id, "level": "high", "region": region,
           "from": node.now().plus_secs(-3600), "until": node.now().plus_secs(3600),
           "reason": "cluster"})
}

async fn console_session(node: &TestNode, browser: &mut Browser) -> Value {
    let page = browser
        .get(&format!("{}/v1/console/session", node.base))
        .await;
    serde_json::from_str(&page.body).expect("json")
}

#[tokio::test]
async fn a_health_authority_signs_in_through_the_provider_and_acts_only_in_its_jurisdiction() {
    let (node, provider) = start().await;
    let mut browser = console_signed_in(&node, "dr-wang").await;
    let session = console_session(&node, &mut browser).await;
    assert_eq!(session["id"], "cdc-wang", "{session}");
    assert_eq!(session["role"], "health_authority");
    let inside = browser
        .send_json(
            "POST",
            &format!("{}/v1/risk-areas", node.base),
            Some(&risk_area(&node, "ra-1", "440305001001")),
            &node.base,
        )
        .await;
    assert_eq!(inside.status, 200, "{}", inside.body);
    let outside = browser
        .send_json(
            "POST",
            &format!("{}/v1/risk-areas", node.base),
            Some(&risk_area(&node, "ra-2", "110105001001")),
            &node.base,
        )
        .await;
    assert_eq!(outside.status, 403, "{}", outside.body);
    node.close().await;
    provider.stop().await;
}

#[tokio::test]
async fn a_provider_subject_not_in_the_registry_gets_no_console_session() {
    let (node, provider) = start().await;
    let mut browser = Browser::new();
    let callback = browser
        .sign_in_to_console_at_provider(&node.base, "mallory")
        .await;
    let refused = browser.get(&callback).await;
    assert_eq!(refused.status, 401, "{}", refused.body);
    assert!(
        refused.body.contains("not registered as staff"),
        "{}",
        refused.body
    );
    assert!(!browser.cookies.contains_key("ymt_staff_session"));
    assert_eq!(
        console_session(&node, &mut browser).await["signed_in"],
        false
    );
    node.close().await;
    provider.stop().await;
}

#[tokio::test]
async fn a_role_claim_from_the_provider_does_not_make_a_national_admin() {
    let (node, provider) = start().await;
    let mut browser = console_signed_in(&node, "dr-li").await;
    assert_eq!(
        console_session(&node, &mut browser).await["role"],
        "health_authority"
    );
    let outside = browser
        .send_json(
            "POST",
            &format!("{}/v1/risk-areas", node.base),
            Some(&risk_area(&node, "ra-3", "110105001001")),
            &node.base,
        )
        .await;
    assert_eq!(outside.status, 403, "{}", outside.body);
    node.close().await;
    provider.stop().await;
}

#[tokio::test]
async fn another_site_cannot_use_a_console_session() {
    let (node, provider) = start().await;
    let mut browser = console_signed_in(&node, "dr-wang").await;
    let forged = browser
        .send_json(
            "POST",
            &format!("{}/v1/risk-areas", node.base),
            Some(&risk_area(&node, "ra-4", "440305001001")),
            "https://evil.example",
        )
        .await;
    assert_eq!(forged.status, 403, "{}", forged.body);
    node.close().await;
    provider.stop().await;
}

#[tokio::test]
async fn revoking_a_staff_members_keys_ends_their_console_sessions_at_once() {
    let (node, provider) = start().await;
    let admin = node.add_principal("admin-1", Role::NationalAdmin, "nation");
    let mut browser = console_signed_in(&node, "dr-wang").await;
    let (status, body) = node
        .post_as(
            &admin,
            "/v1/admin/principals/cdc-wang/keys:revoke",
            json!(null),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        console_session(&node, &mut browser).await["signed_in"],
        false
    );
    let after = browser
        .send_json(
            "POST",
            &format!("{}/v1/risk-areas", node.base),
            Some(&risk_area(&node, "ra-5", "440305001001")),
            &node.base,
        )
        .await;
    assert_eq!(after.status, 401, "{}", after.body);
    node.close().await;
    provider.stop().await;
}

#[tokio::test]
async fn signing_out_of_the_console_ends_the_session_here_and_at_the_provider() {
    let (node, provider) = start().await;
    let mut browser = console_signed_in(&node, "dr-wang").await;
    let out = browser
        .send_json(
            "DELETE",
            &format!("{}/v1/console/session", node.base),
            None,
            &node.base,
        )
        .await;
    assert_eq!(out.status, 200, "{}", out.body);
    let body: Value = serde_json::from_str(&out.body).expect("json");
    let logout = body["logout_url"].as_str().expect("a logout URL");
    assert!(logout.starts_with(&provider.issuer), "{logout}");
    assert!(logout.contains("id_token_hint="), "{logout}");
    assert!(logout.contains("post_logout_redirect_uri="), "{logout}");
    assert_eq!(
        console_session(&node, &mut browser).await["signed_in"],
        false
    );
    node.close().await;
    provider.stop().await;
}

#[tokio::test]
async fn signing_out_of_the_console_everywhere_ends_the_other_browsers_sessions() {
    let (node, provider) = start().await;
    let mut office = console_signed_in(&node, "dr-wang").await;
    let mut home = console_signed_in(&node, "dr-wang").await;
    let out = home
        .send_json(
            "DELETE",
            &format!("{}/v1/console/session?everywhere=true", node.base),
            None,
            &node.base,
        )
        .await;
    assert_eq!(out.status, 200, "{}", out.body);
    assert_eq!(
        console_session(&node, &mut office).await["signed_in"],
        false
    );
    assert_eq!(console_session(&node, &mut home).await["signed_in"], false);
    node.close().await;
    provider.stop().await;
}
