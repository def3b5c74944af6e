//! Anti-entropy on the node (issue 11 item 6): numbering the records this
//! node originates, keeping every numbered record it holds (its own and its
//! peers') so that any peer can fetch a gap from it, serving those records,
//! and applying records fetched from a peer through the same idempotent
//! apply path as the stream's. The bookkeeping is `origins.rs`; the
//! transport of the fetches is the node-to-node HTTP API (ymt-http,
//! `handlers/replication.rs` and `anti_entropy.rs`).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use ymt_store::MetaWrite;

use crate::error::NodeError;
use crate::origins::{
    ORIGIN_RECORDS_BYTES_PER_FETCH_MAX, ORIGIN_RECORDS_NAMESPACE, ORIGIN_RECORDS_PER_FETCH_MAX,
    OriginSummary, origin_record_key, parse_origin_record_key, parts_of,
};
use crate::record::{OriginStamp, RecordEnvelope};
use crate::state::Node;

/// The writes keeping numbered parts: one per part not held yet.
pub(crate) fn origin_record_writes(node: &Node, parts: &[RecordEnvelope]) -> Vec<MetaWrite> {
    parts
        .iter()
        .filter_map(|part| {
            let stamp = part.origin.as_ref()?;
            if node.replication.origins.holds(&stamp.origin, stamp.seq) {
                return None;
            }
            Some(MetaWrite::put(
                ORIGIN_RECORDS_NAMESPACE,
                &origin_record_key(&stamp.origin, stamp.seq),
                serde_json::to_vec(part).expect("records serialise"),
            ))
        })
        .collect()
}

/// Notes the numbered parts as held, once their writes are durable.
pub(crate) fn hold_parts(node: &Node, parts: &[RecordEnvelope]) {
    for stamp in parts.iter().filter_map(|part| part.origin.as_ref()) {
        node.replication.origins.hold(&stamp.origin, stamp.seq);
    }
}

impl Node {
    /// Draws this process's origin id (a node joining a cluster): random,
    /// so that a copied or restored data directory never numbers under a
    /// peer's id. Returns it.
    pub fn start_origin(&self) -> Result<String, NodeError> {
        if let Some(origin) = self.replication.origins.origin() {
            return Ok(origin.to_owned());
        }
        let mut bytes = [0u8; 8];
        getrandom::fill(&mut bytes)
            .map_err(|error| NodeError::internal(format!("randomness: {error}")))?;
        self.replication
            .origins
            .set_origin(format!("o{}", hex::encode(bytes)));
        Ok(self
            .replication
            .origins
            .origin()
            .expect("just set")
            .to_owned())
    }

    /// Rebuilds what this node holds of each origin from its store (at
    /// join). Returns how many numbered records it holds.
    pub fn load_origin_records(&self) -> Result<usize, NodeError> {
        let mut count = 0;
        self.store
            .meta_for_each(ORIGIN_RECORDS_NAMESPACE, &mut |key, _| {
                if let Some((origin, seq)) = parse_origin_record_key(key) {
                    self.replication.origins.hold(origin, seq);
                    count += 1;
                }
            })?;
        Ok(count)
    }

    /// Stamps a record this node originates with the next number after
    /// `last_given` and returns the writes keeping its parts and how many
    /// numbers it takes (0 when this node has no origin: not in a cluster).
    pub(crate) fn stamp_origin(
        &self,
        envelope: &mut RecordEnvelope,
        last_given: u64,
    ) -> (Vec<MetaWrite>, Vec<RecordEnvelope>) {
        let Some(origin) = self.replication.origins.origin() else {
            return (Vec::new(), Vec::new());
        };
        envelope.origin = Some(OriginStamp {
            origin: origin.to_owned(),
            seq: last_given + 1,
        });
        let parts: Vec<RecordEnvelope> = parts_of(envelope)
            .into_iter()
            .map(|(_, part)| part)
            .collect();
        (origin_record_writes(self, &parts), parts)
    }

    /// What this node holds of every origin, as it advertises it to peers.
    pub fn origin_summaries(&self) -> Vec<OriginSummary> {
        self.replication.origins.summaries()
    }

    /// The numbered records of `origin` this node holds after `after`, in
    /// order, at most `limit` (capped at 256 records and 8 MiB): what a
    /// peer missing them fetches.
    pub fn origin_records_after(
        &self,
        origin: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<RecordEnvelope>, NodeError> {
        let limit = limit.clamp(1, ORIGIN_RECORDS_PER_FETCH_MAX);
        let mut records = Vec::new();
        let mut bytes_total = 0;
        for seq in self.replication.origins.held_after(origin, after, limit) {
            let Some(bytes) = self
                .store
                .meta_get(ORIGIN_RECORDS_NAMESPACE, &origin_record_key(origin, seq))?
            else {
                break;
            };
            bytes_total += bytes.len();
            if bytes_total > ORIGIN_RECORDS_BYTES_PER_FETCH_MAX && !records.is_empty() {
                break;
            }
            let record: RecordEnvelope = serde_json::from_slice(&bytes).map_err(|error| {
                NodeError::internal(format!("origin record {origin}/{seq}: {error}"))
            })?;
            records.push(record);
        }
        Ok(records)
    }

    /// Checks a peer's node credential (constant time).
    pub fn is_node_credential(&self, presented: &str) -> bool {
        let expected = self.pseudonymizer.node_credential();
        let (expected, presented) = (expected.as_bytes(), presented.as_bytes());
        expected.len() == presented.len()
            && expected
                .iter()
                .zip(presented)
                .fold(0u8, |difference, (a, b)| difference | (a ^ b))
                == 0
    }

    /// This node's credential toward its peers.
    pub fn node_credential(&self) -> String {
        self.pseudonymizer.node_credential()
    }

    /// Applies numbered records fetched from a peer, through the apply path
    /// of the stream's (idempotent; no stream position moves). Returns how
    /// many this node did not hold (counted as gaps repaired).
    pub async fn apply_fetched(
        self: &Arc<Self>,
        records: Vec<RecordEnvelope>,
    ) -> Result<usize, NodeError> {
        let missing: Vec<RecordEnvelope> = records
            .into_iter()
            .filter(|record| {
                record
                    .origin
                    .as_ref()
                    .is_some_and(|stamp| !self.replication.origins.holds(&stamp.origin, stamp.seq))
            })
            .collect();
        let count = missing.len();
        if count == 0 {
            return Ok(0);
        }
        self.apply_envelopes(missing, None).await?;
        self.replication
            .origins
            .gaps_repaired
            .fetch_add(count as u64, Ordering::Relaxed);
        Ok(count)
    }
}
