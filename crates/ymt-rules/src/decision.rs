//! Decisions: the color of a person at an instant, why, and until when.
//!
//! `valid_until` is computed, not sampled. Every rule compares `now` directly
//! against instants derived from facts and parameters (enforced at publish).
//! The evaluator reports each instant that takes part in a date-time
//! comparison; between two consecutive such instants every comparison keeps
//! its outcome, so the decision is constant there. The next change is therefore
//! at one of those instants `t` (for `now < t`, `now >= t`) or one second
//! after it (for `now <= t`, `now > t`). We evaluate at the candidates in
//! increasing order until the color differs.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use ymt_core::facts::{FACT_LISTS, Facts};
use ymt_core::{Color, EventId, Timestamp};

use crate::certlogic::{Expr, Value};
use crate::facts_value::{context_keys, list_key};
use crate::ruleset::{
    LocalizedText, ParameterProfile, PublishError, RuleSet, substitute_parameters,
};

/// How many candidate instants are tried before giving up on finding the next
/// change. Each is one evaluation; a timeline would need hundreds of timed
/// facts, all in the future, to reach it.
pub const CANDIDATES_MAX: usize = 512;

/// A rule that fired, with the event ids it rests on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FiredRule {
    pub rule_id: String,
    pub color: Color,
    pub description: LocalizedText,
    pub clears: LocalizedText,
    pub evidence: Vec<EventId>,
}

/// Which rules and parameters a decision was made under.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RulesInForce {
    pub rule_set: String,
    pub version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<ProfileInForce>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileInForce {
    pub id: String,
    pub region: String,
    pub version: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub color: Color,
    pub fired: Vec<FiredRule>,
    /// The instant at which the color changes if no new event arrives; `None`
    /// when nothing scheduled would change it.
    pub valid_until: Option<Timestamp>,
    /// The color from `valid_until` on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_color: Option<Color>,
    /// The first instant at which the rules that fire, or their evidence,
    /// change (at or before `valid_until`): a rule can stop firing while
    /// another keeps the color. A node re-evaluates then, so the reasons it
    /// shows stay true. Not part of the published decision.
    #[serde(skip)]
    pub reasons_until: Option<Timestamp>,
    /// Every change of color after `evaluated_at` if nothing new happens,
    /// when asked for ([`CompiledRules::evaluate_with_trajectory`]) and the
    /// walk was complete. Not part of the published decision.
    #[serde(skip)]
    pub trajectory: Option<Vec<(Timestamp, Color)>>,
    pub evaluated_at: Timestamp,
    pub rules: RulesInForce,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EvaluateError {
    #[error("rule `{rule}` failed on {list}[{index}]: {message}")]
    Rule {
        rule: String,
        list: &'static str,
        index: usize,
        message: String,
    },
}

struct CompiledRule {
    id: String,
    color: Color,
    list_index: usize,
    description: LocalizedText,
    clears: LocalizedText,
    expression: Expr,
}

/// A rule set compiled under one parameter profile: compile once, evaluate
/// many times.
pub struct CompiledRules {
    rules: Vec<CompiledRule>,
    /// Rule indexes per fact list, in `FACT_LISTS` order.
    rules_by_list: Vec<Vec<usize>>,
    /// The fact lists any rule reads (as `over` or through `facts.<list>`);
    /// the others are not converted into values at all.
    lists_needed: [bool; 8],
    /// Per fact list: whether each of its items contributes to a decision on
    /// its own (see [`CompiledRules::items_decide_alone`]).
    items_alone: [bool; 8],
    /// Per fact list: the fields of an item its rules read, when they read
    /// the item only through them (`item.<field>`); items equal in those
    /// fields give the same results and are evaluated once per decision.
    /// `None` when a rule may read the item whole.
    item_fields_read: [Option<Vec<Arc<str>>>; 8],
    parameters: BTreeMap<String, i64>,
    parameters_value: Value,
    in_force: RulesInForce,
}

impl std::fmt::Debug for CompiledRules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledRules")
            .field("in_force", &self.in_force)
            .field("parameters", &self.parameters)
            .finish_non_exhaustive()
    }
}

fn list_index(name: &str) -> Option<usize> {
    FACT_LISTS.iter().position(|(list, _)| *list == name)
}

