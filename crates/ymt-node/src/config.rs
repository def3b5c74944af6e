//! Server configuration: where data lives, where to listen, and every limit.

use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Clone, Debug)]
pub struct ServerConfig {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    /// Bytes of one request body.
    pub body_bytes_max: usize,
    /// Events in one `POST /v1/events:batch`.
    pub batch_events_max: usize,
    /// Requests served at once; more are refused with 503 at once rather
    /// than queued without bound.
    pub concurrent_requests_max: usize,
    /// How far in the future an event's instants may lie (clock skew of the
    /// submitting device).
    pub future_skew_secs: i64,
    /// Write a projection snapshot after this many newly stored events.
    pub snapshot_every_events: u64,
    /// Read-audit records waiting to be written; past this, reads are
    /// refused (503) rather than served unaudited.
    pub audit_queue_max: usize,
    /// Persons evaluated by one impact preview.
    pub impact_persons_max: usize,
    /// The hex pseudonymisation secret; when absent it is read from (or
    /// created in) `data_dir/pseudonym.secret`.
    pub pseudonym_secret_hex: Option<String>,
    /// Threads used for bulk re-evaluation (a rebuild, a designation, many
    /// transitions due at once). Defaults to the machine's parallelism.
    pub worker_threads: usize,
    /// Events of one person whose instants lie within one window of
    /// `person_events_window_secs`; a batch that would put more there is
    /// refused before anything is stored. Rule cost grows with a person's
    /// events (a rule over tests that reads every test is quadratic), so
    /// this bounds what one timeline can cost, and rule sets are checked
    /// against a timeline this full (`ymt_rules::stress`).
    pub person_events_per_window_max: usize,
    /// The window of `person_events_per_window_max`.
    pub person_events_window_secs: i64,
    /// Venues, check-in retention, automatic tracing, risk areas and the
    /// circuit breaker.
    pub tracing: TracingConfig,
}

/// The default of [`ServerConfig::person_events_per_window_max`]: far more
/// than anyone's tests, designations and check-ins of one day, and far
/// less than what makes the national rules exceed their budget (about
/// 1,000 tests in one window).
pub const PERSON_EVENTS_PER_WINDOW_MAX_DEFAULT: usize = 200;
/// The default of [`ServerConfig::person_events_window_secs`]: one day.
pub const PERSON_EVENTS_WINDOW_SECS_DEFAULT: i64 = 86_400;

impl ServerConfig {
    pub fn new(data_dir: PathBuf) -> ServerConfig {
        ServerConfig {
            data_dir,
            listen: "127.0.0.1:8080".parse().expect("a valid address"),
            body_bytes_max: 8 * 1024 * 1024,
            batch_events_max: 10_000,
            concurrent_requests_max: 1024,
            future_skew_secs: 300,
            snapshot_every_events: 200_000,
            audit_queue_max: 100_000,
            impact_persons_max: 2_000_000,
            pseudonym_secret_hex: None,
            person_events_per_window_max: PERSON_EVENTS_PER_WINDOW_MAX_DEFAULT,
            person_events_window_secs: PERSON_EVENTS_WINDOW_SECS_DEFAULT,
            worker_threads: std::thread::available_parallelism()
                .map(usize::from)
                .unwrap_or(1),
            tracing: TracingConfig::default(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct TracingConfig {
    /// Check-ins whose stay ended longer ago than this are purged.
    pub checkin_retention_days: i64,
    /// How often the retention purge runs (it also runs at start).
    pub retention_interval_secs: u64,
    /// Whether contacts of new close contacts are designated (次密接); the
    /// rule set's `tracingSecondaryLookbackDays` may also turn it off.
    pub secondary_contacts_enabled: bool,
    /// Designations one positive result may cause; more is refused (and
    /// logged) rather than flooding the store.
    pub contacts_per_case_max: usize,
    /// Actions changing more persons' colors than this wait for a second
    /// principal's approval.
    pub breaker_persons_max: usize,
    /// Persons one risk-area designation or bulk override may reach.
    pub action_persons_max: usize,
}

impl Default for TracingConfig {
    fn default() -> TracingConfig {
        TracingConfig {
            checkin_retention_days: 21,
            retention_interval_secs: 3600,
            secondary_contacts_enabled: true,
            contacts_per_case_max: 100_000,
            breaker_persons_max: 10_000,
            action_persons_max: 2_000_000,
        }
    }
}

/// Creates the node's data directory readable by its owner only (0700 on
/// Unix): it holds the pseudonymisation secret, signing keys, the store and
/// snapshots. An existing directory is narrowed to 0700 too.
pub fn create_private_dir(path: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}
