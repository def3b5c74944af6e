//! The node's background tasks: the scheduler of timed transitions (with the
//! retention purge) and the read-audit writer, how they start, and how a
//! clean shutdown stops them.
//!
//! Each task holds the node (an `Arc`), and the read-audit writer waits on a
//! channel whose sender the node itself owns, so without a stop signal the
//! tasks would keep the node, and with it the store, open for as long as the
//! runtime lives. The tasks observe the stop signal of the node's
//! [`crate::task_group::TaskGroup`]; once they have ended, nothing but the
//! caller holds the node, and dropping it closes the store.

use std::sync::Arc;

use crate::error::NodeError;
use crate::state::Node;

impl Node {
    /// Starts what a running node runs besides serving requests: the
    /// scheduler of timed transitions (with the retention purge) and the
    /// read-audit writer. The binary, the benchmarks and the tests all start
    /// a node's background work through this one call.
    pub fn spawn_background_tasks(self: &Arc<Self>) {
        self.spawn_scheduler();
        self.spawn_read_audit_writer();
    }

    /// Stops the background tasks and waits until they have ended (the
    /// read-audit writer first writes what is queued). Afterwards no task
    /// holds the node, so dropping the last handle closes the store.
    pub async fn stop_background_tasks(&self) {
        self.background.stop_and_wait().await;
    }

    /// A clean shutdown, after the server has stopped taking requests: stops
    /// the background tasks, then writes the shutdown snapshot so the next
    /// start replays little of the log.
    pub async fn shutdown(self: &Arc<Self>) -> Result<u64, NodeError> {
        self.stop_background_tasks().await;
        self.write_snapshot().await
    }
}
