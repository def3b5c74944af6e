//! Issue and verify `YMT1:` codes: round trips, tampering, time windows,
//! kids, algorithms, rotation, trust lists and the code issuer.

mod common;

use common::{at, claims, key};
use ymt_token::pipeline;
use ymt_token::{
    Algorithm, CodeIssuer, CodeRequest, KeyStore, Step, TokenError, TrustList, issue, verify,
};

const ISSUER: &str = "ymt:44";

/// What verifying must conclude: valid, or failed at a step with an error
/// matching the predicate.
enum Expect {
    Valid,
    Fails(Step, fn(&TokenError) -> bool),
}

fn check(token: &str, trust: &TrustList, now: ymt_core::Timestamp, expect: Expect) {
    let report = verify(token, trust, now);
    match expect {
        Expect::Valid => {
            assert!(report.valid, "expected valid, got {:?}", report.error);
            assert!(report.claims.is_some());
            assert_eq!(report.steps.len(), Step::ALL.len());
        }
        Expect::Fails(step, matches) => {
            assert!(!report.valid);
            assert!(report.claims.is_none());
            assert_eq!(report.failed_step(), Some(step), "{:?}", report.error);
            let error = report.error.expect("a failed report names its error");
            assert!(matches(&error), "unexpected error {error:?}");
            // The report serializes to JSON with a machine-readable code.
            let json = serde_json::to_value(verify(token, trust, now)).unwrap();
            assert!(json["error"]["code"].is_string());
        }
    }
}

#[test]
fn round_trip_per_algorithm() {
    let now = at("2026-11-27T08:00:00Z");
    for algorithm in Algorithm::ALL {
        let signer = key(algorithm, 7);
        let trust = TrustList::from_keys(ISSUER, &[signer.verifying_key()]);
        let claims = claims(ISSUER, now);
        let token = issue(&claims, &signer).unwrap();
        assert!(token.starts_with("YMT1:"));
        check(&token, &trust, now, Expect::Valid);
        let report = verify(&token, &trust, now.plus_secs(299));
        assert_eq!(report.claims, Some(claims));
        assert_eq!(report.algorithm, Some(algorithm));
        assert_eq!(report.kid.as_ref(), Some(signer.kid()));
    }
}

#[test]
fn time_window() {
    let now = at("2026-11-27T08:00:00Z");
    let signer = key(Algorithm::EdDsa, 1);
    let trust = TrustList::from_keys(ISSUER, &[signer.verifying_key()]);
    let token = issue(&claims(ISSUER, now), &signer).unwrap();
    check(
        &token,
        &trust,
        now.plus_secs(300),
        Expect::Fails(Step::ValidityWindow, |e| {
            matches!(e, TokenError::Expired { .. })
        }),
    );
    // Within the clock-skew leeway a code from the near future is accepted.
    check(&token, &trust, now.plus_secs(-30), Expect::Valid);
    check(
        &token,
        &trust,
        now.plus_secs(-31),
        Expect::Fails(Step::ValidityWindow, |e| {
            matches!(e, TokenError::NotYetValid { .. })
        }),
    );
    let mut short_color = claims(ISSUER, now);
    short_color.color_valid_until = Some(now.plus_secs(60));
    let token = issue(&short_color, &signer).unwrap();
    check(
        &token,
        &trust,
        now.plus_secs(60),
        Expect::Fails(Step::ValidityWindow, |e| {
            matches!(e, TokenError::ColorExpired { .. })
        }),
    );
}

#[test]
fn kid_algorithm_and_issuer() {
    let now = at("2026-11-27T08:00:00Z");
    let signer = key(Algorithm::EdDsa, 2);
    let stranger = key(Algorithm::EdDsa, 3);
    let token = issue(&claims(ISSUER, now), &signer).unwrap();
    let trust_other = TrustList::from_keys(ISSUER, &[stranger.verifying_key()]);
    check(
        &token,
        &trust_other,
        now,
        Expect::Fails(Step::KidLookup, |e| {
            matches!(e, TokenError::UnknownKid { .. })
        }),
    );

    // The kid is trusted, but as an ES256 key: the EdDSA code must not pass.
    let es256 = key(Algorithm::Es256, 2);
    let entry = ymt_token::TrustEntry {
        revoked_at: None,
        kid: signer.kid().clone(),
        ..ymt_token::TrustEntry::new(
            ISSUER,
            &es256.verifying_key(),
            ymt_core::Timestamp::EPOCH,
            None,
        )
    };
    let trust_wrong_alg = TrustList::new(1, now, vec![entry]).unwrap();
    check(
        &token,
        &trust_wrong_alg,
        now,
        Expect::Fails(Step::KidLookup, |e| {
            matches!(
                e,
                TokenError::WrongAlgorithm {
                    expected: Algorithm::Es256,
                    found: Algorithm::EdDsa,
                    ..
                }
            )
        }),
    );

    // A key trusted for one region cannot sign for another.
    let trust = TrustList::from_keys("ymt:11", &[signer.verifying_key()]);
    check(
        &token,
        &trust,
        now,
        Expect::Fails(Step::Claims, |e| {
            matches!(e, TokenError::IssuerMismatch { .. })
        }),
    );
}

