//! Evaluating persons: reading a timeline, deriving its facts (joined with
//! the risk areas in force), deciding under the rules that govern it, and
//! keeping the decision in the projection.

use std::sync::Arc;
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

    /// With [`crate::ServerConfig::skip_unobserved_check_ins`], whether no
    /// check-in can change a decision now: no rule set in force reads
    /// check-ins and no risk area joins them into an exposure (every area is
    /// low risk, or there is none). Always false otherwise.
    pub(crate) fn check_ins_unread(&self) -> bool {
        if !self.config.skip_unobserved_check_ins {
            return false;
        }
        let read_by_rules = {
            let rules = self.rules.read();
            rules.national_compiled.reads_list("checkIns")
                || rules
                    .profiles
                    .values()
                    .any(|(_, compiled)| compiled.reads_list("checkIns"))
        };
        !read_by_rules
            && self
                .risk_areas
                .read()
                .iter()
                .all(|area| area.level == ymt_core::event::RiskLevel::Low)
    }

    /// A person's timeline as the rules in force read it: when no check-in
    /// can change a decision ([`Node::check_ins_unread`]), without the
    /// check-ins, which are most of a long timeline and are then not parsed
    /// (only their kind is read), and with
    /// [`crate::ServerConfig::timeline_cache_persons_max`] through the
    /// parsed timelines kept (`timeline_cache.rs`), reading from the store
    /// only the events stored since. Otherwise the whole timeline.
    pub(crate) fn person_records_for_rules(
        &self,
        pid: &PersonId,
    ) -> Result<Vec<Arc<EventRecord>>, NodeError> {
        if !self.check_ins_unread() {
            return Ok(self
                .person_records(pid)?
                .into_iter()
                .map(Arc::new)
                .collect());
        }
        if self.timeline_cache.enabled()
            && let Some(records) = self
                .timeline_cache
                .records_without_check_ins(self.store.as_ref(), pid)?
        {
            return Ok(records);
        }
        let mut records = Vec::new();
        for stored in self.store.events_for_person(pid)? {
            if crate::timeline_cache::is_check_in(&stored.payload) {
                continue;
            }
            records.push(Arc::new(
                serde_json::from_slice::<EventRecord>(&stored.payload).map_err(|error| {
                    NodeError::internal(format!("stored event {} unreadable: {error}", stored.id))
                })?,
            ));
        }
        Ok(records)
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
    pub fn facts_of<R: std::borrow::Borrow<EventRecord>>(
        &self,
        records: &[R],
        now: Timestamp,
        extra: Option<&RiskArea>,
    ) -> Facts {
        let mut facts = Facts::derive(records.iter().map(|record| &record.borrow().event), now);
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

    /// [`Node::decide_with`] for the projection: the timeline as the rules
    /// read it ([`Node::person_records_for_rules`]), which the caller does
    /// not get.
    fn decide_for_projection(
        &self,
        pid: &PersonId,
        now: Timestamp,
    ) -> Result<(Decision, u32), NodeError> {
        let records = self.person_records_for_rules(pid)?;
        let (tag, rules) = self
            .rules
            .read()
            .compiled_with_tag(governing_region(&records).as_ref());
        let facts = self.facts_of(&records, now, None);
        let decision = rules
            .evaluate_with_trajectory(&facts, now)
            .map_err(|error| cannot_compute(pid, &error))?;
        self.metrics.evaluations.fetch_add(1, Ordering::Relaxed);
        Ok((decision, tag))
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

    /// [`Node::decide_records`], also giving what a re-evaluation needs to
    /// keep the decision instead of deciding again (see
    /// [`Node::reevaluate_many_reusing`]).
    pub(crate) fn screen_records<R: std::borrow::Borrow<EventRecord>>(
        &self,
        pid: &PersonId,
        records: &[R],
        now: Timestamp,
    ) -> Result<ScreenedDecision, NodeError> {
        let region = governing_region(records);
        let (tag, rules) = self.rules.read().compiled_with_tag(region.as_ref());
        let facts = self.facts_of(records, now, None);
        let decision = rules
            .evaluate_with_trajectory(&facts, now)
            .map_err(|error| cannot_compute(pid, &error))?;
        Ok(ScreenedDecision {
            decision,
            tag,
            region,
            rules,
            now,
        })
    }

    /// [`Node::reevaluate_many`], keeping the decisions made when the batch
    /// was screened instead of reading and deciding the same timelines
    /// again: each submitted person was decided twice, once before storing
    /// and once after (docs/simulation.md, Cost). A screened decision is
    /// kept only when it is the decision a re-evaluation would make: the
    /// store holds exactly the timeline screened (`unchanged_since`: nothing
    /// but this batch was stored since the screening read, checked by the
    /// caller on the log's sequence numbers), the clock reads the instant
    /// screened, and the rules governing the person are the same compiled
    /// rules. Risk areas cannot have changed: they change only under the
    /// ingest gate held exclusively, and the caller holds it shared from
    /// before the screening until now. Anyone else is decided from the
    /// store as before.
    pub(crate) fn reevaluate_many_reusing(
        &self,
        pids: &[PersonId],
        mut screened: std::collections::HashMap<PersonId, ScreenedDecision>,
        unchanged_since: impl Fn() -> bool,
    ) -> Result<(), NodeError> {
        let now = self.now();
        let reusable = !screened.is_empty() && unchanged_since();
        let mut left = Vec::new();
        for pid in pids {
            let kept = match screened.remove(pid) {
                Some(kept) if reusable && kept.now == now => kept,
                _ => {
                    left.push(pid.clone());
                    continue;
                }
            };
            let (tag, rules) = self.rules.read().compiled_with_tag(kept.region.as_ref());
            if tag != kept.tag || !std::sync::Arc::ptr_eq(&rules, &kept.rules) {
                left.push(pid.clone());
                continue;
            }
            self.metrics.evaluations.fetch_add(1, Ordering::Relaxed);
            self.metrics
                .decisions_kept_from_screening
                .fetch_add(1, Ordering::Relaxed);
            self.projection.update(pid, &kept.decision, kept.tag);
        }
        self.reevaluate_many(&left)
    }

    /// Re-evaluates persons and stores their new status. A person whose
    /// decision cannot be computed (the rules exceed their budget on the
    /// timeline, an event no longer reads, the store fails to read it) is
    /// put into the fail-safe state, alone: everyone else is still decided,
    /// so this never fails.
    pub fn reevaluate_many(&self, pids: &[PersonId]) -> Result<(), NodeError> {
        let now = self.now();
        for pid in pids {
            match self.decide_for_projection(pid, now) {
                Ok((decision, tag)) => {
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

/// A decision made while screening a batch, before it was stored.
pub(crate) struct ScreenedDecision {
    decision: Decision,
    tag: u32,
    region: Option<ymt_core::RegionCode>,
    rules: std::sync::Arc<ymt_rules::CompiledRules>,
    now: Timestamp,
}

/// The error of a timeline the rules cannot decide: it names the person
/// and the rule.
fn cannot_compute(pid: &PersonId, error: &ymt_rules::EvaluateError) -> NodeError {
    NodeError::invalid(format!(
        "the status of person {pid} cannot be computed: {error}"
    ))
}
