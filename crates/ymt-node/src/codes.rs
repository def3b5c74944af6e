//! Signed health codes served by the node, citizen sign-in, appeals, and the
//! console's dashboard chart.
//!
//! On start the node opens (or creates) its key store under `DATA/keys`,
//! builds a [`CodeIssuer`] with the signing key and signs a trust list with
//! the store's trust-list signer. Citizens sign in through a pluggable
//! [`Authenticator`]; the demo one accepts a single fixed one-time code that
//! `yimatong serve --demo` prints (a real deployment plugs in SMS or the
//! national identity app). A session is a random 256-bit id in an HttpOnly,
//! SameSite=Strict cookie, kept server-side with an expiry.

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use serde::{Deserialize, Serialize};
use ymt_core::{Color, PersonId, Timestamp};
use ymt_token::{CodeIssuer, KeyStore, Kid, Revocation, SignedTrustList, TrustList};

use crate::error::NodeError;

/// The issuer named in this node's codes and trust list.
pub const CODE_ISSUER_ID: &str = "ymt:cn";
/// Signed codes kept in the issuer's cache.
pub const CODE_CACHE_ENTRIES_MAX: usize = 100_000;
/// How long a citizen session lasts.
pub const SESSION_TTL_SECS: i64 = 8 * 3600;
/// Sessions kept at once; past this the oldest is dropped.
pub const SESSIONS_MAX: usize = 100_000;
/// Hourly color samples kept for the dashboard (two weeks).
pub const COLOR_HISTORY_HOURS_MAX: usize = 14 * 24;
/// Characters of an appeal's text or a resolution note.
pub const APPEAL_TEXT_CHARS_MAX: usize = 2000;
/// Appeals listed at once.
pub const APPEALS_LIST_MAX: usize = 500;
/// Check-ins and tests shown to a citizen.
pub const RECENT_EVENTS_MAX: usize = 10;
pub const META_APPEALS: &str = "appeals";
pub const SESSION_COOKIE: &str = "ymt_session";

/// Checks a citizen's one-time code. Implementations: the demo's fixed code;
/// in production an SMS or identity-app challenge.
pub trait Authenticator: Send + Sync {
    fn check(&self, pid: &PersonId, one_time_code: &str) -> bool;
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
}

#[derive(Clone)]
struct Session {
    pid: PersonId,
    expires_at: Timestamp,
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
    trust: RwLock<Arc<TrustState>>,
    /// The key store, taken only to revoke a key (never on a read path).
    key_store: Mutex<KeyStore>,
    authenticator: RwLock<Option<Arc<dyn Authenticator>>>,
    sessions: Mutex<(HashMap<String, Session>, VecDeque<String>)>,
    color_history: Mutex<VecDeque<(i64, [i64; 3])>>,
}

impl Codes {
    /// Opens `data_dir/keys`, creating a signing key on first start.
    pub fn open(data_dir: &Path, now: Timestamp) -> anyhow::Result<Codes> {
        let mut rng = ymt_token::rand_core::OsRng;
        let mut store = KeyStore::open(data_dir.join("keys"))?;
        if store.signing_kid().is_none() {
            store.generate(ymt_token::DEFAULT_ALGORITHM, CODE_ISSUER_ID, now, &mut rng)?;
        }
        let key = store.signing_key()?;
        let ttl = store.max_token_ttl_secs();
        let trust = signed_trust_state(&mut store, now)?;
        Ok(Codes {
            issuer: CodeIssuer::new(CODE_ISSUER_ID, key, ttl, CODE_CACHE_ENTRIES_MAX),
            trust: RwLock::new(Arc::new(trust)),
            key_store: Mutex::new(store),
            authenticator: RwLock::new(None),
            sessions: Mutex::new((HashMap::new(), VecDeque::new())),
            color_history: Mutex::new(VecDeque::new()),
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
        let store = self.key_store.lock();
        let record = store.keys().iter().find(|record| &record.kid == kid)?;
        Some(record.revoked_at.is_some())
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

    pub fn new_session(&self, pid: PersonId, now: Timestamp) -> Result<String, NodeError> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|_| NodeError::internal("no randomness"))?;
        let id = hex::encode(bytes);
        let mut guard = self.sessions.lock();
        let (map, order) = &mut *guard;
        map.insert(
            id.clone(),
            Session {
                pid,
                expires_at: now.plus_secs(SESSION_TTL_SECS),
            },
        );
        order.push_back(id.clone());
        while map.len() > SESSIONS_MAX {
            let Some(oldest) = order.pop_front() else {
                break;
            };
            map.remove(&oldest);
        }
        Ok(id)
    }

    /// The person signed in under a session id, while the session lasts.
    pub fn session(&self, session_id: &str, now: Timestamp) -> Option<PersonId> {
        let guard = self.sessions.lock();
        let session = guard.0.get(session_id)?;
        (session.expires_at > now).then(|| session.pid.clone())
    }

    pub fn end_session(&self, session_id: &str) {
        self.sessions.lock().0.remove(session_id);
    }

    /// Records the color counts of the current hour (the latest sample of an
    /// hour wins) in a bounded ring.
    pub fn sample_colors(&self, now: Timestamp, counts: [i64; 3]) {
        let hour = now.unix_secs().div_euclid(3600) * 3600;
        let mut history = self.color_history.lock();
        match history.back_mut() {
            Some((last, sample)) if *last == hour => *sample = counts,
            _ => history.push_back((hour, counts)),
        }
        while history.len() > COLOR_HISTORY_HOURS_MAX {
            history.pop_front();
        }
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
}

/// Fills `bytes` from the operating system's random source (ids of sessions
/// and appeals); the node's only source of randomness besides key
/// generation.
pub fn fill_random(bytes: &mut [u8]) -> Result<(), NodeError> {
    getrandom::fill(bytes).map_err(|_| NodeError::internal("no randomness"))
}
