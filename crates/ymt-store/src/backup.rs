//! Online backups of the embedded store (容灾备份), and their restore.
//!
//! Replication protects against a lost machine, not against a bad command
//! that every replica applies or an operator's mistake; a backup does.
//!
//! A backup is taken from one engine snapshot, so it holds every keyspace as
//! of one instant: a batch (its events, their index entries and their audit
//! records) is either wholly in it or wholly out, exactly as after a crash.
//! The writer keeps committing meanwhile; the snapshot only pins the old
//! versions until the copy ends.
//!
//! File `store.ymtbak` (written under a temporary name, fsynced, renamed):
//! magic `YMTBAK01` (8) | entries | end tag `0xFF` (1) | SHA-256 of every
//! byte before it (32). An entry is: keyspace tag (1) | key length (4, BE) |
//! key | value length (4, BE) | value.
//!
//! A restore reads the file twice: once to check its structure and its
//! checksum, and only then to write a fresh engine, so a damaged backup
//! writes nothing. The caller then opens the restored store and verifies
//! its audit chain ([`crate::EventStore::audit_verify`]).

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode, Readable};
use sha2::{Digest, Sha256};

use crate::StoreError;

const MAGIC: &[u8; 8] = b"YMTBAK01";
const END_TAG: u8 = 0xFF;
/// The file a store backup is written to, inside the backup directory.
pub const STORE_BACKUP_FILE: &str = "store.ymtbak";
/// A key longer than this is corruption, not data (the store's longest keys
/// are a person id with a sequence number, and metadata keys of 256 bytes).
const KEY_BYTES_MAX: u32 = 64 * 1024;
/// A value longer than this is corruption (the largest values are metadata
/// of at most a few MiB).
const VALUE_BYTES_MAX: u32 = 64 * 1024 * 1024;
/// Entries per engine batch during a restore: bounds the memory a restore
/// holds at once.
const RESTORE_BATCH_ENTRIES: usize = 10_000;

/// Every keyspace of the store by name, in the order a backup writes them,
/// with its tag in the file.
pub(crate) const KEYSPACES: [(u8, &str); 6] = [
    (0, "events"),
    (1, "ids"),
    (2, "persons"),
    (3, "meta"),
    (4, "audit"),
    (5, "sys"),
];

/// What a store backup holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoreBackupSummary {
    /// Entries of each keyspace, by keyspace name, in [`KEYSPACES`] order.
    pub entries: Vec<(String, u64)>,
    /// Bytes of the backup file.
    pub bytes: u64,
    /// SHA-256 of the file before its trailer, in hex.
    pub sha256_hex: String,
}

impl StoreBackupSummary {
    /// Entries of one keyspace.
    pub fn entries_of(&self, keyspace: &str) -> u64 {
        self.entries
            .iter()
            .find(|(name, _)| name == keyspace)
            .map_or(0, |(_, count)| *count)
    }
}

/// Writes everything `snapshot` sees of `keyspaces` to `dir/store.ymtbak`.
/// A failed write removes its partial file: a full disk must not leave a
/// file that looks like a backup, nor keep the space.
pub(crate) fn write(
    snapshot: &fjall::Snapshot,
    keyspaces: &[(u8, &Keyspace, &str)],
    dir: &Path,
) -> Result<StoreBackupSummary, StoreError> {
    let written = write_file(snapshot, keyspaces, dir);
    if written.is_err() {
        let _ = std::fs::remove_file(dir.join(format!("{STORE_BACKUP_FILE}.partial")));
    }
    written
}

fn write_file(
    snapshot: &fjall::Snapshot,
    keyspaces: &[(u8, &Keyspace, &str)],
    dir: &Path,
) -> Result<StoreBackupSummary, StoreError> {
    std::fs::create_dir_all(dir).map_err(|err| StoreError::io(dir, err))?;
    let final_path = dir.join(STORE_BACKUP_FILE);
    let temporary_path = dir.join(format!("{STORE_BACKUP_FILE}.partial"));
    let file = File::create(&temporary_path).map_err(|err| StoreError::io(&temporary_path, err))?;
    let mut out = HashingWriter::new(BufWriter::with_capacity(1 << 20, file));
    let io = |err| StoreError::io(&temporary_path, err);
    out.write_all(MAGIC).map_err(io)?;
    let mut entries = Vec::new();
    for (tag, keyspace, name) in keyspaces {
        let mut count = 0u64;
        for guard in snapshot.iter(*keyspace) {
            let (key, value) = guard.into_inner()?;
            write_entry(&mut out, *tag, &key, &value).map_err(io)?;
            count += 1;
        }
        entries.push(((*name).to_owned(), count));
    }
    out.write_all(&[END_TAG]).map_err(io)?;
    let (digest, mut inner, written) = out.finish();
    inner.write_all(&digest).map_err(io)?;
    let file = inner.into_inner().map_err(|err| io(err.into_error()))?;
    file.sync_all().map_err(io)?;
    drop(file);
    std::fs::rename(&temporary_path, &final_path)
        .map_err(|err| StoreError::io(&final_path, err))?;
    sync_dir(dir)?;
    Ok(StoreBackupSummary {
        entries,
        bytes: written + digest.len() as u64,
        sha256_hex: hex(&digest),
    })
}

