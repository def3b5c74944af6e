//! Issuing and verifying `YMT1:` health codes.
//!
//! Layers, outside in: the prefix `YMT1:`, base45, zlib, a tagged
//! COSE_Sign1 whose protected header carries alg and kid, and the CWT
//! claims map of [`Claims`]. See docs/token-format.md.

use coset::{CborSerializable, CoseSign1Builder, HeaderBuilder, TaggedCborSerializable};
use serde::Serialize;
use ymt_core::Timestamp;

use crate::claims::Claims;
use crate::keys::{Algorithm, Kid, SigningKey};
use crate::pipeline::{self, TagPolicy};
use crate::trust::TrustList;

pub const TOKEN_PREFIX: &str = "YMT1:";
/// Default lifetime of a code.
pub const TOKEN_TTL_SECS_DEFAULT: i64 = 300;
/// A code issued up to this far in the verifier's future is still accepted,
/// so a scanner whose clock runs a little behind the platform's does not
/// turn fresh codes away. Expiry has no such leeway.
pub const CLOCK_SKEW_LEEWAY_SECS: i64 = 30;

/// Every way issuing or verifying can fail, one variant per cause.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum TokenError {
    #[error("token is {len} characters long, at most {len_max}")]
    TooLong { len: usize, len_max: usize },
    #[error("token does not start with {expected:?}")]
    BadPrefix { expected: &'static str },
    #[error("not valid base45: {detail}")]
    BadBase45 { detail: String },
    #[error("zlib inflate failed: {detail}")]
    InflateFailed { detail: String },
    #[error("malformed COSE_Sign1: {detail}")]
    MalformedCose { detail: String },
    #[error("unsupported algorithm {alg} (want ES256 or EdDSA)")]
    UnsupportedAlgorithm { alg: String },
    #[error("the protected header has no kid")]
    MissingKid,
    #[error("kid {kid} is not in the trust list")]
    UnknownKid { kid: Kid },
    #[error("kid {kid} is a {expected} key but the code says {found}")]
    WrongAlgorithm {
        kid: Kid,
        expected: Algorithm,
        found: Algorithm,
    },
    #[error("signature does not verify under kid {kid}")]
    BadSignature { kid: Kid },
    #[error("malformed claims: {detail}")]
    MalformedClaims { detail: String },
    #[error("issuer {found:?} may not use kid {kid}, which belongs to {expected:?}")]
    IssuerMismatch {
        kid: Kid,
        expected: String,
        found: String,
    },
    #[error("kid {kid} is trusted from {valid_from} until {valid_until:?}, not at {now}")]
    KeyNotValidAt {
        kid: Kid,
        valid_from: Timestamp,
        valid_until: Option<Timestamp>,
        now: Timestamp,
    },
    #[error("code is not valid before {issued_at} (now {now})")]
    NotYetValid {
        issued_at: Timestamp,
        now: Timestamp,
    },
    #[error("code expired at {expires_at} (now {now})")]
    Expired {
        expires_at: Timestamp,
        now: Timestamp,
    },
    #[error("the color held until {valid_until} (now {now})")]
    ColorExpired {
        valid_until: Timestamp,
        now: Timestamp,
    },
    #[error(
        "code lives {lifetime_secs} s (issued {issued_at}, expires {expires_at}), longer than the {lifetime_secs_max} s the trust list allows"
    )]
    LifetimeTooLong {
        issued_at: Timestamp,
        expires_at: Timestamp,
        lifetime_secs: i64,
        lifetime_secs_max: i64,
    },
    #[error("kid {kid} was revoked at {revoked_at}; none of its codes is valid")]
    KeyRevoked { kid: Kid, revoked_at: Timestamp },
    #[error(
        "the trust list (fetched {fetched_at:?}) is older than {age_secs_max} s at {now}; refresh it online"
    )]
    TrustListStale {
        fetched_at: Option<Timestamp>,
        now: Timestamp,
        age_secs_max: i64,
    },
    #[error("claims cannot be issued: {detail}")]
    InvalidClaims { detail: String },
    #[error("encoding failed: {detail}")]
    Encoding { detail: String },
}

/// The steps of verification, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    Prefix,
    Base45,
    Inflate,
    CoseStructure,
    KidLookup,
    Signature,
    Claims,
    ValidityWindow,
}

