//! The seam every service on the platform is built on (hospital access,
//! care-home visits; docs/services.md).
//!
//! A service is a domain module of the node. It declares its own record
//! kinds (`Record::ModuleRecorded` in namespaces it owns), its own rule set
//! — a CertLogic rule set of `ymt-rules` with bounded parameters, published
//! four-eyed like the national one and narrowed per venue by bounded
//! profiles — and the result vocabulary its verifiers see. Its decision for
//! a person is the national color and its own rules together: the
//! *tier* is the greater of the two colors, and the vocabulary names what a
//! tier means at that door (an entrance lane, a visit allowed or refused).
//! Nothing in `ymt-core`, `ymt-rules` or `ymt-token` knows of services.

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::RwLock;
use serde::{Deserialize, Serialize};
use ymt_core::identity::{IdDocument, IdType};
use ymt_core::{Color, Facts, PersonId, Timestamp, VenueId};
use ymt_rules::{CompiledRules, ParameterProfile, RuleSet};

use crate::auth::{Principal, Role};
use crate::breaker;
use crate::error::NodeError;
use crate::model::{Applied, HeldAction, Impact, Proposed};
use crate::record::{Author, Record};
use crate::state::Node;
use crate::venues::Venue;

/// What one tier means to a service's verifiers.
#[derive(Clone, Copy, Debug)]
pub struct Outcome {
    pub code: &'static str,
    pub zh_cn: &'static str,
    pub en: &'static str,
}

/// A service's declaration: who it is, where it applies, its shipped rule
/// set and its vocabulary.
#[derive(Debug)]
pub struct ServiceSpec {
    /// The service's name in routes and pages (`hospital`, `care-visit`).
    pub id: &'static str,
    /// The module that owns it (its records carry this name).
    pub module: &'static str,
    /// The venue category the service applies at.
    pub venue_category: &'static str,
    /// The shipped rule set (a `ymt-rules` rule-set document).
    pub rule_set_json: &'static str,
    /// The outcome of each tier: green, yellow, red.
    pub outcomes: [Outcome; 3],
    /// The outcome when the person's decision cannot be computed.
    pub cannot_compute: Outcome,
    /// Namespaces of its published rule sets and venue profiles.
    pub rule_sets_namespace: &'static str,
    pub profiles_namespace: &'static str,
    /// Record kinds of a rule set and a profile put into force.
    pub rule_set_kind: &'static str,
    pub profile_kind: &'static str,
    /// The held-action kind of a proposed rule set.
    pub held_rule_set_kind: &'static str,
}

/// Why a tier: a rule of the national set or of the service's, or a fact
/// the service records itself (symptoms reported at an entrance).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServiceReason {
    /// `national`, or the service's rule set id.
    pub source: String,
    pub rule: String,
    pub color: Color,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub description: serde_json::Value,
    pub evidence: Vec<String>,
}

/// A service's decision about one person at one venue.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServiceDecision {
    pub service: String,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub pid: PersonId,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub venue: VenueId,
    /// The word of the service's vocabulary (`outpatient`, `fever_clinic`,
    /// `isolation_ward`; `allowed`, `refused`).
    pub outcome: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub label: serde_json::Value,
    /// The greater of the national color and the service rules' color;
    /// `cannot_compute` when either cannot be decided.
    pub tier: String,
    /// The person's national color (or `cannot_compute`).
    pub national_color: String,
    /// Every reason; empty for the lowest tier.
    pub reasons: Vec<ServiceReason>,
    pub check_in_person: bool,
    /// Who has the person's evaluation failed for, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub rules: serde_json::Value,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub evaluated_at: Timestamp,
}

/// How a person is identified at a service's door: the code they show, or
/// their identity document. Never a per-venue card.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum Identification {
    Code { code: String },
    Document { id_type: IdType, id_number: String },
}

/// The pseudonym of the person a code or a document names. A code must
/// verify against this node's trust list (signature, key not revoked, not
/// expired); its color is not used, the decision is made afresh.
pub fn identify(node: &Node, identification: &Identification) -> Result<PersonId, NodeError> {
    match identification {
        Identification::Code { code } => {
            if code.len() > 4096 {
                return Err(NodeError::invalid("code: at most 4096 characters"));
            }
            let report = ymt_token::verify(code.trim(), &node.codes.trust().trust_list, node.now());
            match (report.valid, report.claims) {
                (true, Some(claims)) => Ok(claims.person),
                _ => Err(NodeError::invalid(format!(
                    "code: does not verify ({})",
                    report
                        .error
                        .map(|error| error.to_string())
                        .unwrap_or_else(|| "no claims".into())
                ))),
            }
        }
        Identification::Document { id_type, id_number } => {
            let document = IdDocument::parse(*id_type, id_number)
                .map_err(|error| NodeError::invalid(format!("id_number: {error}")))?;
            Ok(node.person_id(&document))
        }
    }
}

