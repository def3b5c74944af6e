//! The node's domain records: what the store keeps of an event, who an
//! event is about, registered persons, the rule sets in force, and how an
//! action would change colors. Plain data with no I/O: every other module
//! of the node builds on these.

use std::collections::BTreeMap;

use std::sync::Arc;
use ymt_core::Timestamp;

use serde::{Deserialize, Serialize};
use ymt_core::event::{ContactKind, RiskLevel};
use ymt_core::identity::{IdType, MaskedName};
use ymt_core::risk_area::RiskArea;
use ymt_core::{Color, Event, EventBody, EventId, EventKind, PersonId, RegionCode, VenueId};
use ymt_rules::{CompiledRules, ParameterProfile, RuleSet};

use crate::error::NodeError;

/// What the store keeps of an event: the event and the region it concerns,
/// which jurisdiction checks and the governing profile use.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EventRecord {
    pub region: RegionCode,
    pub event: Event,
}

/// Who an event is about: a pseudonymous id, or an identity document from
/// which the node computes it.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum Subject {
    Pid { pid: PersonId },
    Document { id_type: IdType, id_number: String },
}

/// One event as submitted through the API.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Submission {
    pub id: EventId,
    pub subject: Subject,
    /// Where the event happened, or the region of the acting authority.
    pub region: RegionCode,
    pub kind: EventKind,
    pub data: serde_json::Value,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct ImportSummary {
    pub stored: u64,
    pub duplicate: u64,
    pub persons: usize,
}

/// Where a bulk import is: first its records are stored in chunks, then the
/// persons they touch are evaluated in groups.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImportProgress {
    Stored {
        records_done: usize,
        records_total: usize,
    },
    Evaluated {
        persons_done: usize,
        persons_total: usize,
    },
}

/// Persons evaluated between two progress reports of an import: small
/// enough to move a bar every fraction of a second, large enough to cost
/// nothing.
pub const IMPORT_PROGRESS_PERSONS: usize = 4096;

#[derive(Clone, Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IngestResult {
    pub id: EventId,
    pub pid: PersonId,
    pub status: &'static str,
    pub seq: u64,
}

/// A registered person: what the node may show of them.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PersonRecord {
    pub pid: PersonId,
    pub masked_name: MaskedName,
    pub id_type: IdType,
    pub region: RegionCode,
    pub has_phone: bool,
    /// The wards the registrar declared. A declared guardianship is
    /// pending until confirmed (below): only then may the guardian act for
    /// the ward.
    #[serde(default)]
    pub guardian_of: Vec<PersonId>,
    /// The wards of `guardian_of` whose guardianship an authority of the
    /// ward's region other than the declaring registrar has confirmed (the
    /// consent step), or that the operator seeded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub guardianship_confirmed: Vec<PersonId>,
    /// The principal that last registered the person (`operator` for the
    /// command line and the demo's set-up).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub registered_by: String,
    /// What each ward of `guardian_of` is to the guardian, where the
    /// registrar said (the guardian's page names its tabs with it: two wards
    /// may share a masked name).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub relationships: BTreeMap<PersonId, Relationship>,
}

/// What a ward is to their guardian.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Relationship {
    Child,
    Parent,
    Grandchild,
    Grandparent,
    Spouse,
    Sibling,
    Other,
}

impl PersonRecord {
    /// The wards this person may act for: declared and confirmed.
    pub fn confirmed_wards(&self) -> impl Iterator<Item = &PersonId> {
        self.guardian_of
            .iter()
            .filter(|ward| self.guardianship_confirmed.contains(ward))
    }

    /// Whether this person may act for `ward` as their guardian.
    pub fn is_confirmed_guardian_of(&self, ward: &PersonId) -> bool {
        self.confirmed_wards().any(|confirmed| confirmed == ward)
    }
}

pub const META_PRINCIPALS: &str = "principals";

pub const META_PERSONS: &str = "persons";

pub const META_RULE_SETS: &str = "rule-sets";

