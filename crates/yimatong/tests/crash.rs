//! Crash test: the real `yimatong serve` is killed with SIGKILL at
//! pseudo-random moments (seeded) while writers post batches as fast as they
//! can, and restarted on the same directory each time.
//!
//! After every restart:
//! - every event acknowledged so far (HTTP 200) is in the persons' timelines
//!   (a sample of persons per round; after the last kill the store is opened
//!   directly and every acknowledged id is looked up);
//! - the status the node serves (its projection, rebuilt on start) equals a
//!   fresh evaluation: the timeline endpoint evaluates the person from the
//!   log at request time, so for a sample of persons the status endpoint's
//!   `color` and `valid_until` must equal the timeline's `decision`.
//!
//! Finally `yimatong audit verify` must report the audit chain intact.
//!
//! The node writes a snapshot every few hundred events, so most restarts
//! load a snapshot and replay only the log after it.

mod support;

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Value, json};
use support::{
    Acked, Rng, WriterJob, add_principal, binary, check_sample, start, wait_healthy, writer,
};
use ymt_store::EventStore;

const ROUNDS: usize = 20;
const WRITERS: usize = 2;
const BATCH_EVENTS: usize = 200;
const SEED: u64 = 0x5eed_2022_0701;
const SNAPSHOT_EVERY_EVENTS: &str = "300";

#[test]
fn acknowledged_events_survive_sigkill_and_statuses_match_the_log() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let data = dir.path().join("node");
    let lab_key = add_principal(&data, "crash-lab", "lab", "440305");
    let admin_key = add_principal(&data, "crash-admin", "national_admin", "nation");
    let runtime = support::runtime();
    let client = reqwest::Client::new();
    let acked: Acked = Arc::default();
    let mut rng = Rng(SEED);

    for round in 0..ROUNDS {
        let started = std::time::Instant::now();
        let (mut child, base) = start(&data, &["--snapshot-every-events", SNAPSHOT_EVERY_EVENTS]);
        runtime.block_on(async {
            wait_healthy(&client, &base).await;
            let ready = started.elapsed();
            let snapshot = acked.lock().expect("lock").clone();
            check_sample(&client, &base, &admin_key, &snapshot, &mut rng).await;

            // Kill after a seeded number of acknowledged batches and a
            // seeded number of scheduler turns, while writers are mid-batch.
            let kill_after_batches = 1 + rng.below(3) as usize;
            let extra_turns = rng.below(200);
            let acked_batches = Arc::new(AtomicUsize::new(0));
            let mut writers = Vec::new();
            for index in 0..WRITERS {
                writers.push(tokio::spawn(writer(WriterJob {
                    client: client.clone(),
                    base: base.clone(),
                    lab_key: lab_key.clone(),
                    id_prefix: format!("crash-lab:r{round}-w{index}"),
                    batch_events: BATCH_EVENTS,
                    seed: rng.next(),
                    acked: acked.clone(),
                    acked_batches: acked_batches.clone(),
                })));
            }
            while acked_batches.load(Ordering::SeqCst) < kill_after_batches {
                assert!(
                    !writers.iter().all(|w| w.is_finished()),
                    "round {round}: the writers stopped before the kill"
                );
                tokio::task::yield_now().await;
            }
            for _ in 0..extra_turns {
                tokio::task::yield_now().await;
            }
            child.kill().expect("SIGKILL");
            child.wait().expect("reaped");
            for writer in writers {
                writer.await.expect("the writer ends");
            }
            eprintln!(
                "round {round}: ready after {ready:?}, killed after {kill_after_batches} batches, round took {:?}",
                started.elapsed()
            );
        });
    }

    // One more start: the last round's acknowledged events are checked too.
    let (mut child, base) = start(&data, &["--snapshot-every-events", SNAPSHOT_EVERY_EVENTS]);
    runtime.block_on(async {
        wait_healthy(&client, &base).await;
        let snapshot = acked.lock().expect("lock").clone();
        check_sample(&client, &base, &admin_key, &snapshot, &mut rng).await;
    });
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");

    // Every acknowledged event, looked up in the store itself.
    let acked = acked.lock().expect("lock").clone();
    let total: usize = acked.values().map(Vec::len).sum();
    assert!(
        total >= ROUNDS * BATCH_EVENTS,
        "each round acknowledged events"
    );
    {
        let store =
            ymt_store::EmbeddedStore::open(data.join("store"), ymt_store::StoreConfig::default())
                .expect("the store opens");
        let snapshot = store.snapshot_latest().expect("snapshots read");
        assert!(
            snapshot.latest.is_some(),
            "the node wrote snapshots, so restarts loaded them"
        );
        for (pid, ids) in &acked {
            for id in ids {
                let id = ymt_core::EventId::parse(id).expect("an id");
                let stored = store
                    .event_by_id(&id)
                    .expect("reads")
                    .unwrap_or_else(|| panic!("acknowledged event {id} is stored"));
                assert_eq!(stored.person.as_str(), pid, "{id} is about {pid}");
            }
        }
    }

    let verify = Command::new(binary())
        .args(["audit", "verify", "--data"])
        .arg(&data)
        .output()
        .expect("the binary runs");
    let report: Value = serde_json::from_slice(&verify.stdout).expect("a JSON report");
    assert!(
        verify.status.success() && report["intact"] == json!(true),
        "the audit chain is intact: {report}"
    );
}
