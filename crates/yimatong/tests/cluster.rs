//! Acceptance tests of the cluster (issue 11): three NATS servers in one
//! JetStream cluster and three `yimatong serve --nats` nodes, as processes
//! on loopback (the kit: tests/support/cluster.rs). Each test waits for
//! states it can observe (a node holding an event, a count of acknowledged
//! batches), never for a time; without `nats-server` each prints one skip
//! line (CI installs it, `.ci/run`).

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use serde_json::{Value, json};
use support::cluster::{
    FailoverWriter, TestCluster, metric, nats_or_skip, status_bytes, wait_count, wait_holds,
};
use support::{Acked, rfc3339_now_minus, runtime};

/// A write waits this long for the quorum before a 503: short, so the test
/// of a broker without quorum answers quickly; long enough for a loaded
/// machine's fsyncs under `sync_interval: always`.
const ACK_TIMEOUT_MS: u64 = 3_000;

fn test_result(id: &str, pid: &str, result: &str, sampled_secs_ago: u64) -> Value {
    json!({
        "id": id,
        "subject": {"pid": pid},
        "region": "440305",
        "kind": "test_result",
        "data": {
            "test": "pcr",
            "result": result,
            "sampled_at": rfc3339_now_minus(sampled_secs_ago),
            "reported_at": rfc3339_now_minus(sampled_secs_ago.saturating_sub(600)),
            "lab": "lab-440305-01",
        },
    })
}

async fn post(client: &reqwest::Client, base: &str, key: &str, events: &[Value]) -> u16 {
    client
        .post(format!("{base}/v1/events:batch"))
        .bearer_auth(key)
        .json(&json!({ "events": events }))
        .send()
        .await
        .expect("the node answers")
        .status()
        .as_u16()
}

#[test]
fn events_posted_to_different_nodes_give_byte_identical_statuses_on_every_node() {
    let Some(nats) = nats_or_skip("convergence") else {
        return;
    };
    runtime().block_on(async {
        let cluster = TestCluster::start(&nats, ACK_TIMEOUT_MS).await;
        let client = reqwest::Client::new();
        let mut expected: BTreeMap<String, Vec<String>> = BTreeMap::new();
        // Per person: a positive and an earlier negative, posted newest
        // first (out of order), to different nodes; every third person's
        // positive also to a second node (the same id twice).
        for person in 0..24 {
            let pid = format!("p-{person}");
            let positive = test_result(&format!("pos-{person}"), &pid, "positive", 3_600);
            let negative = test_result(&format!("neg-{person}"), &pid, "negative", 90_000);
            let first = person % 3;
            let second = (person + 1) % 3;
            let key = &cluster.lab_key;
            assert_eq!(
                post(
                    &client,
                    &cluster.bases[first],
                    key,
                    std::slice::from_ref(&positive)
                )
                .await,
                200
            );
            assert_eq!(
                post(&client, &cluster.bases[second], key, &[negative]).await,
                200
            );
            if person % 3 == 0 {
                assert_eq!(
                    post(&client, &cluster.bases[second], key, &[positive]).await,
                    200
                );
            }
            let mut ids = vec![
                format!("lab-440305:pos-{person}"),
                format!("lab-440305:neg-{person}"),
            ];
            ids.sort();
            expected.insert(pid, ids);
        }
        for base in &cluster.bases {
            wait_holds(&client, base, &cluster.admin_key, &expected).await;
        }
        // Byte-identical apart from `evaluated_at`, the instant each node
        // computed the decision on its own clock (the one per-node fact in
        // the body; the decision, its reasons, evidence and valid_until are
        // functions of the events).
        let comparable = |bytes: &[u8]| {
            let mut status: Value = serde_json::from_slice(bytes).expect("status JSON");
            status
                .as_object_mut()
                .expect("an object")
                .remove("evaluated_at");
            serde_json::to_string(&status).expect("JSON")
        };
        for pid in expected.keys() {
            let first = status_bytes(&client, &cluster.bases[0], &cluster.admin_key, pid).await;
            for base in &cluster.bases[1..] {
                let other = status_bytes(&client, base, &cluster.admin_key, pid).await;
                assert_eq!(
                    comparable(&first),
                    comparable(&other),
                    "{pid}'s status on {base} equals node 1's"
                );
            }
            let status: Value = serde_json::from_slice(&first).expect("status JSON");
            assert_eq!(status["color"], "red", "{pid} tested positive");
        }
        // Staleness is visible: every answer says which log position it
        // reflects and the node's lag; a node that has applied everything is
        // ready.
        for base in &cluster.bases {
            let response = client
                .get(format!("{base}/v1/persons/p-0/status"))
                .bearer_auth(&cluster.admin_key)
                .send()
                .await
                .expect("status answers");
            let position: u64 = response.headers()["ymt-log-position"]
                .to_str()
                .expect("a number")
                .parse()
                .expect("a number");
            assert!(position >= 1, "{base} has applied the stream");
            assert!(response.headers().contains_key("ymt-replication-lag-ms"));
            support::cluster::wait_ready(&client, base).await;
        }
    });
}

