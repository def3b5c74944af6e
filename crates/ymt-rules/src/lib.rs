//! The rules engine: a CertLogic evaluator, rule sets with bounded parameters,
//! and self-explaining decisions over a person's facts.
//!
//! Pure: no I/O, no clock. `now` is always an argument.

pub mod certlogic;
