//! `yimatong backup` and `yimatong restore` (容灾备份), and the control
//! socket through which a running node takes a backup of itself.
//!
//! A serving node holds its data directory's lock, so no second process can
//! open the store. `serve` therefore listens on `DATA/control.sock`, a Unix
//! socket inside the owner-only data directory: whoever can open it can
//! already read every file there, so it widens nobody's rights, and it is
//! not reachable over the network. `backup --data DIR` asks the node through
//! it; when no node serves DIR, it opens the store itself.
//!
//! Protocol: one JSON line each way. Request `{"backup_to": PATH}`; answer
//! `{"manifest": …}` or `{"error": "…"}`. One backup at a time.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use ymt_node::Node;
use ymt_node::backup::BackupManifest;

/// The control socket's name inside the data directory.
pub const CONTROL_SOCKET: &str = "control.sock";
/// The longest request line: a path and a little JSON.
const REQUEST_BYTES_MAX: u64 = 8 * 1024;

#[derive(clap::Args)]
pub struct BackupArgs {
    /// The node's data directory; the node may be serving it.
    #[arg(long)]
    data: PathBuf,
    /// A new or empty directory to write the backup into.
    #[arg(long)]
    to: PathBuf,
    /// Skip the verification (restoring into a scratch directory and walking
    /// the audit chain). Only for measuring the backup alone.
    #[arg(long)]
    no_verify: bool,
}

#[derive(clap::Args)]
pub struct RestoreArgs {
    /// The backup directory, as `yimatong backup --to` wrote it.
    #[arg(
        long,
        required_unless_present = "from_peer",
        conflicts_with = "from_peer"
    )]
    from: Option<PathBuf>,
    /// Instead of a backup directory: a peer node of the cluster (its API's
    /// base URL), whose online snapshot is fetched over the network
    /// (`GET /v1/replication/snapshot`) and restored. The node started on
    /// the result catches up from the stream and its peers.
    #[arg(long, requires = "secret_file")]
    from_peer: Option<String>,
    /// With `--from-peer`: the cluster's pseudonymisation secret (a copy of
    /// a node's `pseudonym.secret`, 64 hex characters), from which the node
    /// credential the peer asks for is derived. The secret never travels.
    #[arg(long)]
    secret_file: Option<PathBuf>,
    /// A new data directory for the restored node; it must not hold a store.
    #[arg(long)]
    data: PathBuf,
}

/// Listens on the control socket of `data_dir` while the node serves. A
/// socket path longer than the system allows only disables online backups.
pub fn serve_control_socket(node: Arc<Node>, data_dir: &Path) -> Option<ControlSocket> {
    let path = data_dir.join(CONTROL_SOCKET);
    // The node holds the data directory's lock: a socket file left here is
    // from a node that died, and nobody listens on it.
    let _ = std::fs::remove_file(&path);
    let listener = match tokio::net::UnixListener::bind(&path) {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!(
                "control socket {} unavailable ({error}); `yimatong backup` needs the node stopped",
                path.display()
            );
            return None;
        }
    };
    let one_at_a_time = Arc::new(tokio::sync::Semaphore::new(1));
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let node = node.clone();
            let one_at_a_time = one_at_a_time.clone();
            tokio::spawn(async move {
                let _ = answer(stream, node, one_at_a_time).await;
            });
        }
    });
    Some(ControlSocket { path, task })
}

/// The control socket's listener; removed when the node stops.
pub struct ControlSocket {
    path: PathBuf,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ControlSocket {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.path);
    }
}

async fn answer(
    stream: tokio::net::UnixStream,
    node: Arc<Node>,
    one_at_a_time: Arc<tokio::sync::Semaphore>,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    tokio::io::AsyncReadExt::take(BufReader::new(read), REQUEST_BYTES_MAX)
        .read_line(&mut line)
        .await?;
    let reply = match serde_json::from_str::<serde_json::Value>(&line)
        .ok()
        .and_then(|request| request["backup_to"].as_str().map(PathBuf::from))
    {
        None => json!({"error": "expected one line {\"backup_to\": PATH}"}),
        Some(dest) => match one_at_a_time.try_acquire() {
            Err(_) => json!({"error": "a backup is already running"}),
            Ok(_permit) => {
                let taken = tokio::task::spawn_blocking(move || node.backup_to(&dest)).await;
                match taken {
                    Ok(Ok(manifest)) => json!({"manifest": manifest}),
                    Ok(Err(error)) => json!({"error": error.to_string()}),
                    Err(error) => json!({"error": format!("the backup task failed: {error}")}),
                }
            }
        },
    };
    let mut bytes = serde_json::to_vec(&reply).expect("json");
    bytes.push(b'\n');
    write.write_all(&bytes).await?;
    write.shutdown().await
}

