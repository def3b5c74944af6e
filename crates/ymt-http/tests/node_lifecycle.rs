//! The life of a node as the test kit runs it, which is how the binary runs
//! it: a clean stop writes the shutdown snapshot and the queued read-audit
//! records, a kill writes no snapshot and leaves the log to replay, and
//! either way the node starts again on its data, statuses intact.

mod support;

use support::{
    HOUR_SECS, StoppedNode, T0_UNIX_SECS, TestNode, check, close_contact_data, pcr_data, submission,
};
use ymt_node::auth::Role;
use ymt_store::{AuditFilter, EmbeddedStore, EventStore, StoreConfig};

/// The store of a stopped node, opened directly (and closed when dropped,
/// before the node starts again).
fn open_store(stopped: &StoppedNode) -> EmbeddedStore {
    EmbeddedStore::open(stopped.data_dir().join("store"), StoreConfig::default())
        .expect("the store of a stopped node opens")
}

fn snapshot_upto_seq(store: &EmbeddedStore) -> Option<u64> {
    let load = store.snapshot_latest().expect("snapshots read");
    load.latest.map(|snapshot| snapshot.upto_seq)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_stop_snapshots_and_a_kill_leaves_the_log_to_replay() {
    let node = TestNode::start().await;
    let lab = node.add_principal("lab-440305", Role::Lab, "440305");
    let authority = node.add_principal("cdc-440305", Role::HealthAuthority, "440305");
    let verifier = node.add_principal("verifier-440305", Role::VerifierDevice, "440305");
    let positive = submission(
        "lab-440305:S1",
        "p-case",
        "440305",
        "test_result",
        pcr_data(T0_UNIX_SECS - HOUR_SECS, T0_UNIX_SECS, "positive"),
    );
    check(
        "a positive result",
        &node.post("/v1/events", Some(&lab), &positive).await,
        200,
    );
    assert_eq!(node.color(&verifier, "p-case").await, "red");

    let stopped = node.stop().await;
    {
        let store = open_store(&stopped);
        assert_eq!(
            snapshot_upto_seq(&store),
            Some(store.last_seq()),
            "the shutdown snapshot covers the whole log"
        );
    }
    let node = stopped.start().await;
    assert_eq!(node.color(&verifier, "p-case").await, "red");
    let designation = submission(
        "cc-1",
        "p-contact",
        "440305",
        "contact_designation",
        close_contact_data(T0_UNIX_SECS),
    );
    check(
        "a designation",
        &node
            .post("/v1/events", Some(&authority), &designation)
            .await,
        200,
    );

    let stopped = node.kill().await;
    {
        let store = open_store(&stopped);
        assert!(
            snapshot_upto_seq(&store) < Some(store.last_seq()),
            "a kill writes no shutdown snapshot"
        );
    }
    let node = stopped.start().await;
    assert_eq!(
        node.color(&verifier, "p-contact").await,
        "red",
        "replayed from the log"
    );
    assert_eq!(node.color(&verifier, "p-case").await, "red");
    node.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_is_audited_by_the_time_the_node_has_stopped() {
    let node = TestNode::start().await;
    let lab = node.add_principal("lab-440305", Role::Lab, "440305");
    let verifier = node.add_principal("verifier-440305", Role::VerifierDevice, "440305");
    let negative = submission(
        "lab-440305:S1",
        "p-read",
        "440305",
        "test_result",
        pcr_data(T0_UNIX_SECS - HOUR_SECS, T0_UNIX_SECS, "negative"),
    );
    check(
        "a negative result",
        &node.post("/v1/events", Some(&lab), &negative).await,
        200,
    );
    assert_eq!(node.color(&verifier, "p-read").await, "green");

    let stopped = node.stop().await;
    {
        let store = open_store(&stopped);
        let filter = AuditFilter {
            principal: Some("verifier-440305".into()),
            action: Some("person.status".into()),
            ..AuditFilter::default()
        };
        let reads = store.audit_list(&filter, 100).expect("the audit log reads");
        assert_eq!(reads.len(), 1, "the status read is audited: {reads:?}");
    }
    stopped.start().await.close().await;
}
