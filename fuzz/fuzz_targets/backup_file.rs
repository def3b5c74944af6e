//! Fuzzes the check of a store backup file (`yimatong restore` reads one
//! before it writes anything): the bytes as a whole file (mostly refused by
//! the magic), and as entries behind a valid magic with a correct trailing
//! checksum, so the fuzzer reaches the entry decoder. Nothing may panic or
//! allocate past the input, and whatever passes must re-check the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};
use ymt_store::backup::check_reader;

fuzz_target!(|data: &[u8]| {
    let _ = check_reader(data);
    let mut framed = b"YMTBAK01".to_vec();
    framed.extend_from_slice(data);
    let digest = Sha256::digest(&framed);
    framed.extend_from_slice(&digest);
    if let Ok(summary) = check_reader(framed.as_slice()) {
        assert_eq!(summary.bytes, framed.len() as u64);
        assert_eq!(check_reader(framed.as_slice()).ok(), Some(summary));
    }
});
