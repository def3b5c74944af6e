//! Tables of the circuit breaker: the impact of new events on the colors of
//! the persons they are about (`ymt_node::breaker::impact_of`), and whether a
//! proposed action is applied at once or held for a second authority
//! (`ymt_node::breaker::propose`: `Proposed::Applied` or `Proposed::Held`).
//!
//! An override is red or yellow from its `from` (included) to its `until`
//! (excluded); a person's color is the most severe that applies; the breaker
//! holds an action that would change more colors than its limit (equal is
//! allowed), and any action that needs national approval for its
//! granularity.

mod support;

use serde_json::json;
use support::{
    DAY_SECS, HOUR_SECS, NANSHAN, TableNode, at_secs, close_contact, pid, table_principal,
    test_result,
};
use ymt_core::{Color, Timestamp};
use ymt_node::breaker::{self, Action, BulkOverrideRequest, Impact, Proposed};
use ymt_node::state::EventRecord;

/// What a person's timeline holds before the new events.
#[derive(Clone, Copy)]
enum Before {
    /// No event at all: unknown to the node.
    Unknown,
    /// A negative PCR test: green.
    Green,
    /// A close contact designated an hour ago: red.
    CloseContact,
    /// A positive antigen test: yellow.
    AntigenPositive,
}

async fn give_history(table: &TableNode, person: &str, before: Before) {
    let event = match before {
        Before::Unknown => return,
        Before::Green => test_result(
            &format!("{person}-t"),
            person,
            "pcr",
            "negative",
            at_secs(-2 * HOUR_SECS),
        ),
        Before::CloseContact => close_contact(&format!("{person}-cc"), person, at_secs(-HOUR_SECS)),
        Before::AntigenPositive => test_result(
            &format!("{person}-ag"),
            person,
            "antigen",
            "positive",
            at_secs(-HOUR_SECS),
        ),
    };
    table.ingest(vec![event]).await;
}

/// An override of `person`, not stored: what an action would add.
fn override_record(
    id: &str,
    person: &str,
    color: &str,
    from: Timestamp,
    until: Timestamp,
) -> EventRecord {
    serde_json::from_value(json!({
        "region": NANSHAN,
        "event": {"id": id, "person": person, "recorded_at": at_secs(0), "author": "table-test",
                  "kind": "override",
                  "data": {"color": color, "reason": "a table row", "from": from, "until": until}},
    }))
    .expect("an override record")
}

/// `reached N, changing M[: transition, …]`.
fn render(impact: &Impact) -> String {
    let mut text = format!(
        "reached {}, changing {}",
        impact.persons_reached, impact.persons_changing
    );
    if !impact.transitions.is_empty() {
        let transitions: Vec<String> = impact
            .transitions
            .iter()
            .map(|(transition, n)| match n {
                1 => transition.clone(),
                n => format!("{transition} {n}"),
            })
            .collect();
        text.push_str(&format!(": {}", transitions.join(", ")));
    }
    text
}

