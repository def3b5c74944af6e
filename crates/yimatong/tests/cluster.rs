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
    FailoverWriter, TestCluster, get_json, metric, nats_or_skip, status_bytes, wait_count,
    wait_holds, wait_same_everywhere,
};
use support::{Acked, rfc3339_now_minus, runtime};

/// A write waits this long for the quorum before a 503: short, so the test
/// of a broker without quorum answers quickly; long enough for a loaded
/// machine's fsyncs under `sync_interval: always`.
const ACK_TIMEOUT_MS: u64 = 3_000;

/// The bound of the tests that assert every answer is 200 (a 503 is a
/// correct answer of a loaded machine, and a command answered 503 takes
/// effect later without its client learning how it ended): generous, so
/// that only a cluster that never acknowledges reaches it. Two runs of
/// this file at once (18 processes on 2 cores) exceeded 3 s.
const COMMAND_ACK_TIMEOUT_MS: u64 = 30_000;

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
        let cluster = TestCluster::start(&nats, COMMAND_ACK_TIMEOUT_MS).await;
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
/// restored into a fresh fourth node, and a fifth bootstraps over the
/// network from node 2's snapshot; both join the cluster, catch up and
/// serve the same statuses as the others.
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
        // A fifth node bootstraps over the network from node 2's snapshot
        // while the writers go on (item 6: a new node starts from a peer's
        // snapshot, then the tail), with only the cluster's secret in hand.
        let fifth = cluster.dir.path().join("node-5");
        let (peer, secret, to) = (
            cluster.bases[1].clone(),
            cluster.data_dir(1).join("pseudonym.secret"),
            fifth.clone(),
        );
        let bootstrap = tokio::task::spawn_blocking(move || {
            std::process::Command::new(support::binary())
                .args(["restore", "--from-peer", &peer, "--secret-file"])
                .arg(&secret)
                .arg("--data")
                .arg(&to)
                .output()
                .expect("yimatong restore runs")
        })
        .await
        .expect("the bootstrap's thread");
        assert!(
            bootstrap.status.success(),
            "restore --from-peer: {}",
            String::from_utf8_lossy(&bootstrap.stderr)
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
        let cluster_args = [
            "--nats",
            &cluster.nats.urls(),
            "--publish-ack-timeout-ms",
            &ACK_TIMEOUT_MS.to_string(),
        ]
        .map(str::to_owned);
        let cluster_args: Vec<&str> = cluster_args.iter().map(String::as_str).collect();
        let (node, base) = support::start(&fourth, &cluster_args);
        let (fifth_node, fifth_base) = support::start(&fifth, &cluster_args);
        let expected = namespaced(&acked.lock().expect("lock"));
        wait_holds(&client, &base, &cluster.admin_key, &expected).await;
        wait_holds(&client, &fifth_base, &cluster.admin_key, &expected).await;
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
            let bootstrapped = status_bytes(&client, &fifth_base, &cluster.admin_key, pid).await;
            assert_eq!(
                comparable(&restored),
                comparable(&original),
                "{pid}'s status on the restored node equals node 1's"
            );
            assert_eq!(
                comparable(&bootstrapped),
                comparable(&original),
                "{pid}'s status on the node bootstrapped from a peer equals node 1's"
            );
        }
        drop(node);
        drop(fifth_node);
    });
}

