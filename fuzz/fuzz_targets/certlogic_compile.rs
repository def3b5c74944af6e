//! Fuzzes CertLogic: validation and compilation of any JSON expression, and
//! evaluation of what compiles against data from the same input. The step
//! budget must end every evaluation; no input may panic or hang.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ymt_rules::certlogic::{Expr, Value, validate};

fuzz_target!(|data: &[u8]| {
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let (expression, context) = match &json {
        serde_json::Value::Array(items) if items.len() == 2 => (&items[0], Some(&items[1])),
        other => (other, None),
    };
    let issues = validate(expression);
    match Expr::compile(expression) {
        Ok(compiled) => {
            assert!(issues.is_empty(), "compiled an expression validate refuses");
            let _ = compiled.data_accesses();
            let data = context.map(Value::from_json).unwrap_or_else(Value::null);
            let _ = compiled.eval(&data);
            let _ = compiled.eval_observed(&data, &mut |_| {});
        }
        Err(_) => assert!(!issues.is_empty(), "refused an expression validate accepts"),
    }
});
