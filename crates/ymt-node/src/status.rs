//! A person's status as readers see it: color, label, reasons, `valid_until`.

use serde_json::json;
use ymt_core::{Color, PersonId};

use crate::projection::CANNOT_COMPUTE;
use crate::state::Node;

/// The persons registered in a principal's jurisdiction, by current color:
/// green, yellow, red. The total is the maintained count per region
/// (person_counts.rs); yellow and red are the projection's non-green persons
/// registered there; green is the rest. Never lists every registration.
pub fn jurisdiction_color_counts(
    state: &Node,
    principal: &crate::auth::Principal,
) -> Result<[i64; 3], crate::error::NodeError> {
    region_color_counts(state, |region| principal.may_act_in(region))
}

/// Persons registered in the regions `in_scope` accepts, by current color:
/// the one count behind every dashboard total, so a health authority and a
/// national admin looking at the same region see the same numbers.
pub fn region_color_counts(
    state: &Node,
    in_scope: impl Fn(&ymt_core::RegionCode) -> bool,
) -> Result<[i64; 3], crate::error::NodeError> {
    let registered = state.registered_persons.total_where(&in_scope);
    let mut counts = [0i64; 3];
    for pid in state.projection.non_green_pids() {
        let Some(record) = state.person_record(&pid)? else {
            continue;
        };
        if !in_scope(&record.region) {
            continue;
        }
        if let Some((slot, _)) = state.projection.get(&pid) {
            counts[slot.color() as usize] += 1;
        }
    }
    counts[Color::Green as usize] = (registered - counts[1] - counts[2]).max(0);
    Ok(counts)
}

/// The status of a person as the API shows it.
pub fn status_json(state: &Node, pid: &PersonId) -> Option<serde_json::Value> {
    let (slot, explanation) = state.projection.get(pid)?;
    if slot.is_cannot_compute() {
        return Some(cannot_compute_json(pid, explanation.as_deref()));
    }
    let color = slot.color();
    let mut body = match explanation {
        Some(explanation) => explanation.served(),
        None => {
            let rules = state.rules.read();
            json!({
                "color": color,
                "fired": [],
                "valid_until": slot.valid_until(),
                "rules": rules.national_compiled.in_force(),
            })
        }
    };
    if let Some(object) = body.as_object_mut() {
        object.insert("pid".into(), json!(pid));
        object.insert("label".into(), color_label(color));
        if let Some(fired) = object.remove("fired") {
            object.insert("reasons".into(), fired);
        }
    }
    Some(body)
}

/// The status of a person in the fail-safe state: their decision cannot be
/// computed. `color` and `state` are `cannot_compute` (never a color a
/// reader could take for green), the label says to check in person, and
/// `detail` names the rule or the event that failed.
fn cannot_compute_json(
    pid: &PersonId,
    explanation: Option<&crate::projection::Explanation>,
) -> serde_json::Value {
    let kept = explanation.map(|explanation| &explanation.decision);
    json!({
        "pid": pid,
        "color": CANNOT_COMPUTE,
        "state": CANNOT_COMPUTE,
        "label": cannot_compute_label(),
        "check_in_person": true,
        "reasons": [],
        "valid_until": null,
        "detail": kept.and_then(|kept| kept.get("detail").cloned()),
        "evaluated_at": kept.and_then(|kept| kept.get("evaluated_at").cloned()),
    })
}

/// Whether a status body is the fail-safe state.
pub fn is_cannot_compute(status: &serde_json::Value) -> bool {
    status.get("state").and_then(|state| state.as_str()) == Some(CANNOT_COMPUTE)
}

pub fn cannot_compute_label() -> serde_json::Value {
    json!({
        "zh-CN": "无法计算：请人工核验",
        "en": "Cannot be computed: check in person",
    })
}

pub fn color_label(color: Color) -> serde_json::Value {
    let en = match color {
        Color::Green => "Green: no restriction",
        Color::Yellow => "Yellow: restricted, see the reasons",
        Color::Red => "Red: quarantine or isolation",
    };
    let zh = match color {
        Color::Green => "绿码：通行",
        Color::Yellow => "黄码：限制通行，见原因",
        Color::Red => "红码：隔离或治疗中",
    };
    json!({"zh-CN": zh, "en": en})
}
