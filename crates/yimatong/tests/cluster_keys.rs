//! Code-signing keys and the services' held rule sets in a cluster (issue
//! 11): a revocation approved through one node is enforced by every node,
//! and each node's new key is trusted everywhere; a service's held rule set
//! is decided once for every node. Three NATS servers and three `yimatong
//! serve --nats` nodes as processes (tests/support/cluster.rs); without
//! `nats-server` each test prints one skip line.

mod support;

use serde_json::{Value, json};
use support::cluster::{TestCluster, nats_or_skip, wait_same_everywhere};
use support::commands::*;
use support::runtime;

// ---------------------------------------------------------------------
// Code-signing keys (helpers prefixed `key_`).
// ---------------------------------------------------------------------

/// The trust list node `base` serves: each kid listed and whether it is
/// marked revoked.
async fn key_trust_list(
    client: &reqwest::Client,
    base: &str,
) -> std::collections::BTreeMap<String, bool> {
    let text = client
        .get(format!("{base}/v1/trust-list"))
        .send()
        .await
        .expect("the node answers")
        .text()
        .await
        .expect("a body");
    let signed = ymt_token::SignedTrustList::from_json(&text).expect("a signed trust list");
    let list = signed.verify_with_embedded_signer().expect("a valid list");
    list.entries()
        .iter()
        .map(|entry| (entry.kid.to_hex(), entry.revoked_at.is_some()))
        .collect()
}

/// The person's code from node `base` and the kid that signed it.
async fn key_code(client: &reqwest::Client, base: &str, key: &str, pid: &str) -> (String, String) {
    let (status, code) = person_get(client, base, key, &format!("/v1/persons/{pid}/code")).await;
    assert_eq!(status, 200, "{code}");
    let token = code["token"].as_str().expect("a token").to_owned();
    let kid = ymt_token::inspect(&token).expect("a code").0.to_hex();
    (token, kid)
}

/// A key revoked through one node (proposed there, approved by a second
/// national admin on another) is marked revoked in the trust list every
/// node serves, and refused by every node; each node signs with a key of
/// its own from then on, and a code any node signs verifies on every other
/// node. A national admin alone cannot revoke, on any node.
#[test]
fn a_key_revoked_through_one_node_is_revoked_in_every_nodes_trust_list_and_new_codes_verify_anywhere()
 {
    let Some(nats) = nats_or_skip("key revocation in a cluster") else {
        return;
    };
    runtime().block_on(async {
        let cluster = TestCluster::start(&nats, PERSON_ACK_TIMEOUT_MS).await;
        let client = reqwest::Client::new();
        let (status, registered) =
            person_register(&client, &cluster, &cluster.bases[0], "E50000001", json!({})).await;
        assert_eq!(status, 200, "{registered}");
        let pid = registered["pid"].as_str().expect("a pid").to_owned();
        let (stolen_code, stolen_kid) =
            key_code(&client, &cluster.bases[0], &cluster.admin_key, &pid).await;
        let body = json!({"kid": stolen_kid, "reason": "found on a public server"});
        let (status, proposed) = person_post(
            &client,
            &cluster.bases[0],
            &cluster.admin_key,
            "/v1/keys:revoke",
            &body,
        )
        .await;
        assert_eq!(status, 202, "{proposed}");
        let pending = proposed["pending"]["id"]
            .as_str()
            .expect("an id")
            .to_owned();
        let approve = format!("/v1/pending/{pending}:approve");
        for base in &cluster.bases {
            // The proposal reaches every node; its proposer cannot approve
            // it on any of them.
            person_wait_for(&format!("{base} holds the proposal"), || async {
                let (status, _) =
                    person_post(&client, base, &cluster.admin_key, &approve, &json!({})).await;
                assert_ne!(status, 200, "the proposer approved alone on {base}");
                (status == 403).then_some(())
            })
            .await;
            assert_eq!(
                key_trust_list(&client, base).await.get(&stolen_kid),
                Some(&false)
            );
        }
        let (status, decided) = person_post(
            &client,
            &cluster.bases[1],
            &cluster.other_admin_keys[0],
            &approve,
            &json!({}),
        )
        .await;
        assert_eq!(status, 200, "{decided}");
        // Every node marks it revoked, signs with a key of its own, and
        // lists every node's new key.
        let mut new_codes = Vec::new();
        for base in &cluster.bases {
            new_codes.push(
                person_wait_for(&format!("{base} signs with a new key"), || async {
                    let listed = key_trust_list(&client, base).await;
                    let (token, kid) = key_code(&client, base, &cluster.admin_key, &pid).await;
                    (listed.get(&stolen_kid) == Some(&true) && kid != stolen_kid)
                        .then_some((token, kid))
                })
                .await,
            );
        }
        let new_kids: std::collections::BTreeSet<&String> =
            new_codes.iter().map(|(_, kid)| kid).collect();
        assert_eq!(new_kids.len(), 3, "each node generated its own key");
        for base in &cluster.bases {
            person_wait_for(&format!("{base} lists every node's key"), || async {
                let listed = key_trust_list(&client, base).await;
                new_kids
                    .iter()
                    .all(|kid| listed.get(*kid) == Some(&false))
                    .then_some(())
            })
            .await;
            assert_eq!(
                key_trust_list(&client, base).await.get(&stolen_kid),
                Some(&true)
            );
            let verdict = |token: String| {
                let client = client.clone();
                let url = format!("{base}/v1/verify/token");
                async move {
                    let response = client
                        .post(url)
                        .json(&json!({"token": token}))
                        .send()
                        .await
                        .expect("the node answers");
                    response.json::<Value>().await.expect("a report")
                }
            };
            let report = verdict(stolen_code.clone()).await;
            assert_eq!(report["error"]["code"], "key_revoked", "{base}: {report}");
            for (token, kid) in &new_codes {
                let report = verdict(token.clone()).await;
                assert_eq!(report["valid"], true, "{base}, a code of {kid}: {report}");
            }
        }
    });
}