impl Step {
    pub const ALL: [Step; 8] = [
        Step::Prefix,
        Step::Base45,
        Step::Inflate,
        Step::CoseStructure,
        Step::KidLookup,
        Step::Signature,
        Step::Claims,
        Step::ValidityWindow,
    ];
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    Ok,
    Failed,
    /// Not run because an earlier step failed.
    Skipped,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StepOutcome {
    pub step: Step,
    pub status: StepStatus,
    pub detail: String,
}

/// The outcome of [`verify`]: every step in order, and the claims only when
/// every step passed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VerificationReport {
    pub valid: bool,
    pub steps: Vec<StepOutcome>,
    pub kid: Option<Kid>,
    pub algorithm: Option<Algorithm>,
    pub claims: Option<Claims>,
    pub error: Option<TokenError>,
}

impl VerificationReport {
    /// The failed step, if any.
    pub fn failed_step(&self) -> Option<Step> {
        self.steps
            .iter()
            .find(|outcome| outcome.status == StepStatus::Failed)
            .map(|outcome| outcome.step)
    }
}

/// Signs claims into a `YMT1:` token.
pub fn issue(claims: &Claims, key: &SigningKey) -> Result<String, TokenError> {
    claims
        .check()
        .map_err(|detail| TokenError::InvalidClaims { detail })?;
    let payload = pipeline::cbor_to_vec(&claims.to_cbor_value());
    let protected = HeaderBuilder::new()
        .algorithm(key.algorithm().cose())
        .key_id(key.kid().as_bytes().to_vec())
        .build();
    let sign1 = CoseSign1Builder::new()
        .protected(protected)
        .payload(payload)
        .create_signature(&[], |tbs| key.sign(tbs))
        .build();
    let cose = sign1
        .to_tagged_vec()
        .map_err(|error| TokenError::Encoding {
            detail: format!("{error:?}"),
        })?;
    let compressed = pipeline::deflate(&cose);
    let mut token = String::with_capacity(TOKEN_PREFIX.len() + compressed.len() * 3 / 2 + 2);
    token.push_str(TOKEN_PREFIX);
    token.push_str(&base45::encode(compressed));
    Ok(token)
}

struct Recorder {
    steps: Vec<StepOutcome>,
}

impl Recorder {
    fn ok(&mut self, step: Step, detail: impl Into<String>) {
        self.steps.push(StepOutcome {
            step,
            status: StepStatus::Ok,
            detail: detail.into(),
        });
    }

    fn fail(
        mut self,
        step: Step,
        error: TokenError,
        kid: Option<Kid>,
        algorithm: Option<Algorithm>,
    ) -> VerificationReport {
        self.steps.push(StepOutcome {
            step,
            status: StepStatus::Failed,
            detail: error.to_string(),
        });
        for later in Step::ALL.iter().skip(self.steps.len()) {
            self.steps.push(StepOutcome {
                step: *later,
                status: StepStatus::Skipped,
                detail: String::new(),
            });
        }
        VerificationReport {
            valid: false,
            steps: self.steps,
            kid,
            algorithm,
            claims: None,
            error: Some(error),
        }
    }
}

