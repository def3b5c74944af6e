//! Every node applies every record of the stream, in stream order, from the
//! position it stored with the last records it applied.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream;
use futures_util::StreamExt;
use ymt_node::Node;
use ymt_node::record::RecordEnvelope;
use ymt_node::replication::position_write;

use crate::STREAM_NAME;

/// At most this many messages are applied in one store commit.
const MESSAGES_PER_COMMIT_MAX: usize = 256;

/// Applies the stream until the node stops; after any failure (the broker
/// away, a consumer lost) it starts again from the stored position, so
/// nothing is skipped and nothing is applied twice in effect.
pub(crate) async fn run(node: Arc<Node>, context: jetstream::Context) {
    loop {
        if let Err(error) = apply_from_position(&node, &context).await {
            tracing::info!("applying the stream stopped, resuming: {error:#}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// How long the loop waits for the next messages while the stream holds
/// records this node has not applied before it suspects its consumer: an
/// ordered consumer on a server that was SIGKILLed can stay silent (the
/// client notices only after two missed 15 s heartbeats, and its own
/// recreation can stall), so the loop watches progress itself.
const IDLE_WHILE_BEHIND_MAX: Duration = Duration::from_secs(2);

async fn apply_from_position(node: &Arc<Node>, context: &jetstream::Context) -> anyhow::Result<()> {
    let mut position = node
        .replication_position(STREAM_NAME)
        .map_err(|error| anyhow::anyhow!(error.detail))?;
    let mut stream = context.get_stream(STREAM_NAME).await?;
    // Read before the consumer is made: if the consumer then finds nothing
    // pending after `position`, every sequence up to this one is gone from
    // the stream (expired past `max_age`, or deleted), and waiting for it
    // would wait forever; anti-entropy fetches those records from peers.
    let last_sequence = stream.info().await?.state.last_sequence;
    let consumer = stream
        .create_consumer(jetstream::consumer::pull::OrderedConfig {
            deliver_policy: jetstream::consumer::DeliverPolicy::ByStartSequence {
                start_sequence: position + 1,
            },
            ..Default::default()
        })
        .await?;
    if consumer.cached_info().num_pending == 0 && last_sequence > position {
        tracing::info!(
            position,
            last_sequence,
            "the stream no longer holds the records after this node's position (anti-entropy fetches them)"
        );
        node.apply_replicated(Vec::new(), position_write(STREAM_NAME, last_sequence))
            .await
            .map_err(|error| anyhow::anyhow!(error.detail))?;
        position = last_sequence;
    }
    let mut messages = consumer
        .messages()
        .await?
        .ready_chunks(MESSAGES_PER_COMMIT_MAX);
    let mut applied_until = position;
    loop {
        let chunk = match tokio::time::timeout(IDLE_WHILE_BEHIND_MAX, messages.next()).await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => return Ok(()),
            Err(_) => {
                // Silent: fine if there is nothing to apply, a stalled
                // consumer if the stream holds more; then a new consumer
                // from the stored position.
                let last_sequence = stream.info().await?.state.last_sequence;
                if last_sequence > applied_until {
                    anyhow::bail!(
                        "the consumer delivered nothing for {} ms while the stream holds sequences {}..={last_sequence}",
                        IDLE_WHILE_BEHIND_MAX.as_millis(),
                        applied_until + 1
                    );
                }
                continue;
            }
        };
        let mut envelopes = Vec::with_capacity(chunk.len());
        let mut last = applied_until;
        let mut failure = None;
        for message in chunk {
            let message = match message {
                Ok(message) => message,
                Err(error) => {
                    failure = Some(anyhow::anyhow!(error));
                    break;
                }
            };
            let sequence = message
                .info()
                .map_err(|error| anyhow::anyhow!("{error}"))?
                .stream_sequence;
            if sequence <= applied_until {
                continue;
            }
            match serde_json::from_slice::<RecordEnvelope>(&message.payload) {
                Ok(envelope) => envelopes.push(envelope),
                // A record this node cannot read (a newer format): skipped
                // with a warning rather than stopping every later record.
                Err(error) => tracing::warn!(sequence, "an unreadable record: {error}"),
            }
            last = sequence;
        }
        if last > applied_until {
            node.apply_replicated(envelopes, position_write(STREAM_NAME, last))
                .await
                .map_err(|error| anyhow::anyhow!(error.detail))?;
            applied_until = last;
        }
        if let Some(error) = failure {
            return Err(error);
        }
    }
}

/// How often the stream's last sequence is read to measure the lag.
const LAG_SAMPLE_INTERVAL: Duration = Duration::from_millis(100);

/// Keeps `node.replication.lag_ms` current: the time since the oldest
/// stream sequence this node has seen in the stream and not applied yet was
/// first seen. While the stream cannot be read, the lag grows from the last
/// successful read (the node cannot know what it misses).
pub(crate) async fn measure_lag(node: Arc<Node>, context: jetstream::Context) {
    use std::sync::atomic::Ordering;
    let mut seen: std::collections::VecDeque<(u64, tokio::time::Instant)> = Default::default();
    let mut last_read = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(LAG_SAMPLE_INTERVAL).await;
        let now = tokio::time::Instant::now();
        let last_sequence = match context.get_stream(STREAM_NAME).await {
            Ok(stream) => Some(stream.cached_info().state.last_sequence),
            Err(_) => None,
        };
        if let Some(last_sequence) = last_sequence {
            last_read = now;
            if seen
                .back()
                .is_none_or(|(sequence, _)| *sequence < last_sequence)
            {
                seen.push_back((last_sequence, now));
            }
        }
        let position = node.replication.position.load(Ordering::Acquire);
        while seen
            .front()
            .is_some_and(|(sequence, _)| *sequence <= position)
        {
            seen.pop_front();
        }
        let waiting = seen
            .front()
            .map_or(Duration::ZERO, |(_, since)| now - *since);
        let unread = now - last_read;
        let lag = waiting.max(unread.saturating_sub(LAG_SAMPLE_INTERVAL * 5));
        node.replication
            .lag_ms
            .store(lag.as_millis() as u64, Ordering::Release);
    }
}
