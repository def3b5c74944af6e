//! The whole index as bytes, so a node restarts from one bulk decode instead
//! of replaying the check-in log: 20 million check-ins of a million persons
//! restore in about 0.6 CPU seconds (see `examples/snapshot_restore.rs`).
//!
//! Layout, every integer little-endian:
//!
//! ```text
//! header   magic "YMTTRIDX" (8 bytes), format version u32, body length u64
//! body     parameters   time base i64, stay classes u32, pending_min u64
//!          persons      id table
//!          venues       id table
//!          main run     run
//!          delta run    run
//!          pending      count u64, count × (person, venue, enter, leave) u32
//! trailer  xxh3-64 of header and body, u64
//!
//! id table count u64, count × end offset u64 (cumulative, in number order),
//!          blob length u64, blob (the ids concatenated)
//! run      group offsets: count u64, count × u32
//!          longest stay per group: count u64, count × u32
//!          stays: count u64, count × (enter, leave, person) u32
//!          person offsets: count u64, count × u32
//!          person positions: count u64, count × u32
//! ```
//!
//! Every array is a count followed by fixed-size items, so it decodes in one
//! tight loop with one allocation. Ids are one blob plus offsets, and the
//! interners rebuild their hash tables in bulk ([`Interner::from_distinct`]).
//! A run's person→positions table could be derived from its stays, but it is
//! stored: checking it is one gather over the stays (about 0.25 s for 20
//! million), while rebuilding it is a scatter that took 0.7 to 1.7 s, most of
//! a restore.
//!
//! The checksum catches a corrupt or cut-off file. The body is still decoded
//! as untrusted input (the checksum is not a signature): every count is
//! checked against the bytes left before anything is allocated, and every
//! invariant the queries rely on is checked, so a snapshot either restores
//! an index whose queries cannot panic or is refused with a
//! [`SnapshotError`].

use std::io::{self, Write};

use rayon::prelude::*;
use xxhash_rust::xxh3::{Xxh3Default, xxh3_64};
use ymt_core::{IdError, PersonId, VenueId};

use super::{RawStay, Run, STAY_CLASSES, STAYS_MAX, StayRecord, TraceIndex};
use crate::intern::{FromDistinctError, Interner};
use crate::stay::TIME_BASE_UNIX_SECS;

/// The first bytes of every snapshot.
pub const SNAPSHOT_MAGIC: [u8; 8] = *b"YMTTRIDX";

/// The layout this build writes and reads; any other version is refused, and
/// the caller falls back to rebuilding from the log.
pub const SNAPSHOT_FORMAT_VERSION: u32 = 1;

const HEADER_BYTES: usize = SNAPSHOT_MAGIC.len() + 4 + 8;
const TRAILER_BYTES: usize = 8;
const STAY_RECORD_BYTES: usize = 12;
const RAW_STAY_BYTES: usize = 16;

/// Below this many items a decode or check runs on one thread, since
/// splitting would cost more than it saves.
const PARALLEL_ITEMS_MIN: usize = 1 << 14;

/// The writer hands bytes to the output in pieces of about this size, so a
/// large index is streamed without a second copy of it in memory.
const WRITE_BUFFER_BYTES: usize = 1 << 16;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    #[error(
        "{len_bytes} bytes are too few for a trace index snapshot (its header alone takes {HEADER_BYTES})"
    )]
    TooShort { len_bytes: usize },
    #[error("not a trace index snapshot (its first bytes are {found:02x?})")]
    BadMagic { found: [u8; 8] },
    #[error(
        "snapshot format version {found} is not supported (this build reads version {SNAPSHOT_FORMAT_VERSION})"
    )]
    UnsupportedVersion { found: u32 },
    #[error(
        "snapshot is truncated: its header announces {expected_bytes} bytes, only {actual_bytes} are present"
    )]
    Truncated {
        expected_bytes: u64,
        actual_bytes: usize,
    },
    #[error(
        "snapshot is followed by extra bytes: its header announces {expected_bytes} bytes, {actual_bytes} are present"
    )]
    TrailingBytes {
        expected_bytes: u64,
        actual_bytes: usize,
    },
    #[error(
        "snapshot checksum mismatch (stored {stored:#018x}, computed {computed:#018x}): the snapshot is corrupt"
    )]
    ChecksumMismatch { stored: u64, computed: u64 },
    #[error("snapshot was written with {parameter} = {found}, this build uses {expected}")]
    ParameterMismatch {
        parameter: &'static str,
        found: i64,
        expected: i64,
    },
    #[error(
        "snapshot section {section} needs {needed_bytes} more bytes, only {remaining_bytes} are left"
    )]
    Overrun {
        section: &'static str,
        needed_bytes: u64,
        remaining_bytes: usize,
    },
    #[error("snapshot section {section}: id number {number} is invalid: {error}")]
    InvalidId {
        section: &'static str,
        number: usize,
        error: IdError,
    },
    #[error("snapshot section {section}: id number {number} repeats id number {first}")]
    DuplicateId {
        section: &'static str,
        number: u32,
        first: u32,
    },
    #[error("snapshot section {section} is inconsistent: {reason}")]
    Inconsistent {
        section: &'static str,
        reason: &'static str,
    },
}

