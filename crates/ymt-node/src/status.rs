//! A person's status as readers see it: color, label, reasons, `valid_until`.

use serde_json::json;
use ymt_core::{Color, PersonId};

use crate::state::Node;

/// The persons registered in a principal's jurisdiction, by current color:
/// green, yellow, red. The total is the maintained count per region
/// (person_counts.rs); yellow and red are the projection's non-green persons
/// registered there; green is the rest. Never lists every registration.
pub fn jurisdiction_color_counts(
    state: &Node,
    principal: &crate::auth::Principal,
) -> Result<[i64; 3], crate::error::NodeError> {
    let registered = state
        .registered_persons
        .total_where(|region| principal.may_act_in(region));
    let mut counts = [0i64; 3];
    for pid in state.projection.non_green_pids() {
        let Some(record) = state.person_record(&pid)? else {
            continue;
        };
        if !principal.may_act_in(&record.region) {
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