fn write_entry(out: &mut impl Write, tag: u8, key: &[u8], value: &[u8]) -> std::io::Result<()> {
    out.write_all(&[tag])?;
    out.write_all(&(key.len() as u32).to_be_bytes())?;
    out.write_all(key)?;
    out.write_all(&(value.len() as u32).to_be_bytes())?;
    out.write_all(value)
}

/// Reads a backup file through, checking its structure and checksum, and
/// hands every entry to `visit` (which may be a no-op for a check alone).
/// A damaged file is `Corrupt`; `visit` may then have seen some entries, so
/// a restore checks first and writes in a second pass.
fn read(
    path: &Path,
    visit: &mut dyn FnMut(u8, Vec<u8>, Vec<u8>) -> Result<(), StoreError>,
) -> Result<StoreBackupSummary, StoreError> {
    let file = File::open(path).map_err(|err| StoreError::io(path, err))?;
    let file_bytes = file
        .metadata()
        .map_err(|err| StoreError::io(path, err))?
        .len();
    let summary = read_from(
        BufReader::with_capacity(1 << 20, file),
        &path.display().to_string(),
        visit,
    )?;
    Ok(StoreBackupSummary {
        bytes: file_bytes,
        ..summary
    })
}

/// Checks backup bytes from any reader (a fuzz target feeds it memory):
/// the structure and the checksum, without writing anything. The summary's
/// `bytes` is what was read.
pub fn check_reader(reader: impl Read) -> Result<StoreBackupSummary, StoreError> {
    read_from(reader, "backup bytes", &mut |_, _, _| Ok(()))
}

fn read_from(
    reader: impl Read,
    source: &str,
    visit: &mut dyn FnMut(u8, Vec<u8>, Vec<u8>) -> Result<(), StoreError>,
) -> Result<StoreBackupSummary, StoreError> {
    let corrupt = |reason: String| StoreError::Corrupt {
        keyspace: "backup",
        key: source.to_owned(),
        reason,
    };
    let mut input = HashingReader::new(CountingReader {
        inner: reader,
        read: 0,
    });
    let path = Path::new(source);
    let io = |err: std::io::Error| {
        if err.kind() == std::io::ErrorKind::UnexpectedEof {
            corrupt("the file ends before its trailer (truncated)".into())
        } else {
            StoreError::io(path, err)
        }
    };
    let mut magic = [0u8; 8];
    input.read_exact(&mut magic).map_err(io)?;
    if &magic != MAGIC {
        return Err(corrupt("not a yimatong store backup (bad magic)".into()));
    }
    let mut counts = [0u64; KEYSPACES.len()];
    loop {
        let mut tag = [0u8; 1];
        input.read_exact(&mut tag).map_err(io)?;
        if tag[0] == END_TAG {
            break;
        }
        let Some(slot) = KEYSPACES.iter().position(|(known, _)| *known == tag[0]) else {
            return Err(corrupt(format!("unknown keyspace tag {}", tag[0])));
        };
        let key = read_sized(&mut input, KEY_BYTES_MAX, "key").map_err(|err| match err {
            Sized::Io(err) => io(err),
            Sized::TooLong(reason) => corrupt(reason),
        })?;
        let value = read_sized(&mut input, VALUE_BYTES_MAX, "value").map_err(|err| match err {
            Sized::Io(err) => io(err),
            Sized::TooLong(reason) => corrupt(reason),
        })?;
        counts[slot] += 1;
        visit(tag[0], key, value)?;
    }
    let computed = input.digest();
    let mut stored = [0u8; 32];
    input.inner.read_exact(&mut stored).map_err(io)?;
    if stored.as_slice() != computed.as_slice() {
        return Err(corrupt(
            "checksum mismatch: the backup was altered or damaged".into(),
        ));
    }
    let mut trailing = [0u8; 1];
    if input.inner.read(&mut trailing).map_err(io)? != 0 {
        return Err(corrupt("bytes after the checksum".into()));
    }
    Ok(StoreBackupSummary {
        entries: KEYSPACES
            .iter()
            .zip(counts)
            .map(|((_, name), count)| ((*name).to_owned(), count))
            .collect(),
        bytes: input.inner.read,
        sha256_hex: hex(&computed),
    })
}

