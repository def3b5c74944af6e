//! The seam between the node and a transport of its records (data layer:
//! the types only; the outbox and the apply path are in `replication.rs`).

use std::future::Future;
use std::pin::Pin;

use crate::error::NodeError;
use crate::record::RecordEnvelope;

/// What readers, probes and metrics see of replication (cluster only;
/// zero on a single node). The transport keeps it current.
#[derive(Debug, Default)]
pub struct ReplicationStatus {
    /// The stream sequence this node has applied up to: the log position
    /// its answers reflect.
    pub position: std::sync::atomic::AtomicU64,
    /// How long the oldest record known to be in the stream and not yet
    /// applied here has been waiting, in milliseconds (0 when caught up).
    pub lag_ms: std::sync::atomic::AtomicU64,
    /// Records waiting in the outbox.
    pub outbox_depth: std::sync::atomic::AtomicU64,
    /// What this node holds of each origin's numbered records
    /// (anti-entropy, `origins.rs`).
    pub origins: crate::origins::OriginTracker,
    /// The hash chain of the ordered commands applied here, and what the
    /// peers' chains said of it (`command_chain.rs`).
    pub commands: crate::command_chain::CommandChain,
}

/// A future the transport resolves.
pub type ReplicationFuture<'a> = Pin<Box<dyn Future<Output = Result<(), NodeError>> + Send + 'a>>;

/// A transport of records between nodes (NATS JetStream in `ymt-cluster`).
pub trait Replicator: Send + Sync {
    /// Publishes one record and resolves once the transport holds it
    /// durably (a quorum acknowledged it), or fails with
    /// [`crate::ErrorKind::Unavailable`] when it did not within its bound.
    /// `message_id` is the same for every retry of the same record, so the
    /// transport can drop duplicates.
    fn publish<'a>(
        &'a self,
        message_id: &'a str,
        envelope: &'a RecordEnvelope,
    ) -> ReplicationFuture<'a>;

    /// How long a publication waits for the quorum; an ordered command's
    /// client also waits at least this long for its node to apply it.
    fn ack_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(5)
    }
}

/// Clients waiting for their ordered command to come back from the stream
/// and be applied on their node (`replication_commands.rs`), by command id.
#[derive(Default)]
pub struct CommandWaiters {
    pub(crate) waiting: parking_lot::Mutex<
        std::collections::HashMap<String, tokio::sync::oneshot::Sender<Result<(), NodeError>>>,
    >,
}
