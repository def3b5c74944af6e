//! Publishing rule sets and regional profiles: parsing a proposed
//! document, its impact preview, the diff between versions, and putting it
//! into force.

use std::sync::Arc;

use serde_json::json;
use ymt_rules::{CompiledRules, ParameterProfile, RuleSet};

use crate::auth::Principal;
use crate::breaker::{KIND_PROFILE, KIND_RULE_SET};
use crate::error::NodeError;
use crate::model::{Applied, HeldAction, Impact};
use crate::record::{Author, Record};
use crate::state::{BoxFuture, NodeModule};
use crate::state::{META_PROFILES, META_RULE_SETS, Node};

/// Rules added, removed and changed, and parameters whose default or bounds
/// changed, between two rule-set documents.
pub fn rule_set_diff(
    from: &ymt_rules::ruleset::RuleSetDocument,
    to: &ymt_rules::ruleset::RuleSetDocument,
) -> serde_json::Value {
    let mut added = Vec::new();
    let mut removed = Vec::new();
    let mut changed = Vec::new();
    for rule in &to.rules {
        match from.rules.iter().find(|old| old.id == rule.id) {
            None => added.push(rule.id.clone()),
            Some(old) if old != rule => changed.push(rule.id.clone()),
            Some(_) => {}
        }
    }
    for rule in &from.rules {
        if !to.rules.iter().any(|new| new.id == rule.id) {
            removed.push(rule.id.clone());
        }
    }
    let mut parameters = Vec::new();
    for (name, spec) in &to.parameters {
        match from.parameters.get(name) {
            None => parameters.push(json!({"name": name, "change": "added", "to": spec})),
            Some(old) if old != spec => {
                parameters.push(json!({"name": name, "change": "changed", "from": old, "to": spec}))
            }
            Some(_) => {}
        }
    }
    for name in from.parameters.keys() {
        if !to.parameters.contains_key(name) {
            parameters.push(json!({"name": name, "change": "removed"}));
        }
    }
    json!({
        "from": from.version.to_string(),
        "to": to.version.to_string(),
        "rules_added": added,
        "rules_removed": removed,
        "rules_changed": changed,
        "parameters": parameters,
    })
}

/// A proposed change: a whole national rule set, or a regional profile.
pub enum Proposal {
    RuleSet(RuleSet),
    Profile(ParameterProfile),
}

pub fn parse_proposal(state: &Node, bytes: &[u8]) -> Result<Proposal, NodeError> {
    let kind = serde_json::from_slice::<serde_json::Value>(bytes)
        .map_err(|error| NodeError::malformed(format!("malformed JSON: {error}")))?
        .get("kind")
        .and_then(|kind| kind.as_str().map(str::to_owned));
    match kind.as_deref() {
        Some("rule-set") => RuleSet::publish(bytes)
            .map(Proposal::RuleSet)
            .map_err(|error| NodeError::invalid(error.to_string())),
        Some("parameter-profile") => {
            let rules = state.rules.read();
            rules
                .national
                .check_profile(bytes)
                .map(Proposal::Profile)
                .map_err(|error| NodeError::invalid(error.to_string()))
        }
        _ => Err(NodeError::invalid(
            "`kind` must be \"rule-set\" or \"parameter-profile\"",
        )),
    }
}

pub fn impact_of(
    state: &Node,
    proposal: &Proposal,
) -> Result<ymt_rules::impact::ImpactReport, NodeError> {
    let now = state.now();
    let (current, proposed) = {
        let rules = state.rules.read();
        match proposal {
            Proposal::RuleSet(rule_set) => (
                rules.national_compiled.clone(),
                Arc::new(
                    CompiledRules::compile(rule_set, None)
                        .map_err(|e| NodeError::invalid(e.to_string()))?,
                ),
            ),
            Proposal::Profile(profile) => (
                rules.compiled_for(Some(&profile.region)),
                Arc::new(
                    CompiledRules::compile(&rules.national, Some(profile))
                        .map_err(|e| NodeError::invalid(e.to_string()))?,
                ),
            ),
        }
    };
    let population = state.population_facts(now)?;
    // A profile only governs persons managed in its region; the preview
    // counts everyone under it, an upper bound of its effect.
    Ok(ymt_rules::impact::preview(
        &current,
        &proposed,
        population.iter().map(|(pid, facts)| (pid, facts)),
        now,
    ))
}