/// Asks the node serving `data_dir` for a backup; `None` when no node
/// listens there.
async fn backup_through_socket(
    data_dir: &Path,
    dest: &Path,
) -> anyhow::Result<Option<BackupManifest>> {
    let path = data_dir.join(CONTROL_SOCKET);
    let Ok(stream) = tokio::net::UnixStream::connect(&path).await else {
        return Ok(None);
    };
    let (read, mut write) = stream.into_split();
    let mut request = serde_json::to_vec(&json!({"backup_to": dest}))?;
    request.push(b'\n');
    write.write_all(&request).await?;
    let mut line = String::new();
    BufReader::new(read).read_line(&mut line).await?;
    let reply: serde_json::Value =
        serde_json::from_str(&line).context("the node's answer is not JSON")?;
    if let Some(error) = reply["error"].as_str() {
        anyhow::bail!("the node refused the backup: {error}");
    }
    Ok(Some(serde_json::from_value(reply["manifest"].clone())?))
}

pub fn run_backup(args: BackupArgs) -> anyhow::Result<ExitCode> {
    let started = std::time::Instant::now();
    // The node resolves the path itself, possibly from another directory.
    let dest = std::path::absolute(&args.to)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let online = runtime.block_on(backup_through_socket(&args.data, &dest))?;
    let (manifest, online) = match online {
        Some(manifest) => (manifest, true),
        None => {
            let store = ymt_store::EmbeddedStore::open(
                args.data.join("store"),
                ymt_store::StoreConfig::default(),
            )
            .with_context(|| {
                format!(
                    "opening {} (no node answers on its control socket; is one starting?)",
                    args.data.display()
                )
            })?;
            let taken_at = ymt_core::Timestamp::from_unix_secs(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)?
                    .as_secs() as i64,
            )?;
            let manifest = ymt_node::backup::take(&store, &args.data, &dest, taken_at)?;
            (manifest, false)
        }
    };
    let backup_ms = started.elapsed().as_millis() as u64;
    let verification = if args.no_verify {
        None
    } else {
        Some(ymt_node::backup::verify(&dest).context("verifying the backup")?)
    };
    println!(
        "{}",
        serde_json::to_string_pretty(&json!({
            "backup": dest,
            "online": online,
            "taken_at": manifest.taken_at,
            "events_stored": manifest.events_stored(),
            "store_bytes": manifest.store_bytes,
            "store_sha256": manifest.store_sha256,
            "files": manifest.files.len(),
            "backup_ms": backup_ms,
            "verified": verification,
            "total_ms": started.elapsed().as_millis() as u64,
        }))?
    );
    Ok(ExitCode::SUCCESS)
}

pub fn run_restore(args: RestoreArgs) -> anyhow::Result<ExitCode> {
    let started = std::time::Instant::now();
    let (restored, fetch_ms) = match (&args.from, &args.from_peer) {
        (Some(from), _) => (
            ymt_node::backup::restore(from, &args.data)
                .with_context(|| format!("restoring {}", from.display()))?,
            None,
        ),
        (None, Some(peer)) => {
            let secret_file = args.secret_file.as_ref().context("--secret-file")?;
            let credential = node_credential_from(secret_file)?;
            // Beside the new data directory, so it is on the same disk and
            // as private; removed whatever happens.
            let fetched = sibling(&args.data, "peer-snapshot");
            let _ = std::fs::remove_dir_all(&fetched);
            let result = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?
                .block_on(ymt_http::bootstrap::fetch_peer_snapshot(
                    peer,
                    &credential,
                    &fetched,
                ))
                .with_context(|| format!("fetching a snapshot from {peer}"))
                .and_then(|()| {
                    let fetch_ms = started.elapsed().as_millis() as u64;
                    Ok((
                        ymt_node::backup::restore(&fetched, &args.data)
                            .context("restoring the peer's snapshot")?,
                        Some(fetch_ms),
                    ))
                });
            let _ = std::fs::remove_dir_all(&fetched);
            result?
        }
        (None, None) => anyhow::bail!("--from or --from-peer"),
    };
    println!(
        "{}",
        serde_json::to_string_pretty(&json!({
            "restored_into": args.data,
            "from_peer": args.from_peer,
            "verified": restored,
            "fetch_ms": fetch_ms,
            "restore_ms": started.elapsed().as_millis() as u64,
        }))?
    );
    Ok(ExitCode::SUCCESS)
}

/// The node credential of the cluster whose pseudonymisation secret is in
/// `secret_file`.
fn node_credential_from(secret_file: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(secret_file)
        .with_context(|| format!("reading {}", secret_file.display()))?;
    let pseudonymizer = ymt_node::pseudonym::Pseudonymizer::from_hex(&text)
        .with_context(|| format!("{}: not 64 hex characters", secret_file.display()))?;
    Ok(pseudonymizer.node_credential())
}

/// `<path>.<suffix>`: a directory beside `path`.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{suffix}"));
    path.with_file_name(name)
}
