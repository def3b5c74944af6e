//! The node's side of replication (issue 11; the transport is `ymt-cluster`):
//! the seam through which a node hands the records its commands made to a
//! transport ([`Replicator`]), the outbox those records wait in until the
//! transport acknowledged them, and the apply path of records that come back
//! from the transport ([`Node::apply_replicated`]), which stores the stream
//! position in the same commit as the records it applies.
//!
//! A node without a replicator (the README's single node) has no outbox and
//! applies nothing from elsewhere: nothing here runs.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use sha2::{Digest, Sha256};
use ymt_core::PersonId;
use ymt_store::{AuditEntry, AuditOutcome, MetaWrite, NewEvent};

use crate::error::NodeError;
use crate::model::EventRecord;
use crate::record::{Record, RecordEnvelope};
use crate::state::Node;

/// Records made on this node that the transport has not acknowledged yet:
/// key the message id, value the envelope (JSON). Written in the same commit
/// as the records themselves, removed once the transport acknowledged them.
pub const OUTBOX_NAMESPACE: &str = "outbox";
/// Where the node keeps its position in each replicated stream (key the
/// stream's name, value the last stream sequence applied, decimal).
pub const POSITION_NAMESPACE: &str = "replication";

pub use crate::replicator::{ReplicationFuture, ReplicationStatus, Replicator};

/// The message id of a batch of events: derived from its event ids only, so
/// that a client's retry of the same batch (which the node may stamp with
/// other recording instants) is the same message.
pub fn events_message_id(records: &[EventRecord]) -> String {
    let mut hasher = Sha256::new();
    for record in records {
        hasher.update(record.event.id.as_str().as_bytes());
        hasher.update([0]);
    }
    format!("ev-{}", &hex::encode(hasher.finalize())[..40])
}

/// The outbox write of a record published under `message_id`.
pub fn outbox_write(message_id: &str, envelope: &RecordEnvelope) -> MetaWrite {
    MetaWrite::put(
        OUTBOX_NAMESPACE,
        message_id,
        serde_json::to_vec(envelope).expect("records serialise"),
    )
}

/// The durable write of a stream position.
pub fn position_write(stream: &str, sequence: u64) -> MetaWrite {
    MetaWrite::put(
        POSITION_NAMESPACE,
        stream,
        sequence.to_string().into_bytes(),
    )
}

impl Node {
    /// Makes this node replicate the records its commands make through
    /// `replicator`; set once, before serving.
    pub fn set_replicator(&self, replicator: Arc<dyn Replicator>) -> Result<(), NodeError> {
        self.replicator
            .set(replicator)
            .map_err(|_| NodeError::internal("the node already has a replicator"))
    }

    /// Whether this node replicates its records.
    pub fn replicates(&self) -> bool {
        self.replicator.get().is_some()
    }

    /// Publishes a record already durable here (with its outbox entry) and
    /// removes the outbox entry once the transport acknowledged it. Fails
    /// with `Unavailable` (the client is told to retry; the record stays in
    /// the outbox and [`Node::publish_outbox`] publishes it later).
    pub(crate) async fn replicate(
        &self,
        message_id: &str,
        envelope: &RecordEnvelope,
    ) -> Result<(), NodeError> {
        let Some(replicator) = self.replicator.get() else {
            return Ok(());
        };
        replicator.publish(message_id, envelope).await?;
        self.remove_from_outbox(message_id).await;
        Ok(())
    }

    async fn remove_from_outbox(&self, message_id: &str) {
        // Best effort: an entry left behind is published again, and the
        // transport and every node drop it as a duplicate.
        if let Ok(receiver) = self.store.meta_commit(
            vec![MetaWrite::delete(OUTBOX_NAMESPACE, message_id)],
            Vec::new(),
        ) {
            let _ = receiver.await;
        }
    }

    /// How many records wait in the outbox.
    pub fn outbox_depth(&self) -> usize {
        self.store
            .meta_list(OUTBOX_NAMESPACE)
            .map_or(0, |entries| entries.len())
    }

