//! Byte layouts of keys and values in the engine.
//!
//! Every layout is versioned by its first byte and decoded defensively:
//! stored bytes are treated as untrusted (a bit flip or a tampering must give
//! a `Corrupt` error that names the location, never a panic).

use crate::{StoreError, StoredEvent};
use ymt_core::{EventId, PersonId, Timestamp};

const EVENT_VALUE_VERSION: u8 = 1;

/// Key of the `events` keyspace: the sequence number, big endian so that
/// key order is log order and appends are sequential.
pub(crate) fn seq_key(seq: u64) -> [u8; 8] {
    seq.to_be_bytes()
}

pub(crate) fn decode_seq(keyspace: &'static str, bytes: &[u8]) -> Result<u64, StoreError> {
    let array: [u8; 8] = bytes.try_into().map_err(|_| StoreError::Corrupt {
        keyspace,
        key: hex(bytes),
        reason: format!(
            "expected an 8-byte sequence number, found {} bytes",
            bytes.len()
        ),
    })?;
    Ok(u64::from_be_bytes(array))
}

/// Prefix of a person's keys in the `persons` keyspace: the id's length then
/// the id, so that no person's prefix is a prefix of another person's.
pub(crate) fn person_prefix(person: &PersonId) -> Vec<u8> {
    let id = person.as_str().as_bytes();
    let mut key = Vec::with_capacity(1 + id.len() + 8);
    key.push(id.len() as u8);
    key.extend_from_slice(id);
    key
}

pub(crate) fn person_key(person: &PersonId, seq: u64) -> Vec<u8> {
    let mut key = person_prefix(person);
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

/// The sequence number at the end of a `persons` key.
pub(crate) fn seq_of_person_key(bytes: &[u8]) -> Result<u64, StoreError> {
    if bytes.len() < 8 {
        return Err(StoreError::Corrupt {
            keyspace: "persons",
            key: hex(bytes),
            reason: "key shorter than a sequence number".into(),
        });
    }
    decode_seq("persons", &bytes[bytes.len() - 8..])
}

/// Prefix of a metadata namespace: length then name, like persons.
pub(crate) fn meta_prefix(namespace: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(1 + namespace.len());
    key.push(namespace.len() as u8);
    key.extend_from_slice(namespace.as_bytes());
    key
}

pub(crate) fn meta_key(namespace: &str, key: &str) -> Vec<u8> {
    let mut bytes = meta_prefix(namespace);
    bytes.extend_from_slice(key.as_bytes());
    bytes
}

/// Value of the `events` keyspace:
/// version (1) | recorded_at unix secs (8, BE) | id len (1) | id | person len (1) | person | payload.
pub(crate) fn encode_event_value(
    id: &EventId,
    person: &PersonId,
    recorded_at: Timestamp,
    payload: &[u8],
) -> Vec<u8> {
    let id = id.as_str().as_bytes();
    let person = person.as_str().as_bytes();
    let mut value = Vec::with_capacity(1 + 8 + 2 + id.len() + person.len() + payload.len());
    value.push(EVENT_VALUE_VERSION);
    value.extend_from_slice(&recorded_at.unix_secs().to_be_bytes());
    value.push(id.len() as u8);
    value.extend_from_slice(id);
    value.push(person.len() as u8);
    value.extend_from_slice(person);
    value.extend_from_slice(payload);
    value
}

/// Decodes an `events` value stored under `seq`.
pub(crate) fn decode_event_value(seq: u64, value: &[u8]) -> Result<StoredEvent, StoreError> {
    let corrupt = |reason: String| StoreError::Corrupt {
        keyspace: "events",
        key: seq.to_string(),
        reason,
    };
    let mut reader = Reader { bytes: value };
    let version = reader.take(1).map_err(&corrupt)?[0];
    if version != EVENT_VALUE_VERSION {
        return Err(corrupt(format!("unknown event layout version {version}")));
    }
    let secs = i64::from_be_bytes(reader.array::<8>().map_err(&corrupt)?);
    let recorded_at =
        Timestamp::from_unix_secs(secs).map_err(|err| corrupt(format!("recorded_at: {err}")))?;
    let id_len = reader.take(1).map_err(&corrupt)?[0] as usize;
    let id = reader.text(id_len).map_err(&corrupt)?;
    let id = EventId::parse(id).map_err(|err| corrupt(format!("event id: {err}")))?;
    let person_len = reader.take(1).map_err(&corrupt)?[0] as usize;
    let person = reader.text(person_len).map_err(&corrupt)?;
    let person = PersonId::parse(person).map_err(|err| corrupt(format!("person id: {err}")))?;
    Ok(StoredEvent {
        seq,
        id,
        person,
        recorded_at,
        payload: reader.bytes.to_vec(),
    })
}

/// A cursor over untrusted bytes; every read is bounds-checked.
pub(crate) struct Reader<'a> {
    pub(crate) bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn take(&mut self, len: usize) -> Result<&'a [u8], String> {
        if self.bytes.len() < len {
            return Err(format!(
                "truncated: needed {len} more bytes, {} left",
                self.bytes.len()
            ));
        }
        let (head, tail) = self.bytes.split_at(len);
        self.bytes = tail;
        Ok(head)
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let bytes = self.take(N)?;
        let mut array = [0u8; N];
        array.copy_from_slice(bytes);
        Ok(array)
    }

    pub(crate) fn text(&mut self, len: usize) -> Result<&'a str, String> {
        std::str::from_utf8(self.take(len)?).map_err(|_| "text is not UTF-8".to_string())
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_value_round_trips() {
        let id = EventId::parse("lab-1:42").unwrap();
        let person = PersonId::parse("p-7").unwrap();
        let at = Timestamp::from_unix_secs(1_642_161_600).unwrap();
        let value = encode_event_value(&id, &person, at, b"payload");
        let event = decode_event_value(9, &value).unwrap();
        assert_eq!(
            event,
            StoredEvent {
                seq: 9,
                id,
                person,
                recorded_at: at,
                payload: b"payload".to_vec()
            }
        );
    }

    proptest::proptest! {
        #[test]
        fn decoding_arbitrary_values_never_panics(
            seq in proptest::prelude::any::<u64>(),
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
        ) {
            let _ = decode_event_value(seq, &bytes);
            let _ = decode_seq("events", &bytes);
            let _ = seq_of_person_key(&bytes);
        }
    }

    #[test]
    fn person_prefixes_do_not_nest() {
        let short = PersonId::parse("ab").unwrap();
        let long = PersonId::parse("abc").unwrap();
        assert!(!person_key(&long, 1).starts_with(&person_prefix(&short)));
        assert_eq!(seq_of_person_key(&person_key(&short, 77)).unwrap(), 77);
    }
}