pub const META_PROFILES: &str = "profiles";

/// The rule sets in force and their compiled forms.
pub struct RulesState {
    pub national: RuleSet,
    pub national_compiled: Arc<CompiledRules>,
    /// Published national versions, oldest first (the current one last).
    pub history: Vec<RuleSet>,
    /// Regional profiles by region code.
    pub profiles: BTreeMap<RegionCode, (ParameterProfile, Arc<CompiledRules>)>,
}

impl RulesState {
    pub fn new(national: RuleSet) -> Result<RulesState, NodeError> {
        let compiled = CompiledRules::compile(&national, None)
            .map_err(|error| NodeError::internal(format!("national rule set: {error}")))?;
        Ok(RulesState {
            history: vec![national.clone()],
            national,
            national_compiled: Arc::new(compiled),
            profiles: BTreeMap::new(),
        })
    }

    /// The compiled rules for a person governed by `region`: the profile of
    /// the longest region prefix that has one, else the national defaults.
    pub fn compiled_for(&self, region: Option<&RegionCode>) -> Arc<CompiledRules> {
        self.compiled_with_tag(region).1
    }

    /// [`RulesState::compiled_for`] with the tag the projection keeps in a
    /// person's slot, so the rules that made a decision can be found again
    /// without re-reading the timeline: 0 for the national defaults, else a
    /// hash of the profile's region (odd, so never 0).
    pub fn compiled_with_tag(&self, region: Option<&RegionCode>) -> (u32, Arc<CompiledRules>) {
        if let Some(region) = region {
            let best = self
                .profiles
                .iter()
                .filter(|(profile_region, _)| profile_region.contains(region))
                .max_by_key(|(profile_region, _)| profile_region.as_str().len());
            if let Some((profile_region, (_, compiled))) = best {
                return (profile_tag(profile_region), compiled.clone());
            }
        }
        (0, self.national_compiled.clone())
    }

    /// The tags of every rule set in force: the national one, then each profile's.
    pub fn tags(&self) -> impl Iterator<Item = u32> + '_ {
        std::iter::once(0).chain(self.profiles.keys().map(profile_tag))
    }

    /// The compiled rules a tag names, when under them every risk exposure
    /// decides alone, so a designation can be applied without re-reading
    /// timelines (risk.rs).
    pub fn exposure_rules_by_tag(&self, tag: u32) -> Option<Arc<CompiledRules>> {
        self.compiled_by_tag(tag)
            .filter(|compiled| compiled.items_decide_alone("riskExposures"))
    }

    /// The compiled rules a slot's tag names, if they are still in force.
    pub fn compiled_by_tag(&self, tag: u32) -> Option<Arc<CompiledRules>> {
        if tag == 0 {
            return Some(self.national_compiled.clone());
        }
        let mut matching = self
            .profiles
            .iter()
            .filter(|(region, _)| profile_tag(region) == tag);
        let (_, (_, compiled)) = matching.next()?;
        // Two profiles with one tag: ambiguous, so the caller re-reads.
        matching.next().is_none().then(|| compiled.clone())
    }
}

fn profile_tag(region: &RegionCode) -> u32 {
    (xxhash_rust::xxh3::xxh3_64(region.as_str().as_bytes()) as u32) | 1
}

/// Whether a person's timeline holds a retraction of event `id`.
pub fn is_retracted(records: &[EventRecord], id: &EventId) -> bool {
    records.iter().any(|record| {
        matches!(&record.event.body, EventBody::Retraction(retraction) if &retraction.target == id)
    })
}

/// Which region governs a person's decision: the region of their latest
/// designation, quarantine, override or risk exposure (the authority managing
/// them). It is a function of the events alone, so every node agrees.
pub fn governing_region<R: std::borrow::Borrow<EventRecord>>(records: &[R]) -> Option<RegionCode> {
    records
        .iter()
        .map(R::borrow)
        .filter(|record| {
            matches!(
                record.event.kind(),
                EventKind::ContactDesignation
                    | EventKind::Quarantine
                    | EventKind::Override
                    | EventKind::RiskExposure
            )
        })
        .max_by(|a, b| (a.event.recorded_at, &a.event.id).cmp(&(b.event.recorded_at, &b.event.id)))
        .map(|record| record.region.clone())
}

