//! CertLogic: the EU DCC business-rules language, a subset of JsonLogic,
//! implemented from its specification (version 1.3.2, which adds
//! `dccDateOfBirth` and partial dates to 1.2.x) with our patched `reduce`.
//!
//! # Use
//!
//! ```
//! use serde_json::json;
//! use ymt_rules::certlogic::{Expr, Value};
//!
//! let rule = Expr::compile(&json!({"after": [
//!     {"plusTime": [{"var": "tested_at"}, 48, "hour"]},
//!     {"var": "now"}
//! ]}))?;
//! let facts = Value::object([
//!     ("tested_at", Value::date_time_unix_secs(1_700_000_000)),
//!     ("now", Value::date_time_unix_secs(1_700_100_000)),
//! ]);
//! assert_eq!(rule.eval(&facts)?, Value::bool(true));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Design
//!
//! **Compile once, evaluate many times.** [`Expr::compile`] turns JSON into
//! a tree of nodes: operators are resolved to enum variants, `var` paths are
//! split into fragments (with array indices pre-parsed), `plusTime` amounts
//! and units and `extractFromUVCI` indices are checked and stored, and
//! arrays of literals are built once. Evaluation never touches JSON and
//! never builds strings to look data up. The same walker that compiles also
//! backs [`validate`], so the two always agree; `validate` lists every issue
//! (JSON pointer + message, matching the reference validator's messages),
//! `compile` fails with the first.
//!
//! **Value model.** [`Value`] is JSON plus a date-time. Strings, arrays and
//! objects sit behind `Arc`, so cloning is cheap. Objects keep their fields
//! sorted and are searched linearly when small (facts have about ten
//! fields); every `var` fragment additionally remembers at which position it
//! last found its field, so inside a `reduce` over objects of one shape each
//! lookup is a single comparison. Operands are evaluated to borrowed values
//! wherever they already exist (literals, data), so the hot path neither
//! allocates nor touches reference counts. Integral JSON numbers (`42.0`
//! too) are integers, as in JavaScript.
//!
//! **Truthiness** is CertLogic's, which is narrower than JavaScript's:
//! falsy are `false`, `null`, `""`, `0`, `[]`, `{}`; truthy are `true`,
//! non-empty strings, non-zero numbers, non-empty arrays and objects.
//! Date-times are neither, and `if`, `and` and `!` fail on such a value.
//!
//! **Date-times** are UTC instants with millisecond resolution
//! ([`DateTime`]). `plusTime` parses every format of the specification
//! (`YYYY`, `YYYY-MM`, `YYYY-MM-DD`, and date-times with optional fraction
//! and offset; no offset means UTC; digits beyond milliseconds are cut) and
//! offsets with JavaScript `Date` semantics as the specification prescribes:
//! hours and days are fixed lengths, months and years keep the day of month
//! and let it overflow (2020-02-29 + 1 year = 2021-03-01). Partial dates are
//! read like `dccDateOfBirth` reads them: the last day they allow. Invalid
//! calendar dates (2021-02-30) are errors. Callers can hand in instants
//! directly with [`Value::date_time_unix_secs`]; such a value equals and
//! compares with the date-time that `plusTime` makes of the same instant,
//! and prints as `YYYY-MM-DDThh:mm:ss.sssZ`. As an extension, `plusTime`
//! also accepts a date-time value as its first operand, so facts need not
//! be re-parsed on every evaluation.
//!
//! **Patched reduce.** Inside the lambda of `reduce` the data context is
//! `{accumulator, current, data}`, where `data` is the data context of the
//! `reduce` itself (for a nested reduce: the enclosing lambda's context).
//! Paths are resolved at compile time to "n scopes up, then accumulator /
//! current / the data", so the context object is never built unless an
//! expression asks for all of it (`{"var": ""}` in a lambda). A `null`
//! operand reduces to the initial value, as in the reference implementation.
//!
//! **Observer.** [`Expr::eval_observed`] calls back with the instant of every
//! operand of every date-time comparison it evaluates (`after`, `before`,
//! `not-after`, `not-before`, two or three operands each). Branches skipped
//! by `if`/`and` are not evaluated and not reported; the result can only
//! change when one of the reported comparisons flips, so the reported
//! instants are the complete set of candidate change points. The evaluator
//! is generic over the observer: [`Expr::eval`] uses a no-op observer that
//! compiles away.
//!
//! **Equality.** `===` and `in` compare strings, integers, booleans and
//! `null` as JavaScript's `===` does. For arrays, objects and date-times
//! JavaScript compares object identity, which is meaningless for data parsed
//! from JSON; we compare contents (date-times by instant).
//!
//! **Data access.** A `var` fragment that is a plain decimal number indexes
//! arrays; other fragments look up object fields; anything else (a field of
//! a string, an index into an object with no such key) is `null`. Path
//! syntax is checked at compile time: fragments are non-empty.
//!
//! **Bounds.** Expressions nest at most [`EXPRESSION_DEPTH_MAX`] levels and
//! one evaluation takes at most [`EVALUATION_STEPS_MAX`] node evaluations
//! (nested reduces over large data multiply), so untrusted rules cannot
//! exhaust the stack or run unboundedly; `+` fails on 64-bit overflow and
//! `plusTime` on leaving JavaScript's date range. Every error names the JSON
//! pointer of the offending operation. Evaluation never panics (property
//! tested on arbitrary JSON).
//!
//! [`test_suite`] runs the official test-suite files (evaluator and
//! validation formats).

mod compile;
mod datetime;
mod eval;
pub mod test_suite;
mod value;

pub use compile::{
    CompileError, CompileErrorKind, DataAccess, EXPRESSION_DEPTH_MAX, Expr, ValidationIssue,
    validate,
};
pub use datetime::{DateTime, DateTimeParseError, TimeUnit};
pub use eval::{EVALUATION_STEPS_MAX, EvalError};
pub use value::{Object, Value};
