//! The NATS configurations the project ships and generates fsync every
//! write before acknowledging it.

#[test]
fn the_shipped_and_generated_nats_configurations_fsync_every_write() {
    let shipped = include_str!("../nats-server.conf");
    let generated = ymt_cluster::local::server_config(
        "nats-1",
        4222,
        6222,
        &[6223, 6224],
        std::path::Path::new("/tmp/store"),
    );
    for (name, text) in [
        ("nats-server.conf", shipped),
        ("generated", generated.as_str()),
    ] {
        let settings: Vec<&str> = text
            .lines()
            .map(|line| line.split('#').next().unwrap_or("").trim())
            .filter(|line| line.starts_with("sync_interval"))
            .collect();
        assert_eq!(settings, ["sync_interval: always"], "{name}");
    }
}

#[test]
fn the_stream_keeps_three_replicas_and_drops_duplicate_record_ids() {
    let config = ymt_cluster::stream_config(3, std::time::Duration::from_secs(3600));
    assert_eq!(config.num_replicas, 3);
    assert!(config.duplicate_window >= std::time::Duration::from_secs(60));
    assert_eq!(config.subjects, [ymt_cluster::STREAM_SUBJECTS]);
}
