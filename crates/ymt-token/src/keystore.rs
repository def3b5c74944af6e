//! Signing keys on disk.
//!
//! A key store is a directory holding `keystore.json` (the public index:
//! kids, algorithms, issuers, creation and retirement instants) and one
//! `<kid>.key` file per secret key with the 32 secret bytes in hex. Secret
//! files are created with mode 0600 in the same call that creates them, so
//! they are never readable by others, not even for a moment.
//!
//! This module does file I/O by design; time and randomness are still
//! passed in by the caller.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use ymt_core::Timestamp;

use crate::keys::{Algorithm, Kid, SigningKey};
use crate::token::TOKEN_TTL_SECS_DEFAULT;
use crate::trust::{SignedTrustList, TrustEntry, TrustList};

pub const KEYSTORE_FORMAT: &str = "ymt-keystore/1";
const INDEX_FILE: &str = "keystore.json";
const TRUST_LIST_SIGNER_FILE: &str = "trust-list-signer.key";
/// Most keys one store keeps (retired ones included).
pub const KEYS_MAX: usize = 1000;

#[derive(Debug, thiserror::Error)]
pub enum KeyStoreError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {detail}")]
    Corrupt { path: PathBuf, detail: String },
    #[error("the key store has no signing key yet (run `keys generate`)")]
    NoSigningKey,
    #[error("the key store already holds {KEYS_MAX} keys")]
    Full,
    #[error("issuer must be 1 to 64 characters")]
    BadIssuer,
    #[error("no key with kid {kid} in the store")]
    UnknownKid { kid: Kid },
}

/// Public facts about one key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    pub kid: Kid,
    pub algorithm: Algorithm,
    pub issuer: String,
    pub created_at: Timestamp,
    pub retired_at: Option<Timestamp>,
    /// When the key was revoked (compromised). A revoked key stays in the
    /// trust list, marked, so verifiers refuse its codes with that reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<Timestamp>,
    /// The public key (base64url) of a key another signer holds (a peer
    /// node of a cluster announced it): this store lists it in its trust
    /// lists but holds no secret of it and never signs with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
}

/// A key revoked before this store learnt its public key: remembered, so
/// that the key, when it is added later, is added revoked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokedUnknown {
    pub kid: Kid,
    pub revoked_at: Timestamp,
}

/// What [`KeyStore::revoke`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revocation {
    pub revoked: KeyRecord,
    /// The key that signs from now on, when the revoked key was the signing
    /// key.
    pub new_signing_key: Option<KeyRecord>,
}

