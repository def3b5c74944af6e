//! Every record kind is classified, commutative or ordered, in the code and
//! in docs/log.md alike, and an ordered command takes effect at the instant
//! it carries, not at the clock of the node applying it.

mod support;

use std::collections::BTreeMap;

use serde_json::json;
use support::{HOUR_SECS, TableNode, at_secs, refusal_of};
use ymt_node::record::{Author, RECORD_KINDS, Record, RecordEnvelope, RecordKind};
use ymt_store::AuditFilter;

/// One record of every kind, as JSON (a record is serialised with its
/// `kind` tag).
fn one_of_each() -> Vec<Record> {
    let instant = "2022-07-01T08:00:00Z";
    let samples = vec![
        json!({"kind": "events", "events": []}),
        json!({"kind": "principal_added", "principal": {
            "id": "lab-1", "role": "lab", "jurisdiction": "440305", "display_name": "a lab",
            "key_sha256": "00"}}),
        json!({"kind": "person_registered", "person": {
            "pid": "p1", "masked_name": "张*", "id_type": "passport", "region": "440305",
            "has_phone": false}}),
        json!({"kind": "venue_registered", "venue": {
            "id": "v1", "name": "a venue", "region": "440305001001", "category": "retail",
            "indoor": true, "registered_by": "operator", "registered_at": instant}}),
        json!({"kind": "rule_set_published", "version": "2.0.0", "document": "{}"}),
        json!({"kind": "profile_published", "region": "440305", "document": "{}"}),
        json!({"kind": "risk_area_recorded", "area": {
            "request": {"id": "area-1", "region": "440305", "level": "high", "from": instant,
                        "until": instant, "reason": "cluster"},
            "designated_by": "ha-1", "status": "pending", "updated_at": instant}}),
        json!({"kind": "action_recorded", "pending": {
            "id": "tracing.t1", "action": {"kind": "tracing", "request": {}},
            "proposer": "auto-trace", "proposed_at": instant, "held_because": [],
            "impact": {"persons_reached": 0, "persons_changing": 0, "transitions": {}},
            "status": "pending"}}),
        json!({"kind": "designation_confirmed", "confirmation": {
            "designation": "d1", "pid": "p1", "confirmed_by": "ha-1", "confirmed_at": instant,
            "note": "confirmed"}}),
        json!({"kind": "appeal_recorded", "appeal": {
            "id": "a1", "pid": "p1", "region": null, "filed_by": "p1", "filed_at": instant,
            "text": "why", "color_at_filing": "yellow", "resolved": null}}),
        json!({"kind": "tracing_recorded", "test": "t1", "case": "p1", "designations": [],
               "close_contacts": []}),
        json!({"kind": "tracing_withdrawn", "test": "t1"}),
        json!({"kind": "module_recorded", "module": "hospital", "record_kind": "hospital.consent_given",
               "namespace": "hospital-consents", "key": "p1/v1", "value": {}}),
        json!({"kind": "sessions_ended", "pid": "p1", "ended_at": instant}),
        json!({"kind": "signing_key_announced", "key": {
            "kid": "00", "algorithm": "EdDSA", "issuer": "ymt:cn", "public_key": "AA",
            "created_at": instant}}),
    ];
    samples
        .into_iter()
        .map(|sample| {
            serde_json::from_value(sample.clone())
                .unwrap_or_else(|error| panic!("{sample}: {error}"))
        })
        .collect()
}

/// The kinds table of docs/log.md: kind → its `order` column.
fn documented_kinds() -> BTreeMap<String, String> {
    let log = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/log.md"))
        .expect("docs/log.md");
    let kinds = log
        .split("## Kinds")
        .nth(1)
        .expect("a Kinds section")
        .split("\n## ")
        .next()
        .expect("its text");
    kinds
        .lines()
        .filter(|line| line.starts_with("| `"))
        .map(|line| {
            let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
            (
                cells[0].trim_matches('`').to_owned(),
                cells.last().expect("an order column").to_string(),
            )
        })
        .collect()
}

