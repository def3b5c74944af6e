//! A new node of a cluster starts from a peer's snapshot (issue 11, item 6):
//! fetches `GET /v1/replication/snapshot` with the cluster's node
//! credential and writes it as a backup directory, which
//! `ymt_node::backup::restore` then verifies (checksums, the audit chain)
//! and restores. The node started on it catches up on the tail from the
//! stream and, for what the stream no longer holds, from its peers.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use ymt_node::peer_snapshot::{Piece, SnapshotReader};

use crate::handlers::replication::NODE_CREDENTIAL_HEADER;

/// How long the peer may stay silent (taking the backup, or mid-stream)
/// before the fetch is given up.
const PEER_SILENT_MAX: Duration = Duration::from_secs(120);

/// Fetches a peer's snapshot into `dest` (a new or empty directory), as a
/// backup directory. Every part is checked as it comes (`SnapshotReader`);
/// files are written owner-only, as a backup's are.
pub async fn fetch_peer_snapshot(
    peer_base: &str,
    node_credential: &str,
    dest: &Path,
) -> anyhow::Result<()> {
    if dest.exists() && std::fs::read_dir(dest)?.next().is_some() {
        anyhow::bail!("{} is not empty", dest.display());
    }
    ymt_node::config::create_private_dir(dest)
        .with_context(|| format!("creating {}", dest.display()))?;
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .read_timeout(PEER_SILENT_MAX)
        .build()?;
    let url = format!(
        "{}/v1/replication/snapshot",
        peer_base.trim_end_matches('/')
    );
    let mut response = client
        .get(&url)
        .header(NODE_CREDENTIAL_HEADER, node_credential)
        .send()
        .await
        .with_context(|| format!("asking {url}"))?;
    if !response.status().is_success() {
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        anyhow::bail!(
            "{url} answered {status}: {}",
            body.chars().take(500).collect::<String>()
        );
    }
    let mut reader = SnapshotReader::new();
    let mut file: Option<(std::fs::File, PathBuf)> = None;
    while let Some(chunk) = response
        .chunk()
        .await
        .with_context(|| format!("reading {url}"))?
    {
        for piece in reader.feed(&chunk)? {
            match piece {
                Piece::Begin { path, .. } => {
                    let target = dest.join(&path);
                    if let Some(parent) = target.parent() {
                        ymt_node::config::create_private_dir(parent)?;
                    }
                    file = Some((create_private_file(&target)?, target));
                }
                Piece::Data(bytes) => {
                    let (writer, target) = file.as_mut().context("data before a part")?;
                    writer
                        .write_all(&bytes)
                        .with_context(|| format!("writing {}", target.display()))?;
                }
                Piece::End => {}
            }
        }
    }
    reader.finish()?;
    Ok(())
}

fn create_private_file(path: &Path) -> anyhow::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))
}
