//! Document signer certificates (DSC): kid, public key, extended key usage
//! and validity, parsed from DER with x509-cert.

use sha2::{Digest, Sha256};
use x509_cert::der::{Decode, Encode};

use super::DccError;

/// Largest certificate accepted, in bytes of DER.
pub const CERT_DER_LEN_MAX: usize = 16 * 1024;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DscKey {
    /// ECDSA P-256: COSE ES256.
    P256(p256::ecdsa::VerifyingKey),
    /// RSA: COSE PS256.
    Rsa(rsa::RsaPublicKey),
}

impl DscKey {
    fn name(&self) -> &'static str {
        match self {
            DscKey::P256(_) => "P-256",
            DscKey::Rsa(_) => "RSA",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DscCert {
    /// The first 8 bytes of SHA-256 over the DER certificate.
    pub kid: Vec<u8>,
    pub key: DscKey,
    pub subject: String,
    /// Dotted extended key usage OIDs.
    pub extended_key_usage: Vec<String>,
    /// Validity, unix seconds.
    pub not_before: i64,
    pub not_after: i64,
}

impl DscCert {
    pub fn from_base64(text: &str) -> Result<DscCert, DccError> {
        use base64::Engine;
        let cleaned: String = text
            .lines()
            .filter(|line| !line.starts_with("-----"))
            .flat_map(|line| line.trim().chars())
            .collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(cleaned.as_bytes())
            .map_err(|error| bad(format!("base64: {error}")))?;
        DscCert::from_der(&der)
    }

    pub fn from_der(der: &[u8]) -> Result<DscCert, DccError> {
        if der.len() > CERT_DER_LEN_MAX {
            return Err(bad(format!(
                "{} bytes, at most {CERT_DER_LEN_MAX}",
                der.len()
            )));
        }
        let cert = x509_cert::Certificate::from_der(der).map_err(|error| bad(error.to_string()))?;
        let tbs = &cert.tbs_certificate;
        let spki = tbs
            .subject_public_key_info
            .to_der()
            .map_err(|error| bad(error.to_string()))?;
        let key = {
            use p256::pkcs8::DecodePublicKey as _;
            if let Ok(key) = p256::PublicKey::from_public_key_der(&spki) {
                DscKey::P256(key.into())
            } else {
                use rsa::pkcs8::DecodePublicKey as _;
                DscKey::Rsa(
                    rsa::RsaPublicKey::from_public_key_der(&spki)
                        .map_err(|_| bad("public key is neither P-256 nor RSA".into()))?,
                )
            }
        };
        let mut extended_key_usage = Vec::new();
        for extension in tbs.extensions.iter().flatten() {
            if extension.extn_id == <x509_cert::ext::pkix::ExtendedKeyUsage as x509_cert::der::oid::AssociatedOid>::OID {
                let usage = x509_cert::ext::pkix::ExtendedKeyUsage::from_der(
                    extension.extn_value.as_bytes(),
                )
                .map_err(|error| bad(format!("extended key usage: {error}")))?;
                extended_key_usage.extend(usage.0.iter().map(ToString::to_string));
            }
        }
        let secs = |time: x509_cert::time::Time| time.to_unix_duration().as_secs() as i64;
        Ok(DscCert {
            kid: Sha256::digest(der)[..8].to_vec(),
            key,
            subject: tbs.subject.to_string(),
            extended_key_usage,
            not_before: secs(tbs.validity.not_before),
            not_after: secs(tbs.validity.not_after),
        })
    }
}

fn bad(detail: String) -> DccError {
    DccError::BadCertificate { detail }
}

/// Verifies a COSE signature: ES256 (r‖s) under a P-256 key, PS256 (salt
/// of 32 bytes) under an RSA key.
pub fn verify(
    key: &DscKey,
    alg: &coset::Algorithm,
    message: &[u8],
    signature: &[u8],
) -> Result<(), DccError> {
    use coset::iana::Algorithm as Iana;
    use signature::Verifier;
    let wrong = || DccError::WrongAlgorithm {
        alg: format!("{alg:?}"),
        key: key.name(),
    };
    match (key, alg) {
        (DscKey::P256(key), coset::Algorithm::Assigned(Iana::ES256)) => {
            let signature = p256::ecdsa::Signature::from_slice(signature)
                .map_err(|_| DccError::BadSignature)?;
            key.verify(message, &signature)
                .map_err(|_| DccError::BadSignature)
        }
        (DscKey::Rsa(key), coset::Algorithm::Assigned(Iana::PS256)) => {
            let verifier = rsa::pss::VerifyingKey::<sha2::Sha256>::new(key.clone());
            let signature =
                rsa::pss::Signature::try_from(signature).map_err(|_| DccError::BadSignature)?;
            verifier
                .verify(message, &signature)
                .map_err(|_| DccError::BadSignature)
        }
        _ => Err(wrong()),
    }
}
