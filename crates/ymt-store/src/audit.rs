//! The hash-chained audit log.
//!
//! Each record is serialized deterministically and stored with
//! `hash = SHA-256(previous hash || record bytes)`; the first record chains
//! from 32 zero bytes. The writer assigns consecutive sequence numbers from 1
//! and commits records through the same group commit as events, so a record
//! can be made durable atomically with the events it concerns.
//!
//! `EventStore::audit_verify` walks the records in key order and reports the first
//! broken link: a changed record (its hash no longer matches), a deleted or
//! reordered record (the sequence numbers stop being consecutive, or the
//! sequence number inside the record disagrees with its key), and a
//! truncated tail (the stored head no longer matches the last record). An
//! attacker who can rewrite every record after the change *and* the head can
//! recompute the chain; publishing the head hash elsewhere (the report gives
//! it) closes that gap.

use crate::StoreError;
use crate::codec::{Reader, hex};
use sha2::{Digest, Sha256};
use ymt_core::Timestamp;

const AUDIT_RECORD_VERSION: u8 = 1;
pub const HASH_LEN: usize = 32;
/// Bytes of principal, role, action and target.
pub const AUDIT_FIELD_BYTES_MAX: usize = 256;
pub const AUDIT_DETAIL_BYTES_MAX: usize = 4096;
/// The hash the first record chains from.
pub const GENESIS_HASH: [u8; HASH_LEN] = [0; HASH_LEN];

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AuditOutcome {
    /// The action was performed.
    Allowed,
    /// The action was refused by policy.
    Denied,
    /// The action was attempted and failed.
    Failed,
}

impl AuditOutcome {
    fn to_byte(self) -> u8 {
        match self {
            AuditOutcome::Allowed => 1,
            AuditOutcome::Denied => 2,
            AuditOutcome::Failed => 3,
        }
    }

    fn from_byte(byte: u8) -> Option<AuditOutcome> {
        match byte {
            1 => Some(AuditOutcome::Allowed),
            2 => Some(AuditOutcome::Denied),
            3 => Some(AuditOutcome::Failed),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AuditOutcome::Allowed => "allowed",
            AuditOutcome::Denied => "denied",
            AuditOutcome::Failed => "failed",
        }
    }
}

/// An audit record as submitted; the writer assigns its sequence number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEntry {
    pub at: Timestamp,
    pub principal: String,
    pub role: String,
    pub action: String,
    pub target: String,
    pub outcome: AuditOutcome,
    pub detail: String,
}

impl AuditEntry {
    /// Checks the size bounds; called before an entry is queued.
    pub fn validate(&self) -> Result<(), StoreError> {
        for (what, value) in [
            ("audit principal", &self.principal),
            ("audit role", &self.role),
            ("audit action", &self.action),
            ("audit target", &self.target),
        ] {
            if value.len() > AUDIT_FIELD_BYTES_MAX {
                return Err(StoreError::InvalidArgument {
                    what,
                    reason: format!("{} bytes, at most {AUDIT_FIELD_BYTES_MAX}", value.len()),
                });
            }
        }
        if self.detail.len() > AUDIT_DETAIL_BYTES_MAX {
            return Err(StoreError::InvalidArgument {
                what: "audit detail",
                reason: format!(
                    "{} bytes, at most {AUDIT_DETAIL_BYTES_MAX}",
                    self.detail.len()
                ),
            });
        }
        Ok(())
    }
}

/// A stored audit record with its chain hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditRecord {
    pub seq: u64,
    pub at: Timestamp,
    pub principal: String,
    pub role: String,
    pub action: String,
    pub target: String,
    pub outcome: AuditOutcome,
    pub detail: String,
    /// SHA-256 of (previous record's hash || this record's bytes).
    pub hash: [u8; HASH_LEN],
}

impl AuditRecord {
    pub fn hash_hex(&self) -> String {
        hex(&self.hash)
    }
}

/// Which records `audit_list` returns; `None` matches anything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Only records with `seq >= from_seq`.
    pub from_seq: u64,
    pub principal: Option<String>,
    pub action: Option<String>,
    pub target: Option<String>,
    pub outcome: Option<AuditOutcome>,
    /// Only records with `at >= at_from`.
    pub at_from: Option<Timestamp>,
    /// Only records with `at < at_until`.
    pub at_until: Option<Timestamp>,
}

