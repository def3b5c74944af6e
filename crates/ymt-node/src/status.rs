//! A person's status as readers see it: color, label, reasons, `valid_until`.

use serde_json::json;
use ymt_core::{Color, PersonId};

use crate::state::Node;

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
