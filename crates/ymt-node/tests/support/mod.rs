//! Support of the node's table tests: a node in a temporary directory with a
//! manual clock, driven directly (no HTTP), events ingested through
//! [`Node::ingest`] as a system principal, and instants relative to a fixed
//! T0 with the unit last.
//!
//! The tables call the node's functions themselves, so no background task
//! runs: with the clock standing still between the calls, the scheduler
//! would have nothing to do. The node is the only holder of its store, so
//! dropping [`TableNode`] closes the store, and only then is the directory
//! removed.

// Each test binary uses a different part of this module.
#![allow(dead_code)]

use std::sync::Arc;

use serde_json::{Value, json};
use ymt_core::{Color, PersonId, RegionCode, Timestamp, VenueId};
use ymt_node::auth::Principal;
use ymt_node::state::{IngestResult, Subject, Submission};
use ymt_node::venues::Venue;
use ymt_node::{Clock, ManualClock, Node, ServerConfig};

/// T0: 2022-07-01T08:00:00Z, where every node's clock starts.
pub const T0_UNIX_SECS: i64 = 1_656_662_400;
pub const MINUTE_SECS: i64 = 60;
pub const HOUR_SECS: i64 = 3_600;
pub const DAY_SECS: i64 = 86_400;
/// The county of the tables' persons, venues and designations.
pub const NANSHAN: &str = "440305";
/// The community of the tables' venues.
pub const COMMUNITY: &str = "440305001001";

pub fn t0() -> Timestamp {
    Timestamp::from_unix_secs(T0_UNIX_SECS).expect("a valid instant")
}

/// The instant `secs` after T0 (before it when negative).
pub fn at_secs(secs: i64) -> Timestamp {
    t0().plus_secs(secs)
}

pub fn at_minutes(minutes: i64) -> Timestamp {
    at_secs(minutes * MINUTE_SECS)
}

pub fn at_days(days: i64) -> Timestamp {
    at_secs(days * DAY_SECS)
}

pub fn pid(text: &str) -> PersonId {
    PersonId::parse(text).expect("a pid")
}

/// The principal the tables act as: a national administrator that is the
/// node itself (no key; nobody can authenticate as it).
pub fn table_principal() -> Principal {
    ymt_node::tracing_service::system_principal("table-test")
}

/// A node in a temporary directory; fields drop in order, so the node (and
/// its store) goes before the directory.
pub struct TableNode {
    pub node: Arc<Node>,
    pub clock: Arc<ManualClock>,
    _dir: tempfile::TempDir,
}

impl TableNode {
    pub fn open() -> TableNode {
        TableNode::open_with_config(|_| {})
    }

