//! Risk areas: a health authority designates venues, or a region at
//! community (12 digits), street (9) or county (6) level, as high, medium or
//! low risk for a window, inside its jurisdiction. Persons whose check-ins
//! fall inside the area and the window are exposed, and the rules decide the
//! consequence (CN-HIGH-RISK-01, CN-MEDIUM-RISK-01).
//!
//! A designation is one durable record, not one event per person: the
//! exposure is a fact derived by joining a person's check-ins with the
//! designations in force ([`ymt_core::risk_area`]). When one takes effect the
//! node finds the reached persons in the check-in index and updates their
//! statuses in memory, most of them incrementally and exactly (see
//! [`decide_reached`]): about half a second per million persons on two cores
//! (`yimatong bench storm`), where storing and re-reading a million events
//! took a minute.
//!
//! Granularity is bounded: anything larger than one community (a street, a
//! county or coarser, or a venue set spanning several communities) is held
//! until a national administrator approves it, so a whole city cannot be
//! turned yellow by one authority. Every designation also passes the circuit
//! breaker (see [`crate::breaker`]).

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::json;
use ymt_core::ids::RegionLevel;
use ymt_core::risk_area::RiskArea;
use ymt_core::{EventId, PersonId, RegionCode, Timestamp};

use crate::auth::Principal;
use crate::breaker::KIND_RISK_AREA;
use crate::error::NodeError;
pub use crate::model::META_RISK_AREAS;
use crate::model::{Applied, HeldAction, Impact, PendingStatus};
pub use crate::model::{RiskAreaRecord, RiskAreaRequest};
use crate::record::{Author, Record};
pub use crate::risk_reach::{
    AreaOutcome, Pass, Reached, apply_due_alone, decide_reached, reached_persons,
};
use crate::state::{BoxFuture, ModuleSnapshot, Node, NodeModule};
use crate::venues::Venue;

/// Venues named by one designation.
pub const RISK_AREA_VENUES_MAX: usize = 1000;
/// The longest window one designation may cover.
pub const RISK_AREA_WINDOW_SECS_MAX: i64 = 60 * 86_400;

pub fn record_designation(
    state: &Node,
    request: &RiskAreaRequest,
    principal: &Principal,
    status: &str,
) -> Result<(), NodeError> {
    write_record(state, request, principal, status, None, 0)
}

fn write_record(
    state: &Node,
    request: &RiskAreaRequest,
    principal: &Principal,
    status: &str,
    area: Option<RiskArea>,
    applied_after_seq: u64,
) -> Result<(), NodeError> {
    let record = RiskAreaRecord {
        request: request.clone(),
        designated_by: principal.id.clone(),
        status: status.into(),
        updated_at: state.now(),
        area,
        applied_after_seq,
        lifted: None,
    };
    let detail = format!("{:?} {} to {}", request.level, request.from, request.until);
    let at = record.updated_at;
    state.apply(
        &Author::from(principal),
        at,
        Record::RiskAreaRecorded { area: record },
        &detail,
    )
}

/// The venues an area covers.
pub fn area_venues(state: &Node, request: &RiskAreaRequest) -> Result<Vec<Venue>, NodeError> {
    match (&request.region, request.venues.is_empty()) {
        (Some(region), true) => Ok(state.tracing.venues_in(region)),
        (None, false) => request
            .venues
            .iter()
            .map(|id| {
                state.tracing.venue(id).ok_or_else(|| {
                    NodeError::invalid(format!("venues: venue {id} is not registered"))
                })
            })
            .collect(),
        _ => Err(NodeError::invalid(
            "name either `venues` or `region`, not both and not neither",
        )),
    }
}

