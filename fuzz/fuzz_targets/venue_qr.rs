//! Fuzzes the venue QR payload a scanner submits (`YMTV1:<venue>.<sig>`):
//! no input may verify unless it is exactly the payload the node signs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ymt_node::venues::{venue_qr_payload, verify_venue_qr_payload};

const VENUE_KEY: [u8; 32] = [9; 32];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(venue) = verify_venue_qr_payload(&VENUE_KEY, text) {
        // Forging a signature is out of reach for the fuzzer, so a payload
        // that verifies must be the canonical one for its venue.
        assert_eq!(venue_qr_payload(&VENUE_KEY, &venue), text);
    }
});
