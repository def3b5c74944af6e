//! From JSON to a compiled expression tree, and the structural validator.
//!
//! One walker does both jobs: it builds [`Node`]s and records every
//! structural issue with its JSON pointer. [`validate`] returns all issues;
//! [`Expr::compile`] fails with the first one. So the validator and the
//! compiler can never disagree about what is valid.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value as Json;
use thiserror::Error;

use super::datetime::TimeUnit;
use super::value::Value;

/// How deeply expressions may nest (each operation or array is one level).
/// Real rules nest about a dozen levels; the bound keeps compilation,
/// validation and evaluation recursion far from the stack limit.
pub const EXPRESSION_DEPTH_MAX: usize = 100;

/// A structural problem in an expression, at a JSON pointer into it.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("{kind} (at {})", pointer_label(.path))]
pub struct CompileError {
    /// JSON pointer (RFC 6901) of the offending sub-expression, e.g.
    /// `/and/1/if/0`; the empty string is the whole expression.
    pub path: String,
    pub kind: CompileErrorKind,
}

/// What is structurally wrong. The messages match those of the reference
/// validator (certlogic-js) where the validation test suite pins them.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum CompileErrorKind {
    #[error("invalid CertLogic expression")]
    InvalidExpression,
    #[error("{number} is a non-integer number")]
    NonIntegerNumber { number: String },
    #[error("expression object must have exactly one key, but it has {count}")]
    KeyCount { count: usize },
    #[error("not of the form {{ \"var\": \"<path>\" }}")]
    VarForm,
    #[error("data access path doesn't have a valid format: {var_path}")]
    VarPath { var_path: String },
    #[error("operation not of the form {{ \"<operator>\": [ <values...> ] }}")]
    OperationForm,
    #[error("unrecognised operator: \"{operator}\"")]
    UnknownOperator { operator: String },
    #[error(
        "an operation with operator \"{operator}\" must have {expected} operands, but it has {found}"
    )]
    Arity {
        operator: String,
        expected: &'static str,
        found: usize,
    },
    #[error("\"amount\" argument (#2) of \"plusTime\" must be an integer, but it is: {found}")]
    PlusTimeAmount { found: String },
    #[error(
        "\"unit\" argument (#3) of \"plusTime\" must be a string equal to one of year, month, day, hour, but it is: {found}"
    )]
    PlusTimeUnit { found: String },
    #[error(
        "\"index\" argument (#2) of \"extractFromUVCI\" must be an integer, but it is: {found}"
    )]
    ExtractIndex { found: String },
    #[error("expression nested more than {depth_max} levels deep")]
    TooDeep { depth_max: usize },
}

fn pointer_label(path: &str) -> String {
    if path.is_empty() {
        "the root of the expression".to_string()
    } else {
        path.to_string()
    }
}

/// One structural issue found by [`validate`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidationIssue {
    /// JSON pointer of the offending sub-expression ("" = the whole one).
    pub path: String,
    pub message: String,
}

/// One `var` in an expression, as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataAccess {
    /// The path as written, e.g. `payload.v.0.dt` or, inside a reduce
    /// lambda, `current.kind` / `data.now`.
    pub path: String,
    /// True when the `var` sits in the lambda of a `reduce`, where paths are
    /// relative to `{accumulator, current, data}` instead of the data.
    pub in_reduce_lambda: bool,
}

/// Lists every structural issue of `expr`, each with its JSON pointer.
pub fn validate(expr: &Json) -> Vec<ValidationIssue> {
    let mut walker = Walker::default();
    walker.walk(expr, 0);
    walker
        .issues
        .into_iter()
        .map(|issue| ValidationIssue {
            path: issue.path,
            message: issue.kind.to_string(),
        })
        .collect()
}

/// A compiled CertLogic expression: evaluate it many times without touching
/// JSON. Cheap to clone and shareable across threads.
#[derive(Clone, Debug)]
pub struct Expr {
    pub(crate) root: Arc<Node>,
}

impl Expr {
    /// Compiles `json`, failing with the first structural issue.
    pub fn compile(json: &Json) -> Result<Expr, CompileError> {
        let mut walker = Walker::default();
        let root = walker.walk(json, 0);
        match (walker.issues.into_iter().next(), root) {
            (None, Some(root)) => Ok(Expr {
                root: Arc::new(root),
            }),
            (Some(issue), _) => Err(issue),
            // The walker always records an issue when it cannot build a
            // node; this arm only keeps the function total.
            (None, None) => Err(CompileError {
                path: String::new(),
                kind: CompileErrorKind::InvalidExpression,
            }),
        }
    }

