//! Check-in retention: check-ins whose stay ended before the retention
//! window are purged from the store and the index, at start and then
//! hourly, each purge audited. Node-local housekeeping, not a record.

use std::sync::Arc;

use serde::Serialize;
use ymt_core::event::CHECK_IN_DEFAULT_STAY_SECS;
use ymt_core::{EventBody, Timestamp};
use ymt_store::{AuditEntry, AuditOutcome, StoredEvent};

use crate::checkins::may_be_check_in;
use crate::error::NodeError;
use crate::model::EventRecord;
use crate::state::Node;

/// What one retention purge removed.
#[derive(Clone, Debug, Serialize)]
pub struct RetentionReport {
    pub cutoff: Timestamp,
    pub store_purged: u64,
    pub index_purged: usize,
}

/// Purges check-ins whose stay ended before the retention window, from the
/// store and the index, and audits the purge. Blocking.
pub fn purge_expired(state: &Node) -> Result<RetentionReport, NodeError> {
    let now = state.now();
    let cutoff = now.plus_secs(-state.tracing.config.checkin_retention_days * 86_400);
    let cutoff_secs = cutoff.unix_secs();
    let predicate = move |stored: &StoredEvent| -> bool {
        if !may_be_check_in(stored) {
            return false;
        }
        let Ok(record) = serde_json::from_slice::<EventRecord>(&stored.payload) else {
            return false;
        };
        match &record.event.body {
            EventBody::CheckIn(check_in) => {
                let leave = check_in
                    .left_at
                    .unwrap_or_else(|| check_in.entered_at.plus_secs(CHECK_IN_DEFAULT_STAY_SECS));
                leave.unix_secs() < cutoff_secs
            }
            _ => false,
        }
    };
    let store_report = state.store.purge_where(&predicate)?;
    let index_purged = state.tracing.index.write().purge_before(cutoff);
    if store_report.purged == 0 && index_purged == 0 {
        // Nothing expired: a pass that removed nothing is not a purge.
        return Ok(RetentionReport {
            cutoff,
            store_purged: 0,
            index_purged: 0,
        });
    }
    let entry = AuditEntry {
        at: now,
        principal: "retention".into(),
        role: "system".into(),
        action: "checkins.purge".into(),
        target: format!("check-ins ending before {cutoff}"),
        outcome: AuditOutcome::Allowed,
        detail: format!(
            "store purged {} events, index purged {} stays",
            store_report.purged, index_purged
        ),
    };
    ymt_store::wait_blocking(state.store.audit_submit(vec![entry])?)?;
    Ok(RetentionReport {
        cutoff,
        store_purged: store_report.purged,
        index_purged,
    })
}

/// Runs the retention purge at start and then every interval.
pub fn spawn_retention(state: &Arc<Node>) {
    let node = state.clone();
    state.background.spawn(|mut stop| async move {
        let state = node;
        loop {
            let worker = state.clone();
            match tokio::task::spawn_blocking(move || purge_expired(&worker)).await {
                Ok(Ok(report)) => tracing::info!(
                    "retention: purged {} check-ins before {}",
                    report.store_purged,
                    report.cutoff
                ),
                Ok(Err(error)) => tracing::warn!("retention purge: {}", error.detail),
                Err(_) => tracing::error!("retention purge panicked"),
            }
            state
                .tracing
                .retention_passes
                .send_modify(|passes| *passes += 1);
            let interval = std::time::Duration::from_secs(
                state.tracing.config.retention_interval_secs.max(60),
            );
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = stop.stopped() => break,
            }
        }
    });
}