/// A deterministic event id for an automatic event.
pub fn derived_event_id(prefix: &str, parts: &[&str]) -> EventId {
    let mut text = String::new();
    for part in parts {
        text.push_str(part);
        text.push('\u{1f}');
    }
    let hash = xxhash_rust::xxh3::xxh3_128(text.as_bytes());
    EventId::parse(&format!("{prefix}.{hash:032x}")).expect("prefix and hex form an event id")
}

/// How many persons an action reaches and how their colors would change.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Impact {
    pub persons_reached: usize,
    pub persons_changing: usize,
    /// Counts per transition, e.g. `"green->yellow": 12`.
    pub transitions: BTreeMap<String, usize>,
}

impl Impact {
    /// Counts one reached person whose color would go from `before` to
    /// `after` (nothing when it stays).
    pub fn record(&mut self, before: Color, after: Color) {
        if before != after {
            self.persons_changing += 1;
            *self
                .transitions
                .entry(format!("{}->{}", before.as_str(), after.as_str()))
                .or_default() += 1;
        }
    }

    /// Adds another count of the same action to this one.
    pub fn merge(&mut self, other: Impact) {
        self.persons_reached += other.persons_reached;
        self.persons_changing += other.persons_changing;
        for (transition, count) in other.transitions {
            *self.transitions.entry(transition).or_default() += count;
        }
    }
}

/// Derived events (designations, exposures, overrides) per ingested batch.
pub const DERIVED_BATCH_EVENTS_MAX: usize = 1000;

/// An action held by the circuit breaker until a second authority approves
/// it: its kind, and its request as the module that owns the kind reads it.
///
/// Kinds are not a closed list: a module of the node declares the kinds it
/// puts into force ([`crate::state::NodeModule::held_kinds`]). Stored as
/// `{"kind": …, "request": {…}}`. Every request names itself by its `id`
/// (held tracing by `test`, the positive result it traces).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct HeldAction {
    pub kind: String,
    pub request: serde_json::Value,
}

impl HeldAction {
    /// An action of `kind` whose request is `request`.
    pub fn new(kind: &str, request: &impl Serialize) -> HeldAction {
        HeldAction {
            kind: kind.to_owned(),
            request: serde_json::to_value(request).expect("held requests serialise"),
        }
    }

    /// The request, read as the type its kind's module expects.
    pub fn request_as<T: serde::de::DeserializeOwned>(&self) -> Result<T, NodeError> {
        serde_json::from_value(self.request.clone()).map_err(|error| {
            NodeError::internal(format!("held {} request unreadable: {error}", self.kind))
        })
    }

    /// The id the request names itself by.
    pub fn request_id(&self) -> String {
        ["id", "test"]
            .iter()
            .find_map(|field| self.request.get(field).and_then(|value| value.as_str()))
            .unwrap_or_default()
            .to_owned()
    }

    /// The id the action is held under while pending: `<kind>.<request id>`.
    pub fn pending_id(&self) -> String {
        pending_id_of(&self.kind, &self.request_id())
    }
}

/// The pending id of an action of `kind` whose request is `request_id`.
pub fn pending_id_of(kind: &str, request_id: &str) -> String {
    format!("{kind}.{request_id}")
}