    /// Every `var` in the expression, in source order.
    pub fn data_accesses(&self) -> Vec<DataAccess> {
        let mut accesses = Vec::new();
        self.root.collect_accesses(&mut accesses);
        accesses
    }
}

/// The JSON pointer of an operation, kept for error messages.
pub(crate) type Location = Box<str>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Comparison {
    Less,
    Greater,
    LessOrEqual,
    GreaterOrEqual,
}

/// A compiled expression node.
#[derive(Clone, Debug)]
pub(crate) enum Node {
    Literal(Value),
    Array(Box<[Node]>),
    Var(VarAccess),
    If(Box<[Node; 3]>, Location),
    Equal(Box<[Node; 2]>),
    And(Box<[Node]>, Location),
    /// Two or three operands; `date_time` for `after`/`before`/`not-*`.
    Compare {
        comparison: Comparison,
        date_time: bool,
        operator: &'static str,
        operands: Box<[Node]>,
        location: Location,
    },
    In(Box<[Node; 2]>, Location),
    Plus(Box<[Node; 2]>, Location),
    Not(Box<Node>, Location),
    PlusTime {
        operand: Box<Node>,
        amount: i64,
        unit: TimeUnit,
        location: Location,
    },
    /// Operand, lambda, initial.
    Reduce(Box<[Node; 3]>, Location),
    ExtractFromUvci {
        operand: Box<Node>,
        index: i64,
        location: Location,
    },
    DccDateOfBirth(Box<Node>, Location),
}

/// Where a `var` path starts, resolved at compile time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum VarTarget {
    /// The data context of the scope: the data at the root, or the whole
    /// `{accumulator, current, data}` object inside a lambda.
    Context,
    Accumulator,
    Current,
    /// A path inside a lambda that starts with anything else: always null.
    Nothing,
}

/// A pre-split `var` path. Inside reduce lambdas the leading `data.`
/// fragments are resolved at compile time into `scopes_up`, the number of
/// enclosing lambda scopes to leave.
#[derive(Clone, Debug)]
pub(crate) struct VarAccess {
    pub(crate) scopes_up: u32,
    pub(crate) target: VarTarget,
    pub(crate) rest: Box<[Segment]>,
    pub(crate) source: Box<str>,
    pub(crate) in_reduce_lambda: bool,
}

/// One path fragment: a field name, and its array index if it is one.
#[derive(Debug)]
pub(crate) struct Segment {
    pub(crate) key: Box<str>,
    pub(crate) index: Option<usize>,
    /// Where the field was last found in an object (an inline cache; any
    /// value is correct, a good one is fast).
    pub(crate) field_hint: AtomicUsize,
}

impl Clone for Segment {
    fn clone(&self) -> Segment {
        Segment {
            key: self.key.clone(),
            index: self.index,
            field_hint: AtomicUsize::new(self.field_hint.load(Ordering::Relaxed)),
        }
    }
}

impl Node {
    fn collect_accesses(&self, accesses: &mut Vec<DataAccess>) {
        match self {
            Node::Literal(_) => {}
            Node::Var(access) => accesses.push(DataAccess {
                path: access.source.to_string(),
                in_reduce_lambda: access.in_reduce_lambda,
            }),
            Node::Array(items) | Node::And(items, _) => items
                .iter()
                .for_each(|item| item.collect_accesses(accesses)),
            Node::Compare { operands, .. } => operands
                .iter()
                .for_each(|operand| operand.collect_accesses(accesses)),
            Node::If(operands, _) | Node::Reduce(operands, _) => operands
                .iter()
                .for_each(|operand| operand.collect_accesses(accesses)),
            Node::Equal(operands) | Node::In(operands, _) | Node::Plus(operands, _) => operands
                .iter()
                .for_each(|operand| operand.collect_accesses(accesses)),
            Node::Not(operand, _)
            | Node::PlusTime { operand, .. }
            | Node::ExtractFromUvci { operand, .. }
            | Node::DccDateOfBirth(operand, _) => operand.collect_accesses(accesses),
        }
    }
}

