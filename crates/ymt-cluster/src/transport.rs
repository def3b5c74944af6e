//! Publishing a node's records to JetStream and waiting for the quorum.

use std::time::Duration;

use async_nats::jetstream;
use ymt_core::PersonId;
use ymt_node::NodeError;
use ymt_node::origins::parts_of;
use ymt_node::record::{Record, RecordEnvelope};
use ymt_node::replication::{ReplicationFuture, Replicator};

/// The subject of a person's records: `ymt.rec.c.p<shard>`, the shard the
/// first four bytes of the SHA-256 of the pid modulo [`crate::PERSON_SHARDS`].
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
    ymt_node::origins::person_shard(pid)
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

    /// The messages of one record: a batch of events split by person
    /// shard, one message per shard in shard order
    /// (`ymt_node::origins::parts_of`, the split its numbers follow).
    /// Message id `<record id>.<shard>`, and for a numbered part also its
    /// origin and number: the broker then drops the same numbered part
    /// published twice (the outbox after a crash), while a client's retry
    /// that the node numbered anew travels too (every node drops its
    /// events as duplicates by event id).
    fn messages_of(
        message_id: &str,
        envelope: &RecordEnvelope,
    ) -> Result<Vec<(String, String, Vec<u8>)>, NodeError> {
        if !matches!(envelope.record, Record::Events { .. }) {
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
        }
        Ok(parts_of(envelope)
            .into_iter()
            .map(|(shard, part)| {
                let id = match &part.origin {
                    Some(stamp) => format!("{message_id}.{shard}.{}.{}", stamp.origin, stamp.seq),
                    None => format!("{message_id}.{shard}"),
                };
                (
                    format!("ymt.rec.c.p{shard:02}"),
                    id,
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
                for (subject, id, payload) in &messages {
                    let publish = jetstream::message::PublishMessage::build()
                        .message_id(id)
                        .payload(payload.clone().into());
                    acks.push(self.context.send_publish(subject.clone(), publish).await?);
                }
                for (ack, (subject, id, payload)) in acks.into_iter().zip(&messages) {
                    let mut outcome = ack.await;
                    // The same message in flight twice (the outbox task and
                    // the request that wrote it, or a client's retry on
                    // another connection): JetStream refuses the second
                    // while the first is being stored. Publishing it again
                    // once the first is stored is acknowledged as a
                    // duplicate, which is what the writer waits for;
                    // bounded by the acknowledgement timeout around this.
                    while outcome.as_ref().is_err_and(is_duplicate_in_flight) {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        let publish = jetstream::message::PublishMessage::build()
                            .message_id(id)
                            .payload(payload.clone().into());
                        outcome = self
                            .context
                            .send_publish(subject.clone(), publish)
                            .await?
                            .await;
                    }
                    outcome?;
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

/// JetStream's "duplicate message id is in process" (10158): the same
/// message id is being stored by another publish right now.
fn is_duplicate_in_flight(error: &jetstream::context::PublishError) -> bool {
    std::error::Error::source(error)
        .and_then(|source| source.downcast_ref::<jetstream::Error>())
        .is_some_and(|source| {
            source.error_code() == jetstream::ErrorCode::STREAM_DUPLICATE_MESSAGE_CONFLICT
        })
}