/// Verifies a token against a trust list at the instant `now`. Never
/// panics; every failure is one [`TokenError`] variant in the report.
pub fn verify(token: &str, trust: &TrustList, now: Timestamp) -> VerificationReport {
    let mut record = Recorder {
        steps: Vec::with_capacity(Step::ALL.len()),
    };

    if token.len() > pipeline::QR_TEXT_LEN_MAX {
        let error = TokenError::TooLong {
            len: token.len(),
            len_max: pipeline::QR_TEXT_LEN_MAX,
        };
        return record.fail(Step::Prefix, error, None, None);
    }
    let Some(body) = token.strip_prefix(TOKEN_PREFIX) else {
        let error = TokenError::BadPrefix {
            expected: TOKEN_PREFIX,
        };
        return record.fail(Step::Prefix, error, None, None);
    };
    record.ok(Step::Prefix, TOKEN_PREFIX);

    let compressed = match pipeline::decode_base45(body) {
        Ok(bytes) => bytes,
        Err(detail) => {
            return record.fail(Step::Base45, TokenError::BadBase45 { detail }, None, None);
        }
    };
    record.ok(Step::Base45, format!("{} bytes", compressed.len()));

    let cose_bytes = match pipeline::inflate_bounded(&compressed, pipeline::INFLATED_LEN_MAX) {
        Ok(bytes) => bytes,
        Err(detail) => {
            return record.fail(
                Step::Inflate,
                TokenError::InflateFailed { detail },
                None,
                None,
            );
        }
    };
    record.ok(Step::Inflate, format!("{} bytes", cose_bytes.len()));

    let sign1 = match pipeline::parse_cose_sign1(&cose_bytes, TagPolicy::RequireSign1Tag) {
        Ok(sign1) => sign1,
        Err(detail) => {
            return record.fail(
                Step::CoseStructure,
                TokenError::MalformedCose { detail },
                None,
                None,
            );
        }
    };
    let algorithm = match &sign1.protected.header.alg {
        None => {
            let error = TokenError::MalformedCose {
                detail: "the protected header has no alg".into(),
            };
            return record.fail(Step::CoseStructure, error, None, None);
        }
        Some(alg) => match Algorithm::from_cose(alg) {
            Some(algorithm) => algorithm,
            None => {
                let error = TokenError::UnsupportedAlgorithm {
                    alg: format!("{alg:?}"),
                };
                return record.fail(Step::CoseStructure, error, None, None);
            }
        },
    };
    let Some(payload) = sign1.payload.as_deref() else {
        let error = TokenError::MalformedCose {
            detail: "detached payload".into(),
        };
        return record.fail(Step::CoseStructure, error, None, Some(algorithm));
    };
    record.ok(Step::CoseStructure, "COSE_Sign1");

    if sign1.protected.header.key_id.is_empty() {
        return record.fail(
            Step::KidLookup,
            TokenError::MissingKid,
            None,
            Some(algorithm),
        );
    }
    let kid = match Kid::from_bytes(&sign1.protected.header.key_id) {
        Ok(kid) => kid,
        Err(error) => {
            let error = TokenError::MalformedCose {
                detail: error.to_string(),
            };
            return record.fail(Step::KidLookup, error, None, Some(algorithm));
        }
    };
    let Some(trusted) = trust.lookup(&kid) else {
        let error = TokenError::UnknownKid { kid: kid.clone() };
        return record.fail(Step::KidLookup, error, Some(kid), Some(algorithm));
    };
    if trusted.key.algorithm() != algorithm {
        let error = TokenError::WrongAlgorithm {
            kid: kid.clone(),
            expected: trusted.key.algorithm(),
            found: algorithm,
        };
        return record.fail(Step::KidLookup, error, Some(kid), Some(algorithm));
    }
    if let Some(revoked_at) = trusted.revoked_at {
        let error = TokenError::KeyRevoked {
            kid: kid.clone(),
            revoked_at,
        };
        return record.fail(Step::KidLookup, error, Some(kid), Some(algorithm));
    }
    record.ok(Step::KidLookup, trusted.issuer.as_str());

    let tbs = sign1.tbs_data(&[]);
    if !trusted.key.verify(&tbs, &sign1.signature) {
        let error = TokenError::BadSignature { kid: kid.clone() };
        return record.fail(Step::Signature, error, Some(kid), Some(algorithm));
    }
    record.ok(Step::Signature, algorithm.as_str());

    let claims = match pipeline::cbor_from_slice(payload)
        .and_then(|value| Claims::from_cbor_value(&value))
    {
        Ok(claims) => claims,
        Err(detail) => {
            let error = TokenError::MalformedClaims { detail };
            return record.fail(Step::Claims, error, Some(kid), Some(algorithm));
        }
    };
    if claims.issuer != trusted.issuer {
        let error = TokenError::IssuerMismatch {
            kid: kid.clone(),
            expected: trusted.issuer.clone(),
            found: claims.issuer.clone(),
        };
        return record.fail(Step::Claims, error, Some(kid), Some(algorithm));
    }
    record.ok(
        Step::Claims,
        format!(
            "{} {} code of {} by {}",
            claims.color,
            claims.kind.as_str(),
            claims.person,
            claims.issuer
        ),
    );

    // A printed code lives by its own, longer limit; the kind is signed, so
    // a phone code cannot claim it.
    let lifetime_secs_max = trust.max_lifetime_secs_of(claims.kind);
    if let Err(error) = check_window(&claims, trusted, &kid, now, lifetime_secs_max) {
        return record.fail(Step::ValidityWindow, error, Some(kid), Some(algorithm));
    }
    record.ok(
        Step::ValidityWindow,
        format!(
            "valid from {} until {}",
            claims.issued_at, claims.expires_at
        ),
    );

    VerificationReport {
        valid: true,
        steps: record.steps,
        kid: Some(kid),
        algorithm: Some(algorithm),
        claims: Some(claims),
        error: None,
    }
}