/// The stress check (`ymt_rules::stress`) of a proposal, at this node's cap
/// of events per person and window.
fn check_stress(state: &Node, proposal: &Proposal) -> Result<(), NodeError> {
    let compiled = match proposal {
        Proposal::RuleSet(rule_set) => CompiledRules::compile(rule_set, None),
        Proposal::Profile(profile) => {
            CompiledRules::compile(&state.rules.read().national, Some(profile))
        }
    }
    .map_err(|error| NodeError::invalid(error.to_string()))?;
    match ymt_rules::stress::stress_check(
        &compiled,
        state.config.person_events_per_window_max,
        state.config.person_events_window_secs,
        state.now(),
    )
    .first()
    {
        Some(failure) => Err(NodeError::invalid(format!("{failure}; nothing published"))),
        None => Ok(()),
    }
}

/// Puts a rule set or profile document into force and re-evaluates
/// everyone; returns how many persons were re-evaluated. Checked again here,
/// since an approval may come long after the proposal.
pub fn put_rules_into_force(
    state: &Node,
    author: &Author,
    document: &[u8],
) -> Result<usize, NodeError> {
    let text = String::from_utf8_lossy(document).into_owned();
    match parse_proposal(state, document)? {
        Proposal::RuleSet(rule_set) => {
            {
                let rules = state.rules.read();
                if rule_set.version() <= rules.national.version() {
                    return Err(NodeError::conflict(format!(
                        "version {} is no longer newer than {} in force",
                        rule_set.version(),
                        rules.national.version()
                    )));
                }
            }
            let compiled = Arc::new(
                CompiledRules::compile(&rule_set, None)
                    .map_err(|e| NodeError::invalid(e.to_string()))?,
            );
            // Every regional profile in force is compiled again over the
            // new national set (a profile only sets parameters of it);
            // one that no longer fits refuses the publication.
            let profiles = {
                let rules = state.rules.read();
                rules
                    .profiles
                    .iter()
                    .map(|(region, (profile, _))| {
                        let recompiled = CompiledRules::compile(&rule_set, Some(profile))
                            .map_err(|error| {
                                NodeError::invalid(format!(
                                    "the profile {} of region {region} in force does not fit rule set {}: {error}; nothing published",
                                    profile.id,
                                    rule_set.version()
                                ))
                            })?;
                        Ok((region.clone(), (profile.clone(), Arc::new(recompiled))))
                    })
                    .collect::<Result<std::collections::BTreeMap<_, _>, NodeError>>()?
            };
            check_decidable(state, &compiled, &profiles)?;
            state.apply(
                author,
                state.now(),
                Record::RuleSetPublished {
                    version: rule_set.version().to_string(),
                    document: text,
                },
                &format!("{} {}", rule_set.id(), rule_set.version()),
            )?;
            // In a cluster the record was put into force by the apply
            // path, when this node read it back from the stream
            // (replication_commands.rs).
            if state.replicates() {
                return Ok(state.projection.all_pids().len());
            }
            state.apply_rules_change(|rules| {
                rules.history.push(rule_set.clone());
                rules.national = rule_set;
                rules.national_compiled = compiled;
                rules.profiles = profiles;
                Ok(())
            })
        }
        Proposal::Profile(profile) => {
            // Compiled before anything is stored: a profile that does not
            // compile changes nothing.
            let compiled = {
                let rules = state.rules.read();
                Arc::new(
                    CompiledRules::compile(&rules.national, Some(&profile))
                        .map_err(|e| NodeError::invalid(e.to_string()))?,
                )
            };
            let (national, mut profiles) = {
                let rules = state.rules.read();
                (rules.national_compiled.clone(), rules.profiles.clone())
            };
            profiles.insert(profile.region.clone(), (profile.clone(), compiled.clone()));
            check_decidable(state, &national, &profiles)?;
            state.apply(
                author,
                state.now(),
                Record::ProfilePublished {
                    region: profile.region.clone(),
                    document: text,
                },
                &format!("{} {}", profile.id, profile.version),
            )?;
            if state.replicates() {
                return Ok(state.projection.all_pids().len());
            }
            state.apply_rules_change(|rules| {
                rules
                    .profiles
                    .insert(profile.region.clone(), (profile, compiled));
                Ok(())
            })
        }
    }
}

/// A rule set or profile checked at its place in a cluster's stream, ready
/// to be put into force (replication_commands.rs).
pub struct RulesInForce {
    change: RulesChange,
}

enum RulesChange {
    National {
        rule_set: RuleSet,
        compiled: Arc<CompiledRules>,
        profiles: std::collections::BTreeMap<
            ymt_core::RegionCode,
            (ParameterProfile, Arc<CompiledRules>),
        >,
    },
    Profile {
        profile: ParameterProfile,
        compiled: Arc<CompiledRules>,
    },
}

