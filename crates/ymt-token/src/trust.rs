//! The trust list: the public keys of yimatong and of other regional
//! systems, signed by a trust-list signing key so that a scanner can verify
//! codes offline.
//!
//! On the wire a [`SignedTrustList`] is JSON. Its `payload` field holds the
//! exact JSON text of a [`TrustListDocument`] as a string, and the signature
//! covers those UTF-8 bytes, so no canonical JSON form is needed.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use ymt_core::Timestamp;

use crate::claims::ISSUER_LEN_MAX;
use crate::keys::{Algorithm, Kid, SigningKey, VerifyingKey};

pub const TRUST_LIST_FORMAT: &str = "ymt-trust-list/1";
/// Largest signed trust list accepted, in bytes of JSON.
pub const TRUST_LIST_LEN_MAX: usize = 4 * 1024 * 1024;
/// Most entries in one trust list.
pub const TRUST_ENTRIES_MAX: usize = 10_000;
/// What the signature is computed over: this context string, a zero byte,
/// then the payload bytes. The context keeps a trust-list signature from
/// ever passing as a signature over something else.
const SIGNATURE_CONTEXT: &[u8] = b"ymt-trust-list/1";
/// Longest lifetime (expiry minus issue instant) of a code a verifier
/// accepts when its trust list does not say: twelve times the default
/// lifetime, so a stolen code cannot be kept for a year, while a deployment
/// issuing longer codes says so in its signed list.
pub const CODE_LIFETIME_SECS_MAX_DEFAULT: i64 = 3600;
/// The largest maximum lifetime a trust list may declare (one day).
pub const CODE_LIFETIME_SECS_MAX_LIMIT: i64 = 86_400;
/// The longest lifetime of a printed code (纸质码) a key store declares: three
/// days. A printed code cannot refresh, so the color it states may be stale
/// for up to this long; three days lets a guardian print twice a week, and
/// a person who turns yellow or red is told (and, online, the door sees the
/// current color: docs/pages.md, "Printed codes").
pub const PRINTED_CODE_LIFETIME_SECS_DEFAULT: i64 = 3 * 86_400;
/// The largest maximum lifetime of a printed code a trust list may declare
/// (seven days).
pub const PRINTED_CODE_LIFETIME_SECS_MAX_LIMIT: i64 = 7 * 86_400;
/// How often a verifier fetches the trust list when the list does not say:
/// the delay after which a revoked key's codes are refused everywhere.
pub const TRUST_LIST_REFRESH_SECS_DEFAULT: i64 = 300;
/// The longest a verifier uses a list it could not refresh. Past this it
/// passes no code ("trust list out of date"), so a revocation reaches an
/// offline device at the latest this long after it was made.
pub const TRUST_LIST_AGE_SECS_MAX_DEFAULT: i64 = 24 * 3600;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum TrustListError {
    #[error("trust list is {len} bytes, at most {len_max}")]
    TooLarge { len: usize, len_max: usize },
    #[error("trust list JSON: {detail}")]
    Json { detail: String },
    #[error("trust list format {found:?}, expected {TRUST_LIST_FORMAT:?}")]
    Format { found: String },
    #[error("{count} entries, at most {TRUST_ENTRIES_MAX}")]
    TooManyEntries { count: usize },
    #[error("entry {index} (kid {kid}): {detail}")]
    BadEntry {
        index: usize,
        kid: String,
        detail: String,
    },
    #[error("kid {kid} appears twice")]
    DuplicateKid { kid: Kid },
    #[error("signature is not valid base64url")]
    SignatureEncoding,
    #[error("signed by kid {found}, but the trust anchor is kid {expected}")]
    WrongSigner { expected: Kid, found: Kid },
    #[error("the trust list signature does not verify")]
    BadSignature,
    #[error("signer public key: {detail}")]
    BadSigner { detail: String },
    #[error("{field} is {value}, must be 1 to {max}")]
    BadPolicy {
        field: &'static str,
        value: i64,
        max: i64,
    },
    #[error("trust list serial {found} is older than the serial {held} already held")]
    OlderSerial { held: u64, found: u64 },
}

/// One trusted public key as written in the trust list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustEntry {
    pub issuer: String,
    pub kid: Kid,
    pub algorithm: Algorithm,
    /// base64url (no padding) of the public key: compressed SEC1 for ES256,
    /// raw 32 bytes for EdDSA.
    pub public_key: String,
    pub valid_from: Timestamp,
    /// For a retired key: when its last code expires.
    pub valid_until: Option<Timestamp>,
    /// For a revoked key (compromised): when it was revoked. Every code it
    /// signed is refused, whatever the code's own instants say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<Timestamp>,
}

