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
use support::cluster::{TestCluster, nats_or_skip, status_bytes, wait_holds};
use support::commands::*;
use support::{rfc3339_now_minus, runtime};

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
// A broker that loses an ordered command (helpers prefixed `chain_`).
// ---------------------------------------------------------------------

async fn chain_count(client: &reqwest::Client, base: &str) -> f64 {
    support::cluster::metric(client, base, "ymt_replication_commands_chained_total").await
}

/// `/readyz` of `base`: its status and text.
async fn chain_ready(client: &reqwest::Client, base: &str) -> (u16, String) {
    let response = client
        .get(format!("{base}/readyz"))
        .send()
        .await
        .expect("the node answers");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

/// A broker lies about an ordered command: it loses one that two nodes
/// applied and the third never read (as Jepsen saw a truncated replica lose
/// acknowledged writes). Applying it late, elsewhere in the order, could
/// decide differently, so it is not patched in: the third node's chain of
/// ordered commands differs from both peers', and it leaves readiness,
/// saying why, while the two others stay ready.
#[test]
fn a_node_the_broker_lost_an_ordered_command_for_leaves_readiness_and_its_peers_stay() {
    let Some(nats) = nats_or_skip("ordered commands lost by the broker") else {
        return;
    };
    runtime().block_on(async {
        let mut cluster = TestCluster::start(&nats, PERSON_ACK_TIMEOUT_MS).await;
        let client = reqwest::Client::new();
        let before = chain_count(&client, &cluster.bases[0]).await;
        // Node 3 is down while the command is applied and lost.
        cluster.kill_node(2);
        let (first, admin_key) = (cluster.bases[0].clone(), cluster.admin_key.clone());
        let revoke = |pid: &'static str| {
            let (client, base, key) = (client.clone(), first.clone(), admin_key.clone());
            async move {
                let (status, body) = person_post(
                    &client,
                    &base,
                    &key,
                    &format!("/v1/persons/{pid}/sessions:revoke"),
                    &json!({}),
                )
                .await;
                assert_eq!(status, 200, "{body}");
            }
        };
        revoke("p-lost-command").await;
        for base in &cluster.bases[..2] {
            person_wait_for(&format!("{base} chained the command"), || async {
                (chain_count(&client, base).await >= before + 1.0).then_some(())
            })
            .await;
        }
        let jetstream = cluster.jetstream().await;
        let stream = jetstream
            .get_stream(ymt_cluster::STREAM_NAME)
            .await
            .expect("the stream");
        let last_sequence = stream
            .get_info()
            .await
            .expect("the stream's state")
            .state
            .last_sequence;
        let mut deleted = 0;
        for sequence in 1..=last_sequence {
            let Ok(message) = stream.get_raw_message(sequence).await else {
                continue;
            };
            if String::from_utf8_lossy(&message.payload).contains("p-lost-command") {
                assert!(
                    stream
                        .delete_message(sequence)
                        .await
                        .expect("the broker deletes")
                );
                deleted += 1;
            }
        }
        assert_eq!(deleted, 1, "the command was in the stream");
        cluster.restart_node(2, PERSON_ACK_TIMEOUT_MS);
        // A later command reaches every node; node 3 has one fewer.
        revoke("p-later-command").await;
        for (index, expected) in [(0, before + 2.0), (1, before + 2.0), (2, before + 1.0)] {
            let base = cluster.bases[index].clone();
            person_wait_for(&format!("{base} chained {expected} commands"), || async {
                (chain_count(&client, &base).await == expected).then_some(())
            })
            .await;
        }
        // Node 3 learns from its peers that its history differs.
        let third = cluster.bases[2].clone();
        let (_, why) = person_wait_for("node 3 leaves readiness", || async {
            let (status, text) = chain_ready(&client, &third).await;
            (status == 503 && text.contains("ordered commands")).then_some((status, text))
        })
        .await;
        assert!(why.contains("2 peers"), "{why}");
        assert_eq!(
            support::cluster::metric(&client, &third, "ymt_replication_commands_diverged").await,
            1.0
        );
        // The two others see node 3 differ, and stay ready: it is one
        // against two.
        for base in &cluster.bases[..2] {
            person_wait_for(&format!("{base} sees one peer differ"), || async {
                (support::cluster::metric(
                    &client,
                    base,
                    "ymt_replication_commands_peers_disagreeing",
                )
                .await
                    == 1.0)
                    .then_some(())
            })
            .await;
            let (status, text) = chain_ready(&client, base).await;
            assert_eq!(status, 200, "{base}: {text}");
        }
    });
}
