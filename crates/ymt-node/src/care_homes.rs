//! Elderly care (养老): care-home visits, a service module
//! (docs/services.md).
//!
//! A care home decides each visitor at the door under the care-visit rule
//! set, narrowed by the home's own bounded profile (its visitor policy):
//! a negative PCR test within `visitorPcrValidHours` before the visit, and
//! no red or yellow code. An allowed visit is a check-in at the home, so
//! tracing covers care homes like any venue. Every decision is kept as a
//! visit the resident's guardian sees. Staff get a daily roster check: who
//! on the home's roster may work today under the same policy.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use parking_lot::RwLock;
use serde::{Deserialize, Serialize};
use ymt_core::facts::CheckInFact;
use ymt_core::{EventId, EventKind, PersonId, Timestamp, VenueId};

use crate::auth::Principal;
use crate::error::NodeError;
use crate::model::{Applied, HeldAction, Impact, Subject, Submission};
use crate::record::{Author, Record};
use crate::services::{
    Identification, Outcome, ServiceDecision, ServiceRules, ServiceSpec, identify,
};
use crate::state::{BoxFuture, Node, NodeModule};

pub const MODULE: &str = "care-homes";
pub const META_CARE_RULE_SETS: &str = "care-visit-rule-sets";
pub const META_CARE_PROFILES: &str = "care-visit-profiles";
pub const META_CARE_VISITS: &str = "care-visits";
pub const META_CARE_ROSTERS: &str = "care-rosters";
pub const KIND_VISIT_RECORDED: &str = "care_visit.visit_recorded";
pub const KIND_ROSTER_SET: &str = "care_visit.roster_set";
pub const KIND_HELD_RULE_SET: &str = "care_visit.rule_set";
/// Staff on one home's roster.
pub const ROSTER_STAFF_MAX: usize = 500;
/// Visits of one resident a guardian is shown (the newest).
pub const VISITS_SHOWN_MAX: usize = 200;

pub static SPEC: ServiceSpec = ServiceSpec {
    id: "care-visit",
    module: MODULE,
    venue_category: "care_home",
    rule_set_json: include_str!("../services/care-visit.json"),
    outcomes: [
        Outcome {
            code: "allowed",
            zh_cn: "允许探视",
            en: "Visit allowed",
        },
        Outcome {
            code: "refused",
            zh_cn: "不予探视",
            en: "Visit refused",
        },
        Outcome {
            code: "refused",
            zh_cn: "不予探视",
            en: "Visit refused",
        },
    ],
    cannot_compute: Outcome {
        code: "refused",
        zh_cn: "不予探视（无法计算：请人工核验）",
        en: "Visit refused (cannot be computed: check in person)",
    },
    rule_sets_namespace: META_CARE_RULE_SETS,
    profiles_namespace: META_CARE_PROFILES,
    rule_set_kind: "care_visit.rule_set_published",
    profile_kind: "care_visit.profile_published",
    held_rule_set_kind: KIND_HELD_RULE_SET,
};

/// One visitor decided at a care home's door.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Visit {
    pub id: String,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub venue: VenueId,
    pub venue_name: String,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub resident: PersonId,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub visitor: PersonId,
    pub visitor_masked_name: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub at: Timestamp,
    /// `allowed` or `refused`.
    pub outcome: String,
    /// The rules that refused it.
    pub rules: Vec<String>,
    /// The check-in event of an allowed visit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check_in: Option<String>,
    pub decided_by: String,
}

/// One staff member in the daily roster check.
#[derive(Clone, Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RosterEntry {
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub pid: PersonId,
    pub may_work: bool,
    pub decision: ServiceDecision,
}

/// The care-home service as a module of the node.
pub struct CareHomeModule {
    pub rules: ServiceRules,
    visits: RwLock<HashMap<PersonId, Vec<Visit>>>,
    rosters: RwLock<BTreeMap<VenueId, Vec<PersonId>>>,
    /// Held across a roster's commit and its change in memory (one order).
    roster_writes: parking_lot::Mutex<()>,
}

impl Default for CareHomeModule {
    fn default() -> Self {
        CareHomeModule {
            rules: ServiceRules::new(&SPEC),
            visits: RwLock::new(HashMap::new()),
            rosters: RwLock::new(BTreeMap::new()),
            roster_writes: parking_lot::Mutex::new(()),
        }
    }
}

/// The visit (or shift) being decided, as a check-in at the home now: the
/// care-visit rules read it as the item they decide.
pub fn arrival(venue: &VenueId, now: Timestamp) -> impl FnOnce(&mut ymt_core::Facts) {
    let venue = venue.clone();
    move |facts| {
        facts.check_ins.push(CheckInFact {
            id: EventId::parse("arrival-being-decided").expect("a valid id"),
            venue,
            entered_at: now,
            left_at: now.plus_secs(ymt_core::event::CHECK_IN_DEFAULT_STAY_SECS),
            left_at_assumed: true,
        })
    }
}