/// One row of the impact table: persons (each with a history) and the
/// overrides about them as (person number, color, from, until) in seconds
/// relative to T0.
async fn check_impact(
    table: &TableNode,
    row: usize,
    persons: &[Before],
    overrides: &[(usize, &str, i64, i64)],
    expect: &str,
) {
    let names: Vec<String> = (0..persons.len())
        .map(|number| format!("i{row}-{number}"))
        .collect();
    for (name, before) in names.iter().zip(persons) {
        give_history(table, name, *before).await;
    }
    let records: Vec<EventRecord> = overrides
        .iter()
        .enumerate()
        .map(|(number, (person, color, from_secs, until_secs))| {
            override_record(
                &format!("o-{row}-{number}"),
                &names[*person],
                color,
                at_secs(*from_secs),
                at_secs(*until_secs),
            )
        })
        .collect();
    let impact = breaker::impact_of(&table.node, &records).expect("an impact");
    assert_eq!(render(&impact), expect, "impact row {row}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_impact_of_overrides_on_colors() {
    use Before::*;
    let table = TableNode::open();
    let day = DAY_SECS;
    #[allow(clippy::type_complexity)]
    let rows: Vec<(Vec<Before>, Vec<(usize, &str, i64, i64)>, &str)> = vec![
        // Before: the node's color (green for an unknown person).
        (
            vec![Unknown],
            vec![(0, "red", 0, day)],
            "reached 1, changing 1: green->red",
        ),
        (
            vec![Green],
            vec![(0, "yellow", 0, day)],
            "reached 1, changing 1: green->yellow",
        ),
        (
            vec![AntigenPositive],
            vec![(0, "red", 0, day)],
            "reached 1, changing 1: yellow->red",
        ),
        // The most severe color applies: an override never lowers one.
        (
            vec![CloseContact],
            vec![(0, "red", 0, day)],
            "reached 1, changing 0",
        ),
        (
            vec![CloseContact],
            vec![(0, "yellow", 0, day)],
            "reached 1, changing 0",
        ),
        // In force from `from` included to `until` excluded.
        (
            vec![Green],
            vec![(0, "red", -2 * day, -day)],
            "reached 1, changing 0",
        ),
        (
            vec![Green],
            vec![(0, "red", day, 2 * day)],
            "reached 1, changing 0",
        ),
        (
            vec![Green],
            vec![(0, "red", 0, 1)],
            "reached 1, changing 1: green->red",
        ),
        (
            vec![Green],
            vec![(0, "red", 1, day)],
            "reached 1, changing 0",
        ),
        (
            vec![Green],
            vec![(0, "red", -day, 0)],
            "reached 1, changing 0",
        ),
        (
            vec![Green],
            vec![(0, "red", -day, 1)],
            "reached 1, changing 1: green->red",
        ),
        // Persons, not events, are counted.
        (
            vec![Green],
            vec![(0, "yellow", 0, day), (0, "red", 0, day)],
            "reached 1, changing 1: green->red",
        ),
        (
            vec![Green, Unknown, CloseContact],
            vec![
                (0, "red", 0, day),
                (1, "yellow", 0, day),
                (2, "red", 0, day),
            ],
            "reached 3, changing 2: green->red, green->yellow",
        ),
    ];
    for (row, (persons, overrides, expect)) in rows.into_iter().enumerate() {
        check_impact(&table, row, &persons, &overrides, expect).await;
    }
}

/// The breaker's limit in the proposal table.
const BREAKER_PERSONS_MAX: usize = 2;

/// One row of the proposal table: a bulk override of `persons` (each with a
/// history) to `color` over `[from_secs, until_secs)`, with or without a
/// granularity hold.
struct Proposal {
    persons: Vec<Before>,
    color: Color,
    from_secs: i64,
    until_secs: i64,
    granularity: Option<&'static str>,
}

fn red_today(persons: Vec<Before>) -> Proposal {
    Proposal {
        persons,
        color: Color::Red,
        from_secs: 0,
        until_secs: DAY_SECS,
        granularity: None,
    }
}

/// `applied: N events; <impact>` or `held (<reasons>); <impact>`, then the
/// colors of the persons afterwards.
async fn check_proposal(table: &TableNode, row: usize, proposal: Proposal, expect: &str) {
    let names: Vec<String> = (0..proposal.persons.len())
        .map(|number| format!("b{row}-{number}"))
        .collect();
    for (name, before) in names.iter().zip(&proposal.persons) {
        give_history(table, name, *before).await;
    }
    let action = Action::new(
        breaker::KIND_BULK_OVERRIDE,
        &BulkOverrideRequest {
            id: format!("bulk-{row}"),
            pids: names.iter().map(|name| pid(name)).collect(),
            region: NANSHAN.parse().expect("a region"),
            color: proposal.color,
            reason: "a table row".into(),
            from: at_secs(proposal.from_secs),
            until: at_secs(proposal.until_secs),
        },
    );
    let granularity = proposal.granularity.map(str::to_string);
    let proposed = breaker::propose(&table.node, &table_principal(), action, granularity)
        .await
        .expect("the proposal is decided");
    let outcome = match proposed {
        Proposed::Applied { applied, impact } => {
            format!(
                "applied: {} events; {}",
                applied.events_stored,
                render(&impact)
            )
        }
        Proposed::Held(pending) => {
            format!(
                "held ({}); {}",
                pending.held_because.join("; "),
                render(&pending.impact)
            )
        }
    };
    let colors: Vec<&str> = names
        .iter()
        .map(|name| table.color(name).as_str())
        .collect();
    let actual = format!("{outcome}; now {}", colors.join(" "));
    assert_eq!(actual, expect, "proposal row {row}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proposal_is_applied_or_held() {
    use Before::*;
    let table = TableNode::open_with_config(|config| {
        config.tracing.breaker_persons_max = BREAKER_PERSONS_MAX
    });
    let rows: Vec<(Proposal, &str)> = vec![
        // Up to the limit, applied at once; one more, held.
        (
            red_today(vec![Green, Green]),
            "applied: 2 events; reached 2, changing 2: green->red 2; now red red",
        ),
        (
            red_today(vec![Green, Green, Unknown]),
            "held (circuit breaker: 3 persons would change color, more than 2); \
             reached 3, changing 3: green->red 3; now green green green",
        ),
        // Only changes count: reaching more persons is not enough.
        (
            red_today(vec![CloseContact, CloseContact, Green]),
            "applied: 3 events; reached 3, changing 1: green->red; now red red red",
        ),
        (
            Proposal {
                from_secs: -2 * DAY_SECS,
                until_secs: -DAY_SECS,
                ..red_today(vec![Green, Green, Green])
            },
            "applied: 3 events; reached 3, changing 0; now green green green",
        ),
        // National approval for granularity holds whatever the impact.
        (
            Proposal {
                granularity: Some("granularity: larger than a community"),
                ..red_today(vec![CloseContact])
            },
            "held (granularity: larger than a community); reached 1, changing 0; now red",
        ),
    ];
    for (row, (proposal, expect)) in rows.into_iter().enumerate() {
        check_proposal(&table, row, proposal, expect).await;
    }
}

/// A held national rule set decided twice at once on two nodes: approved
/// on one, rejected on the other. Whichever decision stands first in the
/// stream, every node ends with the rule set in force exactly when its
/// action is recorded approved (the approval publishes it, in one commit),
/// and the other decision is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_rule_set_approved_and_rejected_at_once_is_in_force_exactly_when_approved() {
    let mut document: serde_json::Value =
        serde_json::from_str(ymt_rules::ruleset::NATIONAL_RULE_SET_JSON).expect("the rule set");
    document["version"] = json!("9.0.0");
    let request = ymt_node::publication::RulesDocument {
        id: "cn-national-9.0.0".into(),
        document: document.to_string(),
    };
    let proposal = ymt_node::model::PendingAction {
        id: ymt_node::model::pending_id_of(ymt_node::breaker::KIND_RULE_SET, &request.id),
        action: ymt_node::model::HeldAction::new(ymt_node::breaker::KIND_RULE_SET, &request),
        proposer: "admin-1".into(),
        proposed_at: at_secs(0),
        held_because: vec!["a national rule set".into()],
        impact: Default::default(),
        status: ymt_node::model::PendingStatus::Pending,
        decided_by: None,
        decided_at: None,
        events_stored: 0,
        persons_reached: 0,
    };
    let decided = |status, by: &str| {
        let mut pending = proposal.clone();
        pending.status = status;
        pending.decided_by = Some(by.into());
        pending.decided_at = Some(at_secs(60));
        pending
    };
    let command = |command_id: &str, pending: ymt_node::model::PendingAction| {
        let mut envelope = ymt_node::record::RecordEnvelope::new(
            &ymt_node::record::Author::operator(),
            at_secs(60),
            ymt_node::record::Record::ActionRecorded { pending },
        );
        envelope.command_id = command_id.into();
        envelope
    };
    let approval = decided(ymt_node::model::PendingStatus::Approved, "admin-2");
    let rejection = decided(ymt_node::model::PendingStatus::Rejected, "admin-3");
    for approval_first in [true, false] {
        let table = TableNode::open();
        let before = table.node.rules.read().national.version().to_string();
        let mut stream = vec![
            command("cmd-propose", proposal.clone()),
            command("cmd-approve", approval.clone()),
            command("cmd-reject", rejection.clone()),
        ];
        if !approval_first {
            stream.swap(1, 2);
        }
        for (position, envelope) in stream.into_iter().enumerate() {
            table
                .node
                .apply_replicated(
                    vec![envelope],
                    ymt_node::replication::position_write("YMT_RECORDS", position as u64 + 1),
                )
                .await
                .expect("applied");
        }
        let stored: ymt_node::model::PendingAction = serde_json::from_slice(
            &table
                .node
                .store
                .meta_get(ymt_node::model::META_PENDING, &proposal.id)
                .expect("reads")
                .expect("the held rule set"),
        )
        .expect("a pending action");
        let in_force = table.node.rules.read().national.version().to_string();
        if approval_first {
            assert_eq!(stored.status, ymt_node::model::PendingStatus::Approved);
            assert_eq!(in_force, "9.0.0", "approved: in force");
            assert!(support::refusal_of(&table, "cmd-reject").is_some());
            assert_eq!(support::refusal_of(&table, "cmd-approve"), None);
        } else {
            assert_eq!(stored.status, ymt_node::model::PendingStatus::Rejected);
            assert_eq!(in_force, before, "rejected: not in force");
            assert!(support::refusal_of(&table, "cmd-approve").is_some());
        }
    }
}

/// A service's held rule set (`hospital.rule_set`, `care_visit.rule_set`)
/// in a cluster: its proposal, approval and rejection are ordered commands
/// like a national rule set's. An approval and a rejection sent at once to
/// two nodes end alike on every node: the service rule set is in force
/// exactly when its action is recorded approved, put into force by the
/// approval itself (in its commit), and the other decision is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_service_rule_set_approved_and_rejected_at_once_is_in_force_exactly_when_approved() {
    type VersionInForce = fn(&TableNode) -> String;
    let services: [(&str, VersionInForce, &str); 2] = [
        (
            ymt_node::hospital::KIND_HELD_RULE_SET,
            |table| {
                let module = table.node.module::<ymt_node::hospital::HospitalModule>();
                module.expect("the hospital").rules.describe(None)["rule_set"]["version"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            },
            include_str!("../services/hospital-entrance.json"),
        ),
        (
            ymt_node::care_homes::KIND_HELD_RULE_SET,
            |table| {
                let module = table.node.module::<ymt_node::care_homes::CareHomeModule>();
                module.expect("the care homes").rules.describe(None)["rule_set"]["version"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            },
            include_str!("../services/care-visit.json"),
        ),
    ];
    for (kind, version_in_force, shipped) in services {
        let mut document: serde_json::Value = serde_json::from_str(shipped).expect("JSON");
        document["version"] = json!("2.0.0");
        let request = json!({"id": "2.0.0", "document": document.to_string()});
        let proposal = ymt_node::model::PendingAction {
            id: ymt_node::model::pending_id_of(kind, "2.0.0"),
            action: ymt_node::model::HeldAction::new(kind, &request),
            proposer: "admin-1".into(),
            proposed_at: at_secs(0),
            held_because: vec!["a service rule set".into()],
            impact: Default::default(),
            status: ymt_node::model::PendingStatus::Pending,
            decided_by: None,
            decided_at: None,
            events_stored: 0,
            persons_reached: 0,
        };
        let decided = |status, by: &str| {
            let mut pending = proposal.clone();
            pending.status = status;
            pending.decided_by = Some(by.into());
            pending.decided_at = Some(at_secs(60));
            pending
        };
        let approval = decided(ymt_node::model::PendingStatus::Approved, "admin-2");
        let rejection = decided(ymt_node::model::PendingStatus::Rejected, "admin-3");
        for approval_first in [true, false] {
            let table = TableNode::open();
            let before = version_in_force(&table);
            let mut stream = vec![
                support::stream_command("cmd-propose", proposal.clone()),
                support::stream_command("cmd-approve", approval.clone()),
                support::stream_command("cmd-reject", rejection.clone()),
            ];
            if !approval_first {
                stream.swap(1, 2);
            }
            support::apply_in_stream_order(&table, stream).await;
            let stored = support::stored_pending(&table, &proposal.id);
            if approval_first {
                assert_eq!(
                    stored.status,
                    ymt_node::model::PendingStatus::Approved,
                    "{kind}"
                );
                assert_eq!(
                    version_in_force(&table),
                    "2.0.0",
                    "{kind} approved: in force"
                );
                assert!(
                    support::refusal_of(&table, "cmd-reject").is_some(),
                    "{kind}"
                );
                assert_eq!(support::refusal_of(&table, "cmd-approve"), None, "{kind}");
            } else {
                assert_eq!(
                    stored.status,
                    ymt_node::model::PendingStatus::Rejected,
                    "{kind}"
                );
                assert_eq!(
                    version_in_force(&table),
                    before,
                    "{kind} rejected: not in force"
                );
                assert!(
                    support::refusal_of(&table, "cmd-approve").is_some(),
                    "{kind}"
                );
            }
        }
    }
}

/// An approved service rule set is checked again where its approval stands
/// in the stream: one that is no longer newer than the rule set in force
/// (a newer one was approved first) is refused there, and nothing of it is
/// put into force.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_service_rule_set_approved_after_a_newer_one_is_refused_in_stream_order() {
    let kind = ymt_node::hospital::KIND_HELD_RULE_SET;
    let held = |version: &str| {
        let mut document: serde_json::Value =
            serde_json::from_str(include_str!("../services/hospital-entrance.json")).expect("JSON");
        document["version"] = json!(version);
        let request = json!({"id": version, "document": document.to_string()});
        ymt_node::model::PendingAction {
            id: ymt_node::model::pending_id_of(kind, version),
            action: ymt_node::model::HeldAction::new(kind, &request),
            proposer: "admin-1".into(),
            proposed_at: at_secs(0),
            held_because: vec!["a service rule set".into()],
            impact: Default::default(),
            status: ymt_node::model::PendingStatus::Pending,
            decided_by: None,
            decided_at: None,
            events_stored: 0,
            persons_reached: 0,
        }
    };
    let approved = |mut pending: ymt_node::model::PendingAction| {
        pending.status = ymt_node::model::PendingStatus::Approved;
        pending.decided_by = Some("admin-2".into());
        pending.decided_at = Some(at_secs(60));
        pending
    };
    let table = TableNode::open();
    support::apply_in_stream_order(
        &table,
        vec![
            support::stream_command("cmd-propose-3", held("3.0.0")),
            support::stream_command("cmd-propose-2", held("2.0.0")),
            support::stream_command("cmd-approve-3", approved(held("3.0.0"))),
            support::stream_command("cmd-approve-2", approved(held("2.0.0"))),
        ],
    )
    .await;
    let hospital = table
        .node
        .module::<ymt_node::hospital::HospitalModule>()
        .expect("the hospital");
    assert_eq!(
        hospital.rules.describe(None)["rule_set"]["version"],
        json!("3.0.0")
    );
    let why = support::refusal_of(&table, "cmd-approve-2").expect("the older one is refused");
    assert!(why.contains("not newer"), "{why}");
    assert_eq!(
        support::stored_pending(&table, &held("2.0.0").id).status,
        ymt_node::model::PendingStatus::Pending,
        "the refused approval decided nothing"
    );
}

// ---- Code-signing key revocations in a cluster's stream ------------------

use support::{announcement, keys_of, revocation};
use ymt_node::model::PendingStatus;

/// A key revoked through another node (its proposal and approval read from
/// the stream) is revoked on this node too: in its key store, in the trust
/// list it serves, and it no longer signs with it. Delivered twice, the
/// approval changes nothing more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signing_key_revoked_through_another_node_is_revoked_and_replaced_on_this_one() {
    let table = TableNode::open();
    let (kid, listed) = keys_of(&table, "");
    assert_eq!(listed, None);
    assert_eq!(keys_of(&table, &kid).1, Some(false));
    let approve = support::stream_command(
        "cmd-approve",
        revocation(&kid, PendingStatus::Approved, "admin-2"),
    );
    let stream = vec![
        support::stream_command("cmd-propose", revocation(&kid, PendingStatus::Pending, "")),
        approve.clone(),
        approve,
    ];
    support::apply_in_stream_order(&table, stream).await;
    let pending_id = revocation(&kid, PendingStatus::Pending, "").id;
    assert_eq!(
        support::stored_pending(&table, &pending_id).status,
        PendingStatus::Approved
    );
    let parsed = ymt_token::Kid::parse_hex(&kid).expect("a kid");
    assert_eq!(
        table.node.codes.key_state(&parsed),
        Some(true),
        "revoked in the key store"
    );
    let (signing, listed) = keys_of(&table, &kid);
    assert_eq!(listed, Some(true), "the trust list marks it revoked");
    assert_ne!(signing, kid, "it no longer signs with it");
    assert_eq!(
        keys_of(&table, &signing).1,
        Some(false),
        "its new key is listed"
    );
}

