//! `EventStore::meta_commit`: metadata writes and their audit records land
//! in one commit, or none of them do.

mod common;

use common::{audit_entry, open};
use ymt_store::{EventStore, MetaWrite};

/// One commit: its writes and audit actions.
struct Commit {
    writes: Vec<MetaWrite>,
    audit_actions: Vec<&'static str>,
}

/// What the store holds afterwards: every `(namespace, key, value)` read
/// back, and the audit actions in order.
struct Expect {
    accepted: bool,
    meta: Vec<(&'static str, &'static str, Option<&'static str>)>,
    audit_actions: Vec<&'static str>,
}

fn check(commits: Vec<Commit>, expect: Expect) {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let mut accepted = true;
    for commit in commits {
        let audit = commit
            .audit_actions
            .iter()
            .map(|action| audit_entry(action, "t"))
            .collect();
        let result = store
            .meta_commit(commit.writes, audit)
            .and_then(ymt_store::wait_blocking);
        accepted &= result.is_ok();
    }
    assert_eq!(accepted, expect.accepted, "accepted");
    for (namespace, key, value) in expect.meta {
        let stored = store.meta_get(namespace, key).unwrap();
        assert_eq!(
            stored.as_deref(),
            value.map(str::as_bytes),
            "{namespace}/{key}"
        );
    }
    let actions: Vec<String> = store
        .audit_list(&Default::default(), 100)
        .unwrap()
        .into_iter()
        .map(|record| record.action)
        .collect();
    assert_eq!(actions, expect.audit_actions, "audit actions");
    assert!(
        store.audit_verify().unwrap().first_broken.is_none(),
        "audit chain"
    );
}

#[test]
fn writes_and_their_audit_records_are_committed_together() {
    check(
        vec![Commit {
            writes: vec![
                MetaWrite::put("venues", "v1", b"one".to_vec()),
                MetaWrite::put("pending", "p1", b"held".to_vec()),
            ],
            audit_actions: vec!["venue.register"],
        }],
        Expect {
            accepted: true,
            meta: vec![
                ("venues", "v1", Some("one")),
                ("pending", "p1", Some("held")),
            ],
            audit_actions: vec!["venue.register"],
        },
    );
}

#[test]
fn a_delete_in_a_commit_removes_the_key() {
    check(
        vec![
            Commit {
                writes: vec![MetaWrite::put("traced-from", "t1", b"[]".to_vec())],
                audit_actions: vec!["tracing.record"],
            },
            Commit {
                writes: vec![MetaWrite::delete("traced-from", "t1")],
                audit_actions: vec!["tracing.withdraw"],
            },
        ],
        Expect {
            accepted: true,
            meta: vec![("traced-from", "t1", None)],
            audit_actions: vec!["tracing.record", "tracing.withdraw"],
        },
    );
}

#[test]
fn one_invalid_write_refuses_the_whole_commit_and_its_audit() {
    check(
        vec![Commit {
            writes: vec![
                MetaWrite::put("venues", "v1", b"one".to_vec()),
                // An empty key is invalid: nothing of this commit is kept.
                MetaWrite::put("venues", "", b"two".to_vec()),
            ],
            audit_actions: vec!["venue.register"],
        }],
        Expect {
            accepted: false,
            meta: vec![("venues", "v1", None)],
            audit_actions: vec![],
        },
    );
}
