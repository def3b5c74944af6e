//! Evaluation of compiled expressions.
//!
//! The evaluator is generic over an [`Observer`] so that
//! [`Expr::eval_observed`] can report every date-time compared while
//! [`Expr::eval`] monomorphises to code without any observation at all.

use std::borrow::Cow;
use std::sync::Arc;

use thiserror::Error;

use super::compile::{Comparison, Expr, Node, Segment, VarAccess, VarTarget};
use super::datetime::{DateTime, DateTimeParseError};
use super::value::{NULL, Value};

/// Why evaluating a (structurally valid) expression failed: a type mismatch
/// that only shows at run time. `path` is the JSON pointer of the operation.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum EvalError {
    #[error("{role} of \"{operator}\" evaluates to a {found}, which is neither truthy nor falsy (at {})", label(.path))]
    NeitherTruthyNorFalsy {
        path: String,
        operator: &'static str,
        role: &'static str,
        found: &'static str,
    },
    #[error("{role} of \"{operator}\" must be {expected}, but it is a {found} (at {})", label(.path))]
    WrongType {
        path: String,
        operator: &'static str,
        role: &'static str,
        expected: &'static str,
        found: &'static str,
    },
    #[error("operand of \"{operator}\": {problem} (at {})", label(.path))]
    InvalidDateTime {
        path: String,
        operator: &'static str,
        problem: DateTimeParseError,
    },
    #[error("\"plusTime\" leaves the representable date range (at {})", label(.path))]
    DateTimeOutOfRange { path: String },
    #[error("\"+\" overflows a 64-bit integer (at {})", label(.path))]
    IntegerOverflow { path: String },
    #[error("evaluation took more than {steps_max} steps")]
    TooManySteps { steps_max: u64 },
}

impl EvalError {
    /// The JSON pointer of the failing operation.
    pub fn path(&self) -> &str {
        match self {
            EvalError::NeitherTruthyNorFalsy { path, .. }
            | EvalError::WrongType { path, .. }
            | EvalError::InvalidDateTime { path, .. }
            | EvalError::DateTimeOutOfRange { path }
            | EvalError::IntegerOverflow { path } => path,
            EvalError::TooManySteps { .. } => "",
        }
    }
}

fn label(path: &str) -> &str {
    if path.is_empty() {
        "the root of the expression"
    } else {
        path
    }
}

/// Internal results box the error so the happy path moves small values.
type Outcome<T> = Result<T, Box<EvalError>>;

/// Receives the instant of every date-time operand of a date-time
/// comparison.
pub(crate) trait Observer {
    fn observe_instant(&mut self, unix_millis: i64);
}

/// How many expression nodes one evaluation may evaluate. Nested reduces
/// multiply (items × items × …), so without a bound a small expression over
/// large data could run for hours; real rules take thousands of steps.
pub const EVALUATION_STEPS_MAX: u64 = 10_000_000;

/// What the evaluator threads through the recursion: the observer and the
/// remaining step budget.
pub(crate) struct Context<O> {
    observer: O,
    steps_left: u64,
}

impl<O: Observer> Context<O> {
    fn new(observer: O) -> Context<O> {
        Context {
            observer,
            steps_left: EVALUATION_STEPS_MAX,
        }
    }
}

/// Observes nothing; `eval` uses it so observation compiles away.
struct Unobserved;

impl Observer for Unobserved {
    #[inline(always)]
    fn observe_instant(&mut self, _unix_millis: i64) {}
}

struct CallbackObserver<'a>(&'a mut dyn FnMut(i64));

impl Observer for CallbackObserver<'_> {
    fn observe_instant(&mut self, unix_millis: i64) {
        (self.0)(unix_millis)
    }
}

impl Expr {
    /// Evaluates the expression against `data`.
    pub fn eval(&self, data: &Value) -> Result<Value, EvalError> {
        evaluate(
            &self.root,
            &Scope::Root(data),
            &mut Context::new(Unobserved),
        )
        .map_err(|error| *error)
    }

