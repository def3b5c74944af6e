//! Signed health codes served by the node, citizen sign-in, appeals, and the
//! console's dashboard chart.
//!
//! On start the node opens (or creates) its key store under `DATA/keys`,
//! builds a [`CodeIssuer`] with the signing key and signs a trust list with
//! the store's trust-list signer. Citizens sign in through a pluggable
//! [`Authenticator`]; the demo one accepts a single fixed one-time code that
//! `yimatong serve --demo` prints (a real deployment plugs in SMS or the
//! national identity app). A session is a token every node of the cluster
//! verifies (`citizen_sessions.rs`) in an HttpOnly, SameSite=Strict cookie;
//! the node also keeps the sessions it opened, to bound them per person and
//! in all.

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use serde::{Deserialize, Serialize};
use ymt_core::{Color, PersonId, Timestamp};
use ymt_token::{CodeIssuer, KeyStore, Kid, Revocation, SignedTrustList, TrustList};

use crate::citizen_sessions::{
    ENDED_SESSIONS_PER_PERSON_MAX, EndedSessions, Session, SessionKey, SessionNonce,
    SessionRefused, SessionTable, SessionToken,
};
use crate::config::SignInConfig;
use crate::error::NodeError;

/// The issuer named in this node's codes and trust list.
pub const CODE_ISSUER_ID: &str = "ymt:cn";
/// Signed codes kept in the issuer's cache.
pub const CODE_CACHE_ENTRIES_MAX: usize = 100_000;
pub use crate::citizen_sessions::SESSION_TTL_SECS;
/// Hourly color points kept for the dashboard (two weeks), in memory and
/// in the store.
pub const COLOR_HISTORY_HOURS_MAX: usize = 14 * 24;
/// Characters of an appeal's text or a resolution note.
pub const APPEAL_TEXT_CHARS_MAX: usize = 2000;
/// Appeals on one page of a listing, at most.
pub const APPEALS_PAGE_MAX: usize = 500;
/// Appeals on one page of a listing when the caller does not say.
pub const APPEALS_PAGE_DEFAULT: usize = 100;
/// Check-ins and tests shown to a citizen.
pub const RECENT_EVENTS_MAX: usize = 10;
pub const META_APPEALS: &str = "appeals";
pub const SESSION_COOKIE: &str = "ymt_session";

/// Checks a citizen's one-time code. Implementations: the demo's fixed code;
/// in production an SMS or identity-app challenge.
pub trait Authenticator: Send + Sync {
    fn check(&self, pid: &PersonId, one_time_code: &str) -> bool;
    /// The one code of a demo, which the citizen page may hint at; `None`
    /// for every real authenticator (SMS, the national identity app).
    fn demo_code(&self) -> Option<&str> {
        None
    }
}

/// Demo sign-in: one fixed code for everybody, printed at start. Never for
/// production: anyone who knows an ID number and the code signs in.
pub struct DemoFixedCode {
    pub code: String,
}

impl Authenticator for DemoFixedCode {
    fn check(&self, _pid: &PersonId, one_time_code: &str) -> bool {
        // Constant-time comparison is unnecessary for a published code.
        !self.code.is_empty() && one_time_code.trim() == self.code
    }

    fn demo_code(&self) -> Option<&str> {
        Some(&self.code)
    }
}

/// How long a staff session (the console, signed in through the identity
/// provider) lasts: short, as it carries an authority's rights.
pub const STAFF_SESSION_TTL_SECS: i64 = 3600;
/// Staff sessions a node holds at once; past it a sign-in is refused (503).
pub const STAFF_SESSIONS_MAX: usize = 10_000;

struct StaffSession {
    principal_id: String,
    expires_at: Timestamp,
    /// The provider's ID token, the `id_token_hint` of the logout.
    id_token: String,
}

/// Failed sign-ins of one ID number or one client address.
#[derive(Clone, Copy)]
struct Failures {
    count: u32,
    last_failure: Timestamp,
    locked_until: Timestamp,
}

/// Failed sign-ins by key, bounded.
struct FailureTable<K> {
    entries: HashMap<K, Failures>,
}

