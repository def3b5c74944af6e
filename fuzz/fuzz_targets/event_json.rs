//! Fuzzes an event as a client submits it: the submission JSON, the identity
//! document, the kind-specific data and the event's own checks; and the
//! stored form, which must read back what was written.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ymt_core::identity::IdDocument;
use ymt_core::{Event, EventBody, PersonId, Timestamp};
use ymt_node::model::{EventRecord, Subject, Submission};

fuzz_target!(|data: &[u8]| {
    if let Ok(record) = serde_json::from_slice::<EventRecord>(data) {
        let bytes = serde_json::to_vec(&record).expect("a stored event serializes");
        let again: EventRecord = serde_json::from_slice(&bytes).expect("a stored event reads back");
        assert_eq!(again.event, record.event);
        assert_eq!(again.region, record.region);
    }
    let Ok(submission) = serde_json::from_slice::<Submission>(data) else {
        return;
    };
    if let Subject::Document { id_type, id_number } = &submission.subject {
        let _ = IdDocument::parse(*id_type, id_number);
    }
    let Ok(body) = EventBody::from_kind_and_data(submission.kind, submission.data) else {
        return;
    };
    assert_eq!(body.kind(), submission.kind);
    let event = Event {
        id: submission.id,
        person: PersonId::parse("p-fuzz").expect("a valid person id"),
        recorded_at: Timestamp::from_unix_secs(1_700_000_000).expect("a valid instant"),
        author: "fuzz".into(),
        body,
    };
    if event.validate().is_ok() {
        let _ = event.latest_instant();
        let record = EventRecord {
            region: submission.region,
            event,
        };
        let bytes = serde_json::to_vec(&record).expect("a valid event serializes");
        let again: EventRecord = serde_json::from_slice(&bytes).expect("a valid event reads back");
        assert_eq!(again.event, record.event);
    }
});
