//! Lifting a risk-area designation before its window ends (解除风险区).
//!
//! A lift cuts the designation's window at the instant it takes effect:
//! stays before it keep their exposure (the rules then clear them N days
//! after they left, or after the designation ended), stays after it give
//! none. The designation keeps its id, level and venues, so decisions keep
//! naming it as their evidence; it is stored again with status `lifted`.
//!
//! A lift is held for a second national administrator when the area is
//! larger than one community, or when it reaches more persons than the
//! circuit breaker lets one authority change (a lift must not be a way
//! around the two-person rule that put a large area into force), and it is
//! refused outside the lifter's jurisdiction.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use ymt_core::risk_area::RiskArea;
use ymt_core::{EventId, Facts, PersonId, Timestamp};

use crate::auth::Principal;
use crate::breaker::{propose_held, propose_with_impact};
use crate::error::NodeError;
use crate::model::{
    Applied, HeldAction, Impact, PendingStatus, Proposed, RiskAreaLift, RiskAreaRecord,
    governing_region,
};
use crate::record::{Author, Record};
use crate::risk::{META_RISK_AREAS, granularity_hold, reached_persons};
use crate::state::{BoxFuture, Node, NodeModule};

/// The held kind of a lift.
pub use crate::breaker::KIND_RISK_AREA_LIFT;

/// A request to lift a designation early.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LiftRequest {
    /// The designation's id.
    pub id: EventId,
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 500, pattern = "\\S")
    )]
    pub reason: String,
}

/// A lift as the breaker holds it: its own id (the area's and the instant
/// it was proposed), so a rejected lift can be proposed again.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeldLift {
    pub id: String,
    pub area: EventId,
    pub reason: String,
}

impl HeldLift {
    fn request(&self) -> LiftRequest {
        LiftRequest {
            id: self.area.clone(),
            reason: self.reason.clone(),
        }
    }
}

/// The stored designation `id`.
pub fn stored_area(state: &Node, id: &EventId) -> Result<RiskAreaRecord, NodeError> {
    stored_area_if_any(state, id)?.ok_or_else(|| NodeError::not_found(format!("no risk area {id}")))
}

/// The stored designation `id`, if there is one.
pub fn stored_area_if_any(state: &Node, id: &EventId) -> Result<Option<RiskAreaRecord>, NodeError> {
    state
        .store
        .meta_get(META_RISK_AREAS, id.as_str())?
        .map(|bytes| serde_json::from_slice(&bytes))
        .transpose()
        .map_err(|error| NodeError::internal(format!("stored risk area: {error}")))
}

/// The designation in force that a lift would cut, refused when it is not
/// in force, has ended, or lies (even in part) outside the principal's
/// jurisdiction.
fn liftable(
    state: &Node,
    principal: &Principal,
    id: &EventId,
    at: Timestamp,
) -> Result<(RiskAreaRecord, RiskArea), NodeError> {
    let record = stored_area(state, id)?;
    let outside: Vec<String> = match &record.request.region {
        Some(region) if !principal.may_act_in(region) => vec![region.to_string()],
        _ => record
            .area
            .iter()
            .flat_map(|area| area.venues.iter())
            .filter(|(_, region)| !principal.may_act_in(region))
            .map(|(venue, region)| format!("{venue} ({region})"))
            .collect(),
    };
    if !outside.is_empty() {
        return Err(NodeError::forbidden(format!(
            "risk area {id} lies outside your jurisdiction {}: {}",
            principal.jurisdiction,
            outside.join(", ")
        )));
    }
    let area = match (&record.status[..], &record.area) {
        ("in_force", Some(area)) => area.clone(),
        (status, _) => {
            return Err(NodeError::conflict(format!(
                "risk area {id} is {status}, not in force; only a designation in force can be lifted"
            )));
        }
    };
    if area.until <= at {
        return Err(NodeError::conflict(format!(
            "risk area {id} already ended at {}",
            area.until
        )));
    }
    Ok((record, area))
}