/// A service rule set in force and the venues' profiles of it.
struct RulesInService {
    rule_set: RuleSet,
    profiles: BTreeMap<VenueId, ParameterProfile>,
    /// Compiled per venue with a profile; `None` is the defaults.
    compiled: BTreeMap<Option<VenueId>, Arc<CompiledRules>>,
}

/// A rule set or a venue's profile of a service, as its record holds it.
enum ServiceRecord {
    RuleSet(Box<RuleSet>),
    Profile(VenueId, Box<ParameterProfile>),
}

/// A service's rules: what is in force, loaded from its namespaces.
pub struct ServiceRules {
    pub spec: &'static ServiceSpec,
    inner: RwLock<RulesInService>,
    /// Held by a publication from its checks to its change in memory,
    /// across its commit, so two publications cannot interleave.
    publishing: parking_lot::Mutex<()>,
}

/// A proposed service rule set, as held for a second national admin.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct HeldServiceRuleSet {
    id: String,
    document: String,
}

fn compile(
    rule_set: &RuleSet,
    profile: Option<&ParameterProfile>,
) -> Result<Arc<CompiledRules>, NodeError> {
    CompiledRules::compile(rule_set, profile)
        .map(Arc::new)
        .map_err(|error| NodeError::invalid(error.to_string()))
}

impl ServiceRules {
    pub fn new(spec: &'static ServiceSpec) -> ServiceRules {
        let rule_set = RuleSet::publish(spec.rule_set_json.as_bytes())
            .expect("a shipped service rule set passes its publish checks");
        let mut compiled = BTreeMap::new();
        compiled.insert(
            None,
            compile(&rule_set, None).expect("a shipped service rule set compiles"),
        );
        ServiceRules {
            spec,
            inner: RwLock::new(RulesInService {
                rule_set,
                profiles: BTreeMap::new(),
                compiled,
            }),
            publishing: parking_lot::Mutex::new(()),
        }
    }

    /// Loads the newest published rule set and every venue profile.
    pub fn load(&self, node: &Node) -> anyhow::Result<()> {
        let mut newest: Option<RuleSet> = None;
        for (_, bytes) in node.store.meta_list(self.spec.rule_sets_namespace)? {
            let value: serde_json::Value = serde_json::from_slice(&bytes)?;
            let document = value["document"].as_str().unwrap_or_default();
            let rule_set = RuleSet::publish(document.as_bytes())
                .map_err(|error| anyhow::anyhow!("stored {} rule set: {error}", self.spec.id))?;
            if newest
                .as_ref()
                .is_none_or(|current| rule_set.version() > current.version())
            {
                newest = Some(rule_set);
            }
        }
        let mut inner = self.inner.write();
        if let Some(rule_set) = newest
            && rule_set.version() > inner.rule_set.version()
        {
            inner.rule_set = rule_set;
        }
        let mut profiles = BTreeMap::new();
        for (key, bytes) in node.store.meta_list(self.spec.profiles_namespace)? {
            let value: serde_json::Value = serde_json::from_slice(&bytes)?;
            let document = value["document"].as_str().unwrap_or_default();
            let profile = inner
                .rule_set
                .check_profile(document.as_bytes())
                .map_err(|error| {
                    anyhow::anyhow!("stored {} profile {key}: {error}", self.spec.id)
                })?;
            let venue = VenueId::parse(&key).map_err(|error| anyhow::anyhow!("{error}"))?;
            profiles.insert(venue, profile);
        }
        inner.profiles = profiles;
        recompile(&mut inner).map_err(|error| anyhow::anyhow!(error.detail))?;
        Ok(())
    }

    /// The rule set in force (its document) and the venue's profile.
    pub fn describe(&self, venue: Option<&VenueId>) -> serde_json::Value {
        let inner = self.inner.read();
        serde_json::json!({
            "service": self.spec.id,
            "rule_set": inner.rule_set.document(),
            "profile": venue.and_then(|venue| inner.profiles.get(venue)),
            "parameters": inner
                .compiled
                .get(&venue.filter(|venue| inner.profiles.contains_key(*venue)).cloned())
                .map(|compiled| compiled.parameters().clone()),
        })
    }

