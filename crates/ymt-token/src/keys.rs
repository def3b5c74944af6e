//! Signing and verifying keys of health codes.
//!
//! Two algorithms are supported: ES256 (ECDSA over P-256 with SHA-256) and
//! EdDSA (Ed25519). A key is named by its kid: the first 8 bytes of
//! SHA-256 over the algorithm name and the public key, so the kid follows
//! from the key and needs no registry.
//!
//! Secret material never appears in `Debug` output: the custom `Debug`
//! implementations print only the algorithm and the kid.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

/// Longest kid accepted from untrusted input (DCC kids are 8 bytes).
pub const KID_LEN_MAX: usize = 32;
/// Length of the kids this crate derives.
pub const KID_LEN_DERIVED: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum KeyError {
    #[error("kid must be 1 to {KID_LEN_MAX} bytes, got {len}")]
    KidLength { len: usize },
    #[error("kid is not hex: {detail}")]
    KidNotHex { detail: String },
    #[error("unknown algorithm {name:?} (expected ES256 or EdDSA)")]
    UnknownAlgorithm { name: String },
    #[error("{algorithm} secret key bytes are invalid")]
    BadSecretKey { algorithm: Algorithm },
    #[error("{algorithm} public key bytes are invalid")]
    BadPublicKey { algorithm: Algorithm },
}

/// A signature algorithm, named as in the COSE registry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// ECDSA over P-256 with SHA-256 (COSE alg -7).
    Es256,
    /// Ed25519 (COSE alg -8).
    EdDsa,
}

