//! Risk areas: a health authority designates venues, or a region at
//! community (12 digits), street (9) or county (6) level, as high, medium or
//! low risk for a window, inside its jurisdiction. Persons whose check-ins
//! fall inside the area and the window get a `risk_exposure` event (author
//! `auto-risk`), and the rules decide the consequence (CN-HIGH-RISK-01,
//! CN-MEDIUM-RISK-01).
//!
//! Granularity is bounded: anything larger than one community (a street, a
//! county or coarser, or a venue set spanning several communities) is held
//! until a national administrator approves it, so a whole city cannot be
//! turned yellow by one authority. Every designation also passes the circuit
//! breaker (see [`crate::breaker`]).

use std::collections::{BTreeSet, HashMap};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::{Deserialize, Serialize};
use serde_json::json;
use ymt_core::event::{RiskExposure, RiskLevel, TEXT_LEN_MAX};
use ymt_core::ids::RegionLevel;
use ymt_core::{Event, EventBody, EventId, PersonId, RegionCode, Timestamp, VenueId};
use ymt_trace::stay::from_rel;

use crate::api::{Authed, SharedState};
use crate::auth::{Principal, Role};
use crate::breaker::{Action, propose};
use crate::problem::ApiError;
use crate::state::{AppState, EventRecord};
use crate::tracing_service::derived_event_id;
use crate::venues::{Venue, parse_json_body};

pub const RISK_AUTHOR: &str = "auto-risk";
pub const META_RISK_AREAS: &str = "risk-areas";
/// Venues named by one designation.
pub const RISK_AREA_VENUES_MAX: usize = 1000;
/// The longest window one designation may cover.
pub const RISK_AREA_WINDOW_SECS_MAX: i64 = 60 * 86_400;

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RiskAreaRequest {
    pub id: EventId,
    /// Either venues…
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub venues: Vec<VenueId>,
    /// …or a region code (community, street or county and coarser).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<RegionCode>,
    pub level: RiskLevel,
    pub from: Timestamp,
    pub until: Timestamp,
    pub reason: String,
}

/// A designation as the node records it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RiskAreaRecord {
    pub request: RiskAreaRequest,
    pub designated_by: String,
    /// `in_force`, `pending` or `rejected`.
    pub status: String,
    pub updated_at: Timestamp,
}

pub fn routes() -> Router<SharedState> {
    Router::new().route("/v1/risk-areas", post(designate).get(list))
}

pub fn record_designation(
    state: &AppState,
    request: &RiskAreaRequest,
    principal: &Principal,
    status: &str,
) -> Result<(), ApiError> {
    let record = RiskAreaRecord {
        request: request.clone(),
        designated_by: principal.id.clone(),
        status: status.into(),
        updated_at: state.now(),
    };
    state.store.meta_put(
        META_RISK_AREAS,
        request.id.as_str(),
        serde_json::to_vec(&record).expect("risk areas serialise"),
    )?;
    Ok(())
}

/// The venues an area covers.
fn area_venues(state: &AppState, request: &RiskAreaRequest) -> Result<Vec<Venue>, ApiError> {
    match (&request.region, request.venues.is_empty()) {
        (Some(region), true) => Ok(state.tracing.venues_in(region)),
        (None, false) => request
            .venues
            .iter()
            .map(|id| {
                state.tracing.venue(id).ok_or_else(|| {
                    ApiError::unprocessable(format!("venues: venue {id} is not registered"))
                })
            })
            .collect(),
        _ => Err(ApiError::unprocessable(
            "name either `venues` or `region`, not both and not neither",
        )),
    }
}

