//! Parsers for `checkins.csv` (`person,venue,enter,leave`) and
//! `positives.csv` (`person,confirmed`), both with a required header line.
//!
//! The parser works on bytes, line by line, from any reader, and never
//! panics: every problem is a [`CsvError`] naming the 1-based line number.

use std::io::Read;

use ymt_core::{IdError, PersonId, Timestamp, VenueId};

use crate::index::{RawStay, STAYS_MAX};
use crate::intern::{InternError, Interner};
use crate::stay::{StayError, StayPolicy};
use crate::trace::Positive;

pub const CHECKINS_HEADER: &str = "person,venue,enter,leave";
pub const POSITIVES_HEADER: &str = "person,confirmed";

/// A longer line is rejected rather than buffered without bound.
pub const LINE_BYTES_MAX: usize = 4096;

const READ_CHUNK_BYTES: usize = 4 << 20;

#[derive(Debug, thiserror::Error)]
pub enum CsvErrorKind {
    #[error("the header must be {expected:?}")]
    Header { expected: &'static str },
    #[error("expected {expected} fields, found {found}")]
    FieldCount { expected: usize, found: usize },
    #[error("line longer than {LINE_BYTES_MAX} bytes")]
    LineTooLong,
    #[error("{field}: {error}")]
    Id { field: &'static str, error: IdError },
    #[error("{field}: not a whole number of unix seconds")]
    Integer { field: &'static str },
    #[error("{field}: not unix seconds or an RFC 3339 instant")]
    Instant { field: &'static str },
    #[error(transparent)]
    Stay(#[from] StayError),
    #[error(transparent)]
    Intern(#[from] InternError),
    #[error("more than {max} rows")]
    TooManyRows { max: usize },
    #[error("person {0} is listed twice")]
    DuplicatePerson(String),
    #[error("read failed: {0}")]
    Io(#[from] std::io::Error),
}

#[derive(Debug, thiserror::Error)]
#[error("line {line}: {kind}")]
pub struct CsvError {
    /// 1-based; line 1 is the header.
    pub line: u64,
    pub kind: CsvErrorKind,
}

/// One parsed, not yet validated check-in line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CsvCheckin<'a> {
    pub person: &'a str,
    pub venue: &'a str,
    pub enter: i64,
    /// `None` when the field is empty.
    pub leave: Option<i64>,
}

/// Calls `each` with every line (without its line break) and its 1-based
/// number, reading `reader` in chunks; `progress` gets the bytes read so far.
/// Stops at the first error `each` returns.
pub fn for_each_line<R: Read>(
    mut reader: R,
    progress: &mut dyn FnMut(u64),
    mut each: impl FnMut(u64, &[u8]) -> Result<(), CsvError>,
) -> Result<(), CsvError> {
    let mut buffer: Vec<u8> = Vec::with_capacity(READ_CHUNK_BYTES + LINE_BYTES_MAX);
    let mut line_number: u64 = 0;
    let mut bytes_read: u64 = 0;
    let mut chunk = vec![0u8; READ_CHUNK_BYTES];
    loop {
        let got = loop {
            match reader.read(&mut chunk) {
                Ok(got) => break got,
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(error) => {
                    return Err(CsvError {
                        line: line_number + 1,
                        kind: error.into(),
                    });
                }
            }
        };
        bytes_read += got as u64;
        let at_end = got == 0;
        buffer.extend_from_slice(&chunk[..got]);
        let mut start = 0;
        while let Some(offset) = memchr::memchr(b'\n', &buffer[start..]) {
            line_number += 1;
            let line = &buffer[start..start + offset];
            if line.len() > LINE_BYTES_MAX {
                return Err(CsvError {
                    line: line_number,
                    kind: CsvErrorKind::LineTooLong,
                });
            }
            each(line_number, line)?;
            start += offset + 1;
        }
        buffer.drain(..start);
        if buffer.len() > LINE_BYTES_MAX {
            return Err(CsvError {
                line: line_number + 1,
                kind: CsvErrorKind::LineTooLong,
            });
        }
        if at_end {
            if !buffer.is_empty() {
                line_number += 1;
                each(line_number, &buffer)?;
            }
            progress(bytes_read);
            return Ok(());
        }
        progress(bytes_read);
    }
}

fn strip_line_end(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn check_header(line_number: u64, line: &[u8], expected: &'static str) -> Result<(), CsvError> {
    let line = strip_line_end(line);
    let line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
    if line_number == 1 && line == expected.as_bytes() {
        Ok(())
    } else {
        Err(CsvError {
            line: line_number,
            kind: CsvErrorKind::Header { expected },
        })
    }
}

/// Splits a line into exactly `N` comma-separated fields.
fn split_fields<const N: usize>(line: &[u8]) -> Result<[&[u8]; N], CsvErrorKind> {
    let mut fields: [&[u8]; N] = [&[]; N];
    let mut rest = line;
    for (index, field) in fields.iter_mut().enumerate() {
        if index + 1 == N {
            *field = rest;
            if memchr::memchr(b',', rest).is_some() {
                let found = N + memchr::memchr_iter(b',', rest).count();
                return Err(CsvErrorKind::FieldCount { expected: N, found });
            }
        } else {
            match memchr::memchr(b',', rest) {
                Some(comma) => {
                    *field = &rest[..comma];
                    rest = &rest[comma + 1..];
                }
                None => {
                    return Err(CsvErrorKind::FieldCount {
                        expected: N,
                        found: index + 1,
                    });
                }
            }
        }
    }
    Ok(fields)
}

fn is_id_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b':')
}

/// Checks an id field with the same rules as `PersonId`/`VenueId` (1 to 64
/// ASCII letters, digits and `-_.:`) without allocating.
fn parse_id<'a>(
    field: &'static str,
    bytes: &'a [u8],
    max_len: usize,
    slow_parse: fn(&str) -> Result<(), IdError>,
) -> Result<&'a str, CsvErrorKind> {
    if !bytes.is_empty() && bytes.len() <= max_len && bytes.iter().all(|&byte| is_id_byte(byte)) {
        // All bytes are ASCII, so this cannot fail.
        if let Ok(text) = std::str::from_utf8(bytes) {
            return Ok(text);
        }
    }
    let text = String::from_utf8_lossy(bytes);
    let error = match slow_parse(&text) {
        Err(error) => error,
        // Only reachable for non-UTF-8 bytes, which the lossy text replaced.
        Ok(()) => IdError::Character {
            kind: "id",
            found: char::REPLACEMENT_CHARACTER,
        },
    };
    Err(CsvErrorKind::Id { field, error })
}

fn person_slow(text: &str) -> Result<(), IdError> {
    PersonId::parse(text).map(|_| ())
}

fn venue_slow(text: &str) -> Result<(), IdError> {
    VenueId::parse(text).map(|_| ())
}

/// Unsigned decimal seconds, at most 18 digits so it cannot overflow.
fn parse_secs(field: &'static str, bytes: &[u8]) -> Result<i64, CsvErrorKind> {
    if bytes.is_empty() || bytes.len() > 18 {
        return Err(CsvErrorKind::Integer { field });
    }
    let mut value: i64 = 0;
    for &byte in bytes {
        let digit = byte.wrapping_sub(b'0');
        if digit > 9 {
            return Err(CsvErrorKind::Integer { field });
        }
        value = value * 10 + digit as i64;
    }
    Ok(value)
}

/// Parses one data line of `checkins.csv`.
pub fn parse_checkin_line(line: &[u8]) -> Result<CsvCheckin<'_>, CsvErrorKind> {
    let [person, venue, enter, leave] = split_fields::<4>(strip_line_end(line))?;
    Ok(CsvCheckin {
        person: parse_id("person", person, PersonId::MAX_LEN, person_slow)?,
        venue: parse_id("venue", venue, VenueId::MAX_LEN, venue_slow)?,
        enter: parse_secs("enter", enter)?,
        leave: if leave.is_empty() {
            None
        } else {
            Some(parse_secs("leave", leave)?)
        },
    })
}

/// How an import treats bad lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImportOptions {
    pub policy: StayPolicy,
    /// Skip and count bad data lines instead of aborting. A bad header, an
    /// over-long line or a read error still abort.
    pub skip_bad: bool,
    /// How many skipped lines' errors to keep for the report.
    pub errors_kept_max: usize,
}

impl Default for ImportOptions {
    fn default() -> ImportOptions {
        ImportOptions {
            policy: StayPolicy::default(),
            skip_bad: false,
            errors_kept_max: 20,
        }
    }
}

/// What a parse of `checkins.csv` did.
#[derive(Debug, Default)]
pub struct ParseReport {
    pub lines: u64,
    pub checkins: u64,
    pub skipped: u64,
    /// The first skipped lines' errors (at most `errors_kept_max`).
    pub skipped_errors: Vec<CsvError>,
}

/// Parses `checkins.csv`, interning ids into the given tables. On error the
/// interners are restored to their previous length, so nothing changed.
pub fn parse_checkins_csv<R: Read>(
    reader: R,
    persons: &mut Interner,
    venues: &mut Interner,
    options: &ImportOptions,
    progress: &mut dyn FnMut(u64),
) -> Result<(Vec<RawStay>, ParseReport), CsvError> {
    let persons_len = persons.len();
    let venues_len = venues.len();
    let mut stays: Vec<RawStay> = Vec::new();
    let mut report = ParseReport::default();
    let outcome = for_each_line(reader, progress, |line_number, line| {
        report.lines = line_number;
        if line_number == 1 {
            return check_header(line_number, line, CHECKINS_HEADER);
        }
        if strip_line_end(line).is_empty() {
            return Ok(());
        }
        let parsed = parse_checkin_line(line).and_then(|row| {
            let stay = options.policy.resolve(row.enter, row.leave)?;
            let person = persons.intern(row.person)?;
            let venue = venues.intern(row.venue)?;
            Ok(RawStay {
                person,
                venue,
                enter_rel: stay.enter_rel,
                leave_rel: stay.leave_rel,
            })
        });
        if stays.len() >= STAYS_MAX {
            return Err(CsvError {
                line: line_number,
                kind: CsvErrorKind::TooManyRows { max: STAYS_MAX },
            });
        }
        match parsed {
            Ok(stay) => {
                stays.push(stay);
                report.checkins += 1;
                Ok(())
            }
            Err(kind) if options.skip_bad => {
                report.skipped += 1;
                if report.skipped_errors.len() < options.errors_kept_max {
                    report.skipped_errors.push(CsvError {
                        line: line_number,
                        kind,
                    });
                }
                Ok(())
            }
            Err(kind) => Err(CsvError {
                line: line_number,
                kind,
            }),
        }
    });
    if report.lines == 0 && outcome.is_ok() {
        persons.truncate(persons_len);
        venues.truncate(venues_len);
        return Err(CsvError {
            line: 1,
            kind: CsvErrorKind::Header {
                expected: CHECKINS_HEADER,
            },
        });
    }
    match outcome {
        Ok(()) => Ok((stays, report)),
        Err(error) => {
            persons.truncate(persons_len);
            venues.truncate(venues_len);
            Err(error)
        }
    }
}

fn parse_instant(field: &'static str, bytes: &[u8]) -> Result<Timestamp, CsvErrorKind> {
    if bytes.first().is_some_and(u8::is_ascii_digit) && bytes.iter().all(u8::is_ascii_digit) {
        let secs = parse_secs(field, bytes)?;
        return Timestamp::from_unix_secs(secs).map_err(|_| CsvErrorKind::Instant { field });
    }
    let text = std::str::from_utf8(bytes).map_err(|_| CsvErrorKind::Instant { field })?;
    Timestamp::parse_rfc3339(text).map_err(|_| CsvErrorKind::Instant { field })
}

/// Positives are few; a larger file is rejected.
pub const POSITIVES_MAX: usize = 1_000_000;

/// Parses `positives.csv` (`person,confirmed`; confirmed in unix seconds or
/// RFC 3339). A person listed twice is an error.
pub fn parse_positives_csv<R: Read>(reader: R) -> Result<Vec<Positive>, CsvError> {
    let mut positives: Vec<Positive> = Vec::new();
    let mut seen: std::collections::HashSet<PersonId> = std::collections::HashSet::new();
    let mut lines = 0;
    for_each_line(reader, &mut |_| {}, |line_number, line| {
        lines = line_number;
        if line_number == 1 {
            return check_header(line_number, line, POSITIVES_HEADER);
        }
        if strip_line_end(line).is_empty() {
            return Ok(());
        }
        let at = |kind| CsvError {
            line: line_number,
            kind,
        };
        if positives.len() >= POSITIVES_MAX {
            return Err(at(CsvErrorKind::TooManyRows {
                max: POSITIVES_MAX,
            }));
        }
        let [person, confirmed] = split_fields::<2>(strip_line_end(line)).map_err(at)?;
        let person = parse_id("person", person, PersonId::MAX_LEN, person_slow).map_err(at)?;
        let person = PersonId::parse(person).map_err(|error| {
            at(CsvErrorKind::Id {
                field: "person",
                error,
            })
        })?;
        let confirmed = parse_instant("confirmed", confirmed).map_err(at)?;
        if !seen.insert(person.clone()) {
            return Err(at(CsvErrorKind::DuplicatePerson(person.to_string())));
        }
        positives.push(Positive::new(person, confirmed));
        Ok(())
    })?;
    if lines == 0 {
        return Err(CsvError {
            line: 1,
            kind: CsvErrorKind::Header {
                expected: POSITIVES_HEADER,
            },
        });
    }
    Ok(positives)
}
