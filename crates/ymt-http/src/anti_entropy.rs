//! Anti-entropy's fetching side (issue 11 item 6): every interval, a node
//! asks each peer what it holds of every origin
//! (`GET /v1/replication/origins`), and fetches from it the numbered records
//! it misses (`GET /v1/replication/origins/{origin}/records`), which it
//! applies through the stream's idempotent apply path
//! (`Node::apply_fetched`). A record the broker lost, or expired before this
//! node read it, is so obtained from whichever peer holds it. The same
//! answer carries the peer's hash chain of ordered commands, compared with
//! this node's (`ymt_node::command_chain`): a node whose history differs
//! from most of its peers' is taken out of readiness. The peers'
//! addresses come from the cluster (`ymt_cluster::PeerDirectory`), handed
//! in as a function so that this crate needs no NATS.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use ymt_node::Node;
use ymt_node::command_chain::{ChainPoint, PeerVerdict};
use ymt_node::origins::{ORIGIN_RECORDS_PER_FETCH_MAX, OriginSummary};
use ymt_node::record::RecordEnvelope;

use crate::handlers::replication::NODE_CREDENTIAL_HEADER;

/// How often a node compares what it holds with its peers, by default.
pub const ANTI_ENTROPY_INTERVAL_DEFAULT: Duration = Duration::from_secs(1);
/// Fetches of one origin from one peer in one round at most (each of at
/// most 256 records): a node far behind catches up over several rounds
/// without starving the others.
const FETCHES_PER_ORIGIN_PER_ROUND_MAX: usize = 16;
/// A peer's answer is awaited at most this long.
const PEER_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Deserialize)]
struct OriginsHeld {
    origins: Vec<OriginSummary>,
    /// Absent from a peer that predates the chain: nothing to compare.
    #[serde(default)]
    commands: Option<ChainPoint>,
    #[serde(default)]
    commands_at: Option<ChainPoint>,
}

#[derive(Deserialize)]
struct OriginRecords {
    records: Vec<RecordEnvelope>,
}

/// Compares and repairs, every `interval`, until the process ends.
pub async fn run(
    node: Arc<Node>,
    peers: impl Fn() -> Vec<String> + Send + Sync + 'static,
    interval: Duration,
) {
    let client = match reqwest::Client::builder().timeout(PEER_TIMEOUT).build() {
        Ok(client) => client,
        Err(error) => {
            tracing::error!("anti-entropy cannot start its HTTP client: {error}");
            return;
        }
    };
    let credential = node.node_credential();
    let mut was_in_minority = false;
    loop {
        tokio::time::sleep(interval).await;
        let mut verdicts = std::collections::HashMap::new();
        for peer in peers() {
            match repair_from(&client, &credential, &node, &peer).await {
                Ok(verdict) => {
                    verdicts.insert(peer, verdict);
                }
                Err(error) => {
                    tracing::debug!(peer, "anti-entropy with this peer waits: {error:#}");
                }
            }
        }
        let in_minority = ymt_node::command_chain::in_minority(&verdicts);
        if in_minority && !was_in_minority {
            tracing::error!(
                ?verdicts,
                "this node's history of ordered commands differs from most of its peers': \
                 it is not ready; bootstrap it again from a peer (yimatong restore --from-peer)"
            );
        }
        was_in_minority = in_minority;
        node.replication.commands.set_verdicts(verdicts);
    }
}

async fn get_json<T: serde::de::DeserializeOwned>(
    client: &reqwest::Client,
    credential: &str,
    url: &str,
) -> anyhow::Result<T> {
    let response = client
        .get(url)
        .header(NODE_CREDENTIAL_HEADER, credential)
        .send()
        .await?
        .error_for_status()?;
    Ok(response.json().await?)
}

/// Fetches from `peer` what it holds and this node misses; what its chain
/// of ordered commands says of this node's.
async fn repair_from(
    client: &reqwest::Client,
    credential: &str,
    node: &Arc<Node>,
    peer: &str,
) -> anyhow::Result<PeerVerdict> {
    let my_head = node.replication.commands.head();
    let held: OriginsHeld = get_json(
        client,
        credential,
        &format!(
            "{peer}/v1/replication/origins?commands_at={}",
            my_head.count
        ),
    )
    .await?;
    let verdict = match &held.commands {
        Some(peer_head) => {
            node.compare_command_chain(peer_head, held.commands_at.as_ref(), &my_head)
        }
        None => PeerVerdict::Unknown,
    };
    let origins = &node.replication.origins;
    for summary in held.origins {
        origins.know(&summary.origin, summary.held_max);
        for _ in 0..FETCHES_PER_ORIGIN_PER_ROUND_MAX {
            let Some(first_missing) = origins.first_missing(&summary.origin, summary.held_max)
            else {
                break;
            };
            let url = format!(
                "{peer}/v1/replication/origins/{}/records?after={}&limit={ORIGIN_RECORDS_PER_FETCH_MAX}",
                summary.origin,
                first_missing - 1
            );
            let page: OriginRecords = get_json(client, credential, &url).await?;
            if page.records.is_empty() {
                break;
            }
            let repaired = node
                .apply_fetched(page.records)
                .await
                .map_err(|error| anyhow::anyhow!(error.detail))?;
            if repaired > 0 {
                tracing::info!(peer, origin = summary.origin, repaired, "gaps repaired");
            }
            if origins.first_missing(&summary.origin, summary.held_max) == Some(first_missing) {
                // The peer does not hold it either; another peer may.
                break;
            }
        }
    }
    Ok(verdict)
}