/// The checks of a publication that depend on the rules in force, made
/// again where it stands in the stream: a rule-set version must be newer
/// than the one in force, and every profile in force must compile over it;
/// a profile must fit the national set in force. These read no clock (the
/// stress and decidability checks, which evaluate at an instant, were made
/// by the node that received the command), so every node decides alike.
pub fn check_rules_in_order(state: &Node, document: &[u8]) -> Result<RulesInForce, NodeError> {
    let change = match parse_proposal(state, document)? {
        Proposal::RuleSet(rule_set) => {
            let rules = state.rules.read();
            if rule_set.version() <= rules.national.version() {
                return Err(NodeError::conflict(format!(
                    "version {} is no longer newer than {} in force",
                    rule_set.version(),
                    rules.national.version()
                )));
            }
            let compiled = Arc::new(
                CompiledRules::compile(&rule_set, None)
                    .map_err(|e| NodeError::invalid(e.to_string()))?,
            );
            let profiles = rules
                .profiles
                .iter()
                .map(|(region, (profile, _))| {
                    let recompiled =
                        CompiledRules::compile(&rule_set, Some(profile)).map_err(|error| {
                            NodeError::invalid(format!(
                                "the profile {} of region {region} in force does not fit rule set {}: {error}",
                                profile.id,
                                rule_set.version()
                            ))
                        })?;
                    Ok((region.clone(), (profile.clone(), Arc::new(recompiled))))
                })
                .collect::<Result<std::collections::BTreeMap<_, _>, NodeError>>()?;
            RulesChange::National {
                rule_set,
                compiled,
                profiles,
            }
        }
        Proposal::Profile(profile) => {
            let compiled = Arc::new(
                CompiledRules::compile(&state.rules.read().national, Some(&profile))
                    .map_err(|e| NodeError::invalid(e.to_string()))?,
            );
            RulesChange::Profile { profile, compiled }
        }
    };
    Ok(RulesInForce { change })
}

/// The checks a publication passes before its record is written (the
/// version newer, every profile in force compiling, the stress timelines
/// and every person decidable), without writing it: for a held rule set or
/// profile approved in a cluster, whose record is written by every node
/// with the approval (`replication_commands.rs`).
pub fn check_publishable(state: &Node, document: &[u8]) -> Result<(), NodeError> {
    let checked = check_rules_in_order(state, document)?;
    match &checked.change {
        RulesChange::National {
            compiled, profiles, ..
        } => check_decidable(state, compiled, profiles),
        RulesChange::Profile { profile, compiled } => {
            let (national, mut profiles) = {
                let rules = state.rules.read();
                (rules.national_compiled.clone(), rules.profiles.clone())
            };
            profiles.insert(profile.region.clone(), (profile.clone(), compiled.clone()));
            check_decidable(state, &national, &profiles)
        }
    }
}

/// The record a publication writes, with its audit detail, as
/// [`put_rules_into_force`] writes it.
pub fn publication_record(state: &Node, document: &[u8]) -> Result<(Record, String), NodeError> {
    let text = String::from_utf8_lossy(document).into_owned();
    Ok(match parse_proposal(state, document)? {
        Proposal::RuleSet(rule_set) => (
            Record::RuleSetPublished {
                version: rule_set.version().to_string(),
                document: text,
            },
            format!("{} {}", rule_set.id(), rule_set.version()),
        ),
        Proposal::Profile(profile) => (
            Record::ProfilePublished {
                region: profile.region.clone(),
                document: text,
            },
            format!("{} {}", profile.id, profile.version),
        ),
    })
}

/// Puts checked rules into force and re-evaluates everyone.
pub fn put_checked_rules_into_force(
    state: &Node,
    checked: RulesInForce,
) -> Result<usize, NodeError> {
    state.apply_rules_change(|rules| {
        match checked.change {
            RulesChange::National {
                rule_set,
                compiled,
                profiles,
            } => {
                rules.history.push(rule_set.clone());
                rules.national = rule_set;
                rules.national_compiled = compiled;
                rules.profiles = profiles;
            }
            RulesChange::Profile { profile, compiled } => {
                rules
                    .profiles
                    .insert(profile.region.clone(), (profile, compiled));
            }
        }
        Ok(())
    })
}