impl AuditFilter {
    pub fn matches(&self, record: &AuditRecord) -> bool {
        record.seq >= self.from_seq
            && self
                .principal
                .as_ref()
                .is_none_or(|p| *p == record.principal)
            && self.action.as_ref().is_none_or(|a| *a == record.action)
            && self.target.as_ref().is_none_or(|t| *t == record.target)
            && self.outcome.is_none_or(|o| o == record.outcome)
            && self.at_from.is_none_or(|from| record.at >= from)
            && self.at_until.is_none_or(|until| record.at < until)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("reading the audit log failed: {0}")]
    Store(#[from] StoreError),
}

/// The result of walking the chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditVerifyReport {
    /// Records whose link was checked and found intact.
    pub records_checked: u64,
    /// Sequence number and hash of the last intact record (0 and the genesis
    /// hash for an empty log). Publish it elsewhere to anchor the chain.
    pub head_seq: u64,
    pub head_hash: [u8; HASH_LEN],
    /// The first broken link; `None` when the whole chain verifies.
    pub first_broken: Option<BrokenLink>,
}

impl AuditVerifyReport {
    pub fn is_intact(&self) -> bool {
        self.first_broken.is_none()
    }
}

/// Where the chain breaks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokenLink {
    /// The sequence number at which the chain breaks: the key of the bad
    /// record, or the sequence number that was expected there.
    pub seq: u64,
    pub kind: BrokenLinkKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BrokenLinkKind {
    /// The record's bytes do not hash to the stored hash (the record was
    /// changed).
    HashMismatch {
        expected: [u8; HASH_LEN],
        found: [u8; HASH_LEN],
    },
    /// A record is missing or out of place: the next key, or the sequence
    /// number inside the record, is not the one expected.
    SequenceGap { expected_seq: u64, found_seq: u64 },
    /// The stored bytes are not an audit record.
    Undecodable { reason: String },
    /// The records end before the stored head (the tail was removed), or
    /// the head disagrees with the last record.
    HeadMismatch {
        head_seq: u64,
        head_hash: [u8; HASH_LEN],
        last_seq: u64,
        last_hash: [u8; HASH_LEN],
    },
}

impl std::fmt::Display for BrokenLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.kind {
            BrokenLinkKind::HashMismatch { expected, found } => write!(
                f,
                "audit record {}: hash mismatch, expected {} found {}",
                self.seq,
                hex(expected),
                hex(found)
            ),
            BrokenLinkKind::SequenceGap {
                expected_seq,
                found_seq,
            } => write!(
                f,
                "audit record {}: expected sequence {expected_seq}, found {found_seq}",
                self.seq
            ),
            BrokenLinkKind::Undecodable { reason } => {
                write!(f, "audit record {}: undecodable: {reason}", self.seq)
            }
            BrokenLinkKind::HeadMismatch {
                head_seq,
                head_hash,
                last_seq,
                last_hash,
            } => write!(
                f,
                "audit head says record {head_seq} ({}) but the log ends at {last_seq} ({})",
                hex(head_hash),
                hex(last_hash)
            ),
        }
    }
}

/// The deterministic bytes of a record (without its hash):
/// version (1) | seq (8, BE) | at (8, BE) | outcome (1) |
/// principal, role, action, target (each u16 BE length + UTF-8) |
/// detail (u32 BE length + UTF-8).
pub(crate) fn encode_record(seq: u64, entry: &AuditEntry) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(
        1 + 8
            + 8
            + 1
            + 8
            + 4
            + entry.principal.len()
            + entry.role.len()
            + entry.action.len()
            + entry.target.len()
            + entry.detail.len(),
    );
    bytes.push(AUDIT_RECORD_VERSION);
    bytes.extend_from_slice(&seq.to_be_bytes());
    bytes.extend_from_slice(&entry.at.unix_secs().to_be_bytes());
    bytes.push(entry.outcome.to_byte());
    for field in [&entry.principal, &entry.role, &entry.action, &entry.target] {
        // Lengths were bounded by `AuditEntry::validate`.
        bytes.extend_from_slice(&(field.len() as u16).to_be_bytes());
        bytes.extend_from_slice(field.as_bytes());
    }
    bytes.extend_from_slice(&(entry.detail.len() as u32).to_be_bytes());
    bytes.extend_from_slice(entry.detail.as_bytes());
    bytes
}

pub(crate) fn chain_hash(prev_hash: &[u8; HASH_LEN], record_bytes: &[u8]) -> [u8; HASH_LEN] {
    let mut hasher = Sha256::new();
    hasher.update(prev_hash);
    hasher.update(record_bytes);
    hasher.finalize().into()
}

/// The stored value of a record: its bytes followed by its chain hash.
pub(crate) fn encode_stored(record_bytes: &[u8], hash: &[u8; HASH_LEN]) -> Vec<u8> {
    let mut value = Vec::with_capacity(record_bytes.len() + HASH_LEN);
    value.extend_from_slice(record_bytes);
    value.extend_from_slice(hash);
    value
}

