//! EU Digital COVID Certificates (`HC1:`) through the same layers as
//! yimatong's own codes: prefix, base45, zlib, COSE_Sign1 (ES256 or PS256),
//! a CWT whose claim -260/1 is the certificate JSON.
//!
//! Each layer is a separate function so the test-data runner
//! ([`suite`]) can check each expected result on its own; [`verify_dcc`]
//! chains them into one report.

pub mod cert;
pub mod json;
pub mod suite;
pub mod summary;

use ciborium::Value;
use coset::CoseSign1;
use serde::Serialize;
use ymt_core::Timestamp;

pub use cert::{DscCert, DscKey};
pub use summary::{DccEntry, DccSummary, summarize};

use crate::pipeline::{self, TagPolicy};

pub const DCC_PREFIX: &str = "HC1:";
/// CWT claim keys used by the DCC.
pub const CLAIM_ISSUER: i64 = 1;
pub const CLAIM_EXPIRES_AT: i64 = 4;
pub const CLAIM_ISSUED_AT: i64 = 6;
pub const CLAIM_HCERT: i64 = -260;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum DccError {
    #[error("text is {len} characters long, at most {len_max}")]
    TooLong { len: usize, len_max: usize },
    #[error("does not start with {DCC_PREFIX:?}")]
    BadPrefix,
    #[error("not valid base45: {detail}")]
    BadBase45 { detail: String },
    #[error("zlib inflate failed: {detail}")]
    InflateFailed { detail: String },
    #[error("malformed COSE_Sign1: {detail}")]
    MalformedCose { detail: String },
    #[error("malformed CWT payload: {detail}")]
    MalformedPayload { detail: String },
    #[error("schema validation failed: {detail}")]
    SchemaInvalid { detail: String },
    #[error("schema unavailable: {detail}")]
    SchemaUnavailable { detail: String },
    #[error("no kid in the COSE headers")]
    MissingKid,
    #[error("kid {kid} matches no signer certificate")]
    UnknownKid { kid: String },
    #[error("signer certificate: {detail}")]
    BadCertificate { detail: String },
    #[error("algorithm {alg} does not fit the signer's {key} key")]
    WrongAlgorithm { alg: String, key: &'static str },
    #[error("signature does not verify")]
    BadSignature,
    #[error("the signer certificate may not sign {kind} certificates")]
    KeyUsage { kind: String },
    #[error("outside the validity window: {detail}")]
    ValidityWindow { detail: String },
}

/// The CWT claims of a DCC.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DccPayload {
    /// Claim 1: the issuing country.
    pub issuer: Option<String>,
    pub issued_at: Option<i64>,
    pub expires_at: Option<i64>,
    /// Claim -260/1 as JSON.
    pub hcert: serde_json::Value,
}

pub fn check_length(text: &str) -> Result<(), DccError> {
    if text.len() > pipeline::QR_TEXT_LEN_MAX {
        return Err(DccError::TooLong {
            len: text.len(),
            len_max: pipeline::QR_TEXT_LEN_MAX,
        });
    }
    Ok(())
}

pub fn unprefix(text: &str) -> Result<&str, DccError> {
    check_length(text)?;
    text.strip_prefix(DCC_PREFIX).ok_or(DccError::BadPrefix)
}

pub fn decode_base45(text: &str) -> Result<Vec<u8>, DccError> {
    check_length(text)?;
    pipeline::decode_base45(text).map_err(|detail| DccError::BadBase45 { detail })
}

/// Inflates zlib data. The DCC spec makes compression mandatory, but
/// verifiers in the field accept an uncompressed COSE message, so bytes
/// without a zlib header pass through.
pub fn decompress(bytes: &[u8]) -> Result<Vec<u8>, DccError> {
    if !pipeline::looks_zlib_compressed(bytes) {
        return Ok(bytes.to_vec());
    }
    pipeline::inflate_bounded(bytes, pipeline::INFLATED_LEN_MAX)
        .map_err(|detail| DccError::InflateFailed { detail })
}

pub fn parse_cose(bytes: &[u8]) -> Result<CoseSign1, DccError> {
    pipeline::parse_cose_sign1(bytes, TagPolicy::Lenient)
        .map_err(|detail| DccError::MalformedCose { detail })
}

/// The kid from the protected header, else from the unprotected one.
pub fn kid_of(sign1: &CoseSign1) -> Option<&[u8]> {
    [&sign1.protected.header.key_id, &sign1.unprotected.key_id]
        .into_iter()
        .find(|kid| !kid.is_empty())
        .map(Vec::as_slice)
}

pub fn alg_of(sign1: &CoseSign1) -> Option<&coset::Algorithm> {
    sign1
        .protected
        .header
        .alg
        .as_ref()
        .or(sign1.unprotected.alg.as_ref())
}