impl CompiledRules {
    pub fn compile(
        rule_set: &RuleSet,
        profile: Option<&ParameterProfile>,
    ) -> Result<CompiledRules, PublishError> {
        if let Some(profile) = profile {
            rule_set.check_parameter_values(&profile.parameters)?;
        }
        let parameters = rule_set.parameters_with(profile);
        let mut rules = Vec::with_capacity(rule_set.document().rules.len());
        for rule in &rule_set.document().rules {
            let logic = substitute_parameters(&rule.logic, &parameters);
            let expression = Expr::compile(&logic).map_err(|error| PublishError::Logic {
                rule: rule.id.clone(),
                path: String::new(),
                message: error.to_string(),
            })?;
            rules.push(CompiledRule {
                id: rule.id.clone(),
                color: rule.color,
                list_index: list_index(&rule.over).expect("checked at publish"),
                description: rule.description.with_parameters(&parameters),
                clears: rule.clears.with_parameters(&parameters),
                expression,
            });
        }
        let parameters_value = Value::object(
            parameters
                .iter()
                .map(|(name, value)| (Arc::<str>::from(name.as_str()), Value::int(*value))),
        );
        let mut rules_by_list = vec![Vec::new(); FACT_LISTS.len()];
        let mut lists_needed = [false; 8];
        // Lists read through `facts` by some rule, and rules reading `facts`.
        let mut lists_read_as_facts = [false; 8];
        let mut rule_reads_facts = vec![false; rules.len()];
        for (rule_index, rule) in rules.iter().enumerate() {
            rules_by_list[rule.list_index].push(rule_index);
            lists_needed[rule.list_index] = true;
            for access in rule.expression.data_accesses() {
                let path = path_from_root(&access.path);
                if path == "facts" || path.is_empty() || path == "data" {
                    lists_needed = [true; 8];
                    lists_read_as_facts = [true; 8];
                    rule_reads_facts[rule_index] = true;
                } else if let Some(rest) = path.strip_prefix("facts.") {
                    rule_reads_facts[rule_index] = true;
                    let list = rest.split('.').next().unwrap_or("");
                    match list_index(list) {
                        Some(index) => {
                            lists_needed[index] = true;
                            lists_read_as_facts[index] = true;
                        }
                        None => lists_read_as_facts = [true; 8],
                    }
                }
            }
        }
        let mut item_fields_read: [Option<Vec<Arc<str>>>; 8] = Default::default();
        for (list_index, fields_read) in item_fields_read.iter_mut().enumerate() {
            *fields_read = item_fields_read_by(
                rules_by_list[list_index]
                    .iter()
                    .map(|&rule_index| &rules[rule_index]),
            );
        }
        let mut items_alone = [false; 8];
        for (index, alone) in items_alone.iter_mut().enumerate() {
            *alone = !lists_read_as_facts[index]
                && rules_by_list[index]
                    .iter()
                    .all(|&rule_index| !rule_reads_facts[rule_index]);
        }
        Ok(CompiledRules {
            rules,
            rules_by_list,
            lists_needed,
            items_alone,
            item_fields_read,
            parameters,
            parameters_value,
            in_force: RulesInForce {
                rule_set: rule_set.id().to_owned(),
                version: rule_set.version().to_string(),
                profile: profile.map(|profile| ProfileInForce {
                    id: profile.id.clone(),
                    region: profile.region.to_string(),
                    version: profile.version.to_string(),
                }),
            },
        })
    }

    /// Whether every item of `list` contributes to a decision on its own: no
    /// rule reads the list through `facts`, and the rules over the list read
    /// only their item, the parameters and `now`. Then the color function of
    /// a person with one more such item is the maximum of their color
    /// function without it and that of the item alone, which lets a node
    /// apply a designation reaching a million persons without re-reading a
    /// million timelines. `false` for an unknown list.
    pub fn items_decide_alone(&self, list: &str) -> bool {
        list_index(list).is_some_and(|index| self.items_alone[index])
    }