async fn post_json(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    path: &str,
    body: &Value,
) -> (u16, Value) {
    let response = client
        .post(format!("{base}{path}"))
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .expect("the node answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The national rule set at `version`, told apart by its description: two
/// of these with one version conflict (one pending action, and only one can
/// be newer than the set in force).
fn rule_set_document(version: &str, variant: &str) -> Value {
    let mut document: Value =
        serde_json::from_str(ymt_rules::ruleset::NATIONAL_RULE_SET_JSON).expect("the rule set");
    document["version"] = json!(version);
    document["description"]["en"] = json!(format!("variant {variant}"));
    document
}

/// The audit records of rule publications and held actions a node holds,
/// without what is the node's own (its sequence numbers and hash chain).
async fn publication_audit(client: &reqwest::Client, base: &str, admin_key: &str) -> Option<Value> {
    let listed = get_json(client, base, admin_key, "/v1/audit?limit=1000").await?;
    let mut records: Vec<Value> = listed["records"]
        .as_array()?
        .iter()
        .filter(|record| {
            matches!(
                record["action"].as_str(),
                Some("rule_set.publish" | "pending.propose" | "pending.approve" | "pending.reject")
            )
        })
        .map(|record| {
            json!([
                record["at"],
                record["principal"],
                record["role"],
                record["action"],
                record["target"],
                record["outcome"],
                record["detail"]
            ])
        })
        .collect();
    records.sort_by_key(|record| record.to_string());
    Some(Value::Array(records))
}

/// Two answers to conflicting commands sent at once: one succeeded
/// (`won`), the other was refused 409. Returns the winner's index and
/// whether the loser was refused where it stood in the stream (then every
/// node recorded the refusal) rather than by its node's own check.
fn one_won(answers: [&(u16, Value); 2], won: u16) -> (usize, bool) {
    let statuses = [answers[0].0, answers[1].0];
    let winner = match statuses {
        [status, 409] if status == won => 0,
        [409, status] if status == won => 1,
        _ => panic!(
            "one of two conflicting commands wins, the other is told it lost: {:?}",
            answers.map(|(status, body)| (status, &body["detail"]))
        ),
    };
    let detail = answers[1 - winner].1["detail"].as_str().unwrap_or_default();
    (
        winner,
        detail.contains(ymt_node::replication_commands::REFUSED_IN_STREAM_ORDER),
    )
}

#[test]
fn conflicting_rule_sets_published_at_once_on_two_nodes_end_the_same_on_every_node() {
    let Some(nats) = nats_or_skip("ordered commands") else {
        return;
    };
    runtime().block_on(async {
        let cluster = TestCluster::start(&nats, COMMAND_ACK_TIMEOUT_MS).await;
        let client = reqwest::Client::new();
        let [admin_2, admin_3, admin_4] = [
            &cluster.other_admin_keys[0],
            &cluster.other_admin_keys[1],
            &cluster.other_admin_keys[2],
        ];
        // Two national admins publish, at once and on two nodes, two
        // different rule sets of one version: a national rule set is held
        // for a second admin, under one pending id for one version.
        let (document_a, document_b) = (
            rule_set_document("1.1.0", "A"),
            rule_set_document("1.1.0", "B"),
        );
        let (proposed_a, proposed_b) = tokio::join!(
            post_json(
                &client,
                &cluster.bases[0],
                &cluster.admin_key,
                "/v1/rule-sets",
                &document_a
            ),
            post_json(
                &client,
                &cluster.bases[1],
                admin_2,
                "/v1/rule-sets",
                &document_b
            ),
        );
        let (proposal_won, proposal_refused_in_order) = one_won([&proposed_a, &proposed_b], 202);
        let variant = ["variant A", "variant B"][proposal_won];
        let pending = [&proposed_a, &proposed_b][proposal_won].1["pending"]["id"]
            .as_str()
            .expect("a pending id")
            .to_owned();
        // Every node holds the proposal before it is decided there (a
        // node the proposal has not reached yet answers 404, not 409).
        wait_same_everywhere(
            &cluster.bases,
            "the held rule set",
            |base| {
                let client = client.clone();
                let key = cluster.admin_key.clone();
                async move { get_json(&client, &base, &key, "/v1/pending").await }
            },
            |listed| {
                listed["pending"].as_array().is_some_and(|all| {
                    all.iter()
                        .any(|one| one["id"] == pending.as_str() && one["status"] == "pending")
                })
            },
        )
        .await;
        // Two other admins approve it at once on two nodes: only one
        // approval can put it into force.
        let path = format!("/v1/pending/{pending}:approve");
        let empty = json!({});
        let (approved_1, approved_2) = tokio::join!(
            post_json(&client, &cluster.bases[1], admin_3, &path, &empty),
            post_json(&client, &cluster.bases[2], admin_4, &path, &empty),
        );
        let (_, approval_refused_in_order) = one_won([&approved_1, &approved_2], 200);
        let rules = wait_same_everywhere(
            &cluster.bases,
            "the rules in force",
            |base| {
                let client = client.clone();
                async move { get_json(&client, &base, "", "/v1/public/rules").await }
            },
            |rules| rules["national"]["version"] == "1.1.0",
        )
        .await;
        assert_eq!(
            rules["national"]["description"]["en"], variant,
            "the proposal that won is in force: {rules}"
        );
        // The same audit records everywhere: a proposal, an approval, a
        // publication, and each refusal made in stream order (those
        // refused by their node's own check before publishing are that
        // node's alone, like any refused request).
        let expected =
            3 + usize::from(proposal_refused_in_order) + usize::from(approval_refused_in_order);
        let audit = wait_same_everywhere(
            &cluster.bases,
            "the audit records of the publications",
            |base| {
                let client = client.clone();
                let key = cluster.admin_key.clone();
                async move { publication_audit(&client, &base, &key).await }
            },
            |records| {
                records
                    .as_array()
                    .is_some_and(|records| records.len() == expected)
            },
        )
        .await;
        let denied = audit
            .as_array()
            .expect("records")
            .iter()
            .filter(|record| record[5] == "denied")
            .count();
        assert_eq!(denied, expected - 3, "{audit:#}");
    });
}

/// A community of 440305, where the test's venue lies.
const COMMUNITY: &str = "440305001001";

fn check_in(id: &str, pid: &str, entered_secs_ago: u64, left_secs_ago: u64) -> Value {
    json!({
        "id": id,
        "subject": {"pid": pid},
        "region": COMMUNITY,
        "kind": "check_in",
        "data": {
            "venue": "v-cluster-mall",
            "entered_at": rfc3339_now_minus(entered_secs_ago),
            "left_at": rfc3339_now_minus(left_secs_ago),
        },
    })
}

/// The ids of a person's events on a node (those it derived itself too),
/// as a JSON array.
async fn timeline_ids(client: &reqwest::Client, base: &str, key: &str, pid: &str) -> Option<Value> {
    let ids = support::cluster::event_ids(client, base, key, pid).await?;
    Some(json!(ids))
}

#[test]
fn venues_and_late_check_ins_on_different_nodes_give_the_same_statuses_and_designations_everywhere()
{
    let Some(nats) = nats_or_skip("convergence of tracing") else {
        return;
    };
    runtime().block_on(async {
        let cluster = TestCluster::start(&nats, COMMAND_ACK_TIMEOUT_MS).await;
        let client = reqwest::Client::new();
        let authority = &cluster.authority_key;
        // A venue registered on the third node: every node must know it
        // before it can take a check-in there.
        let (status, venue) = post_json(
            &client,
            &cluster.bases[2],
            authority,
            "/v1/venues",
            &json!({"id": "v-cluster-mall", "name": "a mall", "region": COMMUNITY,
                    "category": "retail", "indoor": true}),
        )
        .await;
        assert_eq!(status, 201, "{venue}");
        wait_same_everywhere(
            &cluster.bases,
            "the venue",
            |base| {
                let client = client.clone();
                let key = authority.clone();
                async move { get_json(&client, &base, &key, "/v1/venues/v-cluster-mall").await }
            },
            |venue| venue.is_object(),
        )
        .await;
        // The case's stay and one contact's, before the positive, on two
        // nodes; the positive on a third; then two contacts' check-ins
        // arrive late, one of them at two nodes.
        // (Built once: the same event posted twice is the same content.)
        let twice = check_in("ci-twice", "p-twice", 5 * 3600, 3 * 3600);
        let posted = [
            (
                1,
                authority,
                check_in("ci-case", "p-case", 4 * 3600, 2 * 3600),
            ),
            (
                2,
                authority,
                check_in("ci-early", "p-early", 4 * 3600, 3 * 3600),
            ),
            (
                0,
                &cluster.lab_key,
                test_result("pos-case", "p-case", "positive", 3600),
            ),
            (
                1,
                authority,
                check_in("ci-late", "p-late", 3 * 3600, 2 * 3600),
            ),
            (2, authority, twice.clone()),
            (0, authority, twice),
        ];
        for (node, key, event) in &posted {
            assert_eq!(
                post(
                    &client,
                    &cluster.bases[*node],
                    key,
                    std::slice::from_ref(event)
                )
                .await,
                200,
                "{event}"
            );
        }
        // Every node derives the same designations, under the same ids,
        // whatever order the events reached it in.
        // Derived per contact: each overlap with the case's stay is a
        // designation of its own (docs/log.md, "Automatic tracing").
        for (pid, posted_id, derived) in [
            ("p-case", "cdc-440305:ci-case", 0),
            ("p-early", "cdc-440305:ci-early", 2),
            ("p-late", "cdc-440305:ci-late", 1),
            ("p-twice", "cdc-440305:ci-twice", 2),
        ] {
            wait_same_everywhere(
                &cluster.bases,
                &format!("the events of {pid}"),
                |base| {
                    let client = client.clone();
                    let key = cluster.admin_key.clone();
                    async move { timeline_ids(&client, &base, &key, pid).await }
                },
                |ids| {
                    let ids = ids.as_array().expect("ids");
                    ids.iter().any(|id| id == posted_id)
                        && ids
                            .iter()
                            .filter(|id| !id.as_str().unwrap_or(":").contains(':'))
                            .count()
                            == derived
                },
            )
            .await;
        }
        // And the same statuses (apart from each node's evaluation
        // instant, ARCHITECTURE.md "Replication").
        for pid in ["p-case", "p-early", "p-late", "p-twice"] {
            wait_same_everywhere(
                &cluster.bases,
                &format!("the status of {pid}"),
                |base| {
                    let client = client.clone();
                    let key = cluster.admin_key.clone();
                    async move {
                        let bytes = status_bytes(&client, &base, &key, pid).await;
                        let mut status: Value = serde_json::from_slice(&bytes).ok()?;
                        status.as_object_mut()?.remove("evaluated_at");
                        Some(status)
                    }
                },
                |status| status["color"] != "green",
            )
            .await;
        }
    });
}

/// Whether `key` is accepted by `base` (a read it may make), or `None`
/// while the node does not answer.
async fn key_accepted(client: &reqwest::Client, base: &str, key: &str) -> Option<bool> {
    let response = client
        .post(format!("{base}/v1/events:batch"))
        .bearer_auth(key)
        .json(&json!({ "events": [] }))
        .send()
        .await
        .ok()?;
    Some(response.status().as_u16() != 401)
}

#[test]
fn a_principal_created_on_one_node_works_on_every_node_and_its_revocation_ends_it_everywhere() {
    let Some(nats) = nats_or_skip("principals in a cluster") else {
        return;
    };
    runtime().block_on(async {
        let cluster = TestCluster::start(&nats, COMMAND_ACK_TIMEOUT_MS).await;
        let client = reqwest::Client::new();
        let (status, created) = post_json(
            &client,
            &cluster.bases[0],
            &cluster.admin_key,
            "/v1/admin/principals",
            &json!({"id": "lab-440305-new", "role": "lab", "jurisdiction": "440305",
                    "display_name": "a new lab"}),
        )
        .await;
        assert_eq!(status, 201, "{created}");
        let key = created["api_key"].as_str().expect("a key").to_owned();
        let accepted_everywhere = |expected: bool| {
            let client = client.clone();
            let key = key.clone();
            let bases = cluster.bases.clone();
            async move {
                wait_same_everywhere(
                    &bases,
                    "whether the key is accepted",
                    |base| {
                        let client = client.clone();
                        let key = key.clone();
                        async move { key_accepted(&client, &base, &key).await.map(Value::Bool) }
                    },
                    |accepted| *accepted == Value::Bool(expected),
                )
                .await
            }
        };
        accepted_everywhere(true).await;
        // The new lab's event, on another node, is acknowledged.
        let event = test_result("new-lab-1", "p-new-lab", "negative", 3_600);
        assert_eq!(post(&client, &cluster.bases[2], &key, &[event]).await, 200);
        let (status, revoked) = post_json(
            &client,
            &cluster.bases[1],
            &cluster.admin_key,
            "/v1/admin/principals/lab-440305-new/keys:revoke",
            &json!({}),
        )
        .await;
        assert_eq!(status, 200, "{revoked}");
        accepted_everywhere(false).await;
    });
}
