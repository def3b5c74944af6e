//! Backups (容灾备份) of a serving node: `yimatong backup` while two lab
//! writers post batches, `yimatong restore` into a fresh data directory, and
//! a node started there serves every event acknowledged before the backup
//! began, with statuses equal to a fresh evaluation and an intact audit
//! chain. A damaged backup restores nothing.

mod support;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;
use support::{Acked, Rng, WriterJob, add_principal, binary, check_sample, start, wait_healthy};

const WRITERS: usize = 2;
const BATCH_EVENTS: usize = 100;
const SEED: u64 = 0x5eed_2022_1130;

/// Runs the binary; its exit status and its output (stdout, then stderr).
fn run(args: &[&str], paths: &[(&str, &Path)]) -> (bool, String) {
    let mut command = Command::new(binary());
    command.args(args);
    for (flag, path) in paths {
        command.arg(flag).arg(path);
    }
    let output = command.output().expect("the binary runs");
    (
        output.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    )
}

async fn get_text(client: &reqwest::Client, url: &str) -> String {
    let response = client.get(url).send().await.expect("answers");
    assert_eq!(response.status().as_u16(), 200, "{url}");
    response.text().await.expect("a body")
}

/// The signing keys and the signer of a trust list.
fn keys_of(trust_list: &str) -> (Value, Value) {
    let signed: Value = serde_json::from_str(trust_list).expect("a signed trust list");
    let payload: Value =
        serde_json::from_str(signed["payload"].as_str().expect("a payload")).expect("JSON");
    (payload["entries"].clone(), signed["signer"].clone())
}

fn backup(data: &Path, to: &Path) -> Value {
    let (ok, output) = run(&["backup"], &[("--data", data), ("--to", to)]);
    assert!(ok, "backup: {output}");
    serde_json::from_str(&output).expect("a JSON report")
}

#[test]
fn a_backup_taken_while_labs_write_restores_into_a_node_that_serves_everything_acknowledged_before_it()
 {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let data = dir.path().join("node");
    let lab_key = add_principal(&data, "backup-lab", "lab", "440305");
    let admin_key = add_principal(&data, "backup-admin", "national_admin", "nation");
    let runtime = support::runtime();
    let client = reqwest::Client::new();
    let acked: Acked = Arc::default();
    let mut rng = Rng(SEED);

    let (mut original, base) = start(&data, &[]);
    let backup_dir = dir.path().join("backup");
    let mut trust_list = String::new();
    let acked_before_backup = runtime.block_on(async {
        wait_healthy(&client, &base).await;
        let acked_batches = Arc::new(AtomicUsize::new(0));
        let mut writers = Vec::new();
        for index in 0..WRITERS {
            writers.push(tokio::spawn(support::writer(WriterJob {
                client: client.clone(),
                base: base.clone(),
                lab_key: lab_key.clone(),
                id_prefix: format!("backup-lab:w{index}"),
                batch_events: BATCH_EVENTS,
                seed: rng.next(),
                acked: acked.clone(),
                acked_batches: acked_batches.clone(),
            })));
        }
        while acked_batches.load(Ordering::SeqCst) < 5 {
            assert!(
                !writers.iter().all(|w| w.is_finished()),
                "the writers stopped"
            );
            tokio::task::yield_now().await;
        }
        // The writers go on while the backup is taken.
        let before = acked.lock().expect("lock").clone();
        let batches_before = acked_batches.load(Ordering::SeqCst);
        let data = data.clone();
        let backup_dir = backup_dir.clone();
        let report = tokio::task::spawn_blocking(move || backup(&data, &backup_dir))
            .await
            .expect("the backup ran");
        assert_eq!(report["online"], true, "taken through the serving node");
        assert!(
            report["verified"]["audit_records"].as_u64() > Some(0),
            "{report}"
        );
        trust_list = get_text(&client, &format!("{base}/v1/trust-list")).await;
        assert!(
            acked_batches.load(Ordering::SeqCst) > batches_before,
            "writes were acknowledged while the backup was taken, so it did not stop them"
        );
        original.kill().expect("SIGKILL");
        original.wait().expect("reaped");
        for writer in writers {
            writer.await.expect("the writer ends");
        }
        before
    });

    // A backup never goes over another one.
    let (ok, output) = run(&["backup"], &[("--data", &data), ("--to", &backup_dir)]);
    assert!(!ok && output.contains("not empty"), "{output}");

    let restored = dir.path().join("restored");
    let (ok, output) = run(
        &["restore"],
        &[("--from", &backup_dir), ("--data", &restored)],
    );
    assert!(ok, "restore: {output}");
    // A restore never goes over a node's data.
    let (ok, output) = run(
        &["restore"],
        &[("--from", &backup_dir), ("--data", &restored)],
    );
    assert!(!ok && output.contains("already holds a store"), "{output}");

    let (mut node, base) = start(&restored, &[]);
    runtime.block_on(async {
        wait_healthy(&client, &base).await;
        // The restored node has the original's principals, pseudonym secret
        // and keys: the admin's key works, and every event acknowledged
        // before the backup began is served.
        for _ in 0..4 {
            check_sample(&client, &base, &admin_key, &acked_before_backup, &mut rng).await;
        }
        // A node issues its trust list anew on each start (serial, instant);
        // the keys in it and its signer are the original's.
        assert_eq!(
            keys_of(&get_text(&client, &format!("{base}/v1/trust-list")).await),
            keys_of(&trust_list),
            "the restored node signs with the original's keys"
        );
    });
    node.kill().expect("SIGKILL");
    node.wait().expect("reaped");
    let store =
        ymt_store::EmbeddedStore::open(restored.join("store"), ymt_store::StoreConfig::default())
            .expect("the restored store opens");
    for ids in acked_before_backup.values() {
        for id in ids {
            let id = ymt_core::EventId::parse(id).expect("an id");
            assert!(
                ymt_store::EventStore::event_by_id(&store, &id)
                    .expect("reads")
                    .is_some(),
                "acknowledged event {id} is in the restored node"
            );
        }
    }
}

