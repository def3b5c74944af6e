//! Who a risk area reaches, and their new decisions: found from the stays
//! of the area's venues in the check-in index, and decided incrementally
//! (alone or by composition) where that is exact, in full elsewhere.

use std::collections::HashMap;
use std::sync::Arc;

use rustc_hash::FxHashMap;
use serde::Serialize;
use ymt_core::event::RiskLevel;
use ymt_core::risk_area::{RiskArea, StaySecs};
use ymt_core::{Color, EventId, Facts, PersonId, RegionCode, Timestamp, VenueId};
use ymt_trace::stay::from_rel;

use crate::error::NodeError;
use crate::model::Impact;
use crate::projection::{
    AloneExposure, Explanation, PersonKey, SHARD_COUNT, person_key_of_text, shard_of,
};
use crate::state::Node;

/// The persons an area reaches, each with the stay their exposure rests on.
pub struct Reached {
    /// The area's venues that have stays, by slot number.
    venues: Vec<VenueId>,
    persons: Vec<ReachedPerson>,
}

#[derive(Clone, Copy)]
struct ReachedPerson {
    /// The person's number in the check-in index.
    person: u32,
    venue_slot: u32,
    stay: StaySecs,
}

impl Reached {
    pub fn len(&self) -> usize {
        self.persons.len()
    }

    pub fn is_empty(&self) -> bool {
        self.persons.is_empty()
    }

    /// The persons reached, by pseudonym (for a full re-evaluation).
    pub fn person_ids(&self, state: &Node) -> Vec<PersonId> {
        let index = state.tracing.index.read();
        self.persons
            .iter()
            .map(|person| index.person_id(person.person))
            .collect()
    }
}

/// The persons whose indexed stays overlap the area's window, each with the
/// stay that [`ymt_core::risk_area::RiskAreas::join`] would choose. Reads
/// only the stays of the area's venues. Bounded by the node's limit on the
/// persons one action may reach.
pub fn reached_persons(state: &Node, area: &RiskArea) -> Result<Reached, NodeError> {
    let mut reached = Reached {
        venues: Vec::new(),
        persons: Vec::new(),
    };
    if area.level == RiskLevel::Low {
        // A low-risk area carries no restriction and reaches nobody's color.
        return Ok(reached);
    }
    let index = state.tracing.index.read();
    let mut best: FxHashMap<u32, (StaySecs, u32)> = FxHashMap::default();
    for venue in area.venues.keys() {
        let Some(number) = index.venues().get(venue.as_str()) else {
            continue;
        };
        let slot = reached.venues.len() as u32;
        reached.venues.push(venue.clone());
        let venues = &reached.venues;
        index.for_each_stay_at(number, |raw| {
            let stay = StaySecs {
                enter_secs: from_rel(raw.enter_rel),
                leave_secs: from_rel(raw.leave_rel),
            };
            if !area.overlaps(stay) {
                return;
            }
            match best.get_mut(&raw.person) {
                Some(chosen) => {
                    if RiskArea::prefers(
                        stay,
                        &venues[slot as usize],
                        chosen.0,
                        &venues[chosen.1 as usize],
                    ) {
                        *chosen = (stay, slot);
                    }
                }
                None => {
                    best.insert(raw.person, (stay, slot));
                }
            }
        });
    }
    if best.len() > state.tracing.config.action_persons_max {
        return Err(NodeError::too_large(format!(
            "the area reaches {} persons, more than the limit of {}",
            best.len(),
            state.tracing.config.action_persons_max
        )));
    }
    reached.persons = best
        .into_iter()
        .map(|(person, (stay, venue_slot))| ReachedPerson {
            person,
            venue_slot,
            stay,
        })
        .collect();
    // In number order, resolving the persons' ids walks the interner's
    // tables nearly sequentially instead of missing the cache on each.
    reached.persons.sort_unstable_by_key(|person| person.person);
    Ok(reached)
}

/// Whether a pass over the reached persons only counts what would change,
/// or stores the new statuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pass {
    Preview,
    Apply,
}

