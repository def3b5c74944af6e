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

/// A PNG's signature and a JPEG's start, so the fuzz of camera frames gets
/// past the format guess into the image decoders.
const IMAGE_STARTS: [&[u8]; 3] = [b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0"];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn camera_frames_never_panic(
        start in 0..IMAGE_STARTS.len(),
        bytes in proptest::collection::vec(any::<u8>(), 0..2000),
    ) {
        let frame = [IMAGE_STARTS[start], &bytes].concat();
        // Any answer but a panic: mostly an unreadable image.
        let _ = ymt_token::decode_qr_frame(&frame);
    }

    /// A real code's PNG with some bytes changed decodes to the code, to
    /// nothing, or to an error; never to a panic.
    #[test]
    fn damaged_code_frames_never_panic(
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
    ) {
        let mut png = ymt_token::render_qr_png("YMTV1:v-mall.ABC").unwrap();
        for (at, byte) in flips {
            let at = at % png.len();
            png[at] = byte;
        }
        let _ = ymt_token::decode_qr_frame(&png);
    }
}

#[test]
fn a_camera_frame_reads_its_code_and_an_empty_frame_reads_nothing() {
    let png = ymt_token::render_qr_png("YMTV1:v-mall.ABC").unwrap();
    assert_eq!(
        ymt_token::decode_qr_frame(&png).unwrap().as_deref(),
        Some("YMTV1:v-mall.ABC")
    );
    let blank = {
        let mut out = Vec::new();
        let image = image_of_side(64);
        image
            .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
            .unwrap();
        out
    };
    assert_eq!(ymt_token::decode_qr_frame(&blank).unwrap(), None);
}

fn image_of_side(side: u32) -> image::DynamicImage {
    image::DynamicImage::ImageLuma8(image::GrayImage::from_pixel(side, side, image::Luma([255])))
}

#[test]
fn a_camera_frame_beyond_the_bounds_is_refused_before_decoding() {
    let too_long = vec![0_u8; ymt_token::qr::FRAME_FILE_LEN_MAX + 1];
    assert!(matches!(
        ymt_token::decode_qr_frame(&too_long),
        Err(ymt_token::QrError::ImageTooLarge { .. })
    ));
    // A small file that declares a huge image: refused by the image limits,
    // not allocated.
    let mut wide = Vec::new();
    image_of_side(ymt_token::qr::FRAME_SIDE_PX_MAX + 1)
        .write_to(
            &mut std::io::Cursor::new(&mut wide),
            image::ImageFormat::Png,
        )
        .unwrap();
    assert!(wide.len() < ymt_token::qr::FRAME_FILE_LEN_MAX);
    assert!(matches!(
        ymt_token::decode_qr_frame(&wide),
        Err(ymt_token::QrError::Image { .. })
    ));
}

/// The kind claim (format revision 2): property tests of its parser.
mod kind_claim {
    use super::common;
    use ciborium::Value;
    use proptest::prelude::*;
    use ymt_token::claims::CLAIM_KIND;
    use ymt_token::{Claims, CodeKind};

    fn claims_of(kind: CodeKind, color: u8, valid_until_secs: Option<i64>) -> Claims {
        let now = common::at("2026-11-27T08:00:00Z");
        let mut claims = common::claims("ymt:44", now);
        claims.kind = kind;
        claims.color = ymt_core::Color::from_u8(color).unwrap();
        claims.color_valid_until = valid_until_secs.map(|secs| now.plus_secs(secs));
        claims
    }

    fn with_kind_value(claims: &Claims, value: Value) -> Value {
        let Value::Map(mut entries) = claims.to_cbor_value() else {
            unreachable!("claims are a map")
        };
        entries.retain(|(key, _)| key != &Value::Integer(CLAIM_KIND.into()));
        entries.push((Value::Integer(CLAIM_KIND.into()), value));
        Value::Map(entries)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn claims_decode_to_what_was_encoded_kind_included(
            printed in any::<bool>(),
            color in 0u8..3,
            valid_until_secs in proptest::option::of(1i64..1_000_000),
        ) {
            let kind = if printed { CodeKind::Printed } else { CodeKind::Phone };
            let claims = claims_of(kind, color, valid_until_secs);
            let value = claims.to_cbor_value();
            // A phone code carries no kind claim: its bytes are those of
            // codes issued before kinds existed.
            let Value::Map(entries) = &value else { unreachable!() };
            let has_kind = entries.iter().any(|(key, _)| key == &Value::Integer(CLAIM_KIND.into()));
            prop_assert_eq!(has_kind, printed);
            prop_assert_eq!(Claims::from_cbor_value(&value), Ok(claims));
        }

        #[test]
        fn a_kind_claim_is_phone_printed_or_malformed_never_guessed(raw in any::<i64>()) {
            let claims = claims_of(CodeKind::Phone, 0, None);
            let decoded = Claims::from_cbor_value(&with_kind_value(&claims, Value::Integer(raw.into())));
            match raw {
                0 => prop_assert_eq!(decoded.map(|claims| claims.kind), Ok(CodeKind::Phone)),
                1 => prop_assert_eq!(decoded.map(|claims| claims.kind), Ok(CodeKind::Printed)),
                _ => prop_assert!(decoded.is_err()),
            }
        }

        #[test]
        fn a_kind_claim_of_another_type_is_malformed(
            text in ".{0,20}",
            bytes in proptest::collection::vec(any::<u8>(), 0..20),
            pick in 0usize..4,
        ) {
            let value = match pick {
                0 => Value::Text(text),
                1 => Value::Bytes(bytes),
                2 => Value::Bool(true),
                _ => Value::Array(vec![Value::Integer(1.into())]),
            };
            let claims = claims_of(CodeKind::Phone, 0, None);
            prop_assert!(Claims::from_cbor_value(&with_kind_value(&claims, value)).is_err());
        }
    }

    #[test]
    fn a_kind_claim_given_twice_is_malformed() {
        let claims = claims_of(CodeKind::Printed, 0, None);
        let Value::Map(mut entries) = claims.to_cbor_value() else {
            unreachable!()
        };
        entries.push((Value::Integer(CLAIM_KIND.into()), Value::Integer(0.into())));
        assert!(Claims::from_cbor_value(&Value::Map(entries)).is_err());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// A public key a cluster node announces (bytes from the stream) is
    /// refused or parsed, never a panic; parsed, its kid is derived from
    /// the key itself, so an announcement cannot name another key's kid.
    #[test]
    fn announced_public_key_bytes_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..80),
        es256 in any::<bool>(),
    ) {
        let algorithm = if es256 { Algorithm::Es256 } else { Algorithm::EdDsa };
        if let Ok(key) = ymt_token::VerifyingKey::from_public_bytes(algorithm, &bytes) {
            prop_assert_eq!(key.kid(), &ymt_token::Kid::derive(algorithm, &key.public_bytes()));
        }
    }
}
