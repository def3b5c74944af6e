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
    /// than queued without bound. Default: [`CONCURRENT_REQUESTS_PER_CORE`]
    /// per core.
    pub concurrent_requests_max: usize,
    /// Connections open at once; more are closed as they are accepted.
    pub connections_max: usize,
    /// Connections open at once from one client address (an IPv6 client
    /// counts by its /64), so one client cannot take every connection.
    pub connections_per_client_max: usize,
    /// How long a client may take to send a request's head once the
    /// connection waits for one; past it the connection is closed.
    pub header_read_timeout_ms: u64,
    /// How long a client may take to send a request's body once its head
    /// arrived; past it the request is answered 408 and the connection
    /// closed. The body is read before the request takes a concurrency slot.
    pub body_read_timeout_ms: u64,
    /// How long a kept-alive connection may stay idle between requests.
    pub idle_timeout_ms: u64,
    /// Bytes of request bodies being read at once, over all connections;
    /// past it a request is refused with 503 rather than buffered.
    pub body_bytes_in_flight_max: usize,
    /// The URL citizens reach the node at (`https://…`), when known: the
    /// session cookie is `Secure` under https, and a citizen's state-changing
    /// request must come from this origin. Without it, the origin must match
    /// the request's `Host`.
    pub public_url: Option<String>,
    /// The origins of the other nodes of the cluster (`scheme://host[:port]`,
    /// as [`parse_public_url`] makes them), at most [`PEER_URLS_MAX`]: the
    /// verifier page fails over to them when this node cannot answer, so
    /// they may call this node's API from their pages with a bearer key
    /// (CORS, never with a cookie).
    pub peer_urls: Vec<String>,
    /// Citizen sign-in: limits against guessing one-time codes and against
    /// floods of sessions.
    pub sign_in: SignInConfig,
    /// Citizen sign-in through an OpenID provider (the national identity
    /// service); `None`: only the demo's one-time code, if any.
    pub oidc: Option<OidcConfig>,
    /// Open appeals about one person; a further one is refused (429) until
    /// one is resolved.
    pub open_appeals_per_person_max: usize,
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
    /// Whether the store fsyncs each commit before acknowledging it. True
    /// for every node that serves anyone ("an acknowledged write is
    /// durable"); false only for the policy simulator's node in the loop
    /// (`ymt-sim`), whose data need not survive. It runs the same rules,
    /// tracing and risk-area code either way.
    pub store_sync_commits: bool,
    /// Whether a batch may leave out, from screening and re-evaluation, a
    /// person whose new events in it are all check-ins the rules in force
    /// cannot observe (no rule set in force reads check-ins, and no risk
    /// area that is not low risk lists the venue over the stay): the facts the rules read are unchanged, so the
    /// decision stands. False for every node that serves anyone: such a
    /// person's timeline is not read, so the per-person cap is not checked
    /// for them, and their decision keeps its older `evaluated_at`. True only
    /// for the policy simulator's node in the loop (`ymt-sim`), whose persons
    /// are bounded by construction; it still runs the same rules, tracing and
    /// risk-area code on every person whose inputs changed. While no
    /// check-in can change any decision (no rule set reads them, every risk
    /// area is low risk or there is none), the timelines read to decide
    /// persons also leave out the check-ins unparsed, and the per-person cap
    /// then counts only the other events.
    pub skip_unobserved_check_ins: bool,
    /// With [`ServerConfig::skip_unobserved_check_ins`], while timelines are
    /// read without their check-ins: keep the parsed events of up to this
    /// many persons in memory, so deciding a person reads from the store
    /// only the index of their events and the events stored since the last
    /// time (`timeline_cache.rs`; the kept events cannot go stale: an event
    /// never changes, a purged one leaves the index). 0 (the default, every
    /// serving node): nothing kept, every read from the store. The policy
    /// simulator's node keeps every person's.
    pub timeline_cache_persons_max: usize,
    /// In a cluster, `/readyz` fails while the replication lag is above
    /// this, so a load balancer takes a stale node out.
    pub replication_lag_max_ms: u64,
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
            concurrent_requests_max: concurrent_requests_max_default(),
            connections_max: 8192,
            connections_per_client_max: 256,
            header_read_timeout_ms: 10_000,
            body_read_timeout_ms: 30_000,
            idle_timeout_ms: 60_000,
            body_bytes_in_flight_max: 512 * 1024 * 1024,
            public_url: None,
            peer_urls: Vec::new(),
            sign_in: SignInConfig::default(),
            oidc: None,
            open_appeals_per_person_max: 5,
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
            store_sync_commits: true,
            skip_unobserved_check_ins: false,
            timeline_cache_persons_max: 0,
            replication_lag_max_ms: 2_000,
        }
    }
}

