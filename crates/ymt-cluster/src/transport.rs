//! Publishing a node's records to JetStream and waiting for the quorum.

use std::collections::BTreeMap;
use std::time::Duration;

use async_nats::jetstream;
use sha2::{Digest, Sha256};
use ymt_core::PersonId;
use ymt_node::NodeError;
use ymt_node::record::{Record, RecordEnvelope};
use ymt_node::replication::{ReplicationFuture, Replicator};

use crate::PERSON_SHARDS;

/// The subject of a person's records: `ymt.rec.c.p<shard>`, the shard the
/// first four bytes of the SHA-256 of the pid modulo [`PERSON_SHARDS`].
pub fn subject_of_person(pid: &PersonId) -> String {
    format!("ymt.rec.c.p{:02}", shard_of(pid))
}

/// The subject of an ordered command: `ymt.rec.o.<province>` (the first
/// two digits of its region) or `ymt.rec.o.nation`.
pub fn subject_of_command(record: &Record) -> String {
    format!(
        "ymt.rec.o.{}",
        ymt_node::replication_commands::command_scope(record)
    )
}

fn shard_of(pid: &PersonId) -> u32 {
    let digest = Sha256::digest(pid.as_str().as_bytes());
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]) % PERSON_SHARDS
}

/// The replicator of a node in a JetStream cluster.
pub struct JetStreamReplicator {
    context: jetstream::Context,
    ack_timeout: Duration,
}

impl JetStreamReplicator {
    pub fn new(context: jetstream::Context, ack_timeout: Duration) -> JetStreamReplicator {
        JetStreamReplicator {
            context,
            ack_timeout,
        }
    }

    /// The messages of one record: a batch of events is split by person
    /// shard (one message per shard, message id `<record id>.<shard>`).
    fn messages_of(
        message_id: &str,
        envelope: &RecordEnvelope,
    ) -> Result<Vec<(String, String, Vec<u8>)>, NodeError> {
        let Record::Events { events } = &envelope.record else {
            // An ordered command: one message on its province's (or the
            // nation's) subject, its command id as message id.
            if !ymt_node::replication_commands::goes_through_stream(&envelope.record) {
                return Err(NodeError::internal(format!(
                    "records of kind {} are not replicated yet",
                    envelope.record.kind()
                )));
            }
            return Ok(vec![(
                subject_of_command(&envelope.record),
                message_id.to_owned(),
                serde_json::to_vec(envelope).expect("records serialise"),
            )]);
        };
        let mut by_shard: BTreeMap<u32, Vec<_>> = BTreeMap::new();
        for record in events {
            by_shard
                .entry(shard_of(&record.event.person))
                .or_default()
                .push(record.clone());
        }
        Ok(by_shard
            .into_iter()
            .map(|(shard, events)| {
                let part = RecordEnvelope {
                    record: Record::Events { events },
                    ..envelope.clone()
                };
                (
                    format!("ymt.rec.c.p{shard:02}"),
                    format!("{message_id}.{shard}"),
                    serde_json::to_vec(&part).expect("records serialise"),
                )
            })
            .collect())
    }
}

impl Replicator for JetStreamReplicator {
    fn ack_timeout(&self) -> Duration {
        self.ack_timeout
    }

    fn publish<'a>(
        &'a self,
        message_id: &'a str,
        envelope: &'a RecordEnvelope,
    ) -> ReplicationFuture<'a> {
        Box::pin(async move {
            let messages = Self::messages_of(message_id, envelope)?;
            let publish_all = async {
                let mut acks = Vec::with_capacity(messages.len());
                for (subject, id, payload) in messages {
                    let publish = jetstream::message::PublishMessage::build()
                        .message_id(id)
                        .payload(payload.into());
                    acks.push(self.context.send_publish(subject, publish).await?);
                }
                for ack in acks {
                    ack.await?;
                }
                Ok::<(), async_nats::Error>(())
            };
            match tokio::time::timeout(self.ack_timeout, publish_all).await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(error)) => Err(NodeError::unavailable(format!(
                    "the record is stored on this node but not replicated yet \
                     (the broker refused it: {error}); it will be published when \
                     the broker is back, retry to learn when"
                ))),
                Err(_) => Err(NodeError::unavailable(format!(
                    "the record is stored on this node but the broker's quorum did not \
                     acknowledge it within {} ms; it will be published when the broker \
                     is back, retry to learn when",
                    self.ack_timeout.as_millis()
                ))),
            }
        })
    }
}
