//! Issue 12, items 7 and 8: a verifier refuses codes whose lifetime exceeds
//! the maximum, codes of a revoked key, and (as a device holding a cached
//! trust list) codes once its list is older than it may be; an older list
//! cannot replace a newer one.

mod common;

use common::{at, claims, key};
use ymt_token::TrustListCache;
use ymt_token::trust::{
    CODE_LIFETIME_SECS_MAX_DEFAULT, PRINTED_CODE_LIFETIME_SECS_DEFAULT,
    PRINTED_CODE_LIFETIME_SECS_MAX_LIMIT, TRUST_LIST_AGE_SECS_MAX_DEFAULT,
};
use ymt_token::{Algorithm, CodeKind, KeyStore, Step, TokenError, TrustList, issue, verify};

const ISSUER: &str = "ymt:44";

fn rng() -> impl ymt_token::rand_core::CryptoRngCore {
    ymt_token::rand_core::OsRng
}

#[test]
fn a_code_signed_with_a_one_year_lifetime_does_not_verify() {
    let now = at("2026-11-27T08:00:00Z");
    let signer = key(Algorithm::EdDsa, 7);
    let trust = TrustList::from_keys(ISSUER, &[signer.verifying_key()]);
    let mut long = claims(ISSUER, now);
    long.expires_at = now.plus_secs(365 * 86_400);
    long.color_valid_until = None;
    let token = issue(&long, &signer).unwrap();
    let report = verify(&token, &trust, now.plus_secs(10));
    assert!(!report.valid, "a one-year code verified");
    assert_eq!(report.failed_step(), Some(Step::ValidityWindow));
    match report.error {
        Some(TokenError::LifetimeTooLong {
            lifetime_secs,
            lifetime_secs_max,
            ..
        }) => {
            assert_eq!(lifetime_secs, 365 * 86_400);
            assert_eq!(lifetime_secs_max, CODE_LIFETIME_SECS_MAX_DEFAULT);
        }
        other => panic!("expected LifetimeTooLong, got {other:?}"),
    }
    // A code exactly at the maximum still verifies.
    let mut at_max = claims(ISSUER, now);
    at_max.expires_at = now.plus_secs(CODE_LIFETIME_SECS_MAX_DEFAULT);
    at_max.color_valid_until = None;
    let token = issue(&at_max, &signer).unwrap();
    assert!(verify(&token, &trust, now.plus_secs(10)).valid);
}

#[test]
fn the_trust_list_sets_the_maximum_code_lifetime() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = rng();
    let now = at("2026-11-27T08:00:00Z");
    let mut store = KeyStore::open(dir.path()).unwrap();
    store
        .generate(Algorithm::EdDsa, ISSUER, now, &mut rng)
        .unwrap();
    store.set_max_token_ttl_secs(600).unwrap();
    let signed = store.export_trust_list(now, Vec::new(), &mut rng).unwrap();
    let trust = signed.verify_with_embedded_signer().unwrap();
    assert_eq!(trust.max_code_lifetime_secs(), 600);
    let signer = store.signing_key().unwrap();
    let mut long = claims(ISSUER, now);
    long.expires_at = now.plus_secs(601);
    long.color_valid_until = None;
    let report = verify(&issue(&long, &signer).unwrap(), &trust, now);
    assert!(matches!(
        report.error,
        Some(TokenError::LifetimeTooLong { .. })
    ));
}