const INFIX_OPERATORS: [&str; 12] = [
    "===",
    "and",
    ">",
    "<",
    ">=",
    "<=",
    "in",
    "+",
    "after",
    "before",
    "not-after",
    "not-before",
];

#[derive(Default)]
struct Walker {
    issues: Vec<CompileError>,
    /// The JSON pointer of the expression being walked.
    pointer: String,
    /// How many reduce lambdas enclose the expression being walked.
    lambda_depth: u32,
}

impl Walker {
    fn issue(&mut self, kind: CompileErrorKind) -> Option<Node> {
        self.issues.push(CompileError {
            path: self.pointer.clone(),
            kind,
        });
        None
    }

    /// Appends `/<token>` to the pointer, escaped per RFC 6901.
    fn push_token(&mut self, token: &str) {
        self.pointer.push('/');
        for character in token.chars() {
            match character {
                '~' => self.pointer.push_str("~0"),
                '/' => self.pointer.push_str("~1"),
                other => self.pointer.push(other),
            }
        }
    }

    /// Walks array item `index` at pointer `<current>/<index>`.
    fn walk_item(&mut self, index: usize, item: &Json, depth: usize) -> Option<Node> {
        let length_before = self.pointer.len();
        self.push_token(&index.to_string());
        let node = self.walk(item, depth);
        self.pointer.truncate(length_before);
        node
    }

    /// Walks an operand at pointer `<current>/<operator>/<index>`.
    fn walk_operand(
        &mut self,
        operator: &str,
        index: usize,
        operand: &Json,
        depth: usize,
    ) -> Option<Node> {
        let length_before = self.pointer.len();
        self.push_token(operator);
        self.push_token(&index.to_string());
        let node = self.walk(operand, depth);
        self.pointer.truncate(length_before);
        node
    }

    /// Walks all operands (up to `max`), so every issue is recorded, and
    /// returns them only if all compiled.
    fn walk_operands(
        &mut self,
        operator: &str,
        operands: &[Json],
        max: usize,
        depth: usize,
    ) -> Option<Vec<Node>> {
        let mut nodes = Vec::with_capacity(operands.len().min(max));
        let mut complete = true;
        for (index, operand) in operands.iter().take(max).enumerate() {
            match self.walk_operand(operator, index, operand, depth) {
                Some(node) => nodes.push(node),
                None => complete = false,
            }
        }
        complete.then_some(nodes)
    }

    fn walk(&mut self, expr: &Json, depth: usize) -> Option<Node> {
        if depth >= EXPRESSION_DEPTH_MAX {
            return self.issue(CompileErrorKind::TooDeep {
                depth_max: EXPRESSION_DEPTH_MAX,
            });
        }
        match expr {
            Json::Bool(value) => Some(Node::Literal(Value::Bool(*value))),
            Json::String(text) => Some(Node::Literal(Value::string(text))),
            Json::Number(number) => match Value::from_json(expr) {
                literal @ Value::Int(_) => Some(Node::Literal(literal)),
                _ => self.issue(CompileErrorKind::NonIntegerNumber {
                    number: number.to_string(),
                }),
            },
            Json::Null => self.issue(CompileErrorKind::InvalidExpression),
            Json::Array(items) => {
                let mut nodes = Vec::with_capacity(items.len());
                let mut complete = true;
                for (index, item) in items.iter().enumerate() {
                    match self.walk_item(index, item, depth + 1) {
                        Some(node) => nodes.push(node),
                        None => complete = false,
                    }
                }
                if !complete {
                    return None;
                }
                // An array of literals is itself a literal: build it once.
                if nodes.iter().all(|node| matches!(node, Node::Literal(_))) {
                    let values = nodes
                        .into_iter()
                        .map(|node| match node {
                            Node::Literal(value) => value,
                            _ => Value::Null,
                        })
                        .collect();
                    Some(Node::Literal(Value::array(values)))
                } else {
                    Some(Node::Array(nodes.into_boxed_slice()))
                }
            }
            Json::Object(fields) => {
                if fields.len() != 1 {
                    return self.issue(CompileErrorKind::KeyCount {
                        count: fields.len(),
                    });
                }
                let Some((operator, values)) = fields.iter().next() else {
                    return self.issue(CompileErrorKind::KeyCount { count: 0 });
                };
                if operator == "var" {
                    return self.walk_var(values);
                }
                let Json::Array(operands) = values else {
                    return self.issue(CompileErrorKind::OperationForm);
                };
                self.walk_operation(operator, operands, depth + 1)
            }
        }
    }

