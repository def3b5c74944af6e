//! Hospital access (就医), a service module (docs/services.md).
//!
//! At a hospital's entrance the person's code or identity document gives an
//! entrance lane under the hospital rule set: ordinary outpatients, the
//! fever clinic (a yellow code, a recent positive antigen test, symptoms
//! reported at an entrance) or the isolation ward (a red code, a recent
//! positive PCR test). Nobody is turned away; each lane names its reasons.
//! With the person's consent, given and revoked by them, the hospital reads
//! their recent test results, read-only and audited.

use std::collections::{BTreeMap, HashMap};

use parking_lot::RwLock;
use serde::{Deserialize, Serialize};
use ymt_core::facts::TestFact;
use ymt_core::{Color, PersonId, Timestamp, VenueId};

use crate::auth::Principal;
use crate::error::NodeError;
use crate::model::{Applied, HeldAction, Impact};
use crate::record::{Author, Record};
use crate::services::{
    Identification, Outcome, ServiceDecision, ServiceReason, ServiceRules, ServiceSpec, identify,
};
use crate::state::{BoxFuture, Node, NodeModule};

pub const MODULE: &str = "hospital";
pub const META_HOSPITAL_RULE_SETS: &str = "hospital-rule-sets";
pub const META_HOSPITAL_PROFILES: &str = "hospital-profiles";
pub const META_HOSPITAL_CONSENTS: &str = "hospital-consents";
pub const META_HOSPITAL_SYMPTOMS: &str = "hospital-symptoms";
pub const KIND_CONSENT_GIVEN: &str = "hospital.consent_given";
pub const KIND_CONSENT_REVOKED: &str = "hospital.consent_revoked";
pub const KIND_SYMPTOMS_REPORTED: &str = "hospital.symptoms_reported";
/// The held action of a proposed hospital rule set.
pub const KIND_HELD_RULE_SET: &str = "hospital.rule_set";
/// Consents one person may hold at once.
pub const CONSENTS_PER_PERSON_MAX: usize = 50;

pub static SPEC: ServiceSpec = ServiceSpec {
    id: "hospital",
    module: MODULE,
    venue_category: "hospital",
    rule_set_json: include_str!("../services/hospital-entrance.json"),
    outcomes: [
        Outcome {
            code: "outpatient",
            zh_cn: "普通门诊",
            en: "Ordinary outpatients",
        },
        Outcome {
            code: "fever_clinic",
            zh_cn: "发热门诊",
            en: "Fever clinic",
        },
        Outcome {
            code: "isolation_ward",
            zh_cn: "隔离病区",
            en: "Isolation ward",
        },
    ],
    // Nobody is turned away: a person who cannot be decided is received
    // where they endanger nobody, and checked in person.
    cannot_compute: Outcome {
        code: "isolation_ward",
        zh_cn: "隔离病区（无法计算：请人工核验）",
        en: "Isolation ward (cannot be computed: check in person)",
    },
    rule_sets_namespace: META_HOSPITAL_RULE_SETS,
    profiles_namespace: META_HOSPITAL_PROFILES,
    rule_set_kind: "hospital.rule_set_published",
    profile_kind: "hospital.profile_published",
    held_rule_set_kind: KIND_HELD_RULE_SET,
};

/// A person's consent to one hospital reading their recent test results.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Consent {
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub pid: PersonId,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub venue: VenueId,
    pub venue_name: String,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub given_at: Timestamp,
    /// Who gave it: the person, or their guardian (`citizen:<pid>`).
    pub given_by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub revoked_at: Option<Timestamp>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct SymptomsReport {
    pid: PersonId,
    venue: VenueId,
    at: Timestamp,
    by: String,
}

/// The hospital service as a module of the node.
pub struct HospitalModule {
    pub rules: ServiceRules,
    consents: RwLock<HashMap<PersonId, BTreeMap<VenueId, Consent>>>,
    /// The latest symptoms report per person.
    symptoms: RwLock<HashMap<PersonId, Timestamp>>,
    /// Held from reading a consent to putting its change in memory, across
    /// the record's commit, so memory and the store see one order.
    consent_writes: parking_lot::Mutex<()>,
}

impl Default for HospitalModule {
    fn default() -> Self {
        HospitalModule {
            rules: ServiceRules::new(&SPEC),
            consents: RwLock::new(HashMap::new()),
            symptoms: RwLock::new(HashMap::new()),
            consent_writes: parking_lot::Mutex::new(()),
        }
    }
}

fn consent_key(pid: &PersonId, venue: &VenueId) -> String {
    format!("{}/{}", pid.as_str(), venue.as_str())
}