#[test]
fn a_revoked_key_verifies_none_of_its_codes() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = rng();
    let t0 = at("2026-11-27T08:00:00Z");
    let mut store = KeyStore::open(dir.path()).unwrap();
    store
        .generate(Algorithm::EdDsa, ISSUER, t0, &mut rng)
        .unwrap();
    let stolen = store.signing_key().unwrap();
    let t1 = t0.plus_secs(60);
    let before = issue(&claims(ISSUER, t1), &stolen).unwrap();

    let revoked = store
        .revoke(stolen.kid(), t1.plus_secs(10), &mut rng)
        .unwrap();
    assert_eq!(revoked.revoked.kid, *stolen.kid());
    let new = revoked
        .new_signing_key
        .expect("revoking the signing key rotates to a new one");
    assert_ne!(new.kid, *stolen.kid());
    assert_eq!(store.signing_kid(), Some(&new.kid));

    // Reopened from disk, the revocation holds.
    let store = KeyStore::open(dir.path()).unwrap();
    let trust = store.trust_list(t1.plus_secs(20)).unwrap();
    // Codes signed before and after the revocation are refused at once,
    // not only once they expire: a thief can sign with any issued_at.
    for token in [
        before,
        issue(&claims(ISSUER, t1.plus_secs(15)), &stolen).unwrap(),
    ] {
        let report = verify(&token, &trust, t1.plus_secs(20));
        assert_eq!(report.failed_step(), Some(Step::KidLookup));
        assert!(
            matches!(report.error, Some(TokenError::KeyRevoked { .. })),
            "{:?}",
            report.error
        );
    }
    let fresh = issue(
        &claims(ISSUER, t1.plus_secs(20)),
        &store.signing_key().unwrap(),
    )
    .unwrap();
    assert!(verify(&fresh, &trust, t1.plus_secs(20)).valid);
}

#[test]
fn an_offline_verifier_rejects_a_revoked_keys_codes_after_its_next_refresh() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = rng();
    let t0 = at("2026-11-27T08:00:00Z");
    let mut store = KeyStore::open(dir.path()).unwrap();
    store
        .generate(Algorithm::EdDsa, ISSUER, t0, &mut rng)
        .unwrap();
    let stolen = store.signing_key().unwrap();
    let first = store.export_trust_list(t0, Vec::new(), &mut rng).unwrap();
    let anchor = store.trust_list_signer(&mut rng).unwrap().verifying_key();

    let mut device = TrustListCache::new(anchor);
    device.refresh(&first, t0).unwrap();
    let forged = issue(&claims(ISSUER, t0.plus_secs(100)), &stolen).unwrap();
    // Offline, with the list fetched before the revocation, the code passes:
    // the window a revocation leaves is the device's refresh interval.
    assert!(device.verify(&forged, t0.plus_secs(100)).valid);

    store
        .revoke(stolen.kid(), t0.plus_secs(90), &mut rng)
        .unwrap();
    let revoked_list = store
        .export_trust_list(t0.plus_secs(90), Vec::new(), &mut rng)
        .unwrap();
    assert!(device.needs_refresh(t0.plus_secs(device.refresh_interval_secs())));
    // Back online: the refresh brings the revocation.
    device.refresh(&revoked_list, t0.plus_secs(120)).unwrap();
    let report = device.verify(&forged, t0.plus_secs(120));
    assert!(matches!(report.error, Some(TokenError::KeyRevoked { .. })));
    // The pre-revocation list, replayed, cannot replace the newer one.
    assert!(device.refresh(&first, t0.plus_secs(130)).is_err());
    assert!(!device.verify(&forged, t0.plus_secs(130)).valid);
}

#[test]
fn a_verifier_offline_longer_than_the_trust_list_may_age_passes_no_code() {
    let now = at("2026-11-27T08:00:00Z");
    let signer = key(Algorithm::EdDsa, 7);
    let list_signer = key(Algorithm::EdDsa, 9);
    let signed = TrustList::from_keys(ISSUER, &[signer.verifying_key()]).sign(&list_signer);
    let mut device = TrustListCache::new(list_signer.verifying_key());
    device.refresh(&signed, now).unwrap();
    let late = now.plus_secs(TRUST_LIST_AGE_SECS_MAX_DEFAULT + 1);
    let token = issue(&claims(ISSUER, late), &signer).unwrap();
    let report = device.verify(&token, late);
    assert!(!report.valid);
    assert!(
        matches!(report.error, Some(TokenError::TrustListStale { .. })),
        "{:?}",
        report.error
    );
    // A device that never fetched a list passes nothing either.
    let empty = TrustListCache::new(list_signer.verifying_key());
    assert!(matches!(
        empty.verify(&token, late).error,
        Some(TokenError::TrustListStale { .. })
    ));
}

