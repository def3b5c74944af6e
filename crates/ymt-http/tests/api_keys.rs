//! Machines' API keys expire, rotate with a grace period and can be revoked
//! at once; a refused key is told why (401), and every use is audited with
//! the key's id. Each test is named after what it prevents.

mod support;

use serde_json::{Value, json};
use support::*;
use ymt_node::auth::{Role, key_id, key_sha256, new_api_key};
use ymt_node::record::Author;
use ymt_store::AuditFilter;

const HOUR_SECS: i64 = 3600;

/// A request every authority may make: listing the rule sets.
async fn status_with(node: &TestNode, key: &str) -> (u16, Value) {
    node.get_as(key, "/v1/rule-sets").await
}

fn assert_refused_because(reply: (u16, Value), reason: &str) {
    let (status, body) = reply;
    assert_eq!(status, 401, "{body}");
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(detail.contains(reason), "`{detail}` should say `{reason}`");
}

/// A health authority whose key expires `ttl_secs` from now.
fn authority_with_expiring_key(node: &TestNode, id: &str, ttl_secs: i64) -> String {
    node.add_principal(id, Role::HealthAuthority, "440305");
    let key = new_api_key(id);
    node.state
        .rotate_principal_key(&Author::operator(), id, &key, ttl_secs, 0)
        .expect("rotated");
    key
}

#[tokio::test]
async fn an_expired_key_stops_working_and_says_when_it_expired() {
    let node = TestNode::start().await;
    let key = authority_with_expiring_key(&node, "cdc-1", 24 * HOUR_SECS);
    assert_eq!(status_with(&node, &key).await.0, 200);
    node.advance_clock_secs(24 * HOUR_SECS - 1).await;
    assert_eq!(
        status_with(&node, &key).await.0,
        200,
        "valid to the last second"
    );
    node.advance_clock_secs(1).await;
    assert_refused_because(status_with(&node, &key).await, "expired at");
    node.close().await;
}

#[tokio::test]
async fn a_rotated_key_works_through_its_grace_period_and_then_stops() {
    let node = TestNode::start().await;
    let old_key = node.add_principal("cdc-1", Role::HealthAuthority, "440305");
    let new_key = new_api_key("cdc-1");
    node.state
        .rotate_principal_key(
            &Author::operator(),
            "cdc-1",
            &new_key,
            90 * 24 * HOUR_SECS,
            HOUR_SECS,
        )
        .expect("rotated");
    assert_eq!(
        status_with(&node, &old_key).await.0,
        200,
        "in the grace period"
    );
    assert_eq!(status_with(&node, &new_key).await.0, 200);
    node.advance_clock_secs(HOUR_SECS - 1).await;
    assert_eq!(
        status_with(&node, &old_key).await.0,
        200,
        "to its last second"
    );
    node.advance_clock_secs(1).await;
    assert_refused_because(status_with(&node, &old_key).await, "grace period ended");
    assert_eq!(
        status_with(&node, &new_key).await.0,
        200,
        "the new key goes on"
    );
    node.close().await;
}

#[tokio::test]
async fn a_rotation_and_its_grace_period_survive_a_restart() {
    let node = TestNode::start().await;
    let old_key = node.add_principal("cdc-1", Role::HealthAuthority, "440305");
    let new_key = new_api_key("cdc-1");
    node.state
        .rotate_principal_key(
            &Author::operator(),
            "cdc-1",
            &new_key,
            90 * 24 * HOUR_SECS,
            HOUR_SECS,
        )
        .expect("rotated");
    let node = node.restart().await;
    assert_eq!(status_with(&node, &old_key).await.0, 200);
    assert_eq!(status_with(&node, &new_key).await.0, 200);
    node.advance_clock_secs(HOUR_SECS).await;
    assert_refused_because(status_with(&node, &old_key).await, "grace period ended");
    node.close().await;
}