impl HospitalModule {
    /// The entrance lane of the person a code or document names. Symptoms
    /// reported now are recorded first (durable), so the next entrance
    /// within the window sends them to the fever clinic too.
    pub async fn entrance(
        &self,
        node: &Node,
        principal: &Principal,
        venue_id: &VenueId,
        identification: &Identification,
        symptoms: bool,
    ) -> Result<ServiceDecision, NodeError> {
        let venue = self
            .rules
            .venue_of_service(node, principal, venue_id, "entrance", false)
            .await?;
        let pid = identify(node, identification)?;
        let now = node.now();
        if symptoms {
            let report = SymptomsReport {
                pid: pid.clone(),
                venue: venue.id.clone(),
                at: now,
                by: principal.id.clone(),
            };
            node.apply(
                &Author::from(principal),
                now,
                Record::ModuleRecorded {
                    module: MODULE.into(),
                    record_kind: KIND_SYMPTOMS_REPORTED.into(),
                    namespace: META_HOSPITAL_SYMPTOMS.into(),
                    key: format!("{}/{}", pid.as_str(), now.unix_secs()),
                    value: serde_json::to_value(&report).expect("serialises"),
                },
                &format!("at {}", venue.id),
            )?;
        }
        node.audit_read(principal, "hospital.entrance", pid.as_str())?;
        let extra = self.symptoms_reason(&pid, venue_id, now);
        Ok(self.rules.decide(node, &pid, venue_id, |_| {}, extra))
    }

    fn insert_consent(&self, consent: Consent) {
        self.consents
            .write()
            .entry(consent.pid.clone())
            .or_default()
            .insert(consent.venue.clone(), consent);
    }

    fn note_symptoms(&self, pid: &PersonId, at: Timestamp) {
        let mut symptoms = self.symptoms.write();
        let latest = symptoms.entry(pid.clone()).or_insert(at);
        *latest = (*latest).max(at);
    }

    fn symptoms_reason(
        &self,
        pid: &PersonId,
        venue: &VenueId,
        now: Timestamp,
    ) -> Vec<ServiceReason> {
        let days = self.rules.parameter(venue, "recentSymptomsDays");
        let Some(at) = self.symptoms.read().get(pid).copied() else {
            return Vec::new();
        };
        if at > now || now >= at.plus_secs(days * 86_400) {
            return Vec::new();
        }
        vec![ServiceReason {
            source: SPEC.id.into(),
            rule: "HOSP-SYMPTOMS".into(),
            color: Color::Yellow,
            description: serde_json::json!({
                "zh-CN": format!("{days}天内在医院入口报告症状：发热门诊接诊。"),
                "en": format!("Symptoms reported at a hospital entrance within {days} days: received at the fever clinic."),
            }),
            evidence: vec![format!("symptoms@{at}")],
        }]
    }

    /// The person's consents, given and revoked.
    pub fn consents_of(&self, pid: &PersonId) -> Vec<Consent> {
        self.consents
            .read()
            .get(pid)
            .map(|held| held.values().cloned().collect())
            .unwrap_or_default()
    }

    /// The person (or their guardian, `by`) lets a hospital read their
    /// recent test results, until they revoke it.
    pub fn give_consent(
        &self,
        node: &Node,
        by: &str,
        pid: &PersonId,
        venue_id: &VenueId,
    ) -> Result<Consent, NodeError> {
        let _order = node.single_writer_order(&self.consent_writes);
        let venue = node
            .tracing
            .venue(venue_id)
            .filter(|venue| venue.category == SPEC.venue_category)
            .ok_or_else(|| NodeError::not_found(format!("no hospital {venue_id}")))?;
        let held = self.consents_of(pid);
        if held
            .iter()
            .filter(|consent| consent.revoked_at.is_none())
            .count()
            >= CONSENTS_PER_PERSON_MAX
            && !held
                .iter()
                .any(|consent| &consent.venue == venue_id && consent.revoked_at.is_none())
        {
            return Err(NodeError::too_large(format!(
                "at most {CONSENTS_PER_PERSON_MAX} consents in force; revoke one first"
            )));
        }
        let consent = Consent {
            pid: pid.clone(),
            venue: venue.id.clone(),
            venue_name: venue.name.clone(),
            given_at: node.now(),
            given_by: by.into(),
            revoked_at: None,
        };
        self.record_consent(node, by, KIND_CONSENT_GIVEN, &consent)?;
        Ok(consent)
    }

    /// Revokes a consent: from now on the hospital cannot read the results.
    pub fn revoke_consent(
        &self,
        node: &Node,
        by: &str,
        pid: &PersonId,
        venue_id: &VenueId,
    ) -> Result<Consent, NodeError> {
        let _order = node.single_writer_order(&self.consent_writes);
        let mut consent = self
            .consents
            .read()
            .get(pid)
            .and_then(|held| held.get(venue_id))
            .cloned()
            .filter(|consent| consent.revoked_at.is_none())
            .ok_or_else(|| NodeError::not_found(format!("no consent in force for {venue_id}")))?;
        consent.revoked_at = Some(node.now());
        self.record_consent(node, by, KIND_CONSENT_REVOKED, &consent)?;
        Ok(consent)
    }

