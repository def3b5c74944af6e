//! A backup sent from one node to another over the network, so that a new
//! node of a cluster starts from a peer's snapshot and then catches up on
//! the tail (issue 11, item 6). The bytes are a backup directory
//! (`backup.rs`) flattened into one stream:
//!
//! ```text
//! {"path":"backup.json","bytes":N}\n  N bytes      the manifest, first
//! {"path":"store.ymtbak","bytes":N}\n N bytes      the store
//! {"path":"files/<p>","bytes":N}\n    N bytes      each file the manifest lists
//! {"end":true}\n
//! ```
//!
//! The reader trusts nothing it has not checked: the manifest comes first
//! and is bounded; every later part must be one the manifest names, once,
//! with the size it gives; a path is relative, with plain components only;
//! the end line must come, and nothing after it. Checksums and the audit
//! chain are checked afterwards by `backup::restore`, which writes nothing
//! from a damaged backup. Pure: no I/O, the caller writes the pieces.

use std::collections::BTreeMap;

use crate::backup::{BackupManifest, MANIFEST_FILE};

/// The largest manifest accepted (a manifest lists a few files).
pub const MANIFEST_BYTES_MAX: u64 = 1024 * 1024;
/// The longest header line.
const HEADER_BYTES_MAX: usize = 1024;
/// The longest path of a part.
const PATH_BYTES_MAX: usize = 512;
/// The most files a manifest may list.
const FILES_MAX: usize = 1024;

/// The line before a part of `bytes` bytes at `path` (relative to the
/// backup directory).
pub fn header_line(path: &str, bytes: u64) -> Vec<u8> {
    let mut line = serde_json::to_vec(&serde_json::json!({"path": path, "bytes": bytes}))
        .expect("JSON serialises");
    line.push(b'\n');
    line
}

/// The line after the last part.
pub const END_LINE: &[u8] = b"{\"end\":true}\n";

/// Why a snapshot stream was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SnapshotStreamError {
    #[error("the snapshot stream is malformed: {0}")]
    Malformed(String),
    #[error("the snapshot stream ended early: {0}")]
    Truncated(String),
}

/// What the reader found, in order: a part begins (its path relative to the
/// backup directory, checked), its bytes, the end of the stream.
#[derive(Debug, PartialEq, Eq)]
pub enum Piece {
    Begin { path: String, bytes: u64 },
    Data(Vec<u8>),
    End,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    path: Option<String>,
    bytes: Option<u64>,
    end: Option<bool>,
}

/// Reads a snapshot stream fed in chunks of any size.
#[derive(Default)]
pub struct SnapshotReader {
    line: Vec<u8>,
    /// Bytes of the current part still to come.
    remaining: u64,
    /// The manifest's bytes while they come (the first part).
    manifest_bytes: Option<Vec<u8>>,
    /// The parts the manifest names and their sizes, not seen yet.
    expected: Option<BTreeMap<String, u64>>,
    ended: bool,
}

fn malformed(why: impl Into<String>) -> SnapshotStreamError {
    SnapshotStreamError::Malformed(why.into())
}

/// A path relative to the backup directory with plain components only.
fn is_plain_relative(path: &str) -> bool {
    !path.is_empty()
        && path.len() <= PATH_BYTES_MAX
        && !path.starts_with('/')
        && !path.contains('\\')
        && path
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != ".." && !part.contains('\0'))
}

impl SnapshotReader {
    pub fn new() -> SnapshotReader {
        SnapshotReader::default()
    }

    /// Feeds the next chunk; returns what it completes.
    pub fn feed(&mut self, mut chunk: &[u8]) -> Result<Vec<Piece>, SnapshotStreamError> {
        let mut pieces = Vec::new();
        while !chunk.is_empty() {
            if self.ended {
                return Err(malformed("bytes after the end line"));
            }
            if self.remaining > 0 {
                let take = usize::try_from(self.remaining)
                    .unwrap_or(usize::MAX)
                    .min(chunk.len());
                let (data, rest) = chunk.split_at(take);
                chunk = rest;
                self.remaining -= take as u64;
                if let Some(manifest) = &mut self.manifest_bytes {
                    manifest.extend_from_slice(data);
                }
                pieces.push(Piece::Data(data.to_vec()));
                if self.remaining == 0 && self.manifest_bytes.is_some() {
                    self.manifest_complete()?;
                }
                continue;
            }
            match chunk.iter().position(|&byte| byte == b'\n') {
                None => {
                    self.line.extend_from_slice(chunk);
                    if self.line.len() > HEADER_BYTES_MAX {
                        return Err(malformed("a header line is too long"));
                    }
                    chunk = &[];
                }
                Some(end) => {
                    self.line.extend_from_slice(&chunk[..end]);
                    chunk = &chunk[end + 1..];
                    if self.line.len() > HEADER_BYTES_MAX {
                        return Err(malformed("a header line is too long"));
                    }
                    let line = std::mem::take(&mut self.line);
                    pieces.extend(self.header(&line)?);
                }
            }
        }
        Ok(pieces)
    }

