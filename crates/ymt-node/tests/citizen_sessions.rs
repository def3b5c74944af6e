//! Citizen sessions across nodes: a session token verifies on every node
//! of the platform, and what ends it (a person's sessions, or one) is a
//! replicated record every node applies. Each test is named after what it
//! prevents. (HTTP: ymt-http/tests/session_revocation.rs.)

mod support;

use support::{HOUR_SECS, TableNode, at_secs};
use ymt_node::record::{Author, Record, RecordEnvelope, RecordKind};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ending_a_persons_sessions_reaches_every_node_and_spares_later_sign_ins() {
    // Two nodes stand for a cluster: the record made on one is applied on
    // the other, where the person also has a session.
    let origin = TableNode::open();
    let replica = TableNode::open();
    let pid = ymt_core::PersonId::parse("p-stolen-phone").expect("a pid");
    let now = at_secs(HOUR_SECS);
    origin.clock.set(now);
    replica.clock.set(now);
    let on_origin = origin
        .node
        .codes
        .new_session(pid.clone(), now)
        .expect("a session");
    let on_replica = replica
        .node
        .codes
        .new_session(pid.clone(), now)
        .expect("a session");
    let ended_here = origin
        .node
        .end_person_sessions(&Author::operator(), &pid)
        .expect("ended");
    assert_eq!(ended_here, 1);
    assert_eq!(origin.node.codes.session(&on_origin, now), None);

    // The replica receives the record late, after the person signed in
    // there again: the older session ends, the newer one stays.
    let later = at_secs(2 * HOUR_SECS);
    replica.clock.set(later);
    let signed_in_again = replica
        .node
        .codes
        .new_session(pid.clone(), later)
        .expect("a session");
    let record = Record::SessionsEnded {
        pid: pid.clone(),
        ended_at: now,
        session: None,
    };
    assert_eq!(record.record_kind(), RecordKind::Commutative);
    let envelope = RecordEnvelope::new(&Author::operator(), now, record);
    replica
        .node
        .apply_envelope(&envelope, "replicated")
        .expect("applied");
    assert_eq!(replica.node.codes.session(&on_replica, later), None);
    assert_eq!(
        replica.node.codes.session(&signed_in_again, later),
        Some(pid.clone()),
        "a sign-in after the record is not ended by it"
    );
    // Applied twice, nothing more changes.
    replica
        .node
        .apply_envelope(&envelope, "replicated again")
        .expect("applied");
    assert_eq!(
        replica.node.codes.session(&signed_in_again, later),
        Some(pid)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_out_of_one_session_ends_it_on_every_node_and_no_other_session() {
    // Two nodes of one platform: a token made on one verifies on the other
    // until the record of its sign-out reaches it.
    let origin = TableNode::open();
    let replica = TableNode::open();
    let pid = ymt_core::PersonId::parse("p-two-devices").expect("a pid");
    let now = at_secs(HOUR_SECS);
    origin.clock.set(now);
    replica.clock.set(now);
    let laptop = origin
        .node
        .codes
        .new_session(pid.clone(), now)
        .expect("a session");
    let phone = origin
        .node
        .codes
        .new_session(pid.clone(), now)
        .expect("a session");
    assert_eq!(replica.node.codes.session(&laptop, now), Some(pid.clone()));

    assert!(
        origin
            .node
            .end_citizen_session(&laptop)
            .expect("signed out")
    );
    assert_eq!(origin.node.codes.session(&laptop, now), None);
    assert!(
        !origin
            .node
            .end_citizen_session(&laptop)
            .expect("nothing to do"),
        "an ended session writes nothing more"
    );
    let nonce = ymt_node::citizen_sessions::SessionToken::parse(&laptop)
        .expect("a token")
        .nonce();
    let record = Record::SessionsEnded {
        pid: pid.clone(),
        ended_at: now,
        session: Some(nonce),
    };
    assert_eq!(record.record_kind(), RecordKind::Commutative);
    let envelope = RecordEnvelope::new(&Author::citizen(pid.as_str()), now, record);
    for time in ["replicated", "replicated again"] {
        replica
            .node
            .apply_envelope(&envelope, time)
            .expect("applied");
        assert_eq!(replica.node.codes.session(&laptop, now), None, "{time}");
        assert_eq!(
            replica.node.codes.session(&phone, now),
            Some(pid.clone()),
            "{time}"
        );
    }
    // A record naming a session in any other spelling is no record: a
    // broker or peer cannot slip in a nonce the node would misread.
    let parse = |nonce: &str| -> Result<Record, serde_json::Error> {
        serde_json::from_value(serde_json::json!({
            "kind": "sessions_ended",
            "pid": pid.as_str(),
            "ended_at": "2026-01-01T01:00:00Z",
            "session": nonce,
        }))
    };
    assert!(parse(&"0a".repeat(16)).is_ok(), "the one spelling");
    for nonce in ["ZZ", "00", &"A".repeat(32), &"0".repeat(33)] {
        assert!(parse(nonce).is_err(), "{nonce}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_person_signing_in_and_out_in_a_loop_cannot_stop_others_signing_in() {
    use ymt_node::citizen_sessions::{
        ENDED_SESSIONS_PER_PERSON_MAX, SESSION_CLOCK_SKEW_SECS, SESSION_TTL_SECS,
    };
    // Every sign-out is remembered for a session's lifetime, so a loop of
    // them would grow the node's memory: the looping person is stopped.
    let node = TableNode::open();
    let now = at_secs(HOUR_SECS);
    node.clock.set(now);
    let looper = ymt_core::PersonId::parse("p-looper").expect("a pid");
    let other = ymt_core::PersonId::parse("p-other").expect("a pid");
    for _ in 0..ENDED_SESSIONS_PER_PERSON_MAX {
        let session = node
            .node
            .codes
            .new_session(looper.clone(), now)
            .expect("a session");
        assert!(node.node.end_citizen_session(&session).expect("signed out"));
    }
    let refused = node
        .node
        .codes
        .new_session(looper.clone(), now)
        .expect_err("the loop is stopped");
    assert_eq!(
        refused.kind,
        ymt_node::error::ErrorKind::RateLimited,
        "{refused:?}"
    );
    node.node
        .codes
        .new_session(other.clone(), now)
        .expect("another person signs in");
    // Once what it ended can no longer be live, the person signs in again.
    let later = now.plus_secs(SESSION_TTL_SECS + SESSION_CLOCK_SKEW_SECS);
    node.clock.set(later);
    node.node
        .codes
        .new_session(looper, later)
        .expect("signs in again");
}
