//! The layers shared by `YMT1:` codes and EU DCC `HC1:` certificates:
//! prefix, base45, zlib and COSE_Sign1. Every function here is bounded and
//! returns an error text instead of panicking on untrusted input.

use ciborium::Value;
use coset::{AsCborValue, CoseSign1};

/// Longest QR text accepted: a version 40 QR code holds at most 4296
/// alphanumeric characters.
pub const QR_TEXT_LEN_MAX: usize = 4296;
/// Largest inflated COSE message accepted. Base45 of 4296 characters yields
/// at most 2864 bytes, and zlib expands text like this about 2 to 3 times; 64
/// KiB leaves room and stops decompression bombs.
pub const INFLATED_LEN_MAX: usize = 64 * 1024;
/// The COSE_Sign1 tag (RFC 9052) and the CWT tag (RFC 8392).
pub const COSE_SIGN1_TAG: u64 = 18;
pub const CWT_TAG: u64 = 61;

pub fn decode_base45(text: &str) -> Result<Vec<u8>, String> {
    base45::decode(text).map_err(|error| format!("{error:?}"))
}

pub fn looks_zlib_compressed(bytes: &[u8]) -> bool {
    // A zlib stream starts with CMF 0x78 (deflate, 32 KiB window) and a
    // header checksum making CMF*256+FLG a multiple of 31.
    bytes.len() >= 2
        && bytes[0] == 0x78
        && (u16::from(bytes[0]) * 256 + u16::from(bytes[1])) % 31 == 0
}

thread_local! {
    // Inflate and deflate states are tens to hundreds of KiB; building one
    // per token cost more than the signature check, so each thread keeps one.
    static INFLATER: std::cell::RefCell<flate2::Decompress> =
        std::cell::RefCell::new(flate2::Decompress::new(true));
    static DEFLATER: std::cell::RefCell<flate2::Compress> =
        std::cell::RefCell::new(flate2::Compress::new(flate2::Compression::best(), true));
}

/// Inflates a zlib stream, failing when it is corrupt, truncated, followed
/// by trailing bytes, or inflates past `len_max` bytes.
pub fn inflate_bounded(bytes: &[u8], len_max: usize) -> Result<Vec<u8>, String> {
    INFLATER.with(|cell| {
        let mut inflater = cell.borrow_mut();
        inflater.reset(true);
        let mut out = Vec::with_capacity((bytes.len() * 4).clamp(256, len_max + 1));
        loop {
            let consumed = inflater.total_in() as usize;
            let status = inflater
                .decompress_vec(
                    &bytes[consumed..],
                    &mut out,
                    flate2::FlushDecompress::Finish,
                )
                .map_err(|error| format!("zlib: {error}"))?;
            if out.len() > len_max {
                return Err(format!("inflates past {len_max} bytes"));
            }
            match status {
                flate2::Status::StreamEnd => {
                    if (inflater.total_in() as usize) < bytes.len() {
                        return Err("trailing bytes after the zlib stream".into());
                    }
                    return Ok(out);
                }
                _ if out.len() == out.capacity() => {
                    let grown = (out.capacity() * 2).min(len_max + 1);
                    out.reserve_exact(grown - out.len());
                }
                _ => return Err("zlib: truncated stream".into()),
            }
        }
    })
}

pub fn deflate(bytes: &[u8]) -> Vec<u8> {
    DEFLATER.with(|cell| {
        let mut deflater = cell.borrow_mut();
        deflater.reset();
        // zlib's bound for incompressible input plus header and checksum.
        let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 1000 + 64);
        loop {
            let consumed = deflater.total_in() as usize;
            let status = deflater
                .compress_vec(&bytes[consumed..], &mut out, flate2::FlushCompress::Finish)
                .expect("deflating into a Vec cannot fail");
            if status == flate2::Status::StreamEnd {
                return out;
            }
            out.reserve(out.capacity().max(64));
        }
    })
}

/// Decodes exactly one CBOR item; trailing bytes are an error.
pub fn cbor_from_slice(bytes: &[u8]) -> Result<Value, String> {
    let mut rest = bytes;
    let value: Value =
        ciborium::de::from_reader(&mut rest).map_err(|error| format!("CBOR: {error}"))?;
    if !rest.is_empty() {
        return Err(format!("{} trailing bytes after the CBOR item", rest.len()));
    }
    Ok(value)
}

pub fn cbor_to_vec(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::ser::into_writer(value, &mut out).expect("encoding CBOR into a Vec cannot fail");
    out
}

/// How strictly the COSE tags are checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TagPolicy {
    /// Exactly one tag 18 (yimatong's own codes).
    RequireSign1Tag,
    /// Tag 18 optional, an outer CWT tag 61 tolerated (what DCC verifiers
    /// accept in the field).
    Lenient,
}

pub fn parse_cose_sign1(bytes: &[u8], policy: TagPolicy) -> Result<CoseSign1, String> {
    let mut value = cbor_from_slice(bytes)?;
    let mut tags = Vec::new();
    while let Value::Tag(tag, inner) = value {
        if tags.len() >= 2 {
            return Err("more than two CBOR tags around the COSE message".into());
        }
        tags.push(tag);
        value = *inner;
    }
    let tags_ok = match policy {
        TagPolicy::RequireSign1Tag => tags == [COSE_SIGN1_TAG],
        TagPolicy::Lenient => matches!(
            tags.as_slice(),
            [] | [COSE_SIGN1_TAG] | [CWT_TAG] | [CWT_TAG, COSE_SIGN1_TAG]
        ),
    };
    if !tags_ok {
        return Err(format!("unexpected CBOR tags {tags:?} (want [18])"));
    }
    CoseSign1::from_cbor_value(value).map_err(|error| format!("COSE_Sign1: {error:?}"))
}

pub fn base45_encode(bytes: &[u8]) -> String {
    base45::encode(bytes)
}