impl Algorithm {
    pub const ALL: [Algorithm; 2] = [Algorithm::EdDsa, Algorithm::Es256];

    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Es256 => "ES256",
            Algorithm::EdDsa => "EdDSA",
        }
    }

    /// Accepts the COSE names and the lower-case CLI spellings.
    pub fn parse(text: &str) -> Result<Algorithm, KeyError> {
        match text {
            "ES256" | "es256" => Ok(Algorithm::Es256),
            "EdDSA" | "eddsa" | "ed25519" => Ok(Algorithm::EdDsa),
            _ => Err(KeyError::UnknownAlgorithm {
                name: text.chars().take(20).collect(),
            }),
        }
    }

    pub fn cose(self) -> coset::iana::Algorithm {
        match self {
            Algorithm::Es256 => coset::iana::Algorithm::ES256,
            Algorithm::EdDsa => coset::iana::Algorithm::EdDSA,
        }
    }

    pub fn from_cose(alg: &coset::Algorithm) -> Option<Algorithm> {
        match alg {
            coset::Algorithm::Assigned(coset::iana::Algorithm::ES256) => Some(Algorithm::Es256),
            coset::Algorithm::Assigned(coset::iana::Algorithm::EdDSA) => Some(Algorithm::EdDsa),
            _ => None,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Algorithm {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Algorithm {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Algorithm::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// A key id: 1 to 32 opaque bytes, shown as lower-case hex.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Kid(Box<[u8]>);

impl Kid {
    pub fn from_bytes(bytes: &[u8]) -> Result<Kid, KeyError> {
        if bytes.is_empty() || bytes.len() > KID_LEN_MAX {
            return Err(KeyError::KidLength { len: bytes.len() });
        }
        Ok(Kid(bytes.into()))
    }

    pub fn parse_hex(text: &str) -> Result<Kid, KeyError> {
        if text.len() > 2 * KID_LEN_MAX {
            return Err(KeyError::KidLength {
                len: text.len() / 2,
            });
        }
        let bytes = hex::decode(text).map_err(|error| KeyError::KidNotHex {
            detail: error.to_string(),
        })?;
        Kid::from_bytes(&bytes)
    }

    /// The kid of a public key: SHA-256 over the algorithm name, a zero byte
    /// and the public key bytes, cut to 8 bytes.
    pub fn derive(algorithm: Algorithm, public_key: &[u8]) -> Kid {
        let mut hasher = Sha256::new();
        hasher.update(algorithm.as_str().as_bytes());
        hasher.update([0u8]);
        hasher.update(public_key);
        let digest = hasher.finalize();
        Kid(digest[..KID_LEN_DERIVED].into())
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn to_hex(&self) -> String {
        hex::encode(&self.0)
    }
}

impl fmt::Display for Kid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Kid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Kid({})", self.to_hex())
    }
}

impl Serialize for Kid {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Kid {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Kid::parse_hex(&text).map_err(serde::de::Error::custom)
    }
}

#[derive(Clone)]
enum SecretKey {
    Es256(p256::ecdsa::SigningKey),
    EdDsa(ed25519_dalek::SigningKey),
}

/// A private signing key and its kid.
#[derive(Clone)]
pub struct SigningKey {
    kid: Kid,
    secret: SecretKey,
}

impl SigningKey {
    /// Generates a fresh key from the given random source.
    pub fn generate(algorithm: Algorithm, rng: &mut impl rand_core::CryptoRngCore) -> SigningKey {
        let secret = match algorithm {
            Algorithm::Es256 => SecretKey::Es256(p256::ecdsa::SigningKey::random(rng)),
            Algorithm::EdDsa => SecretKey::EdDsa(ed25519_dalek::SigningKey::generate(rng)),
        };
        SigningKey::from_secret(secret)
    }

    /// Rebuilds a key from its 32 secret bytes (the P-256 scalar, or the
    /// Ed25519 seed).
    pub fn from_secret_bytes(algorithm: Algorithm, bytes: &[u8]) -> Result<SigningKey, KeyError> {
        let bad = || KeyError::BadSecretKey { algorithm };
        let secret = match algorithm {
            Algorithm::Es256 => {
                SecretKey::Es256(p256::ecdsa::SigningKey::from_slice(bytes).map_err(|_| bad())?)
            }
            Algorithm::EdDsa => {
                let seed: [u8; 32] = bytes.try_into().map_err(|_| bad())?;
                SecretKey::EdDsa(ed25519_dalek::SigningKey::from_bytes(&seed))
            }
        };
        Ok(SigningKey::from_secret(secret))
    }

    fn from_secret(secret: SecretKey) -> SigningKey {
        let public = match &secret {
            SecretKey::Es256(key) => VerifyingKeyInner::Es256(*key.verifying_key()),
            SecretKey::EdDsa(key) => VerifyingKeyInner::EdDsa(key.verifying_key()),
        };
        let algorithm = public.algorithm();
        let kid = Kid::derive(algorithm, &public.to_bytes());
        SigningKey { kid, secret }
    }

    /// The 32 secret bytes, for the key store to write to a 0600 file.
    pub fn secret_bytes(&self) -> [u8; 32] {
        match &self.secret {
            SecretKey::Es256(key) => key.to_bytes().into(),
            SecretKey::EdDsa(key) => key.to_bytes(),
        }
    }

    pub fn kid(&self) -> &Kid {
        &self.kid
    }

    pub fn algorithm(&self) -> Algorithm {
        match self.secret {
            SecretKey::Es256(_) => Algorithm::Es256,
            SecretKey::EdDsa(_) => Algorithm::EdDsa,
        }
    }

    pub fn verifying_key(&self) -> VerifyingKey {
        let inner = match &self.secret {
            SecretKey::Es256(key) => VerifyingKeyInner::Es256(*key.verifying_key()),
            SecretKey::EdDsa(key) => VerifyingKeyInner::EdDsa(key.verifying_key()),
        };
        VerifyingKey {
            kid: self.kid.clone(),
            inner,
        }
    }

    /// Signs a message: 64 bytes, r‖s for ES256 (as COSE wants) or the
    /// Ed25519 signature.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        use signature::Signer;
        match &self.secret {
            SecretKey::Es256(key) => {
                let signature: p256::ecdsa::Signature = key.sign(message);
                signature.to_bytes().to_vec()
            }
            SecretKey::EdDsa(key) => key.sign(message).to_bytes().to_vec(),
        }
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("algorithm", &self.algorithm())
            .field("kid", &self.kid)
            .field("secret", &"<redacted>")
            .finish()
    }
}

#[derive(Clone, PartialEq, Eq)]
enum VerifyingKeyInner {
    Es256(p256::ecdsa::VerifyingKey),
    EdDsa(ed25519_dalek::VerifyingKey),
}

impl VerifyingKeyInner {
    fn algorithm(&self) -> Algorithm {
        match self {
            VerifyingKeyInner::Es256(_) => Algorithm::Es256,
            VerifyingKeyInner::EdDsa(_) => Algorithm::EdDsa,
        }
    }

    fn to_bytes(&self) -> Vec<u8> {
        match self {
            VerifyingKeyInner::Es256(key) => key.to_encoded_point(true).as_bytes().to_vec(),
            VerifyingKeyInner::EdDsa(key) => key.to_bytes().to_vec(),
        }
    }
}

/// A public key and its kid.
#[derive(Clone, PartialEq, Eq)]
pub struct VerifyingKey {
    kid: Kid,
    inner: VerifyingKeyInner,
}

impl VerifyingKey {
    /// Parses public key bytes: a SEC1 point (compressed or not) for ES256,
    /// 32 bytes for Ed25519. The kid is derived from the key.
    pub fn from_public_bytes(algorithm: Algorithm, bytes: &[u8]) -> Result<VerifyingKey, KeyError> {
        let inner = VerifyingKeyInner::parse(algorithm, bytes)?;
        let kid = Kid::derive(algorithm, &inner.to_bytes());
        Ok(VerifyingKey { kid, inner })
    }

    /// Parses public key bytes under a kid chosen elsewhere (another
    /// region's trust list entry, for example).
    pub fn from_public_bytes_with_kid(
        algorithm: Algorithm,
        bytes: &[u8],
        kid: Kid,
    ) -> Result<VerifyingKey, KeyError> {
        let inner = VerifyingKeyInner::parse(algorithm, bytes)?;
        Ok(VerifyingKey { kid, inner })
    }

    pub fn kid(&self) -> &Kid {
        &self.kid
    }

    pub fn algorithm(&self) -> Algorithm {
        self.inner.algorithm()
    }

    /// Compressed SEC1 for ES256 (33 bytes), raw for Ed25519 (32 bytes).
    pub fn public_bytes(&self) -> Vec<u8> {
        self.inner.to_bytes()
    }

    /// True when `signature` is a valid signature of `message`. Ed25519 uses
    /// strict verification, which rejects malleable and small-order forms.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        match &self.inner {
            VerifyingKeyInner::Es256(key) => {
                use signature::Verifier;
                let Ok(signature) = p256::ecdsa::Signature::from_slice(signature) else {
                    return false;
                };
                key.verify(message, &signature).is_ok()
            }
            VerifyingKeyInner::EdDsa(key) => {
                let Ok(bytes) = <[u8; 64]>::try_from(signature) else {
                    return false;
                };
                let signature = ed25519_dalek::Signature::from_bytes(&bytes);
                key.verify_strict(message, &signature).is_ok()
            }
        }
    }
}

