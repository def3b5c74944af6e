//! Durable ingest throughput of the embedded store.
//!
//! `cargo run --release -p ymt-store --example bench_ingest -- [WRITERS BATCH EVENTS PAYLOAD]`
//! prints one JSON line per run. Without arguments it runs a small matrix;
//! with the single argument `0` it measures reads instead.
//! Each run uses a fresh store in a temporary directory under `$TMPDIR`.

use ymt_store::bench::{BenchIngestConfig, BenchReadConfig, bench_ingest, bench_reads};

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|arg| arg.parse().expect("arguments are numbers"))
        .collect();
    let runs: Vec<BenchIngestConfig> = match args.as_slice() {
        [] => [
            (1, 1, 2_000),
            (16, 1, 20_000),
            (64, 1, 50_000),
            (1, 100, 100_000),
            (8, 100, 200_000),
            (8, 1_000, 400_000),
        ]
        .into_iter()
        .map(|(writers, batch_events, total_events)| BenchIngestConfig {
            writers,
            batch_events,
            total_events,
            ..BenchIngestConfig::default()
        })
        .collect(),
        [writers, batch_events, total_events, payload_bytes] => vec![BenchIngestConfig {
            writers: *writers,
            batch_events: *batch_events,
            total_events: *total_events,
            payload_bytes: *payload_bytes,
            ..BenchIngestConfig::default()
        }],
        [0] => {
            // `bench_ingest 0`: point reads after loading 200 000 events.
            let dir = tempfile::tempdir().expect("a temporary directory");
            let report =
                bench_reads(dir.path(), &BenchReadConfig::default()).expect("the benchmark ran");
            println!("{}", report.to_json());
            return;
        }
        _ => panic!("usage: bench_ingest [WRITERS BATCH EVENTS PAYLOAD | 0]"),
    };
    for run in runs {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let report = bench_ingest(dir.path(), &run).expect("the benchmark ran");
        println!("{}", report.to_json());
    }
}