/// Starts `writers` failover writers on distinct nodes.
fn start_writers(
    cluster: &TestCluster,
    client: &reqwest::Client,
    bases: &Arc<parking_lot::Mutex<Vec<String>>>,
    round: usize,
    acked: &Acked,
    acked_batches: &Arc<AtomicUsize>,
    stop: &Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..2)
        .map(|writer| {
            let job = FailoverWriter {
                client: client.clone(),
                bases: bases.clone(),
                lab_key: cluster.lab_key.clone(),
                id_prefix: format!("r{round}-w{writer}"),
                persons: 200,
                batch_events: 20,
                seed: 0x5eed_0011 + (round * 2 + writer) as u64,
                acked: acked.clone(),
                acked_batches: acked_batches.clone(),
                stop: stop.clone(),
            };
            tokio::spawn(job.run(round + writer))
        })
        .collect()
}

fn namespaced(acked: &BTreeMap<String, Vec<String>>) -> BTreeMap<String, Vec<String>> {
    acked
        .iter()
        .map(|(pid, ids)| {
            let ids = ids.iter().map(|id| format!("lab-440305:{id}")).collect();
            (pid.clone(), ids)
        })
        .collect()
}

#[test]
fn no_acknowledged_event_is_lost_when_a_node_is_killed_during_ingest() {
    let Some(nats) = nats_or_skip("node dies") else {
        return;
    };
    const ROUNDS: usize = 10;
    runtime().block_on(async {
        let mut cluster = TestCluster::start(&nats, ACK_TIMEOUT_MS).await;
        let client = reqwest::Client::new();
        let acked: Acked = Default::default();
        let mut rng = support::Rng(0x5eed_4011);
        for round in 0..ROUNDS {
            let victim = round % 3;
            let bases = Arc::new(parking_lot::Mutex::new(cluster.bases.clone()));
            let acked_batches = Arc::new(AtomicUsize::new(0));
            let stop = Arc::new(AtomicBool::new(false));
            let writers = start_writers(
                &cluster,
                &client,
                &bases,
                round,
                &acked,
                &acked_batches,
                &stop,
            );
            // SIGKILL after a seeded number of acknowledged batches.
            let before_kill = 2 + rng.below(6) as usize;
            wait_count(&acked_batches, before_kill, "batches before the kill").await;
            cluster.kill_node(victim);
            // The writers resume on the other nodes.
            let after_kill = acked_batches.load(Ordering::SeqCst) + 4;
            wait_count(&acked_batches, after_kill, "batches after the kill").await;
            cluster.restart_node(victim, ACK_TIMEOUT_MS);
            *bases.lock() = cluster.bases.clone();
            stop.store(true, Ordering::SeqCst);
            for writer in writers {
                writer.await.expect("a writer");
            }
        }
        let expected = namespaced(&acked.lock().expect("lock"));
        for base in &cluster.bases {
            wait_holds(&client, base, &cluster.admin_key, &expected).await;
        }
    });
}