    /// Called once the stream has no more bytes.
    pub fn finish(&self) -> Result<(), SnapshotStreamError> {
        if self.ended {
            Ok(())
        } else if self.remaining > 0 {
            Err(SnapshotStreamError::Truncated(format!(
                "{} bytes of a part missing",
                self.remaining
            )))
        } else {
            Err(SnapshotStreamError::Truncated("no end line".into()))
        }
    }

    fn header(&mut self, line: &[u8]) -> Result<Option<Piece>, SnapshotStreamError> {
        let header: Header = serde_json::from_slice(line)
            .map_err(|error| malformed(format!("a header line: {error}")))?;
        match (header.path, header.bytes, header.end) {
            (None, None, Some(true)) => {
                match &self.expected {
                    None => return Err(malformed("the end line before the manifest")),
                    Some(expected) if !expected.is_empty() => {
                        return Err(SnapshotStreamError::Truncated(format!(
                            "{} parts the manifest names never came (first: {})",
                            expected.len(),
                            expected.keys().next().expect("not empty")
                        )));
                    }
                    Some(_) => {}
                }
                self.ended = true;
                Ok(Some(Piece::End))
            }
            (Some(path), Some(bytes), None) => {
                if !is_plain_relative(&path) {
                    return Err(malformed(format!(
                        "the part {path:?} is not a plain relative path"
                    )));
                }
                match &mut self.expected {
                    None => {
                        if path != MANIFEST_FILE {
                            return Err(malformed(format!(
                                "the first part must be {MANIFEST_FILE}, not {path}"
                            )));
                        }
                        if bytes == 0 || bytes > MANIFEST_BYTES_MAX {
                            return Err(malformed(format!(
                                "a manifest of {bytes} bytes (at most {MANIFEST_BYTES_MAX})"
                            )));
                        }
                        self.manifest_bytes = Some(Vec::new());
                    }
                    Some(expected) => match expected.remove(&path) {
                        Some(size) if size == bytes => {}
                        Some(size) => {
                            return Err(malformed(format!(
                                "{path} has {bytes} bytes, the manifest says {size}"
                            )));
                        }
                        None => {
                            return Err(malformed(format!(
                                "{path} is not named by the manifest, or came twice"
                            )));
                        }
                    },
                }
                self.remaining = bytes;
                Ok(Some(Piece::Begin { path, bytes }))
            }
            _ => Err(malformed(
                "a header names a part (path and bytes) or the end, not both",
            )),
        }
    }

