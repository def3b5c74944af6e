//! Risk areas, their lifts and held automatic tracing as ordered commands
//! of the cluster (issue 11; persons and appeals are in
//! tests/cluster_commands.rs): three NATS servers in one JetStream cluster and three
//! `yimatong serve --nats` nodes on loopback (the kit:
//! tests/support/cluster.rs). Each test waits for states it can observe,
//! never for a time; without `nats-server` each prints one skip line.

mod support;

use serde_json::{Value, json};
use support::cluster::{
    TestCluster, get_json, nats_or_skip, status_bytes, wait_holds, wait_same_everywhere,
};
use support::{rfc3339_now_minus, runtime};

// ---------------------------------------------------------------------
// Risk areas and their lifts as ordered commands (helpers prefixed
// `risk_`).
// ---------------------------------------------------------------------

/// Long enough that only a cluster that never acknowledges reaches it
/// (a 503 would leave a command's outcome unknown to its client).
const RISK_COMMAND_ACK_TIMEOUT_MS: u64 = 30_000;

/// A community of 440305, where the risk tests' venue lies.
const RISK_COMMUNITY: &str = "440305001001";
const RISK_VENUE: &str = "v-risk-mall";

async fn risk_post(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    path: &str,
    body: &Value,
) -> (u16, Value) {
    let response = client
        .post(format!("{base}{path}"))
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .expect("the node answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// A person's status body on a node without its evaluation instant (each
/// node's own, ARCHITECTURE.md "Replication").
async fn risk_status(client: &reqwest::Client, base: &str, key: &str, pid: &str) -> Option<Value> {
    let bytes = status_bytes(client, base, key, pid).await;
    let mut status: Value = serde_json::from_slice(&bytes).ok()?;
    status.as_object_mut()?.remove("evaluated_at");
    Some(status)
}

/// The designations a node holds, without each node's own log position.
async fn risk_areas(client: &reqwest::Client, base: &str, key: &str) -> Option<Value> {
    let mut listed = get_json(client, base, key, "/v1/risk-areas").await?;
    for area in listed["risk_areas"].as_array_mut()? {
        area.as_object_mut()?.remove("applied_after_seq");
    }
    Some(listed["risk_areas"].take())
}

/// The status of designation `id` in a node's list.
fn risk_status_of(areas: &Value, id: &str) -> Option<String> {
    areas
        .as_array()?
        .iter()
        .find(|area| area["request"]["id"] == id)
        .and_then(|area| area["status"].as_str().map(str::to_owned))
}

/// Waits until every node lists pending action `id` as pending (so a
/// decision sent to any of them finds it).
async fn risk_wait_pending_everywhere(cluster: &TestCluster, id: &str) {
    let client = reqwest::Client::new();
    wait_same_everywhere(
        &cluster.bases,
        &format!("pending action {id}"),
        |base| {
            let client = client.clone();
            let key = cluster.admin_key.clone();
            let id = id.to_owned();
            async move {
                let listed = get_json(&client, &base, &key, "/v1/pending?status=pending").await?;
                Some(json!(
                    listed["pending"]
                        .as_array()?
                        .iter()
                        .any(|pending| pending["id"] == id.as_str())
                ))
            }
        },
        |found| found == &json!(true),
    )
    .await;
}

/// The audit records of designations and held actions a node holds,
/// without what is the node's own (its sequence numbers and hash chain).
async fn risk_audit(client: &reqwest::Client, base: &str, key: &str) -> Option<Value> {
    let listed = get_json(client, base, key, "/v1/audit?limit=1000").await?;
    let mut records: Vec<Value> = listed["records"]
        .as_array()?
        .iter()
        .filter(|record| {
            record["action"].as_str().is_some_and(|action| {
                action.starts_with("risk_area.") && action != "risk_area.list"
                    || matches!(
                        action,
                        "pending.propose" | "pending.approve" | "pending.reject"
                    )
            })
        })
        .map(|record| {
            json!([
                record["at"],
                record["principal"],
                record["role"],
                record["action"],
                record["target"],
                record["outcome"],
                record["detail"]
            ])
        })
        .collect();
    records.sort_by_key(|record| record.to_string());
    Some(Value::Array(records))
}

/// Registers the risk tests' venue through node `node` and waits until
/// every node knows it.
async fn risk_register_venue(cluster: &TestCluster, node: usize) {
    let client = reqwest::Client::new();
    let (status, venue) = risk_post(
        &client,
        &cluster.bases[node],
        &cluster.authority_key,
        "/v1/venues",
        &json!({"id": RISK_VENUE, "name": "a mall", "region": RISK_COMMUNITY,
                "category": "retail", "indoor": true}),
    )
    .await;
    assert_eq!(status, 201, "{venue}");
    wait_same_everywhere(
        &cluster.bases,
        "the venue",
        |base| {
            let client = client.clone();
            let key = cluster.authority_key.clone();
            async move { get_json(&client, &base, &key, &format!("/v1/venues/{RISK_VENUE}")).await }
        },
        |venue| venue.is_object(),
    )
    .await;
}

/// Posts one check-in at the risk tests' venue through node `node` and
/// waits until every node holds it.
async fn risk_check_in(
    cluster: &TestCluster,
    node: usize,
    id: &str,
    pid: &str,
    stay: (&str, &str),
) {
    let client = reqwest::Client::new();
    let event = json!({
        "id": id,
        "subject": {"pid": pid},
        "region": RISK_COMMUNITY,
        "kind": "check_in",
        "data": {"venue": RISK_VENUE, "entered_at": stay.0, "left_at": stay.1},
    });
    let (status, body) = risk_post(
        &client,
        &cluster.bases[node],
        &cluster.authority_key,
        "/v1/events:batch",
        &json!({ "events": [event] }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let expected = [(pid.to_owned(), vec![format!("cdc-440305:{id}")])].into();
    for base in &cluster.bases {
        wait_holds(&client, base, &cluster.admin_key, &expected).await;
    }
}

/// A medium-risk designation of county 440305 (larger than a community:
/// held for a second national admin) from a day ago to two days ahead.
fn risk_county_designation(id: &str) -> Value {
    let in_two_days = ymt_core::Timestamp::parse_rfc3339(&rfc3339_now_minus(0))
        .expect("an instant")
        .plus_secs(2 * 86_400);
    json!({
        "id": id,
        "region": "440305",
        "level": "medium",
        "from": rfc3339_now_minus(86_400),
        "until": in_two_days.to_rfc3339(),
        "reason": "cluster of cases",
    })
}

/// Proposes the county designation `id` through node `node` (held) and
/// waits until every node holds the pending action; returns its id.
async fn risk_propose_held(cluster: &TestCluster, node: usize, id: &str) -> String {
    let client = reqwest::Client::new();
    let (status, proposed) = risk_post(
        &client,
        &cluster.bases[node],
        &cluster.authority_key,
        "/v1/risk-areas",
        &risk_county_designation(id),
    )
    .await;
    assert_eq!(status, 202, "a county is held for approval: {proposed}");
    let pending = proposed["pending"]["id"]
        .as_str()
        .expect("a pending id")
        .to_owned();
    risk_wait_pending_everywhere(cluster, &pending).await;
    pending
}

#[test]
fn a_risk_area_designated_and_lifted_on_one_node_leaves_no_node_with_another_color() {
    let Some(nats) = nats_or_skip("risk areas as ordered commands") else {
        return;
    };
    runtime().block_on(async {
        let cluster = TestCluster::start(&nats, RISK_COMMAND_ACK_TIMEOUT_MS).await;
        let client = reqwest::Client::new();
        let admin = cluster.admin_key.clone();
        risk_register_venue(&cluster, 0).await;
        // A stay at the venue, posted to the third node, before anything is
        // designated: green everywhere.
        risk_check_in(
            &cluster,
            2,
            "ci-risk-before",
            "p-risk-before",
            (&rfc3339_now_minus(4 * 3600), &rfc3339_now_minus(2 * 3600)),
        )
        .await;
        // The county designated through node 1, approved through node 2 by
        // a second national admin.
        let pending = risk_propose_held(&cluster, 0, "ra-cluster").await;
        let (status, approved) = risk_post(
            &client,
            &cluster.bases[1],
            &cluster.other_admin_keys[0],
            &format!("/v1/pending/{pending}:approve"),
            &json!({}),
        )
        .await;
        assert_eq!(status, 200, "{approved}");
        // The same person is yellow by the risk rule on every node, with
        // the same status body.
        let status = wait_same_everywhere(
            &cluster.bases,
            "the status of p-risk-before",
            |base| {
                let client = client.clone();
                let key = admin.clone();
                async move { risk_status(&client, &base, &key, "p-risk-before").await }
            },
            |status| status["color"] == "yellow",
        )
        .await;
        assert!(
            status.to_string().contains("CN-MEDIUM-RISK-01"),
            "yellow by the medium-risk rule: {status}"
        );
        // Lifted through node 2 by the authority (held: a county), approved
        // through node 3 by a third national admin.
        let (status, proposed) = risk_post(
            &client,
            &cluster.bases[1],
            &cluster.authority_key,
            "/v1/risk-areas/ra-cluster:lift",
            &json!({"reason": "no new cases"}),
        )
        .await;
        assert_eq!(status, 202, "a county's lift is held: {proposed}");
        let lift = proposed["pending"]["id"]
            .as_str()
            .expect("an id")
            .to_owned();
        risk_wait_pending_everywhere(&cluster, &lift).await;
        let (status, approved) = risk_post(
            &client,
            &cluster.bases[2],
            &cluster.other_admin_keys[1],
            &format!("/v1/pending/{lift}:approve"),
            &json!({}),
        )
        .await;
        assert_eq!(status, 200, "{approved}");
        let areas = wait_same_everywhere(
            &cluster.bases,
            "the designations",
            |base| {
                let client = client.clone();
                let key = admin.clone();
                async move { risk_areas(&client, &base, &key).await }
            },
            |areas| risk_status_of(areas, "ra-cluster").as_deref() == Some("lifted"),
        )
        .await;
        let lifted_at = areas[0]["lifted"]["at"]
            .as_str()
            .expect("the lift's instant");
        let lifted_at = ymt_core::Timestamp::parse_rfc3339(lifted_at).expect("an instant");
        // A stay after the lift exposes nobody, on any node: without the
        // lift a node would schedule this person's turn to yellow.
        risk_check_in(
            &cluster,
            0,
            "ci-risk-after",
            "p-risk-after",
            (
                &lifted_at.plus_secs(1).to_rfc3339(),
                &lifted_at.plus_secs(2).to_rfc3339(),
            ),
        )
        .await;
        let after = wait_same_everywhere(
            &cluster.bases,
            "the status of p-risk-after",
            |base| {
                let client = client.clone();
                let key = admin.clone();
                async move { risk_status(&client, &base, &key, "p-risk-after").await }
            },
            |status| status["color"] == "green",
        )
        .await;
        assert!(
            !after.to_string().contains("ra-cluster"),
            "the lifted area gives no exposure: {after}"
        );
        // A stay before the lift keeps its exposure (the rules clear it
        // days after the designation ended), the same on every node.
        wait_same_everywhere(
            &cluster.bases,
            "the status of p-risk-before after the lift",
            |base| {
                let client = client.clone();
                let key = admin.clone();
                async move { risk_status(&client, &base, &key, "p-risk-before").await }
            },
            |status| status["color"] == "yellow",
        )
        .await;
    });
}

/// Sends an approval of `pending` through node 2 and its rejection through
/// node 3 at once, by two national admins; checks that one won and the
/// other was told 409. Returns whether the approval won, and whether the
/// loser was refused where it stood in the stream (every node then holds
/// its refusal) rather than by its node's own check before publishing.
async fn risk_decide_at_once(cluster: &TestCluster, pending: &str) -> (bool, bool) {
    let client = reqwest::Client::new();
    let approve = format!("/v1/pending/{pending}:approve");
    let reject = format!("/v1/pending/{pending}:reject");
    let empty = json!({});
    let (approved, rejected) = tokio::join!(
        risk_post(
            &client,
            &cluster.bases[1],
            &cluster.other_admin_keys[1],
            &approve,
            &empty,
        ),
        risk_post(
            &client,
            &cluster.bases[2],
            &cluster.other_admin_keys[2],
            &reject,
            &empty,
        ),
    );
    let (approval_won, loser) = match (approved.0, rejected.0) {
        (200, 409) => (true, &rejected),
        (409, 200) => (false, &approved),
        _ => panic!(
            "one decision wins, the other is told it lost: {} {}, {} {}",
            approved.0, approved.1["detail"], rejected.0, rejected.1["detail"]
        ),
    };
    let refused_in_order = loser.1["detail"]
        .as_str()
        .unwrap_or_default()
        .contains(ymt_node::replication_commands::REFUSED_IN_STREAM_ORDER);
    println!(
        "risk conflict on {pending}: approval won {approval_won}; \
         the loser refused in stream order: {refused_in_order}"
    );
    (approval_won, refused_in_order)
}

/// Waits until every node holds the same designations, with `area` no
/// longer `unsettled`, and the same held actions with `pending` decided;
/// checks that the designation's status and the held action's are
/// `outcome`; then waits until every node holds the same `expected` audit
/// records of designations and held actions (`denied` of them refused).
async fn risk_same_outcome_everywhere(
    cluster: &TestCluster,
    (area, unsettled): (&str, &str),
    pending: &str,
    outcome: (&str, &str),
    (expected, denied): (usize, usize),
) {
    let client = reqwest::Client::new();
    let admin = cluster.admin_key.clone();
    let areas = wait_same_everywhere(
        &cluster.bases,
        "the designations",
        |base| {
            let client = client.clone();
            let key = admin.clone();
            async move { risk_areas(&client, &base, &key).await }
        },
        |areas| risk_status_of(areas, area).is_some_and(|status| status != unsettled),
    )
    .await;
    let listed = wait_same_everywhere(
        &cluster.bases,
        "the held actions",
        |base| {
            let client = client.clone();
            let key = admin.clone();
            async move { get_json(&client, &base, &key, "/v1/pending").await }
        },
        |listed| {
            listed["pending"].as_array().is_some_and(|all| {
                all.iter()
                    .any(|one| one["id"] == pending && one["status"] != "pending")
            })
        },
    )
    .await;
    let decided = listed["pending"]
        .as_array()
        .expect("held actions")
        .iter()
        .find(|one| one["id"] == pending)
        .expect("the held action")["status"]
        .as_str()
        .expect("a status")
        .to_owned();
    let designation = risk_status_of(&areas, area).expect("the designation");
    assert_eq!(
        (designation.as_str(), decided.as_str()),
        outcome,
        "the designation and its held action agree with the decision that won"
    );
    let audit = wait_same_everywhere(
        &cluster.bases,
        "the audit records of designations and held actions",
        |base| {
            let client = client.clone();
            let key = admin.clone();
            async move { risk_audit(&client, &base, &key).await }
        },
        |records| {
            records
                .as_array()
                .is_some_and(|records| records.len() == expected)
        },
    )
    .await;
    let refused = audit
        .as_array()
        .expect("records")
        .iter()
        .filter(|record| record[5] == "denied")
        .count();
    assert_eq!(refused, denied, "{audit:#}");
}

#[test]
fn conflicting_decisions_on_one_held_risk_area_sent_to_two_nodes_end_the_same_on_every_node() {
    let Some(nats) = nats_or_skip("risk areas as ordered commands") else {
        return;
    };
    runtime().block_on(async {
        let cluster = TestCluster::start(&nats, RISK_COMMAND_ACK_TIMEOUT_MS).await;
        let pending = risk_propose_held(&cluster, 0, "ra-contested").await;
        let (approval_won, refused_in_order) = risk_decide_at_once(&cluster, &pending).await;
        // The proposal (the held action, the held designation), the
        // winner's decision (the designation, the action) and the loser's
        // refusal when it was refused in stream order (one refused by its
        // node's own check before publishing is that node's alone, like any
        // refused request).
        let refusals = usize::from(refused_in_order);
        let outcome = match approval_won {
            true => ("in_force", "approved"),
            false => ("rejected", "rejected"),
        };
        risk_same_outcome_everywhere(
            &cluster,
            ("ra-contested", "pending"),
            &pending,
            outcome,
            (4 + refusals, refusals),
        )
        .await;
    });
}

#[test]
fn a_held_lift_approved_and_rejected_at_once_on_two_nodes_is_not_in_force_while_rejected() {
    let Some(nats) = nats_or_skip("risk areas as ordered commands") else {
        return;
    };
    runtime().block_on(async {
        let cluster = TestCluster::start(&nats, RISK_COMMAND_ACK_TIMEOUT_MS).await;
        let client = reqwest::Client::new();
        let designation = risk_propose_held(&cluster, 0, "ra-lift-contested").await;
        let (status, approved) = risk_post(
            &client,
            &cluster.bases[1],
            &cluster.other_admin_keys[0],
            &format!("/v1/pending/{designation}:approve"),
            &json!({}),
        )
        .await;
        assert_eq!(status, 200, "{approved}");
        let (status, proposed) = risk_post(
            &client,
            &cluster.bases[0],
            &cluster.authority_key,
            "/v1/risk-areas/ra-lift-contested:lift",
            &json!({"reason": "no new cases"}),
        )
        .await;
        assert_eq!(status, 202, "a county's lift is held: {proposed}");
        let lift = proposed["pending"]["id"]
            .as_str()
            .expect("an id")
            .to_owned();
        risk_wait_pending_everywhere(&cluster, &lift).await;
        let (approval_won, refused_in_order) = risk_decide_at_once(&cluster, &lift).await;
        // The designation (held action and record, each proposed and
        // approved), the lift's proposal, the winner's decision (approved:
        // the lifted record and the action; rejected: the action), and the
        // loser's refusal in stream order.
        let refusals = usize::from(refused_in_order);
        let decision = if approval_won { 2 } else { 1 };
        let outcome = match approval_won {
            true => ("lifted", "approved"),
            false => ("in_force", "rejected"),
        };
        risk_same_outcome_everywhere(
            &cluster,
            ("ra-lift-contested", ""),
            &lift,
            outcome,
            (5 + decision + refusals, refusals),
        )
        .await;
    });
}

/// The ids of a person's events on a node (those it derived itself too),
/// as a JSON array.
async fn risk_timeline_ids(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    pid: &str,
) -> Option<Value> {
    let ids = support::cluster::event_ids(client, base, key, pid).await?;
    Some(json!(ids))
}

#[test]
fn a_held_tracing_decided_on_two_nodes_at_once_designates_the_same_on_every_node() {
    let Some(nats) = nats_or_skip("held tracing decided in stream order") else {
        return;
    };
    runtime().block_on(async {
        // Any tracing designating more than one person is held.
        let cluster = TestCluster::start_with_args(
            &nats,
            RISK_COMMAND_ACK_TIMEOUT_MS,
            &["--breaker-persons-max", "1"],
        )
        .await;
        let client = reqwest::Client::new();
        let admin = cluster.admin_key.clone();
        risk_register_venue(&cluster, 0).await;
        // The stays first, on every node, then the positive: each node
        // derives the same held tracing (two persons designated).
        for (node, id, pid, minutes) in [
            (0, "ci-trace-case", "p-trace-case", (300, 240)),
            (1, "ci-trace-a", "p-trace-a", (290, 250)),
            (2, "ci-trace-b", "p-trace-b", (280, 245)),
        ] {
            risk_check_in(
                &cluster,
                node,
                id,
                pid,
                (
                    &rfc3339_now_minus(minutes.0 * 60),
                    &rfc3339_now_minus(minutes.1 * 60),
                ),
            )
            .await;
        }
        let positive = json!({
            "id": "pos-trace",
            "subject": {"pid": "p-trace-case"},
            "region": "440305",
            "kind": "test_result",
            "data": {"test": "pcr", "result": "positive",
                     "sampled_at": rfc3339_now_minus(7200),
                     "reported_at": rfc3339_now_minus(6600),
                     "lab": "lab-440305-01"},
        });
        let (status, body) = risk_post(
            &client,
            &cluster.bases[0],
            &cluster.lab_key,
            "/v1/events:batch",
            &json!({ "events": [positive] }),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let pending = "tracing.lab-440305:pos-trace";
        risk_wait_pending_everywhere(&cluster, pending).await;
        let (approval_won, _) = risk_decide_at_once(&cluster, pending).await;
        // The same decision and the same designations on every node.
        let listed = wait_same_everywhere(
            &cluster.bases,
            "the held tracing",
            |base| {
                let client = client.clone();
                let key = admin.clone();
                async move { get_json(&client, &base, &key, "/v1/pending").await }
            },
            |listed| {
                listed["pending"].as_array().is_some_and(|all| {
                    all.iter()
                        .any(|one| one["id"] == pending && one["status"] != "pending")
                })
            },
        )
        .await;
        let decided = listed["pending"]
            .as_array()
            .expect("held actions")
            .iter()
            .find(|one| one["id"] == pending)
            .expect("the held tracing")["status"]
            .clone();
        assert_eq!(
            decided,
            if approval_won { "approved" } else { "rejected" },
            "{listed:#}"
        );
        for pid in ["p-trace-a", "p-trace-b"] {
            wait_same_everywhere(
                &cluster.bases,
                &format!("the events of {pid}"),
                |base| {
                    let client = client.clone();
                    let key = admin.clone();
                    async move { risk_timeline_ids(&client, &base, &key, pid).await }
                },
                |ids| {
                    let derived = ids
                        .as_array()
                        .expect("ids")
                        .iter()
                        .filter(|id| !id.as_str().unwrap_or(":").contains(':'))
                        .count();
                    (derived > 0) == approval_won
                },
            )
            .await;
            wait_same_everywhere(
                &cluster.bases,
                &format!("the status of {pid}"),
                |base| {
                    let client = client.clone();
                    let key = admin.clone();
                    async move { risk_status(&client, &base, &key, pid).await }
                },
                |status| (status["color"] != "green") == approval_won,
            )
            .await;
        }
    });
}
