//! Fuzzes EU DCC decoding: text through the whole pipeline, bytes as COSE,
//! and bytes as a signer certificate.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ymt_core::Timestamp;
use ymt_token::dcc;

fuzz_target!(|data: &[u8]| {
    let now = Timestamp::from_unix_secs(1_630_000_000).unwrap();
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = dcc::verify_dcc(text, &[], None, now);
    }
    if let Ok(sign1) = dcc::parse_cose(data) {
        if let Ok(payload) = dcc::decode_payload(&sign1) {
            let _ = dcc::summarize(&payload);
        }
    }
    let _ = dcc::DscCert::from_der(data);
});