/// The area as lifted at `at`.
fn cut(area: &RiskArea, at: Timestamp) -> RiskArea {
    RiskArea {
        until: at.max(area.from),
        ..area.clone()
    }
}

/// Who a lift at `at` reaches and whose color it would change, without
/// storing anything: each reached person decided with the window cut.
pub fn impact_of_lift(state: &Node, area: &RiskArea, at: Timestamp) -> Result<Impact, NodeError> {
    let mut pids = reached_persons(state, area)?.person_ids(state);
    pids.sort();
    pids.dedup();
    let mut areas = state.risk_areas.read().clone();
    areas.replace(Arc::new(cut(area, at)));
    let mut impact = Impact {
        persons_reached: pids.len(),
        ..Impact::default()
    };
    for pid in &pids {
        let Some((slot, _)) = state.projection.get(pid) else {
            continue;
        };
        let records = state.person_records(pid)?;
        let rules = state
            .rules
            .read()
            .compiled_for(governing_region(&records).as_ref());
        let mut facts = Facts::derive(records.iter().map(|record| &record.event), at);
        areas.join(&mut facts, at, None);
        // A timeline the rules cannot decide is counted as unchanged here;
        // applying the lift puts that person alone into the fail-safe state.
        if let Ok(decision) = rules.evaluate(&facts, at) {
            impact.record(slot.color(), decision.color);
        }
    }
    Ok(impact)
}

/// Lifts a designation now, or holds the lift for a second national
/// administrator when the area is large (see the module documentation).
pub async fn lift(
    state: &Arc<Node>,
    principal: &Principal,
    request: LiftRequest,
) -> Result<Proposed, NodeError> {
    crate::error::check_text("reason", &request.reason)?;
    if request.reason.trim().is_empty() || request.reason.chars().count() > 500 {
        return Err(NodeError::invalid("reason: 1 to 500 characters"));
    }
    let at = state.now();
    let (record, area) = match liftable(state, principal, &request.id, at) {
        Ok(found) => found,
        Err(error) => {
            if error.kind == crate::error::ErrorKind::Forbidden {
                state
                    .audit_denied(
                        Some(principal),
                        "risk_area.lift",
                        request.id.as_str(),
                        &error.detail,
                    )
                    .await;
            }
            return Err(error);
        }
    };
    let venues: Vec<_> = area
        .venues
        .keys()
        .filter_map(|venue| state.tracing.venue(venue))
        .collect();
    let worker = state.clone();
    let area_for_worker = area.clone();
    let impact = tokio::task::spawn_blocking(move || impact_of_lift(&worker, &area_for_worker, at))
        .await
        .map_err(|_| NodeError::internal("the lift preview panicked"))??;
    let action = HeldAction::new(
        KIND_RISK_AREA_LIFT,
        &HeldLift {
            id: format!("{}.lift-{}", request.id, at.unix_secs()),
            area: request.id.clone(),
            reason: request.reason.clone(),
        },
    );
    let mut held_because: Vec<String> = granularity_hold(&record.request, &venues)
        .map(|reason| {
            reason.replace(
                "a national_admin must approve",
                "lifting it needs a second national_admin",
            )
        })
        .into_iter()
        .collect();
    let limit = state.tracing.config.breaker_persons_max;
    if impact.persons_reached > limit {
        held_because.push(format!(
            "circuit breaker: the designation reaches {} persons, more than {limit}",
            impact.persons_reached
        ));
    }
    if held_because.is_empty() {
        propose_with_impact(state, principal, action, None, impact).await
    } else {
        propose_held(state, principal, action, held_because, impact).await
    }
}