/// A broker dies: one of the three nats-servers is SIGKILLed during ingest.
/// Nothing acknowledged is lost and writes continue. (Once in three runs
/// under load a node's ordered consumer, on the killed server, stayed silent
/// for over 60 s; the apply loop now watches its own progress.)
#[test]
fn no_acknowledged_event_is_lost_when_a_nats_server_is_killed_during_ingest() {
    let Some(nats) = nats_or_skip("broker dies") else {
        return;
    };
    runtime().block_on(async {
        let mut cluster = TestCluster::start(&nats, ACK_TIMEOUT_MS).await;
        let client = reqwest::Client::new();
        let acked: Acked = Default::default();
        let bases = Arc::new(parking_lot::Mutex::new(cluster.bases.clone()));
        let acked_batches = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let writers = start_writers(&cluster, &client, &bases, 0, &acked, &acked_batches, &stop);
        wait_count(&acked_batches, 5, "batches before the broker's kill").await;
        cluster.nats.servers[1].kill();
        // Writes continue on two of three servers (the quorum).
        let after_kill = acked_batches.load(Ordering::SeqCst) + 10;
        wait_count(
            &acked_batches,
            after_kill,
            "batches after the broker's kill",
        )
        .await;
        stop.store(true, Ordering::SeqCst);
        for writer in writers {
            writer.await.expect("a writer");
        }
        let expected = namespaced(&acked.lock().expect("lock"));
        for base in &cluster.bases {
            wait_holds(&client, base, &cluster.admin_key, &expected).await;
        }
    });
}

#[test]
fn a_write_without_the_brokers_quorum_is_answered_503_and_published_when_it_returns() {
    let Some(nats) = nats_or_skip("broker without quorum") else {
        return;
    };
    runtime().block_on(async {
        let mut cluster = TestCluster::start(&nats, ACK_TIMEOUT_MS).await;
        let client = reqwest::Client::new();
        let event = test_result("outbox-1", "p-outbox", "positive", 3_600);
        cluster.nats.servers[1].kill();
        cluster.nats.servers[2].kill();
        let response = client
            .post(format!("{}/v1/events:batch", cluster.bases[0]))
            .bearer_auth(&cluster.lab_key)
            .json(&json!({ "events": [event.clone()] }))
            .send()
            .await
            .expect("the node answers");
        assert_eq!(
            response.status().as_u16(),
            503,
            "no quorum, no acknowledgement"
        );
        assert!(response.headers().contains_key("retry-after"));
        // Reads continue.
        let status = client
            .get(format!("{}/v1/persons/p-outbox/status", cluster.bases[0]))
            .bearer_auth(&cluster.admin_key)
            .send()
            .await
            .expect("the node answers");
        assert_eq!(
            status.status().as_u16(),
            200,
            "reads continue without the broker"
        );
        cluster.nats.servers[1]
            .start()
            .expect("the server starts again");
        cluster.nats.servers[2]
            .start()
            .expect("the server starts again");
        // The outbox publishes the record: the other nodes get it without
        // any retry by the client.
        let expected = BTreeMap::from([(
            "p-outbox".to_owned(),
            vec!["lab-440305:outbox-1".to_owned()],
        )]);
        for base in &cluster.bases {
            wait_holds(&client, base, &cluster.admin_key, &expected).await;
        }
        // A retry is now a duplicate, acknowledged.
        assert_eq!(
            post(&client, &cluster.bases[0], &cluster.lab_key, &[event]).await,
            200
        );
    });
}

