//! A signing key is compromised (issue 12, item 8): revoking it is a
//! four-eyes action; once approved, the node signs with a new key, every
//! code is re-issued under it at its next fetch, the trust list marks the
//! old key revoked, and verifiers refuse its codes once they refresh —
//! including a verifier that was offline and comes back online. A verifier
//! offline for too long passes nothing, and a replayed older list cannot
//! bring the key back.

mod support;

use serde_json::{Value, json};
use support::TestNode;
use ymt_node::auth::Role;
use ymt_token::trust::TRUST_LIST_AGE_SECS_MAX_DEFAULT;
use ymt_token::{SignedTrustList, TokenError, TrustListCache};

async fn register(node: &TestNode, admin: &str, number: &str) -> String {
    let (status, body) = node
        .post_as(
            admin,
            "/v1/persons",
            json!({"id_type": "passport", "id_number": number, "display_name": "李四", "region": "440305"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["pid"].as_str().unwrap().to_owned()
}

async fn fetch_trust_list(node: &TestNode) -> SignedTrustList {
    let reply = node.get("/v1/trust-list", None).await;
    assert_eq!(reply.status, 200);
    SignedTrustList::from_json(&reply.text()).expect("a signed trust list")
}

async fn code(node: &TestNode, key: &str, pid: &str) -> String {
    let (status, body) = node.get_as(key, &format!("/v1/persons/{pid}/code")).await;
    assert_eq!(status, 200, "{body}");
    body["token"].as_str().unwrap().to_owned()
}

fn kid_of(token: &str) -> String {
    ymt_token::inspect(token).expect("a code").0.to_hex()
}

async fn node_verdict(node: &TestNode, token: &str) -> Value {
    let (status, report) = node
        .post("/v1/verify/token", None, &json!({"token": token}))
        .await
        .status_and_json();
    assert_eq!(status, 200);
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stolen_signing_key_is_refused_everywhere_once_revoked_by_two_admins() {
    let node = TestNode::start().await;
    let admin = node.add_principal("admin", Role::NationalAdmin, "nation");
    let second = node.add_principal("admin-2", Role::NationalAdmin, "nation");
    let authority = node.add_principal("cdc-440305", Role::HealthAuthority, "440305");
    let pid = register(&node, &admin, "E30000001").await;

    // A verifier device pins the trust-list signer on its first fetch.
    let first_list = fetch_trust_list(&node).await;
    let anchor = first_list.signer.verifying_key().unwrap();
    let mut online = TrustListCache::new(anchor.clone());
    let mut offline = TrustListCache::new(anchor);
    online.refresh(&first_list, node.now()).unwrap();
    offline.refresh(&first_list, node.now()).unwrap();

    let stolen_code = code(&node, &admin, &pid).await;
    let stolen_kid = kid_of(&stolen_code);
    assert!(online.verify(&stolen_code, node.now()).valid);

    // Only a national admin may propose, and the proposal is always held.
    let body = json!({"kid": stolen_kid, "reason": "the key was found on a public server"});
    let (status, _) = node
        .post_as(&authority, "/v1/keys:revoke", body.clone())
        .await;
    assert_eq!(status, 403);
    let (status, proposed) = node.post_as(&admin, "/v1/keys:revoke", body.clone()).await;
    assert_eq!(status, 202, "{proposed}");
    let pending_id = proposed["pending"]["id"].as_str().unwrap().to_owned();
    assert_eq!(pending_id, format!("key_revocation.{stolen_kid}"));
    let (status, _) = node.post_as(&admin, "/v1/keys:revoke", body.clone()).await;
    assert_eq!(status, 409, "one proposal per key");
    // Held: nothing changed yet.
    assert_eq!(node_verdict(&node, &stolen_code).await["valid"], true);
    let (status, _) = node
        .post_as(
            &admin,
            &format!("/v1/pending/{pending_id}:approve"),
            json!({}),
        )
        .await;
    assert_eq!(status, 403, "the proposer cannot approve alone");
    assert_eq!(node_verdict(&node, &stolen_code).await["valid"], true);

    let (status, decided) = node
        .post_as(
            &second,
            &format!("/v1/pending/{pending_id}:approve"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{decided}");

    // The node refuses the stolen key's codes at once.
    let report = node_verdict(&node, &stolen_code).await;
    assert_eq!(report["valid"], false);
    assert_eq!(report["error"]["code"], "key_revoked", "{report}");
    // A second proposal for a revoked key is refused.
    let (status, _) = node.post_as(&admin, "/v1/keys:revoke", body).await;
    assert_eq!(status, 409);

    // The code is re-issued under a new key at the next fetch.
    let fresh_code = code(&node, &admin, &pid).await;
    assert_ne!(kid_of(&fresh_code), stolen_kid);
    assert_eq!(node_verdict(&node, &fresh_code).await["valid"], true);

    // The offline device still holds the old list: until it is back online
    // it cannot know (the window a revocation leaves, bounded below) ...
    assert!(offline.verify(&stolen_code, node.now()).valid);
    assert!(
        !offline.verify(&fresh_code, node.now()).valid,
        "the new key is unknown to it"
    );

    // The online device refreshes on its interval and refuses the key then.
    node.advance_clock_secs(online.refresh_interval_secs())
        .await;
    assert!(online.needs_refresh(node.now()));
    let revoked_list = fetch_trust_list(&node).await;
    // (the code of a minute ago has expired meanwhile; its holder refetches)
    let fresh_code = code(&node, &admin, &pid).await;
    assert_ne!(kid_of(&fresh_code), stolen_kid);
    online.refresh(&revoked_list, node.now()).unwrap();
    assert!(matches!(
        online.verify(&stolen_code, node.now()).error,
        Some(TokenError::KeyRevoked { .. })
    ));
    assert!(online.verify(&fresh_code, node.now()).valid);

    // Back online, one refresh brings the revocation.
    offline.refresh(&revoked_list, node.now()).unwrap();
    assert!(matches!(
        offline.verify(&stolen_code, node.now()).error,
        Some(TokenError::KeyRevoked { .. })
    ));
    assert!(offline.verify(&fresh_code, node.now()).valid);
    // A replayed list from before the revocation cannot bring the key back.
    assert!(offline.refresh(&first_list, node.now()).is_err());
    assert!(!offline.verify(&stolen_code, node.now()).valid);

    // After a restart the revocation holds and the new key signs.
    let node = node.restart().await;
    let report = node_verdict(&node, &stolen_code).await;
    assert_eq!(report["error"]["code"], "key_revoked", "{report}");
    let after_restart = code(&node, &admin, &pid).await;
    assert_ne!(kid_of(&after_restart), stolen_kid);
    let list_after_restart = fetch_trust_list(&node).await;
    online.refresh(&list_after_restart, node.now()).unwrap();
    assert!(online.verify(&after_restart, node.now()).valid);
    assert!(!online.verify(&stolen_code, node.now()).valid);
    node.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verifier_that_cannot_refresh_for_a_day_passes_no_code() {
    let node = TestNode::start().await;
    let admin = node.add_principal("admin", Role::NationalAdmin, "nation");
    let pid = register(&node, &admin, "E30000002").await;
    let list = fetch_trust_list(&node).await;
    let mut device = TrustListCache::new(list.signer.verifying_key().unwrap());
    device.refresh(&list, node.now()).unwrap();
    node.advance_clock_secs(TRUST_LIST_AGE_SECS_MAX_DEFAULT + 1)
        .await;
    let token = code(&node, &admin, &pid).await;
    assert!(
        node_verdict(&node, &token).await["valid"] == true,
        "the node itself verifies it"
    );
    let report = device.verify(&token, node.now());
    assert!(matches!(
        report.error,
        Some(TokenError::TrustListStale { .. })
    ));
    node.close().await;
}
