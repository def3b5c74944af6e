//! `eval_observed` reports every threshold that `now` is compared against
//! (the other operands of date-time comparisons with a direct `now`
//! operand), and gives the same result as `eval`.

use serde_json::json;
use ymt_rules::certlogic::{Expr, Value};

const DAY_MILLIS: i64 = 86_400_000;

fn check(expr: serde_json::Value, data: &Value, expect_result: Value, expect_instants: &[i64]) {
    let compiled = Expr::compile(&expr).unwrap();
    let mut instants = Vec::new();
    let result = compiled
        .eval_observed(data, &mut |instant| instants.push(instant))
        .unwrap();
    assert_eq!(result, expect_result, "{expr}");
    assert_eq!(compiled.eval(data).unwrap(), result, "{expr}");
    assert_eq!(instants, expect_instants, "{expr}");
}

#[test]
fn reports_the_instants_of_every_comparison() {
    let now = Value::date_time_unix_secs(10 * 86_400);
    let data = Value::object([
        ("now", now),
        ("start", Value::string("1970-01-02")),
        (
            "tests",
            Value::array(vec![
                Value::object([("at", Value::date_time_unix_secs(86_400))]),
                Value::object([("at", Value::date_time_unix_secs(2 * 86_400))]),
            ]),
        ),
    ]);
    let start = || json!({"plusTime": [{"var": "start"}, 0, "day"]});
    for (operator, expect) in [
        ("after", false),
        ("before", true),
        ("not-after", true),
        ("not-before", false),
    ] {
        check(
            json!({ operator: [start(), {"var": "now"}] }),
            &data,
            Value::bool(expect),
            &[DAY_MILLIS],
        );
    }
    // A shifted `now` is not `now`: the comparison does not involve the
    // evaluation instant directly, so nothing is reported (rules may not
    // shift `now`; publishing refuses it).
    check(
        json!({"not-after": [start(), {"plusTime": [{"var": "now"}, -1, "hour"]}, {"plusTime": [{"var": "start"}, 365, "day"]}]}),
        &data,
        Value::bool(true),
        &[],
    );
    // Inside a reduce lambda, once per item, including instants handed in
    // as date-time values and the outer data reached through `data.`.
    check(
        json!({"reduce": [{"var": "tests"},
            {"if": [{"after": [{"plusTime": [{"var": "current.at"}, 72, "hour"]}, {"var": "data.now"}]}, true, {"var": "accumulator"}]},
            false]}),
        &data,
        Value::bool(false),
        &[4 * DAY_MILLIS, 5 * DAY_MILLIS],
    );
    // Integer comparisons report nothing; short-circuited operands neither.
    check(
        json!({"and": [{"<": [1, 2, 3]}, false, {"after": [start(), {"var": "now"}]}]}),
        &data,
        Value::bool(false),
        &[],
    );
}

#[test]
fn date_time_values_equal_parsed_ones() {
    let data = Value::object([
        ("handed", Value::date_time_unix_secs(1_622_505_600)),
        ("text", Value::string("2021-06-01T00:00:00Z")),
    ]);
    check(
        json!({"===": [{"var": "handed"}, {"plusTime": [{"var": "text"}, 0, "day"]}]}),
        &data,
        Value::bool(true),
        &[],
    );
    check(
        json!({"not-before": [{"var": "handed"}, {"plusTime": [{"var": "text"}, 0, "day"]}]}),
        &data,
        Value::bool(true),
        &[],
    );
}