impl CareHomeModule {
    /// Decides a visitor at the door and keeps the decision as a visit of
    /// the resident; an allowed visit is also checked in at the home (by
    /// the deciding staff principal), so tracing covers it.
    pub async fn decide_visit(
        &self,
        node: &Arc<Node>,
        principal: &Principal,
        venue_id: &VenueId,
        visitor: &Identification,
        resident: &PersonId,
    ) -> Result<(ServiceDecision, Visit), NodeError> {
        let venue = self
            .rules
            .venue_of_service(node, principal, venue_id, "visit", false)
            .await?;
        let visitor_pid = identify(node, visitor)?;
        let now = node.now();
        node.audit_read(principal, "care_visit.decide", visitor_pid.as_str())?;
        let decision = self.rules.decide(
            node,
            &visitor_pid,
            venue_id,
            arrival(venue_id, now),
            Vec::new(),
        );
        let allowed = decision.outcome == "allowed";
        // Letters and digits only: a `:` from the resident's id would put the
        // check-in's id into another author's namespace.
        let part = |pid: &PersonId| -> String {
            pid.as_str()
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .take(12)
                .collect()
        };
        let id = format!(
            "visit-{}-{}-{}",
            now.unix_secs(),
            part(&visitor_pid),
            part(resident)
        );
        let mut check_in = None;
        if allowed {
            let event_id =
                EventId::parse(&id).map_err(|error| NodeError::internal(error.to_string()))?;
            let results = node
                .ingest(
                    principal,
                    vec![Submission {
                        id: event_id,
                        subject: Subject::Pid {
                            pid: visitor_pid.clone(),
                        },
                        region: venue.region.clone(),
                        kind: EventKind::CheckIn,
                        data: serde_json::json!({
                            "venue": venue.id,
                            "entered_at": now,
                        }),
                    }],
                )
                .await?;
            check_in = results.first().map(|result| result.id.as_str().to_owned());
        }
        let visit = Visit {
            id: id.clone(),
            venue: venue.id.clone(),
            venue_name: venue.name.clone(),
            resident: resident.clone(),
            visitor: visitor_pid.clone(),
            visitor_masked_name: node
                .person_record(&visitor_pid)?
                .map(|record| record.masked_name.to_string()),
            at: now,
            outcome: decision.outcome.clone(),
            rules: decision
                .reasons
                .iter()
                .map(|reason| reason.rule.clone())
                .collect(),
            check_in,
            decided_by: principal.id.clone(),
        };
        node.apply(
            &Author::from(principal),
            visit.at,
            Record::ModuleRecorded {
                module: MODULE.into(),
                record_kind: KIND_VISIT_RECORDED.into(),
                namespace: META_CARE_VISITS.into(),
                key: format!("{}/{}", resident.as_str(), id),
                value: serde_json::to_value(&visit).expect("serialises"),
            },
            &format!("{} at {}", visit.outcome, venue.id),
        )?;
        Ok((decision, visit))
    }

    fn insert_visit(&self, visit: Visit) {
        let mut visits = self.visits.write();
        let of_resident = visits.entry(visit.resident.clone()).or_default();
        if !of_resident.iter().any(|kept| kept.id == visit.id) {
            of_resident.push(visit);
            of_resident.sort_by_key(|visit| std::cmp::Reverse(visit.at));
            of_resident.truncate(VISITS_SHOWN_MAX);
        }
    }

    /// A resident's visits, newest first (the caller checks that the reader
    /// is the resident or their guardian).
    pub fn visits_of(&self, resident: &PersonId) -> Vec<Visit> {
        self.visits
            .read()
            .get(resident)
            .cloned()
            .unwrap_or_default()
    }

    /// Replaces a home's roster of staff.
    pub async fn set_roster(
        &self,
        node: &Node,
        principal: &Principal,
        venue_id: &VenueId,
        staff: Vec<PersonId>,
    ) -> Result<Vec<PersonId>, NodeError> {
        self.rules
            .venue_of_service(node, principal, venue_id, "roster.set", true)
            .await?;
        if staff.len() > ROSTER_STAFF_MAX {
            return Err(NodeError::too_large(format!(
                "staff: at most {ROSTER_STAFF_MAX}"
            )));
        }
        let mut staff = staff;
        staff.sort();
        staff.dedup();
        let _order = node.single_writer_order(&self.roster_writes);
        node.apply(
            &Author::from(principal),
            node.now(),
            Record::ModuleRecorded {
                module: MODULE.into(),
                record_kind: KIND_ROSTER_SET.into(),
                namespace: META_CARE_ROSTERS.into(),
                key: venue_id.as_str().into(),
                value: serde_json::to_value(&staff).expect("serialises"),
            },
            &format!("{} staff", staff.len()),
        )?;
        Ok(staff)
    }

