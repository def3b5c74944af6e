//! The durable check-in log: `DIR/checkins/seg-NNNNNNNNNN.ymtc` segments.
//!
//! Check-ins are the one high-volume input of the platform (tens of millions
//! a day), so they bypass the generic event store: a segment is a 36-byte
//! header followed by blocks, each `[payload length u32][crc32c u32][payload]`
//! (little endian). A payload is one of
//! - new person ids (kind 1) or new venue ids (kind 2): `[kind u8][0u8; 3]
//!   [first dense number u32][count u32]` then `[len u8][bytes]` per id, in
//!   dense-number order, so a replay assigns the very same numbers;
//! - stays (kind 3): the same 12-byte prefix then 16 bytes per stay
//!   (`person u32, venue u32, enter u32, leave u32`, seconds after
//!   [`TIME_BASE_UNIX_SECS`]).
//!
//! Appends are fsynced before they return. On open, a block that is cut short
//! or fails its checksum at the end of the last segment is a torn write and is
//! truncated away; anywhere else it is corruption and an error. Imports and
//! purges write a whole new segment under a `.tmp` name and rename it, so they
//! are all or nothing; a purge's segment carries the BASE flag, which makes
//! every older segment obsolete (they are deleted, also on the next open if a
//! crash interrupted the deletion).

use std::fs::{self, File, OpenOptions};
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use crate::index::RawStay;
use crate::intern::Interner;
use crate::stay::TIME_BASE_UNIX_SECS;

pub const SEGMENT_MAGIC: [u8; 8] = *b"YMTCKLG1";
pub const SEGMENT_VERSION: u32 = 1;
const HEADER_BYTES: usize = 36;
const BLOCK_HEADER_BYTES: usize = 8;
const PAYLOAD_PREFIX_BYTES: usize = 12;
/// Larger length fields are corruption, never an allocation.
pub const BLOCK_PAYLOAD_MAX: usize = 16 << 20;
const STAYS_PER_BLOCK: usize = 1 << 16;
const IDS_PER_BLOCK: usize = 1 << 16;
/// Appends start a new segment once the current one is this large.
const SEGMENT_ROLL_BYTES: u64 = 1 << 30;
/// The segment replaces every older one.
pub const FLAG_BASE: u32 = 1;

const KIND_PERSONS: u8 = 1;
const KIND_VENUES: u8 = 2;
const KIND_STAYS: u8 = 3;
const STAY_BYTES: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: another process has this check-in log open for writing")]
    Locked { path: PathBuf },
    #[error("{path}: corrupt at byte {offset}: {reason}")]
    Corrupt {
        path: PathBuf,
        offset: u64,
        reason: String,
    },
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> LogError + '_ {
    move |source| LogError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What opening the log found and repaired.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    pub segments: usize,
    pub blocks: u64,
    pub bytes: u64,
    /// Bytes of a torn block cut from the end of the last segment.
    pub torn_bytes_truncated: u64,
    pub temp_files_removed: usize,
    pub superseded_segments_removed: usize,
}

/// The contents of the log: id tables and every stay, in log order.
#[derive(Debug, Default)]
pub struct LoadedLog {
    pub persons: Interner,
    pub venues: Interner,
    pub stays: Vec<RawStay>,
    pub recovery: RecoveryReport,
}

#[derive(Clone, Debug)]
struct Segment {
    seq: u64,
    path: PathBuf,
    len: u64,
}

/// An open log directory, ready for appends.
#[derive(Debug)]
pub struct CheckinLog {
    dir: PathBuf,
    segments: Vec<Segment>,
    /// An exclusive advisory lock on `checkins/LOCK`, held while the log is
    /// open for writing so two writers never pick the same segment name.
    _lock: Option<File>,
}

fn segment_name(seq: u64) -> String {
    format!("seg-{seq:010}.ymtc")
}

fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("seg-")?.strip_suffix(".ymtc")?;
    if digits.len() == 10 && digits.bytes().all(|b| b.is_ascii_digit()) {
        digits.parse().ok()
    } else {
        None
    }
}

