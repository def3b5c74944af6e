//! A person's own color history: every change of their color, when it
//! happened and why, as the node would have shown it then.
//!
//! Facts "as of" an instant see only the events recorded by then
//! (`Facts::derive`), so replaying the timeline at each instant an event
//! was recorded, and following each decision's trajectory until the next
//! one, gives the colors the person had, including a positive later
//! retracted: red from its recording until the retraction's. The replay
//! uses the rules in force now and the designations in force now (a
//! designation's window is historical, but one lifted since is not
//! replayed); it is bounded to the latest [`HISTORY_INSTANTS_MAX`]
//! recording instants and [`HISTORY_CHANGES_MAX`] changes, so one person's
//! long timeline cannot make a read expensive.

use serde::Serialize;
use ymt_core::{Color, PersonId, Timestamp};

use crate::error::NodeError;
use crate::state::Node;

/// Recording instants replayed, newest kept.
pub const HISTORY_INSTANTS_MAX: usize = 100;
/// Changes returned, newest kept.
pub const HISTORY_CHANGES_MAX: usize = 100;
/// Scheduled changes followed after one recording instant.
const TRAJECTORY_STEPS_MAX: usize = 16;

/// One change of a person's color.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ColorChange {
    pub at: Timestamp,
    /// The color from `at` on, or `cannot_compute`.
    pub color: String,
    /// The rules that gave this color then (id, description, how it clears).
    pub reasons: Vec<serde_json::Value>,
    /// The events recorded at `at` that changed it (id and kind); empty for
    /// a change the rules had scheduled (a quarantine ending, a test aging).
    pub events: Vec<serde_json::Value>,
}

/// The color changes of `pid` up to `now`, oldest first.
pub fn color_history(
    node: &Node,
    pid: &PersonId,
    now: Timestamp,
) -> Result<Vec<ColorChange>, NodeError> {
    let records = node.person_records(pid)?;
    let mut instants: Vec<Timestamp> = records
        .iter()
        .map(|record| record.event.recorded_at)
        .filter(|at| *at <= now)
        .collect();
    instants.sort();
    instants.dedup();
    let skip = instants.len().saturating_sub(HISTORY_INSTANTS_MAX);
    let instants = &instants[skip..];
    let mut changes: Vec<ColorChange> = Vec::new();
    for (index, at) in instants.iter().enumerate() {
        let until = instants.get(index + 1).copied().unwrap_or(now);
        let events: Vec<serde_json::Value> = records
            .iter()
            .filter(|record| record.event.recorded_at == *at)
            .map(|record| serde_json::json!({"id": record.event.id, "kind": record.event.kind()}))
            .collect();
        let decision = match node.decide_records(pid, &records, *at) {
            Ok(decision) => decision,
            Err(_) => {
                push(
                    ColorChange {
                        at: *at,
                        color: crate::projection::CANNOT_COMPUTE.to_owned(),
                        reasons: Vec::new(),
                        events,
                    },
                    &mut changes,
                );
                continue;
            }
        };
        push(
            ColorChange {
                at: *at,
                color: color_name(decision.color),
                reasons: reasons_of(&decision),
                events,
            },
            &mut changes,
        );
        // What the rules scheduled after this instant, until the next event.
        let scheduled = decision.trajectory.clone().unwrap_or_else(|| {
            decision
                .valid_until
                .zip(decision.next_color)
                .into_iter()
                .collect()
        });
        for (change_at, color) in scheduled.into_iter().take(TRAJECTORY_STEPS_MAX) {
            if change_at >= until || change_at > now {
                break;
            }
            let reasons = node
                .decide_records(pid, &records, change_at)
                .map(|decision| reasons_of(&decision))
                .unwrap_or_default();
            push(
                ColorChange {
                    at: change_at,
                    color: color_name(color),
                    reasons,
                    events: Vec::new(),
                },
                &mut changes,
            );
        }
    }
    let skip = changes.len().saturating_sub(HISTORY_CHANGES_MAX);
    changes.drain(..skip);
    Ok(changes)
}

/// Adds `change` when its color differs from the last one.
fn push(change: ColorChange, changes: &mut Vec<ColorChange>) {
    if changes.last().is_none_or(|last| last.color != change.color) {
        changes.push(change);
    }
}

fn color_name(color: Color) -> String {
    serde_json::to_value(color)
        .ok()
        .and_then(|value| value.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn reasons_of(decision: &ymt_rules::Decision) -> Vec<serde_json::Value> {
    decision
        .fired
        .iter()
        .map(|fired| {
            serde_json::json!({
                "rule_id": fired.rule_id,
                "description": fired.description,
                "clears": fired.clears,
            })
        })
        .collect()
}