    fn walk_var(&mut self, values: &Json) -> Option<Node> {
        let Json::String(path) = values else {
            return self.issue(CompileErrorKind::VarForm);
        };
        // Fragments are non-empty and separated by single periods.
        if !path.is_empty() && path.split('.').any(str::is_empty) {
            return self.issue(CompileErrorKind::VarPath {
                var_path: path.clone(),
            });
        }
        let mut fragments: Vec<&str> = if path.is_empty() {
            Vec::new()
        } else {
            path.split('.').collect()
        };
        let mut scopes_up = 0;
        let mut lambda_depth = self.lambda_depth;
        let target = loop {
            if lambda_depth == 0 {
                break VarTarget::Context;
            }
            match fragments.first().copied() {
                None => break VarTarget::Context,
                Some("accumulator") => {
                    fragments.remove(0);
                    break VarTarget::Accumulator;
                }
                Some("current") => {
                    fragments.remove(0);
                    break VarTarget::Current;
                }
                Some("data") => {
                    fragments.remove(0);
                    scopes_up += 1;
                    lambda_depth -= 1;
                }
                Some(_) => break VarTarget::Nothing,
            }
        };
        let rest = fragments
            .into_iter()
            .map(|fragment| Segment {
                key: fragment.into(),
                index: parse_index(fragment),
                field_hint: AtomicUsize::new(0),
            })
            .collect();
        Some(Node::Var(VarAccess {
            scopes_up,
            target,
            rest,
            source: path.as_str().into(),
            in_reduce_lambda: self.lambda_depth > 0,
        }))
    }

    fn arity(&mut self, operator: &str, expected: &'static str, found: usize) -> Option<Node> {
        self.issue(CompileErrorKind::Arity {
            operator: operator.to_string(),
            expected,
            found,
        })
    }

    fn walk_operation(&mut self, operator: &str, operands: &[Json], depth: usize) -> Option<Node> {
        let count = operands.len();
        let location = || -> Location { self.pointer.as_str().into() };
        match operator {
            "if" => {
                let location = location();
                let arity_ok = count == 3 || self.arity(operator, "exactly 3", count).is_some();
                let nodes = self.walk_operands(operator, operands, 3, depth)?;
                let [guard, then, otherwise] = <[Node; 3]>::try_from(nodes).ok()?;
                arity_ok.then(|| Node::If(Box::new([guard, then, otherwise]), location))
            }
            "!" => {
                let location = location();
                if count != 1 {
                    return self.arity(operator, "exactly 1", count);
                }
                let operand = self.walk_operand(operator, 0, &operands[0], depth)?;
                Some(Node::Not(Box::new(operand), location))
            }
            "plusTime" => self.walk_plus_time(operands, depth),
            "reduce" => {
                let location = location();
                let arity_ok = count == 3 || self.arity(operator, "exactly 3", count).is_some();
                let operand = operands
                    .first()
                    .and_then(|operand| self.walk_operand(operator, 0, operand, depth));
                self.lambda_depth += 1;
                let lambda = operands
                    .get(1)
                    .and_then(|lambda| self.walk_operand(operator, 1, lambda, depth));
                self.lambda_depth -= 1;
                let initial = operands
                    .get(2)
                    .and_then(|initial| self.walk_operand(operator, 2, initial, depth));
                if !arity_ok {
                    return None;
                }
                Some(Node::Reduce(
                    Box::new([operand?, lambda?, initial?]),
                    location,
                ))
            }
            "extractFromUVCI" => {
                let location = location();
                let arity_ok = count == 2 || self.arity(operator, "exactly 2", count).is_some();
                let operand = operands
                    .first()
                    .and_then(|operand| self.walk_operand(operator, 0, operand, depth));
                let index = match operands.get(1) {
                    Some(index) => match Value::from_json(index) {
                        Value::Int(index) => Some(index),
                        _ => self.issue_at_operand(
                            operator,
                            1,
                            CompileErrorKind::ExtractIndex {
                                found: index.to_string(),
                            },
                        ),
                    },
                    None => None,
                };
                if !arity_ok {
                    return None;
                }
                Some(Node::ExtractFromUvci {
                    operand: Box::new(operand?),
                    index: index?,
                    location,
                })
            }
            "dccDateOfBirth" => {
                let location = location();
                if count != 1 {
                    return self.arity(operator, "exactly 1", count);
                }
                let operand = self.walk_operand(operator, 0, &operands[0], depth)?;
                Some(Node::DccDateOfBirth(Box::new(operand), location))
            }
            _ if INFIX_OPERATORS.contains(&operator) => self.walk_infix(operator, operands, depth),
            _ => self.issue(CompileErrorKind::UnknownOperator {
                operator: operator.to_string(),
            }),
        }
    }