    /// Publishes every record waiting in the outbox (oldest key first),
    /// stopping at the first the transport does not acknowledge. Returns how
    /// many were published.
    pub async fn publish_outbox(&self) -> Result<usize, NodeError> {
        let entries = self.store.meta_list(OUTBOX_NAMESPACE)?;
        let mut published = 0;
        for (message_id, bytes) in entries {
            let envelope: RecordEnvelope = serde_json::from_slice(&bytes)
                .map_err(|error| NodeError::internal(format!("outbox {message_id}: {error}")))?;
            self.replicate(&message_id, &envelope).await?;
            published += 1;
        }
        Ok(published)
    }

    /// The last position applied of `stream` (0 before any).
    pub fn replication_position(&self, stream: &str) -> Result<u64, NodeError> {
        Ok(self
            .store
            .meta_get(POSITION_NAMESPACE, stream)?
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .and_then(|text| text.parse().ok())
            .unwrap_or(0))
    }

    /// Applies records that came from the transport, in stream order, and
    /// stores `position` in the same commit as the last of them, so a
    /// restart resumes exactly after what was applied. Idempotent: events
    /// already stored (this node's own, or delivered again) change nothing.
    /// Events derived by every node alike (automatic tracing) are derived
    /// here too, by the modules' `after_ingest`.
    pub async fn apply_replicated(
        self: &Arc<Self>,
        envelopes: Vec<RecordEnvelope>,
        position: MetaWrite,
    ) -> Result<(), NodeError> {
        self.apply_envelopes(envelopes, Some(position)).await
    }

    /// The apply path of replicated records, from the stream (with its
    /// `position`) or fetched from a peer by anti-entropy (without). A
    /// numbered record is kept under `origin-records` in the same commit
    /// as its events (`replication_origin.rs`), so what the node holds of
    /// each origin is durable exactly when the events are.
    pub(crate) async fn apply_envelopes(
        self: &Arc<Self>,
        envelopes: Vec<RecordEnvelope>,
        position: Option<MetaWrite>,
    ) -> Result<(), NodeError> {
        let numbered: Vec<RecordEnvelope> = envelopes
            .iter()
            .filter(|envelope| envelope.origin.is_some())
            .cloned()
            .collect();
        // Consecutive event batches are stored together: one commit.
        let mut events: Vec<(EventRecord, AuditEntry)> = Vec::new();
        for envelope in envelopes {
            match envelope.record {
                Record::Events { events: records } => {
                    let (action_author, role) = (envelope.author.clone(), envelope.role.clone());
                    for record in records {
                        let audit = AuditEntry {
                            at: envelope.at,
                            principal: action_author.clone(),
                            role: role.clone(),
                            action: format!("event.{}", record.event.kind().as_str()),
                            target: format!("{}/{}", record.event.person, record.event.id),
                            outcome: AuditOutcome::Allowed,
                            detail: format!("region {}; replicated", record.region),
                        };
                        events.push((record, audit));
                    }
                }
                _ => {
                    self.store_replicated_events(std::mem::take(&mut events), Vec::new())
                        .await?;
                    // An ordered command, applied at its place in the
                    // stream after the events before it.
                    self.apply_replicated_command(envelope).await?;
                }
            }
        }
        let sequence = position.as_ref().and_then(|position| {
            std::str::from_utf8(position.value.as_deref().unwrap_or_default())
                .ok()
                .and_then(|text| text.parse::<u64>().ok())
        });
        let mut writes = crate::replication_origin::origin_record_writes(self, &numbered);
        writes.extend(position);
        self.store_replicated_events(events, writes).await?;
        crate::replication_origin::hold_parts(self, &numbered);
        if let Some(sequence) = sequence {
            self.replication.position.store(sequence, Ordering::Release);
        }
        Ok(())
    }

