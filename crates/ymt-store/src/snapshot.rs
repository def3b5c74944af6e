//! Snapshots of the server's in-memory projection, as plain files.
//!
//! A snapshot can be hundreds of megabytes; writing it through the event
//! writer would stall ingestion, so it is written by the caller's thread to
//! its own file: `snapshot-<upto_seq, 20 digits>.bin` in `<store>/snapshots`.
//!
//! File layout: magic `YMTSNAP1` (8) | upto_seq (8, BE) | body length (8, BE) |
//! SHA-256 of (upto_seq | length | body) (32) | body.
//!
//! Atomicity: the file is written under a temporary name, fsynced, renamed
//! into place and the directory fsynced, so a crash leaves either the old set
//! of snapshots or the new one. A file that fails its checksum is skipped
//! with a warning and the previous snapshot is used.

use crate::StoreError;
use sha2::{Digest, Sha256};
use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 8] = b"YMTSNAP1";
const HEADER_LEN: usize = 8 + 8 + 8 + 32;
/// How many snapshots are kept; older ones are deleted after a new write.
pub const SNAPSHOTS_KEPT: usize = 2;

/// A projection snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// The snapshot reflects every event with `seq <= upto_seq`.
    pub upto_seq: u64,
    pub bytes: Vec<u8>,
}

/// A snapshot file that was skipped, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotWarning {
    pub path: PathBuf,
    pub reason: String,
}

impl std::fmt::Display for SnapshotWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "snapshot {} ignored: {}",
            self.path.display(),
            self.reason
        )
    }
}

/// The newest intact snapshot, if any, and the corrupt ones skipped on the
/// way (warning level: the caller logs them and rebuilds from the log).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SnapshotLoad {
    pub latest: Option<Snapshot>,
    pub warnings: Vec<SnapshotWarning>,
}

pub(crate) fn file_name(upto_seq: u64) -> String {
    format!("snapshot-{upto_seq:020}.bin")
}

fn parse_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("snapshot-")?.strip_suffix(".bin")?;
    if digits.len() != 20 {
        return None;
    }
    digits.parse().ok()
}

fn digest(upto_seq: u64, body: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(upto_seq.to_be_bytes());
    hasher.update((body.len() as u64).to_be_bytes());
    hasher.update(body);
    hasher.finalize().into()
}

/// Snapshot files in `dir`, newest first.
fn list(dir: &Path) -> Result<Vec<(u64, PathBuf)>, StoreError> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).map_err(|err| StoreError::io(dir, err))? {
        let entry = entry.map_err(|err| StoreError::io(dir, err))?;
        if let Some(seq) = entry.file_name().to_str().and_then(parse_file_name) {
            found.push((seq, entry.path()));
        }
    }
    found.sort_by_key(|entry| std::cmp::Reverse(entry.0));
    Ok(found)
}

pub(crate) fn fsync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|handle| handle.sync_all())
        .map_err(|err| StoreError::io(dir, err))
}

/// Removes temporary files left by a snapshot write that was interrupted.
pub(crate) fn remove_temporaries(dir: &Path) -> Result<(), StoreError> {
    for entry in fs::read_dir(dir).map_err(|err| StoreError::io(dir, err))? {
        let entry = entry.map_err(|err| StoreError::io(dir, err))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(".snapshot-") && name.ends_with(".tmp") {
            let path = entry.path();
            fs::remove_file(&path).map_err(|err| StoreError::io(&path, err))?;
        }
    }
    Ok(())
}

pub(crate) fn write(dir: &Path, upto_seq: u64, body: &[u8]) -> Result<(), StoreError> {
    let final_path = dir.join(file_name(upto_seq));
    let temp_path = dir.join(format!(".{}.tmp", file_name(upto_seq)));
    {
        // Owner-only: a snapshot holds every person's status and reasons.
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options
            .open(&temp_path)
            .map_err(|err| StoreError::io(&temp_path, err))?;
        let mut header = Vec::with_capacity(HEADER_LEN);
        header.extend_from_slice(MAGIC);
        header.extend_from_slice(&upto_seq.to_be_bytes());
        header.extend_from_slice(&(body.len() as u64).to_be_bytes());
        header.extend_from_slice(&digest(upto_seq, body));
        file.write_all(&header)
            .and_then(|()| file.write_all(body))
            .and_then(|()| file.sync_all())
            .map_err(|err| StoreError::io(&temp_path, err))?;
    }
    fs::rename(&temp_path, &final_path).map_err(|err| StoreError::io(&final_path, err))?;
    fsync_dir(dir)?;
    for (_, old_path) in list(dir)?.into_iter().skip(SNAPSHOTS_KEPT) {
        fs::remove_file(&old_path).map_err(|err| StoreError::io(&old_path, err))?;
    }
    fsync_dir(dir)
}

pub(crate) fn latest(dir: &Path, bytes_max: u64) -> Result<SnapshotLoad, StoreError> {
    let mut load = SnapshotLoad::default();
    for (seq, path) in list(dir)? {
        match read_checked(&path, seq, bytes_max) {
            Ok(bytes) => {
                load.latest = Some(Snapshot {
                    upto_seq: seq,
                    bytes,
                });
                break;
            }
            Err(reason) => load.warnings.push(SnapshotWarning { path, reason }),
        }
    }
    Ok(load)
}

fn read_checked(path: &Path, name_seq: u64, bytes_max: u64) -> Result<Vec<u8>, String> {
    let mut file = File::open(path).map_err(|err| format!("open: {err}"))?;
    let mut header = [0u8; HEADER_LEN];
    file.read_exact(&mut header)
        .map_err(|err| format!("header: {err}"))?;
    if &header[..8] != MAGIC {
        return Err("bad magic".into());
    }
    let mut word = [0u8; 8];
    word.copy_from_slice(&header[8..16]);
    let upto_seq = u64::from_be_bytes(word);
    word.copy_from_slice(&header[16..24]);
    let len = u64::from_be_bytes(word);
    if upto_seq != name_seq {
        return Err(format!(
            "header says seq {upto_seq}, file name says {name_seq}"
        ));
    }
    if len > bytes_max {
        return Err(format!(
            "body of {len} bytes exceeds the limit of {bytes_max}"
        ));
    }
    let file_len = file.metadata().map_err(|err| err.to_string())?.len();
    if file_len != HEADER_LEN as u64 + len {
        return Err(format!(
            "file is {file_len} bytes, header promises {}",
            HEADER_LEN as u64 + len
        ));
    }
    let mut body = vec![0u8; len as usize];
    file.read_exact(&mut body)
        .map_err(|err| format!("body: {err}"))?;
    if digest(upto_seq, &body)[..] != header[24..] {
        return Err("checksum mismatch".into());
    }
    Ok(body)
}
