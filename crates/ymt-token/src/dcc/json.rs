//! CBOR to JSON, and the loose equality the DCC test data asks for.

use base64::Engine;
use ciborium::Value;
use serde_json::{Map, Number, Value as Json};
use ymt_core::Timestamp;

/// Converts a CBOR item to JSON. Tag 0 (date-time text) keeps its text,
/// tag 1 (epoch seconds) becomes RFC 3339, other tags are dropped; byte
/// strings become base64; non-text map keys are written as their JSON text.
pub fn cbor_to_json(value: &Value) -> Json {
    match value {
        Value::Integer(int) => {
            let int = i128::from(*int);
            i64::try_from(int)
                .map(Json::from)
                .or_else(|_| u64::try_from(int).map(Json::from))
                .unwrap_or_else(|_| Json::String(int.to_string()))
        }
        Value::Float(float) => Number::from_f64(*float).map_or(Json::Null, Json::Number),
        Value::Bytes(bytes) => {
            Json::String(base64::engine::general_purpose::STANDARD.encode(bytes))
        }
        Value::Text(text) => Json::String(text.clone()),
        Value::Bool(flag) => Json::Bool(*flag),
        Value::Null => Json::Null,
        Value::Tag(1, inner) => match inner.as_ref() {
            Value::Integer(secs) => i64::try_from(*secs)
                .ok()
                .and_then(|secs| Timestamp::from_unix_secs(secs).ok())
                .map_or(Json::Null, |instant| Json::String(instant.to_rfc3339())),
            Value::Float(secs) => Timestamp::from_unix_secs(secs.trunc() as i64)
                .map_or(Json::Null, |instant| Json::String(instant.to_rfc3339())),
            other => cbor_to_json(other),
        },
        Value::Tag(_, inner) => cbor_to_json(inner),
        Value::Array(items) => Json::Array(items.iter().map(cbor_to_json).collect()),
        Value::Map(entries) => {
            let mut object = Map::new();
            for (key, value) in entries {
                let key = match key {
                    Value::Text(text) => text.clone(),
                    other => cbor_to_json(other).to_string(),
                };
                object.insert(key, cbor_to_json(value));
            }
            Json::Object(object)
        }
        _ => Json::Null,
    }
}

/// A normal form for comparing certificate JSON from different encoders:
/// object keys sorted (serde_json's map already is), arrays sorted,
/// numbers as f64, RFC 3339 date-times as UTC seconds.
pub fn normalize(value: &Json) -> Json {
    match value {
        Json::Object(object) => Json::Object(
            object
                .iter()
                .map(|(key, value)| (key.clone(), normalize(value)))
                .collect(),
        ),
        Json::Array(items) => {
            let mut items: Vec<Json> = items.iter().map(normalize).collect();
            items.sort_by_key(|item| item.to_string());
            Json::Array(items)
        }
        Json::Number(number) => number
            .as_f64()
            .and_then(Number::from_f64)
            .map_or(Json::Null, Json::Number),
        Json::String(text) => match normalize_instant(text) {
            Some(secs) => Json::String(format!("@{secs}")),
            None => Json::String(text.clone()),
        },
        other => other.clone(),
    }
}

/// Date-times in any RFC 3339 form (fractions, offsets, missing zone read
/// as UTC) to unix seconds; anything else is None.
fn normalize_instant(text: &str) -> Option<i64> {
    if text.len() < 19 || text.len() > 40 || text.as_bytes().get(10) != Some(&b'T') {
        return None;
    }
    let parse = |candidate: &str| {
        time::OffsetDateTime::parse(candidate, &time::format_description::well_known::Rfc3339)
            .ok()
            .map(|datetime| datetime.unix_timestamp())
    };
    parse(text).or_else(|| parse(&format!("{text}Z")))
}

pub fn loosely_equal(left: &Json, right: &Json) -> bool {
    normalize(left) == normalize(right)
}
