//! Every state change of the node as one explicit, versioned record.
//!
//! A command of the node (register a venue, publish a rule set, hold an
//! action, resolve an appeal…) checks its input and its author's rights,
//! then builds a [`Record`] and hands it to `Node::apply`: the record's
//! durable writes and its audit record are committed together, in one
//! store commit, and only then does the node change its memory. Events take
//! the same road through `Node::ingest` (stored with one audit record each,
//! in the same commit). docs/log.md lists every kind, its fields, what it
//! writes, and whether applying it commutes with the others — the cluster
//! replicates exactly these records.

use serde::{Deserialize, Serialize};
use ymt_core::{EventId, PersonId, RegionCode, Timestamp};
use ymt_store::{AuditEntry, AuditOutcome, MetaWrite};

use crate::auth::Principal;
use crate::codes::{Appeal, META_APPEALS};
use crate::model::{
    Confirmation, EventRecord, META_CONFIRMATIONS, META_PENDING, META_PERSONS, META_PRINCIPALS,
    META_PROFILES, META_RISK_AREAS, META_RULE_SETS, META_TRACED_FROM, PendingAction, PersonRecord,
    RiskAreaRecord, TracedDesignation, TracedFrom,
};
use crate::venues::{META_VENUES, Venue};

/// The version of the record format; a reader refuses a newer one.
pub const RECORD_FORMAT_VERSION: u32 = 1;

/// One state change of the node.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Record {
    /// Facts about persons: tests, vaccinations, check-ins, travel,
    /// designations, quarantines, overrides, retractions. Applied through
    /// `Node::ingest`, idempotent by event id.
    Events { events: Vec<EventRecord> },
    /// A principal created (or replaced: disabled, new key).
    PrincipalAdded { principal: Principal },
    /// A person registered: pseudonym, masked name, phone, guardianship.
    PersonRegistered {
        person: PersonRecord,
        /// The registration this one replaces, as the command read it: the
        /// SHA-256 (hex) of its stored JSON; absent for a new person. In a
        /// cluster a registration whose predecessor is no longer the one in
        /// the store at its place in the stream (another registration of
        /// the same person came first) is refused there.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        replaces_sha256: Option<String>,
    },
    /// A venue registered inside its authority's jurisdiction.
    VenueRegistered { venue: Venue },
    /// A new national rule-set version put into force.
    RuleSetPublished { version: String, document: String },
    /// A regional parameter profile put into force.
    ProfilePublished {
        region: RegionCode,
        document: String,
    },
    /// A risk-area designation held, put into force or rejected.
    RiskAreaRecorded { area: RiskAreaRecord },
    /// A held action proposed, approved or rejected.
    ActionRecorded { pending: PendingAction },
    /// An automatic designation confirmed by an authority.
    DesignationConfirmed { confirmation: Confirmation },
    /// An appeal filed or resolved.
    AppealRecorded { appeal: Appeal },
    /// The designations automatic tracing derived from a positive result
    /// (its case's), recorded before they are stored, so a withdrawal finds
    /// them; also when there are none yet, so a late check-in finds the case.
    TracingRecorded {
        test: EventId,
        case: PersonId,
        designations: Vec<TracedDesignation>,
        close_contacts: Vec<PersonId>,
    },
    /// A positive result's tracing withdrawn (it was retracted).
    TracingWithdrawn { test: EventId },
    /// Every citizen session of a person opened at or before `ended_at`
    /// ends, on every node that applies the record: "sign out everywhere",
    /// or an authority ending a person's sessions (a stolen phone). A
    /// session opened later, on any node, is not touched, so the record
    /// commutes with sign-ins. With `session`, only that session ends (the
    /// citizen signing out of it); absent in records written before it.
    SessionsEnded {
        pid: PersonId,
        ended_at: Timestamp,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        session: Option<crate::citizen_sessions::SessionNonce>,
    },
    /// A record of a kind a domain module declares itself (a service's
    /// consents, visits, rosters, rule sets): the module named owns
    /// `namespace`, `record_kind` is one of its `NodeModule::record_kinds`, and the
    /// record writes `value` under `key`. `Node::apply` refuses a kind or a
    /// namespace the module does not declare, so a module cannot write
    /// another's state. Adding a module adds no variant here.
    ModuleRecorded {
        module: String,
        record_kind: String,
        namespace: String,
        key: String,
        value: serde_json::Value,
    },
    /// A node of a cluster announces the public key of a code-signing key
    /// it generated itself (after the key it signed with was revoked):
    /// every node adds it to the keys its trust list names, so a code this
    /// node signs verifies against any node's list. Never a private key;
    /// only a node makes it (its author is `node`), and it never changes a
    /// kid already known, so it cannot un-revoke a key.
    SigningKeyAnnounced { key: AnnouncedKey },
}