impl<K: std::hash::Hash + Eq + Clone> FailureTable<K> {
    fn new() -> FailureTable<K> {
        FailureTable {
            entries: HashMap::new(),
        }
    }

    /// Seconds until `key` may try again, if it is locked out.
    fn locked_for_secs(&self, key: &K, now: Timestamp) -> Option<i64> {
        let failures = self.entries.get(key)?;
        let left = failures.locked_until.unix_secs() - now.unix_secs();
        (left > 0).then_some(left)
    }

    /// Counts a failure; false when the table is full of entries that may
    /// not be forgotten yet (the caller refuses rather than forgetting
    /// somebody's lockout).
    fn record(&mut self, key: &K, free: u32, config: &SignInConfig, now: Timestamp) -> bool {
        if !self.entries.contains_key(key) && self.entries.len() >= config.tracked_max {
            let forgotten_after = config.failures_forgotten_after_secs;
            self.entries.retain(|_, failures| {
                failures.locked_until > now
                    || failures.last_failure.plus_secs(forgotten_after) > now
            });
            if self.entries.len() >= config.tracked_max {
                return false;
            }
        }
        let forgotten_after = config.failures_forgotten_after_secs;
        let failures = self.entries.entry(key.clone()).or_insert(Failures {
            count: 0,
            last_failure: now,
            locked_until: now,
        });
        if failures.last_failure.plus_secs(forgotten_after) <= now {
            failures.count = 0;
        }
        failures.count = failures.count.saturating_add(1);
        failures.last_failure = now;
        if failures.count >= free.max(1) {
            let doublings = (failures.count - free.max(1)).min(30);
            let lockout = config
                .lockout_first_secs
                .max(1)
                .saturating_mul(1_i64 << doublings)
                .min(config.lockout_max_secs.max(1));
            failures.locked_until = now.plus_secs(lockout);
        }
        true
    }

    fn clear(&mut self, key: &K) {
        self.entries.remove(key);
    }
}

/// The throttle of citizen sign-in: failures per ID number (its pid) and per
/// client address, each with a lockout that doubles (see [`SignInConfig`]).
struct SignInThrottle {
    by_person: FailureTable<PersonId>,
    by_client: FailureTable<String>,
}

/// The trust list the node serves and verifies against, replaced whole
/// when a key is revoked.
pub struct TrustState {
    pub trust_list: Arc<TrustList>,
    pub signed_trust_list_json: Arc<str>,
}

/// The node's code-serving state.
pub struct Codes {
    pub issuer: CodeIssuer,
    /// How long a printed code (纸质码) lives: what the served trust list
    /// declares as its longest printed lifetime (docs/pages.md, "Printed
    /// codes").
    pub printed_code_lifetime_secs: i64,
    trust: RwLock<Arc<TrustState>>,
    /// The key store, taken only to revoke or add a key (never on a read
    /// path).
    key_store: Mutex<KeyStore>,
    /// Woken when the node starts signing with a key it generated (a
    /// revocation of its signing key), so that in a cluster it announces
    /// the new public key (`key_revocation::announce_signing_keys`).
    pub signing_key_changed: tokio::sync::Notify,
    authenticator: RwLock<Option<Arc<dyn Authenticator>>>,
    sign_in_config: SignInConfig,
    sessions: Mutex<SessionTable>,
    /// Makes and checks session tokens (derived from the secret the
    /// cluster's nodes share).
    session_key: SessionKey,
    /// Sessions ended, from `sessions_ended` records and local evictions.
    ended_sessions: Mutex<EndedSessions>,
    staff_sessions: Mutex<HashMap<String, StaffSession>>,
    throttle: Mutex<SignInThrottle>,
    /// The dashboard's hourly color counts, oldest first: loaded from the
    /// store once and recorded by the node every hour (color_hours.rs).
    pub color_history: Mutex<VecDeque<(i64, [i64; 3])>>,
    /// Whether `color_history` holds what the store holds.
    pub color_history_loaded: std::sync::atomic::AtomicBool,
    /// Every appeal's place, loaded from the store on first use
    /// (appeals.rs), so that filing and listing do not read every appeal.
    pub appeal_index: Mutex<Option<AppealIndex>>,
    /// Reads of a person's color by the page watching it (color_polls.rs).
    pub color_polls: Mutex<crate::color_polls::ColorPollLimiter>,
}