    /// Like [`Expr::eval`], and calls `on_instant(unix_millis)` for every
    /// threshold that `now` is compared against: every date-time operand,
    /// other than `now` itself, of every `after`, `before`, `not-after` and
    /// `not-before` evaluated with a direct `{"var": "now"}` (or `data.now`
    /// in a reduce lambda) operand. Comparisons skipped by `and`/`if`
    /// short-circuiting are not evaluated and so not reported. The rules
    /// engine computes `valid_until` from these instants.
    pub fn eval_observed(
        &self,
        data: &Value,
        on_instant: &mut dyn FnMut(i64),
    ) -> Result<Value, EvalError> {
        evaluate(
            &self.root,
            &Scope::Root(data),
            &mut Context::new(CallbackObserver(on_instant)),
        )
        .map_err(|error| *error)
    }
}

/// The data context: the data itself, or the context of a reduce lambda,
/// `{accumulator, current, data}`, where `data` is the enclosing context
/// (the patched reduce). Lambda contexts are never materialised unless an
/// expression asks for the whole context (`{"var": ""}`).
enum Scope<'a> {
    Root(&'a Value),
    Lambda {
        accumulator: &'a Value,
        current: &'a Value,
        outer: &'a Scope<'a>,
    },
}

impl Scope<'_> {
    /// The context as a value; allocates for a lambda context.
    fn to_value(&self) -> Value {
        match self {
            Scope::Root(data) => (*data).clone(),
            Scope::Lambda {
                accumulator,
                current,
                outer,
            } => Value::object([
                ("accumulator", (*accumulator).clone()),
                ("current", (*current).clone()),
                ("data", outer.to_value()),
            ]),
        }
    }
}

/// Walks `segments` down from `start`; anything not found is null.
fn walk<'v>(start: &'v Value, segments: &[Segment]) -> &'v Value {
    let mut current = start;
    for segment in segments {
        current = match current {
            Value::Object(object) => object
                .get_hinted(&segment.key, &segment.field_hint)
                .unwrap_or(&NULL),
            Value::Array(items) => segment
                .index
                .and_then(|index| items.get(index))
                .unwrap_or(&NULL),
            _ => return &NULL,
        };
    }
    current
}

#[inline]
fn evaluate_var<'v>(access: &VarAccess, scope: &Scope<'v>) -> Cow<'v, Value> {
    let mut scope = scope;
    for _ in 0..access.scopes_up {
        scope = match scope {
            Scope::Lambda { outer, .. } => outer,
            // The compiler never resolves past the root.
            Scope::Root(_) => return Cow::Borrowed(&NULL),
        };
    }
    match (access.target, scope) {
        (VarTarget::Context, Scope::Root(data)) => Cow::Borrowed(walk(data, &access.rest)),
        (VarTarget::Context, lambda) => Cow::Owned(walk(&lambda.to_value(), &access.rest).clone()),
        (VarTarget::Accumulator, Scope::Lambda { accumulator, .. }) => {
            Cow::Borrowed(walk(accumulator, &access.rest))
        }
        (VarTarget::Current, Scope::Lambda { current, .. }) => {
            Cow::Borrowed(walk(current, &access.rest))
        }
        _ => Cow::Borrowed(&NULL),
    }
}

#[inline]
fn truthiness(
    value: &Value,
    location: &str,
    operator: &'static str,
    role: &'static str,
) -> Outcome<bool> {
    match value.truthiness() {
        Some(truthy) => Ok(truthy),
        None => Err(neither_truthy_nor_falsy(value, location, operator, role)),
    }
}

#[cold]
fn neither_truthy_nor_falsy(
    value: &Value,
    location: &str,
    operator: &'static str,
    role: &'static str,
) -> Box<EvalError> {
    Box::new(EvalError::NeitherTruthyNorFalsy {
        path: location.to_string(),
        operator,
        role,
        found: value.type_name(),
    })
}