/// `batches` batches of `events_per_batch` negative results of persons
/// `p-0`…`p-199`, ids `<prefix>-b<batch>-<index>`, posted to `base`; each
/// must be acknowledged. Returns what was acknowledged, namespaced.
async fn post_batches(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    prefix: &str,
    batches: usize,
    events_per_batch: usize,
) -> BTreeMap<String, Vec<String>> {
    let mut acked: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for batch in 0..batches {
        let events: Vec<Value> = (0..events_per_batch)
            .map(|index| {
                let pid = format!("p-{}", (batch * events_per_batch + index) % 200);
                let id = format!("{prefix}-b{batch}-{index}");
                acked
                    .entry(pid.clone())
                    .or_default()
                    .push(format!("lab-440305:{id}"));
                test_result(&id, &pid, "negative", 3_600)
            })
            .collect();
        // A write the quorum did not acknowledge in time (a loaded machine)
        // is answered 503: the same batch again, until acknowledged.
        let deadline = tokio::time::Instant::now() + support::cluster::CONVERGES_WITHIN;
        loop {
            let status = post(client, base, key, &events).await;
            if status == 200 {
                break;
            }
            assert!(
                status == 503 && tokio::time::Instant::now() < deadline,
                "batch {batch}: {status}"
            );
        }
    }
    acked
}

fn merge(into: &mut BTreeMap<String, Vec<String>>, from: BTreeMap<String, Vec<String>>) {
    for (pid, ids) in from {
        into.entry(pid).or_default().extend(ids);
    }
}

/// A broker lies: JetStream loses acknowledged records (here deleted from
/// the stream, as Jepsen saw a minority replica's truncated files lose
/// them) that one node never applied. Anti-entropy obtains them from a
/// peer that holds them.
#[test]
fn a_record_the_broker_lost_before_a_node_read_it_is_fetched_from_a_peer() {
    let Some(nats) = nats_or_skip("broker lies") else {
        return;
    };
    runtime().block_on(async {
        let mut cluster = TestCluster::start(&nats, ACK_TIMEOUT_MS).await;
        let client = reqwest::Client::new();
        // Node 3 is down while the records are written and lost.
        cluster.kill_node(2);
        let mut expected =
            post_batches(&client, &cluster.bases[0], &cluster.lab_key, "lost", 3, 20).await;
        let kept = post_batches(&client, &cluster.bases[1], &cluster.lab_key, "kept", 1, 20).await;
        merge(&mut expected, kept);
        for base in &cluster.bases[..2] {
            wait_holds(&client, base, &cluster.admin_key, &expected).await;
        }
        // The broker loses every message of the `lost` batches.
        let jetstream = cluster.jetstream().await;
        let stream = jetstream
            .get_stream(ymt_cluster::STREAM_NAME)
            .await
            .expect("the stream");
        let last_sequence = stream
            .get_info()
            .await
            .expect("the stream's state")
            .state
            .last_sequence;
        let mut deleted = 0;
        for sequence in 1..=last_sequence {
            let message = stream.get_raw_message(sequence).await.expect("a message");
            if String::from_utf8_lossy(&message.payload).contains("lab-440305:lost-") {
                assert!(
                    stream
                        .delete_message(sequence)
                        .await
                        .expect("the broker deletes")
                );
                deleted += 1;
            }
        }
        assert!(deleted > 0, "the lost batches were in the stream");
        cluster.restart_node(2, ACK_TIMEOUT_MS);
        wait_holds(&client, &cluster.bases[2], &cluster.admin_key, &expected).await;
        assert!(
            metric(
                &client,
                &cluster.bases[2],
                "ymt_replication_gaps_repaired_total"
            )
            .await
                >= deleted as f64,
            "node 3 repaired the gaps from its peers"
        );
        support::cluster::wait_ready(&client, &cluster.bases[2]).await;
    });
}