/// Why an area needs national approval, if it does.
pub fn granularity_hold(request: &RiskAreaRequest, venues: &[Venue]) -> Option<String> {
    if let Some(region) = &request.region {
        return match region.level() {
            Some(RegionLevel::Community) => None,
            level => Some(format!(
                "granularity: region {region} ({}) is larger than a community; a national_admin must approve",
                level.map_or("nation".to_string(), |level| format!("{level:?}")
                    .to_lowercase())
            )),
        };
    }
    let regions: BTreeSet<&RegionCode> = venues.iter().map(|venue| &venue.region).collect();
    let one_community = regions.len() == 1
        && regions
            .iter()
            .all(|region| region.level() == Some(RegionLevel::Community));
    if venues.len() <= 1 || one_community {
        None
    } else {
        Some(format!(
            "granularity: the venues span {} regions, more than one community; a national_admin must approve",
            regions.len()
        ))
    }
}

/// The area a request covers, as it takes effect at `in_force_at`: a region
/// is expanded to the venues registered in it at that instant, so the
/// designation names exactly what it covers and every node joins the same
/// venues.
pub fn area_of(
    state: &Node,
    request: &RiskAreaRequest,
    in_force_at: Timestamp,
) -> Result<RiskArea, NodeError> {
    let venues = area_venues(state, request)?;
    Ok(RiskArea {
        id: request.id.clone(),
        level: request.level,
        from: request.from,
        until: request.until,
        in_force_at,
        venues: venues
            .into_iter()
            .map(|venue| (venue.id, venue.region))
            .collect(),
    })
}

/// The impact preview of a designation: who it reaches and whose color
/// would change, without storing anything.
pub fn impact_of_request(
    state: &Node,
    request: &RiskAreaRequest,
) -> Result<AreaOutcome, NodeError> {
    let area = area_of(state, request, state.now())?;
    let reached = reached_persons(state, &area)?;
    decide_reached(state, &area, &reached, Pass::Preview)
}

/// Puts a designation into force: stores it durably, adds it to the areas
/// joined at evaluation, and updates the status of every person it reaches.
///
/// Ingest is held off meanwhile (and snapshots with it), so no
/// re-evaluation that started before the area existed can overwrite a
/// status computed with it, and a snapshot is either wholly before or wholly
/// after the designation.
///
/// In a cluster the record is an ordered command: every node, this one
/// included, puts the area into force when it applies the record from the
/// stream (`risk_commands.rs`, under the gate there), and this node answers
/// once it did.
pub async fn take_effect(
    state: &Arc<Node>,
    request: &RiskAreaRequest,
    principal: &Principal,
) -> Result<AreaOutcome, NodeError> {
    if state.replicates() {
        let area = area_of(state, request, state.now())?;
        write_record(state, request, principal, "in_force", Some(area), 0)?;
        return Ok(outcome_of(state, &request.id, "in_force"));
    }
    let gate = state.ingest_exclusive().await;
    let area = Arc::new(area_of(state, request, state.now())?);
    let applied_after_seq = state.store.last_seq();
    write_record(
        state,
        request,
        principal,
        "in_force",
        Some(area.as_ref().clone()),
        applied_after_seq,
    )?;
    state.risk_areas.write().insert(area.clone());
    let worker = state.clone();
    let outcome = tokio::task::spawn_blocking(move || {
        let reached = reached_persons(&worker, &area)?;
        decide_reached(&worker, &area, &reached, Pass::Apply)
    })
    .await
    .map_err(|_| NodeError::internal("applying the risk area panicked"))??;
    drop(gate);
    state.schedule_changed.notify_one();
    Ok(outcome)
}

/// The designations that give a person an exposure at `now`, as recorded
/// (author, reason, window), each with the exposure it gives.
pub fn designations_reaching(
    state: &Node,
    records: &[crate::state::EventRecord],
    now: Timestamp,
) -> Result<Vec<serde_json::Value>, NodeError> {
    let facts = state.facts_of(records, now, None);
    let mut reaching = Vec::new();
    for exposure in &facts.risk_exposures {
        let designated = state.risk_areas.read().get(&exposure.id).is_some();
        if !designated {
            continue;
        }
        let Some(bytes) = state
            .store
            .meta_get(META_RISK_AREAS, exposure.id.as_str())?
        else {
            continue;
        };
        let record: RiskAreaRecord = serde_json::from_slice(&bytes)
            .map_err(|error| NodeError::internal(format!("stored risk area: {error}")))?;
        reaching.push(json!({
            "id": record.request.id,
            "level": record.request.level,
            "from": record.request.from,
            "until": record.request.until,
            "reason": record.request.reason,
            "designated_by": record.designated_by,
            "in_force_at": record.area.as_ref().map(|area| area.in_force_at),
            "exposure": exposure,
        }));
    }
    Ok(reaching)
}

