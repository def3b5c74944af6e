//! Services on the same platform (docs/services.md), end to end: golden
//! scenarios of the hospital rule set (every lane, its reasons, the timed
//! transitions) and of the care-visit rule set (every visit decision, a
//! profile within its bounds, the roster), a consent given, used and
//! revoked with its audit records (`scenarios.rs`), and what an attacker
//! cannot do (`attacks.rs`). One test binary; `world.rs` is its set-up.

#[path = "../support/mod.rs"]
mod support;

mod attacks;
mod scenarios;
mod world;