/// A reader that counts what it reads.
struct CountingReader<R> {
    inner: R,
    read: u64,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        let read = self.inner.read(buffer)?;
        self.read += read as u64;
        Ok(read)
    }
}

enum Sized {
    Io(std::io::Error),
    TooLong(String),
}

fn read_sized(input: &mut impl Read, max: u32, what: &str) -> Result<Vec<u8>, Sized> {
    let mut length = [0u8; 4];
    input.read_exact(&mut length).map_err(Sized::Io)?;
    let length = u32::from_be_bytes(length);
    if length > max {
        return Err(Sized::TooLong(format!(
            "a {what} of {length} bytes, at most {max}"
        )));
    }
    // Read through `take` so a lying length cannot allocate more than the
    // file holds.
    let mut bytes = Vec::new();
    input
        .take(u64::from(length))
        .read_to_end(&mut bytes)
        .map_err(Sized::Io)?;
    if bytes.len() != length as usize {
        return Err(Sized::Io(std::io::ErrorKind::UnexpectedEof.into()));
    }
    Ok(bytes)
}

/// Checks a backup file's structure and checksum without writing anything.
pub fn check(backup_dir: &Path) -> Result<StoreBackupSummary, StoreError> {
    read(&backup_dir.join(STORE_BACKUP_FILE), &mut |_, _, _| Ok(()))
}

/// Restores the backup in `backup_dir` into a new store directory
/// `store_dir`, which must not hold a store yet. The backup is checked
/// whole before anything is written; open the result with
/// [`crate::EmbeddedStore::open`] and verify its audit chain.
pub fn restore(backup_dir: &Path, store_dir: &Path) -> Result<StoreBackupSummary, StoreError> {
    let engine_dir = store_dir.join("engine");
    if engine_dir.exists() {
        return Err(StoreError::InvalidArgument {
            what: "restore target",
            reason: format!(
                "{} already holds a store; restore only into a new data directory",
                store_dir.display()
            ),
        });
    }
    let summary = check(backup_dir)?;
    std::fs::create_dir_all(store_dir).map_err(|err| StoreError::io(store_dir, err))?;
    let db = Database::builder(&engine_dir).open()?;
    let mut keyspaces: Vec<Keyspace> = Vec::new();
    for (_, name) in KEYSPACES {
        keyspaces.push(db.keyspace(name, KeyspaceCreateOptions::default)?);
    }
    let mut pending: Vec<(usize, Vec<u8>, Vec<u8>)> = Vec::new();
    let flush = |pending: &mut Vec<(usize, Vec<u8>, Vec<u8>)>| -> Result<(), StoreError> {
        let mut batch = db.batch();
        for (slot, key, value) in pending.drain(..) {
            batch.insert(&keyspaces[slot], key, value);
        }
        batch.commit()?;
        Ok(())
    };
    let restored = read(
        &backup_dir.join(STORE_BACKUP_FILE),
        &mut |tag, key, value| {
            let slot = KEYSPACES
                .iter()
                .position(|(known, _)| *known == tag)
                .expect("read checks the tags");
            pending.push((slot, key, value));
            if pending.len() >= RESTORE_BATCH_ENTRIES {
                flush(&mut pending)?;
            }
            Ok(())
        },
    )?;
    flush(&mut pending)?;
    db.persist(PersistMode::SyncAll)?;
    drop(keyspaces);
    drop(db);
    if restored != summary {
        // The file changed between the two passes.
        return Err(StoreError::Corrupt {
            keyspace: "backup",
            key: backup_dir.display().to_string(),
            reason: "the backup changed while it was restored".into(),
        });
    }
    Ok(summary)
}

pub(crate) fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|handle| handle.sync_all())
        .map_err(|err| StoreError::io(dir, err))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// A writer that hashes what it writes and counts it.
struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    written: u64,
}

impl<W: Write> HashingWriter<W> {
    fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            written: 0,
        }
    }

    fn finish(self) -> ([u8; 32], W, u64) {
        (self.hasher.finalize().into(), self.inner, self.written)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let written = self.inner.write(bytes)?;
        self.hasher.update(&bytes[..written]);
        self.written += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// A reader that hashes what it reads.
struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> HashingReader<R> {
    fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
        }
    }

    fn digest(&self) -> [u8; 32] {
        self.hasher.clone().finalize().into()
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        let read = self.inner.read(buffer)?;
        self.hasher.update(&buffer[..read]);
        Ok(read)
    }
}

/// The path of the store backup file in a backup directory.
pub fn store_backup_path(backup_dir: &Path) -> PathBuf {
    backup_dir.join(STORE_BACKUP_FILE)
}