impl TraceIndex {
    /// The snapshot of the index as one byte vector (see the module
    /// documentation for the layout). To write a large index to a file
    /// without holding a copy in memory, use [`TraceIndex::write_snapshot`].
    pub fn to_snapshot_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(self.snapshot_len_bytes() as usize);
        self.write_snapshot(&mut bytes)
            .expect("a Vec takes every write, and the announced length is what is written");
        bytes
    }

    /// Streams the snapshot to `out` in pieces of about 64 KiB, hashing as
    /// it goes, so the snapshot is never held in memory whole. `out` gets
    /// exactly the bytes of [`TraceIndex::to_snapshot_bytes`].
    pub fn write_snapshot(&self, out: &mut impl Write) -> io::Result<()> {
        let body_len_bytes = self.snapshot_len_bytes() - (HEADER_BYTES + TRAILER_BYTES) as u64;
        let mut writer = HashingWriter {
            out,
            hasher: Xxh3Default::new(),
            buffer: Vec::with_capacity(WRITE_BUFFER_BYTES),
            written_bytes: 0,
        };
        writer.put(&SNAPSHOT_MAGIC)?;
        writer.put(&SNAPSHOT_FORMAT_VERSION.to_le_bytes())?;
        writer.put(&body_len_bytes.to_le_bytes())?;

        writer.put(&TIME_BASE_UNIX_SECS.to_le_bytes())?;
        writer.put(&(STAY_CLASSES as u32).to_le_bytes())?;
        writer.put(&(self.pending_min as u64).to_le_bytes())?;
        write_id_table(&mut writer, &self.persons)?;
        write_id_table(&mut writer, &self.venues)?;
        write_run(&mut writer, &self.main)?;
        write_run(&mut writer, &self.delta)?;
        writer.put_items(&self.pending, |stay, buffer| {
            for value in [stay.person, stay.venue, stay.enter_rel, stay.leave_rel] {
                buffer.extend_from_slice(&value.to_le_bytes());
            }
        })?;
        writer.finish(HEADER_BYTES as u64 + body_len_bytes)
    }

    /// Restores an index from [`TraceIndex::to_snapshot_bytes`]: the same
    /// id numbering, runs, pending buffer and merge threshold, so it answers
    /// every query and takes every later append exactly as the original.
    /// Refuses anything else with an error: it never panics, and allocates
    /// only in proportion to the bytes actually present.
    pub fn from_snapshot_bytes(bytes: &[u8]) -> Result<TraceIndex, SnapshotError> {
        let body = check_frame(bytes)?;
        let mut reader = Reader { rest: body };

        let section = "parameters";
        let time_base_unix_secs = i64::from_le_bytes(reader.fixed(section)?);
        if time_base_unix_secs != TIME_BASE_UNIX_SECS {
            return Err(SnapshotError::ParameterMismatch {
                parameter: "time base (unix seconds)",
                found: time_base_unix_secs,
                expected: TIME_BASE_UNIX_SECS,
            });
        }
        let stay_classes = u32::from_le_bytes(reader.fixed(section)?);
        if stay_classes as usize != STAY_CLASSES {
            return Err(SnapshotError::ParameterMismatch {
                parameter: "stay classes",
                found: stay_classes.into(),
                expected: STAY_CLASSES as i64,
            });
        }
        let pending_min = u64::from_le_bytes(reader.fixed(section)?);
        let pending_min = usize::try_from(pending_min)
            .ok()
            .filter(|&pending_min| pending_min > 0)
            .ok_or(SnapshotError::Inconsistent {
                section,
                reason: "the pending buffer's merge threshold is 0 or out of range",
            })?;

        let persons = read_id_table(&mut reader, "persons", |id| PersonId::parse(id).map(drop))?;
        let venues = read_id_table(&mut reader, "venues", |id| VenueId::parse(id).map(drop))?;
        let main = read_run(&mut reader, "main run", persons.len(), venues.len())?;
        let delta = read_run(&mut reader, "delta run", persons.len(), venues.len())?;
        let pending = read_pending(&mut reader, persons.len(), venues.len())?;
        if !reader.rest.is_empty() {
            return Err(SnapshotError::Inconsistent {
                section: "body",
                reason: "bytes follow the last section",
            });
        }
        if main.len() + delta.len() + pending.len() > STAYS_MAX {
            return Err(SnapshotError::Inconsistent {
                section: "body",
                reason: "more stays than the index can address",
            });
        }
        Ok(TraceIndex {
            persons,
            venues,
            main,
            delta,
            pending,
            pending_min,
        })
    }

    /// The exact size of the snapshot, so the header can announce it before
    /// the body is streamed.
    fn snapshot_len_bytes(&self) -> u64 {
        let id_table_bytes = |ids: &Interner| {
            8 + 8 * ids.len() as u64 + 8 + ids.iter().map(|id| id.len() as u64).sum::<u64>()
        };
        let run_bytes = |run: &Run| {
            8 + 4 * run.group_offsets.len() as u64
                + 8
                + 4 * run.group_stay_max_secs.len() as u64
                + 8
                + (STAY_RECORD_BYTES * run.stays.len()) as u64
                + 8
                + 4 * run.person_offsets.len() as u64
                + 8
                + 4 * run.person_positions.len() as u64
        };
        let parameters_bytes = 8 + 4 + 8;
        (HEADER_BYTES + TRAILER_BYTES) as u64
            + parameters_bytes
            + id_table_bytes(&self.persons)
            + id_table_bytes(&self.venues)
            + run_bytes(&self.main)
            + run_bytes(&self.delta)
            + 8
            + (RAW_STAY_BYTES * self.pending.len()) as u64
    }
}

