//! Bulk import of already-authored records (the `import` command, the demo
//! city, the benchmarks' setup): stored in chunks with one audit record per
//! chunk, applied, then the persons they touch re-evaluated, with progress.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;

use ymt_core::{EventBody, EventId, PersonId};
use ymt_store::{AuditEntry, AuditOutcome, NewEvent};

use crate::error::NodeError;
use crate::model::{EventRecord, IMPORT_PROGRESS_PERSONS, ImportProgress, ImportSummary};
use crate::state::Node;

impl Node {
    /// Stores already-authored records (imports, the demo city) durably,
    /// keeping their authors and recording instants, and applies them.
    /// Each record is validated; a bad one refuses the whole call.
    pub fn import_records(
        &self,
        records: &[EventRecord],
        importer: &str,
    ) -> Result<ImportSummary, NodeError> {
        self.import_records_with_progress(records, importer, &mut |_| {})
    }

    /// [`Node::import_records`], reporting progress after each stored chunk
    /// and each evaluated group of persons, so a terminal can show where a
    /// million-event import is (it otherwise runs a minute in silence).
    pub fn import_records_with_progress(
        &self,
        records: &[EventRecord],
        importer: &str,
        progress: &mut dyn FnMut(ImportProgress),
    ) -> Result<ImportSummary, NodeError> {
        for (index, record) in records.iter().enumerate() {
            record.event.validate().map_err(|error| {
                NodeError::invalid(format!("record {index} ({}): {error}", record.event.id))
            })?;
        }
        let mut summary = ImportSummary::default();
        let mut persons: BTreeSet<PersonId> = BTreeSet::new();
        let mut retracted: Vec<EventId> = Vec::new();
        let now = self.now();
        let mut records_stored = 0;
        for chunk in records.chunks(self.config.batch_events_max.max(1)) {
            let batch: Vec<NewEvent> = chunk
                .iter()
                .map(|record| NewEvent {
                    id: record.event.id.clone(),
                    person: record.event.person.clone(),
                    recorded_at: record.event.recorded_at,
                    payload: serde_json::to_vec(record).expect("events serialise"),
                })
                .collect();
            let audit = vec![AuditEntry {
                at: now,
                principal: importer.into(),
                role: "import".into(),
                action: "events.import".into(),
                target: format!("{} events", chunk.len()),
                outcome: AuditOutcome::Allowed,
                detail: format!("first {}", chunk[0].event.id),
            }];
            let outcomes = ymt_store::wait_blocking(self.store.submit_with_audit(batch, audit)?)?;
            for (record, outcome) in chunk.iter().zip(outcomes) {
                if outcome.duplicate {
                    summary.duplicate += 1;
                } else {
                    summary.stored += 1;
                    persons.insert(record.event.person.clone());
                    self.tracing.index_records([record]);
                    self.note_retractions([record]);
                    if let EventBody::Retraction(retraction) = &record.event.body {
                        retracted.push(retraction.target.clone());
                    }
                }
            }
            records_stored += chunk.len();
            progress(ImportProgress::Stored {
                records_done: records_stored,
                records_total: records.len(),
            });
        }
        // Retracted check-ins leave the index once the whole import is in,
        // whichever came first in the file; a retraction already stored
        // (a re-import) has done so before.
        for target in &retracted {
            self.tracing.retract_check_in(self.store.as_ref(), target)?;
        }
        let persons: Vec<PersonId> = persons.into_iter().collect();
        summary.persons = persons.len();
        let mut persons_evaluated = 0;
        for group in persons.chunks(IMPORT_PROGRESS_PERSONS) {
            self.reevaluate_many(group)?;
            persons_evaluated += group.len();
            progress(ImportProgress::Evaluated {
                persons_done: persons_evaluated,
                persons_total: persons.len(),
            });
        }
        self.metrics
            .events_stored
            .fetch_add(summary.stored, Ordering::Relaxed);
        Ok(summary)
    }
}