    /// The decision at `now` of a timeline with one more item of a list
    /// whose items decide alone ([`CompiledRules::items_decide_alone`]),
    /// from the decision without it (`base`: made at or before `now`, with
    /// nothing new since and nothing due yet) and the decision of the item
    /// alone made at `now`, both with complete trajectories
    /// ([`CompiledRules::evaluate_with_trajectory`]). The color at every
    /// instant is the greater of the two; the reasons are both sets.
    ///
    /// `None` when it cannot be exact: a trajectory is missing, a change of
    /// `base` is already due, the two were made under other rules, or the
    /// item's id is already among `base`'s evidence.
    pub fn compose(&self, base: &Decision, item: &Decision, now: Timestamp) -> Option<Decision> {
        let base_changes = base.trajectory.as_ref()?;
        let item_changes = item.trajectory.as_ref()?;
        if item.evaluated_at != now || base.evaluated_at > now || base.rules != item.rules {
            return None;
        }
        if base_changes.iter().any(|(at, _)| *at <= now)
            || base.reasons_until.is_some_and(|at| at <= now)
        {
            return None;
        }
        let item_ids: std::collections::BTreeSet<&EventId> = item
            .fired
            .iter()
            .flat_map(|fired| &fired.evidence)
            .collect();
        if base
            .fired
            .iter()
            .flat_map(|fired| &fired.evidence)
            .any(|id| item_ids.contains(id))
        {
            return None;
        }
        let color_at = |start: Color, changes: &[(Timestamp, Color)], at: Timestamp| {
            changes
                .iter()
                .take_while(|(instant, _)| *instant <= at)
                .last()
                .map_or(start, |(_, color)| *color)
        };
        let color = base.color.max(item.color);
        let mut instants: Vec<Timestamp> = base_changes
            .iter()
            .chain(item_changes)
            .map(|(at, _)| *at)
            .collect();
        instants.sort();
        instants.dedup();
        let mut changes = Vec::new();
        let mut current = color;
        for at in instants {
            let at_color =
                color_at(base.color, base_changes, at).max(color_at(item.color, item_changes, at));
            if at_color != current {
                changes.push((at, at_color));
                current = at_color;
            }
        }
        // Merged like `explain` does: one entry per rule, evidence sorted,
        // most severe first, then in rule-set order.
        let mut by_rule: BTreeMap<usize, FiredRule> = BTreeMap::new();
        for fired in base.fired.iter().chain(&item.fired) {
            let index = self
                .rules
                .iter()
                .position(|rule| rule.id == fired.rule_id)?;
            match by_rule.get_mut(&index) {
                Some(known) => {
                    known.evidence.extend(fired.evidence.iter().cloned());
                    known.evidence.sort();
                    known.evidence.dedup();
                }
                None => {
                    by_rule.insert(index, fired.clone());
                }
            }
        }
        let mut fired: Vec<FiredRule> = by_rule.into_values().collect();
        fired.sort_by_key(|rule| std::cmp::Reverse(rule.color));
        Some(Decision {
            color,
            fired,
            valid_until: changes.first().map(|(at, _)| *at),
            next_color: changes.first().map(|(_, color)| *color),
            reasons_until: [base.reasons_until, item.reasons_until]
                .into_iter()
                .flatten()
                .min(),
            trajectory: Some(changes),
            evaluated_at: now,
            rules: item.rules.clone(),
        })
    }

    /// Whether some rule reads `list` (as `over` or through `facts`): when
    /// none does, items of the list cannot change a decision. `true` for an
    /// unknown list.
    pub fn reads_list(&self, list: &str) -> bool {
        list_index(list).is_none_or(|index| self.lists_needed[index])
    }

    pub fn parameters(&self) -> &BTreeMap<String, i64> {
        &self.parameters
    }

    pub fn in_force(&self) -> &RulesInForce {
        &self.in_force
    }

    /// Decides the color of a person with these facts at `now`.
    pub fn evaluate(&self, facts: &Facts, now: Timestamp) -> Result<Decision, EvaluateError> {
        self.evaluate_walk(facts, now, false, true)
    }

    /// [`CompiledRules::evaluate`], also walking past the first change to
    /// fill [`Decision::trajectory`]: every later change of color, as long
    /// as the walk runs out of candidate instants within its bound.
    pub fn evaluate_with_trajectory(
        &self,
        facts: &Facts,
        now: Timestamp,
    ) -> Result<Decision, EvaluateError> {
        self.evaluate_walk(facts, now, true, true)
    }

    /// [`CompiledRules::evaluate_with_trajectory`] evaluating every rule
    /// over every item at every candidate instant, as the walk did before
    /// it kept each item's results until its own next candidate: the
    /// reference the property tests compare the walk with. Not for nodes.
    #[doc(hidden)]
    pub fn evaluate_with_trajectory_every_item_every_instant(
        &self,
        facts: &Facts,
        now: Timestamp,
    ) -> Result<Decision, EvaluateError> {
        self.evaluate_walk(facts, now, true, false)
    }

