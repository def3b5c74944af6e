//! Fuzzes the QR image decoder behind the verifier's image upload: any bytes,
//! as a PNG or JPEG or nothing at all, give a code or an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = ymt_token::decode_qr_image(data);
    // The camera-frame decoder behind `POST /v1/qr:decode` (untrusted bytes
    // from any browser): bounded, and never a panic either.
    let _ = ymt_token::decode_qr_frame(data);
});