impl TrustEntry {
    pub fn new(
        issuer: &str,
        key: &VerifyingKey,
        valid_from: Timestamp,
        valid_until: Option<Timestamp>,
    ) -> TrustEntry {
        TrustEntry {
            issuer: issuer.to_owned(),
            kid: key.kid().clone(),
            algorithm: key.algorithm(),
            public_key: URL_SAFE_NO_PAD.encode(key.public_bytes()),
            valid_from,
            valid_until,
            revoked_at: None,
        }
    }

    fn parse_key(&self) -> Result<VerifyingKey, String> {
        if self.issuer.is_empty() || self.issuer.chars().count() > ISSUER_LEN_MAX {
            return Err(format!("issuer must be 1 to {ISSUER_LEN_MAX} characters"));
        }
        if let Some(until) = self.valid_until
            && until <= self.valid_from
        {
            return Err("valid_until is not after valid_from".into());
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(&self.public_key)
            .map_err(|error| format!("public_key is not base64url: {error}"))?;
        VerifyingKey::from_public_bytes_with_kid(self.algorithm, &bytes, self.kid.clone())
            .map_err(|error| error.to_string())
    }
}

/// The signed content of a trust list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustListDocument {
    pub format: String,
    /// Grows with every published list, so a scanner can refuse an older one.
    pub serial: u64,
    pub issued_at: Timestamp,
    pub entries: Vec<TrustEntry>,
    /// The longest lifetime of a code verifiers accept; absent means
    /// [`CODE_LIFETIME_SECS_MAX_DEFAULT`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_code_lifetime_secs: Option<i64>,
    /// The longest lifetime of a printed code (`kind` printed) verifiers
    /// accept; absent means the same as a phone code's, so a list that does
    /// not declare printed codes lets none live longer than a phone code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_printed_code_lifetime_secs: Option<i64>,
    /// How often verifiers fetch the list; absent means
    /// [`TRUST_LIST_REFRESH_SECS_DEFAULT`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_interval_secs: Option<i64>,
}

/// A trusted key ready for verification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustedKey {
    pub issuer: String,
    pub key: VerifyingKey,
    pub valid_from: Timestamp,
    pub valid_until: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

/// A parsed trust list, indexed by kid.
#[derive(Clone, Debug)]
pub struct TrustList {
    document: TrustListDocument,
    keys: HashMap<Kid, TrustedKey>,
}

impl TrustList {
    pub fn new(
        serial: u64,
        issued_at: Timestamp,
        entries: Vec<TrustEntry>,
    ) -> Result<TrustList, TrustListError> {
        TrustList::from_document(TrustListDocument {
            format: TRUST_LIST_FORMAT.into(),
            serial,
            issued_at,
            entries,
            max_code_lifetime_secs: None,
            max_printed_code_lifetime_secs: None,
            refresh_interval_secs: None,
        })
    }

    /// A trust list of keys held in memory (tests, or a server trusting its
    /// own keys), open-ended from the epoch.
    pub fn from_keys(issuer: &str, keys: &[VerifyingKey]) -> TrustList {
        let entries = keys
            .iter()
            .map(|key| TrustEntry::new(issuer, key, Timestamp::EPOCH, None))
            .collect();
        TrustList::new(0, Timestamp::EPOCH, entries).expect("keys held in memory are well formed")
    }

    pub fn from_document(document: TrustListDocument) -> Result<TrustList, TrustListError> {
        if document.format != TRUST_LIST_FORMAT {
            return Err(TrustListError::Format {
                found: document.format.chars().take(40).collect(),
            });
        }
        for (field, value, max) in [
            (
                "max_code_lifetime_secs",
                document.max_code_lifetime_secs,
                CODE_LIFETIME_SECS_MAX_LIMIT,
            ),
            (
                "max_printed_code_lifetime_secs",
                document.max_printed_code_lifetime_secs,
                PRINTED_CODE_LIFETIME_SECS_MAX_LIMIT,
            ),
            (
                "refresh_interval_secs",
                document.refresh_interval_secs,
                TRUST_LIST_AGE_SECS_MAX_DEFAULT,
            ),
        ] {
            if let Some(value) = value
                && !(1..=max).contains(&value)
            {
                return Err(TrustListError::BadPolicy { field, value, max });
            }
        }
        if document.entries.len() > TRUST_ENTRIES_MAX {
            return Err(TrustListError::TooManyEntries {
                count: document.entries.len(),
            });
        }
        let mut keys = HashMap::with_capacity(document.entries.len());
        for (index, entry) in document.entries.iter().enumerate() {
            let key = entry
                .parse_key()
                .map_err(|detail| TrustListError::BadEntry {
                    index,
                    kid: entry.kid.to_hex(),
                    detail,
                })?;
            let trusted = TrustedKey {
                issuer: entry.issuer.clone(),
                key,
                valid_from: entry.valid_from,
                valid_until: entry.valid_until,
                revoked_at: entry.revoked_at,
            };
            if keys.insert(entry.kid.clone(), trusted).is_some() {
                return Err(TrustListError::DuplicateKid {
                    kid: entry.kid.clone(),
                });
            }
        }
        Ok(TrustList { document, keys })
    }