/// Two-person rule on every node: an approval by the proposer itself (or
/// one with no proposal before it) is refused where it stands in the
/// stream, and the key stays valid.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_revocation_approved_by_its_proposer_alone_is_refused_on_every_node() {
    let table = TableNode::open();
    let (kid, _) = keys_of(&table, "");
    let stream = vec![
        support::stream_command(
            "cmd-approve-unproposed",
            revocation(&kid, PendingStatus::Approved, "admin-2"),
        ),
        support::stream_command("cmd-propose", revocation(&kid, PendingStatus::Pending, "")),
        support::stream_command(
            "cmd-approve-self",
            revocation(&kid, PendingStatus::Approved, "admin-1"),
        ),
    ];
    support::apply_in_stream_order(&table, stream).await;
    for command in ["cmd-approve-unproposed", "cmd-approve-self"] {
        assert!(support::refusal_of(&table, command).is_some(), "{command}");
    }
    assert_eq!(
        keys_of(&table, &kid),
        (kid.clone(), Some(false)),
        "still valid, still signing"
    );
}

/// No message on the stream un-revokes a key: an announcement of a revoked
/// kid (also of one revoked before this node knew it) leaves it revoked,
/// and only a node may announce a key, never a principal. A node's
/// announcement of a fresh key lists it; a forged kid is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_message_on_the_stream_unrevokes_a_key_or_lets_a_principal_announce_one() {
    let table = TableNode::open();
    let mut rng = ymt_token::rand_core::OsRng;
    let (stolen_kid, _) = keys_of(&table, "");
    let peer = ymt_token::SigningKey::generate(ymt_token::Algorithm::EdDsa, &mut rng);
    let unknown = ymt_token::SigningKey::generate(ymt_token::Algorithm::EdDsa, &mut rng);
    let unknown_kid = unknown.kid().to_hex();
    let stolen = {
        // The node's own key, as a peer that copied the store would see it.
        let (key, _, _) = table.node.codes.signing_key_public().expect("a key");
        key
    };
    let admin = ymt_node::record::Author {
        id: "admin-1".into(),
        role: "national_admin".into(),
        key_id: None,
    };
    let node = ymt_node::record::Author::node();
    let mut forged = announcement("cmd-forged", &node, &peer.verifying_key());
    if let ymt_node::record::Record::SigningKeyAnnounced { key } = &mut forged.record {
        key.kid = unknown_kid.clone();
    }
    let stream = vec![
        support::stream_command(
            "cmd-p1",
            revocation(&stolen_kid, PendingStatus::Pending, ""),
        ),
        support::stream_command(
            "cmd-a1",
            revocation(&stolen_kid, PendingStatus::Approved, "admin-2"),
        ),
        announcement("cmd-again", &node, &stolen),
        support::stream_command(
            "cmd-p2",
            revocation(&unknown_kid, PendingStatus::Pending, ""),
        ),
        support::stream_command(
            "cmd-a2",
            revocation(&unknown_kid, PendingStatus::Approved, "admin-2"),
        ),
        announcement("cmd-late", &node, &unknown.verifying_key()),
        announcement("cmd-by-admin", &admin, &peer.verifying_key()),
        forged,
        announcement("cmd-peer", &node, &peer.verifying_key()),
    ];
    support::apply_in_stream_order(&table, stream).await;
    assert_eq!(
        keys_of(&table, &stolen_kid).1,
        Some(true),
        "announced again: still revoked"
    );
    assert_eq!(
        keys_of(&table, &unknown_kid).1,
        Some(true),
        "known late: added revoked"
    );
    assert!(
        support::refusal_of(&table, "cmd-by-admin").is_some(),
        "a principal announces nothing"
    );
    assert!(
        support::refusal_of(&table, "cmd-forged").is_some(),
        "a kid not the key's"
    );
    assert_eq!(support::refusal_of(&table, "cmd-peer"), None);
    assert_eq!(
        keys_of(&table, &peer.kid().to_hex()).1,
        Some(false),
        "a node's key is listed"
    );
}

/// A node that stopped after revoking the key in its key store but before
/// recording the approval applies the approval again at restart: the key
/// stays revoked and the node rotates once, not twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_revocation_applied_again_after_a_crash_rotates_only_once() {
    let table = TableNode::open();
    let (kid, _) = keys_of(&table, "");
    let parsed = ymt_token::Kid::parse_hex(&kid).expect("a kid");
    // What the first attempt made durable before the node stopped.
    assert!(
        table
            .node
            .codes
            .revoke_key_in_order(&parsed, at_secs(60))
            .expect("revoked")
    );
    let (rotated_to, _) = keys_of(&table, &kid);
    let stream = vec![
        support::stream_command("cmd-propose", revocation(&kid, PendingStatus::Pending, "")),
        support::stream_command(
            "cmd-approve",
            revocation(&kid, PendingStatus::Approved, "admin-2"),
        ),
    ];
    support::apply_in_stream_order(&table, stream).await;
    assert_eq!(support::refusal_of(&table, "cmd-approve"), None);
    assert_eq!(keys_of(&table, &kid), (rotated_to.clone(), Some(true)));
    let listed = table.node.codes.trust().trust_list.entries().len();
    assert_eq!(listed, 2, "the revoked key and one new key, not two");
}
