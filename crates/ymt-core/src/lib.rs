//! Domain types of yimatong: instants, colors, identifiers, events and the
//! facts derived from them.
//!
//! This crate is pure: it performs no I/O and never reads the clock or a
//! random source. Every instant is passed in by the caller.

pub mod color;
pub mod identity;
pub mod ids;
#[cfg(feature = "openapi")]
pub mod openapi;
pub mod text;
pub mod time;

pub use color::Color;
pub use ids::{EventId, IdError, PersonId, RegionCode, VenueId};
pub use text::{PlainText, TextError};
pub use time::{Timestamp, TimestampError};

pub mod event;
pub mod facts;
pub mod risk_area;

pub use event::{Event, EventBody, EventError, EventKind};
pub use facts::Facts;
