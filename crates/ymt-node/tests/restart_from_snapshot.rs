//! A restart from a snapshot restores the check-in index, the persons with
//! retractions and the projection from the snapshot and the log after it,
//! and ends in the same state as a rebuild from the whole log.

use std::sync::Arc;

use serde_json::json;
use ymt_core::{EventId, EventKind, PersonId, RegionCode, Timestamp, VenueId};
use ymt_node::auth::system_principal;
use ymt_node::record::Author;
use ymt_node::state::{Subject, Submission};
use ymt_node::venues::Venue;
use ymt_node::{ManualClock, Node, ServerConfig};

const T0: &str = "2022-05-10T12:00:00Z";

fn at_minutes(minutes: i64) -> Timestamp {
    Timestamp::parse_rfc3339(T0)
        .unwrap()
        .plus_secs(minutes * 60)
}

fn config(dir: &tempfile::TempDir) -> ServerConfig {
    let mut config = ServerConfig::new(dir.path().to_path_buf());
    config.pseudonym_secret_hex = Some("11".repeat(32));
    // Snapshots only when the test asks.
    config.snapshot_every_events = u64::MAX;
    config
}

fn open(dir: &tempfile::TempDir, clock: &Arc<ManualClock>) -> Arc<Node> {
    Node::open_embedded(config(dir), clock.clone()).unwrap()
}

fn check_in(id: &str, person: &str, enter_minutes: i64, leave_minutes: i64) -> Submission {
    Submission {
        id: EventId::parse(id).unwrap(),
        subject: Subject::Pid {
            pid: PersonId::parse(person).unwrap(),
        },
        region: RegionCode::parse("440305001001").unwrap(),
        kind: EventKind::CheckIn,
        data: json!({
            "venue": "v-market",
            "entered_at": at_minutes(enter_minutes),
            "left_at": at_minutes(leave_minutes),
        }),
    }
}

fn retraction(id: &str, person: &str, target: &str) -> Submission {
    Submission {
        id: EventId::parse(id).unwrap(),
        subject: Subject::Pid {
            pid: PersonId::parse(person).unwrap(),
        },
        region: RegionCode::parse("440305001001").unwrap(),
        kind: EventKind::Retraction,
        data: json!({"target": target, "reason": "scanned by mistake"}),
    }
}

/// Everything the restart must reproduce: every person's stays in the
/// index, the index's size, the persons with retractions, and every color.
fn state_of(node: &Node, persons: &[&str]) -> (Vec<String>, usize, usize, Vec<String>) {
    let index = node.tracing.index.read();
    let stays = persons
        .iter()
        .map(|person| {
            format!(
                "{person}: {:?}",
                index.stays_of(&PersonId::parse(person).unwrap())
            )
        })
        .collect();
    let colors = persons
        .iter()
        .map(|person| {
            let color = node
                .projection
                .get(&PersonId::parse(person).unwrap())
                .map(|(slot, _)| slot.color());
            format!("{person}: {color:?}")
        })
        .collect();
    (
        stays,
        index.len(),
        node.persons_with_retractions.read().len(),
        colors,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_from_a_snapshot_equals_a_rebuild_from_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(at_minutes(600)));
    let persons = ["p-a", "p-b", "p-c"];
    let principal = system_principal("test-authority");
    let expected = {
        let node = tokio::task::block_in_place(|| open(&dir, &clock));
        node.register_venue(
            &Author::operator(),
            Venue {
                id: VenueId::parse("v-market").unwrap(),
                name: "market".into(),
                region: RegionCode::parse("440305001001").unwrap(),
                category: "market".into(),
                indoor: true,
                registered_by: "operator".into(),
                registered_at: at_minutes(0),
                operators: Vec::new(),
                location: None,
            },
        )
        .unwrap();
        // Before the snapshot: two stays, one of them retracted later.
        node.ingest(
            &principal,
            vec![
                check_in("ci-1", "p-a", 0, 60),
                check_in("ci-2", "p-b", 10, 50),
            ],
        )
        .await
        .unwrap();
        node.write_snapshot().await.unwrap();
        // After it: a new stay, and the retraction of a stay from before.
        node.ingest(
            &principal,
            vec![
                check_in("ci-3", "p-c", 20, 80),
                retraction("r-1", "p-b", "ci-2"),
            ],
        )
        .await
        .unwrap();
        state_of(&node, &persons)
    };
    // The retracted stay was still in the index's unsorted tail, from
    // which a retraction removes it.
    assert_eq!(expected.1, 2, "two stays left after the retraction");
    assert_eq!(expected.2, 1, "one person with a retraction");

    let from_snapshot = {
        let node = tokio::task::block_in_place(|| open(&dir, &clock));
        state_of(&node, &persons)
    };
    assert_eq!(from_snapshot, expected, "restart from the snapshot");

    std::fs::remove_dir_all(dir.path().join("store").join("snapshots")).unwrap();
    let from_log = {
        let node = tokio::task::block_in_place(|| open(&dir, &clock));
        state_of(&node, &persons)
    };
    assert_eq!(from_log.0, expected.0, "rebuild from the log: stays");
    assert_eq!(from_log.2, expected.2, "rebuild from the log: retractions");
    assert_eq!(from_log.3, expected.3, "rebuild from the log: colors");
}
