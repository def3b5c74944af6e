//! The test vectors printed in docs/token-format.md decode as documented,
//! and issuing the documented claims with the documented keys reproduces
//! them byte for byte (Ed25519 and RFC 6979 ECDSA are deterministic).

use std::collections::HashMap;

use ymt_token::{Algorithm, Claims, SigningKey, TrustList, VerifyingKey, issue, pipeline, verify};

fn doc() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/token-format.md");
    std::fs::read_to_string(path).expect("docs/token-format.md is readable")
}

/// Fenced blocks whose info string is `info`.
fn blocks(text: &str, info: &str) -> Vec<String> {
    let fence = format!("```{info}");
    let mut found = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        match &mut current {
            None if line.trim() == fence => current = Some(String::new()),
            None => {}
            Some(_) if line.trim() == "```" => found.push(current.take().unwrap()),
            Some(block) => {
                block.push_str(line);
                block.push('\n');
            }
        }
    }
    found
}

fn fields(block: &str) -> HashMap<String, String> {
    block
        .lines()
        .filter_map(|line| line.split_once(": "))
        .map(|(key, value)| (key.trim().to_owned(), value.trim().to_owned()))
        .collect()
}

#[test]
fn documented_vectors_decode_as_documented() {
    let text = doc();
    let claims_blocks = blocks(&text, "json claims");
    assert_eq!(claims_blocks.len(), 1, "one claims block");
    let claims: Claims = serde_json::from_str(&claims_blocks[0]).unwrap();
    let cbor_blocks = blocks(&text, "text claims-cbor");
    assert_eq!(cbor_blocks.len(), 1, "one claims CBOR block");
    assert_eq!(
        hex::encode(pipeline::cbor_to_vec(&claims.to_cbor_value())),
        cbor_blocks[0].trim()
    );

    let vectors = blocks(&text, "text vector");
    assert_eq!(vectors.len(), 2, "one vector per algorithm");
    for block in vectors {
        let vector = fields(&block);
        let algorithm = Algorithm::parse(&vector["algorithm"]).unwrap();
        let secret = hex::decode(&vector["secret_key_hex"]).unwrap();
        let key = SigningKey::from_secret_bytes(algorithm, &secret).unwrap();
        let public = hex::decode(&vector["public_key_hex"]).unwrap();
        assert_eq!(key.verifying_key().public_bytes(), public);
        assert_eq!(key.kid().to_hex(), vector["kid_hex"]);

        let token = &vector["token"];
        assert_eq!(&issue(&claims, &key).unwrap(), token, "{algorithm} token");
        assert_eq!(
            hex::encode(ymt_token::token::cose_bytes(token).unwrap()),
            vector["cose_hex"]
        );

        let verifying = VerifyingKey::from_public_bytes(algorithm, &public).unwrap();
        let trust = TrustList::from_keys(&claims.issuer, &[verifying]);
        let report = verify(token, &trust, claims.issued_at);
        assert!(report.valid, "{:?}", report.error);
        assert_eq!(report.claims.as_ref(), Some(&claims));
        assert_eq!(report.kid.unwrap().to_hex(), vector["kid_hex"]);
    }
}
