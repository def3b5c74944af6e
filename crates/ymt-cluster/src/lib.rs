//! A cluster of yimatong nodes on NATS JetStream (issue 11): the transport of
//! a node's records to the others (`transport.rs`, a
//! [`ymt_node::replication::Replicator`]), the loop that applies every
//! record of the stream on every node in stream order (`apply_loop.rs`), and
//! a local JetStream cluster of `nats-server` processes for tests and
//! `yimatong cluster up` (`local.rs`).
//!
//! The node itself knows nothing of NATS: it keeps its records in an outbox
//! in the same commit as the records, hands them to the replicator, and
//! applies what comes back through `Node::apply_replicated`
//! (`crates/ymt-node/src/replication.rs`). A node started without a NATS
//! address (the README's single node) never reaches this crate.

mod apply_loop;
pub mod bench;
pub mod local;
mod peers;
mod transport;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use async_nats::jetstream;
use ymt_node::Node;

pub use transport::{JetStreamReplicator, subject_of_person};

/// The one stream every record travels in (docs/log.md, "Subjects").
pub const STREAM_NAME: &str = "YMT_RECORDS";
/// The subjects of the stream: `ymt.rec.c.p<shard>` for commutative person
/// records (events), by person shard; `ymt.rec.o.<province>` and
/// `ymt.rec.o.nation` for the ordered commands (`transport::subject_of_command`).
pub const STREAM_SUBJECTS: &str = "ymt.rec.>";
/// Person shards of the subjects: a later step can give a node a subset.
pub const PERSON_SHARDS: u32 = ymt_node::origins::PERSON_SHARDS;

/// How a node joins the cluster.
#[derive(Clone, Debug)]
pub struct ClusterConfig {
    /// The NATS servers' client URLs, comma-separated.
    pub nats_urls: String,
    /// Replicas of the stream (3 in a cluster of three servers).
    pub stream_replicas: usize,
    /// How long the stream keeps records; a node away longer catches up
    /// from its peers (anti-entropy).
    pub stream_max_age: Duration,
    /// How long a write waits for the quorum's acknowledgement before the
    /// client is answered 503 (the record stays in the outbox).
    pub publish_ack_timeout: Duration,
}

impl ClusterConfig {
    pub fn new(nats_urls: impl Into<String>) -> ClusterConfig {
        ClusterConfig {
            nats_urls: nats_urls.into(),
            stream_replicas: 3,
            stream_max_age: Duration::from_secs(7 * 24 * 3600),
            publish_ack_timeout: Duration::from_secs(5),
        }
    }
}

/// The stream's configuration: file storage, `replicas` copies, the record
/// id as message id for deduplication within the window.
pub fn stream_config(replicas: usize, max_age: Duration) -> jetstream::stream::Config {
    jetstream::stream::Config {
        name: STREAM_NAME.into(),
        subjects: vec![STREAM_SUBJECTS.into()],
        storage: jetstream::stream::StorageType::File,
        num_replicas: replicas,
        max_age,
        // JetStream refuses a window longer than the retention (a test's
        // short retention).
        duplicate_window: Duration::from_secs(120).min(max_age),
        ..Default::default()
    }
}

/// Connects `node` to the cluster: makes sure the stream exists, makes the
/// node publish its records through it, and starts the loops that apply
/// the stream and publish the outbox. Returns once the stream is reachable,
/// with the cluster's directory of peers (for anti-entropy, once the node
/// serves: [`Cluster::advertise`]).
pub async fn join(node: Arc<Node>, config: ClusterConfig) -> anyhow::Result<Cluster> {
    let servers: Vec<async_nats::ServerAddr> = config
        .nats_urls
        .split(',')
        .map(|url| url.trim().parse())
        .collect::<Result<_, _>>()
        .with_context(|| format!("the NATS server URLs {}", config.nats_urls))?;
    let client = async_nats::ConnectOptions::new()
        .retry_on_initial_connect()
        .max_reconnects(None)
        .connection_timeout(Duration::from_secs(2))
        .connect(servers)
        .await
        .with_context(|| format!("connecting to NATS at {}", config.nats_urls))?;
    let context = jetstream::new(client);
    let stream_config = stream_config(config.stream_replicas, config.stream_max_age);
    // The meta leader may not be elected yet when the servers have just
    // started: retry, bounded.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        match context.get_or_create_stream(stream_config.clone()).await {
            Ok(_) => break,
            Err(error) if tokio::time::Instant::now() < deadline => {
                tracing::info!("waiting for the JetStream stream: {error}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(error) => return Err(error).context("creating the JetStream stream"),
        }
    }
    let replicator = Arc::new(JetStreamReplicator::new(
        context.clone(),
        config.publish_ack_timeout,
    ));
    node.set_replicator(replicator)
        .map_err(|error| anyhow::anyhow!(error.detail))?;
    // Anti-entropy: this process numbers its records under a new origin id;
    // what the node holds of every origin is read back from its store.
    let origin = node
        .start_origin()
        .map_err(|error| anyhow::anyhow!(error.detail))?;
    let held = node
        .load_origin_records()
        .map_err(|error| anyhow::anyhow!(error.detail))?;
    // The chain of ordered commands applied here, compared with the peers'.
    let commands = node
        .load_command_chain()
        .map_err(|error| anyhow::anyhow!(error.detail))?;
    tracing::info!(
        origin,
        held,
        commands = commands.count,
        "joined the cluster"
    );
    node.replication.position.store(
        node.replication_position(STREAM_NAME)
            .map_err(|error| anyhow::anyhow!(error.detail))?,
        std::sync::atomic::Ordering::Release,
    );
    tokio::spawn(apply_loop::run(node.clone(), context.clone()));
    tokio::spawn(apply_loop::measure_lag(node.clone(), context.clone()));
    // A node signing with a key of its own (its signing key was revoked)
    // announces the public key, at start too (a crash in between).
    tokio::spawn(ymt_node::key_revocation::announce_signing_keys(
        node.clone(),
    ));
    tokio::spawn(publish_outbox_forever(node));
    Ok(Cluster {
        context,
        origin,
        replicas: config.stream_replicas,
    })
}

/// A node's membership of the cluster, after [`join`].
pub struct Cluster {
    context: jetstream::Context,
    origin: String,
    replicas: usize,
}

impl Cluster {
    /// This process's origin id.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Makes this node known to its peers at `base_url` (where its HTTP API
    /// answers), renewed until the process ends, and returns the directory
    /// of the peers' addresses, kept current (`peers.rs`).
    pub fn advertise(&self, base_url: String) -> peers::PeerDirectory {
        peers::advertise(
            self.context.clone(),
            self.replicas,
            self.origin.clone(),
            base_url,
        )
    }
}

pub use peers::PeerDirectory;

/// Publishes what waits in the outbox (records whose clients were answered
/// 503 while the broker was away, or made just before a crash) whenever
/// there is any, until the node stops.
async fn publish_outbox_forever(node: Arc<Node>) {
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let depth = node.outbox_depth();
        node.replication
            .outbox_depth
            .store(depth as u64, std::sync::atomic::Ordering::Relaxed);
        if depth == 0 {
            continue;
        }
        match node.publish_outbox().await {
            Ok(published) if published > 0 => {
                tracing::info!(published, "published records from the outbox");
            }
            Ok(_) => {}
            Err(error) => tracing::debug!("the outbox waits: {}", error.detail),
        }
    }
}