/// Whether a stored designation is joined with check-ins: in force, or
/// lifted (stays before the lift keep their exposure).
pub fn is_joined(record: &RiskAreaRecord) -> bool {
    record.status == "in_force" || record.status == "lifted"
}

/// Loads the designations in force, before the projection is rebuilt.
pub fn load_areas(state: &Node) -> anyhow::Result<Vec<RiskAreaRecord>> {
    let mut records = Vec::new();
    let mut areas = state.risk_areas.write();
    for (_, bytes) in state.store.meta_list(META_RISK_AREAS)? {
        let record: RiskAreaRecord = serde_json::from_slice(&bytes)?;
        if is_joined(&record)
            && let Some(area) = &record.area
        {
            areas.insert(Arc::new(area.clone()));
            records.push(record);
        }
    }
    Ok(records)
}

/// After a snapshot covering the log up to `snapshot_upto_seq` is loaded,
/// applies again every designation that took effect after it, or at the
/// same log position unless the snapshot reflects it (`reflected`, read
/// from the module's section of that snapshot).
pub fn reapply_after_snapshot(
    state: &Node,
    records: &[RiskAreaRecord],
    snapshot_upto_seq: u64,
    reflected: &BTreeSet<EventId>,
) -> Result<usize, NodeError> {
    let mut persons = 0;
    for record in records {
        if record.lifted.is_some() {
            // A lift shortens a window, which the incremental pass cannot
            // express; persons reached are decided again in full when the
            // snapshot may predate the lift (at the same log position too:
            // deciding again is always right, only slower).
            if record.applied_after_seq >= snapshot_upto_seq
                && let Some(area) = &record.area
            {
                let pids = reached_persons(state, area)?.person_ids(state);
                state.reevaluate_many(&pids)?;
                persons += pids.len();
            }
            continue;
        }
        if record.applied_after_seq < snapshot_upto_seq || reflected.contains(&record.request.id) {
            continue;
        }
        let Some(area) = &record.area else { continue };
        let reached = reached_persons(state, area)?;
        persons += decide_reached(state, area, &reached, Pass::Apply)?
            .impact
            .persons_reached;
    }
    Ok(persons)
}

/// Outcomes kept for clients waiting on this node, at most this many (a
/// client that gave up leaves its outcome behind; past the bound the
/// first by key go).
const OUTCOMES_KEPT_MAX: usize = 256;

fn outcome_key(id: &EventId, status: &str) -> String {
    format!("{id}/{status}")
}

/// Keeps what a designation applied from the stream did, for the client
/// waiting on this node.
pub(crate) fn keep_outcome(state: &Node, record: &RiskAreaRecord, outcome: AreaOutcome) {
    if let Ok(module) = state.module::<RiskAreasModule>() {
        let mut outcomes = module.outcomes.lock();
        while outcomes.len() >= OUTCOMES_KEPT_MAX {
            outcomes.pop_first();
        }
        outcomes.insert(outcome_key(&record.request.id, &record.status), outcome);
    }
}

/// What putting `id` into `status` did on this node, once this node applied
/// the command from the stream (its client waited for that); a default
/// outcome when it was not kept.
pub(crate) fn outcome_of(state: &Node, id: &EventId, status: &str) -> AreaOutcome {
    state
        .module::<RiskAreasModule>()
        .ok()
        .and_then(|module| module.outcomes.lock().remove(&outcome_key(id, status)))
        .unwrap_or_default()
}

/// Outcomes of designations this node applied from the stream for a
/// client waiting on it, by area id and status.
pub(crate) type KeptOutcomes = parking_lot::Mutex<std::collections::BTreeMap<String, AreaOutcome>>;

