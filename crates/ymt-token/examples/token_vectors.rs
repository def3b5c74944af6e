//! Prints the test vectors of docs/token-format.md:
//! `cargo run -p ymt-token --example token_vectors`.

use ymt_core::{Color, PersonId, Timestamp};
use ymt_token::{Algorithm, Claims, SigningKey, issue, pipeline, token};

fn main() {
    let issued_at = Timestamp::parse_rfc3339("2026-11-27T08:00:00Z").unwrap();
    let claims = Claims {
        issuer: "ymt:44".into(),
        issued_at,
        expires_at: issued_at.plus_secs(300),
        person: PersonId::parse("p-0123456789abcdef").unwrap(),
        color: Color::Yellow,
        masked_name: "张*三".into(),
        rule_set_version: "2026.11-r2".into(),
        color_valid_until: Some(issued_at.plus_secs(7 * 86_400)),
        kind: ymt_token::CodeKind::Phone,
    };
    let secret: Vec<u8> = (1u8..=32).collect();
    println!("claims_json: {}", serde_json::to_string(&claims).unwrap());
    println!(
        "claims_cbor_hex: {}",
        hex::encode(pipeline::cbor_to_vec(&claims.to_cbor_value()))
    );
    for algorithm in [Algorithm::EdDsa, Algorithm::Es256] {
        let key = SigningKey::from_secret_bytes(algorithm, &secret).unwrap();
        let token = issue(&claims, &key).unwrap();
        println!("--- {algorithm}");
        println!("secret_key_hex: {}", hex::encode(&secret));
        println!(
            "public_key_hex: {}",
            hex::encode(key.verifying_key().public_bytes())
        );
        println!("kid_hex: {}", key.kid());
        println!(
            "cose_hex: {}",
            hex::encode(token::cose_bytes(&token).unwrap())
        );
        println!("token: {token}");
        println!("token_len_chars: {}", token.len());
    }
}
