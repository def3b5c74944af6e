//! ymt-trace: venue check-ins, a compact venue×time index and close-contact
//! tracing.
//!
//! - [`TraceIndex`]: the in-memory index. Persons and venues are interned to
//!   dense `u32` numbers; each stay takes 12 bytes (person, enter, leave as
//!   seconds after [`TIME_BASE_UNIX_SECS`]) grouped by venue and stay-length
//!   class and sorted by enter, plus 4 bytes in a person→stays table: about
//!   16 bytes per check-in plus the id tables. Built in bulk (parallel) or as
//!   check-ins arrive (pending buffer → delta run → main run).
//! - [`TraceIndex::trace`]: the close-contact query. For every positive `p`
//!   and every stay `a` of `p` (optionally only those entered before
//!   confirmation, and within a per-positive window), every stay `b` at the
//!   same venue with `b.person != p` and
//!   `min(a.leave, b.leave) - max(a.enter, b.enter) >= D` gives the pair
//!   `(p, b.person)`, with the longest overlap as evidence.
//! - [`TraceStore`]: the durable form, the check-in fast path. Check-ins are
//!   far too many to store as generic events, so they go to their own
//!   append-only, checksummed segment log under `DIR/checkins/` (see [`log`])
//!   that rebuilds the index on open, with torn-tail recovery and retention
//!   purge.
//! - [`TraceIndex::to_snapshot_bytes`] and [`TraceIndex::from_snapshot_bytes`]:
//!   the whole index (id numbering, runs, pending buffer) as versioned,
//!   checksummed bytes that restore in bulk, so a node restarts without
//!   replaying the log.
//! - [`csv`]: `checkins.csv` and `positives.csv` parsers (parallel parse,
//!   batch interning, errors by line number).

pub mod csv;
pub mod index;
pub mod intern;
pub mod log;
pub mod stay;
pub mod store;
pub mod trace;

pub use csv::{CsvError, CsvErrorKind, ImportOptions, ParseReport};
pub use index::{
    IndexError, IndexStats, RawStay, SNAPSHOT_FORMAT_VERSION, SNAPSHOT_MAGIC, SnapshotError,
    StayRecord, TraceIndex,
};
pub use intern::{FromDistinctError, Interner};
pub use log::{CheckinLog, LoadedLog, LogError, RecoveryReport};
pub use stay::{CheckIn, Stay, StayError, StayPolicy, TIME_BASE_UNIX_SECS};
pub use store::{ImportReport, PurgeReport, StoreError, TraceStore};
pub use trace::{ContactPair, Positive, ResolvedPair, TraceError, TraceQuery, TraceResult};
