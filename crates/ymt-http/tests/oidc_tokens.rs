//! ID tokens the node must refuse, each named after the attack it stops.
//!
//! These check `ymt_http::oidc::verify_id_token`, the one check every ID
//! token from the provider goes through, with tokens the test mints itself:
//! the provider's key (fixture key a, the only key in the published set)
//! and keys or claims an attacker would use. The clock is given, never read.
//! The end-to-end flow with a real provider is in `oidc_sign_in.rs`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openidconnect::core::{CoreJsonWebKeySet, CoreJwsSigningAlgorithm, CoreRsaPrivateSigningKey};
use openidconnect::{
    Audience, EndUserName, IdTokenClaims, IssuerUrl, JsonWebKeyId, LocalizedClaim, Nonce,
    PrivateSigningKey, StandardClaims, SubjectIdentifier,
};
use proptest::prelude::*;
use ymt_core::Timestamp;
use ymt_core::identity::IdType;
use ymt_http::oidc::{ExtraClaims, OidcError, TokenExpectations, YmtIdToken, verify_id_token};

const ISSUER: &str = "https://id.example.gov.cn";
const CLIENT_ID: &str = "yimatong-node";
const CLAIM: &str = "id_number";
const ALICE_ID_NUMBER: &str = "44030519900101123X";
const BOB_ID_NUMBER: &str = "44030519850315456X";
/// The instant the node checks at (unix seconds).
const NOW_UNIX_SECS: i64 = 1_800_000_000;

fn provider_key() -> CoreRsaPrivateSigningKey {
    CoreRsaPrivateSigningKey::from_pem(
        include_str!("fixtures/oidc-test-key-a.pem"),
        Some(JsonWebKeyId::new("provider-key-1".into())),
    )
    .expect("fixture key a")
}

/// A key the provider never published, under the published key's id.
fn attacker_key() -> CoreRsaPrivateSigningKey {
    CoreRsaPrivateSigningKey::from_pem(
        include_str!("fixtures/oidc-test-key-b.pem"),
        Some(JsonWebKeyId::new("provider-key-1".into())),
    )
    .expect("fixture key b")
}

fn published_keys() -> CoreJsonWebKeySet {
    CoreJsonWebKeySet::new(vec![provider_key().as_verification_key()])
}

fn now() -> Timestamp {
    Timestamp::from_unix_secs(NOW_UNIX_SECS).expect("in range")
}

fn utc(unix_secs: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(unix_secs, 0).expect("in range")
}

/// The claims of a good token for Alice, for the test to spoil one way.
struct Claims {
    issuer: &'static str,
    audience: &'static str,
    issued_at_unix_secs: i64,
    expires_at_unix_secs: i64,
    nonce: &'static str,
    id_number: Option<&'static str>,
}

fn good() -> Claims {
    Claims {
        issuer: ISSUER,
        audience: CLIENT_ID,
        issued_at_unix_secs: NOW_UNIX_SECS - 60,
        expires_at_unix_secs: NOW_UNIX_SECS + 3600,
        nonce: "nonce-of-this-sign-in",
        id_number: Some(ALICE_ID_NUMBER),
    }
}

fn token_claims(
    claims: &Claims,
) -> IdTokenClaims<ExtraClaims, openidconnect::core::CoreGenderClaim> {
    let mut extra = std::collections::HashMap::new();
    if let Some(number) = claims.id_number {
        extra.insert(CLAIM.to_owned(), serde_json::json!(number));
    }
    let mut name = LocalizedClaim::new();
    name.insert(None, EndUserName::new("张三".into()));
    IdTokenClaims::new(
        IssuerUrl::new(claims.issuer.into()).expect("a URL"),
        vec![Audience::new(claims.audience.into())],
        utc(claims.expires_at_unix_secs),
        utc(claims.issued_at_unix_secs),
        StandardClaims::new(SubjectIdentifier::new("subject-alice".into())).set_name(Some(name)),
        ExtraClaims { claims: extra },
    )
    .set_nonce(Some(Nonce::new(claims.nonce.into())))
}

fn sign(claims: &Claims, key: &CoreRsaPrivateSigningKey) -> String {
    YmtIdToken::new(
        token_claims(claims),
        key,
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        None,
        None,
    )
    .expect("signed")
    .to_string()
}

fn check(raw: &str) -> Result<String, String> {
    let keys = published_keys();
    let expect = TokenExpectations {
        issuer_url: ISSUER,
        client_id: CLIENT_ID,
        keys: &keys,
        id_number_claim: CLAIM,
        id_type: IdType::ResidentId,
    };
    match verify_id_token(
        &expect,
        raw,
        &Nonce::new("nonce-of-this-sign-in".into()),
        now(),
    ) {
        Ok((document, _subject)) => Ok(document.number_for_hashing().to_owned()),
        Err(OidcError::Refused(reason)) => Err(reason),
        Err(other) => panic!("a token check is never a provider outage: {other}"),
    }
}

