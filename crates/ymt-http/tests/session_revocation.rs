//! Sessions end when they must: a person signing out everywhere (a lost
//! phone), an authority ending a person's sessions. Each test is named after
//! what it prevents. (Staff sessions: oidc_staff_sign_in.rs.)

mod support;

use serde_json::json;
use support::*;
use ymt_node::auth::Role;

const ONE_TIME_CODE: &str = "135790";

async fn start() -> (TestNode, String, String) {
    let node = TestNode::start().await;
    node.enable_citizen_sign_in_with_one_time_code(ONE_TIME_CODE);
    let (authority, pid) = register_the_person(&node).await;
    (node, authority, pid)
}

/// Registers the tables' person on `node` as its health authority; the
/// authority's key and the person's pid.
async fn register_the_person(node: &TestNode) -> (String, String) {
    let authority = node.add_principal("cdc-440305", Role::HealthAuthority, "440305");
    let (status, body) = node
        .post_as(
            &authority,
            "/v1/persons",
            json!({"id_type": "passport", "id_number": "E20000001", "display_name": "张三", "region": "440305"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let pid = body["pid"].as_str().expect("a pid").to_owned();
    (authority, pid)
}

async fn signed_in_device(node: &TestNode) -> String {
    node.sign_in_citizen("passport", "E20000001", ONE_TIME_CODE)
        .await
        .session_cookie()
        .expect("a session cookie")
}

async fn signed_in(node: &TestNode, cookie: &str) -> bool {
    node.send_with_cookie("GET", "/v1/session", cookie, None)
        .await
        .json()["signed_in"]
        == json!(true)
}

#[tokio::test]
async fn signing_out_everywhere_ends_the_session_on_a_lost_phone() {
    let (node, _, _) = start().await;
    let phone = signed_in_device(&node).await;
    let laptop = signed_in_device(&node).await;
    let reply = node
        .send_with_cookie("DELETE", "/v1/session?everywhere=true", &laptop, None)
        .await;
    assert_eq!(reply.status, 204);
    assert!(!signed_in(&node, &phone).await, "the phone is signed out");
    assert!(!signed_in(&node, &laptop).await);
    node.close().await;
}

#[tokio::test]
async fn signing_out_on_one_device_keeps_the_others() {
    let (node, _, _) = start().await;
    let phone = signed_in_device(&node).await;
    let laptop = signed_in_device(&node).await;
    let reply = node
        .send_with_cookie("DELETE", "/v1/session", &laptop, None)
        .await;
    assert_eq!(reply.status, 204);
    assert!(signed_in(&node, &phone).await);
    assert!(!signed_in(&node, &laptop).await);
    node.close().await;
}

#[tokio::test]
async fn an_authority_ends_a_persons_sessions_at_once_and_only_in_its_jurisdiction() {
    let (node, authority, pid) = start().await;
    let elsewhere = node.add_principal("cdc-110105", Role::HealthAuthority, "110105");
    let phone = signed_in_device(&node).await;
    let path = format!("/v1/persons/{pid}/sessions:revoke");
    let (status, body) = node.post_as(&elsewhere, &path, json!(null)).await;
    assert_eq!(status, 403, "{body}");
    assert!(signed_in(&node, &phone).await, "nothing ended by a refusal");
    let (status, body) = node.post_as(&authority, &path, json!(null)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["sessions_ended"], 1);
    assert!(!signed_in(&node, &phone).await);
    node.close().await;
}

/// A second node of the same platform (the test kit's nodes share one
/// pseudonymisation secret, as a cluster's do), knowing the person.
async fn another_node_of_the_platform(
    edit_config: impl FnOnce(&mut ymt_node::config::ServerConfig),
) -> TestNode {
    let other = TestNode::start_with_config(edit_config).await;
    register_the_person(&other).await;
    other
}

#[tokio::test]
async fn a_citizen_whose_node_fails_is_still_signed_in_on_another_node_of_the_platform() {
    let (node, _, pid) = start().await;
    let phone = signed_in_device(&node).await;
    let other = another_node_of_the_platform(|_| {}).await;
    let reply = other
        .send_with_cookie("GET", "/v1/session", &phone, None)
        .await;
    assert_eq!(reply.json()["signed_in"], json!(true), "{}", reply.json());
    assert_eq!(reply.json()["pid"], json!(pid));
    // A node of another platform (another secret) honours none of it.
    let foreign = another_node_of_the_platform(|config| {
        config.pseudonym_secret_hex = Some("22".repeat(32));
    })
    .await;
    assert!(!signed_in(&foreign, &phone).await);
    node.close().await;
    other.close().await;
    foreign.close().await;
}

#[tokio::test]
async fn a_citizen_cannot_become_another_person_by_editing_the_cookie() {
    let (node, authority, _) = start().await;
    let (status, victim) = node
        .post_as(
            &authority,
            "/v1/persons",
            json!({"id_type": "passport", "id_number": "E20000009", "display_name": "李四", "region": "440305"}),
        )
        .await;
    assert_eq!(status, 200, "{victim}");
    let victim_pid = victim["pid"].as_str().expect("a pid");
    let own = signed_in_device(&node).await;
    let parts: Vec<&str> = own.split('~').collect();
    assert_eq!(parts.len(), 5, "{own}");
    let edited = [
        // The victim's pid in place of one's own.
        format!(
            "{}~{}~{}~{victim_pid}~{}",
            parts[0], parts[1], parts[2], parts[4]
        ),
        // Opened later, to outlive the session's 8 hours.
        format!(
            "{}~{}~{}~{}~{}",
            parts[0], "9999999999", parts[2], parts[3], parts[4]
        ),
    ];
    for cookie in &edited {
        assert!(!signed_in(&node, cookie).await, "{cookie}");
        let reply = node
            .send_with_cookie(
                "GET",
                &format!("/v1/persons/{victim_pid}/code"),
                cookie,
                None,
            )
            .await;
        assert_eq!(reply.status, 401, "{cookie}: {}", reply.json());
    }
    node.close().await;
}

#[tokio::test]
async fn a_signed_out_session_stays_ended_across_a_restart() {
    let (node, _, _) = start().await;
    let phone = signed_in_device(&node).await;
    let laptop = signed_in_device(&node).await;
    // A restart signs nobody out: the token verifies, the node need not
    // remember it.
    let node = node.restart().await;
    assert!(signed_in(&node, &phone).await);
    let reply = node
        .send_with_cookie("DELETE", "/v1/session", &laptop, None)
        .await;
    assert_eq!(reply.status, 204);
    // The sign-out is a durable record: it outlives the restart ...
    let node = node.restart().await;
    assert!(!signed_in(&node, &laptop).await);
    assert!(signed_in(&node, &phone).await, "only that session ended");
    // ... and is audited with the person as author.
    let admin = node.add_principal("admin", Role::NationalAdmin, "nation");
    let (status, audit) = node.get_as(&admin, "/v1/audit?limit=1000").await;
    assert_eq!(status, 200, "{audit}");
    assert!(
        audit["records"]
            .as_array()
            .expect("records")
            .iter()
            .any(|record| record["action"] == json!("person.sign_out")),
        "{audit}"
    );
    node.close().await;
}
