//! Property tests: compiling, validating and evaluating arbitrary JSON
//! never panics, and the compiler and validator agree.

use proptest::prelude::*;
use serde_json::{Map, Value as Json};
use ymt_rules::certlogic::{Expr, Value, validate};

const OPERATORS: &[&str] = &[
    "var",
    "if",
    "===",
    "and",
    "<",
    ">",
    "<=",
    ">=",
    "in",
    "+",
    "!",
    "reduce",
    "after",
    "before",
    "not-after",
    "not-before",
    "plusTime",
    "dccDateOfBirth",
    "extractFromUVCI",
    "or",
    "",
];

const STRINGS: &[&str] = &[
    "",
    "x",
    "x.0",
    "a.b",
    "current",
    "accumulator",
    "data.x",
    "data",
    "0",
    "1",
    "day",
    "year",
    "month",
    "hour",
    "2021",
    "2021-02",
    "2021-06-01",
    "2021-06-01T10:00:00+01:00",
    "2020-02-29",
    "URN:UVCI:01:NL:187/37512422923",
    "x.",
    ".x",
    "current.x",
    "data.data.x",
];

fn leaf() -> impl Strategy<Value = Json> {
    prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::Bool),
        (-3i64..40).prop_map(Json::from),
        any::<i64>().prop_map(Json::from),
        (-1e3f64..1e3).prop_map(Json::from),
        prop::sample::select(STRINGS).prop_map(Json::from),
        ".{0,8}".prop_map(Json::from),
    ]
}

/// JSON biased towards CertLogic-shaped operations.
fn expression() -> impl Strategy<Value = Json> {
    leaf().prop_recursive(6, 64, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Json::Array),
            (
                prop::sample::select(OPERATORS),
                prop::collection::vec(inner.clone(), 0..4)
            )
                .prop_map(|(operator, operands)| {
                    let mut object = Map::new();
                    object.insert(operator.to_string(), Json::Array(operands));
                    Json::Object(object)
                }),
            (prop::sample::select(STRINGS), inner.clone()).prop_map(|(key, value)| {
                let mut object = Map::new();
                object.insert(key.to_string(), value);
                Json::Object(object)
            }),
            prop::sample::select(STRINGS).prop_map(|path| serde_json::json!({ "var": path })),
        ]
    })
}

const VALID_PATHS: &[&str] = &[
    "",
    "x",
    "x.0",
    "a.b",
    "current",
    "accumulator",
    "data.x",
    "data",
    "0",
    "1",
    "current.x",
    "data.data.x",
    "current.at",
    "dob",
    "d",
];

/// Well-formed expressions: every operator with a correct arity, so that
/// evaluation (not only compilation) is exercised on arbitrary data.
fn well_formed() -> impl Strategy<Value = Json> {
    let leaf = prop_oneof![
        any::<bool>().prop_map(Json::Bool),
        (-3i64..40).prop_map(Json::from),
        prop::sample::select(STRINGS).prop_map(Json::from),
        prop::sample::select(VALID_PATHS).prop_map(|path| serde_json::json!({ "var": path })),
    ];
    leaf.prop_recursive(6, 64, 3, |inner| {
        let unit = prop::sample::select(&["year", "month", "day", "hour"][..]);
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Json::Array),
            (inner.clone(), inner.clone(), inner.clone())
                .prop_map(|(a, b, c)| serde_json::json!({"if": [a, b, c]})),
            (
                prop::sample::select(&["===", "in", "+"][..]),
                inner.clone(),
                inner.clone()
            )
                .prop_map(|(operator, a, b)| serde_json::json!({ operator: [a, b] })),
            prop::collection::vec(inner.clone(), 2..4)
                .prop_map(|operands| serde_json::json!({ "and": operands })),
            (
                prop::sample::select(
                    &[
                        "<",
                        ">",
                        "<=",
                        ">=",
                        "after",
                        "before",
                        "not-after",
                        "not-before"
                    ][..]
                ),
                prop::collection::vec(inner.clone(), 2..4)
            )
                .prop_map(|(operator, operands)| serde_json::json!({ operator: operands })),
            inner.clone().prop_map(|a| serde_json::json!({"!": [a]})),
            (inner.clone(), -1000i64..1000, unit)
                .prop_map(|(a, amount, unit)| serde_json::json!({"plusTime": [a, amount, unit]})),
            inner
                .clone()
                .prop_map(|a| serde_json::json!({"dccDateOfBirth": [a]})),
            (inner.clone(), -1i64..6)
                .prop_map(|(a, index)| serde_json::json!({"extractFromUVCI": [a, index]})),
            (inner.clone(), inner.clone(), inner)
                .prop_map(|(a, b, c)| serde_json::json!({"reduce": [a, b, c]})),
        ]
    })
}

fn data() -> impl Strategy<Value = Json> {
    leaf().prop_recursive(4, 48, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Json::Array),
            prop::collection::vec((prop::sample::select(STRINGS), inner), 0..5).prop_map(
                |fields| Json::Object(
                    fields
                        .into_iter()
                        .map(|(key, value)| (key.to_string(), value))
                        .collect()
                )
            ),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn compile_and_eval_never_panic(expr in expression(), data in data()) {
        let issues = validate(&expr);
        match Expr::compile(&expr) {
            Ok(compiled) => {
                prop_assert!(issues.is_empty(), "compiled despite {issues:?}");
                let data = Value::from_json(&data);
                let plain = compiled.eval(&data);
                let mut instants = Vec::new();
                let observed = compiled.eval_observed(&data, &mut |instant| instants.push(instant));
                prop_assert_eq!(&plain, &observed);
                if let Ok(result) = plain {
                    let _ = result.to_json();
                }
                let _ = compiled.data_accesses();
            }
            Err(error) => {
                prop_assert!(!issues.is_empty());
                prop_assert_eq!(&issues[0].path, &error.path);
                prop_assert_eq!(&issues[0].message, &error.kind.to_string());
            }
        }
    }

    #[test]
    fn well_formed_expressions_compile_and_evaluate_without_panics(
        expr in well_formed(),
        data in data(),
    ) {
        prop_assert!(validate(&expr).is_empty(), "{expr}");
        let compiled = Expr::compile(&expr).unwrap();
        let data = Value::from_json(&data);
        let plain = compiled.eval(&data);
        let mut instants = 0usize;
        let observed = compiled.eval_observed(&data, &mut |_| instants += 1);
        prop_assert_eq!(plain, observed);
    }

    #[test]
    fn arbitrary_json_never_panics(expr in data(), data in data()) {
        let _ = validate(&expr);
        if let Ok(compiled) = Expr::compile(&expr) {
            let _ = compiled.eval(&Value::from_json(&data));
        }
    }

    #[test]
    fn date_strings_never_panic(text in "[0-9T:.+Z-]{0,32}", amount in any::<i64>()) {
        let expr = serde_json::json!({"plusTime": [{"var": ""}, amount, "month"]});
        let compiled = Expr::compile(&expr).unwrap();
        let _ = compiled.eval(&Value::string(&text));
        let dob = Expr::compile(&serde_json::json!({"dccDateOfBirth": [{"var": ""}]})).unwrap();
        let _ = dob.eval(&Value::string(&text));
    }
}