#[cold]
fn wrong_type(
    location: &str,
    operator: &'static str,
    role: &'static str,
    expected: &'static str,
    found: &Value,
) -> Box<EvalError> {
    Box::new(EvalError::WrongType {
        path: location.to_string(),
        operator,
        role,
        expected,
        found: found.type_name(),
    })
}

/// Spends one step of the budget.
#[inline(always)]
fn step<O>(context: &mut Context<O>) -> Outcome<()> {
    match context.steps_left.checked_sub(1) {
        Some(steps_left) => {
            context.steps_left = steps_left;
            Ok(())
        }
        None => Err(Box::new(EvalError::TooManySteps {
            steps_max: EVALUATION_STEPS_MAX,
        })),
    }
}

fn evaluate<O: Observer>(
    node: &Node,
    scope: &Scope<'_>,
    context: &mut Context<O>,
) -> Outcome<Value> {
    operand(node, scope, context).map(Cow::into_owned)
}

/// Evaluates `node`, borrowing the result where it already exists (literals
/// and data reached by `var`), so operands are compared and tested without
/// cloning or reference counting. The leaves are handled here, inline; the
/// operations in [`operation`].
#[inline]
fn operand<'v, O: Observer>(
    node: &'v Node,
    scope: &Scope<'v>,
    context: &mut Context<O>,
) -> Outcome<Cow<'v, Value>> {
    step(context)?;
    match node {
        Node::Literal(value) => Ok(Cow::Borrowed(value)),
        Node::Var(access) => Ok(evaluate_var(access, scope)),
        _ => operation(node, scope, context),
    }
}

