//! The yimatong node: HTTP API, live status projection, timed transitions,
//! authorities and audit. Only this crate knows HTTP and JSON wire formats.

pub mod api;
pub mod auth;
pub mod breaker;
pub mod clock;
pub mod codes;
pub mod config;
pub mod confirmations;
pub mod dashboard;
pub mod openapi;
pub mod pages;
pub mod problem;
pub mod projection;
pub mod pseudonym;
pub mod risk;
pub mod state;
pub mod tracing_service;
pub mod venues;

pub use api::router;
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::ServerConfig;
pub use state::AppState;