// ---------------------------------------------------------------------
// A service's held rule set (helpers prefixed `service_`).
// ---------------------------------------------------------------------

/// The hospital rule set's version node `base` has in force, and the status
/// of the held action `id` there (`None` until it holds it).
async fn service_state(client: &reqwest::Client, base: &str, key: &str, id: &str) -> Option<Value> {
    let (status, rule_set) = person_get(client, base, key, "/v1/services/hospital/rule-set").await;
    assert_eq!(status, 200, "{rule_set}");
    let (status, listed) = person_get(client, base, key, "/v1/pending").await;
    assert_eq!(status, 200, "{listed}");
    let held = listed["pending"]
        .as_array()?
        .iter()
        .find(|pending| pending["id"] == json!(id))?["status"]
        .clone();
    Some(json!({"version": rule_set["rule_set"]["version"], "status": held}))
}

/// A hospital rule set proposed on one node, then approved on a second and
/// rejected on a third at once: every node ends with the same decision,
/// and the rule set is in force exactly where (everywhere) it was approved.
#[test]
fn a_service_rule_set_approved_and_rejected_at_once_on_two_nodes_ends_the_same_everywhere() {
    let Some(nats) = nats_or_skip("a service's held rule set in a cluster") else {
        return;
    };
    runtime().block_on(async {
        let cluster = TestCluster::start(&nats, PERSON_ACK_TIMEOUT_MS).await;
        let client = reqwest::Client::new();
        let mut document: Value = serde_json::from_str(include_str!(
            "../../ymt-node/services/hospital-entrance.json"
        ))
        .expect("the shipped hospital rule set");
        document["version"] = json!("2.0.0");
        let (status, proposed) = person_post(
            &client,
            &cluster.bases[0],
            &cluster.admin_key,
            "/v1/services/hospital/rule-sets",
            &document,
        )
        .await;
        assert_eq!(status, 202, "{proposed}");
        let id = proposed["pending"]["id"]
            .as_str()
            .expect("an id")
            .to_owned();
        let read = |base: String| {
            let (client, key, id) = (client.clone(), cluster.admin_key.clone(), id.clone());
            async move { service_state(&client, &base, &key, &id).await }
        };
        wait_same_everywhere(&cluster.bases, "the held rule set", &read, |state| {
            state["status"] == json!("pending")
        })
        .await;
        let (approve_path, reject_path) = (
            format!("/v1/pending/{id}:approve"),
            format!("/v1/pending/{id}:reject"),
        );
        let (empty_a, empty_r) = (json!({}), json!({}));
        let approve = person_post(
            &client,
            &cluster.bases[1],
            &cluster.other_admin_keys[0],
            &approve_path,
            &empty_a,
        );
        let reject = person_post(
            &client,
            &cluster.bases[2],
            &cluster.other_admin_keys[1],
            &reject_path,
            &empty_r,
        );
        let ((approved, body_a), (rejected, body_r)) = tokio::join!(approve, reject);
        assert!(
            [approved, rejected].contains(&200) && [approved, rejected].contains(&409),
            "one decision stands, the other is refused: {body_a} {body_r}"
        );
        let end = wait_same_everywhere(&cluster.bases, "the decision", &read, |state| {
            state["status"] != json!("pending")
        })
        .await;
        let expected = if approved == 200 {
            json!({"version": "2.0.0", "status": "approved"})
        } else {
            json!({"version": "1.0.0", "status": "rejected"})
        };
        assert_eq!(end, expected);
    });
}

