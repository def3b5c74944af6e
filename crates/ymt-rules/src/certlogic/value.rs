//! The runtime value of the CertLogic evaluator.
//!
//! Values are cheap to clone: strings, arrays and objects sit behind an `Arc`,
//! so handing the same facts to many evaluations never copies them.

use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};

use super::datetime::DateTime;

/// A CertLogic value: JSON plus a date-time.
///
/// Integral JSON numbers (including `42.0`) become [`Value::Int`], because
/// CertLogic, like JavaScript, does not distinguish `42` from `42.0`; only
/// non-integral numbers stay [`Value::Float`].
#[derive(Clone, Debug, Default)]
pub enum Value {
    #[default]
    Null,
    Bool(bool),
    Int(i64),
    /// A non-integral JSON number. No operation produces one; it only arrives
    /// in data, where it can be compared with `===` or tested for truthiness.
    Float(f64),
    String(Arc<str>),
    Array(Arc<[Value]>),
    Object(Arc<Object>),
    /// An instant with millisecond resolution, as produced by `plusTime`,
    /// `dccDateOfBirth`, or handed in by the caller (see
    /// [`Value::date_time_unix_secs`]).
    DateTime(DateTime),
}

/// The shared `null`, so lookups can hand out a reference to it.
pub(crate) static NULL: Value = Value::Null;

/// Objects up to this many fields are searched linearly.
const LINEAR_SCAN_FIELDS_MAX: usize = 12;

/// A JSON object with its keys sorted, so a field is found by binary search
/// without allocating.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Object {
    entries: Box<[(Arc<str>, Value)]>,
}

impl Object {
    /// Builds an object; when a key occurs twice the last value wins, as in
    /// JSON parsers.
    pub fn new<K: Into<Arc<str>>, I: IntoIterator<Item = (K, Value)>>(entries: I) -> Object {
        let mut entries: Vec<(Arc<str>, Value)> = entries
            .into_iter()
            .map(|(key, value)| (key.into(), value))
            .collect();
        // Callers that build objects in a hot loop pass keys already sorted
        // and distinct; skip the sort and dedup for them.
        if entries.windows(2).all(|pair| pair[0].0 < pair[1].0) {
            return Object {
                entries: entries.into_boxed_slice(),
            };
        }
        // A stable sort keeps equal keys in input order, so after dedup the
        // retained entry must be the last one of each run.
        entries.sort_by(|left, right| left.0.cmp(&right.0));
        let mut deduplicated: Vec<(Arc<str>, Value)> = Vec::with_capacity(entries.len());
        for entry in entries {
            match deduplicated.last_mut() {
                Some(last) if last.0 == entry.0 => *last = entry,
                _ => deduplicated.push(entry),
            }
        }
        Object {
            entries: deduplicated.into_boxed_slice(),
        }
    }

    /// The value of field `key`, if present.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.position(key).map(|position| &self.entries[position].1)
    }

    fn position(&self, key: &str) -> Option<usize> {
        // Facts objects are small: a linear scan mostly rejects fields by
        // length alone, which beats the full comparisons of a binary search.
        if self.entries.len() <= LINEAR_SCAN_FIELDS_MAX {
            return self
                .entries
                .iter()
                .position(|(entry_key, _)| entry_key.as_ref() == key);
        }
        self.entries
            .binary_search_by(|(entry_key, _)| entry_key.as_ref().cmp(key))
            .ok()
    }

    /// [`Object::get`] that first tries the position remembered in `hint`
    /// and remembers where the key was found: objects in one array usually
    /// share their shape, so a `var` inside a reduce finds its field with a
    /// single comparison.
    #[inline]
    pub(crate) fn get_hinted(&self, key: &str, hint: &AtomicUsize) -> Option<&Value> {
        let position = hint.load(AtomicOrdering::Relaxed);
        if let Some((entry_key, value)) = self.entries.get(position)
            && entry_key.as_ref() == key
        {
            return Some(value);
        }
        let position = self.position(key)?;
        hint.store(position, AtomicOrdering::Relaxed);
        Some(&self.entries[position].1)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The fields in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.entries
            .iter()
            .map(|(key, value)| (key.as_ref(), value))
    }
}

impl Value {
    pub fn null() -> Value {
        Value::Null
    }

    pub fn bool(value: bool) -> Value {
        Value::Bool(value)
    }

    pub fn int(value: i64) -> Value {
        Value::Int(value)
    }

    pub fn string(value: &str) -> Value {
        Value::String(Arc::from(value))
    }

    pub fn array(items: Vec<Value>) -> Value {
        Value::Array(Arc::from(items))
    }

    /// An object from `(key, value)` pairs; keys may be `&'static str`,
    /// `String` or `Arc<str>`. Duplicate keys: the last one wins.
    pub fn object<K: Into<Arc<str>>, I: IntoIterator<Item = (K, Value)>>(entries: I) -> Value {
        Value::Object(Arc::new(Object::new(entries)))
    }