#[test]
fn every_record_kind_is_classified_in_the_code_and_in_docs_log_md() {
    let samples = one_of_each();
    let listed: BTreeMap<&str, RecordKind> = RECORD_KINDS.iter().copied().collect();
    assert_eq!(samples.len(), RECORD_KINDS.len(), "one sample per kind");
    for record in &samples {
        assert_eq!(
            listed.get(record.kind()),
            Some(&record.record_kind()),
            "{}: RECORD_KINDS and Record::record_kind disagree",
            record.kind()
        );
    }
    let documented = documented_kinds();
    let expected: BTreeMap<String, String> = RECORD_KINDS
        .iter()
        .map(|(kind, class)| {
            let class = match class {
                RecordKind::Commutative => "commutative",
                RecordKind::Ordered => "ordered",
            };
            ((*kind).to_owned(), class.to_owned())
        })
        .collect();
    assert_eq!(documented, expected, "docs/log.md's kinds table");
}

#[test]
fn the_kinds_the_issue_names_are_commutative_or_ordered_as_it_says() {
    let kind_of = |name: &str| {
        RECORD_KINDS
            .iter()
            .find(|(kind, _)| *kind == name)
            .map(|(_, class)| *class)
            .expect(name)
    };
    // Tests, vaccinations, check-ins, travel, quarantines, overrides and
    // retractions are events.
    assert_eq!(kind_of("events"), RecordKind::Commutative);
    for ordered in [
        "rule_set_published",
        "profile_published",
        "risk_area_recorded",
        "action_recorded",
        "principal_added",
        "venue_registered",
        "appeal_recorded",
    ] {
        assert_eq!(kind_of(ordered), RecordKind::Ordered, "{ordered}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ordered_command_takes_effect_at_its_own_instant_not_the_applying_nodes_clock() {
    let table = TableNode::open();
    // The command was made an hour before this node's clock: a replica
    // applying it late, or a replay, must not move it to its own now.
    let made_at = at_secs(-HOUR_SECS);
    table.clock.set(at_secs(5 * HOUR_SECS));
    let record: Record = serde_json::from_value(json!({"kind": "venue_registered", "venue": {
        "id": "v-late", "name": "a venue", "region": "440305001001", "category": "retail",
        "indoor": true, "registered_by": "operator", "registered_at": made_at}}))
    .expect("a record");
    assert_eq!(record.record_kind(), RecordKind::Ordered);
    let envelope = RecordEnvelope::new(&Author::operator(), made_at, record);
    let replicated: RecordEnvelope =
        serde_json::from_slice(&serde_json::to_vec(&envelope).expect("serialises"))
            .expect("reads back");
    assert_eq!(replicated.at, made_at);
    table
        .node
        .apply_envelope(&replicated, "replicated")
        .expect("applied");
    let audit = table
        .node
        .store
        .audit_list(&AuditFilter::default(), 10_000)
        .expect("the audit log");
    let last = audit.last().expect("one audit record");
    assert_eq!(last.action, "venue.register");
    assert_eq!(last.at, made_at, "audited at the command's instant");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_the_broker_lost_an_ordered_command_for_is_told_apart_from_its_peers() {
    use ymt_node::command_chain::{PeerVerdict, in_minority};
    // Three nodes read the stream; the broker lost the second command for
    // the third node only (a truncated replica), which applied the rest.
    let nodes = [TableNode::open(), TableNode::open(), TableNode::open()];
    let command = |id: &str, pid: &str| {
        from_stream(
            id,
            serde_json::json!({"kind": "sessions_ended", "pid": pid, "ended_at": "2026-01-01T01:00:00Z"}),
        )
    };
    let stream = [
        command("cmd-1", "p-1"),
        command("cmd-2", "p-2"),
        command("cmd-3", "p-3"),
    ];
    for (index, table) in nodes.iter().enumerate() {
        for (position, envelope) in stream.iter().enumerate() {
            if index == 2 && envelope.command_id == "cmd-2" {
                continue;
            }
            table
                .node
                .apply_replicated(
                    vec![envelope.clone()],
                    ymt_node::replication::position_write("YMT_RECORDS", position as u64 + 1),
                )
                .await
                .expect("applied");
        }
    }
    // A command delivered twice is not chained twice.
    nodes[0]
        .node
        .apply_replicated(
            vec![stream[2].clone()],
            ymt_node::replication::position_write("YMT_RECORDS", 3),
        )
        .await
        .expect("applied again");
    let heads: Vec<_> = nodes
        .iter()
        .map(|table| table.node.replication.commands.head())
        .collect();
    assert_eq!(heads[0], heads[1]);
    assert_eq!((heads[0].count, heads[2].count), (3, 2));
    // What each node concludes from each peer's answer (its head, and its
    // point at the asking node's count).
    let verdict = |me: usize, peer: usize| {
        let my_head = nodes[me].node.replication.commands.head();
        let peer_at_my_count = nodes[peer]
            .node
            .command_chain_at(my_head.count)
            .expect("read");
        nodes[me]
            .node
            .compare_command_chain(&heads[peer], peer_at_my_count.as_ref(), &my_head)
    };
    let verdicts = |me: usize| -> std::collections::HashMap<String, PeerVerdict> {
        (0..3)
            .filter(|peer| *peer != me)
            .map(|peer| (format!("node-{peer}"), verdict(me, peer)))
            .collect()
    };
    assert_eq!(verdict(0, 1), PeerVerdict::Agrees);
    assert_eq!(verdict(0, 2), PeerVerdict::Disagrees { at: 2 });
    assert_eq!(verdict(2, 0), PeerVerdict::Disagrees { at: 2 });
    assert!(!in_minority(&verdicts(0)));
    assert!(!in_minority(&verdicts(1)));
    assert!(in_minority(&verdicts(2)), "{:?}", verdicts(2));
    // The chain is durable: it is read back from the store as a restart does.
    assert_eq!(
        nodes[2].node.load_command_chain().expect("read back"),
        heads[2]
    );
}

/// A command as it comes from a cluster's stream: its record (as JSON) and
/// the command id the node that received it chose.
fn from_stream(command_id: &str, record: serde_json::Value) -> RecordEnvelope {
    let record: Record = serde_json::from_value(record).expect("a record");
    let mut envelope = RecordEnvelope::new(&Author::operator(), at_secs(HOUR_SECS), record);
    envelope.command_id = command_id.to_owned();
    envelope.detail = command_id.to_owned();
    envelope
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn person_commands_made_at_once_on_two_nodes_end_the_same_on_every_node() {
    let person = |masked_name: &str, has_phone: bool| {
        json!({"pid": "p-race", "masked_name": masked_name, "id_type": "passport",
               "region": "440305", "has_phone": has_phone, "registered_by": "cdc-440305"})
    };
    let appeal = |id: &str, text: &str, resolved: serde_json::Value| {
        json!({"kind": "appeal_recorded", "appeal": {
            "id": id, "pid": "p-race", "region": "440305", "filed_by": "cdc-440305",
            "filed_at": at_secs(HOUR_SECS), "text": text, "color_at_filing": "yellow",
            "resolved": resolved}})
    };
    let resolution = |note: &str| {
        json!({"by": "cdc-440305", "at": at_secs(2 * HOUR_SECS), "note": note,
               "outcome": "upheld"})
    };
    let confirmation = |by: &str| {
        json!({"kind": "designation_confirmed", "confirmation": {
            "designation": "auto-trace.d1", "pid": "p-race", "confirmed_by": by,
            "confirmed_at": at_secs(HOUR_SECS), "note": "confirmed"}})
    };
    // (command id, record, refused in stream order?)
    let stream = [
        // Two first registrations of one person, with other data, made at
        // once on two nodes: the later in the stream is refused ...
        (
            "cmd-register-1",
            json!({"kind": "person_registered", "person": person("张*", true)}),
            false,
        ),
        (
            "cmd-register-2",
            json!({"kind": "person_registered", "person": person("李*", false)}),
            true,
        ),
        // ... the same registration again (a retry) is not.
        (
            "cmd-register-3",
            json!({"kind": "person_registered", "person": person("张*", true)}),
            false,
        ),
        // The same grounds filed at once on two nodes (whitespace aside).
        (
            "cmd-file-1",
            appeal("ap-1", "never  there", json!(null)),
            false,
        ),
        (
            "cmd-file-2",
            appeal("ap-2", "never there", json!(null)),
            true,
        ),
        // Other grounds are another appeal.
        (
            "cmd-file-3",
            appeal("ap-3", "a wrong result", json!(null)),
            false,
        ),
        // Resolved at once on two nodes, and an appeal never filed.
        (
            "cmd-resolve-1",
            appeal("ap-1", "never  there", resolution("first")),
            false,
        ),
        (
            "cmd-resolve-2",
            appeal("ap-1", "never  there", resolution("second")),
            true,
        ),
        (
            "cmd-resolve-4",
            appeal("ap-4", "unknown", resolution("nothing")),
            true,
        ),
        // One designation confirmed at once by two authorities: the first
        // in the stream stands; the same confirmation again is a retry.
        ("cmd-confirm-1", confirmation("cdc-440305"), false),
        ("cmd-confirm-2", confirmation("admin-2"), true),
        ("cmd-confirm-3", confirmation("cdc-440305"), false),
    ];
    // Two nodes apply the same stream: the same outcome and audit on both.
    let mut audits = Vec::new();
    for _node in 0..2 {
        let table = TableNode::open();
        let envelopes: Vec<RecordEnvelope> = stream
            .iter()
            .map(|(id, record, _)| from_stream(id, record.clone()))
            .collect();
        table
            .node
            .apply_replicated(
                envelopes,
                ymt_node::replication::position_write("YMT_RECORDS", stream.len() as u64),
            )
            .await
            .expect("applied");
        for (id, _, refused) in &stream {
            let outcome: serde_json::Value = serde_json::from_slice(
                &table
                    .node
                    .store
                    .meta_get(
                        ymt_node::replication_commands::APPLIED_COMMANDS_NAMESPACE,
                        id,
                    )
                    .expect("the store answers")
                    .unwrap_or_else(|| panic!("{id} was applied or refused")),
            )
            .expect("JSON");
            assert_eq!(
                outcome.get("refused").is_some(),
                *refused,
                "{id}: {outcome}"
            );
        }
        let stored = table
            .node
            .person_record(&support::pid("p-race"))
            .expect("the store answers")
            .expect("registered");
        assert_eq!(stored.masked_name.to_string(), "张*");
        assert!(stored.has_phone);
        let appeal_of = |id: &str| {
            table
                .node
                .store
                .meta_get("appeals", id)
                .expect("the store answers")
                .map(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).expect("JSON"))
        };
        assert_eq!(appeal_of("ap-2"), None, "the duplicate is not filed");
        assert_eq!(appeal_of("ap-4"), None);
        assert_eq!(
            appeal_of("ap-1").expect("filed")["resolved"]["note"],
            json!("first")
        );
        assert!(appeal_of("ap-3").expect("filed")["resolved"].is_null());
        let confirmed: serde_json::Value = serde_json::from_slice(
            &table
                .node
                .store
                .meta_get("confirmations", "auto-trace.d1")
                .expect("the store answers")
                .expect("confirmed"),
        )
        .expect("JSON");
        assert_eq!(confirmed["confirmed_by"], json!("cdc-440305"));
        let audit: Vec<(String, String, String)> = table
            .node
            .store
            .audit_list(&AuditFilter::default(), 10_000)
            .expect("the audit log")
            .into_iter()
            .map(|entry| {
                (
                    entry.action,
                    entry.outcome.as_str().to_owned(),
                    entry.detail,
                )
            })
            .collect();
        audits.push(audit);
    }
    assert_eq!(audits[0], audits[1]);
}

/// A designation record of area `ra-stream` (venue `v-area`, high risk,
/// from ten hours before T0 to ten hours after) as a command read from the
/// stream.
fn risk_command(
    command_id: &str,
    status: &str,
    at: ymt_core::Timestamp,
    lifted: Option<ymt_core::Timestamp>,
) -> RecordEnvelope {
    use support::{COMMUNITY, at_minutes};
    let id = ymt_core::EventId::parse("ra-stream").expect("an id");
    let venue = ymt_core::VenueId::parse("v-area").expect("a venue id");
    let request = ymt_node::risk::RiskAreaRequest {
        id: id.clone(),
        venues: vec![venue.clone()],
        region: None,
        level: ymt_core::event::RiskLevel::High,
        from: at_minutes(-600),
        until: at_minutes(600),
        reason: "a stay there".into(),
    };
    let area = ymt_core::risk_area::RiskArea {
        id,
        level: request.level,
        from: request.from,
        until: lifted.unwrap_or(request.until),
        in_force_at: at,
        venues: [(venue, COMMUNITY.parse().expect("a region"))].into(),
    };
    let record = ymt_node::risk::RiskAreaRecord {
        request,
        designated_by: "table-test".into(),
        status: status.into(),
        updated_at: at,
        area: (status != "pending").then_some(area),
        applied_after_seq: 0,
        lifted: lifted.map(|at| ymt_node::model::RiskAreaLift {
            at,
            by: "table-test".into(),
            reason: "no new cases".into(),
            held: None,
        }),
    };
    let mut envelope = RecordEnvelope::new(
        &Author::operator(),
        at,
        Record::RiskAreaRecorded { area: record },
    );
    envelope.command_id = command_id.into();
    envelope
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_risk_area_from_the_stream_is_put_in_force_once_and_lifted_once_on_every_node() {
    use support::{at_minutes, check_in};
    use ymt_core::Color;
    let table = TableNode::open();
    table.register_venue("v-area", true);
    table
        .ingest(vec![check_in(
            "ci-before",
            "visitor",
            "v-area",
            at_minutes(-120),
            at_minutes(-60),
        )])
        .await;
    let mut position = 0;
    let mut apply = |envelope: RecordEnvelope| {
        position += 1;
        let node = table.node.clone();
        async move {
            node.apply_replicated(
                vec![envelope],
                ymt_node::replication::position_write("YMT_RECORDS", position),
            )
            .await
            .expect("the command is applied or refused")
        }
    };
    // Put in force from the stream: the person it reaches turns yellow
    // here, as on the node that made it.
    apply(risk_command("cmd-1", "in_force", at_minutes(-30), None)).await;
    assert_eq!(refusal_of(&table, "cmd-1"), None);
    assert_eq!(table.color("visitor"), Color::Yellow);
    // Decided a second time (another node's approval, later in the
    // stream): refused, the area as the first put it.
    apply(risk_command("cmd-2", "in_force", at_minutes(-20), None)).await;
    assert!(
        refusal_of(&table, "cmd-2").is_some_and(|why| why.contains("already in_force")),
        "{:?}",
        refusal_of(&table, "cmd-2")
    );
    apply(risk_command("cmd-3", "rejected", at_minutes(-20), None)).await;
    assert!(refusal_of(&table, "cmd-3").is_some());
    // Lifted at its own instant; a stay after it gives nothing.
    apply(risk_command(
        "cmd-4",
        "lifted",
        at_minutes(-10),
        Some(at_minutes(-10)),
    ))
    .await;
    assert_eq!(refusal_of(&table, "cmd-4"), None);
    table
        .ingest(vec![check_in(
            "ci-after",
            "latecomer",
            "v-area",
            at_minutes(-5),
            at_minutes(-1),
        )])
        .await;
    assert_eq!(table.color("latecomer"), Color::Green);
    assert_eq!(
        table.color("visitor"),
        Color::Yellow,
        "a stay before the lift keeps its exposure"
    );
    // Lifted again, or a lift of an area never designated: refused.
    apply(risk_command(
        "cmd-5",
        "lifted",
        at_minutes(-5),
        Some(at_minutes(-5)),
    ))
    .await;
    assert!(
        refusal_of(&table, "cmd-5").is_some_and(|why| why.contains("already lifted")),
        "{:?}",
        refusal_of(&table, "cmd-5")
    );
    let mut never = risk_command("cmd-6", "lifted", at_minutes(-5), Some(at_minutes(-5)));
    if let Record::RiskAreaRecorded { area } = &mut never.record {
        area.request.id = ymt_core::EventId::parse("ra-never").expect("an id");
    }
    apply(never).await;
    assert!(
        refusal_of(&table, "cmd-6").is_some_and(|why| why.contains("never designated")),
        "{:?}",
        refusal_of(&table, "cmd-6")
    );
    // Every refusal is an audit record of its own, denied.
    let denied = table
        .node
        .store
        .audit_list(&AuditFilter::default(), 10_000)
        .expect("the audit reads")
        .into_iter()
        .filter(|entry| {
            entry.action.starts_with("risk_area.")
                && entry.outcome == ymt_store::AuditOutcome::Denied
        })
        .count();
    assert_eq!(denied, 4);
}

/// A case, a positive result and two persons who overlapped the case at
/// one venue: tracing designates two persons.
fn traced_city() -> Vec<serde_json::Value> {
    use support::{at_minutes, check_in, test_result};
    vec![
        check_in(
            "ci-case",
            "case",
            "v-hall",
            at_minutes(-300),
            at_minutes(-240),
        ),
        check_in(
            "ci-a",
            "contact-a",
            "v-hall",
            at_minutes(-290),
            at_minutes(-250),
        ),
        check_in(
            "ci-b",
            "contact-b",
            "v-hall",
            at_minutes(-280),
            at_minutes(-245),
        ),
        test_result("pos-case", "case", "pcr", "positive", at_minutes(-120)),
    ]
}

/// A node whose breaker holds any tracing designating more than one person.
fn strict_breaker_node() -> TableNode {
    let table = TableNode::open_with_config(|config| {
        config.tracing.breaker_persons_max = 1;
    });
    table.register_venue("v-hall", true);
    table
}

/// The held tracings a node stored, by pending id.
fn held_tracings(table: &TableNode) -> BTreeMap<String, ymt_node::model::PendingAction> {
    table
        .node
        .store
        .meta_list(ymt_node::model::META_PENDING)
        .expect("pending actions")
        .into_iter()
        .map(|(id, bytes)| {
            (
                id,
                serde_json::from_slice(&bytes).expect("a pending action"),
            )
        })
        .collect()
}

/// The contact designations in a person's timeline, not withdrawn, with
/// the person's color.
fn designations_of(table: &TableNode, person: &str) -> (Vec<String>, ymt_core::Color) {
    let records = table
        .node
        .person_records(&support::pid(person))
        .expect("a timeline");
    let ids = records
        .iter()
        .filter(|record| {
            matches!(
                record.event.body,
                ymt_core::EventBody::ContactDesignation(_)
            ) && !ymt_node::model::is_retracted(&records, &record.event.id)
        })
        .map(|record| record.event.id.as_str().to_owned())
        .collect();
    (ids, table.color(person))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_tracing_decided_on_one_node_designates_the_same_on_a_node_that_derives_it_later() {
    // Node A derives the held tracing, then reads an approval (a second
    // national admin's, on another node) from the stream.
    let node_a = strict_breaker_node();
    node_a.ingest(traced_city()).await;
    let held = held_tracings(&node_a);
    let (id, proposal) = held.into_iter().next().expect("the tracing is held");
    assert_eq!(proposal.status, ymt_node::model::PendingStatus::Pending);
    assert!(designations_of(&node_a, "contact-a").0.is_empty());
    let mut approved = proposal.clone();
    approved.status = ymt_node::model::PendingStatus::Approved;
    approved.decided_by = Some("admin-2".into());
    approved.decided_at = Some(node_a.now());
    let decision = |command_id: &str, pending: &ymt_node::model::PendingAction| {
        let mut envelope = RecordEnvelope::new(
            &Author::operator(),
            node_a.now(),
            Record::ActionRecorded {
                pending: pending.clone(),
            },
        );
        envelope.command_id = command_id.into();
        envelope
    };
    node_a
        .node
        .apply_replicated(
            vec![decision("cmd-approve", &approved)],
            ymt_node::replication::position_write("YMT_RECORDS", 1),
        )
        .await
        .expect("applied");
    assert_eq!(refusal_of(&node_a, "cmd-approve"), None);
    // Node B reads the approval before the events that give the tracing
    // reached it (replication lag), then the events.
    let node_b = strict_breaker_node();
    node_b
        .node
        .apply_replicated(
            vec![decision("cmd-approve", &approved)],
            ymt_node::replication::position_write("YMT_RECORDS", 1),
        )
        .await
        .expect("applied");
    assert_eq!(refusal_of(&node_b, "cmd-approve"), None);
    node_b.ingest(traced_city()).await;
    for contact in ["contact-a", "contact-b"] {
        let on_a = designations_of(&node_a, contact);
        assert!(
            !on_a.0.is_empty(),
            "the approved tracing designates {contact}"
        );
        assert_ne!(on_a.1, ymt_core::Color::Green);
        assert_eq!(on_a, designations_of(&node_b, contact), "{contact}");
    }
    // A rejection later in the stream (another node's, sent at once) is
    // refused on both, and the tracing stays approved.
    let mut rejected = proposal;
    rejected.status = ymt_node::model::PendingStatus::Rejected;
    rejected.decided_by = Some("admin-3".into());
    for (table, position) in [(&node_a, 2), (&node_b, 2)] {
        table
            .node
            .apply_replicated(
                vec![decision("cmd-reject", &rejected)],
                ymt_node::replication::position_write("YMT_RECORDS", position),
            )
            .await
            .expect("applied");
        assert!(refusal_of(table, "cmd-reject").is_some());
        assert_eq!(
            held_tracings(table)[&id].status,
            ymt_node::model::PendingStatus::Approved
        );
    }
}
