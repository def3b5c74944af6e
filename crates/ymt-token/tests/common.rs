//! Helpers shared by the integration tests.
#![allow(dead_code)]

use ymt_core::{Color, PersonId, Timestamp};
use ymt_token::{Algorithm, Claims, SigningKey};

pub fn at(text: &str) -> Timestamp {
    Timestamp::parse_rfc3339(text).unwrap()
}

pub fn claims(issuer: &str, issued_at: Timestamp) -> Claims {
    Claims {
        issuer: issuer.into(),
        issued_at,
        expires_at: issued_at.plus_secs(300),
        person: PersonId::parse("p-0123456789abcdef").unwrap(),
        color: Color::Yellow,
        masked_name: "张*三".into(),
        rule_set_version: "2026.11-r2".into(),
        color_valid_until: Some(issued_at.plus_secs(7 * 86_400)),
        kind: ymt_token::CodeKind::Phone,
    }
}

/// A fixed key per algorithm so failures reproduce.
pub fn key(algorithm: Algorithm, seed: u8) -> SigningKey {
    SigningKey::from_secret_bytes(algorithm, &[seed; 32]).unwrap()
}