/// Splits a stored value into record bytes and hash, and decodes the record.
pub(crate) fn decode_stored(value: &[u8]) -> Result<(AuditRecord, &[u8]), String> {
    if value.len() < HASH_LEN {
        return Err(format!("value of {} bytes has no hash", value.len()));
    }
    let (record_bytes, hash) = value.split_at(value.len() - HASH_LEN);
    let mut reader = Reader {
        bytes: record_bytes,
    };
    let version = reader.take(1)?[0];
    if version != AUDIT_RECORD_VERSION {
        return Err(format!("unknown audit layout version {version}"));
    }
    let seq = u64::from_be_bytes(reader.array::<8>()?);
    let at = Timestamp::from_unix_secs(i64::from_be_bytes(reader.array::<8>()?))
        .map_err(|err| format!("at: {err}"))?;
    let outcome_byte = reader.take(1)?[0];
    let outcome = AuditOutcome::from_byte(outcome_byte)
        .ok_or_else(|| format!("unknown outcome {outcome_byte}"))?;
    let mut short_fields = Vec::with_capacity(4);
    for _ in 0..4 {
        let len = u16::from_be_bytes(reader.array::<2>()?) as usize;
        short_fields.push(reader.text(len)?.to_string());
    }
    let detail_len = u32::from_be_bytes(reader.array::<4>()?) as usize;
    let detail = reader.text(detail_len)?.to_string();
    if !reader.bytes.is_empty() {
        return Err(format!("{} trailing bytes", reader.bytes.len()));
    }
    let mut hash_array = [0u8; HASH_LEN];
    hash_array.copy_from_slice(hash);
    let mut fields = short_fields.into_iter();
    let mut next = || fields.next().unwrap_or_default();
    Ok((
        AuditRecord {
            seq,
            at,
            principal: next(),
            role: next(),
            action: next(),
            target: next(),
            outcome,
            detail,
            hash: hash_array,
        },
        record_bytes,
    ))
}

/// Walks stored records `(key seq, value)` in key order and checks every
/// link, then the stored head.
pub(crate) fn verify_chain(
    records: impl Iterator<Item = Result<(u64, Vec<u8>), StoreError>>,
    stored_head: Option<(u64, [u8; HASH_LEN])>,
) -> Result<AuditVerifyReport, AuditError> {
    let mut report = AuditVerifyReport {
        records_checked: 0,
        head_seq: 0,
        head_hash: GENESIS_HASH,
        first_broken: None,
    };
    for item in records {
        let (key_seq, value) = item?;
        let expected_seq = report.head_seq + 1;
        if key_seq != expected_seq {
            report.first_broken = Some(BrokenLink {
                seq: expected_seq,
                kind: BrokenLinkKind::SequenceGap {
                    expected_seq,
                    found_seq: key_seq,
                },
            });
            return Ok(report);
        }
        let (record, record_bytes) = match decode_stored(&value) {
            Ok(decoded) => decoded,
            Err(reason) => {
                report.first_broken = Some(BrokenLink {
                    seq: key_seq,
                    kind: BrokenLinkKind::Undecodable { reason },
                });
                return Ok(report);
            }
        };
        let expected_hash = chain_hash(&report.head_hash, record_bytes);
        if expected_hash != record.hash {
            report.first_broken = Some(BrokenLink {
                seq: key_seq,
                kind: BrokenLinkKind::HashMismatch {
                    expected: expected_hash,
                    found: record.hash,
                },
            });
            return Ok(report);
        }
        // A record moved under another key keeps its inner sequence number
        // (and, when moved with its hash, may even chain correctly if the
        // attacker recomputed it), so the inner number is checked too.
        if record.seq != key_seq {
            report.first_broken = Some(BrokenLink {
                seq: key_seq,
                kind: BrokenLinkKind::SequenceGap {
                    expected_seq: key_seq,
                    found_seq: record.seq,
                },
            });
            return Ok(report);
        }
        report.records_checked += 1;
        report.head_seq = key_seq;
        report.head_hash = record.hash;
    }
    let (head_seq, head_hash) = stored_head.unwrap_or((0, GENESIS_HASH));
    if (head_seq, head_hash) != (report.head_seq, report.head_hash) {
        report.first_broken = Some(BrokenLink {
            seq: head_seq.max(report.head_seq),
            kind: BrokenLinkKind::HeadMismatch {
                head_seq,
                head_hash,
                last_seq: report.head_seq,
                last_hash: report.head_hash,
            },
        });
    }
    Ok(report)
}

/// The stored head: last sequence number (8, BE) | its hash (32).
pub(crate) fn encode_head(seq: u64, hash: &[u8; HASH_LEN]) -> Vec<u8> {
    let mut value = Vec::with_capacity(8 + HASH_LEN);
    value.extend_from_slice(&seq.to_be_bytes());
    value.extend_from_slice(hash);
    value
}

