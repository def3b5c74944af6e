//! Where the cluster's nodes answer, for anti-entropy: each node puts its
//! base URL in the JetStream key-value bucket `YMT_NODES` under its origin
//! id, renewed every few seconds; entries expire after half a minute, so
//! the directory forgets processes that ended. Nodes start on any port (the
//! tests' are chosen by the system), so no static list of peers is needed.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream;
use futures_util::StreamExt;

/// The bucket of the nodes' addresses.
pub const NODES_BUCKET: &str = "YMT_NODES";
/// How often a node renews its entry and re-reads the directory.
const RENEW_INTERVAL: Duration = Duration::from_secs(2);
/// How long an entry lives without renewal.
const ENTRY_MAX_AGE: Duration = Duration::from_secs(30);
/// Peers listed at most (a cluster of more nodes is another design).
const PEERS_MAX: usize = 256;

/// The peers' base URLs (this node's own left out), kept current.
#[derive(Clone, Default)]
pub struct PeerDirectory {
    urls: Arc<parking_lot::RwLock<Vec<String>>>,
}

impl PeerDirectory {
    /// The peers' base URLs as last read.
    pub fn urls(&self) -> Vec<String> {
        self.urls.read().clone()
    }
}

async fn bucket(
    context: &jetstream::Context,
    replicas: usize,
) -> anyhow::Result<jetstream::kv::Store> {
    if let Ok(store) = context.get_key_value(NODES_BUCKET).await {
        return Ok(store);
    }
    match context
        .create_key_value(jetstream::kv::Config {
            bucket: NODES_BUCKET.into(),
            history: 1,
            max_age: ENTRY_MAX_AGE,
            num_replicas: replicas,
            ..Default::default()
        })
        .await
    {
        Ok(store) => Ok(store),
        // Another node made it in between.
        Err(_) => Ok(context.get_key_value(NODES_BUCKET).await?),
    }
}

async fn renew_and_read(
    context: &jetstream::Context,
    replicas: usize,
    origin: &str,
    base_url: &str,
) -> anyhow::Result<Vec<String>> {
    let store = bucket(context, replicas).await?;
    store
        .put(origin, base_url.as_bytes().to_vec().into())
        .await?;
    let mut keys = store.keys().await?;
    let mut urls = Vec::new();
    while let Some(key) = keys.next().await {
        let key = key?;
        if key == origin || urls.len() >= PEERS_MAX {
            continue;
        }
        if let Some(value) = store.get(&key).await? {
            let url = String::from_utf8_lossy(&value).into_owned();
            if url != base_url && !urls.contains(&url) {
                urls.push(url);
            }
        }
    }
    Ok(urls)
}

/// Starts renewing this node's entry and reading the directory.
pub(crate) fn advertise(
    context: jetstream::Context,
    replicas: usize,
    origin: String,
    base_url: String,
) -> PeerDirectory {
    let directory = PeerDirectory::default();
    let urls = directory.urls.clone();
    tokio::spawn(async move {
        loop {
            match renew_and_read(&context, replicas, &origin, &base_url).await {
                Ok(peers) => *urls.write() = peers,
                Err(error) => tracing::debug!("the nodes' directory waits: {error:#}"),
            }
            tokio::time::sleep(RENEW_INTERVAL).await;
        }
    });
    directory
}
