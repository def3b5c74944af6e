//! What a person sees of their own color beyond the code: the cheap read a
//! watching page polls to learn of a change within seconds, their color
//! history with its reasons, and the evidence behind each reason in words
//! (who overrode and why, which area and stay, which tests a companion
//! already has, venue names).

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use ymt_core::facts::Facts;
use ymt_core::{PersonId, Timestamp};

use crate::extract::*;
use crate::problem::ApiError;
use crate::schemas::*;

fn parse_pid(pid: &str) -> Result<PersonId, ApiError> {
    PersonId::parse(pid).map_err(|error| ApiError::bad_request(format!("pid: {error}")))
}

#[utoipa::path(
    get,
    path = "/v1/persons/{pid}/color",
    tag = "codes",
    summary = "The person's current color, for a page watching it for a change (bounded per person: 429 past 10 reads in 10 s, 503 when too many persons are watched)",
    security(("bearer" = []), ("citizenSession" = [])),
    params(("pid" = PersonId, Path, description = "The person's pid")),
    responses(
        (status = 200, description = "`{pid, color, valid_until}`; `color` is `cannot_compute` when the status cannot be computed", body = inline(AnyObject)),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 429, response = TooManyColorReads),
        (status = 503, response = Overloaded),
    )
)]
pub(crate) async fn person_color(
    State(state): State<SharedState>,
    headers: HeaderMap,
    ApiPath(pid): ApiPath<String>,
) -> Result<Response, ApiError> {
    let pid = parse_pid(&pid)?;
    authorize_person(&state, &headers, &pid, "person.color").await?;
    let now = state.now();
    state.codes.color_polls.lock().admit(&pid, now)?;
    let (color, valid_until) = match state.projection.get(&pid) {
        Some((slot, _)) if slot.is_cannot_compute() => {
            (json!(ymt_node::projection::CANNOT_COMPUTE), None)
        }
        Some((slot, _)) => (json!(slot.color()), slot.valid_until()),
        None => (json!(ymt_core::Color::Green), None),
    };
    Ok(axum::Json(json!({"pid": pid, "color": color, "valid_until": valid_until})).into_response())
}

#[utoipa::path(
    get,
    path = "/v1/persons/{pid}/history",
    tag = "codes",
    summary = "The person's own color changes over time, with their reasons (the person, a guardian or an authority of their jurisdiction)",
    security(("bearer" = []), ("citizenSession" = [])),
    params(("pid" = PersonId, Path, description = "The person's pid")),
    responses(
        (status = 200, description = "`{pid, changes: [{at, color, reasons, events}]}`, oldest first: each change of color as the node would have shown it then (a positive later retracted is red from its recording until the retraction), at most 100", body = inline(AnyObject)),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
    )
)]
pub(crate) async fn person_history(
    State(state): State<SharedState>,
    headers: HeaderMap,
    ApiPath(pid): ApiPath<String>,
) -> Result<Response, ApiError> {
    let pid = parse_pid(&pid)?;
    authorize_person(&state, &headers, &pid, "person.history").await?;
    let now = state.now();
    let worker = state.clone();
    let person = pid.clone();
    let changes = tokio::task::spawn_blocking(move || {
        ymt_node::history::color_history(&worker, &person, now)
    })
    .await
    .map_err(|_| ApiError::internal("history panicked"))??;
    Ok(axum::Json(json!({"pid": pid, "changes": changes})).into_response())
}

/// The evidence of a person's reasons, by event id, in words, and a summary
/// of their tests and vaccinations (the code page shows it beside the code).
pub(crate) fn evidence_and_summary(
    state: &ymt_node::Node,
    pid: &PersonId,
    now: Timestamp,
) -> Result<(Value, Value), ApiError> {
    let records = state.person_records(pid)?;
    let facts = state.facts_of(&records, now, None);
    Ok((evidence(state, &facts), summary(&facts)))
}

fn venue_name(state: &ymt_node::Node, venue: &ymt_core::VenueId) -> Option<String> {
    state.tracing.venue(venue).map(|venue| venue.name.clone())
}