    /// Who on the home's roster may work today under its policy: each staff
    /// member decided as if arriving now. Only the home's staff and the
    /// authorities of its region read it; the read is audited.
    pub async fn roster_check(
        &self,
        node: &Node,
        principal: &Principal,
        venue_id: &VenueId,
    ) -> Result<Vec<RosterEntry>, NodeError> {
        self.rules
            .venue_of_service(node, principal, venue_id, "roster.check", true)
            .await?;
        node.audit_read(principal, "care_visit.roster_check", venue_id.as_str())?;
        let staff = self
            .rosters
            .read()
            .get(venue_id)
            .cloned()
            .unwrap_or_default();
        let now = node.now();
        Ok(staff
            .into_iter()
            .map(|pid| {
                let decision =
                    self.rules
                        .decide(node, &pid, venue_id, arrival(venue_id, now), Vec::new());
                RosterEntry {
                    may_work: decision.outcome == "allowed",
                    pid,
                    decision,
                }
            })
            .collect())
    }
}

impl NodeModule for CareHomeModule {
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn name(&self) -> &'static str {
        MODULE
    }

    fn namespaces(&self) -> &'static [&'static str] {
        &[
            META_CARE_RULE_SETS,
            META_CARE_PROFILES,
            META_CARE_VISITS,
            META_CARE_ROSTERS,
        ]
    }

    fn record_kinds(&self) -> &'static [&'static str] {
        &[
            "care_visit.rule_set_published",
            "care_visit.profile_published",
            KIND_VISIT_RECORDED,
            KIND_ROSTER_SET,
        ]
    }

    fn load(
        &self,
        node: &Node,
        _snapshot: Option<crate::state::ModuleSnapshot<'_>>,
    ) -> anyhow::Result<()> {
        self.rules.load(node)?;
        for (_, bytes) in node.store.meta_list(META_CARE_VISITS)? {
            self.insert_visit(serde_json::from_slice(&bytes)?);
        }
        let mut rosters = self.rosters.write();
        for (key, bytes) in node.store.meta_list(META_CARE_ROSTERS)? {
            let venue = VenueId::parse(&key).map_err(|error| anyhow::anyhow!("{error}"))?;
            rosters.insert(venue, serde_json::from_slice(&bytes)?);
        }
        Ok(())
    }

    fn after_record(
        &self,
        _node: &Node,
        record_kind: &str,
        key: &str,
        value: &serde_json::Value,
    ) -> Result<(), NodeError> {
        let malformed =
            |error: String| NodeError::internal(format!("{record_kind} record: {error}"));
        match record_kind {
            KIND_VISIT_RECORDED => self.insert_visit(
                serde_json::from_value(value.clone()).map_err(|e| malformed(e.to_string()))?,
            ),
            KIND_ROSTER_SET => {
                let venue = VenueId::parse(key).map_err(|e| malformed(e.to_string()))?;
                let staff: Vec<PersonId> =
                    serde_json::from_value(value.clone()).map_err(|e| malformed(e.to_string()))?;
                self.rosters.write().insert(venue, staff);
            }
            _ => self.rules.after_record(record_kind, key, value)?,
        }
        Ok(())
    }

    fn check_record_in_order(
        &self,
        _node: &Node,
        record_kind: &str,
        key: &str,
        value: &serde_json::Value,
    ) -> Result<(), NodeError> {
        // Visits (each its own key) and rosters: a key's last value wins.
        self.rules.check_record_in_order(record_kind, key, value)
    }

    fn held_kinds(&self) -> &'static [&'static str] {
        &[KIND_HELD_RULE_SET]
    }

    fn held_impact(&self, _: &Node, _: &HeldAction, _: &str) -> Result<Impact, NodeError> {
        Ok(Impact::default())
    }

    fn held_check_approval(&self, node: &Node, action: &HeldAction) -> Result<(), NodeError> {
        self.rules.check_held_rule_set(node, action)
    }

    fn held_approval_in_order(
        &self,
        _node: &Node,
        action: &HeldAction,
        _at: Timestamp,
    ) -> Result<Option<(Record, String)>, NodeError> {
        self.rules.held_rule_set_record_in_order(action).map(Some)
    }

    fn held_apply<'a>(
        &'a self,
        node: &'a Arc<Node>,
        action: &'a HeldAction,
        proposer: &'a Principal,
    ) -> BoxFuture<'a, Result<Applied, NodeError>> {
        Box::pin(async move { self.rules.apply_held_rule_set(node, action, proposer) })
    }
}