/// Refuses, before anything is stored or put into force, rules that could
/// not decide every timeline: the stress timelines at the node's cap of
/// events per person and window (`ymt_rules::stress`), and the timeline of
/// every person on this node under the rules that would govern them. A
/// rule set that passes may still meet a timeline it cannot decide later
/// (events stored under a larger cap); that person alone is then shown
/// "cannot be computed".
pub fn check_decidable(
    state: &Node,
    national: &Arc<CompiledRules>,
    profiles: &std::collections::BTreeMap<
        ymt_core::RegionCode,
        (ParameterProfile, Arc<CompiledRules>),
    >,
) -> Result<(), NodeError> {
    let now = state.now();
    let cap = state.config.person_events_per_window_max;
    let window_secs = state.config.person_events_window_secs;
    for (name, compiled) in std::iter::once((String::from("the national rules"), national)).chain(
        profiles
            .iter()
            .map(|(region, (_, compiled))| (format!("the profile of region {region}"), compiled)),
    ) {
        if let Some(failure) =
            ymt_rules::stress::stress_check(compiled, cap, window_secs, now).first()
        {
            return Err(NodeError::invalid(format!(
                "under {name}, {failure}; nothing published"
            )));
        }
    }
    let candidate = crate::model::RulesState {
        national: state.rules.read().national.clone(),
        national_compiled: national.clone(),
        history: Vec::new(),
        profiles: profiles.clone(),
    };
    let pids = state.projection.all_pids();
    if pids.len() > state.config.impact_persons_max {
        // As with the impact preview, a node this large is not re-read
        // twice: a person the new rules cannot decide is then shown
        // "cannot be computed", alone.
        tracing::warn!(
            "publication: {} persons, more than {} to check; only the stress timelines were checked",
            pids.len(),
            state.config.impact_persons_max
        );
        return Ok(());
    }
    for pid in pids {
        // A timeline that no longer reads is shown "cannot be computed"
        // under any rules; it does not hold up a publication.
        let Ok(records) = state.person_records(&pid) else {
            continue;
        };
        let compiled = candidate.compiled_for(crate::model::governing_region(&records).as_ref());
        let facts = state.facts_of(&records, now, None);
        if let Err(error) = compiled.evaluate_with_trajectory(&facts, now) {
            return Err(NodeError::invalid(format!(
                "the status of person {pid} could not be computed under the new rules: {error}; nothing published"
            )));
        }
    }
    Ok(())
}

/// A rule set or profile document held for approval, kept as its text.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct RulesDocument {
    /// `<id>-<version>`.
    pub id: String,
    pub document: String,
}

/// Rule-set and profile publications as a module of the node: each passes
/// the circuit breaker with its impact preview, and is checked again when
/// it is put into force.
pub struct RulesModule;

impl NodeModule for RulesModule {
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn name(&self) -> &'static str {
        "rules"
    }

    fn namespaces(&self) -> &'static [&'static str] {
        &[META_RULE_SETS, META_PROFILES]
    }

    fn held_kinds(&self) -> &'static [&'static str] {
        &[KIND_RULE_SET, KIND_PROFILE]
    }

    fn held_impact(
        &self,
        node: &Node,
        action: &HeldAction,
        _proposer: &str,
    ) -> Result<Impact, NodeError> {
        let document: RulesDocument = action.request_as()?;
        let proposal = parse_proposal(node, document.document.as_bytes())?;
        check_stress(node, &proposal)?;
        let report = impact_of(node, &proposal)?;
        // Refused at once rather than held for a second authority only to
        // be refused when put into force.
        if let Some(first) = &report.first_error_proposed {
            return Err(NodeError::invalid(format!(
                "the impact preview met {} persons the new rules cannot decide ({first}); nothing published",
                report.errors_proposed
            )));
        }
        Ok(Impact {
            persons_reached: report.persons_total as usize,
            persons_changing: report.persons_changed as usize,
            transitions: report
                .transitions
                .into_iter()
                .map(|(transition, count)| (transition.replace('→', "->"), count as usize))
                .collect(),
        })
    }

    fn held_check_approval(&self, node: &Node, action: &HeldAction) -> Result<(), NodeError> {
        let document: RulesDocument = action.request_as()?;
        check_publishable(node, document.document.as_bytes())
    }

    fn held_apply<'a>(
        &'a self,
        node: &'a Arc<Node>,
        action: &'a HeldAction,
        proposer: &'a Principal,
    ) -> BoxFuture<'a, Result<Applied, NodeError>> {
        Box::pin(async move {
            let document: RulesDocument = action.request_as()?;
            let worker = node.clone();
            let bytes = document.document.into_bytes();
            let author = Author::from(proposer);
            let reevaluated =
                tokio::task::spawn_blocking(move || put_rules_into_force(&worker, &author, &bytes))
                    .await
                    .map_err(|_| NodeError::internal("putting the rules into force panicked"))??;
            node.schedule_changed.notify_one();
            Ok(Applied {
                events_stored: 0,
                persons_reached: reevaluated,
            })
        })
    }
}