fn encode_header(seq: u64, flags: u32) -> [u8; HEADER_BYTES] {
    let mut header = [0u8; HEADER_BYTES];
    header[0..8].copy_from_slice(&SEGMENT_MAGIC);
    header[8..12].copy_from_slice(&SEGMENT_VERSION.to_le_bytes());
    header[12..16].copy_from_slice(&flags.to_le_bytes());
    header[16..24].copy_from_slice(&seq.to_le_bytes());
    header[24..32].copy_from_slice(&TIME_BASE_UNIX_SECS.to_le_bytes());
    let crc = crc32c::crc32c(&header[..32]);
    header[32..36].copy_from_slice(&crc.to_le_bytes());
    header
}

/// Returns the flags of a valid header.
fn decode_header(path: &Path, header: &[u8; HEADER_BYTES], seq: u64) -> Result<u32, LogError> {
    let corrupt = |reason: &str| LogError::Corrupt {
        path: path.to_path_buf(),
        offset: 0,
        reason: reason.to_string(),
    };
    if header[0..8] != SEGMENT_MAGIC {
        return Err(corrupt("not a check-in segment (bad magic)"));
    }
    if crc32c::crc32c(&header[..32]) != u32::from_le_bytes(header[32..36].try_into().unwrap()) {
        return Err(corrupt("header checksum mismatch"));
    }
    let version = u32::from_le_bytes(header[8..12].try_into().unwrap());
    if version != SEGMENT_VERSION {
        return Err(corrupt(&format!("unsupported version {version}")));
    }
    if u64::from_le_bytes(header[16..24].try_into().unwrap()) != seq {
        return Err(corrupt("sequence number does not match the file name"));
    }
    if i64::from_le_bytes(header[24..32].try_into().unwrap()) != TIME_BASE_UNIX_SECS {
        return Err(corrupt("time base differs from this build's"));
    }
    Ok(u32::from_le_bytes(header[12..16].try_into().unwrap()))
}

fn sync_dir(dir: &Path) -> Result<(), LogError> {
    File::open(dir)
        .and_then(|handle| handle.sync_all())
        .map_err(io_error(dir))
}

/// Writes blocks for new ids and stays; returns the bytes written.
fn write_blocks<W: Write>(
    out: &mut W,
    persons: &Interner,
    persons_from: usize,
    venues: &Interner,
    venues_from: usize,
    stays: &[RawStay],
) -> std::io::Result<u64> {
    let mut written = 0u64;
    let mut payload: Vec<u8> = Vec::with_capacity(STAYS_PER_BLOCK * STAY_BYTES + 64);
    let mut emit = |payload: &[u8], out: &mut W| -> std::io::Result<()> {
        out.write_all(&(payload.len() as u32).to_le_bytes())?;
        out.write_all(&crc32c::crc32c(payload).to_le_bytes())?;
        out.write_all(payload)?;
        written += (BLOCK_HEADER_BYTES + payload.len()) as u64;
        Ok(())
    };
    for (kind, interner, from) in [
        (KIND_PERSONS, persons, persons_from),
        (KIND_VENUES, venues, venues_from),
    ] {
        let mut first = from;
        while first < interner.len() {
            let last = (first + IDS_PER_BLOCK).min(interner.len());
            payload.clear();
            payload.extend_from_slice(&[kind, 0, 0, 0]);
            payload.extend_from_slice(&(first as u32).to_le_bytes());
            payload.extend_from_slice(&((last - first) as u32).to_le_bytes());
            for number in first..last {
                let text = interner.resolve(number as u32);
                payload.push(text.len() as u8);
                payload.extend_from_slice(text.as_bytes());
            }
            emit(&payload, out)?;
            first = last;
        }
    }
    for chunk in stays.chunks(STAYS_PER_BLOCK) {
        payload.clear();
        payload.extend_from_slice(&[KIND_STAYS, 0, 0, 0]);
        payload.extend_from_slice(&0u32.to_le_bytes());
        payload.extend_from_slice(&(chunk.len() as u32).to_le_bytes());
        for stay in chunk {
            payload.extend_from_slice(&stay.person.to_le_bytes());
            payload.extend_from_slice(&stay.venue.to_le_bytes());
            payload.extend_from_slice(&stay.enter_rel.to_le_bytes());
            payload.extend_from_slice(&stay.leave_rel.to_le_bytes());
        }
        emit(&payload, out)?;
    }
    Ok(written)
}