    /// A date-time at the given UTC instant (whole seconds since the Unix
    /// epoch). It compares with every other date-time by instant, equals the
    /// date-time that `plusTime` makes of the same instant, and prints (see
    /// [`Value::to_json`]) as `YYYY-MM-DDThh:mm:ss.000Z`.
    pub fn date_time_unix_secs(unix_secs: i64) -> Value {
        Value::DateTime(DateTime::from_unix_millis(unix_secs.saturating_mul(1000)))
    }

    /// A date-time at the given UTC instant in milliseconds since the epoch.
    pub fn date_time_unix_millis(unix_millis: i64) -> Value {
        Value::DateTime(DateTime::from_unix_millis(unix_millis))
    }

    /// Converts JSON. Integral numbers that fit an `i64` become `Int`.
    pub fn from_json(json: &serde_json::Value) -> Value {
        match json {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(value) => Value::Bool(*value),
            serde_json::Value::Number(number) => number_from_json(number),
            serde_json::Value::String(text) => Value::String(Arc::from(text.as_str())),
            serde_json::Value::Array(items) => {
                Value::Array(items.iter().map(Value::from_json).collect())
            }
            serde_json::Value::Object(fields) => Value::Object(Arc::new(Object::new(
                fields
                    .iter()
                    .map(|(key, value)| (key.as_str(), Value::from_json(value))),
            ))),
        }
    }

    /// Converts to JSON. A date-time becomes the string JavaScript's
    /// `Date.toISOString` would give, e.g. `2021-06-01T00:00:00.000Z`.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Bool(value) => serde_json::Value::Bool(*value),
            Value::Int(value) => serde_json::Value::from(*value),
            Value::Float(value) => serde_json::Number::from_f64(*value)
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null),
            Value::String(text) => serde_json::Value::String(text.to_string()),
            Value::Array(items) => {
                serde_json::Value::Array(items.iter().map(Value::to_json).collect())
            }
            Value::Object(object) => serde_json::Value::Object(
                object
                    .iter()
                    .map(|(key, value)| (key.to_string(), value.to_json()))
                    .collect(),
            ),
            Value::DateTime(date_time) => serde_json::Value::String(date_time.to_string()),
        }
    }

    /// CertLogic truthiness: `Some(true)` for truthy, `Some(false)` for falsy,
    /// `None` for values that are neither (date-times).
    ///
    /// Falsy: `false`, `null`, `""`, `0`, `[]`, `{}`. Truthy: `true`, a
    /// non-empty string, a non-zero number, a non-empty array or object.
    pub fn truthiness(&self) -> Option<bool> {
        match self {
            Value::Null => Some(false),
            Value::Bool(value) => Some(*value),
            Value::Int(value) => Some(*value != 0),
            Value::Float(value) => Some(*value != 0.0),
            Value::String(text) => Some(!text.is_empty()),
            Value::Array(items) => Some(!items.is_empty()),
            Value::Object(object) => Some(!object.is_empty()),
            Value::DateTime(_) => None,
        }
    }

    /// Whether the value is truthy (not merely "not falsy").
    pub fn is_truthy(&self) -> bool {
        self.truthiness() == Some(true)
    }

    /// Whether the value is falsy (not merely "not truthy").
    pub fn is_falsy(&self) -> bool {
        self.truthiness() == Some(false)
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(value) => Some(*value),
            _ => None,
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(value) => Some(*value),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(text) => Some(text),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(items) => Some(items),
            _ => None,
        }
    }

    pub fn as_object(&self) -> Option<&Object> {
        match self {
            Value::Object(object) => Some(object),
            _ => None,
        }
    }

    pub fn as_date_time(&self) -> Option<DateTime> {
        match self {
            Value::DateTime(date_time) => Some(*date_time),
            _ => None,
        }
    }

    /// Milliseconds since the epoch if this is a date-time.
    pub fn as_unix_millis(&self) -> Option<i64> {
        self.as_date_time().map(DateTime::unix_millis)
    }

    /// A short name of the value's type, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Int(_) => "integer",
            Value::Float(_) => "non-integer number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
            Value::DateTime(_) => "date-time",
        }
    }

    /// Compares two values of the same orderable kind (integers, date-times).
    pub(crate) fn partial_order(&self, other: &Value) -> Option<Ordering> {
        match (self, other) {
            (Value::Int(left), Value::Int(right)) => Some(left.cmp(right)),
            (Value::DateTime(left), Value::DateTime(right)) => Some(left.cmp(right)),
            _ => None,
        }
    }
}

/// The largest integer a JavaScript number represents exactly; integral
/// floats beyond it stay floats so no precision is silently invented.
const JS_MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

fn number_from_json(number: &serde_json::Number) -> Value {
    if let Some(value) = number.as_i64() {
        return Value::Int(value);
    }
    match number.as_f64() {
        Some(value) if value.fract() == 0.0 && value.abs() <= JS_MAX_SAFE_INTEGER => {
            Value::Int(value as i64)
        }
        Some(value) => Value::Float(value),
        None => Value::Null,
    }
}