    /// The rules a venue decides with: its profile's, or the defaults.
    pub fn compiled_for(&self, venue: &VenueId) -> Arc<CompiledRules> {
        let inner = self.inner.read();
        inner
            .compiled
            .get(&Some(venue.clone()))
            .or_else(|| inner.compiled.get(&None))
            .cloned()
            .expect("the defaults are always compiled")
    }

    /// A parameter in force at a venue.
    pub fn parameter(&self, venue: &VenueId, name: &str) -> i64 {
        self.compiled_for(venue)
            .parameters()
            .get(name)
            .copied()
            .unwrap_or_default()
    }

    /// Proposes a new version of the service's rule set. It is checked now
    /// (it must publish, be this service's, be newer, and keep every venue
    /// profile inside its bounds) and always held for a second national
    /// admin, like a national rule set.
    pub async fn propose_rule_set(
        &self,
        node: &Arc<Node>,
        principal: &Principal,
        document: &[u8],
    ) -> Result<Proposed, NodeError> {
        if principal.role != Role::NationalAdmin {
            let detail = format!(
                "a {} may not publish the {} rule set; a national_admin must",
                principal.role.as_str(),
                self.spec.id
            );
            node.audit_denied(
                Some(principal),
                self.spec.held_rule_set_kind,
                self.spec.id,
                &detail,
            )
            .await;
            return Err(NodeError::forbidden(detail));
        }
        let rule_set = self.check_rule_set(node, document)?;
        let held = HeldServiceRuleSet {
            id: crate::model::action_id(&rule_set.version().to_string()),
            document: String::from_utf8_lossy(document).into_owned(),
        };
        breaker::propose_held(
            node,
            principal,
            HeldAction::new(self.spec.held_rule_set_kind, &held),
            vec![format!(
                "the {} rule set needs a second national_admin",
                self.spec.id
            )],
            Impact::default(),
        )
        .await
    }

    fn check_rule_set(&self, node: &Node, document: &[u8]) -> Result<RuleSet, NodeError> {
        let rule_set =
            RuleSet::publish(document).map_err(|error| NodeError::invalid(error.to_string()))?;
        let inner = self.inner.read();
        if rule_set.id() != inner.rule_set.id() {
            return Err(NodeError::invalid(format!(
                "id: the {} service's rule set is `{}`, not `{}`",
                self.spec.id,
                inner.rule_set.id(),
                rule_set.id()
            )));
        }
        if rule_set.version() <= inner.rule_set.version() {
            return Err(NodeError::conflict(format!(
                "version {} is not newer than {} in force",
                rule_set.version(),
                inner.rule_set.version()
            )));
        }
        for (venue, profile) in &inner.profiles {
            rule_set
                .check_parameter_values(&profile.parameters)
                .map_err(|error| {
                    NodeError::invalid(format!("the profile of venue {venue} would break: {error}"))
                })?;
            stress(
                node,
                &format!("the profile of venue {venue}"),
                compile(&rule_set, Some(profile))?.as_ref(),
            )?;
        }
        stress(node, "the defaults", compile(&rule_set, None)?.as_ref())?;
        Ok(rule_set)
    }

    /// Puts an approved rule set into force (the held action's apply).
    pub fn apply_held_rule_set(
        &self,
        node: &Node,
        action: &HeldAction,
        proposer: &Principal,
    ) -> Result<Applied, NodeError> {
        let _order = node.single_writer_order(&self.publishing);
        let held: HeldServiceRuleSet = action.request_as()?;
        self.check_rule_set(node, held.document.as_bytes())?;
        // Put into force by `after_record`, right after it is durable.
        node.apply(
            &Author::from(proposer),
            node.now(),
            Record::ModuleRecorded {
                module: self.spec.module.into(),
                record_kind: self.spec.rule_set_kind.into(),
                namespace: self.spec.rule_sets_namespace.into(),
                key: held.id.clone(),
                value: serde_json::json!({"document": held.document}),
            },
            &format!("{} rule set {}", self.spec.id, held.id),
        )?;
        Ok(Applied::default())
    }

