//! A group of tasks that run until one stop signal, and can be waited for:
//! the node's background tasks (see background.rs).

use std::future::Future;

use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The stop signal of a group of tasks and their handles.
pub struct TaskGroup {
    stop: watch::Sender<bool>,
    handles: parking_lot::Mutex<Vec<JoinHandle<()>>>,
}

/// What a task of the group observes to know that it must stop.
#[derive(Clone)]
pub struct StopSignal(watch::Receiver<bool>);

impl StopSignal {
    /// Resolves once the group is stopping (at once if it already is).
    pub async fn stopped(&mut self) {
        // An error means the group itself is gone: stop too.
        let _ = self.0.wait_for(|stopping| *stopping).await;
    }

    pub fn is_stopped(&self) -> bool {
        *self.0.borrow()
    }
}

impl Default for TaskGroup {
    fn default() -> TaskGroup {
        TaskGroup {
            stop: watch::channel(false).0,
            handles: parking_lot::Mutex::new(Vec::new()),
        }
    }
}

impl TaskGroup {
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