/// What the appeal index keeps of an appeal: enough to count a person's
/// open appeals, find a duplicate, route and sort, not its text.
#[derive(Clone, Debug)]
pub struct AppealEntry {
    pub id: String,
    pub pid: PersonId,
    pub region: Option<ymt_core::RegionCode>,
    pub filed_at: Timestamp,
    pub open: bool,
    /// A hash of the normalised text and the color appealed against (the
    /// grounds); equal grounds are then compared in full.
    pub grounds_hash: u64,
}

impl AppealEntry {
    /// The listing order: open first, then newest first, then by id.
    pub fn order_key(&self) -> (bool, std::cmp::Reverse<i64>, &str) {
        (
            !self.open,
            std::cmp::Reverse(self.filed_at.unix_secs()),
            self.id.as_str(),
        )
    }
}

/// Every appeal by id, and each person's appeal ids.
#[derive(Default, Debug)]
pub struct AppealIndex {
    pub by_id: HashMap<String, AppealEntry>,
    pub of_person: HashMap<PersonId, Vec<String>>,
}

impl AppealIndex {
    pub fn insert(&mut self, entry: AppealEntry) {
        let ids = self.of_person.entry(entry.pid.clone()).or_default();
        if !ids.contains(&entry.id) {
            ids.push(entry.id.clone());
        }
        self.by_id.insert(entry.id.clone(), entry);
    }

    pub fn remove(&mut self, id: &str) {
        if let Some(entry) = self.by_id.remove(id)
            && let Some(ids) = self.of_person.get_mut(&entry.pid)
        {
            ids.retain(|other| other != id);
            if ids.is_empty() {
                self.of_person.remove(&entry.pid);
            }
        }
    }

    pub fn of_person(&self, pid: &PersonId) -> impl Iterator<Item = &AppealEntry> {
        self.of_person
            .get(pid)
            .into_iter()
            .flatten()
            .filter_map(|id| self.by_id.get(id))
    }
}

impl Codes {
    /// Opens `data_dir/keys`, creating a signing key on first start.
    pub fn open(
        data_dir: &Path,
        sign_in_config: &SignInConfig,
        session_key: SessionKey,
        now: Timestamp,
    ) -> anyhow::Result<Codes> {
        let mut rng = ymt_token::rand_core::OsRng;
        let mut store = KeyStore::open(data_dir.join("keys"))?;
        if store.signing_kid().is_none() {
            store.generate(ymt_token::DEFAULT_ALGORITHM, CODE_ISSUER_ID, now, &mut rng)?;
        }
        let key = store.signing_key()?;
        let ttl = store.max_token_ttl_secs();
        let printed_code_lifetime_secs = store.max_printed_code_lifetime_secs();
        let trust = signed_trust_state(&mut store, now)?;
        Ok(Codes {
            issuer: CodeIssuer::new(CODE_ISSUER_ID, key, ttl, CODE_CACHE_ENTRIES_MAX),
            printed_code_lifetime_secs,
            trust: RwLock::new(Arc::new(trust)),
            key_store: Mutex::new(store),
            signing_key_changed: tokio::sync::Notify::new(),
            authenticator: RwLock::new(None),
            sign_in_config: sign_in_config.clone(),
            sessions: Mutex::new(SessionTable::default()),
            session_key,
            ended_sessions: Mutex::new(EndedSessions::default()),
            staff_sessions: Mutex::new(HashMap::new()),
            throttle: Mutex::new(SignInThrottle {
                by_person: FailureTable::new(),
                by_client: FailureTable::new(),
            }),
            color_history: Mutex::new(VecDeque::new()),
            color_history_loaded: std::sync::atomic::AtomicBool::new(false),
            appeal_index: Mutex::new(None),
            color_polls: Mutex::new(Default::default()),
        })
    }