pub(crate) fn decode_head(value: &[u8]) -> Result<(u64, [u8; HASH_LEN]), String> {
    if value.len() != 8 + HASH_LEN {
        return Err(format!(
            "audit head of {} bytes, expected {}",
            value.len(),
            8 + HASH_LEN
        ));
    }
    let mut seq = [0u8; 8];
    seq.copy_from_slice(&value[..8]);
    let mut hash = [0u8; HASH_LEN];
    hash.copy_from_slice(&value[8..]);
    Ok((u64::from_be_bytes(seq), hash))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn entry(action: &str) -> AuditEntry {
        AuditEntry {
            at: Timestamp::from_unix_secs(1_642_161_600).unwrap(),
            principal: "officer-1".into(),
            role: "cdc".into(),
            action: action.into(),
            target: "person:p-1".into(),
            outcome: AuditOutcome::Allowed,
            detail: "reason: contact tracing".into(),
        }
    }

    fn chain(actions: &[&str]) -> Vec<(u64, Vec<u8>)> {
        let mut prev = GENESIS_HASH;
        let mut stored = Vec::new();
        for (index, action) in actions.iter().enumerate() {
            let seq = index as u64 + 1;
            let bytes = encode_record(seq, &entry(action));
            prev = chain_hash(&prev, &bytes);
            stored.push((seq, encode_stored(&bytes, &prev)));
        }
        stored
    }

    fn verify(stored: Vec<(u64, Vec<u8>)>, head: Option<(u64, [u8; 32])>) -> AuditVerifyReport {
        verify_chain(stored.into_iter().map(Ok), head).unwrap()
    }

    fn head_of(stored: &[(u64, Vec<u8>)]) -> Option<(u64, [u8; 32])> {
        stored.last().map(|(seq, value)| {
            let mut hash = [0u8; 32];
            hash.copy_from_slice(&value[value.len() - 32..]);
            (*seq, hash)
        })
    }

    #[test]
    fn intact_chain_verifies() {
        let stored = chain(&["read", "write", "purge"]);
        let head = head_of(&stored);
        let report = verify(stored, head);
        assert!(report.is_intact(), "{report:?}");
        assert_eq!(report.records_checked, 3);
    }

    #[test]
    fn each_kind_of_tampering_is_found() {
        let original = chain(&["a", "b", "c", "d"]);
        let head = head_of(&original);

        let mut changed = original.clone();
        let last = changed[1].1.len() - 33;
        changed[1].1[last] ^= 1;
        let broken = verify(changed, head).first_broken.unwrap();
        assert_eq!(broken.seq, 2);
        assert!(matches!(broken.kind, BrokenLinkKind::HashMismatch { .. }));

        let mut deleted = original.clone();
        deleted.remove(2);
        let broken = verify(deleted, head).first_broken.unwrap();
        assert_eq!(
            broken,
            BrokenLink {
                seq: 3,
                kind: BrokenLinkKind::SequenceGap {
                    expected_seq: 3,
                    found_seq: 4
                }
            }
        );

        let mut swapped = original.clone();
        let (second, third) = (swapped[1].1.clone(), swapped[2].1.clone());
        swapped[1].1 = third;
        swapped[2].1 = second;
        let broken = verify(swapped, head).first_broken.unwrap();
        assert_eq!(broken.seq, 2);

        let mut truncated = original.clone();
        truncated.pop();
        let broken = verify(truncated, head).first_broken.unwrap();
        assert!(matches!(broken.kind, BrokenLinkKind::HeadMismatch { .. }));
    }

    proptest! {
        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode_stored(&bytes);
            let _ = decode_head(&bytes);
        }

        #[test]
        fn records_round_trip(seq in 1u64.., principal in ".{0,40}", detail in ".{0,200}", secs in 0i64..253_402_300_799) {
            let entry = AuditEntry {
                at: Timestamp::from_unix_secs(secs).unwrap(),
                principal,
                role: "r".into(),
                action: "a".into(),
                target: String::new(),
                outcome: AuditOutcome::Denied,
                detail,
            };
            let bytes = encode_record(seq, &entry);
            let hash = chain_hash(&GENESIS_HASH, &bytes);
            let stored = encode_stored(&bytes, &hash);
            let (record, record_bytes) = decode_stored(&stored).unwrap();
            prop_assert_eq!(record_bytes, &bytes[..]);
            prop_assert_eq!(record.seq, seq);
            prop_assert_eq!(record.principal, entry.principal);
            prop_assert_eq!(record.detail, entry.detail);
            prop_assert_eq!(record.at, entry.at);
        }
    }
}