/// A signing key's public part, as a node announces it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnnouncedKey {
    /// Hex, as in the trust list; derived from the public key.
    pub kid: String,
    /// `ES256` or `EdDSA`.
    pub algorithm: String,
    pub issuer: String,
    /// base64url, unpadded, as in the trust list.
    pub public_key: String,
    pub created_at: Timestamp,
}

/// The signing keys announced by the cluster's nodes: `<kid>` ->
/// [`AnnouncedKey`].
pub const META_SIGNING_KEYS: &str = "signing-keys";

/// How a record of one kind relates to the others when replicas apply them
/// (docs/log.md states the kind of every record and why).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    /// Applied on arrival, in any order, any number of times, with the same
    /// state in the end: facts about persons (tests, vaccinations,
    /// check-ins, travel, quarantines, overrides, retractions) and what
    /// every node derives from them alike.
    Commutative,
    /// Its effect depends on what was applied before (a version must be
    /// newer, an action undecided, a principal may be replaced): every node
    /// applies these in one agreed order, each at the instant it carries
    /// (`RecordEnvelope::at`), never at its own clock's.
    Ordered,
}

/// Every record kind by name, with its kind, as docs/log.md lists them.
pub const RECORD_KINDS: &[(&str, RecordKind)] = &[
    ("events", RecordKind::Commutative),
    ("principal_added", RecordKind::Ordered),
    ("person_registered", RecordKind::Ordered),
    ("venue_registered", RecordKind::Ordered),
    ("rule_set_published", RecordKind::Ordered),
    ("profile_published", RecordKind::Ordered),
    ("risk_area_recorded", RecordKind::Ordered),
    ("action_recorded", RecordKind::Ordered),
    ("designation_confirmed", RecordKind::Ordered),
    ("appeal_recorded", RecordKind::Ordered),
    ("tracing_recorded", RecordKind::Commutative),
    ("tracing_withdrawn", RecordKind::Commutative),
    ("module_recorded", RecordKind::Ordered),
    ("sessions_ended", RecordKind::Commutative),
    ("signing_key_announced", RecordKind::Ordered),
];

/// Sessions ended by [`Record::SessionsEnded`]: `<pid>/<ended_at>`, or
/// `<pid>/<ended_at>/<nonce>` for one session.
pub const META_SESSIONS_ENDED: &str = "sessions-ended";

/// Who made a change, as the audit log names them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Author {
    pub id: String,
    pub role: String,
    /// The API key the author used, by its id (the audit names it).
    pub key_id: Option<String>,
}

impl From<&Principal> for Author {
    fn from(principal: &Principal) -> Author {
        Author {
            id: principal.id.clone(),
            role: principal.role.as_str().into(),
            key_id: principal.key_in_use.clone(),
        }
    }
}

impl Author {
    /// The local operator: the command line, or the demo's set-up.
    pub fn operator() -> Author {
        Author {
            id: "operator".into(),
            role: "operator".into(),
            key_id: None,
        }
    }

    /// The node itself, announcing what only a node makes (its own signing
    /// key); `node` is a reserved principal id, and no role is `node`.
    pub fn node() -> Author {
        Author {
            id: "node".into(),
            role: "node".into(),
            key_id: None,
        }
    }

    /// A citizen acting for themselves or a dependent, signed in by session.
    pub fn citizen(signed_in_as: &str) -> Author {
        Author {
            id: signed_in_as.to_owned(),
            role: "citizen".into(),
            key_id: None,
        }
    }
}

/// A record as it is kept and replicated: with its format version, the
/// instant it takes effect and its author. The instant is chosen once, by
/// the command that made the record (on the node it was submitted to);
/// applying the record, there or on any replica, or replaying it, reads no
/// clock: the audit record and every instant in the payload are this one.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RecordEnvelope {
    pub format: u32,
    pub at: Timestamp,
    pub author: String,
    pub role: String,
    /// The API key the author used, by its id, for the audit record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// In a cluster: the node (process) that made the record and its number
    /// there, contiguous from 1, for anti-entropy (`origins.rs`). Absent on
    /// a single node and in records written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<OriginStamp>,
    pub record: Record,
    /// The audit record's detail, as the command wrote it: an ordered
    /// command carries it so that every node applying it writes the same
    /// audit record (replication_commands.rs). Empty for events.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
    /// The id of an ordered command in a cluster (`cmd-<hex>`), its
    /// message id in the stream and the key under which every node notes
    /// that it applied (or refused) it. Empty for events.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub command_id: String,
}