    /// The walk over candidate instants. `reuse_items`: keep an item's
    /// results until its own next candidate instant ([`CompiledRules::fired_at`]);
    /// otherwise every item is evaluated at every candidate (the reference).
    fn evaluate_walk(
        &self,
        facts: &Facts,
        now: Timestamp,
        whole: bool,
        reuse_items: bool,
    ) -> Result<Decision, EvaluateError> {
        let mut prepared = PreparedFacts::new(facts, &self.lists_needed);
        if reuse_items {
            prepared.find_representatives(&self.item_fields_read);
        }
        let mut candidates: Vec<i64> = Vec::new();
        let mut walk = ItemsWalk::default();
        let fired_now = self.fired_at(&prepared, now, &mut walk, &mut candidates)?;
        let color = color_of(&self.rules, &fired_now);

        // Walk the candidate instants in increasing order until the color
        // changes. Evaluating at a candidate may reveal further candidates
        // (a branch not taken before), so the set grows as we go.
        let mut pending: std::collections::BTreeSet<i64> = std::collections::BTreeSet::new();
        let now_secs = now.unix_secs();
        let add_candidates =
            |pending: &mut std::collections::BTreeSet<i64>, instants: &[i64], after: i64| {
                for &instant_millis in instants {
                    let instant_secs = instant_millis.div_euclid(1000);
                    for candidate in [instant_secs, instant_secs + 1] {
                        if candidate > after {
                            pending.insert(candidate);
                        }
                    }
                }
            };
        add_candidates(&mut pending, &candidates, now_secs);
        let mut valid_until = None;
        let mut next_color = None;
        let mut reasons_until = None;
        let mut changes: Vec<(Timestamp, Color)> = Vec::new();
        let mut current = color;
        let mut complete = true;
        let mut tried = 0;
        while let Some(candidate) = pending.pop_first() {
            tried += 1;
            if tried > CANDIDATES_MAX {
                complete = false;
                break;
            }
            let Ok(at) = Timestamp::from_unix_secs(candidate) else {
                complete = false;
                break;
            };
            candidates.clear();
            if !reuse_items {
                walk = ItemsWalk::default();
            }
            let fired = self.fired_at(&prepared, at, &mut walk, &mut candidates)?;
            if reasons_until.is_none() && fired != fired_now {
                reasons_until = Some(at);
            }
            let candidate_color = color_of(&self.rules, &fired);
            if candidate_color != current {
                if valid_until.is_none() {
                    valid_until = Some(at);
                    next_color = Some(candidate_color);
                }
                changes.push((at, candidate_color));
                current = candidate_color;
                if !whole {
                    break;
                }
            }
            add_candidates(&mut pending, &candidates, candidate);
        }

        Ok(Decision {
            color,
            fired: self.explain(&fired_now, facts),
            valid_until,
            next_color,
            reasons_until,
            trajectory: (whole && complete).then_some(changes),
            evaluated_at: now,
            rules: self.in_force.clone(),
        })
    }