    pub fn lookup(&self, kid: &Kid) -> Option<&TrustedKey> {
        self.keys.get(kid)
    }

    /// The longest lifetime of a code this list lets verifiers accept.
    pub fn max_code_lifetime_secs(&self) -> i64 {
        self.document
            .max_code_lifetime_secs
            .unwrap_or(CODE_LIFETIME_SECS_MAX_DEFAULT)
    }

    /// The longest lifetime of a printed code this list lets verifiers
    /// accept: never less than a phone code's.
    pub fn max_printed_code_lifetime_secs(&self) -> i64 {
        self.document
            .max_printed_code_lifetime_secs
            .unwrap_or(0)
            .max(self.max_code_lifetime_secs())
    }

    /// The longest lifetime this list lets a code of `kind` live.
    pub fn max_lifetime_secs_of(&self, kind: crate::claims::CodeKind) -> i64 {
        match kind {
            crate::claims::CodeKind::Phone => self.max_code_lifetime_secs(),
            crate::claims::CodeKind::Printed => self.max_printed_code_lifetime_secs(),
        }
    }

    /// How often a verifier holding this list fetches it again.
    pub fn refresh_interval_secs(&self) -> i64 {
        self.document
            .refresh_interval_secs
            .unwrap_or(TRUST_LIST_REFRESH_SECS_DEFAULT)
    }

    pub fn document(&self) -> &TrustListDocument {
        &self.document
    }

    pub fn entries(&self) -> &[TrustEntry] {
        &self.document.entries
    }

    pub fn sign(&self, signer: &SigningKey) -> SignedTrustList {
        let payload =
            serde_json::to_string(&self.document).expect("a trust list document serializes");
        let signature = signer.sign(&signed_bytes(&payload));
        let public = signer.verifying_key();
        SignedTrustList {
            payload,
            signer: SignerInfo {
                kid: public.kid().clone(),
                algorithm: public.algorithm(),
                public_key: URL_SAFE_NO_PAD.encode(public.public_bytes()),
            },
            signature: URL_SAFE_NO_PAD.encode(signature),
        }
    }
}

fn signed_bytes(payload: &str) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(SIGNATURE_CONTEXT.len() + 1 + payload.len());
    bytes.extend_from_slice(SIGNATURE_CONTEXT);
    bytes.push(0);
    bytes.extend_from_slice(payload.as_bytes());
    bytes
}

/// Who signed a trust list. Informative: authenticity comes from checking
/// against a pinned trust anchor with [`SignedTrustList::verify`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignerInfo {
    pub kid: Kid,
    pub algorithm: Algorithm,
    pub public_key: String,
}

impl SignerInfo {
    pub fn verifying_key(&self) -> Result<VerifyingKey, TrustListError> {
        let bytes = URL_SAFE_NO_PAD.decode(&self.public_key).map_err(|error| {
            TrustListError::BadSigner {
                detail: error.to_string(),
            }
        })?;
        VerifyingKey::from_public_bytes(self.algorithm, &bytes).map_err(|error| {
            TrustListError::BadSigner {
                detail: error.to_string(),
            }
        })
    }
}

/// A trust list as published.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedTrustList {
    pub payload: String,
    pub signer: SignerInfo,
    pub signature: String,
}

impl SignedTrustList {
    pub fn from_json(text: &str) -> Result<SignedTrustList, TrustListError> {
        if text.len() > TRUST_LIST_LEN_MAX {
            return Err(TrustListError::TooLarge {
                len: text.len(),
                len_max: TRUST_LIST_LEN_MAX,
            });
        }
        serde_json::from_str(text).map_err(|error| TrustListError::Json {
            detail: error.to_string(),
        })
    }

    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(self).expect("a signed trust list serializes")
    }

    /// Checks the signature against a pinned trust anchor, then parses.
    pub fn verify(&self, anchor: &VerifyingKey) -> Result<TrustList, TrustListError> {
        if &self.signer.kid != anchor.kid() {
            return Err(TrustListError::WrongSigner {
                expected: anchor.kid().clone(),
                found: self.signer.kid.clone(),
            });
        }
        let signature = URL_SAFE_NO_PAD
            .decode(&self.signature)
            .map_err(|_| TrustListError::SignatureEncoding)?;
        if !anchor.verify(&signed_bytes(&self.payload), &signature) {
            return Err(TrustListError::BadSignature);
        }
        let document: TrustListDocument =
            serde_json::from_str(&self.payload).map_err(|error| TrustListError::Json {
                detail: error.to_string(),
            })?;
        TrustList::from_document(document)
    }

    /// Checks the signature against the signer key the list names itself.
    /// This proves integrity only, not who signed; prefer [`Self::verify`].
    pub fn verify_with_embedded_signer(&self) -> Result<TrustList, TrustListError> {
        let signer = self.signer.verifying_key()?;
        self.verify(&signer)
    }
}