fn write_id_table<W: Write>(writer: &mut HashingWriter<'_, W>, ids: &Interner) -> io::Result<()> {
    writer.put(&(ids.len() as u64).to_le_bytes())?;
    let mut end_bytes = 0u64;
    for id in ids.iter() {
        end_bytes += id.len() as u64;
        writer.put(&end_bytes.to_le_bytes())?;
    }
    writer.put(&end_bytes.to_le_bytes())?;
    for id in ids.iter() {
        writer.put(id.as_bytes())?;
    }
    Ok(())
}

fn write_run<W: Write>(writer: &mut HashingWriter<'_, W>, run: &Run) -> io::Result<()> {
    let put_u32 =
        |value: &u32, buffer: &mut Vec<u8>| buffer.extend_from_slice(&value.to_le_bytes());
    writer.put_items(&run.group_offsets, put_u32)?;
    writer.put_items(&run.group_stay_max_secs, put_u32)?;
    writer.put_items(&run.stays, |stay, buffer| {
        for value in [stay.enter_rel, stay.leave_rel, stay.person] {
            buffer.extend_from_slice(&value.to_le_bytes());
        }
    })?;
    writer.put_items(&run.person_offsets, put_u32)?;
    writer.put_items(&run.person_positions, put_u32)
}

/// Writes through a buffer and hashes everything written, so the trailer's
/// checksum needs no second pass over the index.
struct HashingWriter<'a, W: Write> {
    out: &'a mut W,
    hasher: Xxh3Default,
    buffer: Vec<u8>,
    written_bytes: u64,
}

