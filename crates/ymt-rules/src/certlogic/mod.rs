//! CertLogic: the EU DCC business-rules language (a JsonLogic subset).

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
