//! The transport's ceiling for `yimatong bench cluster`: the raw JetStream
//! publish rate with the same stream settings as the records' stream (file
//! storage, the same replicas, a duplicate window, a message id on every
//! message), measured by the same process in the same run as the nodes.

use std::time::{Duration, Instant};

use anyhow::Context;
use async_nats::jetstream;

/// The benchmark's own stream, beside the records' stream and never read
/// by a node.
const RAW_STREAM_NAME: &str = "YMT_BENCH_RAW";
const RAW_SUBJECT: &str = "ymtbench.raw";

/// What [`raw_publish_rate`] measured.
#[derive(Clone, Debug, serde::Serialize)]
pub struct RawPublishFigures {
    pub messages: usize,
    pub message_bytes: usize,
    pub in_flight: usize,
    pub elapsed_secs: f64,
    pub messages_per_sec: f64,
}

/// Publishes `messages` messages of `message_bytes` each with at most
/// `in_flight` unacknowledged, and waits for the quorum's acknowledgement of
/// every one, into a stream made like the records' stream (then deleted).
pub async fn raw_publish_rate(
    nats_urls: &str,
    replicas: usize,
    message_bytes: usize,
    messages: usize,
    in_flight: usize,
) -> anyhow::Result<RawPublishFigures> {
    anyhow::ensure!(in_flight >= 1, "in_flight must be at least 1");
    let servers: Vec<async_nats::ServerAddr> = nats_urls
        .split(',')
        .map(|url| url.trim().parse())
        .collect::<Result<_, _>>()
        .with_context(|| format!("the NATS server URLs {nats_urls}"))?;
    let client = async_nats::ConnectOptions::new()
        .connection_timeout(Duration::from_secs(2))
        .connect(servers)
        .await
        .context("connecting to NATS")?;
    let context = jetstream::new(client);
    let config = jetstream::stream::Config {
        name: RAW_STREAM_NAME.into(),
        subjects: vec![RAW_SUBJECT.into()],
        ..crate::stream_config(replicas, Duration::from_secs(3600))
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match context.get_or_create_stream(config.clone()).await {
            Ok(_) => break,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await
            }
            Err(error) => return Err(error).context("creating the benchmark's stream"),
        }
    }
    let payload = bytes_of_length(message_bytes);
    let started = Instant::now();
    let mut pending: std::collections::VecDeque<jetstream::context::PublishAckFuture> =
        std::collections::VecDeque::with_capacity(in_flight);
    for index in 0..messages {
        if pending.len() == in_flight {
            let ack = pending.pop_front().expect("a pending acknowledgement");
            ack.await.context("an acknowledgement")?;
        }
        let publish = jetstream::message::PublishMessage::build()
            .message_id(format!("raw-{index}"))
            .payload(payload.clone().into());
        pending.push_back(
            context
                .send_publish(RAW_SUBJECT, publish)
                .await
                .context("publishing")?,
        );
    }
    for ack in pending {
        ack.await.context("an acknowledgement")?;
    }
    let elapsed_secs = started.elapsed().as_secs_f64();
    let _ = context.delete_stream(RAW_STREAM_NAME).await;
    Ok(RawPublishFigures {
        messages,
        message_bytes,
        in_flight,
        elapsed_secs,
        messages_per_sec: messages as f64 / elapsed_secs.max(1e-9),
    })
}

/// JSON-like filler of the records' size: the content does not matter to
/// the broker, only its length.
fn bytes_of_length(length: usize) -> Vec<u8> {
    let mut payload = Vec::with_capacity(length);
    payload.extend((0..length).map(|index| b"{\"events\":[0123456789abcdef]}"[index % 28]));
    payload
}