    fn issue_at_operand<T>(
        &mut self,
        operator: &str,
        index: usize,
        kind: CompileErrorKind,
    ) -> Option<T> {
        let length_before = self.pointer.len();
        self.push_token(operator);
        self.push_token(&index.to_string());
        self.issue(kind);
        self.pointer.truncate(length_before);
        None
    }

    fn walk_plus_time(&mut self, operands: &[Json], depth: usize) -> Option<Node> {
        let operator = "plusTime";
        let location: Location = self.pointer.as_str().into();
        let count = operands.len();
        let arity_ok = count == 3 || self.arity(operator, "exactly 3", count).is_some();
        let operand = operands
            .first()
            .and_then(|operand| self.walk_operand(operator, 0, operand, depth));
        let amount = match operands.get(1) {
            Some(amount) => match Value::from_json(amount) {
                Value::Int(amount) => Some(amount),
                _ => self.issue_at_operand(
                    operator,
                    1,
                    CompileErrorKind::PlusTimeAmount {
                        found: amount.to_string(),
                    },
                ),
            },
            None => None,
        };
        let unit = match operands.get(2) {
            Some(unit) => match unit.as_str().and_then(TimeUnit::parse) {
                Some(unit) => Some(unit),
                None => self.issue_at_operand(
                    operator,
                    2,
                    CompileErrorKind::PlusTimeUnit {
                        found: unit.to_string(),
                    },
                ),
            },
            None => None,
        };
        if !arity_ok {
            return None;
        }
        Some(Node::PlusTime {
            operand: Box::new(operand?),
            amount: amount?,
            unit: unit?,
            location,
        })
    }

    fn walk_infix(&mut self, operator: &str, operands: &[Json], depth: usize) -> Option<Node> {
        let location: Location = self.pointer.as_str().into();
        let count = operands.len();
        let comparison = match operator {
            "<" | "before" => Some((Comparison::Less, operator == "before")),
            ">" | "after" => Some((Comparison::Greater, operator == "after")),
            "<=" | "not-after" => Some((Comparison::LessOrEqual, operator == "not-after")),
            ">=" | "not-before" => Some((Comparison::GreaterOrEqual, operator == "not-before")),
            _ => None,
        };
        let (arity_ok, max) = match (operator, comparison) {
            ("and", _) => (
                count >= 2 || self.arity(operator, "at least 2", count).is_some(),
                count,
            ),
            (_, Some(_)) => (
                (2..=3).contains(&count) || self.arity(operator, "2 or 3", count).is_some(),
                3,
            ),
            _ => (
                count == 2 || self.arity(operator, "exactly 2", count).is_some(),
                2,
            ),
        };
        let nodes = self.walk_operands(operator, operands, max, depth)?;
        if !arity_ok {
            return None;
        }
        if let Some((comparison, date_time)) = comparison {
            return Some(Node::Compare {
                comparison,
                date_time,
                operator: static_operator_name(operator),
                operands: nodes.into_boxed_slice(),
                location,
            });
        }
        if operator == "and" {
            return Some(Node::And(nodes.into_boxed_slice(), location));
        }
        let pair = Box::new(<[Node; 2]>::try_from(nodes).ok()?);
        match operator {
            "===" => Some(Node::Equal(pair)),
            "in" => Some(Node::In(pair, location)),
            _ => Some(Node::Plus(pair, location)),
        }
    }
}

fn static_operator_name(operator: &str) -> &'static str {
    INFIX_OPERATORS
        .iter()
        .find(|known| **known == operator)
        .copied()
        .unwrap_or("comparison")
}