impl<W: Write> HashingWriter<'_, W> {
    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        if self.buffer.len() + bytes.len() > WRITE_BUFFER_BYTES {
            self.flush()?;
        }
        self.buffer.extend_from_slice(bytes);
        Ok(())
    }

    /// Writes the count of `items`, then each item as `encode` lays it out.
    fn put_items<T>(&mut self, items: &[T], encode: impl Fn(&T, &mut Vec<u8>)) -> io::Result<()> {
        self.put(&(items.len() as u64).to_le_bytes())?;
        // Items are at most 16 bytes, so a quarter of the buffer's worth of
        // them never makes it grow.
        for chunk in items.chunks(WRITE_BUFFER_BYTES / 64) {
            if self.buffer.len() > WRITE_BUFFER_BYTES / 2 {
                self.flush()?;
            }
            for item in chunk {
                encode(item, &mut self.buffer);
            }
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.hasher.update(&self.buffer);
        self.out.write_all(&self.buffer)?;
        self.written_bytes += self.buffer.len() as u64;
        self.buffer.clear();
        Ok(())
    }

    /// Writes the trailer. A body whose size differs from what the header
    /// announced would be refused on restore, so it is reported here instead.
    fn finish(mut self, expected_bytes: u64) -> io::Result<()> {
        self.flush()?;
        if self.written_bytes != expected_bytes {
            return Err(io::Error::other(format!(
                "trace index snapshot: wrote {} bytes, announced {expected_bytes}",
                self.written_bytes
            )));
        }
        self.out.write_all(&self.hasher.digest().to_le_bytes())
    }
}

/// Checks magic, version, length and checksum; returns the body.
fn check_frame(bytes: &[u8]) -> Result<&[u8], SnapshotError> {
    let too_short = SnapshotError::TooShort {
        len_bytes: bytes.len(),
    };
    let Some((header, _)) = bytes.split_first_chunk::<HEADER_BYTES>() else {
        return Err(too_short);
    };
    let Some((magic, rest)) = header.split_first_chunk::<8>() else {
        return Err(too_short);
    };
    if *magic != SNAPSHOT_MAGIC {
        return Err(SnapshotError::BadMagic { found: *magic });
    }
    let Some((version, rest)) = rest.split_first_chunk::<4>() else {
        return Err(too_short);
    };
    let version = u32::from_le_bytes(*version);
    if version != SNAPSHOT_FORMAT_VERSION {
        return Err(SnapshotError::UnsupportedVersion { found: version });
    }
    let Some((body_len_bytes, _)) = rest.split_first_chunk::<8>() else {
        return Err(too_short);
    };
    let expected_bytes =
        u64::from_le_bytes(*body_len_bytes).saturating_add((HEADER_BYTES + TRAILER_BYTES) as u64);
    if (bytes.len() as u64) < expected_bytes {
        return Err(SnapshotError::Truncated {
            expected_bytes,
            actual_bytes: bytes.len(),
        });
    }
    if bytes.len() as u64 > expected_bytes {
        return Err(SnapshotError::TrailingBytes {
            expected_bytes,
            actual_bytes: bytes.len(),
        });
    }
    let Some((covered, trailer)) = bytes.split_last_chunk::<TRAILER_BYTES>() else {
        return Err(too_short);
    };
    let stored = u64::from_le_bytes(*trailer);
    let computed = xxh3_64(covered);
    if stored != computed {
        return Err(SnapshotError::ChecksumMismatch { stored, computed });
    }
    Ok(&covered[HEADER_BYTES..])
}

/// Reads the body front to back.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn fixed<const N: usize>(&mut self, section: &'static str) -> Result<[u8; N], SnapshotError> {
        let Some((bytes, rest)) = self.rest.split_first_chunk::<N>() else {
            return Err(SnapshotError::Overrun {
                section,
                needed_bytes: N as u64,
                remaining_bytes: self.rest.len(),
            });
        };
        self.rest = rest;
        Ok(*bytes)
    }

    /// A count-prefixed array of `item_bytes`-byte items, as raw bytes. The
    /// count is checked against the bytes left before the caller allocates
    /// for it, so a corrupt count cannot ask for a huge allocation.
    fn array(
        &mut self,
        section: &'static str,
        item_bytes: usize,
    ) -> Result<&'a [u8], SnapshotError> {
        let count = u64::from_le_bytes(self.fixed(section)?);
        let needed_bytes = count.saturating_mul(item_bytes as u64);
        if needed_bytes > self.rest.len() as u64 {
            return Err(SnapshotError::Overrun {
                section,
                needed_bytes,
                remaining_bytes: self.rest.len(),
            });
        }
        let (array, rest) = self.rest.split_at(needed_bytes as usize);
        self.rest = rest;
        Ok(array)
    }
}

fn decode_u32s(bytes: &[u8]) -> Vec<u32> {
    let (words, _) = bytes.as_chunks::<4>();
    words.iter().map(|word| u32::from_le_bytes(*word)).collect()
}