fn int_claim(value: &Value, what: &str) -> Result<i64, DccError> {
    match value {
        Value::Integer(secs) => i64::try_from(*secs).map_err(|_| DccError::MalformedPayload {
            detail: format!("{what} out of range"),
        }),
        // Some issuers wrote instants as floats; whole seconds are kept.
        Value::Float(secs) if secs.is_finite() && secs.abs() < 1e15 => Ok(secs.trunc() as i64),
        _ => Err(DccError::MalformedPayload {
            detail: format!("{what} is not a number"),
        }),
    }
}

/// The COSE name of an algorithm (`ES256`, `PS256`, `EdDSA`), or its number.
pub fn algorithm_name(alg: &coset::Algorithm) -> String {
    use coset::iana::Algorithm as Iana;
    match alg {
        coset::Algorithm::Assigned(Iana::ES256) => "ES256".into(),
        coset::Algorithm::Assigned(Iana::PS256) => "PS256".into(),
        coset::Algorithm::Assigned(Iana::EdDSA) => "EdDSA".into(),
        other => format!("{other:?}"),
    }
}

/// Decodes the CWT claims and the certificate JSON.
pub fn decode_payload(sign1: &CoseSign1) -> Result<DccPayload, DccError> {
    let bytes = sign1
        .payload
        .as_deref()
        .ok_or_else(|| DccError::MalformedPayload {
            detail: "detached payload".into(),
        })?;
    let value =
        pipeline::cbor_from_slice(bytes).map_err(|detail| DccError::MalformedPayload { detail })?;
    decode_claims(&value)
}

/// Decodes a CWT claims map (as found in the COSE payload).
pub fn decode_claims(value: &Value) -> Result<DccPayload, DccError> {
    let malformed = |detail: &str| DccError::MalformedPayload {
        detail: detail.into(),
    };
    let Value::Map(entries) = value else {
        return Err(malformed("the payload is not a CBOR map"));
    };
    let mut payload = DccPayload {
        issuer: None,
        issued_at: None,
        expires_at: None,
        hcert: serde_json::Value::Null,
    };
    let mut hcert_found = false;
    for (key, value) in entries {
        let Some(key) = key.as_integer().and_then(|key| i64::try_from(key).ok()) else {
            continue;
        };
        match key {
            CLAIM_ISSUER => payload.issuer = value.as_text().map(str::to_owned),
            CLAIM_ISSUED_AT => payload.issued_at = Some(int_claim(value, "iat (6)")?),
            CLAIM_EXPIRES_AT => payload.expires_at = Some(int_claim(value, "exp (4)")?),
            CLAIM_HCERT => {
                let Value::Map(hcert_entries) = value else {
                    return Err(malformed("claim -260 is not a map"));
                };
                if hcert_entries.len() != 1 {
                    return Err(malformed("claim -260 must hold exactly one entry"));
                }
                let (version, certificate) = &hcert_entries[0];
                if version.as_integer() != Some(1.into()) {
                    return Err(malformed("claim -260 has no key 1"));
                }
                payload.hcert = json::cbor_to_json(certificate);
                hcert_found = true;
            }
            _ => {}
        }
    }
    if !hcert_found {
        return Err(malformed("no hcert claim -260"));
    }
    Ok(payload)
}

/// The certificate kind: `v`, `t` or `r`, when exactly one is present.
pub fn certificate_kind(hcert: &serde_json::Value) -> Option<&'static str> {
    let object = hcert.as_object()?;
    let kinds: Vec<&'static str> = ["v", "t", "r"]
        .into_iter()
        .filter(|kind| object.contains_key(*kind))
        .collect();
    match kinds.as_slice() {
        [kind] => Some(kind),
        _ => None,
    }
}

/// Checks the kid against the certificate's and the signature under its key.
pub fn verify_signature(sign1: &CoseSign1, cert: &DscCert) -> Result<(), DccError> {
    let kid = kid_of(sign1).ok_or(DccError::MissingKid)?;
    if kid != cert.kid.as_slice() {
        return Err(DccError::UnknownKid {
            kid: hex::encode(kid),
        });
    }
    verify_signature_with(sign1, &cert.key)
}

pub fn verify_signature_with(sign1: &CoseSign1, key: &DscKey) -> Result<(), DccError> {
    let alg = alg_of(sign1).ok_or_else(|| DccError::MalformedCose {
        detail: "no alg header".into(),
    })?;
    let tbs = sign1.tbs_data(&[]);
    cert::verify(key, alg, &tbs, &sign1.signature)
}