/// Where a replicated record comes from: its origin's id and its number
/// among that origin's records (docs/log.md, "Anti-entropy").
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OriginStamp {
    pub origin: String,
    pub seq: u64,
}

impl RecordEnvelope {
    pub fn new(author: &Author, at: Timestamp, record: Record) -> RecordEnvelope {
        RecordEnvelope {
            format: RECORD_FORMAT_VERSION,
            at,
            author: author.id.clone(),
            role: author.role.clone(),
            key_id: author.key_id.clone(),
            origin: None,
            record,
            detail: String::new(),
            command_id: String::new(),
        }
    }

    pub fn author(&self) -> Author {
        Author {
            id: self.author.clone(),
            role: self.role.clone(),
            key_id: self.key_id.clone(),
        }
    }
}

fn json(value: &impl Serialize) -> Vec<u8> {
    serde_json::to_vec(value).expect("records serialise")
}

impl Record {
    /// The record's kind, as in docs/log.md and audit actions.
    pub fn kind(&self) -> &'static str {
        match self {
            Record::Events { .. } => "events",
            Record::PrincipalAdded { .. } => "principal_added",
            Record::PersonRegistered { .. } => "person_registered",
            Record::VenueRegistered { .. } => "venue_registered",
            Record::RuleSetPublished { .. } => "rule_set_published",
            Record::ProfilePublished { .. } => "profile_published",
            Record::RiskAreaRecorded { .. } => "risk_area_recorded",
            Record::ActionRecorded { .. } => "action_recorded",
            Record::DesignationConfirmed { .. } => "designation_confirmed",
            Record::AppealRecorded { .. } => "appeal_recorded",
            Record::TracingRecorded { .. } => "tracing_recorded",
            Record::TracingWithdrawn { .. } => "tracing_withdrawn",
            Record::ModuleRecorded { .. } => "module_recorded",
            Record::SessionsEnded { .. } => "sessions_ended",
            Record::SigningKeyAnnounced { .. } => "signing_key_announced",
        }
    }

    /// Whether replicas may apply it in any order (see docs/log.md). An
    /// exhaustive match: a new kind does not compile until it is classified.
    pub fn record_kind(&self) -> RecordKind {
        match self {
            // Idempotent by id; a correction is itself an event (a
            // retraction), so arrival order does not matter.
            Record::Events { .. }
            // Derived from events by every node alike, with derived ids.
            | Record::TracingRecorded { .. }
            | Record::TracingWithdrawn { .. }
            // Ends the sessions opened before its own instant only.
            | Record::SessionsEnded { .. } => RecordKind::Commutative,
            Record::PrincipalAdded { .. }
            | Record::PersonRegistered { .. }
            | Record::VenueRegistered { .. }
            | Record::RuleSetPublished { .. }
            | Record::ProfilePublished { .. }
            | Record::RiskAreaRecorded { .. }
            | Record::ActionRecorded { .. }
            | Record::AppealRecorded { .. }
            // Written once per designation: of two made at once, the
            // first in the agreed order stands.
            | Record::DesignationConfirmed { .. }
            // A module's records replace a value by key (a consent revoked,
            // a roster replaced): the last one applied wins.
            | Record::ModuleRecorded { .. }
            // Checked against the kids known (revoked or not) where it
            // stands: a kid already known is never changed.
            | Record::SigningKeyAnnounced { .. } => RecordKind::Ordered,
        }
    }

    /// What the audit log says of it: action and target.
    pub fn audit_action_and_target(&self) -> (String, String) {
        match self {
            Record::Events { events } => {
                ("events.submit".into(), format!("{} events", events.len()))
            }
            Record::PrincipalAdded { principal } => {
                ("principal.create".into(), principal.id.clone())
            }
            Record::PersonRegistered { person, .. } => {
                ("person.register".into(), person.pid.as_str().to_owned())
            }
            Record::VenueRegistered { venue } => {
                ("venue.register".into(), venue.id.as_str().to_owned())
            }
            Record::RuleSetPublished { version, .. } => {
                ("rule_set.publish".into(), version.clone())
            }
            Record::ProfilePublished { region, .. } => {
                ("profile.publish".into(), region.as_str().to_owned())
            }
            Record::RiskAreaRecorded { area } => (
                format!("risk_area.{}", area.status),
                area.request.id.as_str().to_owned(),
            ),
            Record::ActionRecorded { pending } => (
                format!("pending.{}", pending_verb(pending)),
                pending.id.clone(),
            ),
            Record::DesignationConfirmed { confirmation } => (
                "designation.confirm".into(),
                format!("{}/{}", confirmation.pid, confirmation.designation),
            ),
            Record::AppealRecorded { appeal } => (
                if appeal.resolved.is_some() {
                    "appeal.resolve".into()
                } else {
                    "appeal.file".into()
                },
                appeal.id.clone(),
            ),
            Record::TracingRecorded {
                test, designations, ..
            } => (
                "tracing.record".into(),
                format!("{test}: {} designations", designations.len()),
            ),
            Record::TracingWithdrawn { test } => {
                ("tracing.withdraw".into(), test.as_str().to_owned())
            }
            Record::ModuleRecorded {
                record_kind, key, ..
            } => (record_kind.clone(), key.clone()),
            Record::SessionsEnded {
                pid, session: None, ..
            } => ("person.revoke_sessions".into(), pid.as_str().to_owned()),
            Record::SessionsEnded {
                pid,
                session: Some(_),
                ..
            } => ("person.sign_out".into(), pid.as_str().to_owned()),
            Record::SigningKeyAnnounced { key } => ("key.announce".into(), key.kid.clone()),
        }
    }

    /// The metadata writes that make the record durable. Events are written
    /// to the event log instead, so they have none here.
    pub fn meta_writes(&self) -> Vec<MetaWrite> {
        match self {
            Record::Events { .. } => Vec::new(),
            Record::PrincipalAdded { principal } => {
                vec![MetaWrite::put(
                    META_PRINCIPALS,
                    &principal.id,
                    json(principal),
                )]
            }
            Record::PersonRegistered { person, .. } => {
                vec![MetaWrite::put(
                    META_PERSONS,
                    person.pid.as_str(),
                    json(person),
                )]
            }
            Record::VenueRegistered { venue } => {
                vec![MetaWrite::put(META_VENUES, venue.id.as_str(), json(venue))]
            }
            Record::RuleSetPublished { version, document } => vec![MetaWrite::put(
                META_RULE_SETS,
                version,
                document.clone().into_bytes(),
            )],
            Record::ProfilePublished { region, document } => vec![MetaWrite::put(
                META_PROFILES,
                region.as_str(),
                document.clone().into_bytes(),
            )],
            Record::RiskAreaRecorded { area } => vec![MetaWrite::put(
                META_RISK_AREAS,
                area.request.id.as_str(),
                json(area),
            )],
            Record::ActionRecorded { pending } => {
                vec![MetaWrite::put(META_PENDING, &pending.id, json(pending))]
            }
            Record::DesignationConfirmed { confirmation } => vec![MetaWrite::put(
                META_CONFIRMATIONS,
                confirmation.designation.as_str(),
                json(confirmation),
            )],
            Record::AppealRecorded { appeal } => {
                vec![MetaWrite::put(META_APPEALS, &appeal.id, json(appeal))]
            }
            Record::TracingRecorded {
                test,
                case,
                designations,
                close_contacts,
            } => vec![MetaWrite::put(
                META_TRACED_FROM,
                test.as_str(),
                json(&TracedFrom {
                    case: case.clone(),
                    designations: designations.clone(),
                    close_contacts: close_contacts.clone(),
                }),
            )],
            Record::TracingWithdrawn { test } => {
                vec![MetaWrite::delete(META_TRACED_FROM, test.as_str())]
            }
            Record::ModuleRecorded {
                namespace,
                key,
                value,
                ..
            } => vec![MetaWrite::put(namespace, key, json(value))],
            Record::SessionsEnded {
                pid,
                ended_at,
                session,
            } => vec![MetaWrite::put(
                META_SESSIONS_ENDED,
                &match session {
                    None => format!("{}/{}", pid.as_str(), ended_at.unix_secs()),
                    Some(nonce) => {
                        format!(
                            "{}/{}/{}",
                            pid.as_str(),
                            ended_at.unix_secs(),
                            nonce.to_hex()
                        )
                    }
                },
                json(ended_at),
            )],
            Record::SigningKeyAnnounced { key } => {
                vec![MetaWrite::put(META_SIGNING_KEYS, &key.kid, json(key))]
            }
        }
    }

    /// The audit record committed with the record.
    pub fn audit_entry(&self, author: &Author, at: Timestamp, detail: &str) -> AuditEntry {
        let (action, target) = self.audit_action_and_target();
        AuditEntry {
            at,
            principal: author.id.clone(),
            role: author.role.clone(),
            action,
            target: target.chars().take(200).collect(),
            outcome: AuditOutcome::Allowed,
            detail: crate::auth::with_key_id(detail, author.key_id.as_deref())
                .chars()
                .take(1000)
                .collect(),
        }
    }
}

fn pending_verb(pending: &PendingAction) -> &'static str {
    match pending.status {
        crate::model::PendingStatus::Pending => "propose",
        crate::model::PendingStatus::Approved => "approve",
        crate::model::PendingStatus::Rejected => "reject",
    }
}