/// An id usable in a pending action's path: letters, digits, `.`, `_` and
/// `-` kept, anything else replaced by `_`, at most 100 characters.
pub fn action_id(text: &str) -> String {
    text.chars()
        .take(100)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PendingStatus {
    Pending,
    Approved,
    Rejected,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PendingAction {
    pub id: String,
    pub action: HeldAction,
    pub proposer: String,
    pub proposed_at: Timestamp,
    /// Why the action was held (granularity, breaker).
    pub held_because: Vec<String>,
    pub impact: Impact,
    pub status: PendingStatus,
    #[serde(default)]
    pub decided_by: Option<String>,
    #[serde(default)]
    pub decided_at: Option<Timestamp>,
    /// Events stored when it took effect (bulk overrides).
    #[serde(default)]
    pub events_stored: usize,
    /// Persons a designation reached when it took effect.
    #[serde(default)]
    pub persons_reached: usize,
}

/// What became of a proposed action.
#[derive(Clone, Debug)]
pub enum Proposed {
    /// Applied at once.
    Applied { applied: Applied, impact: Impact },
    /// Held for a second authority's approval.
    Held(Box<PendingAction>),
}

/// What putting an action into force did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Applied {
    pub events_stored: usize,
    pub persons_reached: usize,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RiskAreaRequest {
    pub id: EventId,
    /// Either venues…
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "openapi", schema(max_items = 1000))]
    pub venues: Vec<VenueId>,
    /// …or a region code (community, street or county and coarser).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<RegionCode>,
    pub level: RiskLevel,
    pub from: Timestamp,
    pub until: Timestamp,
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 500, pattern = "\\S")
    )]
    pub reason: String,
}

/// A designation as the node records it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RiskAreaRecord {
    pub request: RiskAreaRequest,
    pub designated_by: String,
    /// `in_force`, `pending`, `rejected` or `lifted` (still joined: stays
    /// before the lift keep their exposure).
    pub status: String,
    pub updated_at: Timestamp,
    /// The area as it took effect (venues covered, instant); set once in
    /// force.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub area: Option<RiskArea>,
    /// The store's last sequence number when it took effect, which tells a
    /// restarting node whether its snapshot already reflects it.
    #[serde(default)]
    pub applied_after_seq: u64,
    /// Set when the designation was lifted before its window ended (status
    /// `lifted`): who lifted it, when, and why. The area's `until` is then
    /// the lift instant; the request keeps the window first designated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifted: Option<RiskAreaLift>,
}

/// How a designation was lifted early.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RiskAreaLift {
    pub at: Timestamp,
    pub by: String,
    pub reason: String,
    /// The pending action of the held lift that made it, if it was held:
    /// in a cluster a lift and a rejection of its held action sent at once
    /// to two nodes are then told apart in stream order
    /// (`risk_commands.rs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Confirmation {
    pub designation: EventId,
    pub pid: PersonId,
    pub confirmed_by: String,
    pub confirmed_at: Timestamp,
    pub note: String,
}

/// One designation made by tracing, remembered under its trigger.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TracedDesignation {
    pub id: EventId,
    pub pid: PersonId,
    pub region: RegionCode,
    pub kind: ContactKind,
}

/// What `traced-from/<test>` holds: the case of the positive result and
/// the designations its tracing stored (and has not withdrawn).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TracedFrom {
    pub case: PersonId,
    pub designations: Vec<TracedDesignation>,
    /// The close contacts its plan finds, designated or not (a held
    /// tracing designates none): a late check-in overlapping one of them
    /// changes the plan's secondary contacts.
    #[serde(default)]
    pub close_contacts: Vec<PersonId>,
}

/// Reads `traced-from/<test>`: the current form, or the designations alone
/// as nodes before the case was kept wrote them.
pub fn parse_traced_from(
    bytes: &[u8],
) -> Result<(Option<TracedFrom>, Vec<TracedDesignation>), serde_json::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Stored {
        Current(TracedFrom),
        DesignationsOnly(Vec<TracedDesignation>),
    }
    Ok(match serde_json::from_slice(bytes)? {
        Stored::Current(traced) => {
            let designations = traced.designations.clone();
            (Some(traced), designations)
        }
        Stored::DesignationsOnly(designations) => (None, designations),
    })
}

pub const META_PENDING: &str = "pending";

pub const META_CONFIRMATIONS: &str = "confirmations";

pub const META_RISK_AREAS: &str = "risk-areas";

pub const META_TRACED_FROM: &str = "traced-from";