/// DCC OIDs of the extended key usage that limit a signer to kinds.
const KEY_USAGE_OIDS: [(&str, &str); 6] = [
    ("t", "1.3.6.1.4.1.1847.2021.1.1"),
    ("v", "1.3.6.1.4.1.1847.2021.1.2"),
    ("r", "1.3.6.1.4.1.1847.2021.1.3"),
    ("t", "1.3.6.1.4.1.0.1847.2021.1.1"),
    ("v", "1.3.6.1.4.1.0.1847.2021.1.2"),
    ("r", "1.3.6.1.4.1.0.1847.2021.1.3"),
];

/// A signer certificate whose extended key usage names DCC kinds may only
/// sign those kinds; one naming none may sign every kind.
pub fn check_key_usage(cert: &DscCert, hcert: &serde_json::Value) -> Result<(), DccError> {
    let kind = certificate_kind(hcert).ok_or_else(|| DccError::MalformedPayload {
        detail: "the certificate must hold exactly one of v, t, r".into(),
    })?;
    let dcc_usages: Vec<&str> = KEY_USAGE_OIDS
        .iter()
        .filter(|(_, oid)| cert.extended_key_usage.iter().any(|usage| usage == oid))
        .map(|(usage_kind, _)| *usage_kind)
        .collect();
    if dcc_usages.is_empty() || dcc_usages.contains(&kind) {
        Ok(())
    } else {
        Err(DccError::KeyUsage { kind: kind.into() })
    }
}

/// The signer certificate's validity must cover issue and expiry, and `now`
/// must lie between them.
pub fn check_validity(
    payload: &DccPayload,
    cert: &DscCert,
    now: Timestamp,
) -> Result<(), DccError> {
    let window = |detail: String| DccError::ValidityWindow { detail };
    let issued_at = payload
        .issued_at
        .ok_or_else(|| window("no iat (6)".into()))?;
    let expires_at = payload
        .expires_at
        .ok_or_else(|| window("no exp (4)".into()))?;
    let now = now.unix_secs();
    if issued_at < cert.not_before {
        return Err(window(format!(
            "issued at {issued_at}, before the signer certificate became valid at {}",
            cert.not_before
        )));
    }
    if now < issued_at {
        return Err(window(format!("issued at {issued_at}, after now {now}")));
    }
    if expires_at < now {
        return Err(window(format!("expired at {expires_at}, before now {now}")));
    }
    if expires_at > cert.not_after {
        return Err(window(format!(
            "expires at {expires_at}, after the signer certificate ends at {}",
            cert.not_after
        )));
    }
    Ok(())
}

/// A loaded DCC JSON schema.
pub struct DccSchema {
    validator: jsonschema::Validator,
}

impl std::fmt::Debug for DccSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DccSchema")
    }
}

pub const SCHEMA_FILE: &str = "DCC.combined-schema.json";

impl DccSchema {
    /// Loads `DCC.combined-schema.json` from a directory shaped like
    /// eu-dcc-schema.
    pub fn load(dir: &std::path::Path) -> Result<DccSchema, DccError> {
        let path = dir.join(SCHEMA_FILE);
        let text = std::fs::read_to_string(&path).map_err(|error| DccError::SchemaUnavailable {
            detail: format!("{}: {error}", path.display()),
        })?;
        DccSchema::from_json(&text)
    }

    pub fn from_json(text: &str) -> Result<DccSchema, DccError> {
        let schema: serde_json::Value =
            serde_json::from_str(text).map_err(|error| DccError::SchemaUnavailable {
                detail: error.to_string(),
            })?;
        let validator =
            jsonschema::validator_for(&schema).map_err(|error| DccError::SchemaUnavailable {
                detail: error.to_string(),
            })?;
        Ok(DccSchema { validator })
    }