/// Applies one checksummed payload; an error is corruption.
fn apply_payload(payload: &[u8], loaded: &mut LoadedLog) -> Result<(), String> {
    if payload.len() < PAYLOAD_PREFIX_BYTES {
        return Err("block shorter than its prefix".into());
    }
    let kind = payload[0];
    let first = u32::from_le_bytes(payload[4..8].try_into().unwrap()) as usize;
    let count = u32::from_le_bytes(payload[8..12].try_into().unwrap()) as usize;
    let body = &payload[PAYLOAD_PREFIX_BYTES..];
    match kind {
        KIND_PERSONS | KIND_VENUES => {
            let interner = if kind == KIND_PERSONS {
                &mut loaded.persons
            } else {
                &mut loaded.venues
            };
            if first != interner.len() {
                return Err(format!(
                    "id block starts at number {first}, expected {}",
                    interner.len()
                ));
            }
            let mut rest = body;
            let mut texts: Vec<&str> = Vec::with_capacity(count);
            for _ in 0..count {
                let (&len, tail) = rest.split_first().ok_or("id block cut short")?;
                let len = len as usize;
                if len == 0 || tail.len() < len {
                    return Err("id block cut short".into());
                }
                let text = std::str::from_utf8(&tail[..len]).map_err(|_| "id is not UTF-8")?;
                let valid = if kind == KIND_PERSONS {
                    ymt_core::PersonId::parse(text).is_ok()
                } else {
                    ymt_core::VenueId::parse(text).is_ok()
                };
                if !valid {
                    return Err(format!("invalid id {text:?}"));
                }
                texts.push(text);
                rest = &tail[len..];
            }
            if !rest.is_empty() {
                return Err("trailing bytes in id block".into());
            }
            let mut numbers = Vec::with_capacity(count);
            interner
                .intern_batch(&texts, &mut numbers)
                .map_err(|error| error.to_string())?;
            if numbers
                .iter()
                .enumerate()
                .any(|(at, &number)| number as usize != first + at)
            {
                return Err("an id is defined twice".into());
            }
        }
        KIND_STAYS => {
            if body.len() != count * STAY_BYTES {
                return Err("stay block length does not match its count".into());
            }
            let persons = loaded.persons.len() as u32;
            let venues = loaded.venues.len() as u32;
            loaded.stays.reserve(count);
            for record in body.chunks_exact(STAY_BYTES) {
                let field = |at: usize| u32::from_le_bytes(record[at..at + 4].try_into().unwrap());
                let stay = RawStay {
                    person: field(0),
                    venue: field(4),
                    enter_rel: field(8),
                    leave_rel: field(12),
                };
                if stay.person >= persons || stay.venue >= venues {
                    return Err("stay refers to an undefined id".into());
                }
                if stay.leave_rel < stay.enter_rel {
                    return Err("stay leaves before it enters".into());
                }
                loaded.stays.push(stay);
            }
        }
        other => return Err(format!("unknown block kind {other}")),
    }
    Ok(())
}

/// How a segment's replay ended.
enum Replay {
    Complete,
    /// A torn block starts at this offset.
    TornAt(u64, String),
}

fn replay_segment(path: &Path, loaded: &mut LoadedLog) -> Result<Replay, LogError> {
    let file = File::open(path).map_err(io_error(path))?;
    let file_len = file.metadata().map_err(io_error(path))?.len();
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut header = [0u8; HEADER_BYTES];
    reader.read_exact(&mut header).map_err(io_error(path))?;
    let mut offset = HEADER_BYTES as u64;
    let mut payload: Vec<u8> = Vec::new();
    loop {
        if offset == file_len {
            return Ok(Replay::Complete);
        }
        if file_len - offset < BLOCK_HEADER_BYTES as u64 {
            return Ok(Replay::TornAt(offset, "block header cut short".into()));
        }
        let mut block_header = [0u8; BLOCK_HEADER_BYTES];
        reader
            .read_exact(&mut block_header)
            .map_err(io_error(path))?;
        let len = u32::from_le_bytes(block_header[0..4].try_into().unwrap()) as usize;
        let crc = u32::from_le_bytes(block_header[4..8].try_into().unwrap());
        if len > BLOCK_PAYLOAD_MAX {
            return Ok(Replay::TornAt(
                offset,
                format!("block length {len} too large"),
            ));
        }
        if file_len - offset - (BLOCK_HEADER_BYTES as u64) < len as u64 {
            return Ok(Replay::TornAt(offset, "block cut short".into()));
        }
        payload.resize(len, 0);
        reader.read_exact(&mut payload).map_err(io_error(path))?;
        if crc32c::crc32c(&payload) != crc {
            return Ok(Replay::TornAt(offset, "block checksum mismatch".into()));
        }
        apply_payload(&payload, loaded).map_err(|reason| LogError::Corrupt {
            path: path.to_path_buf(),
            offset,
            reason,
        })?;
        loaded.recovery.blocks += 1;
        offset += (BLOCK_HEADER_BYTES + len) as u64;
    }
}