    /// The trust list in force (what `/v1/trust-list` serves and what the
    /// node verifies codes against).
    pub fn trust(&self) -> Arc<TrustState> {
        Arc::clone(&self.trust.read())
    }

    /// Whether the key store holds a key of this kid, and whether it is
    /// revoked.
    pub fn key_state(&self, kid: &Kid) -> Option<bool> {
        self.key_store.lock().is_revoked(kid)
    }

    /// The key this node signs with: its kid and public key, and whether
    /// the store holds any revoked or retired key (a node signing with a
    /// key of its own making since: rotated after a revocation, or by
    /// `yimatong keys rotate`).
    pub fn signing_key_public(
        &self,
    ) -> Result<(ymt_token::VerifyingKey, Timestamp, bool), NodeError> {
        let store = self.key_store.lock();
        let key = store
            .signing_key()
            .map_err(|error| NodeError::internal(format!("key store: {error}")))?;
        let created_at = store
            .keys()
            .iter()
            .find(|record| record.kid == *key.kid())
            .map(|record| record.created_at)
            .ok_or_else(|| NodeError::internal("the signing key has no record"))?;
        let replaced_another = store
            .keys()
            .iter()
            .any(|record| record.revoked_at.is_some() || record.retired_at.is_some());
        Ok((key.verifying_key(), created_at, replaced_another))
    }

    /// A revocation in a cluster's stream order, at the approval's instant:
    /// as [`Codes::revoke_key`], and a kid this store does not hold yet is
    /// remembered as revoked (a peer's key whose announcement has not
    /// reached this node). Idempotent. Whether this node rotated to a new
    /// signing key (which it must announce).
    pub fn revoke_key_in_order(&self, kid: &Kid, at: Timestamp) -> Result<bool, NodeError> {
        let mut rng = ymt_token::rand_core::OsRng;
        let mut store = self.key_store.lock();
        let revocation = store
            .revoke_or_remember(kid, at, &mut rng)
            .map_err(|error| NodeError::internal(format!("key store: {error}")))?;
        let trust = signed_trust_state(&mut store, at)
            .map_err(|error| NodeError::internal(format!("trust list: {error}")))?;
        *self.trust.write() = Arc::new(trust);
        let rotated = revocation.is_some_and(|revocation| revocation.new_signing_key.is_some());
        if rotated {
            let key = store
                .signing_key()
                .map_err(|error| NodeError::internal(format!("key store: {error}")))?;
            self.issuer.set_signing_key(key);
            self.signing_key_changed.notify_one();
        }
        Ok(rotated)
    }

    /// Adds a peer node's announced public signing key to the keys the
    /// trust list names (durably), and serves a new list when it changed.
    /// A kid already known changes nothing: never un-revoked.
    pub fn add_announced_key(
        &self,
        key: &ymt_token::VerifyingKey,
        issuer: &str,
        created_at: Timestamp,
        at: Timestamp,
    ) -> Result<bool, NodeError> {
        let mut store = self.key_store.lock();
        let added = store
            .add_public(key, issuer, created_at)
            .map_err(|error| match error {
                ymt_token::KeyStoreError::BadIssuer | ymt_token::KeyStoreError::Full => {
                    NodeError::conflict(error.to_string())
                }
                other => NodeError::internal(format!("key store: {other}")),
            })?;
        if added {
            let trust = signed_trust_state(&mut store, at)
                .map_err(|error| NodeError::internal(format!("trust list: {error}")))?;
            *self.trust.write() = Arc::new(trust);
        }
        Ok(added)
    }

