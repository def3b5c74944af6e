//! Backups of a node's data directory (容灾备份): taken online, verified,
//! restored into a new directory.
//!
//! A backup directory holds:
//! - `store.ymtbak`: the whole store from one engine snapshot
//!   ([`ymt_store::backup`]): events, metadata, audit chain;
//! - `files/`: every other file of the data directory (the pseudonymisation
//!   secret, the signing keys), copied as they are. They change rarely and
//!   only by an operator, so a copy taken beside the snapshot is as current;
//! - `backup.json`: the manifest, with the SHA-256 of every file.
//!
//! A backup holds the pseudonymisation secret and the signing keys, so it is
//! as sensitive as the data directory: files are written owner-only.
//!
//! Verification restores the store into a temporary directory and walks its
//! audit chain: a backup is called good only once it has been restored.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use ymt_core::Timestamp;
use ymt_store::backup::StoreBackupSummary;
use ymt_store::{EmbeddedStore, EventStore, StoreConfig};

/// The manifest's file name in a backup directory.
pub const MANIFEST_FILE: &str = "backup.json";
/// Where the data directory's other files go in a backup directory.
const FILES_DIR: &str = "files";
/// The store's directory inside a data directory, never copied as files.
const STORE_DIR: &str = "store";
/// The format of this manifest.
const MANIFEST_FORMAT: &str = "yimatong-backup/1";
/// Files outside the store larger than this are not node files: refuse
/// rather than copy something unexpected and huge.
const OTHER_FILE_BYTES_MAX: u64 = 64 * 1024 * 1024;

/// What a backup holds; written as `backup.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupManifest {
    pub format: String,
    /// The node's clock when the backup was taken.
    pub taken_at: Timestamp,
    /// Entries of each store keyspace.
    pub store_entries: Vec<(String, u64)>,
    pub store_bytes: u64,
    pub store_sha256: String,
    /// Other files of the data directory, relative to it, with their SHA-256.
    pub files: Vec<BackupFile>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupFile {
    pub path: String,
    pub bytes: u64,
    pub sha256: String,
}

impl BackupManifest {
    /// Events stored in the backup (purged ones leave gaps in the log, so
    /// this can be below the highest sequence number).
    pub fn events_stored(&self) -> u64 {
        self.entry_count("events")
    }

    fn entry_count(&self, keyspace: &str) -> u64 {
        self.store_entries
            .iter()
            .find(|(name, _)| name == keyspace)
            .map_or(0, |(_, count)| *count)
    }
}

/// What a verification found: the backup restores, and its audit chain is
/// intact up to `audit_head_seq`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BackupVerification {
    /// Events stored, and the highest sequence number ever assigned.
    pub events_stored: u64,
    pub last_event_seq: u64,
    pub audit_records: u64,
    pub audit_head_seq: u64,
    pub audit_head_hash: String,
    pub files: usize,
}

