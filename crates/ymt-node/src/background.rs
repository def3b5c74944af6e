//! The node's background tasks (the scheduler of timed transitions, the
//! retention purge and the read-audit writer) and the one signal that stops
//! them.
//!
//! Each task holds the node (an `Arc`), and the read-audit writer waits on a
//! channel whose sender the node itself owns, so without a stop signal the
//! tasks would keep the node, and with it the store, open for as long as the
//! runtime lives. A clean shutdown ([`crate::Node::shutdown`]) raises the
//! signal and waits for every task to end; after that nothing but the
//! caller holds the node, and dropping it closes the store.

use std::future::Future;

use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The stop signal of the node's background tasks and their handles.
pub struct BackgroundTasks {
    stop: watch::Sender<bool>,
    handles: parking_lot::Mutex<Vec<JoinHandle<()>>>,
}

/// What a background task observes to know that the node is stopping.
#[derive(Clone)]
pub struct StopSignal(watch::Receiver<bool>);

impl StopSignal {
    /// Resolves once the node is stopping (at once if it already is).
    pub async fn stopped(&mut self) {
        // An error means the sender is gone, i.e. the node itself: stop too.
        let _ = self.0.wait_for(|stopping| *stopping).await;
    }

    pub fn is_stopped(&self) -> bool {
        *self.0.borrow()
    }
}

impl Default for BackgroundTasks {
    fn default() -> BackgroundTasks {
        BackgroundTasks {
            stop: watch::channel(false).0,
            handles: parking_lot::Mutex::new(Vec::new()),
        }
    }
}

impl BackgroundTasks {
    /// Spawns a task on the current runtime, handing it the stop signal,
    /// which it must observe to end.
    pub fn spawn<F>(&self, task: impl FnOnce(StopSignal) -> F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let handle = tokio::spawn(task(StopSignal(self.stop.subscribe())));
        self.handles.lock().push(handle);
    }

    /// Raises the stop signal and waits until every task spawned so far has
    /// ended. Tasks spawned afterwards see the signal at once.
    pub async fn stop_and_wait(&self) {
        self.stop.send_replace(true);
        let handles = std::mem::take(&mut *self.handles.lock());
        for handle in handles {
            // A task that panicked has ended too.
            let _ = handle.await;
        }
    }
}