    /// Stores replicated events not stored yet, with `writes` (the stream
    /// position, numbered records) in the same commit, then applies them as
    /// an ingest does.
    async fn store_replicated_events(
        self: &Arc<Self>,
        events: Vec<(EventRecord, AuditEntry)>,
        writes: Vec<MetaWrite>,
    ) -> Result<(), NodeError> {
        let mut seen = BTreeSet::new();
        let mut pairs = Vec::with_capacity(events.len());
        for (record, entry) in events {
            // Audit only what this node does not hold yet; a duplicate is
            // nothing new.
            if !seen.insert(record.event.id.clone())
                || self.store.event_by_id(&record.event.id)?.is_some()
            {
                continue;
            }
            pairs.push((record, entry));
        }
        if pairs.is_empty() {
            if !writes.is_empty() {
                let receiver = self.store.meta_commit(writes, Vec::new())?;
                receiver
                    .await
                    .map_err(|_| NodeError::internal("the store stopped"))??;
            }
            return Ok(());
        }
        let new_events: Vec<NewEvent> = pairs
            .iter()
            .map(|(record, _)| NewEvent {
                id: record.event.id.clone(),
                person: record.event.person.clone(),
                recorded_at: record.event.recorded_at,
                payload: serde_json::to_vec(record).expect("events serialise"),
            })
            .collect();
        let audit: Vec<AuditEntry> = pairs.iter().map(|(_, entry)| entry.clone()).collect();
        let gate = self.ingest_gate.read().await;
        let receiver = self
            .store
            .submit_with_audit_and_meta(new_events, audit, writes.clone())?;
        let outcomes = match receiver.await {
            Ok(Ok(outcomes)) => outcomes,
            Ok(Err(ymt_store::StoreError::Conflict { conflicts })) => {
                // The same id stored here with other content: the same
                // event submitted to two nodes, each stamping its own
                // recording instant. The one stored here first stays (see
                // the fault table in ARCHITECTURE.md); the rest is applied.
                drop(gate);
                self.metrics
                    .replication_conflicts
                    .fetch_add(conflicts.len() as u64, Ordering::Relaxed);
                let conflicting: BTreeSet<usize> =
                    conflicts.iter().map(|conflict| conflict.index).collect();
                let rest: Vec<(EventRecord, AuditEntry)> = pairs
                    .into_iter()
                    .enumerate()
                    .filter(|(index, _)| !conflicting.contains(index))
                    .map(|(_, pair)| pair)
                    .collect();
                return Box::pin(self.store_replicated_events(rest, writes)).await;
            }
            Ok(Err(error)) => return Err(error.into()),
            Err(_) => return Err(NodeError::internal("the store stopped")),
        };
        let records: Vec<EventRecord> = pairs.into_iter().map(|(record, _)| record).collect();
        self.note_retractions(
            records
                .iter()
                .zip(&outcomes)
                .filter(|(_, outcome)| !outcome.duplicate)
                .map(|(record, _)| record),
        );
        self.timeline_cache
            .note_stored(self.store.as_ref(), &records, &outcomes);
        for module in &self.modules {
            module.after_store(self, &records, &outcomes)?;
        }
        let persons: Vec<PersonId> = records
            .iter()
            .zip(&outcomes)
            .filter(|(_, outcome)| !outcome.duplicate)
            .map(|(record, _)| record.event.person.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let stored = persons.len() as u64;
        self.metrics
            .records_applied
            .fetch_add(records.len() as u64, Ordering::Relaxed);
        let state = self.clone();
        tokio::task::spawn_blocking(move || state.reevaluate_many(&persons))
            .await
            .map_err(|_| NodeError::internal("re-evaluation panicked"))??;
        drop(gate);
        self.schedule_changed.notify_one();
        self.events_since_snapshot
            .fetch_add(stored, Ordering::Relaxed);
        for module in &self.modules {
            module.after_ingest(self, &records, &outcomes).await?;
        }
        Ok(())
    }
}
