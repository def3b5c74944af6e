//! Every record kind is classified, commutative or ordered, in the code and
//! in docs/log.md alike, and an ordered command takes effect at the instant
//! it carries, not at the clock of the node applying it.

mod support;

use std::collections::BTreeMap;

use serde_json::json;
use support::{HOUR_SECS, TableNode, at_secs};
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
async fn ending_a_persons_sessions_reaches_every_node_and_spares_later_sign_ins() {
    // Two nodes stand for a cluster: the record made on one is applied on
    // the other, where the person also has a session.
    let origin = TableNode::open();
    let replica = TableNode::open();
    let pid = ymt_core::PersonId::parse("p-stolen-phone").expect("a pid");
    let now = at_secs(HOUR_SECS);
    origin.clock.set(now);
    replica.clock.set(now);
    let on_origin = origin
        .node
        .codes
        .new_session(pid.clone(), now)
        .expect("a session");
    let on_replica = replica
        .node
        .codes
        .new_session(pid.clone(), now)
        .expect("a session");
    let ended_here = origin
        .node
        .end_person_sessions(&Author::operator(), &pid)
        .expect("ended");
    assert_eq!(ended_here, 1);
    assert_eq!(origin.node.codes.session(&on_origin, now), None);

    // The replica receives the record late, after the person signed in
    // there again: the older session ends, the newer one stays.
    let later = at_secs(2 * HOUR_SECS);
    replica.clock.set(later);
    let signed_in_again = replica
        .node
        .codes
        .new_session(pid.clone(), later)
        .expect("a session");
    let record = Record::SessionsEnded {
        pid: pid.clone(),
        ended_at: now,
    };
    assert_eq!(record.record_kind(), RecordKind::Commutative);
    let envelope = RecordEnvelope::new(&Author::operator(), now, record);
    replica
        .node
        .apply_envelope(&envelope, "replicated")
        .expect("applied");
    assert_eq!(replica.node.codes.session(&on_replica, later), None);
    assert_eq!(
        replica.node.codes.session(&signed_in_again, later),
        Some(pid.clone()),
        "a sign-in after the record is not ended by it"
    );
    // Applied twice, nothing more changes.
    replica
        .node
        .apply_envelope(&envelope, "replicated again")
        .expect("applied");
    assert_eq!(
        replica.node.codes.session(&signed_in_again, later),
        Some(pid)
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
