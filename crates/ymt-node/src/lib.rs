//! The yimatong node as a library: ingest, the live status projection,
//! timed transitions, snapshots, tracing, risk areas, the circuit breaker,
//! signed codes, sessions, appeals and audit. It knows nothing of HTTP:
//! `ymt-http` is one adapter over it, and tests and benchmarks drive it
//! directly.

pub mod appeals;
mod apply;
pub use apply::PersonRegistration;
pub mod auth;
pub mod background;
pub mod backup;
pub mod breaker;
pub mod care_homes;
pub mod checkins;
pub mod citizen_sessions;
pub mod clock;
pub mod codes;
pub mod color_hours;
pub mod color_polls;
pub mod command_chain;
pub mod config;
pub mod confirmations;
pub mod error;
mod evaluation;
pub mod history;
pub mod hospital;
mod import;
mod ingest;
mod ingest_screening;
pub mod key_revocation;
pub mod model;
mod open;
pub mod origins;
pub mod peer_snapshot;
pub mod person_counts;
mod presence;
pub mod principals;
pub mod projection;
pub mod pseudonym;
pub mod publication;
pub mod record;
pub mod replication;
pub mod replication_commands;
mod replication_origin;
pub mod replicator;
pub mod retention;
pub mod risk;
mod risk_commands;
pub mod risk_lift;
mod risk_reach;
mod scheduler;
pub mod services;
pub mod snapshot;
pub mod state;
pub mod status;
pub mod task_group;
mod timeline_cache;
pub mod tracing_plan;
mod tracing_reach;
pub mod tracing_service;
pub mod venue_registry;
pub mod venues;

pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{ServerConfig, SignInConfig};
pub use error::{ErrorKind, ItemError, NodeError};
pub use open::builtin_modules;
pub use state::{ModuleSnapshot, Node, NodeModule};