    /// Checks a held rule set as its approval would (in a cluster, before
    /// the approval goes through the stream, which puts it into force).
    pub fn check_held_rule_set(&self, node: &Node, action: &HeldAction) -> Result<(), NodeError> {
        let held: HeldServiceRuleSet = action.request_as()?;
        self.check_rule_set(node, held.document.as_bytes())
            .map(|_| ())
    }

    /// In a cluster, the record an approved rule set writes with its
    /// approval on every node, where the approval stands in the stream:
    /// checked again there without a clock (this service's, newer than the
    /// one in force, every venue profile in force inside its bounds and
    /// compiling; the stress timelines were run by the approving node).
    pub fn held_rule_set_record_in_order(
        &self,
        action: &HeldAction,
    ) -> Result<(Record, String), NodeError> {
        let held: HeldServiceRuleSet = action.request_as()?;
        let value = serde_json::json!({"document": held.document});
        self.check_record_in_order(self.spec.rule_set_kind, &held.id, &value)?;
        let rule_set = RuleSet::publish(held.document.as_bytes())
            .map_err(|error| NodeError::invalid(error.to_string()))?;
        for (venue, profile) in &self.inner.read().profiles {
            rule_set
                .check_parameter_values(&profile.parameters)
                .map_err(|error| {
                    NodeError::invalid(format!("the profile of venue {venue} would break: {error}"))
                })?;
            compile(&rule_set, Some(profile))?;
        }
        Ok((
            Record::ModuleRecorded {
                module: self.spec.module.into(),
                record_kind: self.spec.rule_set_kind.into(),
                namespace: self.spec.rule_sets_namespace.into(),
                key: held.id.clone(),
                value,
            },
            format!("{} rule set {}", self.spec.id, held.id),
        ))
    }

    /// Publishes a venue's profile: the venue's staff (a venue principal it
    /// names as operator) or an authority whose jurisdiction holds it. The
    /// profile may only set the rule set's parameters, inside their bounds.
    pub async fn publish_profile(
        &self,
        node: &Node,
        principal: &Principal,
        venue_id: &VenueId,
        document: &[u8],
    ) -> Result<ParameterProfile, NodeError> {
        let venue = self
            .venue_of_service(node, principal, venue_id, "profile.publish", true)
            .await?;
        let _order = node.single_writer_order(&self.publishing);
        let profile = {
            let inner = self.inner.read();
            inner
                .rule_set
                .check_profile(document)
                .map_err(|error| NodeError::invalid(error.to_string()))?
        };
        if profile.region != venue.region {
            return Err(NodeError::invalid(format!(
                "region: the profile of venue {} is for its region {}, not {}",
                venue.id, venue.region, profile.region
            )));
        }
        let compiled = compile(&self.inner.read().rule_set, Some(&profile))?;
        stress(node, "the profile", compiled.as_ref())?;
        if let Some(previous) = self.inner.read().profiles.get(venue_id)
            && profile.version <= previous.version
        {
            return Err(NodeError::conflict(format!(
                "version {} is not newer than {} in force",
                profile.version, previous.version
            )));
        }
        node.apply(
            &Author::from(principal),
            node.now(),
            Record::ModuleRecorded {
                module: self.spec.module.into(),
                record_kind: self.spec.profile_kind.into(),
                namespace: self.spec.profiles_namespace.into(),
                key: venue_id.as_str().into(),
                value: serde_json::json!({"document": String::from_utf8_lossy(document)}),
            },
            &format!(
                "{} profile {} {}",
                self.spec.id, profile.id, profile.version
            ),
        )?;
        // Put into force by `after_record`, right after it was durable.
        Ok(profile)
    }

    /// A rule set or profile of this service, as its record holds it: the
    /// rule set, or the venue and the profile checked against the rule set
    /// in force. `None` for the service's other kinds.
    fn parse_record(
        &self,
        record_kind: &str,
        key: &str,
        value: &serde_json::Value,
    ) -> Result<Option<ServiceRecord>, NodeError> {
        let document = value["document"].as_str().unwrap_or_default().as_bytes();
        if record_kind == self.spec.rule_set_kind {
            let rule_set = RuleSet::publish(document)
                .map_err(|error| NodeError::invalid(error.to_string()))?;
            return Ok(Some(ServiceRecord::RuleSet(Box::new(rule_set))));
        }
        if record_kind == self.spec.profile_kind {
            let venue = VenueId::parse(key)
                .map_err(|error| NodeError::invalid(format!("venue: {error}")))?;
            let profile = self
                .inner
                .read()
                .rule_set
                .check_profile(document)
                .map_err(|error| NodeError::invalid(error.to_string()))?;
            return Ok(Some(ServiceRecord::Profile(venue, Box::new(profile))));
        }
        Ok(None)
    }

