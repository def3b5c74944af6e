//! The world of the tracing tests (venues and check-ins, automatic tracing,
//! risk areas, the circuit breaker, confirmations, retention): the
//! principals and venues every one of them uses, and the events they send.
//! Instants are minutes relative to T0.

use serde_json::{Value, json};
use ymt_core::PersonId;
use ymt_node::auth::Role;

use super::{TestNode, at_minutes};

pub const NANSHAN: &str = "440305";
pub const COMMUNITY_A: &str = "440305001001";
pub const COMMUNITY_B: &str = "440305001002";

/// The principals every test uses, by their API keys.
pub struct World {
    pub authority: String,
    pub other_authority: String,
    pub scanner: String,
    pub lab: String,
    pub national: String,
    pub national_2: String,
}

/// Adds the principals and three venues: a mall (indoor) and a park
/// (outdoor) in community A, a gym (indoor) in community B.
pub async fn world(node: &TestNode) -> World {
    let world = World {
        authority: node.add_principal("ha-nanshan", Role::HealthAuthority, NANSHAN),
        other_authority: node.add_principal("ha-futian", Role::HealthAuthority, "440304"),
        scanner: node.add_principal("scanner-1", Role::Venue, NANSHAN),
        lab: node.add_principal("lab-1", Role::Lab, "4403"),
        national: node.add_principal("nat-1", Role::NationalAdmin, "nation"),
        national_2: node.add_principal("nat-2", Role::NationalAdmin, "nation"),
    };
    for (id, region, indoor) in [
        ("v-mall", COMMUNITY_A, true),
        ("v-park", COMMUNITY_A, false),
        ("v-gym", COMMUNITY_B, true),
    ] {
        let (status, body) = node
            .post_as(
                &world.authority,
                "/v1/venues",
                json!({"id": id, "name": format!("venue {id}"), "region": region, "category": "retail", "indoor": indoor,
                       "operators": ["scanner-1"]}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
    world
}

/// A check-in from `enter_minutes` to `leave_minutes` (none: no departure
/// recorded, the default stay applies).
pub fn check_in(
    id: &str,
    pid: &str,
    venue: &str,
    enter_minutes: i64,
    leave_minutes: Option<i64>,
) -> Value {
    let mut data = json!({"venue": venue, "entered_at": at_minutes(enter_minutes)});
    if let Some(leave_minutes) = leave_minutes {
        data["left_at"] = json!(at_minutes(leave_minutes));
    }
    json!({"id": id, "subject": {"pid": pid}, "region": COMMUNITY_A, "kind": "check_in", "data": data})
}

/// Stores check-ins through the venue scanner.
pub async fn check_ins(node: &TestNode, world: &World, events: Vec<Value>) {
    let (status, body) = node
        .post_as(
            &world.scanner,
            "/v1/events:batch",
            json!({"events": events}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

/// A positive PCR result sampled at `sampled_minutes`, reported at T0.
pub fn positive(id: &str, pid: &str, sampled_minutes: i64) -> Value {
    json!({"id": id, "subject": {"pid": pid}, "region": NANSHAN, "kind": "test_result",
           "data": {"test": "pcr", "result": "positive", "sampled_at": at_minutes(sampled_minutes),
                    "reported_at": at_minutes(0), "lab": "lab-1"}})
}

/// The rule ids a status gives as reasons.
pub fn reasons(status: &Value) -> Vec<String> {
    status["reasons"]
        .as_array()
        .map(|reasons| {
            reasons
                .iter()
                .filter_map(|reason| reason["rule_id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// A high-risk area from 600 minutes before T0 to 600 after, over `area`
/// (`{"venues": […]}` or `{"region": …}`).
pub fn risk_area(id: &str, area: Value) -> Value {
    let mut body = json!({"id": id, "level": "high", "from": at_minutes(-600),
                          "until": at_minutes(600), "reason": "cluster"});
    for (key, value) in area.as_object().expect("an area is an object") {
        body[key] = value.clone();
    }
    body
}

/// The status a node keeps for a person equals a full evaluation of their
/// timeline with the designations in force: color, change instant, next
/// color and the whole explanation.
pub async fn check_projection_matches_full_evaluation(node: &TestNode, pids: &[&str]) {
    let state = node.state.clone();
    let pids: Vec<String> = pids.iter().map(|pid| pid.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        for pid in pids {
            let pid = PersonId::parse(&pid).unwrap();
            let (decision, _) = state.decide(&pid, state.now()).unwrap();
            let (slot, explanation) = state.projection.get(&pid).expect("in the projection");
            assert_eq!(slot.color(), decision.color, "{pid}");
            assert_eq!(slot.valid_until(), decision.valid_until, "{pid}");
            assert_eq!(slot.next_color(), decision.next_color, "{pid}");
            // A kept decision says when it was made; the rest must match.
            let without_instant = |mut decision: Value| {
                decision.as_object_mut().unwrap().remove("evaluated_at");
                decision
            };
            let kept = explanation.map(|explanation| without_instant(explanation.served()));
            let expected = (decision.color != ymt_core::Color::Green)
                .then(|| without_instant(serde_json::to_value(&decision).unwrap()));
            assert_eq!(kept, expected, "{pid}");
        }
    })
    .await
    .unwrap();
}
