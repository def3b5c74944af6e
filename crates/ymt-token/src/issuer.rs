//! `CodeIssuer`: signs and renders codes once per person, color and
//! validity, and serves the cached code while it is fresh.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, OnceLock};

use parking_lot::{Mutex, RwLock};

use ymt_core::{Color, PersonId, Timestamp};

use crate::claims::{Claims, CodeKind};
use crate::keys::SigningKey;
use crate::qr;
use crate::token::{self, TokenError};

/// A code is re-issued when less than this share of its lifetime remains,
/// in percent: a code shown must stay scannable for a while.
pub const REISSUE_REMAINING_PERCENT: i64 = 20;
/// Default bound of the cache.
pub const CACHE_ENTRIES_MAX_DEFAULT: usize = 100_000;

/// What the server asks a code for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeRequest {
    pub person: PersonId,
    pub color: Color,
    pub color_valid_until: Option<Timestamp>,
    pub masked_name: String,
    pub rule_set_version: String,
}

/// A signed code and its renderings. The SVG and PNG are rendered on first
/// use and then kept.
#[derive(Debug)]
pub struct IssuedCode {
    pub token: String,
    pub issued_at: Timestamp,
    pub expires_at: Timestamp,
    /// The color the code states, which its QR modules are drawn in.
    pub color: Color,
    svg: OnceLock<String>,
    png: OnceLock<Vec<u8>>,
}

impl IssuedCode {
    /// The QR as SVG, its modules in the code's color (`qr::module_rgb`).
    pub fn svg(&self) -> &str {
        self.svg.get_or_init(|| {
            qr::render_qr_svg_colored(&self.token, qr::module_rgb(self.color))
                .expect("a token always fits a QR code")
        })
    }

    pub fn png(&self) -> &[u8] {
        self.png
            .get_or_init(|| qr::render_qr_png(&self.token).expect("a token always fits a QR code"))
    }
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct CacheKey {
    person: PersonId,
    color: Color,
    color_valid_until: Option<Timestamp>,
    rule_set_version: String,
}

struct Cache {
    codes: HashMap<CacheKey, Arc<IssuedCode>>,
    /// Insertion order, for evicting the oldest entry when full.
    order: VecDeque<CacheKey>,
}

/// Issues codes; shareable across threads.
pub struct CodeIssuer {
    issuer: String,
    token_ttl_secs: i64,
    cache_entries_max: usize,
    key: RwLock<Arc<SigningKey>>,
    cache: Mutex<Cache>,
}

impl std::fmt::Debug for CodeIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CodeIssuer")
            .field("issuer", &self.issuer)
            .field("token_ttl_secs", &self.token_ttl_secs)
            .field("cache_entries_max", &self.cache_entries_max)
            .finish_non_exhaustive()
    }
}

impl CodeIssuer {
    pub fn new(
        issuer: &str,
        key: SigningKey,
        token_ttl_secs: i64,
        cache_entries_max: usize,
    ) -> CodeIssuer {
        CodeIssuer {
            issuer: issuer.to_owned(),
            token_ttl_secs: token_ttl_secs.max(1),
            cache_entries_max: cache_entries_max.max(1),
            key: RwLock::new(Arc::new(key)),
            cache: Mutex::new(Cache {
                codes: HashMap::new(),
                order: VecDeque::new(),
            }),
        }
    }

    /// Switches to a new signing key (after a rotation) and drops every
    /// cached code, so no code signed by the old key is handed out again.
    pub fn set_signing_key(&self, key: SigningKey) {
        // The key changes under the cache lock, so a code signed with the
        // old key is never inserted after the clear (see `code_for`).
        let mut cache = self.cache.lock();
        *self.key.write() = Arc::new(key);
        cache.codes.clear();
        cache.order.clear();
    }

    pub fn cached_codes(&self) -> usize {
        self.cache.lock().codes.len()
    }

    fn is_fresh(&self, code: &IssuedCode, now: Timestamp) -> bool {
        let remaining = code.expires_at.unix_secs() - now.unix_secs();
        now >= code.issued_at && remaining * 100 >= self.token_ttl_secs * REISSUE_REMAINING_PERCENT
    }

    /// A printed code (纸质码) for a request at `now`, living
    /// `lifetime_secs`: signed afresh every time and never cached, since
    /// each print is an act its caller audits. The color is the one at
    /// `now`, and its `color_valid_until` still ends it early.
    pub fn issue_printed(
        &self,
        request: CodeRequest,
        now: Timestamp,
        lifetime_secs: i64,
    ) -> Result<IssuedCode, TokenError> {
        let expires_at = now.plus_secs(lifetime_secs.max(1));
        let claims = Claims {
            issuer: self.issuer.clone(),
            issued_at: now,
            expires_at,
            person: request.person,
            color: request.color,
            masked_name: request.masked_name,
            rule_set_version: request.rule_set_version,
            color_valid_until: request.color_valid_until,
            kind: CodeKind::Printed,
        };
        let key = Arc::clone(&self.key.read());
        let token = token::issue(&claims, &key)?;
        Ok(IssuedCode {
            token,
            issued_at: now,
            expires_at,
            color: request.color,
            svg: OnceLock::new(),
            png: OnceLock::new(),
        })
    }

    /// The code for a request at `now`: the cached one while more than 20%
    /// of its lifetime remains, a freshly signed one otherwise.
    pub fn code_for(
        &self,
        request: CodeRequest,
        now: Timestamp,
    ) -> Result<Arc<IssuedCode>, TokenError> {
        let cache_key = CacheKey {
            person: request.person.clone(),
            color: request.color,
            color_valid_until: request.color_valid_until,
            rule_set_version: request.rule_set_version.clone(),
        };
        {
            let cache = self.cache.lock();
            if let Some(code) = cache.codes.get(&cache_key)
                && self.is_fresh(code, now)
            {
                return Ok(Arc::clone(code));
            }
        }
        // Signing happens outside the lock so other persons' codes are not
        // held up; two threads racing for the same person both sign, and the
        // later insert wins, which is harmless. A code signed with a key
        // replaced meanwhile (a revoked key) is signed again, never kept.
        let mut key = Arc::clone(&self.key.read());
        let (code, mut cache) = loop {
            let expires_at = now.plus_secs(self.token_ttl_secs);
            let claims = Claims {
                issuer: self.issuer.clone(),
                issued_at: now,
                expires_at,
                person: request.person.clone(),
                color: request.color,
                masked_name: request.masked_name.clone(),
                rule_set_version: request.rule_set_version.clone(),
                color_valid_until: request.color_valid_until,
                kind: CodeKind::Phone,
            };
            let token = token::issue(&claims, &key)?;
            let code = Arc::new(IssuedCode {
                token,
                issued_at: now,
                expires_at,
                color: request.color,
                svg: OnceLock::new(),
                png: OnceLock::new(),
            });
            let cache = self.cache.lock();
            let current = Arc::clone(&self.key.read());
            if Arc::ptr_eq(&current, &key) {
                break (code, cache);
            }
            drop(cache);
            key = current;
        };
        if cache
            .codes
            .insert(cache_key.clone(), Arc::clone(&code))
            .is_none()
        {
            cache.order.push_back(cache_key);
        }
        while cache.codes.len() > self.cache_entries_max {
            let Some(oldest) = cache.order.pop_front() else {
                break;
            };
            cache.codes.remove(&oldest);
        }
        Ok(code)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn code_issuer_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<super::CodeIssuer>();
        assert_send_sync::<super::IssuedCode>();
    }
}