    /// A node whose configuration the table edits first, its clock at T0.
    pub fn open_with_config(edit_config: impl FnOnce(&mut ServerConfig)) -> TableNode {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut config = ServerConfig::new(dir.path().join("data"));
        config.pseudonym_secret_hex = Some("11".repeat(32));
        edit_config(&mut config);
        let clock = Arc::new(ManualClock::new(t0()));
        let node = Node::open_embedded(config, clock.clone()).expect("the node opens");
        TableNode {
            node,
            clock,
            _dir: dir,
        }
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Registers a venue of the tables' community.
    pub fn register_venue(&self, id: &str, indoor: bool) {
        let venue = Venue {
            id: VenueId::parse(id).expect("a venue id"),
            name: format!("venue {id}"),
            region: COMMUNITY.parse::<RegionCode>().expect("a region"),
            category: "retail".into(),
            indoor,
            registered_by: "table-test".into(),
            registered_at: self.now(),
            operators: Vec::new(),
            location: None,
        };
        self.node
            .register_venue(&ymt_node::record::Author::operator(), venue)
            .expect("the venue is stored");
    }

    /// Ingests events (`{"id", "pid", "kind", "data"}`, region: the
    /// community for check-ins, the county otherwise) as the table principal,
    /// through the node's one ingest path.
    pub async fn ingest(&self, events: Vec<Value>) -> Vec<IngestResult> {
        let submissions = events
            .into_iter()
            .map(|event| {
                let kind = serde_json::from_value(event["kind"].clone()).expect("a kind");
                let region = if event["kind"] == "check_in" {
                    COMMUNITY
                } else {
                    NANSHAN
                };
                Submission {
                    id: serde_json::from_value(event["id"].clone()).expect("an id"),
                    subject: Subject::Pid {
                        pid: pid(event["pid"].as_str().expect("a pid")),
                    },
                    region: region.parse().expect("a region"),
                    kind,
                    data: event["data"].clone(),
                }
            })
            .collect();
        self.node
            .ingest(&table_principal(), submissions)
            .await
            .expect("the events are stored")
    }

    /// The color the node serves for a person (green when it knows nothing
    /// of them).
    pub fn color(&self, person: &str) -> Color {
        self.node
            .projection
            .get(&pid(person))
            .map_or(Color::Green, |(slot, _)| slot.color())
    }
}

// ---- Events ------------------------------------------------------------------

pub fn check_in(id: &str, person: &str, venue: &str, enter: Timestamp, leave: Timestamp) -> Value {
    json!({"id": id, "pid": person, "kind": "check_in",
           "data": {"venue": venue, "entered_at": enter, "left_at": leave}})
}

/// A close-contact designation made at `designated`.
pub fn close_contact(id: &str, person: &str, designated: Timestamp) -> Value {
    json!({"id": id, "pid": person, "kind": "contact_designation",
           "data": {"contact": "close", "designated_at": designated,
                    "last_exposure_at": designated.plus_secs(-HOUR_SECS),
                    "reason": "traced by the CDC"}})
}

/// A test result sampled at `sampled` and reported ten minutes later.
pub fn test_result(id: &str, person: &str, test: &str, result: &str, sampled: Timestamp) -> Value {
    json!({"id": id, "pid": person, "kind": "test_result",
           "data": {"test": test, "result": result, "sampled_at": sampled,
                    "reported_at": sampled.plus_secs(10 * MINUTE_SECS), "lab": "lab-440305-01"}})
}

pub fn retraction(id: &str, person: &str, target: &str) -> Value {
    json!({"id": id, "pid": person, "kind": "retraction",
           "data": {"target": target, "reason": "recorded in error"}})
}

/// What a node noted for a command it applied from the stream: `None`
/// applied, `Some(why)` refused.
pub fn refusal_of(table: &TableNode, command_id: &str) -> Option<String> {
    let bytes = table
        .node
        .store
        .meta_get(
            ymt_node::replication_commands::APPLIED_COMMANDS_NAMESPACE,
            command_id,
        )
        .expect("the store reads")
        .expect("the command was applied or refused");
    let noted: serde_json::Value = serde_json::from_slice(&bytes).expect("JSON");
    noted["refused"].as_str().map(str::to_owned)
}

/// An ordered command as the stream delivers it: a held action's record
/// at 60 s, under `command_id`.
pub fn stream_command(
    command_id: &str,
    pending: ymt_node::model::PendingAction,
) -> ymt_node::record::RecordEnvelope {
    let mut envelope = ymt_node::record::RecordEnvelope::new(
        &ymt_node::record::Author::operator(),
        at_secs(60),
        ymt_node::record::Record::ActionRecorded { pending },
    );
    envelope.command_id = command_id.into();
    envelope
}

/// Applies the commands as a cluster node applies its stream, in order.
pub async fn apply_in_stream_order(
    table: &TableNode,
    stream: Vec<ymt_node::record::RecordEnvelope>,
) {
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
}

/// A held action as the node stored it.
pub fn stored_pending(table: &TableNode, id: &str) -> ymt_node::model::PendingAction {
    serde_json::from_slice(
        &table
            .node
            .store
            .meta_get(ymt_node::model::META_PENDING, id)
            .expect("reads")
            .expect("the held action"),
    )
    .expect("a pending action")
}

/// A revocation of `kid`, proposed by admin-1, as the stream carries it.
pub fn revocation(
    kid: &str,
    status: ymt_node::model::PendingStatus,
    by: &str,
) -> ymt_node::model::PendingAction {
    let kind = ymt_node::key_revocation::KIND_KEY_REVOCATION;
    let request = json!({"id": kid, "kid": kid, "reason": "stolen"});
    let mut pending = ymt_node::model::PendingAction {
        id: ymt_node::model::pending_id_of(kind, kid),
        action: ymt_node::model::HeldAction::new(kind, &request),
        proposer: "admin-1".into(),
        proposed_at: at_secs(0),
        held_because: vec!["revoking a signing key needs a second national_admin".into()],
        impact: Default::default(),
        status,
        decided_by: None,
        decided_at: None,
        events_stored: 0,
        persons_reached: 0,
    };
    if status != ymt_node::model::PendingStatus::Pending {
        pending.decided_by = Some(by.into());
        pending.decided_at = Some(at_secs(60));
    }
    pending
}

/// The node's signing kid and whether its trust list marks `kid` revoked
/// (`None`: not in the list).
pub fn keys_of(table: &TableNode, kid: &str) -> (String, Option<bool>) {
    let (signing, _, _) = table
        .node
        .codes
        .signing_key_public()
        .expect("a signing key");
    let listed = table
        .node
        .codes
        .trust()
        .trust_list
        .entries()
        .iter()
        .find_map(|entry| (entry.kid.to_hex() == kid).then_some(entry.revoked_at.is_some()));
    (signing.kid().to_hex(), listed)
}

/// A key announced on the stream by `author`.
pub fn announcement(
    command_id: &str,
    author: &ymt_node::record::Author,
    key: &ymt_token::VerifyingKey,
) -> ymt_node::record::RecordEnvelope {
    use base64::Engine as _;
    let key = ymt_node::record::AnnouncedKey {
        kid: key.kid().to_hex(),
        algorithm: key.algorithm().as_str().into(),
        issuer: "ymt:cn".into(),
        public_key: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key.public_bytes()),
        created_at: at_secs(30),
    };
    let record = ymt_node::record::Record::SigningKeyAnnounced { key };
    let mut envelope = ymt_node::record::RecordEnvelope::new(author, at_secs(90), record);
    envelope.command_id = command_id.into();
    envelope
}
