//! Fuzzes the signed trust list a verifier downloads: parsing, the pinned
//! anchor check and the embedded-signer check. Nothing unsigned may verify.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ymt_token::{Algorithm, SignedTrustList, SigningKey};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(signed) = SignedTrustList::from_json(text) else {
        return;
    };
    let anchor = SigningKey::from_secret_bytes(Algorithm::EdDsa, &[3; 32])
        .expect("a valid key")
        .verifying_key();
    // The fuzzer cannot sign with the anchor's secret key.
    assert!(signed.verify(&anchor).is_err());
    let _ = signed.verify_with_embedded_signer();
});
