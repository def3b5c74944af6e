//! The node keeps its files to its owner, and no principal can take an id
//! the node writes as an author itself.

use std::sync::Arc;

use ymt_core::{RegionCode, Timestamp};
use ymt_node::auth::{Principal, Role, is_reserved_principal_id};
use ymt_node::{ErrorKind, ManualClock, Node, ServerConfig};

fn open(dir: &std::path::Path) -> Arc<Node> {
    let mut config = ServerConfig::new(dir.to_path_buf());
    config.pseudonym_secret_hex = Some("11".repeat(32));
    let clock = Arc::new(ManualClock::new(
        Timestamp::parse_rfc3339("2022-07-01T00:00:00Z").unwrap(),
    ));
    Node::open_embedded(config, clock).unwrap()
}

fn principal(id: &str) -> Principal {
    Principal {
        id: id.into(),
        role: Role::NationalAdmin,
        jurisdiction: RegionCode::nation(),
        display_name: id.into(),
        key_sha256: String::new(),
        disabled: false,
        created_by: String::new(),
        keys: Default::default(),
        key_in_use: None,
        oidc_subject: None,
    }
}

#[test]
fn reserved_principal_ids_are_refused_and_others_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let node = open(&dir.path().join("data"));
    let check = |id: &str, expect_refused: bool| {
        assert_eq!(is_reserved_principal_id(id), expect_refused, "{id}");
        let result = node.add_principal(principal(id));
        match expect_refused {
            true => assert_eq!(result.unwrap_err().kind, ErrorKind::Invalid, "{id}"),
            false => result.unwrap(),
        }
    };
    check("auto-trace", true);
    check("Auto-Trace", true);
    check("anonymous", true);
    check("citizen", true);
    check("operator", true);
    check("retention", true);
    check("cdc-440305", false);
    check("auto-trace-2", false);
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_data_directory_and_snapshots_are_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let node = tokio::task::block_in_place(|| open(&data));
    node.write_snapshot().await.unwrap();
    let mode =
        |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700, "the data directory");
    let snapshots: Vec<_> = std::fs::read_dir(data.join("store").join("snapshots"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    assert!(!snapshots.is_empty(), "a snapshot was written");
    for snapshot in snapshots {
        assert_eq!(mode(&snapshot), 0o600, "{}", snapshot.display());
    }
}
