//! Fuzzes `YMT1:` verification: both the raw text and the inner bytes
//! wrapped in valid base45 and zlib, so the fuzzer reaches COSE and claims.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ymt_core::Timestamp;
use ymt_token::{Algorithm, SigningKey, TrustList, pipeline, verify};

fuzz_target!(|data: &[u8]| {
    let key = SigningKey::from_secret_bytes(Algorithm::EdDsa, &[7; 32]).unwrap();
    let trust = TrustList::from_keys("ymt:44", &[key.verifying_key()]);
    let now = Timestamp::from_unix_secs(1_800_000_000).unwrap();
    if let Ok(text) = std::str::from_utf8(data) {
        assert!(!verify(text, &trust, now).valid);
    }
    let wrapped = format!("YMT1:{}", base45_encode(&pipeline::deflate(data)));
    let _ = verify(&wrapped, &trust, now);
});

fn base45_encode(bytes: &[u8]) -> String {
    ymt_token::pipeline::base45_encode(bytes)
}