fn check_window(
    claims: &Claims,
    trusted: &crate::trust::TrustedKey,
    kid: &Kid,
    now: Timestamp,
    lifetime_secs_max: i64,
) -> Result<(), TokenError> {
    let key_valid =
        trusted.valid_from <= now && trusted.valid_until.is_none_or(|until| now < until);
    if !key_valid {
        return Err(TokenError::KeyNotValidAt {
            kid: kid.clone(),
            valid_from: trusted.valid_from,
            valid_until: trusted.valid_until,
            now,
        });
    }
    // A code living longer than the list allows is refused whatever the
    // instant: a long-lived code is one a thief could keep showing.
    let lifetime_secs = claims.expires_at.unix_secs() - claims.issued_at.unix_secs();
    if lifetime_secs > lifetime_secs_max {
        return Err(TokenError::LifetimeTooLong {
            issued_at: claims.issued_at,
            expires_at: claims.expires_at,
            lifetime_secs,
            lifetime_secs_max,
        });
    }
    if now.plus_secs(CLOCK_SKEW_LEEWAY_SECS) < claims.issued_at {
        return Err(TokenError::NotYetValid {
            issued_at: claims.issued_at,
            now,
        });
    }
    if now >= claims.expires_at {
        return Err(TokenError::Expired {
            expires_at: claims.expires_at,
            now,
        });
    }
    if let Some(valid_until) = claims.color_valid_until
        && now >= valid_until
    {
        return Err(TokenError::ColorExpired { valid_until, now });
    }
    Ok(())
}

/// The report of a verifier whose trust list is missing or too old: the
/// code is not even decoded, since nothing it says could be trusted.
pub(crate) fn stale_trust_list_report(
    fetched_at: Option<Timestamp>,
    now: Timestamp,
    age_secs_max: i64,
) -> VerificationReport {
    let error = TokenError::TrustListStale {
        fetched_at,
        now,
        age_secs_max,
    };
    let steps = Step::ALL
        .iter()
        .map(|&step| StepOutcome {
            step,
            status: if step == Step::KidLookup {
                StepStatus::Failed
            } else {
                StepStatus::Skipped
            },
            detail: if step == Step::KidLookup {
                error.to_string()
            } else {
                String::new()
            },
        })
        .collect();
    VerificationReport {
        valid: false,
        steps,
        kid: None,
        algorithm: None,
        claims: None,
        error: Some(error),
    }
}

/// Decodes a token's layers without checking signature or time, for tools
/// that show what a code says. Returns the kid, algorithm and claims.
pub fn inspect(token: &str) -> Result<(Kid, Algorithm, Claims), TokenError> {
    let body = token
        .strip_prefix(TOKEN_PREFIX)
        .ok_or(TokenError::BadPrefix {
            expected: TOKEN_PREFIX,
        })?;
    if token.len() > pipeline::QR_TEXT_LEN_MAX {
        return Err(TokenError::TooLong {
            len: token.len(),
            len_max: pipeline::QR_TEXT_LEN_MAX,
        });
    }
    let compressed =
        pipeline::decode_base45(body).map_err(|detail| TokenError::BadBase45 { detail })?;
    let cose = pipeline::inflate_bounded(&compressed, pipeline::INFLATED_LEN_MAX)
        .map_err(|detail| TokenError::InflateFailed { detail })?;
    let sign1 = pipeline::parse_cose_sign1(&cose, TagPolicy::RequireSign1Tag)
        .map_err(|detail| TokenError::MalformedCose { detail })?;
    let algorithm = sign1
        .protected
        .header
        .alg
        .as_ref()
        .and_then(Algorithm::from_cose)
        .ok_or(TokenError::UnsupportedAlgorithm {
            alg: format!("{:?}", sign1.protected.header.alg),
        })?;
    let kid =
        Kid::from_bytes(&sign1.protected.header.key_id).map_err(|_| TokenError::MissingKid)?;
    let payload = sign1.payload.as_deref().unwrap_or_default();
    let claims = pipeline::cbor_from_slice(payload)
        .and_then(|value| Claims::from_cbor_value(&value))
        .map_err(|detail| TokenError::MalformedClaims { detail })?;
    Ok((kid, algorithm, claims))
}

/// The COSE bytes of a token (no verification), for test vectors.
pub fn cose_bytes(token: &str) -> Result<Vec<u8>, TokenError> {
    let body = token
        .strip_prefix(TOKEN_PREFIX)
        .ok_or(TokenError::BadPrefix {
            expected: TOKEN_PREFIX,
        })?;
    let compressed =
        pipeline::decode_base45(body).map_err(|detail| TokenError::BadBase45 { detail })?;
    let cose = pipeline::inflate_bounded(&compressed, pipeline::INFLATED_LEN_MAX)
        .map_err(|detail| TokenError::InflateFailed { detail })?;
    // Re-encode to prove the bytes parse; the original bytes are returned.
    pipeline::parse_cose_sign1(&cose, TagPolicy::RequireSign1Tag)
        .map_err(|detail| TokenError::MalformedCose { detail })?
        .to_vec()
        .map_err(|error| TokenError::Encoding {
            detail: format!("{error:?}"),
        })?;
    Ok(cose)
}