/// Risk areas as a module of the node: loads the designations in force,
/// applies again those a loaded snapshot does not reflect, decides due
/// persons whose status comes from one exposure alone, and records which
/// designations each snapshot reflects.
#[derive(Default)]
pub struct RiskAreasModule {
    /// In a cluster: what designations applied from the stream did, for
    /// the clients waiting on this node (`risk_commands.rs`).
    pub(crate) outcomes: KeptOutcomes,
    /// The designations in force at load, kept for [`NodeModule::after_rebuild`].
    loaded: parking_lot::Mutex<Vec<RiskAreaRecord>>,
    /// The designations the loaded snapshot reflects (its section of this
    /// module); without one, none, so the restart applies more, never less.
    reflected: parking_lot::Mutex<BTreeSet<EventId>>,
}

impl NodeModule for RiskAreasModule {
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn name(&self) -> &'static str {
        "risk-areas"
    }

    fn namespaces(&self) -> &'static [&'static str] {
        &[META_RISK_AREAS]
    }

    fn load(&self, node: &Node, snapshot: Option<ModuleSnapshot<'_>>) -> anyhow::Result<()> {
        *self.loaded.lock() = load_areas(node)?;
        let reflected = snapshot.and_then(|snapshot| {
            serde_json::from_slice::<BTreeSet<EventId>>(snapshot.bytes)
                .inspect_err(|error| {
                    tracing::warn!("risk-area snapshot section unreadable ({error}); applying every designation again")
                })
                .ok()
        });
        *self.reflected.lock() = reflected.unwrap_or_default();
        Ok(())
    }

    fn after_rebuild(&self, node: &Node, snapshot_upto_seq: Option<u64>) -> Result<(), NodeError> {
        let loaded = std::mem::take(&mut *self.loaded.lock());
        // Designations are not in the log: those that took effect after the
        // snapshot are applied again (without a snapshot, the evaluations
        // of the rebuild already joined them).
        let reflected = std::mem::take(&mut *self.reflected.lock());
        if let Some(upto_seq) = snapshot_upto_seq {
            reapply_after_snapshot(node, &loaded, upto_seq, &reflected)?;
        }
        Ok(())
    }

    fn when_due(&self, node: &Node, due: Vec<PersonId>, now: Timestamp) -> Vec<PersonId> {
        apply_due_alone(node, due, now)
    }

    fn snapshot_capture(&self, node: &Node) -> Option<Vec<u8>> {
        // Under the ingest gate no designation is half applied, so every
        // one in force is wholly reflected in the snapshot.
        let areas: Vec<EventId> = node
            .risk_areas
            .read()
            .iter()
            .map(|area| area.id.clone())
            .collect();
        Some(serde_json::to_vec(&areas).expect("area ids serialise"))
    }

    fn held_kinds(&self) -> &'static [&'static str] {
        &[KIND_RISK_AREA]
    }

    fn held_impact(
        &self,
        node: &Node,
        action: &HeldAction,
        _proposer: &str,
    ) -> Result<Impact, NodeError> {
        let request: RiskAreaRequest = action.request_as()?;
        Ok(impact_of_request(node, &request)?.impact)
    }

    fn held_apply<'a>(
        &'a self,
        node: &'a Arc<Node>,
        action: &'a HeldAction,
        proposer: &'a Principal,
    ) -> BoxFuture<'a, Result<Applied, NodeError>> {
        Box::pin(async move {
            let request: RiskAreaRequest = action.request_as()?;
            let outcome = take_effect(node, &request, proposer).await?;
            Ok(Applied {
                events_stored: 0,
                persons_reached: outcome.impact.persons_reached,
            })
        })
    }

    fn held_status(
        &self,
        node: &Node,
        action: &HeldAction,
        principal: &Principal,
        status: PendingStatus,
    ) -> Result<(), NodeError> {
        let request: RiskAreaRequest = action.request_as()?;
        let status = match status {
            PendingStatus::Pending => "pending",
            PendingStatus::Rejected => "rejected",
            PendingStatus::Approved => return Ok(()),
        };
        record_designation(node, &request, principal, status)
    }
}