/// A key store's trust list declaring printed codes, and its signing key.
fn store_list(
    dir: &std::path::Path,
    now: ymt_core::Timestamp,
) -> (TrustList, ymt_token::SigningKey) {
    let mut rng = rng();
    let mut store = KeyStore::open(dir).unwrap();
    store
        .generate(Algorithm::EdDsa, ISSUER, now, &mut rng)
        .unwrap();
    let signed = store.export_trust_list(now, Vec::new(), &mut rng).unwrap();
    (
        signed.verify_with_embedded_signer().unwrap(),
        store.signing_key().unwrap(),
    )
}

fn printed(now: ymt_core::Timestamp, lifetime_secs: i64) -> ymt_token::Claims {
    let mut printed = claims(ISSUER, now);
    printed.expires_at = now.plus_secs(lifetime_secs);
    printed.color_valid_until = None;
    printed.kind = CodeKind::Printed;
    printed
}

#[test]
fn a_printed_code_verifies_for_its_documented_lifetime_and_says_it_is_printed() {
    let dir = tempfile::tempdir().unwrap();
    let now = at("2026-11-27T08:00:00Z");
    let (trust, signer) = store_list(dir.path(), now);
    assert_eq!(
        trust.max_printed_code_lifetime_secs(),
        PRINTED_CODE_LIFETIME_SECS_DEFAULT
    );
    let token = issue(&printed(now, PRINTED_CODE_LIFETIME_SECS_DEFAULT), &signer).unwrap();
    let last_second = now.plus_secs(PRINTED_CODE_LIFETIME_SECS_DEFAULT - 1);
    let report = verify(&token, &trust, last_second);
    assert!(report.valid, "{:?}", report.error);
    assert_eq!(report.claims.unwrap().kind, CodeKind::Printed);
    let report = verify(
        &token,
        &trust,
        now.plus_secs(PRINTED_CODE_LIFETIME_SECS_DEFAULT),
    );
    assert!(matches!(report.error, Some(TokenError::Expired { .. })));
    // One second longer than the list allows is refused at once.
    let token = issue(
        &printed(now, PRINTED_CODE_LIFETIME_SECS_DEFAULT + 1),
        &signer,
    )
    .unwrap();
    assert!(matches!(
        verify(&token, &trust, now).error,
        Some(TokenError::LifetimeTooLong { .. })
    ));
}

#[test]
fn a_phone_code_cannot_live_as_long_as_a_printed_one() {
    let dir = tempfile::tempdir().unwrap();
    let now = at("2026-11-27T08:00:00Z");
    let (trust, signer) = store_list(dir.path(), now);
    let mut phone = printed(now, PRINTED_CODE_LIFETIME_SECS_DEFAULT);
    phone.kind = CodeKind::Phone;
    let report = verify(&issue(&phone, &signer).unwrap(), &trust, now);
    assert!(matches!(
        report.error,
        Some(TokenError::LifetimeTooLong { lifetime_secs_max, .. }) if lifetime_secs_max == trust.max_code_lifetime_secs()
    ));
}

#[test]
fn a_list_that_does_not_declare_printed_codes_lets_none_outlive_a_phone_code() {
    // Another region's list, or one from before printed codes: a printed
    // code is held to the phone codes' limit.
    let now = at("2026-11-27T08:00:00Z");
    let signer = key(Algorithm::EdDsa, 7);
    let trust = TrustList::from_keys(ISSUER, &[signer.verifying_key()]);
    assert_eq!(
        trust.max_printed_code_lifetime_secs(),
        CODE_LIFETIME_SECS_MAX_DEFAULT
    );
    let token = issue(&printed(now, 86_400), &signer).unwrap();
    assert!(matches!(
        verify(&token, &trust, now).error,
        Some(TokenError::LifetimeTooLong { .. })
    ));
}

#[test]
fn a_retired_key_stays_trusted_until_its_last_printed_code_expires() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = rng();
    let t0 = at("2026-11-27T08:00:00Z");
    let mut store = KeyStore::open(dir.path()).unwrap();
    store
        .generate(Algorithm::EdDsa, ISSUER, t0, &mut rng)
        .unwrap();
    let old = store.signing_key().unwrap();
    let token = issue(&printed(t0, PRINTED_CODE_LIFETIME_SECS_DEFAULT), &old).unwrap();
    store
        .rotate(Algorithm::EdDsa, ISSUER, t0.plus_secs(60), &mut rng)
        .unwrap();
    let late = t0.plus_secs(PRINTED_CODE_LIFETIME_SECS_DEFAULT - 10);
    let trust = store
        .export_trust_list(late, Vec::new(), &mut rng)
        .unwrap()
        .verify_with_embedded_signer()
        .unwrap();
    let report = verify(&token, &trust, late);
    assert!(report.valid, "{:?}", report.error);
}

