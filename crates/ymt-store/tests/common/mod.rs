//! Helpers shared by the integration tests.
#![allow(dead_code)]

use ymt_core::{EventId, PersonId, Timestamp};
use ymt_store::{AuditEntry, AuditOutcome, EmbeddedStore, NewEvent, StoreConfig};

pub fn event(id: &str, person: &str, secs: i64, payload: &[u8]) -> NewEvent {
    NewEvent {
        id: EventId::parse(id).unwrap(),
        person: PersonId::parse(person).unwrap(),
        recorded_at: Timestamp::from_unix_secs(secs).unwrap(),
        payload: payload.to_vec(),
    }
}

pub fn audit_entry(action: &str, target: &str) -> AuditEntry {
    AuditEntry {
        at: Timestamp::from_unix_secs(1_642_161_600).unwrap(),
        principal: "officer-7".into(),
        role: "cdc".into(),
        action: action.into(),
        target: target.into(),
        outcome: AuditOutcome::Allowed,
        detail: String::new(),
    }
}

pub fn open(dir: &tempfile::TempDir) -> EmbeddedStore {
    EmbeddedStore::open(dir.path(), StoreConfig::default()).unwrap()
}

pub fn open_with(dir: &tempfile::TempDir, config: StoreConfig) -> EmbeddedStore {
    EmbeddedStore::open(dir.path(), config).unwrap()
}

pub fn ids(events: &[ymt_store::StoredEvent]) -> Vec<&str> {
    events.iter().map(|e| e.id.as_str()).collect()
}