fn operation<'v, O: Observer>(
    node: &'v Node,
    scope: &Scope<'v>,
    context: &mut Context<O>,
) -> Outcome<Cow<'v, Value>> {
    let owned = match node {
        // Leaves are handled by `operand`; answering them here too keeps
        // this function total.
        Node::Literal(value) => return Ok(Cow::Borrowed(value)),
        Node::Var(access) => return Ok(evaluate_var(access, scope)),
        Node::Array(items) => {
            let mut values = Vec::with_capacity(items.len());
            for item in items.iter() {
                values.push(evaluate(item, scope, context)?);
            }
            Value::array(values)
        }
        Node::If(operands, location) => {
            let [guard, then, otherwise] = &**operands;
            let guard_value = operand(guard, scope, context)?;
            let branch = if truthiness(&guard_value, location, "if", "guard")? {
                then
            } else {
                otherwise
            };
            return operand(branch, scope, context);
        }
        Node::And(operands, location) => {
            let mut last = Cow::Borrowed(&NULL);
            for node in operands.iter() {
                last = operand(node, scope, context)?;
                if !truthiness(&last, location, "and", "an operand")? {
                    break;
                }
            }
            return Ok(last);
        }
        Node::Equal(operands) => {
            let [left, right] = &**operands;
            let left = operand(left, scope, context)?;
            let right = operand(right, scope, context)?;
            Value::Bool(left == right)
        }
        Node::In(operands, location) => {
            let [needle, haystack] = &**operands;
            let needle = operand(needle, scope, context)?;
            let haystack = operand(haystack, scope, context)?;
            match &*haystack {
                Value::Array(items) => Value::Bool(items.contains(&needle)),
                other => {
                    return Err(wrong_type(
                        location,
                        "in",
                        "right-hand operand",
                        "an array",
                        other,
                    ));
                }
            }
        }
        Node::Plus(operands, location) => {
            let [left, right] = &**operands;
            let left = operand(left, scope, context)?;
            let right = operand(right, scope, context)?;
            match (&*left, &*right) {
                (Value::Int(left), Value::Int(right)) => {
                    Value::Int(left.checked_add(*right).ok_or_else(|| {
                        EvalError::IntegerOverflow {
                            path: location.to_string(),
                        }
                    })?)
                }
                (Value::Int(_), other) | (other, _) => {
                    return Err(wrong_type(
                        location,
                        "+",
                        "every operand",
                        "an integer",
                        other,
                    ));
                }
            }
        }
        Node::Not(node, location) => {
            let value = operand(node, scope, context)?;
            Value::Bool(!truthiness(&value, location, "!", "the operand")?)
        }
        Node::Compare {
            comparison,
            date_time,
            operator,
            operands,
            location,
        } => evaluate_comparison(
            *comparison,
            *date_time,
            operator,
            operands,
            location,
            scope,
            context,
        )?,
        Node::PlusTime {
            operand: node,
            amount,
            unit,
            location,
        } => {
            let value = operand(node, scope, context)?;
            let start = match &*value {
                Value::String(text) => {
                    DateTime::parse(text).map_err(|problem| EvalError::InvalidDateTime {
                        path: location.to_string(),
                        operator: "plusTime",
                        problem,
                    })?
                }
                // An extension: facts may carry parsed instants.
                Value::DateTime(date_time) => *date_time,
                other => {
                    return Err(wrong_type(
                        location,
                        "plusTime",
                        "the date operand (#1)",
                        "a date(-time) string",
                        other,
                    ));
                }
            };
            let shifted =
                start
                    .plus(*amount, *unit)
                    .ok_or_else(|| EvalError::DateTimeOutOfRange {
                        path: location.to_string(),
                    })?;
            Value::DateTime(shifted)
        }
        Node::DccDateOfBirth(node, location) => {
            let value = operand(node, scope, context)?;
            match &*value {
                Value::String(text) => {
                    Value::DateTime(DateTime::dcc_date_of_birth(text).map_err(|problem| {
                        EvalError::InvalidDateTime {
                            path: location.to_string(),
                            operator: "dccDateOfBirth",
                            problem,
                        }
                    })?)
                }
                other => {
                    return Err(wrong_type(
                        location,
                        "dccDateOfBirth",
                        "the operand",
                        "a string",
                        other,
                    ));
                }
            }
        }
        Node::Reduce(operands, location) => {
            let [items_node, lambda, initial] = &**operands;
            let items = operand(items_node, scope, context)?;
            let mut accumulator = evaluate(initial, scope, context)?;
            match &*items {
                Value::Null => {}
                Value::Array(items) => {
                    for current in items.iter() {
                        let lambda_scope = Scope::Lambda {
                            accumulator: &accumulator,
                            current,
                            outer: scope,
                        };
                        accumulator = evaluate(lambda, &lambda_scope, context)?;
                    }
                }
                other => {
                    return Err(wrong_type(
                        location,
                        "reduce",
                        "the operand (#1)",
                        "an array or null",
                        other,
                    ));
                }
            }
            accumulator
        }
        Node::ExtractFromUvci {
            operand: node,
            index,
            location,
        } => {
            let value = operand(node, scope, context)?;
            match &*value {
                Value::Null => Value::Null,
                Value::String(text) => extract_from_uvci(text, *index),
                other => {
                    return Err(wrong_type(
                        location,
                        "extractFromUVCI",
                        "the UVCI operand (#1)",
                        "a string or null",
                        other,
                    ));
                }
            }
        }
    };
    Ok(Cow::Owned(owned))
}

