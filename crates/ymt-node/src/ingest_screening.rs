//! Screening a submitted batch before anything is stored (split from
//! ingest.rs): each person's events stay under the per-person cap, and the
//! rules can decide the person's timeline with the batch's events added.

use std::collections::BTreeSet;

use ymt_core::{EventId, PersonId, Timestamp};

use crate::error::{ItemError, NodeError};
use crate::model::EventRecord;
use crate::state::Node;

impl Node {
    /// Checks, before anything is stored, each person of a batch: their
    /// events within one window stay under the cap, and the rules can decide
    /// their stored timeline with the batch's events added (persons in
    /// `skipped`, whose new events the rules cannot observe, are left
    /// out). Returns one
    /// error per refused person, at the index of their first event in the
    /// batch.
    pub(crate) fn screen_batch(
        &self,
        records: &[EventRecord],
        skipped: &BTreeSet<PersonId>,
        now: Timestamp,
    ) -> Result<ScreenOutcome, NodeError> {
        let mut by_person: std::collections::BTreeMap<&PersonId, Vec<usize>> =
            std::collections::BTreeMap::new();
        for (index, record) in records.iter().enumerate() {
            if skipped.contains(&record.event.person) {
                continue;
            }
            by_person
                .entry(&record.event.person)
                .or_default()
                .push(index);
        }
        let mut errors = Vec::new();
        let mut decisions = std::collections::HashMap::new();
        for (pid, indexes) in by_person {
            let first = indexes[0];
            // Without the check-ins when they cannot change a decision
            // (evaluation.rs); the cap then counts only the events read.
            let mut timeline = match self.person_records_for_rules(pid) {
                Ok(timeline) => timeline,
                Err(error) => {
                    errors.push(ItemError {
                        index: first,
                        detail: format!("person {pid}: {}", error.detail),
                    });
                    continue;
                }
            };
            // A person's events in a batch are usually few: then each is
            // looked for among the stored ones, with no set of ids made.
            let stored_ids: Option<std::collections::HashSet<&EventId>> = (indexes.len()
                > NEW_EVENTS_LOOKED_FOR_ONE_BY_ONE_MAX)
                .then(|| timeline.iter().map(|record| &record.event.id).collect());
            let is_stored = |id: &EventId| match &stored_ids {
                Some(stored_ids) => stored_ids.contains(id),
                None => timeline.iter().any(|stored| &stored.event.id == id),
            };
            let new: Vec<&EventRecord> = indexes
                .iter()
                .map(|&index| &records[index])
                .filter(|record| !is_stored(&record.event.id))
                .collect();
            drop(stored_ids);
            if new.is_empty() {
                continue;
            }
            if let Some(detail) = self.over_person_cap(pid, &timeline, &new) {
                errors.push(ItemError {
                    index: first,
                    detail,
                });
                continue;
            }
            timeline.extend(
                new.into_iter()
                    .map(|record| std::sync::Arc::new(record.clone())),
            );
            match self.screen_records(pid, &timeline, now) {
                Ok(decision) => {
                    decisions.insert(pid.clone(), decision);
                }
                Err(error) => errors.push(ItemError {
                    index: first,
                    detail: error.detail,
                }),
            }
        }
        Ok((errors, decisions))
    }

    /// Whether adding `new` would put more events of the person into one
    /// window than the cap allows; then says so, naming the person, the cap
    /// and the window. Only windows holding a new event count: a timeline
    /// stored under a larger cap stays readable and can still grow
    /// elsewhere.
    fn over_person_cap(
        &self,
        pid: &PersonId,
        stored: &[std::sync::Arc<EventRecord>],
        new: &[&EventRecord],
    ) -> Option<String> {
        let cap = self.config.person_events_per_window_max;
        let window_secs = self.config.person_events_window_secs.max(1);
        if stored.len() + new.len() <= cap {
            return None;
        }
        // What automatic tracing derives for a person (one designation per
        // overlap, many at a crowded venue) does not count: the person's
        // own facts, a lab's result above all, must never be refused
        // because the node designated them often. (Their evaluation stays
        // bounded by the step budget, and fails safe.)
        let counted = |record: &EventRecord| record.event.author != crate::auth::TRACE_AUTHOR;
        // (instant, is new), in instant order; a window of `window_secs`
        // starting at each instant.
        let mut instants: Vec<(i64, bool)> = stored
            .iter()
            .filter(|record| counted(record))
            .map(|record| (record.event.latest_instant().unix_secs(), false))
            .chain(
                new.iter()
                    .filter(|record| counted(record))
                    .map(|record| (record.event.latest_instant().unix_secs(), true)),
            )
            .collect();
        instants.sort_unstable();
        let mut new_before = vec![0usize; instants.len() + 1];
        for (index, (_, is_new)) in instants.iter().enumerate() {
            new_before[index + 1] = new_before[index] + usize::from(*is_new);
        }
        let mut end = 0;
        for start in 0..instants.len() {
            while end < instants.len() && instants[end].0 < instants[start].0 + window_secs {
                end += 1;
            }
            let count = end - start;
            if count > cap && new_before[end] > new_before[start] {
                return Some(format!(
                    "person {pid} would have {count} events within {window_secs} s \
                     (from {}); at most {cap} events of one person per {window_secs} s are accepted",
                    Timestamp::from_unix_secs(instants[start].0)
                        .map(|t| t.to_rfc3339())
                        .unwrap_or_default()
                ));
            }
        }
        None
    }
}

/// What screening a batch gives: one error per refused person, and the
/// decision of every other person screened.
pub(crate) type ScreenOutcome = (
    Vec<ItemError>,
    std::collections::HashMap<PersonId, crate::evaluation::ScreenedDecision>,
);

/// A person's events in one batch up to which each is looked for among
/// their stored events one by one; past it, through a set of their ids.
const NEW_EVENTS_LOOKED_FOR_ONE_BY_ONE_MAX: usize = 8;