#[test]
fn every_flipped_character_is_rejected() {
    let now = at("2026-11-27T08:00:00Z");
    for algorithm in Algorithm::ALL {
        let signer = key(algorithm, 4);
        let trust = TrustList::from_keys(ISSUER, &[signer.verifying_key()]);
        let token = issue(&claims(ISSUER, now), &signer).unwrap();
        for position in 0..token.len() {
            for flip in [0x01u8, 0x20] {
                let mut bytes = token.clone().into_bytes();
                bytes[position] ^= flip;
                let Ok(tampered) = String::from_utf8(bytes) else {
                    continue;
                };
                let report = verify(&tampered, &trust, now);
                assert!(!report.valid, "flip {flip:#x} at {position} still verifies");
                assert!(report.error.is_some());
                assert!(report.claims.is_none());
            }
        }
    }
}

#[test]
fn every_flipped_cose_byte_is_rejected() {
    // Flipping bytes of the COSE message and re-compressing gets past the
    // zlib checksum, so this reaches the structure and signature checks.
    let now = at("2026-11-27T08:00:00Z");
    for algorithm in Algorithm::ALL {
        let signer = key(algorithm, 5);
        let trust = TrustList::from_keys(ISSUER, &[signer.verifying_key()]);
        let token = issue(&claims(ISSUER, now), &signer).unwrap();
        let cose = ymt_token::token::cose_bytes(&token).unwrap();
        for position in 0..cose.len() {
            let mut tampered = cose.clone();
            tampered[position] ^= 0x01;
            let text = format!("YMT1:{}", base45::encode(pipeline::deflate(&tampered)));
            let report = verify(&text, &trust, now);
            assert!(!report.valid, "flip at COSE byte {position} still verifies");
            let failed = report.failed_step().unwrap();
            assert!(
                matches!(
                    failed,
                    Step::CoseStructure | Step::KidLookup | Step::Signature | Step::Claims
                ),
                "flip at {position} failed at {failed:?}"
            );
        }
    }
}

#[test]
fn malformed_layers_name_their_step() {
    let now = at("2026-11-27T08:00:00Z");
    let trust = TrustList::from_keys(ISSUER, &[key(Algorithm::EdDsa, 6).verifying_key()]);
    check(
        "HC1:ABC",
        &trust,
        now,
        Expect::Fails(Step::Prefix, |e| matches!(e, TokenError::BadPrefix { .. })),
    );
    check(
        "YMT1:abc",
        &trust,
        now,
        Expect::Fails(Step::Base45, |e| matches!(e, TokenError::BadBase45 { .. })),
    );
    let not_zlib = format!("YMT1:{}", base45::encode(b"hello"));
    check(
        &not_zlib,
        &trust,
        now,
        Expect::Fails(Step::Inflate, |e| {
            matches!(e, TokenError::InflateFailed { .. })
        }),
    );
    let not_cose = format!("YMT1:{}", base45::encode(pipeline::deflate(&[0xa0])));
    check(
        &not_cose,
        &trust,
        now,
        Expect::Fails(Step::CoseStructure, |e| {
            matches!(e, TokenError::MalformedCose { .. })
        }),
    );
    let long = format!("YMT1:{}", "A".repeat(5000));
    check(
        &long,
        &trust,
        now,
        Expect::Fails(Step::Prefix, |e| matches!(e, TokenError::TooLong { .. })),
    );
}

#[test]
fn rotated_key_verifies_until_its_last_code_expires() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = rand_chacha_free_rng();
    let t0 = at("2026-11-27T08:00:00Z");
    let mut store = KeyStore::open(dir.path()).unwrap();
    store
        .generate(Algorithm::EdDsa, ISSUER, t0, &mut rng)
        .unwrap();
    let old_key = store.signing_key().unwrap();
    let t1 = t0.plus_secs(3600);
    let old_token = issue(&claims(ISSUER, t1), &old_key).unwrap();

    let (new, retired) = store
        .rotate(Algorithm::Es256, ISSUER, t1, &mut rng)
        .unwrap();
    assert_eq!(retired.unwrap().kid, *old_key.kid());
    let new_key = store.signing_key().unwrap();
    assert_eq!(new_key.kid(), &new.kid);
    let new_token = issue(&claims(ISSUER, t1), &new_key).unwrap();

    // Reopening reads the same state from disk.
    let store = KeyStore::open(dir.path()).unwrap();
    let trust = store.trust_list(t1.plus_secs(10)).unwrap();
    check(&old_token, &trust, t1.plus_secs(10), Expect::Valid);
    check(&new_token, &trust, t1.plus_secs(10), Expect::Valid);

    // Once the old key's last code (a printed one lives longest) has
    // expired it leaves the trust list.
    let later = t1.plus_secs(store.retired_key_trusted_secs());
    let trust = store.trust_list(later).unwrap();
    assert!(trust.lookup(old_key.kid()).is_none());
    assert!(trust.lookup(new_key.kid()).is_some());
    check(
        &old_token,
        &trust,
        later,
        Expect::Fails(Step::KidLookup, |e| {
            matches!(e, TokenError::UnknownKid { .. })
        }),
    );

    // A verifier holding an older list still refuses the retired key then.
    let stale = store.trust_list(t1.plus_secs(10)).unwrap();
    let late_token = issue(&claims(ISSUER, later.plus_secs(-1)), &old_key).unwrap();
    check(
        &late_token,
        &stale,
        later,
        Expect::Fails(Step::ValidityWindow, |e| {
            matches!(e, TokenError::KeyNotValidAt { .. })
        }),
    );
}