/// The message blocks of the stream under a server's store directory.
fn stream_blocks(directory: &std::path::Path, found: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(directory).expect("a store directory") {
        let path = entry.expect("an entry").path();
        if path.is_dir() {
            stream_blocks(&path, found);
        } else if path.extension().is_some_and(|extension| extension == "blk")
            && path.to_string_lossy().contains(ymt_cluster::STREAM_NAME)
        {
            found.push(path);
        }
    }
}

/// A broker lies: one nats-server's stream files are truncated while it
/// is stopped, then it is restarted. No acknowledged record is missing on
/// any node (JetStream repairs the replica from the others; whatever it
/// would not, anti-entropy fetches from a peer).
#[test]
fn no_acknowledged_record_is_missing_after_a_brokers_stream_files_are_truncated() {
    let Some(nats) = nats_or_skip("broker lies (truncated files)") else {
        return;
    };
    runtime().block_on(async {
        let mut cluster = TestCluster::start(&nats, ACK_TIMEOUT_MS).await;
        let client = reqwest::Client::new();
        let mut expected = post_batches(
            &client,
            &cluster.bases[0],
            &cluster.lab_key,
            "early",
            10,
            20,
        )
        .await;
        for base in &cluster.bases {
            wait_holds(&client, base, &cluster.admin_key, &expected).await;
        }
        cluster.nats.servers[2].kill();
        let mut blocks = Vec::new();
        stream_blocks(&cluster.nats.servers[2].store_dir, &mut blocks);
        assert!(!blocks.is_empty(), "the server kept the stream in files");
        for block in &blocks {
            let file = std::fs::OpenOptions::new()
                .write(true)
                .open(block)
                .expect("a block");
            let length = file.metadata().expect("its length").len();
            file.set_len(length / 2).expect("truncated");
        }
        cluster.nats.servers[2]
            .start()
            .expect("the server starts again");
        cluster
            .nats
            .wait_ready()
            .await
            .expect("the cluster answers");
        let late = post_batches(&client, &cluster.bases[1], &cluster.lab_key, "late", 10, 20).await;
        merge(&mut expected, late);
        // Node 3 restarts: a new consumer from its stored position, served
        // by whichever server leads the stream now.
        cluster.kill_node(2);
        cluster.restart_node(2, ACK_TIMEOUT_MS);
        for base in &cluster.bases {
            wait_holds(&client, base, &cluster.admin_key, &expected).await;
        }
    });
}

