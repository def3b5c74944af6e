//! CertLogic evaluation over realistic facts: a person with ~10 fields and
//! 20 or 200 test records, a rule that reduces over them comparing date-times.
//!
//! Run: `cargo bench -p ymt-rules --bench certlogic`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;
use ymt_rules::certlogic::{Expr, Value};

const NOW_UNIX_SECS: i64 = 1_700_000_000;

fn facts(items: i64) -> Value {
    let tests: Vec<Value> = (0..items)
        .map(|index| {
            Value::object([
                (
                    "kind",
                    Value::string(if index % 3 == 0 { "pcr" } else { "antigen" }),
                ),
                (
                    "result",
                    Value::string(if index % 7 == 0 {
                        "positive"
                    } else {
                        "negative"
                    }),
                ),
                (
                    "at",
                    Value::date_time_unix_secs(NOW_UNIX_SECS - index * 3_600),
                ),
                ("venue", Value::string("V-1100001")),
                ("region", Value::string("110101")),
                ("sequence", Value::int(index)),
            ])
        })
        .collect();
    Value::object([
        ("person", Value::string("P-0000000001")),
        ("region", Value::string("110101")),
        ("now", Value::date_time_unix_secs(NOW_UNIX_SECS)),
        ("dob", Value::string("1990-05")),
        ("vaccinations", Value::int(3)),
        ("contact", Value::bool(false)),
        ("exposures", Value::array(vec![])),
        ("travel", Value::array(vec![])),
        ("color", Value::string("green")),
        ("tests", Value::array(tests)),
    ])
}

/// Counts negative PCR tests from the last 48 hours, then requires one.
fn rule() -> serde_json::Value {
    json!({"if": [
        {"var": "tests.0"},
        {"<=": [1, {"reduce": [
            {"var": "tests"},
            {"+": [
                {"var": "accumulator"},
                {"if": [
                    {"and": [
                        {"===": [{"var": "current.result"}, "negative"]},
                        {"in": [{"var": "current.kind"}, ["pcr", "naat"]]},
                        {"after": [
                            {"plusTime": [{"var": "current.at"}, 48, "hour"]},
                            {"var": "data.now"}
                        ]}
                    ]},
                    1,
                    0
                ]}
            ]},
            0
        ]}]},
        false
    ]})
}

fn bench(criterion: &mut Criterion) {
    let rule_json = rule();
    let expr = Expr::compile(&rule_json).unwrap();
    for items in [20, 200] {
        let data = facts(items);
        assert_eq!(expr.eval(&data).unwrap(), Value::bool(true));
        criterion.bench_function(
            &format!("certlogic/eval reduce over {items} items"),
            |bencher| bencher.iter(|| expr.eval(black_box(&data)).unwrap()),
        );
        criterion.bench_function(
            &format!("certlogic/eval_observed reduce over {items} items"),
            |bencher| {
                bencher.iter(|| {
                    let mut earliest = i64::MAX;
                    let result = expr
                        .eval_observed(black_box(&data), &mut |instant| {
                            earliest = earliest.min(instant)
                        })
                        .unwrap();
                    (result, earliest)
                })
            },
        );
    }
    criterion.bench_function("certlogic/compile rule", |bencher| {
        bencher.iter(|| Expr::compile(black_box(&rule_json)).unwrap())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