#[test]
fn secret_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let mut store = KeyStore::open(dir.path()).unwrap();
    let record = store
        .generate(
            Algorithm::EdDsa,
            ISSUER,
            at("2026-11-27T08:00:00Z"),
            &mut rand_chacha_free_rng(),
        )
        .unwrap();
    let path = dir.path().join(format!("{}.key", record.kid));
    let mode = std::fs::metadata(path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let printed = format!("{store:?} {:?}", store.signing_key().unwrap());
    let secret = hex::encode(store.signing_key().unwrap().secret_bytes());
    assert!(!printed.contains(&secret));
}

#[test]
fn trust_list_signature_tampering_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let now = at("2026-11-27T08:00:00Z");
    let mut rng = rand_chacha_free_rng();
    let mut store = KeyStore::open(dir.path()).unwrap();
    store
        .generate(Algorithm::EdDsa, ISSUER, now, &mut rng)
        .unwrap();
    let signed = store.export_trust_list(now, Vec::new(), &mut rng).unwrap();
    let anchor = store.trust_list_signer(&mut rng).unwrap().verifying_key();
    let json = signed.to_json_pretty();
    let parsed = ymt_token::SignedTrustList::from_json(&json).unwrap();
    let list = parsed.verify(&anchor).unwrap();
    assert_eq!(list.entries().len(), 1);

    // Change one key's validity inside the payload: the signature breaks.
    let mut forged = parsed.clone();
    forged.payload = forged.payload.replacen(
        "\"valid_until\":null",
        "\"valid_until\":\"2099-01-01T00:00:00Z\"",
        1,
    );
    assert_ne!(forged.payload, parsed.payload);
    assert_eq!(
        forged.verify(&anchor).unwrap_err(),
        ymt_token::TrustListError::BadSignature
    );

    // Flip each signature character.
    for position in 0..parsed.signature.len() {
        let mut forged = parsed.clone();
        let mut bytes = forged.signature.into_bytes();
        bytes[position] = if bytes[position] == b'A' { b'B' } else { b'A' };
        forged.signature = String::from_utf8(bytes).unwrap();
        assert!(forged.verify(&anchor).is_err());
    }

    // Re-signing with another key is caught by the pinned anchor.
    let other = key(Algorithm::EdDsa, 9);
    let resigned = list.sign(&other);
    assert!(matches!(
        resigned.verify(&anchor),
        Err(ymt_token::TrustListError::WrongSigner { .. })
    ));
}

#[test]
fn code_issuer_caches_until_refresh() {
    let signer = key(Algorithm::EdDsa, 8);
    let issuer = CodeIssuer::new(ISSUER, signer.clone(), 300, 2);
    let request = |person: &str| CodeRequest {
        person: ymt_core::PersonId::parse(person).unwrap(),
        color: ymt_core::Color::Green,
        color_valid_until: None,
        masked_name: "李*".into(),
        rule_set_version: "r1".into(),
    };
    let t0 = at("2026-11-27T08:00:00Z");
    let first = issuer.code_for(request("p-1"), t0).unwrap();
    // 240 s later 20% of the lifetime remains: still cached.
    let again = issuer.code_for(request("p-1"), t0.plus_secs(240)).unwrap();
    assert!(std::sync::Arc::ptr_eq(&first, &again));
    let renewed = issuer.code_for(request("p-1"), t0.plus_secs(241)).unwrap();
    assert!(!std::sync::Arc::ptr_eq(&first, &renewed));
    assert_eq!(renewed.issued_at, t0.plus_secs(241));
    assert!(renewed.svg().starts_with("<svg"));
    assert!(renewed.png().starts_with(b"\x89PNG"));
    // The PNG decodes back to the token.
    assert_eq!(
        ymt_token::decode_qr_image(renewed.png()).unwrap(),
        renewed.token
    );

    // The cache is bounded.
    issuer.code_for(request("p-2"), t0).unwrap();
    issuer.code_for(request("p-3"), t0).unwrap();
    assert_eq!(issuer.cached_codes(), 2);

    // A new signing key empties the cache.
    issuer.set_signing_key(key(Algorithm::Es256, 8));
    assert_eq!(issuer.cached_codes(), 0);
    let trust = TrustList::from_keys(ISSUER, &[key(Algorithm::Es256, 8).verifying_key()]);
    let code = issuer.code_for(request("p-1"), t0).unwrap();
    assert!(verify(&code.token, &trust, t0).valid);
}

fn rand_chacha_free_rng() -> impl rand_core::CryptoRngCore {
    rand_core::OsRng
}