/// What a pass over the reached persons found.
#[derive(Clone, Debug, Default, Serialize)]
pub struct AreaOutcome {
    /// Who is reached and whose color changes.
    pub impact: Impact,
    /// Persons decided from their slot and the new exposure alone.
    pub decided_incrementally: usize,
    /// Persons whose kept decision was composed with the new exposure's.
    pub decided_by_composition: usize,
    /// Persons whose timelines were re-read and evaluated in full.
    pub decided_in_full: usize,
}

impl AreaOutcome {
    fn merge(&mut self, other: AreaOutcome) {
        self.impact.merge(other.impact);
        self.decided_incrementally += other.decided_incrementally;
        self.decided_by_composition += other.decided_by_composition;
        self.decided_in_full += other.decided_in_full;
    }
}

/// Decides every reached person as if `area` were in force.
///
/// A person is decided without reading their timeline when:
/// - the slot names the rules that made it, they are still in force, and
///   under them each risk exposure decides alone
///   ([`ymt_rules::CompiledRules::items_decide_alone`]);
/// - the person has no retraction (the index is told of a retracted stay
///   only after the ingest that stored the retraction has let go);
/// - and either the slot is green with nothing scheduled, so the new
///   decision is the exposure's alone (computed once per distinct stay and
///   shared), or a decision is kept with its trajectory, and the two are
///   composed ([`ymt_rules::CompiledRules::compose`]).
///
/// Everyone else is re-read from the store and evaluated in full with the
/// area joined. All three ways give the same decision.
///
/// The work is split by projection shard, so each shard is locked once.
pub fn decide_reached(
    state: &Node,
    area: &RiskArea,
    reached: &Reached,
    pass: Pass,
) -> Result<AreaOutcome, NodeError> {
    let now = state.now();
    let area_workers = state.config.worker_threads.max(1);
    // The rules are copied out of their lock: the full evaluations below
    // take it again, and a queued writer would otherwise deadlock them.
    let by_tag: FxHashMap<u32, Arc<ymt_rules::CompiledRules>> = {
        let rules = state.rules.read();
        rules
            .tags()
            .filter_map(|tag| Some((tag, rules.exposure_rules_by_tag(tag)?)))
            .collect()
    };
    let index = state.tracing.index.read();
    let retractions = state.persons_with_retractions.read();

    // First the persons' keys, bucketed by shard, one part per worker.
    let chunk = reached.persons.len().div_ceil(area_workers).max(1);
    let buckets: Vec<Vec<Vec<(PersonKey, u32)>>> = std::thread::scope(|scope| {
        let workers: Vec<_> = reached
            .persons
            .chunks(chunk)
            .enumerate()
            .map(|(part_number, part)| {
                let index = &index;
                scope.spawn(move || {
                    let mut buckets = vec![Vec::new(); SHARD_COUNT];
                    for (offset, person) in part.iter().enumerate() {
                        let (key, _) = person_key_of_text(index.persons().resolve(person.person));
                        buckets[shard_of(&key)].push((key, (part_number * chunk + offset) as u32));
                    }
                    buckets
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|worker| worker.join().expect("risk-area worker"))
            .collect()
    });

    // Then the shards, interleaved between the workers.
    let outcomes: Vec<Result<AreaOutcome, NodeError>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..area_workers)
            .map(|worker_number| {
                let (index, retractions, by_tag, buckets) =
                    (&index, &retractions, &by_tag, &buckets);
                scope.spawn(move || {
                    let mut outcome = AreaOutcome::default();
                    let mut shared: Vec<SharedDecision> = Vec::new();
                    let mut shared_by_exposure: FxHashMap<(u32, i64, i64, u32), usize> =
                        FxHashMap::default();
                    for shard in (worker_number..SHARD_COUNT).step_by(area_workers) {
                        let members: Vec<(PersonKey, u32)> = buckets
                            .iter()
                            .flat_map(|per_worker| per_worker[shard].iter().copied())
                            .collect();
                        if members.is_empty() {
                            continue;
                        }
                        let keys: Vec<PersonKey> = members.iter().map(|(key, _)| *key).collect();
                        let slots = state.projection.slots_in_shard(shard, &keys);
                        let mut incremental: Vec<(PersonKey, usize, u32)> = Vec::new();
                        let mut in_full: Vec<(PersonId, Color)> = Vec::new();
                        let mut composable: Vec<(PersonKey, PersonId, u32, usize, Color)> =
                            Vec::new();
                        for ((key, position), slot) in members.into_iter().zip(slots) {
                            outcome.impact.persons_reached += 1;
                            let person = reached.persons[position as usize];
                            let before = slot.map(|(slot, _)| slot.color()).unwrap_or(Color::Green);
                            // Settled green: the new decision is the
                            // exposure's alone. With a kept decision: the
                            // two are composed. Otherwise: a full read.
                            let rules = match slot {
                                Some((slot, has_explanation))
                                    if !retractions.contains(&key)
                                        && (has_explanation
                                            || (slot.color() == Color::Green
                                                && slot.valid_until().is_none())) =>
                                {
                                    by_tag
                                        .get(&slot.rules_epoch)
                                        .map(|rules| (slot.rules_epoch, rules, has_explanation))
                                }
                                _ => None,
                            };
                            let Some((tag, rules, compose)) = rules else {
                                let pid = index.person_id(person.person);
                                in_full.push((pid, before));
                                continue;
                            };
                            let venue = &reached.venues[person.venue_slot as usize];
                            let Some(exposure) = area.exposure(venue, person.stay) else {
                                continue;
                            };
                            let memo_key = (
                                tag,
                                exposure.from.unix_secs(),
                                exposure.until.unix_secs(),
                                person.venue_slot,
                            );
                            let shared_index = match shared_by_exposure.get(&memo_key) {
                                Some(&shared_index) => shared_index,
                                None => {
                                    let alone = AloneExposure {
                                        rules_tag: tag,
                                        exposure,
                                    };
                                    let decision = decide_alone(rules, &alone.exposure, now)?;
                                    shared.push(SharedDecision::new(decision, alone));
                                    shared_by_exposure.insert(memo_key, shared.len() - 1);
                                    shared.len() - 1
                                }
                            };
                            if compose {
                                composable.push((
                                    key,
                                    index.person_id(person.person),
                                    tag,
                                    shared_index,
                                    before,
                                ));
                                continue;
                            }
                            outcome.decided_incrementally += 1;
                            outcome
                                .impact
                                .record(before, shared[shared_index].decision.color);
                            incremental.push((key, shared_index, tag));
                        }
                        let mut composed_decisions = Vec::new();
                        for (key, pid, tag, shared_index, before) in composable {
                            let composed = state
                                .projection
                                .get(&pid)
                                .and_then(|(_, explanation)| explanation)
                                .and_then(|explanation| explanation.kept_decision())
                                .zip(by_tag.get(&tag))
                                .and_then(|(base, rules)| {
                                    rules.compose(&base, &shared[shared_index].decision, now)
                                });
                            let Some(decision) = composed else {
                                in_full.push((pid, before));
                                continue;
                            };
                            outcome.decided_by_composition += 1;
                            outcome.impact.record(before, decision.color);
                            let explanation = Explanation::of(&decision).map(Arc::new);
                            composed_decisions.push((key, decision, explanation, tag));
                        }
                        if pass == Pass::Apply && !composed_decisions.is_empty() {
                            state.projection.update_shard_batch(
                                shard,
                                composed_decisions
                                    .iter()
                                    .map(|(key, decision, explanation, tag)| {
                                        (*key, decision, explanation.clone(), *tag)
                                    })
                                    .collect(),
                            );
                        }
                        if pass == Pass::Apply && !incremental.is_empty() {
                            state.projection.update_shard_batch(
                                shard,
                                incremental
                                    .into_iter()
                                    .map(|(key, shared_index, tag)| {
                                        let decided = &shared[shared_index];
                                        (key, &decided.decision, decided.explanation.clone(), tag)
                                    })
                                    .collect(),
                            );
                        }
                        for (pid, before) in in_full {
                            outcome.decided_in_full += 1;
                            match state.decide_with(&pid, now, Some(area)) {
                                Ok((decision, _, tag)) => {
                                    outcome.impact.record(before, decision.color);
                                    if pass == Pass::Apply {
                                        state.projection.update(&pid, &decision, tag);
                                    }
                                }
                                // One person the rules cannot decide does not
                                // stop the designation for everyone else: they
                                // are shown "cannot be computed" (as red).
                                Err(error) => {
                                    outcome.impact.record(before, ymt_core::Color::Red);
                                    if pass == Pass::Apply {
                                        state.put_cannot_compute(&pid, &error.detail, now);
                                    }
                                }
                            }
                        }
                    }
                    Ok(outcome)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|worker| worker.join().expect("risk-area worker"))
            .collect()
    });
    let mut total = AreaOutcome::default();
    for outcome in outcomes {
        total.merge(outcome?);
    }
    Ok(total)
}

/// One decision shared by every person with the same exposure.
struct SharedDecision {
    decision: ymt_rules::Decision,
    explanation: Option<Arc<Explanation>>,
}

impl SharedDecision {
    fn new(decision: ymt_rules::Decision, alone: AloneExposure) -> SharedDecision {
        let explanation = Explanation::of_alone(&decision, alone).map(Arc::new);
        SharedDecision {
            decision,
            explanation,
        }
    }
}

/// The decision of one risk exposure alone.
fn decide_alone(
    rules: &ymt_rules::CompiledRules,
    exposure: &ymt_core::facts::RiskExposureFact,
    now: Timestamp,
) -> Result<ymt_rules::Decision, NodeError> {
    let facts = Facts {
        version: ymt_core::facts::FACTS_VERSION,
        risk_exposures: vec![exposure.clone()],
        ..Facts::default()
    };
    rules
        .evaluate_with_trajectory(&facts, now)
        .map_err(|error| NodeError::internal(format!("evaluation failed: {error}")))
}

/// Applies the due transitions of persons whose decision rests on one
/// exposure alone ([`AloneExposure`]): their new decision is that
/// exposure's alone at `now`, computed once per distinct exposure. Returns
/// the persons it could not decide so, for a full re-evaluation.
pub fn apply_due_alone(state: &Node, pids: Vec<PersonId>, now: Timestamp) -> Vec<PersonId> {
    let by_tag = |tag: u32| state.rules.read().exposure_rules_by_tag(tag);
    // Keyed by everything the exposure's decision depends on.
    type ExposureKey = (u32, EventId, RegionCode, RiskLevel, i64, i64);
    let mut shared: HashMap<ExposureKey, Option<SharedDecision>> = HashMap::new();
    let mut in_full = Vec::new();
    for pid in pids {
        let alone = state.projection.get(&pid).and_then(|(slot, explanation)| {
            explanation
                .and_then(|explanation| explanation.alone.clone())
                .filter(|alone| alone.rules_tag == slot.rules_epoch)
        });
        let Some(alone) = alone else {
            in_full.push(pid);
            continue;
        };
        let decided = shared
            .entry((
                alone.rules_tag,
                alone.exposure.id.clone(),
                alone.exposure.area.clone(),
                alone.exposure.level,
                alone.exposure.from.unix_secs(),
                alone.exposure.until.unix_secs(),
            ))
            .or_insert_with(|| {
                let rules = by_tag(alone.rules_tag)?;
                let decision = decide_alone(&rules, &alone.exposure, now).ok()?;
                Some(SharedDecision::new(decision, alone.clone()))
            });
        match decided {
            Some(decided) => {
                state.projection.update_shared(
                    &pid,
                    &decided.decision,
                    decided.explanation.clone(),
                    alone.rules_tag,
                );
            }
            None => in_full.push(pid),
        }
    }
    in_full
}