fn decode_stays(bytes: &[u8]) -> Vec<StayRecord> {
    let (records, _) = bytes.as_chunks::<STAY_RECORD_BYTES>();
    // Sized up front: a bare parallel collect rounds a small vector up.
    let mut stays = Vec::with_capacity(records.len());
    records
        .par_iter()
        .with_min_len(PARALLEL_ITEMS_MIN)
        .map(|record| {
            let [e0, e1, e2, e3, l0, l1, l2, l3, p0, p1, p2, p3] = *record;
            StayRecord {
                enter_rel: u32::from_le_bytes([e0, e1, e2, e3]),
                leave_rel: u32::from_le_bytes([l0, l1, l2, l3]),
                person: u32::from_le_bytes([p0, p1, p2, p3]),
            }
        })
        .collect_into_vec(&mut stays);
    stays
}

fn decode_raw_stays(bytes: &[u8]) -> Vec<RawStay> {
    let (records, _) = bytes.as_chunks::<RAW_STAY_BYTES>();
    records
        .iter()
        .map(|record| {
            let [
                p0,
                p1,
                p2,
                p3,
                v0,
                v1,
                v2,
                v3,
                e0,
                e1,
                e2,
                e3,
                l0,
                l1,
                l2,
                l3,
            ] = *record;
            RawStay {
                person: u32::from_le_bytes([p0, p1, p2, p3]),
                venue: u32::from_le_bytes([v0, v1, v2, v3]),
                enter_rel: u32::from_le_bytes([e0, e1, e2, e3]),
                leave_rel: u32::from_le_bytes([l0, l1, l2, l3]),
            }
        })
        .collect()
}

/// Reads one id table. `check_id` holds each id to the rules it passed when
/// it was first interned, since the index turns numbers back into typed ids
/// and would otherwise have to panic on a bad one.
fn read_id_table(
    reader: &mut Reader<'_>,
    section: &'static str,
    check_id: impl Fn(&str) -> Result<(), IdError> + Sync,
) -> Result<Interner, SnapshotError> {
    let inconsistent = |reason| SnapshotError::Inconsistent { section, reason };
    let end_offsets = reader.array(section, 8)?;
    let blob = reader.array(section, 1)?;
    let blob = std::str::from_utf8(blob).map_err(|_| inconsistent("the ids are not UTF-8"))?;
    let (end_offsets, _) = end_offsets.as_chunks::<8>();
    let mut ids: Vec<&str> = Vec::with_capacity(end_offsets.len());
    let mut start = 0usize;
    for end in end_offsets {
        let id = usize::try_from(u64::from_le_bytes(*end))
            .ok()
            .and_then(|end| Some((end, blob.get(start..end)?)));
        let Some((end, id)) = id else {
            return Err(inconsistent(
                "the id offsets decrease, leave the id bytes or split a character",
            ));
        };
        ids.push(id);
        start = end;
    }
    if start != blob.len() {
        return Err(inconsistent("the id bytes go on after the last id"));
    }
    ids.par_iter()
        .enumerate()
        .with_min_len(PARALLEL_ITEMS_MIN)
        .try_for_each(|(number, id)| {
            check_id(id).map_err(|error| SnapshotError::InvalidId {
                section,
                number,
                error,
            })
        })?;
    Interner::from_distinct(&ids).map_err(|error| match error {
        FromDistinctError::Duplicate { number, first } => SnapshotError::DuplicateId {
            section,
            number,
            first,
        },
        FromDistinctError::Intern(_) => inconsistent("more ids than an id table holds"),
    })
}

