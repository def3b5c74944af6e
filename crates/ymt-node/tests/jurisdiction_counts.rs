//! The dashboard's counts of persons registered in a jurisdiction are a
//! maintained count: they hold past the store's listing cap (issue 12,
//! item 7), here a cap of 10 instead of 100,000 so the test stays cheap.

mod support;

use std::sync::Arc;

use support::{NANSHAN, pid, t0, test_result};
use ymt_core::identity::{IdType, MaskedName};
use ymt_node::auth::{Principal, Role};
use ymt_node::state::{META_PERSONS, PersonRecord, Subject, Submission};
use ymt_node::{ManualClock, Node, ServerConfig};
use ymt_store::{EmbeddedStore, StoreConfig};

const LIST_CAP: usize = 10;
const FUTIAN: &str = "440304";

fn open(dir: &std::path::Path) -> Arc<Node> {
    let mut config = ServerConfig::new(dir.join("data"));
    config.pseudonym_secret_hex = Some("11".repeat(32));
    let store = EmbeddedStore::open(
        dir.join("store"),
        StoreConfig {
            meta_list_max: LIST_CAP,
            ..StoreConfig::default()
        },
    )
    .expect("the store opens");
    Node::open(config, Arc::new(ManualClock::new(t0())), Arc::new(store)).expect("the node opens")
}

fn person(n: usize, region: &str) -> PersonRecord {
    PersonRecord {
        pid: pid(&format!("p-count-{n:04}")),
        masked_name: MaskedName::mask("张三").unwrap(),
        id_type: IdType::ResidentId,
        region: region.parse().unwrap(),
        has_phone: false,
        guardian_of: Vec::new(),
        guardianship_confirmed: Vec::new(),
        registered_by: "operator".into(),
        relationships: Default::default(),
    }
}

fn authority(jurisdiction: &str) -> Principal {
    Principal {
        id: format!("ha-{jurisdiction}"),
        role: Role::HealthAuthority,
        jurisdiction: jurisdiction.parse().unwrap(),
        display_name: "authority".into(),
        key_sha256: String::new(),
        disabled: false,
        created_by: String::new(),
        keys: Default::default(),
        key_in_use: None,
        oidc_subject: None,
    }
}

#[tokio::test]
async fn the_jurisdiction_dashboard_counts_past_the_listing_cap() {
    let dir = tempfile::tempdir().unwrap();
    let node = open(dir.path());
    // 3 × the cap in Nanshan, 2 × in Futian.
    for n in 0..3 * LIST_CAP {
        node.register_person(&person(n, NANSHAN)).unwrap();
    }
    for n in 100..100 + 2 * LIST_CAP {
        node.register_person(&person(n, FUTIAN)).unwrap();
    }
    // Registering again in the same region counts once; moving counts in
    // the new region only.
    node.register_person(&person(0, NANSHAN)).unwrap();
    node.register_person(&person(100, NANSHAN)).unwrap();
    // The listing the count used to read stops at its cap.
    assert!(node.store.meta_list(META_PERSONS).is_err());

    let event = test_result(
        "t-1",
        "p-count-0001",
        "pcr",
        "positive",
        support::at_secs(-3600),
    );
    let submission = Submission {
        id: serde_json::from_value(event["id"].clone()).unwrap(),
        subject: Subject::Pid {
            pid: pid("p-count-0001"),
        },
        region: NANSHAN.parse().unwrap(),
        kind: serde_json::from_value(event["kind"].clone()).unwrap(),
        data: event["data"].clone(),
    };
    node.ingest(&support::table_principal(), vec![submission])
        .await
        .unwrap();

    let nanshan = ymt_node::status::jurisdiction_color_counts(&node, &authority(NANSHAN)).unwrap();
    let positive_color = node.projection.get(&pid("p-count-0001")).unwrap().0.color();
    let mut expected = [3 * LIST_CAP as i64 + 1 - 1, 0, 0];
    expected[positive_color as usize] += 1;
    assert_eq!(nanshan, expected);
    let futian = ymt_node::status::jurisdiction_color_counts(&node, &authority(FUTIAN)).unwrap();
    assert_eq!(futian, [2 * LIST_CAP as i64 - 1, 0, 0]);
    let province = ymt_node::status::jurisdiction_color_counts(&node, &authority("44")).unwrap();
    assert_eq!(province.iter().sum::<i64>(), 5 * LIST_CAP as i64);

    // Rebuilt at start, past the cap too.
    node.shutdown().await.unwrap();
    drop(node);
    let node = open(dir.path());
    assert_eq!(
        ymt_node::status::jurisdiction_color_counts(&node, &authority(NANSHAN)).unwrap(),
        expected
    );
    assert_eq!(
        ymt_node::status::jurisdiction_color_counts(&node, &authority(FUTIAN)).unwrap(),
        [2 * LIST_CAP as i64 - 1, 0, 0]
    );
}
