//! Risk areas as ordered commands of a cluster (issue 11): a designation
//! (held, put in force, rejected) or a lift is one `risk_area_recorded`
//! record, which every node applies in stream order
//! (`replication_commands.rs`), the one that made it included. This module
//! checks such a record again at its place in the stream and, once it is
//! durable, changes the node's memory exactly as the single node does right
//! after its own write (`risk::take_effect`, `risk_lift::take_effect`): the
//! area joined at evaluation, every person it reaches decided again, the
//! scheduler woken for the timed transitions. Nothing here reads a clock:
//! a lift is checked against its own instant.
//!
//! A single node (no replicator) never comes here.

use std::sync::Arc;

use ymt_core::EventId;
use ymt_core::risk_area::RiskArea;

use crate::error::NodeError;
use crate::model::{PendingAction, PendingStatus, RiskAreaRecord};
use crate::risk::{AreaOutcome, Pass, decide_reached, keep_outcome, reached_persons};
use crate::risk_lift::{decide_again, stored_area_if_any};
use crate::state::Node;

/// What a designation record changes in memory once durable.
pub(crate) enum RiskEffect {
    /// Pending or rejected: nothing but the stored record.
    Nothing,
    /// Put in force: joined from now on.
    InForce(Arc<RiskArea>),
    /// Lifted: the area with its window cut, and the area before, whose
    /// reached persons are decided again.
    Lifted {
        lifted: Arc<RiskArea>,
        before: RiskArea,
    },
}

fn refused(id: &EventId, status: &str, why: String) -> NodeError {
    NodeError::conflict(format!("risk area {id} cannot be {status}: {why}"))
}

/// Checks a designation record again where it stands in the stream, from
/// the designation stored so far (itself a function of the stream): a
/// designation is held or put in force only once, a held one is decided
/// once (put in force or rejected), and only a designation in force whose
/// window has not ended at the lift's instant can be lifted, once.
pub(crate) fn check_in_order(
    state: &Node,
    record: &RiskAreaRecord,
) -> Result<RiskEffect, NodeError> {
    let id = &record.request.id;
    let stored = stored_area_if_any(state, id)?;
    let stored_status = stored.as_ref().map(|stored| stored.status.as_str());
    let already =
        |stored_status: &str| refused(id, &record.status, format!("it is already {stored_status}"));
    match record.status.as_str() {
        "pending" => match stored_status {
            None => Ok(RiskEffect::Nothing),
            Some(status) => Err(already(status)),
        },
        "rejected" => match stored_status {
            None | Some("pending") => Ok(RiskEffect::Nothing),
            Some(status) => Err(already(status)),
        },
        "in_force" => match (stored_status, &record.area) {
            (None | Some("pending"), Some(area)) => Ok(RiskEffect::InForce(Arc::new(area.clone()))),
            (None | Some("pending"), None) => {
                Err(refused(id, "in force", "the record names no area".into()))
            }
            (Some(status), _) => Err(already(status)),
        },
        "lifted" => {
            let (Some(lift), Some(lifted)) = (&record.lifted, &record.area) else {
                return Err(refused(id, "lifted", "the record names no lift".into()));
            };
            let before = match stored {
                Some(RiskAreaRecord {
                    status,
                    area: Some(area),
                    ..
                }) if status == "in_force" => area,
                Some(stored) => return Err(already(&stored.status)),
                None => return Err(refused(id, "lifted", "it was never designated".into())),
            };
            // The lift of a held action: only while that action is still
            // pending (a rejection earlier in the stream wins).
            if let Some(held) = &lift.held
                && pending_status(state, held)? != Some(PendingStatus::Pending)
            {
                return Err(refused(
                    id,
                    "lifted",
                    format!("its held lift {held} was already decided"),
                ));
            }
            if before.until <= lift.at {
                return Err(refused(
                    id,
                    "lifted",
                    format!("it already ended at {}", before.until),
                ));
            }
            Ok(RiskEffect::Lifted {
                lifted: Arc::new(lifted.clone()),
                before,
            })
        }
        other => Err(refused(id, other, "not a status of a designation".into())),
    }
}

/// Checks again, where it stands in the stream, a decision on a held lift:
/// a rejection of a lift that already took effect (its approval earlier in
/// the stream) is refused, so a lift is never in force while its held
/// action says rejected.
pub(crate) fn check_lift_decision_in_order(
    state: &Node,
    pending: &PendingAction,
) -> Result<(), NodeError> {
    if pending.action.kind != crate::risk_lift::KIND_RISK_AREA_LIFT
        || pending.status != PendingStatus::Rejected
    {
        return Ok(());
    }
    let lift: crate::risk_lift::HeldLift = pending.action.request_as()?;
    let took_effect = stored_area_if_any(state, &lift.area)?
        .and_then(|stored| stored.lifted)
        .is_some_and(|lifted| lifted.held.as_deref() == Some(pending.id.as_str()));
    if took_effect {
        return Err(NodeError::conflict(format!(
            "the lift {} already took effect (approved)",
            pending.id
        )));
    }
    Ok(())
}

/// The status of the stored pending action `id`, if there is one.
fn pending_status(state: &Node, id: &str) -> Result<Option<PendingStatus>, NodeError> {
    state
        .store
        .meta_get(crate::model::META_PENDING, id)?
        .map(|bytes| serde_json::from_slice::<PendingAction>(&bytes))
        .transpose()
        .map(|pending| pending.map(|pending| pending.status))
        .map_err(|error| NodeError::internal(format!("stored pending action: {error}")))
}

/// The record as this node stores it: its log position (which tells a
/// restart whether a snapshot reflects it) is this node's own, taken under
/// the ingest gate the caller holds, as `risk::take_effect` takes it.
pub(crate) fn with_local_position(state: &Node, record: &RiskAreaRecord) -> RiskAreaRecord {
    RiskAreaRecord {
        applied_after_seq: state.store.last_seq(),
        ..record.clone()
    }
}

/// Puts a durable designation record into memory (under the ingest gate the
/// caller holds, as `risk::take_effect` holds it): the area joined, the
/// persons it reaches decided again, the scheduler woken. Kept for the
/// client when one waits on this node (`waiting`).
pub(crate) fn take_effect_in_order(
    state: &Node,
    record: &RiskAreaRecord,
    effect: RiskEffect,
    waiting: bool,
) {
    let outcome = match effect {
        RiskEffect::Nothing => return,
        RiskEffect::InForce(area) => {
            state.risk_areas.write().insert(area.clone());
            reached_persons(state, &area)
                .and_then(|reached| decide_reached(state, &area, &reached, Pass::Apply))
        }
        RiskEffect::Lifted { lifted, before } => {
            state.risk_areas.write().replace(lifted);
            decide_again(state, &before).map(|persons| {
                let mut outcome = AreaOutcome::default();
                outcome.impact.persons_reached = persons;
                outcome
            })
        }
    };
    state.schedule_changed.notify_one();
    match outcome {
        Ok(outcome) if waiting => keep_outcome(state, record, outcome),
        Ok(_) => {}
        // The record is durable and the area joined: a person not decided
        // again here is decided at their next evaluation.
        Err(error) => tracing::error!(
            area = %record.request.id,
            "deciding the persons a replicated designation reaches failed: {error}"
        ),
    }
}
