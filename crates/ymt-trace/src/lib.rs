//! ymt-trace: venue check-ins, a compact venue×time index and close-contact
//! tracing.
//!
//! - [`TraceIndex`]: the in-memory index (about 16 bytes per check-in plus the
//!   id tables), built in bulk or as check-ins arrive.
//! - [`TraceIndex::trace`]: the close-contact query.
//! - [`TraceStore`]: the durable form, an append-only checksummed log under
//!   `DIR/checkins/` that rebuilds the index on open, with retention purge.
//! - [`csv`]: `checkins.csv` and `positives.csv` parsers.

pub mod csv;
pub mod index;
pub mod intern;
pub mod log;
pub mod stay;
pub mod store;
pub mod trace;

pub use csv::{CsvError, CsvErrorKind, ImportOptions, ParseReport};
pub use index::{IndexError, IndexStats, RawStay, StayRecord, TraceIndex};
pub use intern::Interner;
pub use log::{CheckinLog, LoadedLog, LogError, RecoveryReport};
pub use stay::{CheckIn, Stay, StayError, StayPolicy, TIME_BASE_UNIX_SECS};
pub use store::{ImportReport, PurgeReport, StoreError, TraceStore};
pub use trace::{ContactPair, Positive, ResolvedPair, TraceError, TraceQuery, TraceResult};
