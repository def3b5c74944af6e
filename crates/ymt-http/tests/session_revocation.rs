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
    let authority = node.add_principal("cdc-440305", Role::HealthAuthority, "440305");
    node.enable_citizen_sign_in_with_one_time_code(ONE_TIME_CODE);
    let (status, body) = node
        .post_as(
            &authority,
            "/v1/persons",
            json!({"id_type": "passport", "id_number": "E20000001", "display_name": "张三", "region": "440305"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let pid = body["pid"].as_str().expect("a pid").to_owned();
    (node, authority, pid)
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