impl KeyRecord {
    /// When the last code this key may have signed expires.
    pub fn trusted_until(&self, max_token_ttl_secs: i64) -> Option<Timestamp> {
        self.retired_at
            .map(|retired_at| retired_at.plus_secs(max_token_ttl_secs))
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Index {
    format: String,
    max_token_ttl_secs: i64,
    signing_kid: Option<Kid>,
    trust_list_serial: u64,
    keys: Vec<KeyRecord>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    revoked_unknown: Vec<RevokedUnknown>,
}

/// A directory of signing keys.
#[derive(Debug)]
pub struct KeyStore {
    dir: PathBuf,
    index: Index,
}

impl KeyStore {
    /// Opens a store; a missing directory is an empty store, created on the
    /// first write.
    pub fn open(dir: impl AsRef<Path>) -> Result<KeyStore, KeyStoreError> {
        let dir = dir.as_ref().to_path_buf();
        let path = dir.join(INDEX_FILE);
        let index = match fs::read_to_string(&path) {
            Ok(text) => {
                let index: Index =
                    serde_json::from_str(&text).map_err(|error| KeyStoreError::Corrupt {
                        path: path.clone(),
                        detail: error.to_string(),
                    })?;
                if index.format != KEYSTORE_FORMAT {
                    return Err(KeyStoreError::Corrupt {
                        path,
                        detail: format!("format {:?}", index.format),
                    });
                }
                index
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Index {
                format: KEYSTORE_FORMAT.into(),
                max_token_ttl_secs: TOKEN_TTL_SECS_DEFAULT,
                signing_kid: None,
                trust_list_serial: 0,
                keys: Vec::new(),
                revoked_unknown: Vec::new(),
            },
            Err(source) => return Err(KeyStoreError::Io { path, source }),
        };
        Ok(KeyStore { dir, index })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn keys(&self) -> &[KeyRecord] {
        &self.index.keys
    }

    pub fn signing_kid(&self) -> Option<&Kid> {
        self.index.signing_kid.as_ref()
    }

    pub fn max_token_ttl_secs(&self) -> i64 {
        self.index.max_token_ttl_secs
    }

    /// The lifetime of a printed code, and the longest one the store's
    /// trust lists let verifiers accept.
    pub fn max_printed_code_lifetime_secs(&self) -> i64 {
        crate::trust::PRINTED_CODE_LIFETIME_SECS_DEFAULT
    }

    /// How long a retired key stays in the trust list after retirement:
    /// until its longest-lived code, a printed one, has expired.
    pub fn retired_key_trusted_secs(&self) -> i64 {
        self.index
            .max_token_ttl_secs
            .max(self.max_printed_code_lifetime_secs())
    }

    /// Sets the longest TTL codes are issued with; retired keys stay trusted
    /// this long after retirement.
    pub fn set_max_token_ttl_secs(&mut self, secs: i64) -> Result<(), KeyStoreError> {
        self.index.max_token_ttl_secs = secs.clamp(1, crate::trust::CODE_LIFETIME_SECS_MAX_LIMIT);
        self.save_index()
    }

    /// Adds a key. It becomes the signing key when there is none yet.
    pub fn generate(
        &mut self,
        algorithm: Algorithm,
        issuer: &str,
        now: Timestamp,
        rng: &mut impl rand_core::CryptoRngCore,
    ) -> Result<KeyRecord, KeyStoreError> {
        if issuer.is_empty() || issuer.chars().count() > crate::claims::ISSUER_LEN_MAX {
            return Err(KeyStoreError::BadIssuer);
        }
        if self.index.keys.len() >= KEYS_MAX {
            return Err(KeyStoreError::Full);
        }
        let key = SigningKey::generate(algorithm, rng);
        self.write_secret(&self.secret_path(key.kid()), &key)?;
        let record = KeyRecord {
            kid: key.kid().clone(),
            algorithm,
            issuer: issuer.to_owned(),
            created_at: now,
            retired_at: None,
            revoked_at: None,
            public_key: None,
        };
        self.index.keys.push(record.clone());
        if self.index.signing_kid.is_none() {
            self.index.signing_kid = Some(record.kid.clone());
        }
        self.save_index()?;
        Ok(record)
    }

    /// Makes a new key the signing key and retires the old one at `now`.
    /// Returns the new key and the retired one.
    pub fn rotate(
        &mut self,
        algorithm: Algorithm,
        issuer: &str,
        now: Timestamp,
        rng: &mut impl rand_core::CryptoRngCore,
    ) -> Result<(KeyRecord, Option<KeyRecord>), KeyStoreError> {
        let old_kid = self.index.signing_kid.take();
        let new = match self.generate(algorithm, issuer, now, rng) {
            Ok(new) => new,
            Err(error) => {
                self.index.signing_kid = old_kid;
                return Err(error);
            }
        };
        self.index.signing_kid = Some(new.kid.clone());
        let mut retired = None;
        if let Some(old_kid) = old_kid
            && let Some(record) = self.index.keys.iter_mut().find(|r| r.kid == old_kid)
        {
            record.retired_at = Some(now);
            retired = Some(record.clone());
        }
        self.save_index()?;
        Ok((new, retired))
    }

    /// Revokes a key at `now`: verifiers refuse every code it signed. When
    /// it is the signing key, a new key of the same algorithm and issuer
    /// becomes the signing key (a store never signs with a revoked key).
    /// Revoking a revoked key changes nothing and reports it again.
    pub fn revoke(
        &mut self,
        kid: &Kid,
        now: Timestamp,
        rng: &mut impl rand_core::CryptoRngCore,
    ) -> Result<Revocation, KeyStoreError> {
        let record = self
            .index
            .keys
            .iter()
            .find(|record| &record.kid == kid)
            .cloned()
            .ok_or_else(|| KeyStoreError::UnknownKid { kid: kid.clone() })?;
        let new_signing_key = if self.index.signing_kid.as_ref() == Some(kid) {
            let (new, _) = self.rotate(record.algorithm, &record.issuer, now, rng)?;
            Some(new)
        } else {
            None
        };
        let entry = self
            .index
            .keys
            .iter_mut()
            .find(|record| &record.kid == kid)
            .expect("the key was found above");
        entry.revoked_at.get_or_insert(now);
        entry.retired_at.get_or_insert(now);
        let revoked = entry.clone();
        self.save_index()?;
        Ok(Revocation {
            revoked,
            new_signing_key,
        })
    }

    /// Revokes a key at `now` like [`KeyStore::revoke`]; a kid this store
    /// does not hold (yet) is remembered as revoked, so that adding its
    /// public key later ([`KeyStore::add_public`]) adds it revoked. `None`
    /// then. Revoking again changes nothing.
    pub fn revoke_or_remember(
        &mut self,
        kid: &Kid,
        now: Timestamp,
        rng: &mut impl rand_core::CryptoRngCore,
    ) -> Result<Option<Revocation>, KeyStoreError> {
        if self.index.keys.iter().any(|record| &record.kid == kid) {
            return self.revoke(kid, now, rng).map(Some);
        }
        if !self
            .index
            .revoked_unknown
            .iter()
            .any(|known| &known.kid == kid)
        {
            if self.index.revoked_unknown.len() >= KEYS_MAX {
                return Err(KeyStoreError::Full);
            }
            self.index.revoked_unknown.push(RevokedUnknown {
                kid: kid.clone(),
                revoked_at: now,
            });
            self.save_index()?;
        }
        Ok(None)
    }

    /// Whether `kid` is revoked here, held or only remembered as revoked;
    /// `None` when this store knows nothing of it.
    pub fn is_revoked(&self, kid: &Kid) -> Option<bool> {
        if let Some(record) = self.index.keys.iter().find(|record| &record.kid == kid) {
            return Some(record.revoked_at.is_some());
        }
        self.index
            .revoked_unknown
            .iter()
            .any(|known| &known.kid == kid)
            .then_some(true)
    }

    /// Adds the public key of a key another signer holds (a peer node's
    /// signing key), listed in this store's trust lists from now on. A kid
    /// already held changes nothing, whatever it is (so no addition ever
    /// un-revokes a key), and a kid remembered as revoked is added revoked.
    /// Returns whether the store changed.
    pub fn add_public(
        &mut self,
        key: &crate::keys::VerifyingKey,
        issuer: &str,
        created_at: Timestamp,
    ) -> Result<bool, KeyStoreError> {
        if issuer.is_empty() || issuer.chars().count() > crate::claims::ISSUER_LEN_MAX {
            return Err(KeyStoreError::BadIssuer);
        }
        if self
            .index
            .keys
            .iter()
            .any(|record| &record.kid == key.kid())
        {
            return Ok(false);
        }
        if self.index.keys.len() >= KEYS_MAX {
            return Err(KeyStoreError::Full);
        }
        let revoked_at = self
            .index
            .revoked_unknown
            .iter()
            .find(|known| &known.kid == key.kid())
            .map(|known| known.revoked_at);
        use base64::Engine as _;
        self.index.keys.push(KeyRecord {
            kid: key.kid().clone(),
            algorithm: key.algorithm(),
            issuer: issuer.to_owned(),
            created_at,
            retired_at: revoked_at,
            revoked_at,
            public_key: Some(
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key.public_bytes()),
            ),
        });
        self.index
            .revoked_unknown
            .retain(|known| &known.kid != key.kid());
        self.save_index()?;
        Ok(true)
    }

    /// Loads the current signing key.
    pub fn signing_key(&self) -> Result<SigningKey, KeyStoreError> {
        let kid = self
            .index
            .signing_kid
            .as_ref()
            .ok_or(KeyStoreError::NoSigningKey)?;
        let record = self
            .index
            .keys
            .iter()
            .find(|record| &record.kid == kid)
            .ok_or(KeyStoreError::NoSigningKey)?;
        self.read_secret(&self.secret_path(kid), record.algorithm)
    }

    /// The entries a trust list should carry at `now`: every key that is
    /// active, or retired less than the maximum token TTL ago, and every
    /// revoked key (marked), so verifiers name the reason they refuse it.
    pub fn trust_entries(&self, now: Timestamp) -> Result<Vec<TrustEntry>, KeyStoreError> {
        let ttl = self.retired_key_trusted_secs();
        let mut entries = Vec::new();
        for record in &self.index.keys {
            let valid_until = record.trusted_until(ttl);
            if record.revoked_at.is_none() && valid_until.is_some_and(|until| until <= now) {
                continue;
            }
            let key = match &record.public_key {
                Some(public_key) => self.public_of(record, public_key)?,
                None => self
                    .read_secret(&self.secret_path(&record.kid), record.algorithm)?
                    .verifying_key(),
            };
            let mut entry = TrustEntry::new(
                &record.issuer,
                &key,
                record.created_at,
                valid_until.filter(|until| *until > record.created_at),
            );
            entry.revoked_at = record.revoked_at;
            entries.push(entry);
        }
        Ok(entries)
    }

    /// An unsigned trust list of this store's keys, for verifying locally.
    pub fn trust_list(&self, now: Timestamp) -> Result<TrustList, KeyStoreError> {
        let entries = self.trust_entries(now)?;
        self.list_of(self.index.trust_list_serial, now, entries)
    }

    /// A trust list document of these entries, carrying this store's
    /// longest code lifetime so verifiers refuse longer-lived codes.
    fn list_of(
        &self,
        serial: u64,
        now: Timestamp,
        entries: Vec<TrustEntry>,
    ) -> Result<TrustList, KeyStoreError> {
        TrustList::from_document(crate::trust::TrustListDocument {
            format: crate::trust::TRUST_LIST_FORMAT.into(),
            serial,
            issued_at: now,
            entries,
            max_code_lifetime_secs: Some(
                self.index
                    .max_token_ttl_secs
                    .clamp(1, crate::trust::CODE_LIFETIME_SECS_MAX_LIMIT),
            ),
            max_printed_code_lifetime_secs: Some(self.max_printed_code_lifetime_secs()),
            refresh_interval_secs: None,
        })
        .map_err(|error| KeyStoreError::Corrupt {
            path: self.dir.join(INDEX_FILE),
            detail: error.to_string(),
        })
    }

    /// The trust-list signing key, created (EdDSA) on first use.
    pub fn trust_list_signer(
        &self,
        rng: &mut impl rand_core::CryptoRngCore,
    ) -> Result<SigningKey, KeyStoreError> {
        let path = self.dir.join(TRUST_LIST_SIGNER_FILE);
        if path.exists() {
            return self.read_secret(&path, Algorithm::EdDsa);
        }
        let key = SigningKey::generate(Algorithm::EdDsa, rng);
        self.write_secret(&path, &key)?;
        Ok(key)
    }

    /// Signs and returns the trust list of this store at `now`, bumping the
    /// serial. `extra` adds other regional systems' entries.
    pub fn export_trust_list(
        &mut self,
        now: Timestamp,
        extra: Vec<TrustEntry>,
        rng: &mut impl rand_core::CryptoRngCore,
    ) -> Result<SignedTrustList, KeyStoreError> {
        let signer = self.trust_list_signer(rng)?;
        let mut entries = self.trust_entries(now)?;
        entries.extend(extra);
        self.index.trust_list_serial += 1;
        let list = self.list_of(self.index.trust_list_serial, now, entries)?;
        self.save_index()?;
        Ok(list.sign(&signer))
    }

    /// The verifying key of a key held by its public key only.
    fn public_of(
        &self,
        record: &KeyRecord,
        public_key: &str,
    ) -> Result<crate::keys::VerifyingKey, KeyStoreError> {
        use base64::Engine as _;
        let corrupt = |detail: String| KeyStoreError::Corrupt {
            path: self.dir.join(INDEX_FILE),
            detail: format!("public key of {}: {detail}", record.kid),
        };
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(public_key)
            .map_err(|error| corrupt(error.to_string()))?;
        let key = crate::keys::VerifyingKey::from_public_bytes(record.algorithm, &bytes)
            .map_err(|error| corrupt(error.to_string()))?;
        if key.kid() != &record.kid {
            return Err(corrupt("the kid is not the key's".into()));
        }
        Ok(key)
    }

    fn secret_path(&self, kid: &Kid) -> PathBuf {
        self.dir.join(format!("{}.key", kid.to_hex()))
    }

    /// Creates the directory (and missing parents) with mode 0700, so the
    /// listing of kids is private too.
    fn ensure_dir(&self) -> Result<(), KeyStoreError> {
        use std::os::unix::fs::DirBuilderExt;
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .map_err(|source| KeyStoreError::Io {
                path: self.dir.clone(),
                source,
            })
    }

    fn write_secret(&self, path: &Path, key: &SigningKey) -> Result<(), KeyStoreError> {
        use std::os::unix::fs::OpenOptionsExt;
        self.ensure_dir()?;
        let io = |source| KeyStoreError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(io)?;
        let text = format!("{}\n{}\n", key.algorithm(), hex::encode(key.secret_bytes()));
        file.write_all(text.as_bytes()).map_err(io)?;
        file.sync_all().map_err(io)
    }

    fn read_secret(&self, path: &Path, algorithm: Algorithm) -> Result<SigningKey, KeyStoreError> {
        let corrupt = |detail: String| KeyStoreError::Corrupt {
            path: path.to_path_buf(),
            detail,
        };
        let text = fs::read_to_string(path).map_err(|source| KeyStoreError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let mut lines = text.lines();
        let stored = lines.next().unwrap_or_default();
        if Algorithm::parse(stored).ok() != Some(algorithm) {
            return Err(corrupt(format!("expected a {algorithm} key")));
        }
        let bytes = hex::decode(lines.next().unwrap_or_default().trim())
            .map_err(|_| corrupt("secret is not hex".into()))?;
        SigningKey::from_secret_bytes(algorithm, &bytes).map_err(|error| corrupt(error.to_string()))
    }

    fn save_index(&self) -> Result<(), KeyStoreError> {
        self.ensure_dir()?;
        let path = self.dir.join(INDEX_FILE);
        let temporary = self.dir.join(format!("{INDEX_FILE}.tmp"));
        let text = serde_json::to_string_pretty(&self.index).expect("the index serializes");
        let io = |source| KeyStoreError::Io {
            path: path.clone(),
            source,
        };
        // Written, synced and renamed, then the directory synced: a
        // revocation acknowledged is a revocation that survives a crash.
        let mut file = fs::File::create(&temporary).map_err(io)?;
        file.write_all(text.as_bytes()).map_err(io)?;
        file.sync_all().map_err(io)?;
        fs::rename(&temporary, &path).map_err(io)?;
        fs::File::open(&self.dir)
            .and_then(|dir| dir.sync_all())
            .map_err(io)
    }
}