    fn record_consent(
        &self,
        node: &Node,
        by: &str,
        kind: &str,
        consent: &Consent,
    ) -> Result<(), NodeError> {
        node.apply(
            &Author::citizen(by),
            consent.revoked_at.unwrap_or(consent.given_at),
            Record::ModuleRecorded {
                module: MODULE.into(),
                record_kind: kind.into(),
                namespace: META_HOSPITAL_CONSENTS.into(),
                key: consent_key(&consent.pid, &consent.venue),
                value: serde_json::to_value(consent).expect("serialises"),
            },
            &format!("hospital {}", consent.venue),
        )?;
        Ok(())
    }

    /// The person's test results sampled within `resultsLookbackDays`, for
    /// the staff of a hospital the person consented to; read-only, and the
    /// read is audited. Without a consent in force: refused and audited.
    pub async fn read_results(
        &self,
        node: &Node,
        principal: &Principal,
        venue_id: &VenueId,
        pid: &PersonId,
    ) -> Result<Vec<TestFact>, NodeError> {
        self.rules
            .venue_of_service(node, principal, venue_id, "results.read", false)
            .await?;
        let consented = self
            .consents
            .read()
            .get(pid)
            .and_then(|held| held.get(venue_id))
            .is_some_and(|consent| consent.revoked_at.is_none());
        let target = consent_key(pid, venue_id);
        if !consented {
            let detail = format!("{pid} has no consent in force for hospital {venue_id}");
            node.audit_denied(Some(principal), "hospital.results.read", &target, &detail)
                .await;
            return Err(NodeError::forbidden(detail));
        }
        node.audit_read(principal, "hospital.results.read", &target)?;
        let now = node.now();
        let days = self.rules.parameter(venue_id, "resultsLookbackDays");
        let since = now.plus_secs(-days * 86_400);
        let records = node.person_records(pid)?;
        let facts = node.facts_of(&records, now, None);
        let mut tests: Vec<TestFact> = facts
            .tests
            .into_iter()
            .filter(|test| test.sampled_at >= since)
            .collect();
        tests.sort_by_key(|test| std::cmp::Reverse(test.sampled_at));
        Ok(tests)
    }
}

impl NodeModule for HospitalModule {
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn name(&self) -> &'static str {
        MODULE
    }

    fn namespaces(&self) -> &'static [&'static str] {
        &[
            META_HOSPITAL_RULE_SETS,
            META_HOSPITAL_PROFILES,
            META_HOSPITAL_CONSENTS,
            META_HOSPITAL_SYMPTOMS,
        ]
    }

    fn record_kinds(&self) -> &'static [&'static str] {
        &[
            "hospital.rule_set_published",
            "hospital.profile_published",
            KIND_CONSENT_GIVEN,
            KIND_CONSENT_REVOKED,
            KIND_SYMPTOMS_REPORTED,
        ]
    }

    fn load(
        &self,
        node: &Node,
        _snapshot: Option<crate::state::ModuleSnapshot<'_>>,
    ) -> anyhow::Result<()> {
        self.rules.load(node)?;
        for (_, bytes) in node.store.meta_list(META_HOSPITAL_CONSENTS)? {
            self.insert_consent(serde_json::from_slice(&bytes)?);
        }
        for (_, bytes) in node.store.meta_list(META_HOSPITAL_SYMPTOMS)? {
            let report: SymptomsReport = serde_json::from_slice(&bytes)?;
            self.note_symptoms(&report.pid, report.at);
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
        let malformed = |error: serde_json::Error| {
            NodeError::internal(format!("{record_kind} record: {error}"))
        };
        match record_kind {
            KIND_CONSENT_GIVEN | KIND_CONSENT_REVOKED => {
                self.insert_consent(serde_json::from_value(value.clone()).map_err(malformed)?)
            }
            KIND_SYMPTOMS_REPORTED => {
                let report: SymptomsReport =
                    serde_json::from_value(value.clone()).map_err(malformed)?;
                self.note_symptoms(&report.pid, report.at);
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
        // Consents and symptoms: a key's last value wins.
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
        node: &'a std::sync::Arc<Node>,
        action: &'a HeldAction,
        proposer: &'a Principal,
    ) -> BoxFuture<'a, Result<Applied, NodeError>> {
        Box::pin(async move { self.rules.apply_held_rule_set(node, action, proposer) })
    }
}
