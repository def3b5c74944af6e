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

async fn apply_from_position(node: &Arc<Node>, context: &jetstream::Context) -> anyhow::Result<()> {
    let position = node
        .replication_position(STREAM_NAME)
        .map_err(|error| anyhow::anyhow!(error.detail))?;
    let stream = context.get_stream(STREAM_NAME).await?;
    let consumer = stream
        .create_consumer(jetstream::consumer::pull::OrderedConfig {
            deliver_policy: jetstream::consumer::DeliverPolicy::ByStartSequence {
                start_sequence: position + 1,
            },
            ..Default::default()
        })
        .await?;
    let mut messages = consumer
        .messages()
        .await?
        .ready_chunks(MESSAGES_PER_COMMIT_MAX);
    let mut applied_until = position;
    while let Some(chunk) = messages.next().await {
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
    Ok(())
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