/// This node as a client (relying party) of an OpenID provider. Pure data:
/// ymt-http talks to the provider. The redirect URI registered at the
/// provider is `<public_url>/v1/session/oidc/callback`.
#[derive(Clone)]
pub struct OidcConfig {
    /// The provider's issuer URL, exactly as its discovery document names it.
    pub issuer_url: String,
    pub client_id: String,
    /// The client secret (read from a file by the binary, never logged).
    pub client_secret: String,
    /// The ID-token claim carrying the real-name-verified ID document number.
    pub id_number_claim: String,
    /// The kind of document that number is.
    pub id_type: ymt_core::identity::IdType,
}

impl std::fmt::Debug for OidcConfig {
    // The secret stays out of every log and panic message.
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("OidcConfig")
            .field("issuer_url", &self.issuer_url)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("id_number_claim", &self.id_number_claim)
            .field("id_type", &self.id_type)
            .finish()
    }
}

/// Limits of citizen sign-in. Failures are counted per ID number (its pid)
/// and per client address; past the free attempts each further failure
/// doubles a lockout, during which every attempt is refused with 429 and
/// Retry-After, the right code included. A success clears the person's
/// count. The tables are bounded; when one is full of live entries, new
/// keys are refused (429) rather than evicting what protects others.
#[derive(Clone, Debug)]
pub struct SignInConfig {
    /// Failed attempts for one ID number before the lockout starts.
    pub failures_per_person_free: u32,
    /// Failed attempts from one client address before the lockout starts.
    pub failures_per_client_free: u32,
    /// The first lockout; each further failure doubles it.
    pub lockout_first_secs: i64,
    /// The longest lockout.
    pub lockout_max_secs: i64,
    /// A count is forgotten this long after its last failure.
    pub failures_forgotten_after_secs: i64,
    /// ID numbers and client addresses tracked at once (each table).
    pub tracked_max: usize,
    /// Sessions of one person at once; a further sign-in ends their oldest.
    pub sessions_per_person_max: usize,
    /// Sessions at once; when full of live sessions, sign-in is refused
    /// (503) rather than signing anybody else out.
    pub sessions_max: usize,
}

impl Default for SignInConfig {
    fn default() -> SignInConfig {
        SignInConfig {
            failures_per_person_free: 5,
            failures_per_client_free: 20,
            lockout_first_secs: 30,
            lockout_max_secs: 3600,
            failures_forgotten_after_secs: 24 * 3600,
            tracked_max: 100_000,
            sessions_per_person_max: 5,
            sessions_max: 100_000,
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

/// Peer nodes a page may fail over to: a few, since a page tries them in turn.
pub const PEER_URLS_MAX: usize = 16;

/// Checks a public URL (`http://` or `https://`, a host, no path beyond `/`)
/// and returns its origin, `scheme://host[:port]`, lower-cased: the form a
/// browser's `Origin` header takes.
pub fn parse_public_url(url: &str) -> Result<String, crate::NodeError> {
    let bad = || {
        crate::NodeError::invalid(format!(
            "public URL {url:?}: expected http(s)://host[:port] with no path"
        ))
    };
    let lower = url.trim().to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"))
        .ok_or_else(bad)?;
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']');
    if authority.is_empty() || authority.len() > 255 || !authority.chars().all(allowed) {
        return Err(bad());
    }
    Ok(lower[..lower.len() - rest.len()].to_owned() + authority)
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

/// Requests in flight per core before shedding. The admitted latency is
/// about the requests in flight over the throughput (Little's law): at
/// about 20,000 requests/s per core (`yimatong bench surge`, 1 core), 64 in
/// flight queue for about 3 ms, and the measured admitted p99 under a
/// surge at 1.5 times capacity was 24 ms with 64 slots, 67 ms with 256 and
/// 220 ms with the former 1,024 (docs/surge.md).
pub const CONCURRENT_REQUESTS_PER_CORE: usize = 64;

/// [`CONCURRENT_REQUESTS_PER_CORE`] times the machine's cores.
pub fn concurrent_requests_max_default() -> usize {
    CONCURRENT_REQUESTS_PER_CORE
        * std::thread::available_parallelism()
            .map(usize::from)
            .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::parse_public_url;

    #[test]
    fn public_urls_reduce_to_their_origin_or_are_refused() {
        for (url, expect) in [
            ("https://ymt.example.cn", Some("https://ymt.example.cn")),
            ("HTTPS://YMT.example.cn/", Some("https://ymt.example.cn")),
            ("http://127.0.0.1:8080", Some("http://127.0.0.1:8080")),
            ("https://[::1]:8443", Some("https://[::1]:8443")),
            ("ymt.example.cn", None),
            ("https://", None),
            ("https://ymt.example.cn/citizen", None),
            ("https://user@ymt.example.cn", None),
            ("ftp://ymt.example.cn", None),
        ] {
            assert_eq!(parse_public_url(url).ok().as_deref(), expect, "{url}");
        }
    }
}