/// Structural equality: the meaning of CertLogic's `===` and of `in`.
///
/// On strings, integers, booleans and `null` this is JavaScript's `===`. On
/// arrays, objects and date-times JavaScript compares references, which is
/// not meaningful for data that was parsed from JSON; we compare contents
/// (date-times by instant) so results never depend on how a value was built.
impl PartialEq for Value {
    fn eq(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Null, Value::Null) => true,
            (Value::Bool(left), Value::Bool(right)) => left == right,
            (Value::Int(left), Value::Int(right)) => left == right,
            (Value::Float(left), Value::Float(right)) => left == right,
            (Value::String(left), Value::String(right)) => left == right,
            (Value::Array(left), Value::Array(right)) => {
                Arc::ptr_eq(left, right) || left[..] == right[..]
            }
            (Value::Object(left), Value::Object(right)) => {
                Arc::ptr_eq(left, right) || left == right
            }
            (Value::DateTime(left), Value::DateTime(right)) => left == right,
            _ => false,
        }
    }
}

impl fmt::Display for Value {
    /// Compact JSON.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}", self.to_json())
    }
}

impl From<bool> for Value {
    fn from(value: bool) -> Value {
        Value::Bool(value)
    }
}

impl From<i64> for Value {
    fn from(value: i64) -> Value {
        Value::Int(value)
    }
}

impl From<&str> for Value {
    fn from(value: &str) -> Value {
        Value::string(value)
    }
}

impl From<DateTime> for Value {
    fn from(value: DateTime) -> Value {
        Value::DateTime(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_round_trip_normalises_integral_numbers() {
        let input = json!({"b": [1, 2.0, 2.5, "x", null, true], "a": {}});
        let value = Value::from_json(&input);
        assert_eq!(
            value.to_json(),
            json!({"a": {}, "b": [1, 2, 2.5, "x", null, true]})
        );
    }

    #[test]
    fn object_lookup_and_duplicate_keys() {
        let object = Object::new([
            ("b", Value::int(1)),
            ("a", Value::int(2)),
            ("b", Value::int(3)),
        ]);
        assert_eq!(object.len(), 2);
        assert_eq!(object.get("b"), Some(&Value::int(3)));
        assert_eq!(object.get("a"), Some(&Value::int(2)));
        assert_eq!(object.get("c"), None);
    }

    #[test]
    fn hinted_lookup_survives_changing_shapes() {
        let hint = AtomicUsize::new(0);
        let first = Object::new([("a", Value::int(1)), ("b", Value::int(2))]);
        let second = Object::new([("b", Value::int(3))]);
        let third = Object::new([("c", Value::int(4))]);
        assert_eq!(first.get_hinted("b", &hint), Some(&Value::int(2)));
        assert_eq!(hint.load(AtomicOrdering::Relaxed), 1);
        assert_eq!(second.get_hinted("b", &hint), Some(&Value::int(3)));
        assert_eq!(third.get_hinted("b", &hint), None);
        assert_eq!(first.get_hinted("b", &hint), Some(&Value::int(2)));
        hint.store(usize::MAX, AtomicOrdering::Relaxed);
        assert_eq!(first.get_hinted("a", &hint), Some(&Value::int(1)));
    }

    #[test]
    fn values_and_expressions_are_shareable_across_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Value>();
        assert_send_sync::<crate::certlogic::Expr>();
    }

    #[test]
    fn large_objects_use_binary_search() {
        let fields: Vec<(String, Value)> = (0..50)
            .map(|index| (format!("field{index:02}"), Value::int(index)))
            .collect();
        let object = Object::new(fields);
        assert_eq!(object.get("field37"), Some(&Value::int(37)));
        assert_eq!(object.get("field50"), None);
    }

    #[test]
    fn truthiness_follows_certlogic() {
        let check = |value: Value, expect: Option<bool>| {
            assert_eq!(value.truthiness(), expect, "{value:?}");
        };
        check(Value::null(), Some(false));
        check(Value::bool(false), Some(false));
        check(Value::string(""), Some(false));
        check(Value::int(0), Some(false));
        check(Value::array(vec![]), Some(false));
        check(Value::object(Vec::<(&str, Value)>::new()), Some(false));
        check(Value::bool(true), Some(true));
        check(Value::string("0"), Some(true));
        check(Value::int(-1), Some(true));
        check(Value::array(vec![Value::null()]), Some(true));
        check(Value::object([("k", Value::null())]), Some(true));
        check(Value::date_time_unix_secs(0), None);
    }

    #[test]
    fn date_time_prints_like_javascript() {
        assert_eq!(
            Value::date_time_unix_secs(1_622_505_600).to_json(),
            json!("2021-06-01T00:00:00.000Z")
        );
    }
}