/// Why a backup could not be taken, verified or restored.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{0}")]
    Store(#[from] ymt_store::StoreError),
    #[error("i/o error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Refused(String),
    #[error("the backup is damaged: {0}")]
    Damaged(String),
    /// Another backup for a peer is being taken (one at a time).
    #[error("{0}")]
    Busy(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + '_ {
    move |source| BackupError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Takes a backup of the node whose data directory is `data_dir` and whose
/// store is `store` (open, serving) into `dest`, a new or empty directory.
pub fn take(
    store: &dyn EventStore,
    data_dir: &Path,
    dest: &Path,
    taken_at: Timestamp,
) -> Result<BackupManifest, BackupError> {
    if dest.exists() && std::fs::read_dir(dest).map_err(io(dest))?.next().is_some() {
        return Err(BackupError::Refused(format!(
            "{} is not empty; a backup goes into a new directory",
            dest.display()
        )));
    }
    crate::config::create_private_dir(dest).map_err(io(dest))?;
    let summary: StoreBackupSummary = store.backup_to(dest)?;
    let mut files = Vec::new();
    copy_other_files(data_dir, &dest.join(FILES_DIR), Path::new(""), &mut files)?;
    let manifest = BackupManifest {
        format: MANIFEST_FORMAT.to_owned(),
        taken_at,
        store_entries: summary.entries,
        store_bytes: summary.bytes,
        store_sha256: summary.sha256_hex,
        files,
    };
    let manifest_path = dest.join(MANIFEST_FILE);
    let bytes = serde_json::to_vec_pretty(&manifest).expect("a manifest serializes");
    write_private(&manifest_path, &bytes)?;
    Ok(manifest)
}

/// Copies every file under `from` except the store and sockets into `to`,
/// recording each with its digest.
fn copy_other_files(
    from_root: &Path,
    to_root: &Path,
    relative: &Path,
    files: &mut Vec<BackupFile>,
) -> Result<(), BackupError> {
    let from = from_root.join(relative);
    let mut entries: Vec<_> = std::fs::read_dir(&from)
        .map_err(io(&from))?
        .collect::<Result<_, _>>()
        .map_err(io(&from))?;
    // A stable order makes two backups of the same directory comparable.
    entries.sort_by_key(|entry| entry.file_name());
    for entry in entries {
        let name = entry.file_name();
        let child = relative.join(&name);
        if relative.as_os_str().is_empty() && name == STORE_DIR {
            continue;
        }
        let kind = entry.file_type().map_err(io(&entry.path()))?;
        if kind.is_dir() {
            copy_other_files(from_root, to_root, &child, files)?;
        } else if kind.is_file() {
            let source = entry.path();
            let length = entry.metadata().map_err(io(&source))?.len();
            if length > OTHER_FILE_BYTES_MAX {
                return Err(BackupError::Refused(format!(
                    "{} is {length} bytes, larger than any node file; move it out of the data directory",
                    source.display()
                )));
            }
            let bytes = std::fs::read(&source).map_err(io(&source))?;
            let target = to_root.join(&child);
            if let Some(parent) = target.parent() {
                crate::config::create_private_dir(parent).map_err(io(parent))?;
            }
            write_private(&target, &bytes)?;
            files.push(BackupFile {
                path: child.to_string_lossy().into_owned(),
                bytes: length,
                sha256: hex::encode(Sha256::digest(&bytes)),
            });
        }
        // Sockets and other special files are the running node's, not data.
    }
    Ok(())
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), BackupError> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(io(path))?;
    file.write_all(bytes).map_err(io(path))?;
    file.sync_all().map_err(io(path))
}

/// Reads a backup's manifest.
pub fn read_manifest(backup: &Path) -> Result<BackupManifest, BackupError> {
    let path = backup.join(MANIFEST_FILE);
    let bytes = std::fs::read(&path).map_err(io(&path))?;
    let manifest: BackupManifest = serde_json::from_slice(&bytes)
        .map_err(|error| BackupError::Damaged(format!("{MANIFEST_FILE}: {error}")))?;
    if manifest.format != MANIFEST_FORMAT {
        return Err(BackupError::Damaged(format!(
            "format {:?}, this node reads {MANIFEST_FORMAT:?}",
            manifest.format
        )));
    }
    Ok(manifest)
}

/// Checks every file of a backup against its manifest, restores its store
/// into a temporary directory and walks the audit chain there.
pub fn verify(backup: &Path) -> Result<BackupVerification, BackupError> {
    let manifest = read_manifest(backup)?;
    check_files(backup, &manifest)?;
    let scratch = ScratchDir::new(backup)?;
    let store_dir = scratch.path.join(STORE_DIR);
    let verification = restore_store_and_verify(backup, &manifest, &store_dir)?;
    Ok(BackupVerification {
        files: manifest.files.len(),
        ..verification
    })
}

/// Restores a backup into `data_dir`, which must not hold a store yet: the
/// store, then the other files. The backup is verified first; a damaged one
/// writes nothing.
pub fn restore(backup: &Path, data_dir: &Path) -> Result<BackupVerification, BackupError> {
    let manifest = read_manifest(backup)?;
    check_files(backup, &manifest)?;
    if data_dir.join(STORE_DIR).exists() {
        return Err(BackupError::Refused(format!(
            "{} already holds a store; restore only into a new data directory",
            data_dir.display()
        )));
    }
    crate::config::create_private_dir(data_dir).map_err(io(data_dir))?;
    let verification = restore_store_and_verify(backup, &manifest, &data_dir.join(STORE_DIR))?;
    for file in &manifest.files {
        let source = backup.join(FILES_DIR).join(&file.path);
        let target = data_dir.join(&file.path);
        if let Some(parent) = target.parent() {
            crate::config::create_private_dir(parent).map_err(io(parent))?;
        }
        let bytes = std::fs::read(&source).map_err(io(&source))?;
        write_private(&target, &bytes)?;
    }
    Ok(BackupVerification {
        files: manifest.files.len(),
        ..verification
    })
}

fn check_files(backup: &Path, manifest: &BackupManifest) -> Result<(), BackupError> {
    for file in &manifest.files {
        let relative = Path::new(&file.path);
        // A manifest names files inside the backup only.
        if relative.is_absolute()
            || relative
                .components()
                .any(|part| !matches!(part, std::path::Component::Normal(_)))
        {
            return Err(BackupError::Damaged(format!(
                "the manifest names a file outside the backup: {}",
                file.path
            )));
        }
        let path = backup.join(FILES_DIR).join(relative);
        let bytes = std::fs::read(&path).map_err(io(&path))?;
        if hex::encode(Sha256::digest(&bytes)) != file.sha256 {
            return Err(BackupError::Damaged(format!(
                "{} does not match its checksum",
                file.path
            )));
        }
    }
    Ok(())
}

fn restore_store_and_verify(
    backup: &Path,
    manifest: &BackupManifest,
    store_dir: &Path,
) -> Result<BackupVerification, BackupError> {
    let summary = ymt_store::backup::restore(backup, store_dir)?;
    if summary.sha256_hex != manifest.store_sha256 || summary.entries != manifest.store_entries {
        return Err(BackupError::Damaged(
            "the store file does not match the manifest".into(),
        ));
    }
    let store = EmbeddedStore::open(store_dir, StoreConfig::default())?;
    let audit = store
        .audit_verify()
        .map_err(|error| BackupError::Damaged(format!("audit chain: {error}")))?;
    if let Some(broken) = &audit.first_broken {
        return Err(BackupError::Damaged(format!(
            "the audit chain breaks at record {}: {broken:?}",
            broken.seq
        )));
    }
    Ok(BackupVerification {
        events_stored: summary.entries_of("events"),
        last_event_seq: store.last_seq(),
        audit_records: audit.records_checked,
        audit_head_seq: audit.head_seq,
        audit_head_hash: hex::encode(audit.head_hash),
        files: 0,
    })
}

/// A temporary directory beside the backup, removed when dropped.
struct ScratchDir {
    path: PathBuf,
}

impl ScratchDir {
    fn new(backup: &Path) -> Result<ScratchDir, BackupError> {
        let parent = backup.parent().unwrap_or(Path::new("."));
        let name = format!(
            ".{}.verify-{}",
            backup
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_else(|| "backup".into()),
            std::process::id()
        );
        let path = parent.join(name);
        if path.exists() {
            std::fs::remove_dir_all(&path).map_err(io(&path))?;
        }
        crate::config::create_private_dir(&path).map_err(io(&path))?;
        Ok(ScratchDir { path })
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

impl crate::Node {
    /// Takes an online backup of this node into `dest` ([`take`]) while it
    /// serves: writes go on, and the backup holds every write acknowledged
    /// before it started.
    pub fn backup_to(&self, dest: &Path) -> Result<BackupManifest, BackupError> {
        take(self.store.as_ref(), &self.config.data_dir, dest, self.now())
    }

    /// Takes an online backup for a peer that bootstraps from this node
    /// (`peer_snapshot.rs`), into a private temporary directory outside the
    /// data directory (a backup copies the data directory's other files, so
    /// it must not find another backup there). One at a time per process: a
    /// second request is refused `Busy` while the first is taken or sent.
    pub fn backup_for_peer(&self) -> Result<PeerBackup, BackupError> {
        if PEER_BACKUP_RUNNING.swap(true, std::sync::atomic::Ordering::AcqRel) {
            return Err(BackupError::Busy(
                "a snapshot for another peer is being taken or sent; retry later".into(),
            ));
        }
        let mut nonce = [0u8; 16];
        let running = PeerBackupRunning;
        getrandom::fill(&mut nonce)
            .map_err(|error| BackupError::Refused(format!("randomness: {error}")))?;
        let dir = std::env::temp_dir().join(format!("ymt-peer-backup-{}", hex::encode(nonce)));
        let mut backup = PeerBackup {
            dir,
            parts: Vec::new(),
            _running: running,
        };
        let manifest = self.backup_to(&backup.dir)?;
        let manifest_path = backup.dir.join(MANIFEST_FILE);
        let manifest_bytes = std::fs::metadata(&manifest_path)
            .map_err(io(&manifest_path))?
            .len();
        backup.parts = vec![
            (MANIFEST_FILE.to_owned(), manifest_path, manifest_bytes),
            (
                ymt_store::backup::STORE_BACKUP_FILE.to_owned(),
                backup.dir.join(ymt_store::backup::STORE_BACKUP_FILE),
                manifest.store_bytes,
            ),
        ];
        for file in &manifest.files {
            let path = backup.dir.join(FILES_DIR).join(&file.path);
            backup
                .parts
                .push((format!("{FILES_DIR}/{}", file.path), path, file.bytes));
        }
        Ok(backup)
    }
}

static PEER_BACKUP_RUNNING: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

struct PeerBackupRunning;

impl Drop for PeerBackupRunning {
    fn drop(&mut self) {
        PEER_BACKUP_RUNNING.store(false, std::sync::atomic::Ordering::Release);
    }
}

/// A backup taken for a peer: its parts in the order a snapshot stream
/// sends them (path in the stream, file, bytes). Its directory is removed,
/// and the next backup for a peer allowed, when it is dropped (sent, or
/// the peer went away).
pub struct PeerBackup {
    pub dir: PathBuf,
    pub parts: Vec<(String, PathBuf, u64)>,
    _running: PeerBackupRunning,
}

impl Drop for PeerBackup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
