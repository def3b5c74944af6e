//! Signed health codes (`YMT1:`), their keys and trust list, QR codes, and
//! verification of EU Digital COVID Certificates (`HC1:`) through the same
//! layers.
//!
//! The pure API takes keys, trust lists and the current instant as
//! arguments. [`keystore`] reads and writes key files; [`qr`] decodes image
//! bytes handed to it; [`dcc::suite`] walks a test-data directory.
//!
//! ```no_run
//! use ymt_token::{issue, verify, Algorithm, Claims, SigningKey, TrustList};
//! # fn demo(claims: Claims, now: ymt_core::Timestamp) {
//! let key = SigningKey::generate(Algorithm::EdDsa, &mut rand_core::OsRng);
//! let trust = TrustList::from_keys("ymt:44", &[key.verifying_key()]);
//! let token = issue(&claims, &key).unwrap();
//! assert!(verify(&token, &trust, now).valid);
//! # }
//! ```

pub mod claims;
pub mod dcc;
pub mod issuer;
pub mod keys;
pub mod keystore;
pub mod pipeline;
pub mod qr;
pub mod token;
pub mod trust;
pub mod verifier;

pub use claims::{Claims, CodeKind};
pub use issuer::{CodeIssuer, CodeRequest, IssuedCode};
pub use keys::{Algorithm, KeyError, Kid, SigningKey, VerifyingKey};
pub use keystore::{KeyRecord, KeyStore, KeyStoreError, Revocation};
pub use qr::{QrError, decode_qr_frame, decode_qr_image, render_qr_png, render_qr_svg};
pub use token::{
    Step, StepOutcome, StepStatus, TOKEN_PREFIX, TOKEN_TTL_SECS_DEFAULT, TokenError,
    VerificationReport, inspect, issue, verify,
};
pub use trust::{SignedTrustList, TrustEntry, TrustList, TrustListError, TrustedKey};
pub use verifier::TrustListCache;

/// The algorithm new keys use unless told otherwise. Ed25519 verifies
/// several times faster than ES256 with these crates (see
/// docs/token-format.md for the measurement).
pub const DEFAULT_ALGORITHM: Algorithm = Algorithm::EdDsa;

/// Re-exported so callers (the CLI) can pass `rand_core::OsRng` to key
/// generation without depending on rand_core themselves.
pub use rand_core;
pub use serde::Serialize;