/// A fragment is an array index when it is a plain decimal number.
fn parse_index(fragment: &str) -> Option<usize> {
    if fragment.bytes().all(|byte| byte.is_ascii_digit()) {
        fragment.parse().ok()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check_error(expr: Json, path: &str, message_part: &str) {
        let error = Expr::compile(&expr).expect_err("should not compile");
        assert_eq!(error.path, path, "{error}");
        let text = error.to_string();
        assert!(
            text.contains(message_part),
            "{text:?} lacks {message_part:?}"
        );
        assert!(
            text.contains(&pointer_label(path)),
            "{text:?} lacks the location"
        );
    }

    #[test]
    fn bad_input_names_the_location() {
        check_error(json!(null), "", "invalid CertLogic expression");
        check_error(json!(3.5), "", "3.5 is a non-integer number");
        check_error(
            json!({"and": [true, {"if": [{"nope": [1]}, 1, 2]}]}),
            "/and/1/if/0",
            "unrecognised operator: \"nope\"",
        );
        check_error(
            json!({"and": [true]}),
            "",
            "must have at least 2 operands, but it has 1",
        );
        check_error(
            json!({"if": [true, 1]}),
            "",
            "must have exactly 3 operands, but it has 2",
        );
        check_error(json!({"!": [1, 2]}), "", "exactly 1 operands, but it has 2");
        check_error(
            json!({"<": [1, 2, 3, 4]}),
            "",
            "2 or 3 operands, but it has 4",
        );
        check_error(json!({"===": [1]}), "", "exactly 2 operands, but it has 1");
        check_error(
            json!([1, {"in": [1, {"var": 3}]}]),
            "/1/in/1",
            "not of the form { \"var\": \"<path>\" }",
        );
        check_error(
            json!({"var": "a..b"}),
            "",
            "data access path doesn't have a valid format: a..b",
        );
        check_error(
            json!({"plusTime": [{"var": "x"}, "1", "day"]}),
            "/plusTime/1",
            "\"amount\" argument (#2)",
        );
        check_error(
            json!({"plusTime": [{"var": "x"}, 1, "week"]}),
            "/plusTime/2",
            "\"unit\" argument (#3)",
        );
        check_error(
            json!({"extractFromUVCI": [{"var": "x"}, 1.5]}),
            "/extractFromUVCI/1",
            "\"index\" argument (#2)",
        );
        check_error(
            json!({"reduce": [[], {"+": 1}, 0]}),
            "/reduce/1",
            "operation not of the form",
        );
        check_error(
            json!({"a/b~": [1], "c": 2}),
            "",
            "exactly one key, but it has 2",
        );
        check_error(
            json!({"and": [true, {"x/y": [1]}]}),
            "/and/1",
            "unrecognised operator: \"x/y\"",
        );
    }

    #[test]
    fn nesting_is_bounded() {
        let mut expr = json!(true);
        for _ in 0..200 {
            expr = json!({"!": [expr]});
        }
        check_error(
            expr.clone(),
            &"/!/0".repeat(EXPRESSION_DEPTH_MAX),
            "nested more than",
        );
        assert_eq!(validate(&expr).len(), 1);
    }

    #[test]
    fn validate_reports_every_issue() {
        let issues = validate(&json!({"and": [{"var": 1}, null, {"foo": []}]}));
        let paths: Vec<&str> = issues.iter().map(|issue| issue.path.as_str()).collect();
        assert_eq!(paths, ["/and/0", "/and/1", "/and/2"]);
    }

    #[test]
    fn data_accesses_lists_every_var() {
        let expr = Expr::compile(&json!({"and": [
            {"var": "payload.v.0.dt"},
            {"reduce": [{"var": "items"}, {"+": [{"var": "accumulator"}, {"var": "data.z"}]}, 0]}
        ]}))
        .unwrap();
        let accesses: Vec<(String, bool)> = expr
            .data_accesses()
            .into_iter()
            .map(|access| (access.path, access.in_reduce_lambda))
            .collect();
        assert_eq!(
            accesses,
            [
                ("payload.v.0.dt".to_string(), false),
                ("items".to_string(), false),
                ("accumulator".to_string(), true),
                ("data.z".to_string(), true),
            ]
        );
    }
}
