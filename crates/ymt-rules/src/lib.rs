//! The rules engine: a CertLogic evaluator, rule sets with bounded parameters,
//! and self-explaining decisions over a person's facts.
//!
//! Pure: no I/O, no clock. `now` is always an argument.

pub mod certlogic;
pub mod decision;
pub mod facts_value;
pub mod impact;
pub mod ruleset;
pub mod stress;

pub use decision::{CompiledRules, Decision, EvaluateError, FiredRule, evaluate};
pub use ruleset::{ParameterProfile, PublishError, RuleSet};
