//! `yimatong bench cluster` end to end, at a size that only shows that every
//! figure is measured (issue 11, "Benchmark"); it asserts counts, never a
//! time. Without `nats-server` it prints one skip line.

use std::process::Command;

#[test]
fn bench_cluster_measures_ingest_propagation_failover_and_the_raw_publish_rate() {
    let Some(nats) = ymt_cluster::local::nats_server_binary() else {
        println!(
            "SKIP bench cluster: nats-server not found (set {} or put it on PATH)",
            ymt_cluster::local::NATS_SERVER_ENV
        );
        return;
    };
    let output = Command::new(env!("CARGO_BIN_EXE_yimatong"))
        .args([
            "bench",
            "cluster",
            "--seconds",
            "1",
            "--writers",
            "2",
            "--batch",
            "10",
        ])
        .args(["--propagation-samples", "3", "--kill-rounds", "1"])
        .env(ymt_cluster::local::NATS_SERVER_ENV, nats)
        .output()
        .expect("bench cluster runs");
    assert!(
        output.status.success(),
        "bench cluster failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let figures: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("bench cluster prints one JSON object");
    for part in ["single_node", "cluster"] {
        assert!(
            figures[part]["events_acknowledged"].as_u64().unwrap() > 0,
            "{part}: {figures}"
        );
    }
    assert!(figures["single_node"]["messages_per_sec"].is_null());
    assert!(figures["cluster"]["messages_per_sec"].as_f64().unwrap() > 0.0);
    assert!(
        figures["raw_jetstream_publish"]["messages_per_sec"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    // Each sample is awaited on the two nodes that did not acknowledge it.
    assert_eq!(figures["propagation_ms"]["samples"], 6);
    assert_eq!(
        figures["failover_ms"]["rounds"].as_array().unwrap().len(),
        1,
        "{figures}"
    );
}