#[test]
fn a_trust_list_cannot_declare_printed_codes_living_longer_than_a_week() {
    let signer = key(Algorithm::EdDsa, 7);
    let mut document = TrustList::from_keys(ISSUER, &[signer.verifying_key()])
        .document()
        .clone();
    document.max_printed_code_lifetime_secs = Some(PRINTED_CODE_LIFETIME_SECS_MAX_LIMIT + 1);
    assert!(matches!(
        TrustList::from_document(document),
        Err(ymt_token::TrustListError::BadPolicy { .. })
    ));
}

/// A peer's public key added to a store (a cluster's nodes each announce
/// the signing key they generate) is listed in its trust lists, so the
/// peer's codes verify here; the store never signs with it.
#[test]
fn a_peers_public_key_added_to_a_store_verifies_the_peers_codes() {
    let (mine, theirs) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut rng = rng();
    let t0 = at("2026-11-27T08:00:00Z");
    let mut store = KeyStore::open(mine.path()).unwrap();
    store
        .generate(Algorithm::EdDsa, ISSUER, t0, &mut rng)
        .unwrap();
    let mut peer = KeyStore::open(theirs.path()).unwrap();
    peer.generate(Algorithm::EdDsa, ISSUER, t0, &mut rng)
        .unwrap();
    let peer_key = peer.signing_key().unwrap();
    let code = issue(&claims(ISSUER, t0.plus_secs(5)), &peer_key).unwrap();
    assert!(
        !verify(
            &code,
            &store.trust_list(t0.plus_secs(10)).unwrap(),
            t0.plus_secs(10)
        )
        .valid
    );
    assert!(
        store
            .add_public(&peer_key.verifying_key(), ISSUER, t0)
            .unwrap()
    );
    assert!(
        !store
            .add_public(&peer_key.verifying_key(), ISSUER, t0)
            .unwrap(),
        "once"
    );
    let reopened = KeyStore::open(mine.path()).unwrap();
    assert!(
        verify(
            &code,
            &reopened.trust_list(t0.plus_secs(10)).unwrap(),
            t0.plus_secs(10)
        )
        .valid
    );
    assert_ne!(reopened.signing_kid(), Some(peer_key.kid()));
}

/// Adding a public key never un-revokes it: a kid revoked here (held, or
/// revoked before its key was known) stays revoked when its key is added
/// again, and its codes are refused.
#[test]
fn adding_a_public_key_cannot_unrevoke_a_revoked_kid() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = rng();
    let t0 = at("2026-11-27T08:00:00Z");
    let mut store = KeyStore::open(dir.path()).unwrap();
    store
        .generate(Algorithm::EdDsa, ISSUER, t0, &mut rng)
        .unwrap();
    let held = store.signing_key().unwrap();
    store.revoke(held.kid(), t0.plus_secs(1), &mut rng).unwrap();
    assert!(!store.add_public(&held.verifying_key(), ISSUER, t0).unwrap());
    // Revoked before this store knew it: remembered, then added revoked.
    let other = ymt_token::SigningKey::generate(Algorithm::EdDsa, &mut rng);
    assert_eq!(
        store
            .revoke_or_remember(other.kid(), t0.plus_secs(2), &mut rng)
            .unwrap(),
        None
    );
    assert_eq!(store.is_revoked(other.kid()), Some(true));
    assert!(
        store
            .add_public(&other.verifying_key(), ISSUER, t0)
            .unwrap()
    );
    let trust = KeyStore::open(dir.path())
        .unwrap()
        .trust_list(t0.plus_secs(10))
        .unwrap();
    for key in [&held, &other] {
        let code = issue(&claims(ISSUER, t0.plus_secs(5)), key).unwrap();
        let report = verify(&code, &trust, t0.plus_secs(10));
        assert!(
            matches!(report.error, Some(TokenError::KeyRevoked { .. })),
            "{:?}",
            report.error
        );
    }
}
