//! Ordered commands in a cluster (issue 11): records other than events made
//! on one node are applied by every node in the stream's order. Three NATS
//! servers and three `yimatong serve --nats` nodes as processes (the kit:
//! tests/support/cluster.rs); each test waits for states it can observe,
//! never for a time; without `nats-server` each prints one skip line.

mod support;

// ---------------------------------------------------------------------
// Persons, appeals, sessions (helpers prefixed `person_`).
// ---------------------------------------------------------------------

use serde_json::{Value, json};
use support::cluster::{
    CONVERGES_WITHIN, TestCluster, nats_or_skip, status_bytes, wait_holds, wait_same_everywhere,
};
use support::{rfc3339_now_minus, runtime};

/// Generous: only a cluster that never acknowledges reaches it (see
/// cluster.rs, `COMMAND_ACK_TIMEOUT_MS`).
const PERSON_ACK_TIMEOUT_MS: u64 = 30_000;

async fn person_send(
    client: &reqwest::Client,
    method: reqwest::Method,
    base: &str,
    key: &str,
    path: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let mut request = client
        .request(method, format!("{base}{path}"))
        .bearer_auth(key);
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.expect("the node answers");
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

async fn person_post(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    path: &str,
    body: &Value,
) -> (u16, Value) {
    person_send(client, reqwest::Method::POST, base, key, path, Some(body)).await
}

async fn person_get(client: &reqwest::Client, base: &str, key: &str, path: &str) -> (u16, Value) {
    person_send(client, reqwest::Method::GET, base, key, path, None).await
}

/// Polls `probe` until it gives a value; fails the test past
/// [`CONVERGES_WITHIN`] naming `what`.
async fn person_wait_for<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + CONVERGES_WITHIN;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never converged: {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// A verifier device's key (created on node 1, a replicated principal),
/// once every node accepts it.
async fn person_verifier_key(client: &reqwest::Client, cluster: &TestCluster) -> String {
    let (status, created) = person_post(
        client,
        &cluster.bases[0],
        &cluster.admin_key,
        "/v1/admin/principals",
        &json!({"id": "verifier-440305", "role": "verifier_device", "jurisdiction": "440305",
                "display_name": "a door"}),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let key = created["api_key"].as_str().expect("a key").to_owned();
    for base in &cluster.bases {
        person_wait_for(&format!("{base} accepts the verifier's key"), || async {
            let (status, _) = person_post(
                client,
                base,
                &key,
                "/v1/verify/id-card",
                &json!({"id_type": "passport", "id_number": "E00000000"}),
            )
            .await;
            (status == 200).then_some(())
        })
        .await;
    }
    key
}

/// Registers a person (passport `number`) through `base` by the 440305
/// authority; their pid.
async fn person_register(
    client: &reqwest::Client,
    cluster: &TestCluster,
    base: &str,
    number: &str,
    extra: Value,
) -> (u16, Value) {
    let mut body = json!({"id_type": "passport", "id_number": number,
                          "display_name": "张三", "region": "440305"});
    for (name, value) in extra.as_object().expect("an object") {
        body[name] = value.clone();
    }
    person_post(client, base, &cluster.authority_key, "/v1/persons", &body).await
}

/// Waits until every node knows the person of passport `number` by their
/// ID card, with their masked name.
async fn person_wait_known_everywhere(
    client: &reqwest::Client,
    cluster: &TestCluster,
    verifier_key: &str,
    number: &str,
) {
    for base in &cluster.bases {
        person_wait_for(&format!("{base} knows passport {number}"), || async {
            let (status, card) = person_post(
                client,
                base,
                verifier_key,
                "/v1/verify/id-card",
                &json!({"id_type": "passport", "id_number": number}),
            )
            .await;
            (status == 200 && card["known"] == json!(true) && card["masked_name"] == json!("张*"))
                .then_some(())
        })
        .await;
    }
}

/// The appeal `id` as node `base` lists it to the 440305 authority.
async fn person_listed_appeal(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    id: &str,
) -> Option<Value> {
    let (status, listed) = person_get(client, base, key, "/v1/appeals?limit=500").await;
    assert_eq!(status, 200, "{listed}");
    listed["appeals"]
        .as_array()?
        .iter()
        .find(|appeal| appeal["id"] == json!(id))
        .cloned()
}

#[test]
fn a_person_registered_on_one_node_is_known_with_the_same_status_and_code_on_every_node() {
    let Some(nats) = nats_or_skip("persons in a cluster") else {
        return;
    };
    runtime().block_on(async {
        let cluster = TestCluster::start(&nats, PERSON_ACK_TIMEOUT_MS).await;
        let client = reqwest::Client::new();
        let verifier = person_verifier_key(&client, &cluster).await;
        let (status, registered) =
            person_register(&client, &cluster, &cluster.bases[0], "E10000001", json!({})).await;
        assert_eq!(status, 200, "{registered}");
        let pid = registered["pid"].as_str().expect("a pid").to_owned();
        person_wait_known_everywhere(&client, &cluster, &verifier, "E10000001").await;
        // A result of theirs through node 2, held everywhere.
        let result = json!({
            "id": "person-neg-1",
            "subject": {"pid": pid},
            "region": "440305",
            "kind": "test_result",
            "data": {"test": "pcr", "result": "negative",
                     "sampled_at": rfc3339_now_minus(7_200),
                     "reported_at": rfc3339_now_minus(3_600), "lab": "lab-440305-01"},
        });
        let (status, posted) = person_post(
            &client,
            &cluster.bases[1],
            &cluster.lab_key,
            "/v1/events:batch",
            &json!({"events": [result]}),
        )
        .await;
        assert_eq!(status, 200, "{posted}");
        let expected = [(pid.clone(), vec!["lab-440305:person-neg-1".to_owned()])].into();
        for base in &cluster.bases {
            wait_holds(&client, base, &cluster.admin_key, &expected).await;
        }
        // Their code, from a node that did not register them.
        let (status, code) = person_get(
            &client,
            &cluster.bases[1],
            &cluster.admin_key,
            &format!("/v1/persons/{pid}/code"),
        )
        .await;
        assert_eq!(status, 200, "{code}");
        // The same status everywhere, apart from the instant each node
        // computed it at (its own clock).
        let comparable = |bytes: Vec<u8>| {
            let mut status: Value = serde_json::from_slice(&bytes).expect("status JSON");
            status
                .as_object_mut()
                .expect("an object")
                .remove("evaluated_at");
            serde_json::to_string(&status).expect("JSON")
        };
        let mut bodies = Vec::new();
        for base in &cluster.bases {
            bodies.push(comparable(
                status_bytes(&client, base, &cluster.admin_key, &pid).await,
            ));
        }
        assert!(
            bodies.iter().all(|body| body == &bodies[0]),
            "status bodies differ: {bodies:?}"
        );
    });
}

#[test]
fn a_ward_registered_on_one_node_can_be_named_and_confirmed_on_the_others() {
    let Some(nats) = nats_or_skip("guardianships in a cluster") else {
        return;
    };
    runtime().block_on(async {
        let cluster = TestCluster::start(&nats, PERSON_ACK_TIMEOUT_MS).await;
        let client = reqwest::Client::new();
        let verifier = person_verifier_key(&client, &cluster).await;
        // The ward (a dependent) is registered on node 2 ...
        let (status, ward) =
            person_register(&client, &cluster, &cluster.bases[1], "E20000002", json!({})).await;
        assert_eq!(status, 200, "{ward}");
        let ward = ward["pid"].as_str().expect("a pid").to_owned();
        person_wait_known_everywhere(&client, &cluster, &verifier, "E20000002").await;
        // ... named by their guardian's registration on node 1 ...
        let (status, guardian) = person_register(
            &client,
            &cluster,
            &cluster.bases[0],
            "E20000001",
            json!({"guardian_of": [ward], "relationships": {ward.clone(): "child"}}),
        )
        .await;
        assert_eq!(status, 200, "{guardian}");
        let guardian = guardian["pid"].as_str().expect("a pid").to_owned();
        person_wait_known_everywhere(&client, &cluster, &verifier, "E20000001").await;
        // ... and the guardianship confirmed on node 3 by another party,
        // which reads the guardian's registration there.
        let confirm = json!({"guardian": guardian, "ward": ward});
        let (status, confirmed) = person_post(
            &client,
            &cluster.bases[2],
            &cluster.other_admin_keys[0],
            "/v1/guardianships:confirm",
            &confirm,
        )
        .await;
        assert_eq!(status, 200, "{confirmed}");
        // The registrar itself may not confirm, on any node (the confirmed
        // registration reached node 2 or not, the answer is the refusal).
        let (status, refused) = person_post(
            &client,
            &cluster.bases[1],
            &cluster.authority_key,
            "/v1/guardianships:confirm",
            &confirm,
        )
        .await;
        assert_eq!(status, 403, "{refused}");
    });
}

#[test]
fn an_appeal_is_filed_once_and_resolved_once_whichever_nodes_are_asked() {
    let Some(nats) = nats_or_skip("appeals in a cluster") else {
        return;
    };
    runtime().block_on(async {
        let cluster = TestCluster::start(&nats, PERSON_ACK_TIMEOUT_MS).await;
        let client = reqwest::Client::new();
        let key = &cluster.authority_key;
        let (status, registered) =
            person_register(&client, &cluster, &cluster.bases[0], "E30000001", json!({})).await;
        assert_eq!(status, 200, "{registered}");
        let pid = registered["pid"].as_str().expect("a pid").to_owned();
        let grounds = json!({"pid": pid, "text": "I was never at that venue."});
        let (status, filed) =
            person_post(&client, &cluster.bases[0], key, "/v1/appeals", &grounds).await;
        assert_eq!(status, 201, "{filed}");
        let id = filed["id"].as_str().expect("an id").to_owned();
        for base in &cluster.bases {
            person_wait_for(&format!("{base} lists appeal {id}"), || {
                person_listed_appeal(&client, base, key, &id)
            })
            .await;
        }
        // The same grounds through node 2: the open appeal, not a second.
        let (status, again) =
            person_post(&client, &cluster.bases[1], key, "/v1/appeals", &grounds).await;
        assert_eq!(status, 200, "{again}");
        assert_eq!(again["id"], json!(id), "{again}");
        // Resolved on node 3 ...
        let (status, resolved) = person_post(
            &client,
            &cluster.bases[2],
            key,
            &format!("/v1/appeals/{id}/resolve"),
            &json!({"note": "checked the venue's records", "outcome": "upheld"}),
        )
        .await;
        assert_eq!(status, 200, "{resolved}");
        // ... the same outcome listed everywhere ...
        let mut outcomes = Vec::new();
        for base in &cluster.bases {
            outcomes.push(
                person_wait_for(&format!("{base} lists appeal {id} resolved"), || async {
                    person_listed_appeal(&client, base, key, &id)
                        .await
                        .filter(|appeal| !appeal["resolved"].is_null())
                        .map(|appeal| appeal["resolved"].clone())
                })
                .await,
            );
        }
        assert!(
            outcomes.iter().all(|outcome| outcome == &outcomes[0]),
            "{outcomes:?}"
        );
        // ... and not resolved a second time through node 1.
        let (status, twice) = person_post(
            &client,
            &cluster.bases[0],
            key,
            &format!("/v1/appeals/{id}/resolve"),
            &json!({"note": "another look", "outcome": "upheld"}),
        )
        .await;
        assert_eq!(status, 409, "{twice}");
    });
}

#[test]
fn ending_a_persons_sessions_on_one_node_ends_them_on_every_node() {
    let Some(nats) = nats_or_skip("sessions in a cluster") else {
        return;
    };
    runtime().block_on(async {
        let cluster = TestCluster::start(&nats, PERSON_ACK_TIMEOUT_MS).await;
        let client = reqwest::Client::new();
        let (status, registered) =
            person_register(&client, &cluster, &cluster.bases[0], "E40000001", json!({})).await;
        assert_eq!(status, 200, "{registered}");
        let pid = registered["pid"].as_str().expect("a pid").to_owned();
        let (status, ended) = person_post(
            &client,
            &cluster.bases[0],
            &cluster.authority_key,
            &format!("/v1/persons/{pid}/sessions:revoke"),
            &json!({}),
        )
        .await;
        assert_eq!(status, 200, "{ended}");
        // Every node applied the record that ends the sessions (each node's
        // sessions of the person opened before it): its audit record.
        for base in &cluster.bases {
            person_wait_for(
                &format!("{base} applied the end of {pid}'s sessions"),
                || async {
                    let (status, audit) = person_get(
                        &client,
                        base,
                        &cluster.admin_key,
                        "/v1/audit?principal=cdc-440305&limit=1000",
                    )
                    .await;
                    assert_eq!(status, 200, "{audit}");
                    audit["records"]
                        .as_array()?
                        .iter()
                        .any(|record| {
                            record["action"] == json!("person.revoke_sessions")
                                && record["target"] == json!(pid)
                        })
                        .then_some(())
                },
            )
            .await;
        }
    });
}

/// The staff of a care home's roster as node `base` checks it, once the
/// node knows the home.
async fn person_roster(client: &reqwest::Client, base: &str, key: &str) -> Option<Vec<Value>> {
    let (status, checked) =
        person_get(client, base, key, "/v1/care-homes/care-home-1/roster-check").await;
    if status == 404 {
        return None;
    }
    assert_eq!(status, 200, "{checked}");
    Some(
        checked["staff"]
            .as_array()
            .expect("a list")
            .iter()
            .map(|entry| entry["pid"].clone())
            .collect(),
    )
}

#[test]
fn a_care_homes_roster_set_on_one_node_is_the_roster_on_every_node() {
    let Some(nats) = nats_or_skip("module records in a cluster") else {
        return;
    };
    runtime().block_on(async {
        let cluster = TestCluster::start(&nats, PERSON_ACK_TIMEOUT_MS).await;
        let client = reqwest::Client::new();
        let key = &cluster.authority_key;
        let (status, venue) = person_post(
            &client,
            &cluster.bases[0],
            key,
            "/v1/venues",
            &json!({"id": "care-home-1", "name": "颐养院", "region": "440305001001",
                    "category": "care_home", "indoor": true}),
        )
        .await;
        assert_eq!(status, 201, "{venue}");
        person_wait_for("node 2 knows the care home", || {
            person_roster(&client, &cluster.bases[1], key)
        })
        .await;
        let (status, set) = person_post(
            &client,
            &cluster.bases[1],
            key,
            "/v1/care-homes/care-home-1/roster",
            &json!({"staff": ["p-nurse-1", "p-nurse-2"]}),
        )
        .await;
        assert_eq!(status, 200, "{set}");
        for base in &cluster.bases {
            person_wait_for(&format!("{base} holds the roster"), || async {
                person_roster(&client, base, key)
                    .await
                    .filter(|staff| *staff == vec![json!("p-nurse-1"), json!("p-nurse-2")])
            })
            .await;
        }
    });
}

// ---------------------------------------------------------------------
// End of persons, appeals, sessions.
// ---------------------------------------------------------------------

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