    /// Revokes a key at `now` (a compromised key): durably in the key store,
    /// then a new trust list (serial bumped) marking it revoked is put in
    /// force. When it was the signing key, the node signs with a new key from
    /// here on and drops every cached code, so each code is re-issued under
    /// the new key at the holder's next refresh.
    pub fn revoke_key(&self, kid: &Kid, now: Timestamp) -> Result<Revocation, NodeError> {
        let mut rng = ymt_token::rand_core::OsRng;
        let mut store = self.key_store.lock();
        let revocation = store
            .revoke(kid, now, &mut rng)
            .map_err(|error| match error {
                ymt_token::KeyStoreError::UnknownKid { .. } => {
                    NodeError::not_found(error.to_string())
                }
                other => NodeError::internal(format!("key store: {other}")),
            })?;
        let trust = signed_trust_state(&mut store, now)
            .map_err(|error| NodeError::internal(format!("trust list: {error}")))?;
        // The new list is in force before the new key signs, so no code
        // is handed out that the served list does not trust.
        *self.trust.write() = Arc::new(trust);
        if revocation.new_signing_key.is_some() {
            let key = store
                .signing_key()
                .map_err(|error| NodeError::internal(format!("key store: {error}")))?;
            self.issuer.set_signing_key(key);
        }
        Ok(revocation)
    }

    /// The sign-in method in force, if citizen sign-in is enabled.
    pub fn authenticator(&self) -> Option<Arc<dyn Authenticator>> {
        self.authenticator.read().clone()
    }

    /// Enables citizen sign-in with the given authenticator.
    pub fn set_authenticator(&self, authenticator: Arc<dyn Authenticator>) {
        *self.authenticator.write() = Some(authenticator);
    }

    /// Refuses (429 with Retry-After) a sign-in attempt while the ID number
    /// or the client address is locked out, before the code is checked, so
    /// that the right code does not end a lockout either.
    pub fn sign_in_allowed(
        &self,
        pid: &PersonId,
        client: &str,
        now: Timestamp,
    ) -> Result<(), NodeError> {
        let throttle = self.throttle.lock();
        let person = throttle.by_person.locked_for_secs(pid, now);
        let client_locked = throttle.by_client.locked_for_secs(&client.to_owned(), now);
        let Some(wait_secs) = person.max(client_locked) else {
            return Ok(());
        };
        let mut error = NodeError::rate_limited(format!(
            "too many failed sign-ins for this ID number or from this address; retry in {wait_secs} s"
        ));
        error.retry_after_secs = Some(u32::try_from(wait_secs).unwrap_or(u32::MAX));
        Err(error)
    }

    /// Counts a failed sign-in against the ID number and the client address.
    /// Refuses (429) when a table is full of entries that cannot be
    /// forgotten yet: under such a flood, failing closed protects the
    /// lockouts already counted.
    pub fn sign_in_failed(
        &self,
        pid: &PersonId,
        client: &str,
        now: Timestamp,
    ) -> Result<(), NodeError> {
        let config = &self.sign_in_config;
        let mut throttle = self.throttle.lock();
        let person = throttle
            .by_person
            .record(pid, config.failures_per_person_free, config, now);
        let client = throttle.by_client.record(
            &client.to_owned(),
            config.failures_per_client_free,
            config,
            now,
        );
        if person && client {
            Ok(())
        } else {
            Err(NodeError::rate_limited(
                "too many failed sign-ins on this node; retry later",
            ))
        }
    }

    /// A successful sign-in clears the person's failures (not the
    /// address's: one right guess does not pardon the others).
    pub fn sign_in_succeeded(&self, pid: &PersonId) {
        self.throttle.lock().by_person.clear(pid);
    }