#[tokio::test]
async fn a_stolen_key_is_revoked_at_once_and_its_use_says_so() {
    let node = TestNode::start().await;
    let admin = node.add_principal("admin-1", Role::NationalAdmin, "nation");
    let stolen = node.add_principal("cdc-1", Role::HealthAuthority, "440305");
    assert_eq!(status_with(&node, &stolen).await.0, 200);
    let (status, body) = node
        .post_as(
            &admin,
            "/v1/admin/principals/cdc-1/keys:revoke",
            json!(null),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["revoked_key_ids"],
        json!([key_id(&key_sha256(&stolen))])
    );
    assert_refused_because(status_with(&node, &stolen).await, "revoked at");
    node.close().await;
}

#[tokio::test]
async fn revoking_ends_a_key_still_in_its_grace_period_too() {
    // A key stolen just before a rotation must not live on through the
    // grace period once the theft is known.
    let node = TestNode::start().await;
    let stolen = node.add_principal("cdc-1", Role::HealthAuthority, "440305");
    let new_key = new_api_key("cdc-1");
    node.state
        .rotate_principal_key(
            &Author::operator(),
            "cdc-1",
            &new_key,
            90 * 24 * HOUR_SECS,
            24 * HOUR_SECS,
        )
        .expect("rotated");
    node.state
        .revoke_principal_keys(&Author::operator(), "cdc-1")
        .expect("revoked");
    assert_refused_because(status_with(&node, &stolen).await, "revoked at");
    assert_refused_because(status_with(&node, &new_key).await, "revoked at");
    node.close().await;
}

#[tokio::test]
async fn only_a_national_admin_revokes_keys() {
    let node = TestNode::start().await;
    let authority = node.add_principal("cdc-1", Role::HealthAuthority, "440305");
    let lab_key = node.add_principal("lab-1", Role::Lab, "440305");
    let (status, _) = node
        .post_as(
            &authority,
            "/v1/admin/principals/lab-1/keys:revoke",
            json!(null),
        )
        .await;
    assert_eq!(status, 403);
    let (status, _) = node
        .post_as(
            &lab_key,
            "/v1/admin/principals/cdc-1/keys:revoke",
            json!(null),
        )
        .await;
    assert_eq!(status, 403);
    assert_eq!(
        status_with(&node, &authority).await.0,
        200,
        "nothing revoked"
    );
    node.close().await;
}

#[tokio::test]
async fn every_use_of_a_key_is_audited_with_the_keys_id() {
    // Two keys of one principal in use at once (a rotation's grace period):
    // the audit log tells which one did what.
    let node = TestNode::start().await;
    let old_key = node.add_principal("cdc-1", Role::HealthAuthority, "440305");
    let new_key = new_api_key("cdc-1");
    node.state
        .rotate_principal_key(
            &Author::operator(),
            "cdc-1",
            &new_key,
            90 * 24 * HOUR_SECS,
            HOUR_SECS,
        )
        .expect("rotated");
    for (key, number) in [(&old_key, "E10000001"), (&new_key, "E10000002")] {
        let (status, body) = node
            .post_as(
                key,
                "/v1/persons",
                json!({"id_type": "passport", "id_number": number, "display_name": "张三", "region": "440305"}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let filter = AuditFilter {
        principal: Some("cdc-1".into()),
        ..AuditFilter::default()
    };
    let details: Vec<String> = node
        .state
        .store
        .audit_list(&filter, 1000)
        .expect("the audit log reads")
        .into_iter()
        .filter(|record| record.action.starts_with("person"))
        .map(|record| record.detail)
        .collect();
    assert_eq!(details.len(), 2, "{details:?}");
    assert!(
        details[0].contains(&format!("key {}", key_id(&key_sha256(&old_key)))),
        "{details:?}"
    );
    assert!(
        details[1].contains(&format!("key {}", key_id(&key_sha256(&new_key)))),
        "{details:?}"
    );
    node.close().await;
}

#[tokio::test]
async fn an_unknown_key_is_told_nothing_about_the_principal() {
    let node = TestNode::start().await;
    node.add_principal("cdc-1", Role::HealthAuthority, "440305");
    assert_refused_because(
        status_with(&node, "ymt_cdc-1.00112233").await,
        "unknown API key",
    );
    node.close().await;
}