impl VerifyingKeyInner {
    fn parse(algorithm: Algorithm, bytes: &[u8]) -> Result<VerifyingKeyInner, KeyError> {
        let bad = || KeyError::BadPublicKey { algorithm };
        match algorithm {
            Algorithm::Es256 => Ok(VerifyingKeyInner::Es256(
                p256::ecdsa::VerifyingKey::from_sec1_bytes(bytes).map_err(|_| bad())?,
            )),
            Algorithm::EdDsa => {
                let raw: [u8; 32] = bytes.try_into().map_err(|_| bad())?;
                Ok(VerifyingKeyInner::EdDsa(
                    ed25519_dalek::VerifyingKey::from_bytes(&raw).map_err(|_| bad())?,
                ))
            }
        }
    }
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("algorithm", &self.algorithm())
            .field("kid", &self.kid)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_secret() {
        for algorithm in Algorithm::ALL {
            let key = SigningKey::generate(algorithm, &mut rand_core::OsRng);
            let printed = format!("{key:?}");
            assert!(printed.contains("redacted"));
            assert!(!printed.contains(&hex::encode(key.secret_bytes())));
        }
    }

    #[test]
    fn secret_bytes_round_trip_and_kid_is_stable() {
        for algorithm in Algorithm::ALL {
            let key = SigningKey::generate(algorithm, &mut rand_core::OsRng);
            let again = SigningKey::from_secret_bytes(algorithm, &key.secret_bytes()).unwrap();
            assert_eq!(key.kid(), again.kid());
            let public =
                VerifyingKey::from_public_bytes(algorithm, &key.verifying_key().public_bytes())
                    .unwrap();
            assert_eq!(public.kid(), key.kid());
            let signature = key.sign(b"message");
            assert!(public.verify(b"message", &signature));
            assert!(!public.verify(b"messagE", &signature));
        }
    }
}