    /// Opens a session for `pid`: its token. A person holds at most
    /// `sessions_per_person_max` sessions on this node (a further one ends
    /// their oldest, here); when the table is full of other persons' live
    /// sessions, or of sessions ended within their lifetime, the sign-in is
    /// refused (503) rather than signing anybody else out.
    pub fn new_session(&self, pid: PersonId, now: Timestamp) -> Result<String, NodeError> {
        let config = &self.sign_in_config;
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).map_err(|_| NodeError::internal("no randomness"))?;
        let nonce = SessionNonce::from_bytes(bytes);
        let token = self.session_key.mint(&pid, now, nonce);
        {
            // Ended sessions are remembered for a session's lifetime; a
            // loop of sign-ins and sign-outs would grow them without end.
            // One person's loop stops that person (429); only many
            // persons' fill the node's bound, and then sign-ins wait (503)
            // rather than anything ended being forgotten.
            let mut ended = self.ended_sessions.lock();
            let ended_max = 4 * config.sessions_max.max(1);
            if ended.len() >= ended_max
                || ended.ended_sessions_of(&pid) >= ENDED_SESSIONS_PER_PERSON_MAX
            {
                ended.prune(now);
            }
            if ended.ended_sessions_of(&pid) >= ENDED_SESSIONS_PER_PERSON_MAX {
                return Err(NodeError::rate_limited(
                    "this person opened and ended too many sessions in the last 8 hours; try again later",
                ));
            }
            if ended.len() >= ended_max {
                return Err(NodeError::unavailable(
                    "the node remembers as many ended sessions as it may; try again later",
                ));
            }
        }
        let mut sessions = self.sessions.lock();
        sessions.prune(now, config.sessions_max);
        let mut evicted = Vec::new();
        loop {
            let oldest_own = match sessions.of_person.get(&pid) {
                Some(ids) if ids.len() >= config.sessions_per_person_max.max(1) => ids.front(),
                _ => None,
            };
            let Some(oldest_own) = oldest_own.copied() else {
                break;
            };
            // Ended here only: the limit bounds this node's table. On
            // another node the token lasts until it expires or its person
            // signs out (ARCHITECTURE.md, "Citizen sessions").
            evicted.push(oldest_own);
            sessions.remove(oldest_own);
        }
        if sessions.by_id.len() >= config.sessions_max.max(1) {
            return Err(NodeError::unavailable(
                "the node holds as many citizen sessions as it may; try again later",
            ));
        }
        sessions.by_id.insert(
            nonce,
            Session {
                pid: pid.clone(),
                expires_at: now.plus_secs(SESSION_TTL_SECS),
            },
        );
        sessions.opened.push_back(nonce);
        let pid_of_evicted = pid.clone();
        sessions.of_person.entry(pid).or_default().push_back(nonce);
        // Both are leaf locks: the table is let go before the ended set is
        // taken.
        drop(sessions);
        let mut ended = self.ended_sessions.lock();
        for nonce in evicted {
            ended.end_session(nonce, &pid_of_evicted, now);
        }
        Ok(token)
    }

    /// The person signed in under a session token, while the session lasts:
    /// a token any node of the cluster made, not ended.
    pub fn session(&self, session_id: &str, now: Timestamp) -> Option<PersonId> {
        self.check_session(session_id, now)
            .ok()
            .map(|token| token.pid().clone())
    }

    /// The token of a live session, or why it is none.
    pub fn check_session(
        &self,
        session_id: &str,
        now: Timestamp,
    ) -> Result<SessionToken, SessionRefused> {
        let ended = self.ended_sessions.lock();
        crate::citizen_sessions::check_session(&self.session_key, &ended, session_id, now)
    }

    /// Forgets a session in this node's table (its end travels as a
    /// `sessions_ended` record: `Node::end_session`).
    pub fn end_session(&self, session_id: &str) {
        if let Some(token) = SessionToken::parse(session_id) {
            self.sessions.lock().remove(token.nonce());
        }
    }

    /// Notes one session ended (applied from `Record::SessionsEnded` naming
    /// it, on every node).
    pub fn end_one_session(&self, nonce: SessionNonce, pid: &PersonId, ended_at: Timestamp) {
        self.ended_sessions.lock().end_session(nonce, pid, ended_at);
        self.sessions.lock().remove(nonce);
    }

    /// Ends the sessions of a person opened at or before `instant`, on any
    /// node; how many there were in this node's table. Applied from
    /// `Record::SessionsEnded` on every node.
    pub fn end_sessions_opened_by(&self, pid: &PersonId, instant: Timestamp) -> usize {
        self.ended_sessions.lock().end_person(pid, instant);
        let mut sessions = self.sessions.lock();
        let ids: Vec<SessionNonce> = sessions
            .of_person
            .get(pid)
            .map(|ids| ids.iter().copied().collect())
            .unwrap_or_default();
        let mut ended = 0;
        for id in ids {
            let opened_by_then = sessions.by_id.get(&id).is_some_and(|session| {
                session.expires_at.unix_secs() - SESSION_TTL_SECS <= instant.unix_secs()
            });
            if opened_by_then {
                sessions.remove(id);
                ended += 1;
            }
        }
        ended
    }

    /// Live sessions of a person.
    pub fn sessions_of(&self, pid: &PersonId) -> usize {
        self.sessions
            .lock()
            .of_person
            .get(pid)
            .map_or(0, |ids| ids.len())
    }

    /// Opens a staff session for `principal_id` until
    /// [`STAFF_SESSION_TTL_SECS`] from `now`. The principal's role and
    /// jurisdiction are read from the registry on every request, so a
    /// change there takes effect at once.
    pub fn new_staff_session(
        &self,
        principal_id: &str,
        id_token: String,
        now: Timestamp,
    ) -> Result<String, NodeError> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|_| NodeError::internal("no randomness"))?;
        let id = hex::encode(bytes);
        let mut sessions = self.staff_sessions.lock();
        sessions.retain(|_, session| session.expires_at > now);
        if sessions.len() >= STAFF_SESSIONS_MAX {
            return Err(NodeError::unavailable(
                "the node holds as many staff sessions as it may; try again later",
            ));
        }
        sessions.insert(
            id.clone(),
            StaffSession {
                principal_id: principal_id.to_owned(),
                expires_at: now.plus_secs(STAFF_SESSION_TTL_SECS),
                id_token,
            },
        );
        Ok(id)
    }

    /// The principal of a live staff session.
    pub fn staff_session(&self, session_id: &str, now: Timestamp) -> Option<String> {
        let sessions = self.staff_sessions.lock();
        let session = sessions.get(session_id)?;
        (session.expires_at > now).then(|| session.principal_id.clone())
    }

    /// Ends a staff session; its ID token, for the provider's logout.
    pub fn end_staff_session(&self, session_id: &str) -> Option<String> {
        self.staff_sessions
            .lock()
            .remove(session_id)
            .map(|session| session.id_token)
    }

    /// Ends every staff session of a principal (its keys revoked, or an
    /// authority ending them); how many there were.
    pub fn end_staff_sessions_of(&self, principal_id: &str) -> usize {
        let mut sessions = self.staff_sessions.lock();
        let before = sessions.len();
        sessions.retain(|_, session| session.principal_id != principal_id);
        before - sessions.len()
    }

    pub fn color_history(&self) -> Vec<(i64, [i64; 3])> {
        self.color_history.lock().iter().copied().collect()
    }
}

