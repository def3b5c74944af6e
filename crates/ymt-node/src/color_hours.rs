//! The dashboard's hourly history of color counts, kept by the node itself
//! (issue 13 item 20): the scheduler records a point at the start of every
//! hour from the projection's counts, durably (one store entry per hour in
//! the node-local namespace [`META_COLOR_HOURS`]), bounded to
//! [`COLOR_HISTORY_HOURS_MAX`] points. Page views record nothing, so an hour
//! without a viewer still has its point. The instants come from the node's
//! clock (a manual clock in tests).
//!
//! The points are the node's own observation, not state derived from
//! records: they are not replicated, and each node of a cluster keeps its
//! own. A node that was not running during an hour has no point for it; one
//! that wakes late (a suspended machine, a manual clock moved several hours
//! at once) gives the missed hours of its run the counts it reads on waking.

use std::sync::atomic::Ordering;

use ymt_core::Timestamp;

use crate::codes::COLOR_HISTORY_HOURS_MAX;
use crate::error::NodeError;
use crate::state::Node;

/// The store namespace of the hourly points: key the hour's unix seconds
/// (zero-padded, so keys sort by time), value the JSON `[green, yellow, red]`.
pub const META_COLOR_HOURS: &str = "color-hours";

const HOUR_SECS: i64 = 3600;

fn key_of(hour_unix_secs: i64) -> String {
    format!("{hour_unix_secs:012}")
}

impl Node {
    /// Reads the stored points into memory, once.
    fn load_color_hours(&self) -> Result<(), NodeError> {
        if self.codes.color_history_loaded.load(Ordering::Acquire) {
            return Ok(());
        }
        let mut points: Vec<(i64, [i64; 3])> = Vec::new();
        self.store
            .meta_for_each(META_COLOR_HOURS, &mut |key, value| {
                if let (Ok(hour), Ok(counts)) = (
                    key.parse::<i64>(),
                    serde_json::from_slice::<[i64; 3]>(value),
                ) {
                    points.push((hour, counts));
                }
            })
            .map_err(NodeError::from)?;
        points.sort_by_key(|(hour, _)| *hour);
        let mut history = self.codes.color_history.lock();
        if !self.codes.color_history_loaded.load(Ordering::Acquire) {
            let skip = points.len().saturating_sub(COLOR_HISTORY_HOURS_MAX);
            history.clear();
            history.extend(points.into_iter().skip(skip));
            self.codes
                .color_history_loaded
                .store(true, Ordering::Release);
        }
        Ok(())
    }

    /// Records the point of every hour begun since the last one recorded
    /// (at most the bound), with the counts now; returns how many. Called by
    /// the scheduler after each pass of timed transitions, so the counts
    /// are current at the hour's start.
    pub fn record_color_hours(&self, now: Timestamp) -> Result<usize, NodeError> {
        self.load_color_hours()?;
        let hour = now.unix_secs().div_euclid(HOUR_SECS) * HOUR_SECS;
        let counts = self.projection.color_counts();
        let mut history = self.codes.color_history.lock();
        let earliest = hour - (COLOR_HISTORY_HOURS_MAX as i64 - 1) * HOUR_SECS;
        let first = match history.back() {
            Some((last, _)) if *last >= hour => return Ok(0),
            Some((last, _)) => (last + HOUR_SECS).max(earliest),
            None => hour,
        };
        let value = serde_json::to_vec(&counts).expect("counts serialize");
        let mut recorded = 0;
        let mut at = first;
        while at <= hour {
            self.store
                .meta_put(META_COLOR_HOURS, &key_of(at), value.clone())
                .map_err(NodeError::from)?;
            history.push_back((at, counts));
            recorded += 1;
            at += HOUR_SECS;
        }
        while history.len() > COLOR_HISTORY_HOURS_MAX {
            if let Some((oldest, _)) = history.pop_front() {
                self.store
                    .meta_delete(META_COLOR_HOURS, &key_of(oldest))
                    .map_err(NodeError::from)?;
            }
        }
        Ok(recorded)
    }

    /// The hourly points, oldest first (loaded from the store if need be).
    pub fn color_hours(&self) -> Result<Vec<(i64, [i64; 3])>, NodeError> {
        self.load_color_hours()?;
        Ok(self.codes.color_history())
    }
}