impl CheckinLog {
    pub fn checkins_dir(data_dir: &Path) -> PathBuf {
        data_dir.join("checkins")
    }

    /// Opens (creating if needed) the log under `data_dir/checkins`, repairs a
    /// torn tail and loads everything.
    pub fn open(data_dir: &Path) -> Result<(CheckinLog, LoadedLog), LogError> {
        CheckinLog::open_with(data_dir, true)
    }

    /// Loads the log without changing any file: a torn tail is ignored, not
    /// truncated, and a missing directory is an empty log.
    pub fn load_read_only(data_dir: &Path) -> Result<LoadedLog, LogError> {
        CheckinLog::open_with(data_dir, false).map(|(_, loaded)| loaded)
    }

    fn open_with(data_dir: &Path, repair: bool) -> Result<(CheckinLog, LoadedLog), LogError> {
        let dir = CheckinLog::checkins_dir(data_dir);
        let mut loaded = LoadedLog::default();
        if repair {
            fs::create_dir_all(&dir).map_err(io_error(&dir))?;
        } else if !dir.exists() {
            return Ok((
                CheckinLog {
                    dir,
                    segments: Vec::new(),
                    _lock: None,
                },
                loaded,
            ));
        }
        let lock = if repair {
            let lock_path = dir.join("LOCK");
            let lock = OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&lock_path)
                .map_err(io_error(&lock_path))?;
            match lock.try_lock() {
                Ok(()) => Some(lock),
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(LogError::Locked { path: dir });
                }
                Err(std::fs::TryLockError::Error(source)) => {
                    return Err(LogError::Io {
                        path: lock_path,
                        source,
                    });
                }
            }
        } else {
            None
        };
        let mut segments: Vec<Segment> = Vec::new();
        for entry in fs::read_dir(&dir).map_err(io_error(&dir))? {
            let entry = entry.map_err(io_error(&dir))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let path = entry.path();
            if name.ends_with(".tmp") {
                if repair {
                    fs::remove_file(&path).map_err(io_error(&path))?;
                    loaded.recovery.temp_files_removed += 1;
                }
            } else if let Some(seq) = parse_segment_name(name) {
                let len = entry.metadata().map_err(io_error(&path))?.len();
                segments.push(Segment { seq, path, len });
            }
        }
        segments.sort_by_key(|segment| segment.seq);
        let mut base_index = 0;
        for (index, segment) in segments.iter().enumerate() {
            let mut header = [0u8; HEADER_BYTES];
            File::open(&segment.path)
                .and_then(|mut file| file.read_exact(&mut header))
                .map_err(|source| {
                    if source.kind() == std::io::ErrorKind::UnexpectedEof {
                        LogError::Corrupt {
                            path: segment.path.clone(),
                            offset: 0,
                            reason: "header cut short".into(),
                        }
                    } else {
                        LogError::Io {
                            path: segment.path.clone(),
                            source,
                        }
                    }
                })?;
            let flags = decode_header(&segment.path, &header, segment.seq)?;
            if flags & FLAG_BASE != 0 {
                base_index = index;
            }
        }
        let superseded: Vec<Segment> = segments.drain(..base_index).collect();
        if repair && !superseded.is_empty() {
            for segment in &superseded {
                fs::remove_file(&segment.path).map_err(io_error(&segment.path))?;
            }
            sync_dir(&dir)?;
            loaded.recovery.superseded_segments_removed = superseded.len();
        }
        let segment_count = segments.len();
        for (index, segment) in segments.iter_mut().enumerate() {
            match replay_segment(&segment.path, &mut loaded)? {
                Replay::Complete => {}
                Replay::TornAt(offset, reason) => {
                    if index + 1 != segment_count {
                        return Err(LogError::Corrupt {
                            path: segment.path.clone(),
                            offset,
                            reason,
                        });
                    }
                    loaded.recovery.torn_bytes_truncated = segment.len - offset;
                    if repair {
                        let file = OpenOptions::new()
                            .write(true)
                            .open(&segment.path)
                            .map_err(io_error(&segment.path))?;
                        file.set_len(offset).map_err(io_error(&segment.path))?;
                        file.sync_all().map_err(io_error(&segment.path))?;
                    }
                    segment.len = offset;
                }
            }
        }
        loaded.recovery.segments = segments.len();
        loaded.recovery.bytes = segments.iter().map(|segment| segment.len).sum();
        Ok((
            CheckinLog {
                dir,
                segments,
                _lock: lock,
            },
            loaded,
        ))
    }

    /// Total bytes of the live segments.
    pub fn bytes(&self) -> u64 {
        self.segments.iter().map(|segment| segment.len).sum()
    }

    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    fn next_seq(&self) -> u64 {
        self.segments.last().map_or(1, |segment| segment.seq + 1)
    }

    /// Appends new ids (numbers `persons_from..` and `venues_from..`) and
    /// stays to the last segment and fsyncs. On error the segment is cut back
    /// to where it was, so a failed append leaves no partial block behind.
    pub fn append(
        &mut self,
        persons: &Interner,
        persons_from: usize,
        venues: &Interner,
        venues_from: usize,
        stays: &[RawStay],
    ) -> Result<u64, LogError> {
        let needs_new = self
            .segments
            .last()
            .is_none_or(|segment| segment.len >= SEGMENT_ROLL_BYTES);
        if needs_new {
            return self.write_segment(0, persons, persons_from, venues, venues_from, stays);
        }
        let segment = self.segments.last_mut().expect("checked above");
        let path = segment.path.clone();
        let file = OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(io_error(&path))?;
        let mut writer = BufWriter::with_capacity(1 << 20, file);
        let outcome = write_blocks(
            &mut writer,
            persons,
            persons_from,
            venues,
            venues_from,
            stays,
        )
        .and_then(|written| {
            let file = writer.into_inner().map_err(|error| error.into_error())?;
            file.sync_data()?;
            Ok(written)
        });
        match outcome {
            Ok(written) => {
                segment.len += written;
                Ok(written)
            }
            Err(source) => {
                if let Ok(file) = OpenOptions::new().write(true).open(&path) {
                    let _ = file.set_len(segment.len).and_then(|()| file.sync_all());
                }
                Err(LogError::Io { path, source })
            }
        }
    }

    /// Writes a whole new segment atomically (temp file, fsync, rename, fsync
    /// of the directory). With [`FLAG_BASE`] it replaces every older segment.
    pub fn write_segment(
        &mut self,
        flags: u32,
        persons: &Interner,
        persons_from: usize,
        venues: &Interner,
        venues_from: usize,
        stays: &[RawStay],
    ) -> Result<u64, LogError> {
        let seq = self.next_seq();
        let path = self.dir.join(segment_name(seq));
        let temp_path = self.dir.join(format!("{}.tmp", segment_name(seq)));
        let write = || -> std::io::Result<u64> {
            let file = File::create(&temp_path)?;
            let mut writer = BufWriter::with_capacity(1 << 20, file);
            writer.write_all(&encode_header(seq, flags))?;
            let written = write_blocks(
                &mut writer,
                persons,
                persons_from,
                venues,
                venues_from,
                stays,
            )?;
            let file = writer.into_inner().map_err(|error| error.into_error())?;
            file.sync_all()?;
            Ok(HEADER_BYTES as u64 + written)
        };
        let len = match write() {
            Ok(len) => len,
            Err(source) => {
                let _ = fs::remove_file(&temp_path);
                return Err(LogError::Io {
                    path: temp_path,
                    source,
                });
            }
        };
        fs::rename(&temp_path, &path).map_err(io_error(&path))?;
        sync_dir(&self.dir)?;
        if flags & FLAG_BASE != 0 {
            for old in self.segments.drain(..) {
                fs::remove_file(&old.path).map_err(io_error(&old.path))?;
            }
            sync_dir(&self.dir)?;
        }
        self.segments.push(Segment { seq, path, len });
        Ok(len)
    }
}