/// Puts a lift into force: stores the designation with its window cut and
/// status `lifted`, replaces it in the areas joined at evaluation, and
/// decides every person it reaches again in full.
///
/// In a cluster the record is an ordered command: every node, this one
/// included, puts the lift into force when it applies the record from the
/// stream (`risk_commands.rs`, under the gate there, checked again there
/// at the lift's instant), and this node answers once it did.
pub async fn take_effect(
    state: &Arc<Node>,
    request: &LiftRequest,
    lifter: &Principal,
    held: Option<String>,
) -> Result<usize, NodeError> {
    let clustered = state.replicates();
    let gate = match clustered {
        true => None,
        false => Some(state.ingest_exclusive().await),
    };
    let at = state.now();
    let (record, area) = liftable(state, lifter, &request.id, at)?;
    let lifted_area = cut(&area, at);
    let lifted = RiskAreaRecord {
        status: "lifted".into(),
        updated_at: at,
        area: Some(lifted_area.clone()),
        applied_after_seq: state.store.last_seq(),
        lifted: Some(RiskAreaLift {
            at,
            by: lifter.id.clone(),
            reason: request.reason.clone(),
            held,
        }),
        ..record
    };
    state.apply(
        &Author::from(lifter),
        at,
        Record::RiskAreaRecorded { area: lifted },
        &format!("lifted at {at}: {}", request.reason),
    )?;
    if clustered {
        return Ok(crate::risk::outcome_of(state, &request.id, "lifted")
            .impact
            .persons_reached);
    }
    state.risk_areas.write().replace(Arc::new(lifted_area));
    let worker = state.clone();
    let persons = tokio::task::spawn_blocking(move || decide_again(&worker, &area))
        .await
        .map_err(|_| NodeError::internal("lifting the risk area panicked"))??;
    drop(gate);
    state.schedule_changed.notify_one();
    Ok(persons)
}

/// Decides every person `area` reaches again, in full (a lift shortens a
/// window, which the incremental pass cannot express).
pub(crate) fn decide_again(state: &Node, area: &RiskArea) -> Result<usize, NodeError> {
    let mut pids: Vec<PersonId> = reached_persons(state, area)?.person_ids(state);
    pids.sort();
    pids.dedup();
    state.reevaluate_many(&pids)?;
    Ok(pids.len())
}

/// Lifts as held actions of the breaker.
#[derive(Default)]
pub struct RiskAreaLiftModule;

impl NodeModule for RiskAreaLiftModule {
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn name(&self) -> &'static str {
        "risk-area-lifts"
    }

    fn held_kinds(&self) -> &'static [&'static str] {
        &[KIND_RISK_AREA_LIFT]
    }

    fn held_impact(
        &self,
        node: &Node,
        action: &HeldAction,
        _proposer: &str,
    ) -> Result<Impact, NodeError> {
        let request = action.request_as::<HeldLift>()?.request();
        let at = node.now();
        let record = stored_area(node, &request.id)?;
        match &record.area {
            Some(area) if record.status == "in_force" => impact_of_lift(node, area, at),
            _ => Ok(Impact::default()),
        }
    }

    fn held_apply<'a>(
        &'a self,
        node: &'a Arc<Node>,
        action: &'a HeldAction,
        proposer: &'a Principal,
    ) -> BoxFuture<'a, Result<Applied, NodeError>> {
        Box::pin(async move {
            let request = action.request_as::<HeldLift>()?.request();
            // Approved (its pending action is stored) or applied at once.
            let pending_id = action.pending_id();
            let held = node
                .store
                .meta_get(crate::model::META_PENDING, &pending_id)?
                .map(|_| pending_id);
            let persons_reached = take_effect(node, &request, proposer, held).await?;
            Ok(Applied {
                events_stored: 0,
                persons_reached,
            })
        })
    }

    fn held_status(
        &self,
        _node: &Node,
        _action: &HeldAction,
        _principal: &Principal,
        _status: PendingStatus,
    ) -> Result<(), NodeError> {
        // The designation stays in force while its lift is pending or
        // after it is rejected; the pending action itself says so.
        Ok(())
    }
}