    /// Validates a certificate JSON; it must also hold exactly one of v, t, r.
    pub fn validate(&self, hcert: &serde_json::Value) -> Result<(), DccError> {
        let errors: Vec<String> = self
            .validator
            .iter_errors(hcert)
            .take(5)
            .map(|error| format!("{} at {}", error, error.instance_path()))
            .collect();
        if !errors.is_empty() {
            return Err(DccError::SchemaInvalid {
                detail: errors.join("; "),
            });
        }
        if certificate_kind(hcert).is_none() {
            return Err(DccError::SchemaInvalid {
                detail: "must hold exactly one of v, t, r".into(),
            });
        }
        Ok(())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DccStep {
    Prefix,
    Base45,
    Inflate,
    CoseStructure,
    Payload,
    Schema,
    KidLookup,
    Signature,
    KeyUsage,
    ValidityWindow,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DccStepOutcome {
    pub step: DccStep,
    pub status: crate::token::StepStatus,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<DccError>,
}

/// The outcome of [`verify_dcc`]. Decoding stops at the first broken
/// layer; once the payload is decoded every check runs, so one report
/// shows every problem.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DccReport {
    pub valid: bool,
    pub steps: Vec<DccStepOutcome>,
    pub kid: Option<String>,
    pub algorithm: Option<String>,
    pub payload: Option<DccPayload>,
    pub summary: Option<DccSummary>,
}

/// Verifies an `HC1:` text with the signer certificates given, the schema
/// if any, at `now`.
pub fn verify_dcc(
    text: &str,
    certs: &[DscCert],
    schema: Option<&DccSchema>,
    now: Timestamp,
) -> DccReport {
    use crate::token::StepStatus;
    let mut steps = Vec::new();
    let mut report = DccReport {
        valid: false,
        steps: Vec::new(),
        kid: None,
        algorithm: None,
        payload: None,
        summary: None,
    };
    fn record(
        steps: &mut Vec<DccStepOutcome>,
        step: DccStep,
        result: Result<String, DccError>,
    ) -> bool {
        let ok = result.is_ok();
        steps.push(match result {
            Ok(detail) => DccStepOutcome {
                step,
                status: StepStatus::Ok,
                detail,
                error: None,
            },
            Err(error) => DccStepOutcome {
                step,
                status: StepStatus::Failed,
                detail: error.to_string(),
                error: Some(error),
            },
        });
        ok
    }
    let mut push = |step, result| record(&mut steps, step, result);

    let decoded = (|| {
        let body = unprefix(text);
        if !push(
            DccStep::Prefix,
            body.as_ref()
                .map(|_| DCC_PREFIX.to_string())
                .map_err(Clone::clone),
        ) {
            return None;
        }
        let compressed = decode_base45(body.ok()?);
        if !push(
            DccStep::Base45,
            compressed
                .as_ref()
                .map(|b| format!("{} bytes", b.len()))
                .map_err(Clone::clone),
        ) {
            return None;
        }
        let cose = decompress(&compressed.ok()?);
        if !push(
            DccStep::Inflate,
            cose.as_ref()
                .map(|b| format!("{} bytes", b.len()))
                .map_err(Clone::clone),
        ) {
            return None;
        }
        let sign1 = parse_cose(&cose.ok()?);
        if !push(
            DccStep::CoseStructure,
            sign1
                .as_ref()
                .map(|_| "COSE_Sign1".to_string())
                .map_err(Clone::clone),
        ) {
            return None;
        }
        let sign1 = sign1.ok()?;
        let payload = decode_payload(&sign1);
        if !push(
            DccStep::Payload,
            payload
                .as_ref()
                .map(|p| format!("issuer {:?}", p.issuer))
                .map_err(Clone::clone),
        ) {
            return None;
        }
        Some((sign1, payload.ok()?))
    })();

    let mut all_ok = false;
    if let Some((sign1, payload)) = decoded {
        report.kid = kid_of(&sign1).map(hex::encode);
        report.algorithm = alg_of(&sign1).map(algorithm_name);
        let schema_ok = match schema {
            Some(schema) => record(
                &mut steps,
                DccStep::Schema,
                schema.validate(&payload.hcert).map(|()| "valid".into()),
            ),
            None => {
                steps.push(DccStepOutcome {
                    step: DccStep::Schema,
                    status: StepStatus::Skipped,
                    detail: "no schema loaded".into(),
                    error: None,
                });
                true
            }
        };
        let cert =
            kid_of(&sign1).and_then(|kid| certs.iter().find(|cert| cert.kid.as_slice() == kid));
        let kid_result = match (kid_of(&sign1), cert) {
            (None, _) => Err(DccError::MissingKid),
            (Some(kid), None) => Err(DccError::UnknownKid {
                kid: hex::encode(kid),
            }),
            (Some(_), Some(cert)) => Ok(format!("signer {}", cert.subject)),
        };
        let mut verified = record(&mut steps, DccStep::KidLookup, kid_result);
        if let Some(cert) = cert {
            verified &= record(
                &mut steps,
                DccStep::Signature,
                verify_signature(&sign1, cert).map(|()| "valid".into()),
            );
            verified &= record(
                &mut steps,
                DccStep::KeyUsage,
                check_key_usage(cert, &payload.hcert).map(|()| "allowed".into()),
            );
            verified &= record(
                &mut steps,
                DccStep::ValidityWindow,
                check_validity(&payload, cert, now).map(|()| "valid now".into()),
            );
        } else {
            for step in [
                DccStep::Signature,
                DccStep::KeyUsage,
                DccStep::ValidityWindow,
            ] {
                steps.push(DccStepOutcome {
                    step,
                    status: StepStatus::Skipped,
                    detail: "no signer certificate".into(),
                    error: None,
                });
            }
        }
        all_ok = schema_ok && verified;
        report.summary = summarize(&payload).ok();
        report.payload = Some(payload);
    }
    report.steps = steps;
    report.valid = all_ok;
    report
}