    /// The (rule, item) pairs for which a rule's logic is truthy at `at`,
    /// reporting into `observed` the instants compared by the items
    /// evaluated.
    ///
    /// `walk` keeps, per item, what its rules gave when last evaluated and
    /// until when that holds: during one walk only `now` changes (the facts,
    /// the item and the parameters are fixed), and `now` appears only as an
    /// operand of date-time comparisons whose other operands do not depend
    /// on it, every one of them reported. So an item's results, and the
    /// instants its evaluation reports, stay the same from the instant it
    /// was evaluated until the first candidate instant its own reports give;
    /// an item is evaluated again only from there. The walk visits the same
    /// candidates, in the same order, and gets the same pairs as evaluating
    /// every item at every candidate (property test
    /// `the_trajectory_walk_matches_evaluating_every_item_at_every_instant`).
    fn fired_at(
        &self,
        prepared: &PreparedFacts,
        at: Timestamp,
        walk: &mut ItemsWalk,
        observed: &mut Vec<i64>,
    ) -> Result<Vec<(usize, usize)>, EvaluateError> {
        let at_secs = at.unix_secs();
        let now_value = Value::date_time_unix_secs(at_secs);
        let mut fired = Vec::new();
        let mut item_instants: Vec<i64> = Vec::new();
        for (list_index, rule_indexes) in self.rules_by_list.iter().enumerate() {
            if rule_indexes.is_empty() {
                continue;
            }
            let known = &mut walk.items[list_index];
            let representatives: &[usize] = prepared
                .representatives
                .get(list_index)
                .map_or(&[], Vec::as_slice);
            for (item_index, item) in prepared.items[list_index].iter().enumerate() {
                // An item equal to an earlier one in every field its rules
                // read: the earlier one's results, just evaluated or kept.
                if let Some(&representative) = representatives.get(item_index)
                    && representative != item_index
                    && let Some(kept) = known.get(representative).and_then(Option::as_ref)
                {
                    fired.extend(kept.fired_rules.iter().map(|&rule| (rule, item_index)));
                    continue;
                }
                if let Some(kept) = known.get(item_index).and_then(Option::as_ref)
                    && at_secs < kept.holds_before_secs
                {
                    fired.extend(kept.fired_rules.iter().map(|&rule| (rule, item_index)));
                    continue;
                }
                // One data context per item, shared by every rule over the list.
                let [facts_key, item_key, now_key, params_key] = context_keys();
                let data = Value::object([
                    (facts_key, prepared.facts.clone()),
                    (item_key, item.clone()),
                    (now_key, now_value.clone()),
                    (params_key, self.parameters_value.clone()),
                ]);
                item_instants.clear();
                let mut fired_rules = Vec::new();
                for &rule_index in rule_indexes {
                    let rule = &self.rules[rule_index];
                    let value = rule
                        .expression
                        .eval_observed(&data, &mut |millis| item_instants.push(millis))
                        .map_err(|error| EvaluateError::Rule {
                            rule: rule.id.clone(),
                            list: FACT_LISTS[list_index].0,
                            index: item_index,
                            message: error.to_string(),
                        })?;
                    if value.is_truthy() {
                        fired_rules.push(rule_index);
                        fired.push((rule_index, item_index));
                    }
                }
                let holds_before_secs = item_instants
                    .iter()
                    .flat_map(|&millis| {
                        let secs = millis.div_euclid(1000);
                        [secs, secs.saturating_add(1)]
                    })
                    .filter(|&candidate| candidate > at_secs)
                    .min()
                    .unwrap_or(i64::MAX);
                observed.extend_from_slice(&item_instants);
                if known.len() <= item_index {
                    known.resize_with(item_index + 1, || None);
                }
                known[item_index] = Some(ItemKept {
                    fired_rules,
                    holds_before_secs,
                });
            }
        }
        Ok(fired)
    }

    fn explain(&self, fired: &[(usize, usize)], facts: &Facts) -> Vec<FiredRule> {
        let mut by_rule: BTreeMap<usize, Vec<EventId>> = BTreeMap::new();
        for &(rule_index, item_index) in fired {
            let rule = &self.rules[rule_index];
            if let Some(id) = item_id(facts, rule.list_index, item_index) {
                by_rule.entry(rule_index).or_default().push(id.clone());
            }
        }
        let mut explained: Vec<FiredRule> = by_rule
            .into_iter()
            .map(|(rule_index, mut evidence)| {
                let rule = &self.rules[rule_index];
                evidence.sort();
                evidence.dedup();
                FiredRule {
                    rule_id: rule.id.clone(),
                    color: rule.color,
                    description: rule.description.clone(),
                    clears: rule.clears.clone(),
                    evidence,
                }
            })
            .collect();
        // Most severe first, then in rule-set order (already the map order).
        explained.sort_by_key(|rule| std::cmp::Reverse(rule.color));
        explained
    }
}

fn color_of(rules: &[CompiledRule], fired: &[(usize, usize)]) -> Color {
    fired
        .iter()
        .map(|&(rule_index, _)| rules[rule_index].color)
        .max()
        .unwrap_or(Color::Green)
}

fn item_id(facts: &Facts, list_index: usize, item_index: usize) -> Option<&EventId> {
    match FACT_LISTS[list_index].0 {
        "tests" => facts.tests.get(item_index).map(|item| &item.id),
        "vaccinations" => facts.vaccinations.get(item_index).map(|item| &item.id),
        "checkIns" => facts.check_ins.get(item_index).map(|item| &item.id),
        "travel" => facts.travel.get(item_index).map(|item| &item.id),
        "contacts" => facts.contacts.get(item_index).map(|item| &item.id),
        "riskExposures" => facts.risk_exposures.get(item_index).map(|item| &item.id),
        "quarantines" => facts.quarantines.get(item_index).map(|item| &item.id),
        "overrides" => facts.overrides.get(item_index).map(|item| &item.id),
        _ => None,
    }
}

/// What one walk over candidate instants keeps of each item (per fact list,
/// by item index): see [`CompiledRules::fired_at`].
#[derive(Default)]
struct ItemsWalk {
    items: [Vec<Option<ItemKept>>; FACT_LISTS.len()],
}