fn assert_refused(raw: &str, reason_contains: &str) {
    match check(raw) {
        Ok(number) => panic!("accepted, asserting {number}"),
        Err(reason) => {
            assert!(
                reason.contains(reason_contains),
                "reason `{reason}` should say `{reason_contains}`"
            );
            // No refusal repeats an ID number to whoever reads the error.
            assert!(!reason.contains(ALICE_ID_NUMBER) && !reason.contains(BOB_ID_NUMBER));
        }
    }
}

#[test]
fn a_token_signed_by_the_provider_for_this_client_asserts_its_id_number() {
    assert_eq!(
        check(&sign(&good(), &provider_key())),
        Ok(ALICE_ID_NUMBER.into())
    );
}

#[test]
fn a_token_from_another_issuer_is_refused() {
    let claims = Claims {
        issuer: "https://id.attacker.example",
        ..good()
    };
    assert_refused(&sign(&claims, &provider_key()), "wrong issuer");
}

#[test]
fn a_token_issued_to_another_client_is_refused() {
    let claims = Claims {
        audience: "some-other-service",
        ..good()
    };
    assert_refused(&sign(&claims, &provider_key()), "wrong audience");
}

#[test]
fn an_expired_token_is_refused() {
    let claims = Claims {
        issued_at_unix_secs: NOW_UNIX_SECS - 7200,
        expires_at_unix_secs: NOW_UNIX_SECS - 1,
        ..good()
    };
    assert_refused(&sign(&claims, &provider_key()), "expired");
}

#[test]
fn a_token_signed_with_a_key_the_provider_never_published_is_refused() {
    assert_refused(&sign(&good(), &attacker_key()), "signature");
}

#[test]
fn a_token_of_another_sign_in_is_refused_by_its_nonce() {
    let claims = Claims {
        nonce: "nonce-of-someone-elses-sign-in",
        ..good()
    };
    assert_refused(&sign(&claims, &provider_key()), "nonce");
}

#[test]
fn a_token_without_the_id_number_claim_is_refused() {
    let claims = Claims {
        id_number: None,
        ..good()
    };
    assert_refused(&sign(&claims, &provider_key()), "no `id_number` claim");
}

#[test]
fn an_unsigned_token_naming_another_persons_id_number_is_refused() {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let claims = Claims {
        id_number: Some(BOB_ID_NUMBER),
        ..good()
    };
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&token_claims(&claims)).expect("json"));
    assert_refused(&format!("{header}.{payload}."), "not signed");
}

#[test]
fn another_persons_id_number_pasted_into_a_signed_token_is_refused() {
    let signed = sign(&good(), &provider_key());
    let parts: Vec<&str> = signed.split('.').collect();
    let forged_claims = Claims {
        id_number: Some(BOB_ID_NUMBER),
        ..good()
    };
    let forged_payload =
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&token_claims(&forged_claims)).expect("json"));
    let forged = format!("{}.{forged_payload}.{}", parts[0], parts[2]);
    assert_refused(&forged, "signature");
}

#[test]
fn a_token_signed_with_the_client_secret_is_refused() {
    // HS256 with a secret: whoever holds the client's secret (every node)
    // could mint any identity; only the provider's asymmetric keys count.
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT","kid":"provider-key-1"}"#);
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&token_claims(&good())).expect("json"));
    let forged = format!("{header}.{payload}.{}", URL_SAFE_NO_PAD.encode([7u8; 32]));
    assert_refused(&forged, "signature");
}

#[test]
fn a_token_whose_claim_is_not_an_id_number_is_refused() {
    let claims = Claims {
        id_number: Some("440305199001011230"),
        ..good()
    };
    assert_refused(
        &sign(&claims, &provider_key()),
        "not a valid ID document number",
    );
}

proptest! {
    // The provider's answer is untrusted bytes: any string is refused or
    // accepted, never a panic, and nothing but a token signed by the
    // provider's key is accepted.
    #[test]
    fn arbitrary_text_is_never_accepted_as_a_token(raw in ".{0,400}") {
        prop_assert!(check(&raw).is_err());
    }

    #[test]
    fn arbitrary_three_part_tokens_are_never_accepted(
        header in "[A-Za-z0-9_-]{0,80}",
        payload in "[A-Za-z0-9_-]{0,200}",
        signature in "[A-Za-z0-9_-]{0,80}",
    ) {
        let token = format!("{header}.{payload}.{signature}");
        prop_assert!(check(&token).is_err());
    }
}
