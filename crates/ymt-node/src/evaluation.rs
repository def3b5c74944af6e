//! Evaluating persons: reading a timeline, deriving its facts (joined with
//! the risk areas in force), deciding under the rules that govern it, and
//! keeping the decision in the projection.

use std::sync::atomic::Ordering;

use ymt_core::risk_area::RiskArea;
use ymt_core::{Facts, PersonId, Timestamp};
use ymt_rules::Decision;

use crate::error::NodeError;
use crate::model::{EventRecord, RulesState, governing_region};
use crate::projection::person_key;
use crate::state::Node;

impl Node {
    /// Loads a person's timeline from the store.
    pub fn person_records(&self, pid: &PersonId) -> Result<Vec<EventRecord>, NodeError> {
        self.store
            .events_for_person(pid)?
            .into_iter()
            .map(|stored| {
                serde_json::from_slice::<EventRecord>(&stored.payload).map_err(|error| {
                    NodeError::internal(format!("stored event {} unreadable: {error}", stored.id))
                })
            })
            .collect()
    }

    /// Evaluates a person from the store at `now` without touching the
    /// projection.
    pub fn decide(
        &self,
        pid: &PersonId,
        now: Timestamp,
    ) -> Result<(Decision, Vec<EventRecord>), NodeError> {
        let (decision, records, _) = self.decide_with(pid, now, None)?;
        Ok((decision, records))
    }

    /// The facts of a timeline at `now`: its events, joined with the risk
    /// areas in force (and `extra`, a designation being previewed).
    pub fn facts_of(
        &self,
        records: &[EventRecord],
        now: Timestamp,
        extra: Option<&RiskArea>,
    ) -> Facts {
        let mut facts = Facts::derive(records.iter().map(|record| &record.event), now);
        self.risk_areas.read().join(&mut facts, now, extra);
        facts
    }

    /// [`Node::decide`], also giving the tag of the rules used, and
    /// optionally with one more designation than those in force.
    pub fn decide_with(
        &self,
        pid: &PersonId,
        now: Timestamp,
        extra: Option<&RiskArea>,
    ) -> Result<(Decision, Vec<EventRecord>, u32), NodeError> {
        let records = self.person_records(pid)?;
        let (tag, rules) = self
            .rules
            .read()
            .compiled_with_tag(governing_region(&records).as_ref());
        let facts = self.facts_of(&records, now, extra);
        // With the whole trajectory, so the kept decision can later be
        // composed with a new exposure (risk.rs).
        let decision = rules
            .evaluate_with_trajectory(&facts, now)
            .map_err(|error| cannot_compute(pid, &error))?;
        self.metrics.evaluations.fetch_add(1, Ordering::Relaxed);
        Ok((decision, records, tag))
    }

    /// Decides a timeline that is not (all) stored yet: `records`, the
    /// person's stored events plus those of a batch, under the rules that
    /// would govern them. An error names the person and the rule.
    pub fn decide_records(
        &self,
        pid: &PersonId,
        records: &[EventRecord],
        now: Timestamp,
    ) -> Result<Decision, NodeError> {
        let rules = self
            .rules
            .read()
            .compiled_for(governing_region(records).as_ref());
        let facts = self.facts_of(records, now, None);
        rules
            .evaluate_with_trajectory(&facts, now)
            .map_err(|error| cannot_compute(pid, &error))
    }

    /// Re-evaluates persons and stores their new status. A person whose
    /// decision cannot be computed (the rules exceed their budget on the
    /// timeline, an event no longer reads, the store fails to read it) is
    /// put into the fail-safe state, alone: everyone else is still decided,
    /// so this never fails.
    pub fn reevaluate_many(&self, pids: &[PersonId]) -> Result<(), NodeError> {
        let now = self.now();
        for pid in pids {
            match self.decide_with(pid, now, None) {
                Ok((decision, _, tag)) => {
                    self.projection.update(pid, &decision, tag);
                }
                Err(error) => self.put_cannot_compute(pid, &error.detail, now),
            }
        }
        Ok(())
    }

    /// Puts one person into the fail-safe state ("cannot be computed, check
    /// in person") and counts it for the alert metric.
    pub fn put_cannot_compute(&self, pid: &PersonId, detail: &str, now: Timestamp) {
        tracing::warn!("person {pid}: {detail}; shown as \"cannot be computed, check in person\"");
        self.metrics
            .evaluations_failed
            .fetch_add(1, Ordering::Relaxed);
        self.projection.update_cannot_compute(pid, detail, now);
    }

    /// [`Node::reevaluate_many`] on the configured worker threads: the
    /// evaluations are CPU-bound and independent per person.
    pub fn reevaluate_many_in_parallel(&self, pids: &[PersonId]) -> Result<(), NodeError> {
        let chunk = pids
            .len()
            .div_ceil(self.config.worker_threads.max(1))
            .max(1);
        std::thread::scope(|scope| {
            let workers: Vec<_> = pids
                .chunks(chunk)
                .map(|part| scope.spawn(move || self.reevaluate_many(part)))
                .collect();
            workers
                .into_iter()
                .try_for_each(|worker| worker.join().expect("re-evaluation worker"))
        })
    }

    /// The persons known to this node (in the projection).
    pub fn person_count(&self) -> usize {
        self.projection.len()
    }

    /// Facts of many persons for an impact preview, bounded.
    pub fn population_facts(&self, now: Timestamp) -> Result<Vec<(PersonId, Facts)>, NodeError> {
        let pids = self.projection.all_pids();
        if pids.len() > self.config.impact_persons_max {
            return Err(NodeError::too_large(format!(
                "an impact preview covers at most {} persons; this node has {}",
                self.config.impact_persons_max,
                pids.len()
            )));
        }
        let mut population = Vec::with_capacity(pids.len());
        for pid in pids {
            let records = self.person_records(&pid)?;
            population.push((pid, self.facts_of(&records, now, None)));
        }
        Ok(population)
    }

    /// Replaces the rules in force and re-evaluates everyone.
    pub fn apply_rules_change(
        &self,
        change: impl FnOnce(&mut RulesState) -> Result<(), NodeError>,
    ) -> Result<usize, NodeError> {
        {
            let mut rules = self.rules.write();
            change(&mut rules)?;
        }
        let pids = self.projection.all_pids();
        self.reevaluate_many(&pids)?;
        Ok(pids.len())
    }

    pub fn key_of(&self, pid: &PersonId) -> [u8; 16] {
        person_key(pid).0
    }
}

/// The error of a timeline the rules cannot decide: it names the person
/// and the rule.
fn cannot_compute(pid: &PersonId, error: &ymt_rules::EvaluateError) -> NodeError {
    NodeError::invalid(format!(
        "the status of person {pid} cannot be computed: {error}"
    ))
}