fn evaluate_comparison<'v, O: Observer>(
    comparison: Comparison,
    date_time: bool,
    operator: &'static str,
    operands: &'v [Node],
    location: &str,
    scope: &Scope<'v>,
    context: &mut Context<O>,
) -> Outcome<Value> {
    // Two or three operands: keep them on the stack.
    let mut values: [Cow<'v, Value>; 3] = [
        Cow::Borrowed(&NULL),
        Cow::Borrowed(&NULL),
        Cow::Borrowed(&NULL),
    ];
    let count = operands.len().min(3);
    for (slot, node) in values.iter_mut().zip(operands) {
        *slot = operand(node, scope, context)?;
    }
    let values = &values[..count];
    for value in values {
        let type_ok = if date_time {
            matches!(**value, Value::DateTime(_))
        } else {
            matches!(**value, Value::Int(_))
        };
        if !type_ok {
            let expected = if date_time {
                "a date-time"
            } else {
                "an integer"
            };
            return Err(wrong_type(
                location,
                operator,
                "every operand",
                expected,
                value,
            ));
        }
    }
    // Only comparisons against `now` can change outcome as time passes (the
    // rules engine allows `now` nowhere else), so only their other operands
    // are thresholds worth reporting. The `now` operand itself is the
    // evaluation instant, not a threshold.
    if date_time && operands.iter().any(is_root_now_var) {
        for (value, operand) in values.iter().zip(operands) {
            if is_root_now_var(operand) {
                continue;
            }
            if let Value::DateTime(instant) = **value {
                context.observer.observe_instant(instant.unix_millis());
            }
        }
    }
    let holds = |left: &Value, right: &Value| {
        let Some(order) = left.partial_order(right) else {
            return false;
        };
        match comparison {
            Comparison::Less => order.is_lt(),
            Comparison::Greater => order.is_gt(),
            Comparison::LessOrEqual => order.is_le(),
            Comparison::GreaterOrEqual => order.is_ge(),
        }
    };
    let result = values.windows(2).all(|pair| holds(&pair[0], &pair[1]));
    Ok(Value::Bool(result))
}

const UVCI_PREFIX: &str = "URN:UVCI:";

/// Fragment `index` of a UVCI split on `/`, `#` and `:`, after dropping an
/// optional `URN:UVCI:` prefix; null when there is no such fragment.
fn extract_from_uvci(uvci: &str, index: i64) -> Value {
    let Ok(index) = usize::try_from(index) else {
        return Value::Null;
    };
    let without_prefix = uvci.strip_prefix(UVCI_PREFIX).unwrap_or(uvci);
    match without_prefix.split(['/', '#', ':']).nth(index) {
        Some(fragment) => Value::String(Arc::from(fragment)),
        None => Value::Null,
    }
}