    /// In a cluster, at a rule set's or profile's place in the stream: its
    /// version must still be newer than the one in force (a function of the
    /// stream), so two published at once end the same on every node.
    pub fn check_record_in_order(
        &self,
        record_kind: &str,
        key: &str,
        value: &serde_json::Value,
    ) -> Result<(), NodeError> {
        let inner_version_check = |newer: bool, what: String| {
            if newer {
                Ok(())
            } else {
                Err(NodeError::conflict(format!(
                    "{what} is not newer than the one in force"
                )))
            }
        };
        match self.parse_record(record_kind, key, value)? {
            Some(ServiceRecord::RuleSet(rule_set)) => {
                let inner = self.inner.read();
                if rule_set.id() != inner.rule_set.id() {
                    return Err(NodeError::invalid(format!(
                        "id: the {} service's rule set is `{}`",
                        self.spec.id,
                        inner.rule_set.id()
                    )));
                }
                inner_version_check(
                    rule_set.version() > inner.rule_set.version(),
                    format!("version {}", rule_set.version()),
                )
            }
            Some(ServiceRecord::Profile(venue, profile)) => {
                let inner = self.inner.read();
                inner_version_check(
                    inner
                        .profiles
                        .get(&venue)
                        .is_none_or(|previous| profile.version > previous.version),
                    format!("version {} of the profile of {venue}", profile.version),
                )
            }
            None => Ok(()),
        }
    }

    /// Puts a rule set or profile of this service into force right after
    /// its record is durable (on every node applying it).
    pub fn after_record(
        &self,
        record_kind: &str,
        key: &str,
        value: &serde_json::Value,
    ) -> Result<(), NodeError> {
        let Some(record) = self.parse_record(record_kind, key, value)? else {
            return Ok(());
        };
        let mut inner = self.inner.write();
        match record {
            ServiceRecord::RuleSet(rule_set) => inner.rule_set = *rule_set,
            ServiceRecord::Profile(venue, profile) => {
                inner.profiles.insert(venue, *profile);
            }
        }
        recompile(&mut inner)
    }

    /// The venue, if it is one of this service's and the principal is its
    /// staff (a venue principal it names as operator) or, when
    /// `authorities_too`, an authority whose jurisdiction holds it.
    /// A refusal is audited.
    pub async fn venue_of_service(
        &self,
        node: &Node,
        principal: &Principal,
        venue_id: &VenueId,
        action: &str,
        authorities_too: bool,
    ) -> Result<Venue, NodeError> {
        let action = format!("{}.{action}", self.spec.id);
        let venue = node
            .tracing
            .venue(venue_id)
            .filter(|venue| venue.category == self.spec.venue_category)
            .ok_or_else(|| {
                NodeError::not_found(format!(
                    "no venue {venue_id} of category {}",
                    self.spec.venue_category
                ))
            })?;
        let staff = principal.role == Role::Venue && venue.operators.contains(&principal.id);
        let authority = authorities_too
            && matches!(principal.role, Role::HealthAuthority | Role::NationalAdmin)
            && principal.may_act_in(&venue.region);
        if staff || authority {
            return Ok(venue);
        }
        let detail = format!(
            "{} is not staff of venue {}{}",
            principal.id,
            venue_id,
            if authorities_too {
                " nor an authority of its region"
            } else {
                ""
            }
        );
        node.audit_denied(Some(principal), &action, venue_id.as_str(), &detail)
            .await;
        Err(NodeError::forbidden(detail))
    }

