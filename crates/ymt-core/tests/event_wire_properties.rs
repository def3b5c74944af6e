//! Property tests of the event parser (stored events and imports): reading
//! `data` straight into the body of its kind, when `kind` comes first, gives
//! exactly what reading it through a JSON value gives, for any field order,
//! valid or not.

use proptest::prelude::*;
use serde_json::{Value, json};
use ymt_core::Event;

fn bodies() -> Vec<(&'static str, Value)> {
    vec![
        (
            "test_result",
            json!({"test": "pcr", "result": "positive", "sampled_at": "2022-05-01T07:00:00Z",
                   "reported_at": "2022-05-01T08:00:00Z", "lab": "lab-440305-01"}),
        ),
        (
            "check_in",
            json!({"venue": "v-1", "entered_at": "2022-05-01T07:00:00Z",
                   "left_at": "2022-05-01T08:00:00Z"}),
        ),
        (
            "contact_designation",
            json!({"contact": "close", "designated_at": "2022-05-01T07:00:00Z",
                   "last_exposure_at": "2022-05-01T06:00:00Z", "reason": "traced"}),
        ),
        (
            "retraction",
            json!({"target": "lab-1:S01", "reason": "recorded in error"}),
        ),
    ]
}

/// The event's fields as JSON text in the given order (serde_json's own
/// maps sort their keys, which would always put `data` before `kind`).
fn text_in_order(fields: &[(String, Value)]) -> String {
    let parts: Vec<String> = fields
        .iter()
        .map(|(key, value)| format!("{}:{}", Value::from(key.as_str()), value))
        .collect();
    format!("{{{}}}", parts.join(","))
}

proptest! {
    #[test]
    fn an_event_reads_the_same_whatever_the_order_of_its_fields(
        body_index in 0usize..4,
        kind_index in 0usize..4,
        order in Just((0..6).collect::<Vec<usize>>()).prop_shuffle(),
        drop_data_field in proptest::option::of(0usize..6),
        drop_top_field in proptest::option::of(0usize..8),
        unknown_top_field in any::<bool>(),
    ) {
        let bodies = bodies();
        let (_, mut data) = bodies[body_index].clone();
        // Mismatched kinds and missing fields make invalid events.
        let kind = bodies[kind_index].0;
        if let (Some(drop), Some(object)) = (drop_data_field, data.as_object_mut()) {
            let key = object.keys().nth(drop).cloned();
            if let Some(key) = key {
                object.remove(&key);
            }
        }
        let all: Vec<(String, Value)> = vec![
            ("id".into(), json!("lab-1:S01")),
            ("person".into(), json!("p-1")),
            ("recorded_at".into(), json!("2022-05-01T08:00:00Z")),
            ("author".into(), json!("lab-1")),
            ("kind".into(), json!(kind)),
            ("data".into(), data),
        ];
        let mut fields: Vec<(String, Value)> = order
            .iter()
            .enumerate()
            .filter(|(position, _)| Some(*position) != drop_top_field)
            .map(|(_, &index)| all[index].clone())
            .collect();
        if unknown_top_field {
            fields.push(("extra".into(), json!(1)));
        }
        let text = text_in_order(&fields);
        let direct = serde_json::from_str::<Event>(&text);
        let value: Value = serde_json::from_str(&text).expect("valid JSON");
        let through_value = serde_json::from_value::<Event>(value);
        match (&direct, &through_value) {
            (Ok(direct), Ok(through_value)) => prop_assert_eq!(direct, through_value),
            (Err(_), Err(_)) => {}
            _ => prop_assert!(false, "{text}: {direct:?} against {through_value:?}"),
        }
        if kind_index == body_index && drop_data_field.is_none()
            && drop_top_field.is_none_or(|position| position >= 6) && !unknown_top_field {
            prop_assert!(direct.is_ok(), "{text}: {direct:?}");
        }
    }
}
