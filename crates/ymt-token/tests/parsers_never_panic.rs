//! Property tests: the token and DCC parsers return errors, never panic,
//! on arbitrary input.

mod common;

use proptest::prelude::*;
use ymt_token::{Algorithm, TrustList, dcc, pipeline, verify};

fn trust() -> TrustList {
    TrustList::from_keys(
        "ymt:44",
        &[common::key(Algorithm::EdDsa, 1).verifying_key()],
    )
}

/// Any bytes, wrapped the way a real token is wrapped, so that the fuzz
/// reaches the inner layers.
fn wrapped(bytes: &[u8], prefix: &str) -> String {
    format!("{prefix}{}", base45::encode(pipeline::deflate(bytes)))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn token_text_never_panics(text in ".{0,300}") {
        let now = common::at("2026-11-27T08:00:00Z");
        let report = verify(&text, &trust(), now);
        prop_assert!(!report.valid);
        let _ = dcc::verify_dcc(&text, &[], None, now);
    }

    #[test]
    fn token_alphabet_never_panics(text in "YMT1:[0-9A-Z $%*+./:-]{0,400}") {
        let report = verify(&text, &trust(), common::at("2026-11-27T08:00:00Z"));
        prop_assert!(!report.valid);
    }

    #[test]
    fn inner_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let now = common::at("2026-11-27T08:00:00Z");
        let report = verify(&wrapped(&bytes, "YMT1:"), &trust(), now);
        prop_assert!(!report.valid);
        let _ = dcc::verify_dcc(&wrapped(&bytes, "HC1:"), &[], None, now);
        let _ = dcc::parse_cose(&bytes).map(|sign1| dcc::decode_payload(&sign1));
        let _ = dcc::DscCert::from_der(&bytes);
    }

    #[test]
    fn cose_like_bytes_never_panic(
        protected in proptest::collection::vec(any::<u8>(), 0..40),
        payload in proptest::collection::vec(any::<u8>(), 0..300),
        signature in proptest::collection::vec(any::<u8>(), 0..80),
    ) {
        // A COSE_Sign1 skeleton (tag 18, array of 4) around random parts.
        let value = ciborium::Value::Tag(18, Box::new(ciborium::Value::Array(vec![
            ciborium::Value::Bytes(protected),
            ciborium::Value::Map(vec![]),
            ciborium::Value::Bytes(payload),
            ciborium::Value::Bytes(signature),
        ])));
        let bytes = pipeline::cbor_to_vec(&value);
        let now = common::at("2026-11-27T08:00:00Z");
        prop_assert!(!verify(&wrapped(&bytes, "YMT1:"), &trust(), now).valid);
        let _ = dcc::verify_dcc(&wrapped(&bytes, "HC1:"), &[], None, now);
    }
}