fn evidence(state: &ymt_node::Node, facts: &Facts) -> Value {
    let mut by_id = serde_json::Map::new();
    for test in &facts.tests {
        by_id.insert(
            test.id.to_string(),
            json!({"kind": "test", "test": test.test, "result": test.result,
                   "sampled_at": test.sampled_at, "lab": test.lab}),
        );
    }
    for check_in in &facts.check_ins {
        by_id.insert(
            check_in.id.to_string(),
            json!({"kind": "check_in", "venue": check_in.venue,
                   "venue_name": venue_name(state, &check_in.venue),
                   "entered_at": check_in.entered_at, "left_at": check_in.left_at}),
        );
    }
    for contact in &facts.contacts {
        // The negative tests sampled after the last exposure: a companion
        // sees which of the two the rule asks for they already have.
        let negative_tests_since: Vec<Value> = facts
            .tests
            .iter()
            .filter(|test| {
                test.sampled_at > contact.last_exposure_at
                    && serde_json::to_value(test.result).ok() == Some(json!("negative"))
            })
            .map(|test| json!({"test": test.test, "sampled_at": test.sampled_at}))
            .collect();
        by_id.insert(
            contact.id.to_string(),
            json!({"kind": "contact", "contact": contact.kind,
                   "venue": contact.venue,
                   "venue_name": contact.venue.as_ref().and_then(|venue| venue_name(state, venue)),
                   "overlap_start": contact.overlap_start, "overlap_end": contact.overlap_end,
                   "last_exposure_at": contact.last_exposure_at,
                   "designated_by": contact.designated_by, "reason": contact.reason,
                   "negative_tests_since": negative_tests_since}),
        );
    }
    // A designation's exposures share its id: one entry with every stay in
    // it, each with the area, the time and the venues the person was at.
    for exposure in &facts.risk_exposures {
        let venues: Vec<String> = facts
            .check_ins
            .iter()
            .filter(|check_in| {
                check_in.entered_at < exposure.until && check_in.left_at > exposure.from
            })
            .filter_map(|check_in| state.tracing.venue(&check_in.venue))
            .filter(|venue| venue.region == exposure.area)
            .map(|venue| venue.name)
            .collect();
        let stay = json!({"area": exposure.area, "from": exposure.from, "until": exposure.until,
                          "venue_names": venues});
        let entry = by_id.entry(exposure.id.to_string()).or_insert_with(
            || json!({"kind": "risk_exposure", "level": exposure.level, "stays": []}),
        );
        if let Some(stays) = entry["stays"].as_array_mut() {
            stays.push(stay);
        }
    }
    for quarantine in &facts.quarantines {
        by_id.insert(
            quarantine.id.to_string(),
            json!({"kind": "quarantine", "quarantine": quarantine.kind,
                   "start": quarantine.start, "end": quarantine.end,
                   "ordered_by": quarantine.ordered_by, "reason": quarantine.reason}),
        );
    }
    for override_fact in &facts.overrides {
        by_id.insert(
            override_fact.id.to_string(),
            json!({"kind": "override", "color": override_fact.color,
                   "reason": override_fact.reason, "by": override_fact.by,
                   "from": override_fact.from, "until": override_fact.until}),
        );
    }
    for travel in &facts.travel {
        by_id.insert(
            travel.id.to_string(),
            json!({"kind": "travel", "region": travel.region,
                   "arrived_at": travel.arrived_at, "departed_at": travel.departed_at}),
        );
    }
    Value::Object(by_id)
}

/// The latest test and the vaccinations, as "48小时核酸阴性" and doses.
fn summary(facts: &Facts) -> Value {
    let latest_test = facts.tests.iter().max_by_key(|test| test.sampled_at).map(
        |test| json!({"test": test.test, "result": test.result, "sampled_at": test.sampled_at}),
    );
    let mut vaccinations: Vec<Value> = facts
        .vaccinations
        .iter()
        .map(|dose| json!({"product": dose.product, "dose": dose.dose, "administered_at": dose.administered_at}))
        .collect();
    vaccinations.sort_by_key(|dose| dose["administered_at"].as_str().map(str::to_owned));
    json!({"latest_test": latest_test, "vaccinations": vaccinations})
}