/// A node is away too long: it is stopped (SIGSTOP) for longer than the
/// stream keeps records, then resumed. It catches up from its peers.
#[test]
fn a_node_stopped_longer_than_the_streams_retention_catches_up_from_its_peers() {
    let Some(nats) = nats_or_skip("node away too long") else {
        return;
    };
    runtime().block_on(async {
        let cluster =
            TestCluster::start_with_args(&nats, ACK_TIMEOUT_MS, &["--stream-max-age-secs", "3"])
                .await;
        let client = reqwest::Client::new();
        let mut expected = post_batches(
            &client,
            &cluster.bases[0],
            &cluster.lab_key,
            "before",
            1,
            20,
        )
        .await;
        wait_holds(&client, &cluster.bases[2], &cluster.admin_key, &expected).await;
        cluster.signal_node(2, libc::SIGSTOP);
        // More records than a stopped node's pending pull requests can have
        // received (each batch of 40 reaches every one of the 16 shards).
        let away = post_batches(&client, &cluster.bases[0], &cluster.lab_key, "away", 40, 40).await;
        merge(&mut expected, away);
        for base in &cluster.bases[..2] {
            wait_holds(&client, base, &cluster.admin_key, &expected).await;
        }
        // Until the stream has dropped every record (its retention).
        let jetstream = cluster.jetstream().await;
        let deadline = tokio::time::Instant::now() + support::cluster::CONVERGES_WITHIN;
        loop {
            let mut stream = jetstream
                .get_stream(ymt_cluster::STREAM_NAME)
                .await
                .expect("the stream");
            let messages = stream
                .info()
                .await
                .expect("the stream's state")
                .state
                .messages;
            if messages == 0 {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the stream still holds {messages} messages"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        cluster.signal_node(2, libc::SIGCONT);
        wait_holds(&client, &cluster.bases[2], &cluster.admin_key, &expected).await;
        assert!(
            metric(
                &client,
                &cluster.bases[2],
                "ymt_replication_gaps_repaired_total"
            )
            .await
                > 0.0,
            "node 3 caught up from its peers"
        );
        support::cluster::wait_ready(&client, &cluster.bases[2]).await;
    });
}

/// Restore: a backup of node 1 taken while writers post to every node is
/// restored into a fresh fourth node, which joins the cluster, catches up
/// and serves the same statuses as the others.
#[test]
fn a_backup_taken_during_ingest_restores_into_a_fourth_node_that_catches_up() {
    let Some(nats) = nats_or_skip("restore") else {
        return;
    };
    runtime().block_on(async {
        let cluster = TestCluster::start(&nats, ACK_TIMEOUT_MS).await;
        let client = reqwest::Client::new();
        let acked: Acked = Default::default();
        let bases = Arc::new(parking_lot::Mutex::new(cluster.bases.clone()));
        let acked_batches = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let writers = start_writers(&cluster, &client, &bases, 0, &acked, &acked_batches, &stop);
        wait_count(&acked_batches, 5, "batches before the backup").await;
        let backup_dir = cluster.dir.path().join("backup");
        let (data, to) = (cluster.data_dir(0), backup_dir.clone());
        let backup = tokio::task::spawn_blocking(move || {
            std::process::Command::new(support::binary())
                .args(["backup", "--data"])
                .arg(&data)
                .arg("--to")
                .arg(&to)
                .output()
                .expect("yimatong backup runs")
        })
        .await
        .expect("the backup's thread");
        assert!(
            backup.status.success(),
            "backup: {}",
            String::from_utf8_lossy(&backup.stderr)
        );
        let after_backup = acked_batches.load(Ordering::SeqCst) + 5;
        wait_count(&acked_batches, after_backup, "batches after the backup").await;
        stop.store(true, Ordering::SeqCst);
        for writer in writers {
            writer.await.expect("a writer");
        }
        let fourth = cluster.dir.path().join("node-4");
        let restore = std::process::Command::new(support::binary())
            .args(["restore", "--from"])
            .arg(&backup_dir)
            .arg("--data")
            .arg(&fourth)
            .output()
            .expect("yimatong restore runs");
        assert!(
            restore.status.success(),
            "restore: {}",
            String::from_utf8_lossy(&restore.stderr)
        );
        let (node, base) = support::start(
            &fourth,
            &[
                "--nats",
                &cluster.nats.urls(),
                "--publish-ack-timeout-ms",
                &ACK_TIMEOUT_MS.to_string(),
            ],
        );
        let expected = namespaced(&acked.lock().expect("lock"));
        wait_holds(&client, &base, &cluster.admin_key, &expected).await;
        for base_of_peer in &cluster.bases {
            wait_holds(&client, base_of_peer, &cluster.admin_key, &expected).await;
        }
        let comparable = |bytes: &[u8]| {
            let mut status: Value = serde_json::from_slice(bytes).expect("status JSON");
            status
                .as_object_mut()
                .expect("an object")
                .remove("evaluated_at");
            serde_json::to_string(&status).expect("JSON")
        };
        for pid in expected.keys().take(40) {
            let restored = status_bytes(&client, &base, &cluster.admin_key, pid).await;
            let original = status_bytes(&client, &cluster.bases[0], &cluster.admin_key, pid).await;
            assert_eq!(
                comparable(&restored),
                comparable(&original),
                "{pid}'s status on the restored node equals node 1's"
            );
        }
        drop(node);
    });
}