/// The rules an item fired when last evaluated, and the first candidate
/// instant its own comparisons give after that evaluation (unix seconds):
/// before it, nothing the item's rules compare can have changed.
struct ItemKept {
    fired_rules: Vec<usize>,
    holds_before_secs: i64,
}

/// Facts converted once into CertLogic values, shared by every evaluation of
/// one decision.
struct PreparedFacts {
    facts: Value,
    /// The items of each fact list, in `FACT_LISTS` order.
    items: Vec<Vec<Value>>,
    /// Per list, each item's representative: the first item equal to it in
    /// every field the list's rules read (itself when none is). Empty when
    /// not looked for.
    representatives: Vec<Vec<usize>>,
}

/// Distinct items looked for per list: past this many, an item is its own
/// representative (the search is linear).
const REPRESENTATIVES_MAX: usize = 32;

impl PreparedFacts {
    fn new(facts: &Facts, lists_needed: &[bool; 8]) -> PreparedFacts {
        let items = crate::facts_value::fact_items_of(facts, lists_needed);
        // Keys in FACT_LISTS order are not sorted; Value::object sorts them.
        let facts_value = Value::object(
            items
                .iter()
                .enumerate()
                .map(|(list_index, list)| (list_key(list_index), Value::array(list.clone()))),
        );
        PreparedFacts {
            facts: facts_value,
            items,
            representatives: Vec::new(),
        }
    }

    fn find_representatives(&mut self, item_fields_read: &[Option<Vec<Arc<str>>>; 8]) {
        self.representatives = self
            .items
            .iter()
            .zip(item_fields_read)
            .map(|(items, fields_read)| {
                let Some(fields) = fields_read else {
                    return Vec::new();
                };
                fn field_of<'a>(item: &'a Value, field: &str) -> Option<&'a Value> {
                    item.as_object().and_then(|object| object.get(field))
                }
                let equal_in_fields_read = |one: &Value, other: &Value| {
                    fields
                        .iter()
                        .all(|field| field_of(one, field) == field_of(other, field))
                };
                // The first item of each kind found, by index.
                let mut distinct: Vec<usize> = Vec::new();
                items
                    .iter()
                    .enumerate()
                    .map(|(index, item)| {
                        if let Some(&first) = distinct
                            .iter()
                            .find(|&&first| equal_in_fields_read(&items[first], item))
                        {
                            return first;
                        }
                        if distinct.len() < REPRESENTATIVES_MAX {
                            distinct.push(index);
                        }
                        index
                    })
                    .collect()
            })
            .collect();
    }
}

/// A `var` path with its leading `data.` fragments taken off: inside
/// `reduce` lambdas they climb to the enclosing scopes, up to the root data
/// (`facts`, `item`, `now`, `params`), so what remains names what is read
/// there (or, past the root, something always null).
fn path_from_root(path: &str) -> &str {
    let mut path = path;
    while let Some(rest) = path.strip_prefix("data.") {
        path = rest;
    }
    path
}

/// The fields of an item that `rules` (all over one list) read, when they
/// read it only as `item.<field>` (at any depth of `reduce` lambdas, which
/// reach it as `data.item.<field>`); `None` when one may read it whole.
/// Everything else a rule reads (the facts, `now`, the parameters) is the
/// same for every item of one decision.
fn item_fields_read_by<'a>(rules: impl Iterator<Item = &'a CompiledRule>) -> Option<Vec<Arc<str>>> {
    let mut fields: Vec<Arc<str>> = Vec::new();
    for rule in rules {
        for access in rule.expression.data_accesses() {
            let path = path_from_root(&access.path);
            if path.is_empty() || path == "data" || path == "item" {
                return None;
            }
            if let Some(rest) = path.strip_prefix("item.") {
                let field = rest.split('.').next().unwrap_or("");
                if field.is_empty() {
                    return None;
                }
                if !fields.iter().any(|known| &**known == field) {
                    fields.push(Arc::from(field));
                }
            }
        }
    }
    Some(fields)
}

/// Compiles and evaluates in one call; prefer [`CompiledRules`] when deciding
/// for many persons.
pub fn evaluate(
    rule_set: &RuleSet,
    profile: Option<&ParameterProfile>,
    facts: &Facts,
    now: Timestamp,
) -> Result<Decision, EvaluateError> {
    let compiled =
        CompiledRules::compile(rule_set, profile).map_err(|error| EvaluateError::Rule {
            rule: String::new(),
            list: "",
            index: 0,
            message: error.to_string(),
        })?;
    compiled.evaluate(facts, now)
}