/// True for an operand that is exactly `{"var": "now"}` of the root data (or
/// `data.now` from inside reduce lambdas).
fn is_root_now_var(operand: &Node) -> bool {
    match operand {
        Node::Var(access) => {
            access.target == VarTarget::Context
                && access.rest.len() == 1
                && &*access.rest[0].key == "now"
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(expr: serde_json::Value, data: serde_json::Value, expect: serde_json::Value) {
        let compiled = Expr::compile(&expr).unwrap();
        let result = compiled.eval(&Value::from_json(&data)).unwrap();
        assert_eq!(result.to_json(), expect, "{expr} on {data}");
    }

    fn check_error(expr: serde_json::Value, data: serde_json::Value, path: &str, part: &str) {
        let compiled = Expr::compile(&expr).unwrap();
        let error = compiled.eval(&Value::from_json(&data)).unwrap_err();
        assert_eq!(error.path(), path, "{error}");
        assert!(error.to_string().contains(part), "{error} lacks {part:?}");
    }

    #[test]
    fn evaluates_operations() {
        check(json!({"+": [{"var": "a"}, 2]}), json!({"a": 40}), json!(42));
        check(
            json!({"in": [{"var": "a"}, [1, 2]]}),
            json!({"a": 2}),
            json!(true),
        );
        check(
            json!({"extractFromUVCI": ["URN:UVCI:01:NL:187/375", 2]}),
            json!(null),
            json!("187"),
        );
        check(
            json!({"plusTime": ["2020-02-29", 1, "year"]}),
            json!(null),
            json!("2021-03-01T00:00:00.000Z"),
        );
        check(
            json!({"dccDateOfBirth": ["2004-02"]}),
            json!(null),
            json!("2004-02-29T00:00:00.000Z"),
        );
        check(json!({"var": ""}), json!(7), json!(7));
        check(
            json!({"var": "a.1.b"}),
            json!({"a": [0, {"b": "x"}]}),
            json!("x"),
        );
        check(json!({"var": "a.b"}), json!({"a": "text"}), json!(null));
    }

    #[test]
    fn reduce_lambda_sees_accumulator_current_and_outer_data() {
        check(
            json!({"reduce": [{"var": "xs"}, {"var": ""}, 0]}),
            json!({"xs": [5], "k": 1}),
            json!({"accumulator": 0, "current": 5, "data": {"xs": [5], "k": 1}}),
        );
        // A nested reduce reaches the outermost data through data.data.
        check(
            json!({"reduce": [{"var": "xs"}, {"reduce": [{"var": "current"}, {"+": [{"var": "accumulator"}, {"var": "data.data.k"}]}, {"var": "accumulator"}]}, 0]}),
            json!({"xs": [[1, 2], [3]], "k": 10}),
            json!(30),
        );
        check(
            json!({"reduce": [{"var": "xs"}, {"var": "other"}, 0]}),
            json!({"xs": [1]}),
            json!(null),
        );
    }

    #[test]
    fn type_errors_name_the_location() {
        check_error(
            json!({"and": [true, {"+": [1, "2"]}]}),
            json!(null),
            "/and/1",
            "must be an integer, but it is a string",
        );
        check_error(
            json!({"if": [{"plusTime": ["2021", 0, "day"]}, 1, 2]}),
            json!(null),
            "",
            "neither truthy nor falsy",
        );
        check_error(
            json!({"in": [1, {"var": "x"}]}),
            json!({}),
            "",
            "must be an array, but it is a null",
        );
        check_error(
            json!({"after": [{"plusTime": ["2021", 0, "day"]}, 3]}),
            json!(null),
            "",
            "must be a date-time",
        );
        check_error(
            json!({"!": [{"plusTime": [{"var": "d"}, 0, "day"]}]}),
            json!({"d": "2021-02-30"}),
            "/!/0",
            "not a valid date",
        );
        check_error(
            json!({"plusTime": ["2021", 2_000_000_000_000_i64, "hour"]}),
            json!(null),
            "",
            "date range",
        );
        check_error(
            json!({"+": [{"var": "x"}, 1]}),
            json!({"x": i64::MAX}),
            "",
            "overflows",
        );
        check_error(
            json!({"reduce": [1, 0, 0]}),
            json!(null),
            "",
            "an array or null",
        );
    }

    #[test]
    fn evaluation_steps_are_bounded() {
        let items: Vec<serde_json::Value> = (0..3_200).map(serde_json::Value::from).collect();
        let expr = Expr::compile(&json!({"reduce": [{"var": "xs"},
            {"reduce": [{"var": "data.xs"}, {"var": "accumulator"}, {"var": "accumulator"}]}, 0]}))
        .unwrap();
        let error = expr
            .eval(&Value::from_json(&json!({ "xs": items })))
            .unwrap_err();
        assert_eq!(
            error,
            EvalError::TooManySteps {
                steps_max: EVALUATION_STEPS_MAX
            }
        );
    }

    #[test]
    fn observer_sees_every_compared_instant() {
        let expr = Expr::compile(&json!({"and": [
            {"not-after": [{"plusTime": [{"var": "a"}, 0, "day"]}, {"var": "now"}, {"plusTime": [{"var": "c"}, 0, "day"]}]},
            {"not-after": [{"plusTime": [{"var": "a"}, 0, "day"]}, {"plusTime": [{"var": "b"}, 0, "day"]}]},
            {"before": [{"plusTime": [{"var": "a"}, 1, "hour"]}, {"var": "now"}]}
        ]}))
        .unwrap();
        let data = Value::object([
            ("a", Value::string("1970-01-01")),
            ("b", Value::string("1970-01-02")),
            ("c", Value::string("1970-01-03")),
            ("now", Value::date_time_unix_secs(100_000)),
        ]);
        let mut seen = Vec::new();
        let result = expr
            .eval_observed(&data, &mut |instant| seen.push(instant))
            .unwrap();
        assert_eq!(result, Value::Bool(true));
        assert_eq!(expr.eval(&data).unwrap(), result);
        // Thresholds of comparisons with `now` only; `a` vs `b` does not
        // involve `now`, and `now` itself is not a threshold.
        assert_eq!(seen, [0, 172_800_000, 3_600_000]);
    }
}