    fn manifest_complete(&mut self) -> Result<(), SnapshotStreamError> {
        let bytes = self.manifest_bytes.take().expect("the manifest came");
        let manifest: BackupManifest = serde_json::from_slice(&bytes)
            .map_err(|error| malformed(format!("the manifest: {error}")))?;
        if manifest.files.len() > FILES_MAX {
            return Err(malformed(format!(
                "the manifest lists {} files (at most {FILES_MAX})",
                manifest.files.len()
            )));
        }
        let mut expected = BTreeMap::new();
        expected.insert(
            ymt_store::backup::STORE_BACKUP_FILE.to_owned(),
            manifest.store_bytes,
        );
        for file in &manifest.files {
            let path = format!("files/{}", file.path);
            if !is_plain_relative(&path) || expected.insert(path, file.bytes).is_some() {
                return Err(malformed(format!(
                    "the manifest names {:?} twice or outside the backup",
                    file.path
                )));
            }
        }
        self.expected = Some(expected);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn manifest(files: &[(&str, u64)], store_bytes: u64) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "format": "yimatong-backup/1",
            "taken_at": "2022-07-01T08:00:00Z",
            "store_entries": [],
            "store_bytes": store_bytes,
            "store_sha256": "00",
            "files": files.iter().map(|(path, bytes)| serde_json::json!({
                "path": path, "bytes": bytes, "sha256": "00"
            })).collect::<Vec<_>>(),
        }))
        .expect("JSON")
    }

    fn stream(parts: &[(&str, Vec<u8>)]) -> Vec<u8> {
        let mut out = Vec::new();
        for (path, bytes) in parts {
            out.extend(header_line(path, bytes.len() as u64));
            out.extend(bytes);
        }
        out.extend(END_LINE);
        out
    }

    fn good() -> Vec<u8> {
        stream(&[
            (MANIFEST_FILE, manifest(&[("keys/a", 3)], 5)),
            ("store.ymtbak", b"store".to_vec()),
            ("files/keys/a", b"abc".to_vec()),
        ])
    }

    /// What a whole stream read in chunks of `size` gives: the parts with
    /// their bytes, or the error.
    fn read(bytes: &[u8], size: usize) -> Result<Vec<(String, Vec<u8>)>, SnapshotStreamError> {
        let mut reader = SnapshotReader::new();
        let mut parts: Vec<(String, Vec<u8>)> = Vec::new();
        for chunk in bytes.chunks(size.max(1)) {
            for piece in reader.feed(chunk)? {
                match piece {
                    Piece::Begin { path, .. } => parts.push((path, Vec::new())),
                    Piece::Data(data) => parts.last_mut().expect("a part").1.extend(data),
                    Piece::End => {}
                }
            }
        }
        reader.finish()?;
        Ok(parts)
    }

    #[test]
    fn a_stream_is_read_whole_in_chunks_of_any_size() {
        for size in [1, 2, 7, 64, 100_000] {
            let parts = read(&good(), size).expect("a good stream");
            let names: Vec<&str> = parts.iter().map(|(path, _)| path.as_str()).collect();
            assert_eq!(names, ["backup.json", "store.ymtbak", "files/keys/a"]);
            assert_eq!(parts[2].1, b"abc");
        }
    }

    fn check(stream: Vec<u8>, expect: &str) {
        let error = read(&stream, 5).expect_err(expect);
        assert!(
            error.to_string().contains(expect),
            "{error} should say {expect:?}"
        );
    }

    #[test]
    fn a_peer_cannot_send_what_the_manifest_does_not_name_or_escape_the_directory() {
        let manifest_a = || manifest(&[("keys/a", 3)], 5);
        check(
            stream(&[("store.ymtbak", b"store".to_vec())]),
            "the first part must be backup.json",
        );
        check(
            stream(&[
                (MANIFEST_FILE, manifest_a()),
                ("store.ymtbak", b"store".to_vec()),
                ("files/keys/b", b"abc".to_vec()),
            ]),
            "not named by the manifest",
        );
        check(
            stream(&[
                (MANIFEST_FILE, manifest_a()),
                ("store.ymtbak", b"stor".to_vec()),
            ]),
            "the manifest says 5",
        );
        check(
            stream(&[(MANIFEST_FILE, manifest(&[("../../etc/passwd", 3)], 5))]),
            "outside the backup",
        );
        check(
            stream(&[(MANIFEST_FILE, manifest_a()), ("../x", b"abc".to_vec())]),
            "not a plain relative path",
        );
        check(
            stream(&[
                (MANIFEST_FILE, manifest_a()),
                ("store.ymtbak", b"store".to_vec()),
            ]),
            "never came",
        );
        let mut after_end = good();
        after_end.extend(b"x");
        check(after_end, "after the end line");
        let truncated = good();
        check(truncated[..truncated.len() - 1].to_vec(), "no end line");
        check(
            [header_line(MANIFEST_FILE, MANIFEST_BYTES_MAX + 1)].concat(),
            "a manifest of",
        );
        check(vec![b'{'; HEADER_BYTES_MAX + 2], "too long");
    }

    proptest! {
        /// Any bytes: an answer, never a panic, and never a part the
        /// manifest does not name.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048), size in 1usize..64) {
            let _ = read(&bytes, size);
        }

        /// A good stream cut anywhere is refused as ended early or
        /// malformed, never accepted.
        #[test]
        fn a_good_stream_cut_short_is_refused(cut in 0usize..200, size in 1usize..32) {
            let good = good();
            let cut = cut % good.len();
            prop_assert!(read(&good[..cut], size).is_err());
        }

        /// How the bytes are chunked changes nothing.
        #[test]
        fn a_good_stream_is_read_the_same_in_any_chunking(size in 1usize..300) {
            prop_assert_eq!(read(&good(), size).expect("good"), read(&good(), 1).expect("good"));
        }
    }
}