/// Why an area needs national approval, if it does.
fn granularity_hold(request: &RiskAreaRequest, venues: &[Venue]) -> Option<String> {
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

/// The exposure events of a designation, from the check-ins in the index at
/// this instant: per person, the overlapping stay that ended last.
pub fn exposure_records(
    state: &AppState,
    request: &RiskAreaRequest,
) -> Result<Vec<EventRecord>, ApiError> {
    if request.level == RiskLevel::Low {
        // A low-risk area carries no restriction; nothing to record per person.
        return Ok(Vec::new());
    }
    let now = state.now();
    let venues = area_venues(state, request)?;
    let index = state.tracing.index.read().expect("index lock");
    let mut wanted: HashMap<u32, RegionCode> = HashMap::new();
    for venue in &venues {
        if let Some(number) = index.venues().get(venue.id.as_str()) {
            wanted.insert(number, venue.region.clone());
        }
    }
    let from_secs = request.from.unix_secs();
    let until_secs = request.until.unix_secs();
    let mut best: HashMap<u32, (u32, u32, u32)> = HashMap::new();
    if !wanted.is_empty() {
        for stay in index.iter_raw() {
            if !wanted.contains_key(&stay.venue) {
                continue;
            }
            if from_rel(stay.enter_rel) > until_secs || from_rel(stay.leave_rel) < from_secs {
                continue;
            }
            let entry =
                best.entry(stay.person)
                    .or_insert((stay.enter_rel, stay.leave_rel, stay.venue));
            if (stay.leave_rel, stay.enter_rel) > (entry.1, entry.0) {
                *entry = (stay.enter_rel, stay.leave_rel, stay.venue);
            }
        }
    }
    if best.len() > state.tracing.config.action_persons_max {
        return Err(ApiError::too_large(format!(
            "the area reaches {} persons, more than the limit of {}",
            best.len(),
            state.tracing.config.action_persons_max
        )));
    }
    let mut records: Vec<EventRecord> = best
        .into_iter()
        .map(|(person, (enter, leave, venue))| {
            let pid: PersonId = index.person_id(person);
            let region = wanted[&venue].clone();
            let instant = |rel: u32| {
                Timestamp::from_unix_secs(from_rel(rel)).expect("index instants are in range")
            };
            EventRecord {
                region: region.clone(),
                event: Event {
                    id: derived_event_id(RISK_AUTHOR, &[request.id.as_str(), pid.as_str()]),
                    person: pid,
                    recorded_at: now,
                    author: RISK_AUTHOR.into(),
                    body: EventBody::RiskExposure(RiskExposure {
                        area: region,
                        level: request.level,
                        stay_start: instant(enter),
                        stay_end: instant(leave),
                        designated_from: request.from,
                        designated_until: request.until,
                        designation: Some(request.id.clone()),
                    }),
                },
            }
        })
        .collect();
    records.sort_by(|a, b| a.event.person.cmp(&b.event.person));
    Ok(records)
}

async fn designate(
    State(state): State<SharedState>,
    Authed(principal): Authed,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    if !matches!(principal.role, Role::HealthAuthority | Role::NationalAdmin) {
        let detail = format!("a {} may not designate risk areas", principal.role.as_str());
        state
            .audit_denied(Some(&principal), "risk_area.designate", "", &detail)
            .await;
        return Err(ApiError::forbidden(detail));
    }
    let request: RiskAreaRequest = parse_json_body(body)?;
    if request.until < request.from {
        return Err(ApiError::unprocessable(format!(
            "until: must not be before from ({} < {})",
            request.until, request.from
        )));
    }
    if request.until.unix_secs() - request.from.unix_secs() > RISK_AREA_WINDOW_SECS_MAX {
        return Err(ApiError::unprocessable(format!(
            "until: a designation covers at most {} days",
            RISK_AREA_WINDOW_SECS_MAX / 86_400
        )));
    }
    if request.reason.trim().is_empty() || request.reason.chars().count() > TEXT_LEN_MAX {
        return Err(ApiError::unprocessable(format!(
            "reason: 1 to {TEXT_LEN_MAX} characters"
        )));
    }
    if request.venues.len() > RISK_AREA_VENUES_MAX {
        return Err(ApiError::too_large(format!(
            "venues: at most {RISK_AREA_VENUES_MAX}"
        )));
    }
    if state
        .store
        .meta_get(META_RISK_AREAS, request.id.as_str())?
        .is_some()
    {
        return Err(ApiError::conflict(format!(
            "risk area {} is already designated",
            request.id
        )));
    }
    let venues = area_venues(&state, &request)?;
    let outside: Vec<String> = match &request.region {
        Some(region) if !principal.may_act_in(region) => vec![region.to_string()],
        Some(_) => Vec::new(),
        None => venues
            .iter()
            .filter(|venue| !principal.may_act_in(&venue.region))
            .map(|venue| format!("{} ({})", venue.id, venue.region))
            .collect(),
    };
    if !outside.is_empty() {
        let detail = format!(
            "outside your jurisdiction {}: {}",
            principal.jurisdiction,
            outside.join(", ")
        );
        state
            .audit_denied(
                Some(&principal),
                "risk_area.designate",
                request.id.as_str(),
                &detail,
            )
            .await;
        return Err(ApiError::forbidden(detail));
    }
    let hold = granularity_hold(&request, &venues);
    propose(&state, &principal, Action::RiskArea(request), hold).await
}

async fn list(
    State(state): State<SharedState>,
    Authed(_principal): Authed,
) -> Result<Response, ApiError> {
    let mut areas = Vec::new();
    for (_, bytes) in state.store.meta_list(META_RISK_AREAS)? {
        let record: RiskAreaRecord = serde_json::from_slice(&bytes)
            .map_err(|error| ApiError::internal(format!("stored risk area: {error}")))?;
        areas.push(record);
    }
    Ok(axum::Json(json!({"risk_areas": areas})).into_response())
}
