//! Timed transitions: the scheduler sleeps until the earliest
//! `valid_until` (or until the clock or the queue changes), then decides
//! every person whose status is due to change.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use ymt_core::PersonId;

use crate::error::NodeError;
use crate::state::Node;

impl Node {
    /// Applies every transition due at the clock's current instant. Returns
    /// how many persons were re-evaluated.
    pub fn apply_due_transitions(&self) -> Result<usize, NodeError> {
        let now = self.now();
        let mut applied = 0;
        loop {
            // Not while a designation takes effect (see risk::take_effect).
            // Held per batch, not for the whole pass: a designation waiting
            // for it would otherwise hold up every ingest behind it. This
            // runs on a blocking thread, where waiting is allowed.
            let _gate = self.ingest_gate.blocking_read();
            let keys = self.projection.take_due(now, 10_000);
            if keys.is_empty() {
                break;
            }
            let due: Vec<PersonId> = keys
                .iter()
                .filter_map(|key| self.projection.pid_of(key))
                .collect();
            let due_count = due.len();
            // Persons decided by one exposure alone go first, without a read.
            let pids = self
                .modules()
                .iter()
                .fold(due, |due, module| module.when_due(self, due, now));
            // Many transitions can fall due at one instant (everyone an area
            // reached leaves it together).
            self.reevaluate_many_in_parallel(&pids)?;
            applied += due_count;
        }
        self.metrics
            .timed_transitions
            .fetch_add(applied as u64, Ordering::Relaxed);
        // The dashboard's hourly point, from the counts just brought up to
        // date (color_hours.rs); a failure to store it is logged, never a
        // reason to stop deciding transitions.
        if let Err(error) = self.record_color_hours(now) {
            tracing::warn!("hourly color history: {}", error.detail);
        }
        self.transitions_applied_until.send_replace(now.unix_secs());
        Ok(applied)
    }

    /// Runs the scheduler of timed transitions until the node stops: sleeps
    /// until the earliest `valid_until`, or until the clock or the queue
    /// changes, then applies what is due.
    pub fn spawn_scheduler(self: &Arc<Self>) {
        for module in self.modules() {
            module.spawn(self);
        }
        let state = self.clone();
        self.background.spawn(|mut stop| async move {
            loop {
                if stop.is_stopped() {
                    break;
                }
                let worker = state.clone();
                match tokio::task::spawn_blocking(move || worker.apply_due_transitions()).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(error)) => tracing::warn!("timed transitions: {}", error.detail),
                    Err(_) => tracing::error!("timed transitions panicked"),
                }
                let wait_secs = match state.projection.next_due() {
                    Some(next) => (next.unix_secs() - state.now().unix_secs()).clamp(0, 60),
                    None => 60,
                };
                if wait_secs == 0
                    && state
                        .projection
                        .next_due()
                        .is_some_and(|next| next <= state.now())
                {
                    continue;
                }
                let clock_changed = async {
                    match state.clock.changed() {
                        Some(notify) => notify.notified().await,
                        None => std::future::pending::<()>().await,
                    }
                };
                // A manual clock does not follow real time, so only its
                // notifications (and queue changes) wake the scheduler.
                let timer = async {
                    if state.clock.changed().is_some() {
                        std::future::pending::<()>().await
                    } else {
                        tokio::time::sleep(std::time::Duration::from_secs(wait_secs.max(1) as u64))
                            .await
                    }
                };
                tokio::select! {
                    _ = clock_changed => {}
                    _ = state.schedule_changed.notified() => {}
                    _ = timer => {}
                    _ = stop.stopped() => break,
                }
            }
        });
    }
}