/// An operator rotates one node's signing key with `yimatong keys rotate`
/// while the node is stopped. At its restart the node announces the new
/// public key, and every node lists it: a code it signs verifies on every
/// other node (before, the others did not know the key and refused its
/// codes).
#[test]
fn a_key_rotated_on_a_stopped_node_is_announced_and_its_codes_verify_on_every_node() {
    let Some(nats) = nats_or_skip("a key rotated on one node") else {
        return;
    };
    runtime().block_on(async {
        let mut cluster = TestCluster::start(&nats, PERSON_ACK_TIMEOUT_MS).await;
        let client = reqwest::Client::new();
        let (status, registered) =
            person_register(&client, &cluster, &cluster.bases[0], "E50000002", json!({})).await;
        assert_eq!(status, 200, "{registered}");
        let pid = registered["pid"].as_str().expect("a pid").to_owned();
        let code_path = format!("/v1/persons/{pid}/code");
        person_wait_for("the person reaches the third node", || async {
            let (status, _) =
                person_get(&client, &cluster.bases[2], &cluster.admin_key, &code_path).await;
            (status == 200).then_some(())
        })
        .await;
        let (_, shared_kid) = key_code(&client, &cluster.bases[2], &cluster.admin_key, &pid).await;
        cluster.kill_node(2);
        let keys_dir = cluster.data_dir(2).join("keys");
        let rotated = std::process::Command::new(support::binary())
            .args(["keys", "rotate", "--keys-dir"])
            .arg(&keys_dir)
            .output()
            .expect("keys rotate runs");
        assert!(
            rotated.status.success(),
            "{}",
            String::from_utf8_lossy(&rotated.stderr)
        );
        cluster.restart_node(2, PERSON_ACK_TIMEOUT_MS);
        support::cluster::wait_ready(&client, &cluster.bases[2]).await;
        let (token, new_kid) = key_code(&client, &cluster.bases[2], &cluster.admin_key, &pid).await;
        assert_ne!(new_kid, shared_kid, "the node signs with its rotated key");
        for base in &cluster.bases {
            person_wait_for(&format!("{base} lists the rotated key"), || async {
                let listed = key_trust_list(&client, base).await;
                (listed.get(&new_kid) == Some(&false)).then_some(())
            })
            .await;
            let report: Value = client
                .post(format!("{base}/v1/verify/token"))
                .json(&json!({"token": token}))
                .send()
                .await
                .expect("the node answers")
                .json()
                .await
                .expect("a report");
            assert_eq!(report["valid"], true, "{base}: {report}");
        }
    });
}
