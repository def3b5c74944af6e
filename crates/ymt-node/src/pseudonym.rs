//! Pseudonymous person ids: a keyed hash of the identity document.
//!
//! `pid = hex(HMAC-SHA256(secret, id_type || 0x00 || number))[..32]`. The
//! secret lives in the data directory (or the configuration) and never leaves
//! the node, so a pid cannot be reversed into an ID number by anyone who does
//! not hold it. Nodes of one platform share the secret so they compute the
//! same pid for the same person.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use ymt_core::PersonId;
use ymt_core::identity::IdDocument;

pub const PSEUDONYM_SECRET_LEN: usize = 32;

#[derive(Clone)]
pub struct Pseudonymizer {
    secret: [u8; PSEUDONYM_SECRET_LEN],
}

impl std::fmt::Debug for Pseudonymizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pseudonymizer(<secret>)")
    }
}

impl Pseudonymizer {
    /// From a secret written as 64 hex characters (a `pseudonym.secret`
    /// file's content; surrounding whitespace ignored).
    pub fn from_hex(text: &str) -> Option<Pseudonymizer> {
        let mut secret = [0u8; PSEUDONYM_SECRET_LEN];
        hex::decode_to_slice(text.trim(), &mut secret).ok()?;
        Some(Pseudonymizer::new(secret))
    }

    pub fn new(secret: [u8; PSEUDONYM_SECRET_LEN]) -> Pseudonymizer {
        Pseudonymizer { secret }
    }

    pub fn person_id(&self, document: &IdDocument) -> PersonId {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.secret).expect("HMAC accepts keys of any length");
        mac.update(document.id_type().as_str().as_bytes());
        mac.update(&[0]);
        mac.update(document.number_for_hashing().as_bytes());
        let digest = mac.finalize().into_bytes();
        PersonId::parse(&hex::encode(&digest[..16]))
            .expect("32 hex characters are a valid person id")
    }

    /// The credential the nodes of one cluster present to each other (the
    /// node-to-node API of anti-entropy): derived from the secret they
    /// share, under a label no ID type can take, so it reveals nothing of
    /// the secret or any pid, and no principal's key or session is it.
    pub fn node_credential(&self) -> String {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.secret).expect("HMAC accepts keys of any length");
        mac.update(b"ymt node-to-node credential v1");
        hex::encode(mac.finalize().into_bytes())
    }
}