/// Signs a fresh trust list of the store's keys (the serial grows).
fn signed_trust_state(store: &mut KeyStore, now: Timestamp) -> anyhow::Result<TrustState> {
    let mut rng = ymt_token::rand_core::OsRng;
    let signed: SignedTrustList = store.export_trust_list(now, Vec::new(), &mut rng)?;
    let trust_list = signed.verify_with_embedded_signer()?;
    Ok(TrustState {
        trust_list: Arc::new(trust_list),
        signed_trust_list_json: signed.to_json_pretty().into(),
    })
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Appeal {
    pub id: String,
    pub pid: PersonId,
    pub region: Option<ymt_core::RegionCode>,
    pub filed_by: String,
    pub filed_at: Timestamp,
    pub text: String,
    pub color_at_filing: Color,
    pub resolved: Option<Resolution>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Resolution {
    pub by: String,
    pub at: Timestamp,
    pub note: String,
    /// Upheld (the color stands) or overturned (corrected); absent on
    /// resolutions recorded before outcomes were kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<AppealOutcome>,
    /// The override or retraction an overturned appeal caused, in the
    /// person's timeline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caused: Option<ymt_core::EventId>,
}

/// What became of an appeal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AppealOutcome {
    Upheld,
    Overturned,
}

/// Fills `bytes` from the operating system's random source (ids of sessions
/// and appeals); the node's only source of randomness besides key
/// generation.
pub fn fill_random(bytes: &mut [u8]) -> Result<(), NodeError> {
    getrandom::fill(bytes).map_err(|_| NodeError::internal("no randomness"))
}