/// Reads one run and checks every invariant the queries rely on: groups
/// partition the stays and name known venues; each group is sorted by enter
/// and holds no stay longer than its recorded longest (the bound tracing
/// searches back by); every stay names a person of the run's person table;
/// and that table lists, for each person, exactly the positions of their
/// stays in increasing order (as [`Run::build`] makes it).
fn read_run(
    reader: &mut Reader<'_>,
    section: &'static str,
    person_count: usize,
    venue_count: usize,
) -> Result<Run, SnapshotError> {
    let inconsistent = |reason| SnapshotError::Inconsistent { section, reason };
    let group_offsets = decode_u32s(reader.array(section, 4)?);
    let group_stay_max_secs = decode_u32s(reader.array(section, 4)?);
    let stays = decode_stays(reader.array(section, STAY_RECORD_BYTES)?);
    let person_offsets = decode_u32s(reader.array(section, 4)?);
    let person_positions = decode_u32s(reader.array(section, 4)?);

    // A run that was never built (`Run::default`) has no groups and no
    // person table; a built one has both, sized for the ids of its time.
    if !offsets_partition(&group_offsets, stays.len()) {
        return Err(inconsistent("the group offsets do not partition the stays"));
    }
    let group_count = group_offsets.len().saturating_sub(1);
    if !group_count.is_multiple_of(STAY_CLASSES) || group_count / STAY_CLASSES > venue_count {
        return Err(inconsistent("the groups do not match the venues"));
    }
    if group_stay_max_secs.len() != group_count {
        return Err(inconsistent("not one longest stay per group"));
    }
    if person_offsets.len() > person_count + 1 {
        return Err(inconsistent(
            "the person table is longer than the person ids",
        ));
    }
    if person_positions.len() != stays.len()
        || !offsets_partition(&person_offsets, person_positions.len())
    {
        return Err(inconsistent(
            "the person table does not partition the stays",
        ));
    }
    let run_person_count = person_offsets.len().saturating_sub(1);
    (0..group_count)
        .into_par_iter()
        .with_min_len(PARALLEL_ITEMS_MIN / 64)
        .try_for_each(|group| {
            let group_stays =
                &stays[group_offsets[group] as usize..group_offsets[group + 1] as usize];
            let longest_secs = group_stay_max_secs[group];
            let mut enter_previous_rel = 0;
            for stay in group_stays {
                if stay.leave_rel < stay.enter_rel {
                    return Err(inconsistent("a stay leaves before it enters"));
                }
                if stay.leave_rel - stay.enter_rel > longest_secs {
                    return Err(inconsistent("a stay is longer than its group's longest"));
                }
                if stay.enter_rel < enter_previous_rel {
                    return Err(inconsistent("a group is not sorted by enter"));
                }
                if stay.person as usize >= run_person_count {
                    return Err(inconsistent("a stay names a person the run does not know"));
                }
                enter_previous_rel = stay.enter_rel;
            }
            Ok(())
        })?;
    // Each person's positions increase and point at stays of that person, so
    // they are distinct across all persons; as there are as many as stays,
    // every stay is listed exactly once, under its own person.
    (0..run_person_count)
        .into_par_iter()
        .with_min_len(PARALLEL_ITEMS_MIN / 16)
        .try_for_each(|person| {
            let positions = &person_positions
                [person_offsets[person] as usize..person_offsets[person + 1] as usize];
            let increasing = positions.windows(2).all(|pair| pair[0] < pair[1]);
            let own = positions.iter().all(|&position| {
                stays
                    .get(position as usize)
                    .is_some_and(|stay| stay.person as usize == person)
            });
            if increasing && own {
                Ok(())
            } else {
                Err(inconsistent("the person table does not match the stays"))
            }
        })?;
    Ok(Run {
        group_offsets,
        group_stay_max_secs,
        stays,
        person_offsets,
        person_positions,
    })
}

/// Whether `offsets` cut `0..len` into consecutive ranges: empty (then `len`
/// must be 0), or starting at 0, never decreasing and ending at `len`.
fn offsets_partition(offsets: &[u32], len: usize) -> bool {
    match (offsets.first(), offsets.last()) {
        (None, None) => len == 0,
        (Some(&first), Some(&last)) => first == 0 && last as usize == len && offsets.is_sorted(),
        _ => false,
    }
}

fn read_pending(
    reader: &mut Reader<'_>,
    person_count: usize,
    venue_count: usize,
) -> Result<Vec<RawStay>, SnapshotError> {
    let section = "pending";
    let pending = decode_raw_stays(reader.array(section, RAW_STAY_BYTES)?);
    for stay in &pending {
        if stay.person as usize >= person_count || stay.venue as usize >= venue_count {
            return Err(SnapshotError::Inconsistent {
                section,
                reason: "a stay names an unknown person or venue",
            });
        }
        if stay.leave_rel < stay.enter_rel {
            return Err(SnapshotError::Inconsistent {
                section,
                reason: "a stay leaves before it enters",
            });
        }
    }
    Ok(pending)
}

#[cfg(test)]
mod tests;