#[test]
fn a_damaged_backup_restores_nothing() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let data = dir.path().join("node");
    add_principal(&data, "backup-lab", "lab", "440305");
    // The node is stopped: the backup opens the store itself.
    let backup_dir = dir.path().join("backup");
    let report = backup(&data, &backup_dir);
    assert_eq!(report["online"], false);

    let store_file = backup_dir.join("store.ymtbak");
    let mut bytes = std::fs::read(&store_file).expect("the store file");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    std::fs::write(&store_file, bytes).expect("written");
    let restored = dir.path().join("restored");
    let (ok, output) = run(
        &["restore"],
        &[("--from", &backup_dir), ("--data", &restored)],
    );
    assert!(!ok && output.contains("checksum mismatch"), "{output}");
    assert!(
        !restored.join("store").join("engine").exists(),
        "nothing written"
    );

    // A copied secret that was altered is refused too.
    let backup_dir = dir.path().join("backup-2");
    backup(&data, &backup_dir);
    std::fs::write(backup_dir.join("files").join("pseudonym.secret"), b"forged").expect("written");
    let (ok, output) = run(
        &["restore"],
        &[("--from", &backup_dir), ("--data", &restored)],
    );
    assert!(
        !ok && output.contains("does not match its checksum"),
        "{output}"
    );
    assert!(!restored.join("store").exists(), "nothing written");
}

#[test]
fn a_new_node_bootstraps_over_the_network_from_a_serving_peers_snapshot_and_a_wrong_secret_gets_nothing()
 {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let data = dir.path().join("node");
    let lab_key = add_principal(&data, "backup-lab", "lab", "440305");
    let admin_key = add_principal(&data, "backup-admin", "national_admin", "nation");
    let runtime = support::runtime();
    let client = reqwest::Client::new();
    let acked: Acked = Arc::default();
    let mut rng = Rng(SEED ^ 1);
    let (mut peer, base) = start(&data, &[]);
    let restored = dir.path().join("restored");

    // Someone without the cluster's secret: refused, nothing written.
    let forged_secret = dir.path().join("forged.secret");
    std::fs::write(&forged_secret, "ab".repeat(32)).expect("written");
    let (ok, output) = run(
        &["restore", "--from-peer", &base],
        &[("--secret-file", &forged_secret), ("--data", &restored)],
    );
    assert!(!ok && output.contains("401"), "{output}");
    assert!(!restored.join("store").exists(), "nothing restored");

    let acked_before = runtime.block_on(async {
        wait_healthy(&client, &base).await;
        let acked_batches = Arc::new(AtomicUsize::new(0));
        let writer = tokio::spawn(support::writer(WriterJob {
            client: client.clone(),
            base: base.clone(),
            lab_key: lab_key.clone(),
            id_prefix: "backup-lab:peer".into(),
            batch_events: BATCH_EVENTS,
            seed: rng.next(),
            acked: acked.clone(),
            acked_batches: acked_batches.clone(),
        }));
        while acked_batches.load(Ordering::SeqCst) < 5 {
            assert!(!writer.is_finished(), "the writer stopped");
            tokio::task::yield_now().await;
        }
        // The peer serves on while the new node fetches its snapshot.
        let before = acked.lock().expect("lock").clone();
        let (base, secret, restored) = (
            base.clone(),
            data.join("pseudonym.secret"),
            restored.clone(),
        );
        let (ok, output) = tokio::task::spawn_blocking(move || {
            run(
                &["restore", "--from-peer", &base],
                &[("--secret-file", &secret), ("--data", &restored)],
            )
        })
        .await
        .expect("the restore ran");
        assert!(ok, "restore --from-peer: {output}");
        let report: Value = serde_json::from_str(&output).expect("a JSON report");
        assert!(
            report["verified"]["audit_records"].as_u64() > Some(0),
            "verified as a backup is: {report}"
        );
        peer.kill().expect("SIGKILL");
        peer.wait().expect("reaped");
        writer.await.expect("the writer ends");
        before
    });
    assert!(
        !dir.path().join("restored.peer-snapshot").exists(),
        "the fetched snapshot is removed once restored"
    );
    let (mut node, base) = start(&restored, &[]);
    runtime.block_on(async {
        wait_healthy(&client, &base).await;
        for _ in 0..4 {
            check_sample(&client, &base, &admin_key, &acked_before, &mut rng).await;
        }
    });
    node.kill().expect("SIGKILL");
    node.wait().expect("reaped");
}