    /// Decides a person at a venue: the national decision and the service
    /// rules over the person's facts (`edit` adds what the service knows
    /// about this moment, e.g. the visit being decided), plus `extra`
    /// reasons the service holds itself. Any failure to decide is the
    /// fail-safe outcome for this person alone, never the lowest tier.
    pub fn decide(
        &self,
        node: &Node,
        pid: &PersonId,
        venue: &VenueId,
        edit: impl FnOnce(&mut Facts),
        extra: Vec<ServiceReason>,
    ) -> ServiceDecision {
        let now = node.now();
        let rules = self.compiled_for(venue);
        let decided = node.person_records(pid).and_then(|records| {
            let national = node
                .rules
                .read()
                .compiled_for(crate::model::governing_region(&records).as_ref());
            let mut facts = node.facts_of(&records, now, None);
            edit(&mut facts);
            decide_facts(
                self.spec,
                pid,
                venue,
                &national,
                &rules,
                &facts,
                now,
                extra.clone(),
            )
            .map_err(NodeError::invalid)
        });
        decided.unwrap_or_else(|error| {
            let outcome = self.spec.cannot_compute;
            ServiceDecision {
                service: self.spec.id.into(),
                pid: pid.clone(),
                venue: venue.clone(),
                outcome: outcome.code.into(),
                label: serde_json::json!({"zh-CN": outcome.zh_cn, "en": outcome.en}),
                tier: crate::projection::CANNOT_COMPUTE.into(),
                national_color: crate::projection::CANNOT_COMPUTE.into(),
                reasons: extra,
                check_in_person: true,
                detail: Some(error.detail),
                rules: serde_json::json!({"national": null, "service": rules.in_force()}),
                evaluated_at: now,
            }
        })
    }
}

/// The pure part of a service decision: the national rules and the
/// service's over one person's facts at `now` (no I/O; the golden scenarios
/// of `tests/service_scenarios.rs` call it directly). The tier is the
/// greatest color among the two decisions and `extra`.
#[allow(clippy::too_many_arguments)]
pub fn decide_facts(
    spec: &ServiceSpec,
    pid: &PersonId,
    venue: &VenueId,
    national_rules: &CompiledRules,
    service_rules: &CompiledRules,
    facts: &Facts,
    now: Timestamp,
    extra: Vec<ServiceReason>,
) -> Result<ServiceDecision, String> {
    let national = national_rules
        .evaluate(facts, now)
        .map_err(|error| format!("national rules: {error}"))?;
    let service = service_rules
        .evaluate(facts, now)
        .map_err(|error| format!("{} rules: {error}", spec.id))?;
    let mut reasons: Vec<ServiceReason> = Vec::new();
    for (source, decision) in [
        ("national", &national),
        (service_rules.in_force().rule_set.as_str(), &service),
    ] {
        for fired in &decision.fired {
            reasons.push(ServiceReason {
                source: source.into(),
                rule: fired.rule_id.clone(),
                color: fired.color,
                description: serde_json::to_value(&fired.description).unwrap_or_default(),
                evidence: fired
                    .evidence
                    .iter()
                    .map(|id| id.as_str().to_owned())
                    .collect(),
            });
        }
    }
    reasons.extend(extra);
    let tier = reasons
        .iter()
        .map(|reason| reason.color)
        .chain([national.color, service.color])
        .max()
        .unwrap_or(Color::Green);
    let outcome = spec.outcomes[tier as usize];
    Ok(ServiceDecision {
        service: spec.id.into(),
        pid: pid.clone(),
        venue: venue.clone(),
        outcome: outcome.code.into(),
        label: serde_json::json!({"zh-CN": outcome.zh_cn, "en": outcome.en}),
        tier: color_name(tier).into(),
        national_color: color_name(national.color).into(),
        reasons,
        check_in_person: false,
        detail: None,
        rules: serde_json::json!({"national": national.rules, "service": service_rules.in_force()}),
        evaluated_at: now,
    })
}

/// A service's rules must decide every stress timeline (`ymt_rules::stress`)
/// at this node's cap of events per person, like the national ones: rules
/// that cannot decide would put everyone at the door into the fail-safe
/// outcome (the isolation ward, no visits).
fn stress(node: &Node, under: &str, compiled: &CompiledRules) -> Result<(), NodeError> {
    match ymt_rules::stress::stress_check(
        compiled,
        node.config.person_events_per_window_max,
        node.config.person_events_window_secs,
        node.now(),
    )
    .first()
    {
        Some(failure) => Err(NodeError::invalid(format!(
            "under {under}, {failure}; nothing published"
        ))),
        None => Ok(()),
    }
}

fn recompile(inner: &mut RulesInService) -> Result<(), NodeError> {
    let mut compiled = BTreeMap::new();
    compiled.insert(None, compile(&inner.rule_set, None)?);
    for (venue, profile) in &inner.profiles {
        compiled.insert(
            Some(venue.clone()),
            compile(&inner.rule_set, Some(profile))?,
        );
    }
    inner.compiled = compiled;
    Ok(())
}

pub fn color_name(color: Color) -> &'static str {
    match color {
        Color::Green => "green",
        Color::Yellow => "yellow",
        Color::Red => "red",
    }
}
