//! Parsers for `checkins.csv` (`person,venue,enter,leave`) and
//! `positives.csv` (`person,confirmed`), both with a required header line.
//! Times are unix seconds or RFC 3339 instants; `leave` may be empty.
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

/// Calls `each` with runs of whole lines (each ending in `\n`, except perhaps
/// the last line of the input) and the 1-based number of the run's first
/// line, reading `reader` in chunks; `progress` gets the bytes read so far.
/// Stops at the first error `each` returns.
pub fn for_each_chunk<R: Read>(
    mut reader: R,
    chunk_bytes: usize,
    progress: &mut dyn FnMut(u64),
    mut each: impl FnMut(u64, &[u8]) -> Result<(), CsvError>,
) -> Result<(), CsvError> {
    let chunk_bytes = chunk_bytes.max(LINE_BYTES_MAX + 1);
    let mut buffer: Vec<u8> = Vec::new();
    let mut next_line: u64 = 1;
    let mut bytes_read: u64 = 0;
    loop {
        // Fill the buffer up to the chunk size; `read_to_end` grows it only
        // as far as the input goes, so small inputs stay cheap.
        let wanted = chunk_bytes
            .saturating_sub(buffer.len())
            .max(LINE_BYTES_MAX + 1);
        let got = (&mut reader)
            .take(wanted as u64)
            .read_to_end(&mut buffer)
            .map_err(|error| CsvError {
                line: next_line,
                kind: error.into(),
            })?;
        let at_end = got < wanted;
        bytes_read += got as u64;
        let whole = if at_end {
            buffer.len()
        } else {
            memchr::memrchr(b'\n', &buffer).map_or(0, |newline| newline + 1)
        };
        let run = &buffer[..whole];
        // Over-long lines are refused before anything looks at them; the same
        // pass counts the lines.
        let mut line_start = 0;
        let mut newline_count = 0u64;
        for newline in memchr::memchr_iter(b'\n', run).chain(std::iter::once(run.len())) {
            if newline - line_start > LINE_BYTES_MAX {
                return Err(CsvError {
                    line: next_line + newline_count,
                    kind: CsvErrorKind::LineTooLong,
                });
            }
            newline_count += 1;
            line_start = newline + 1;
        }
        // The chained end of the run is no newline.
        newline_count -= 1;
        if !run.is_empty() {
            each(next_line, run)?;
        }
        next_line += newline_count;
        buffer.drain(..whole);
        if !at_end && buffer.len() > LINE_BYTES_MAX {
            return Err(CsvError {
                line: next_line,
                kind: CsvErrorKind::LineTooLong,
            });
        }
        progress(bytes_read);
        if at_end {
            return Ok(());
        }
    }
}

/// Calls `each` with every line (without its `\n`) and its 1-based number.
pub fn for_each_line<R: Read>(
    reader: R,
    progress: &mut dyn FnMut(u64),
    mut each: impl FnMut(u64, &[u8]) -> Result<(), CsvError>,
) -> Result<(), CsvError> {
    for_each_chunk(reader, READ_CHUNK_BYTES, progress, |first_line, run| {
        for (offset, line) in lines_of(run).enumerate() {
            each(first_line + offset as u64, line)?;
        }
        Ok(())
    })
}

/// The lines of a run, without their `\n`; a final empty remainder is no line.
fn lines_of(run: &[u8]) -> impl Iterator<Item = &[u8]> {
    let body = run.strip_suffix(b"\n").unwrap_or(run);
    let mut starts_at = if run.is_empty() { None } else { Some(0) };
    let mut newlines = memchr::memchr_iter(b'\n', body);
    std::iter::from_fn(move || {
        let start = starts_at?;
        match newlines.next() {
            Some(newline) => {
                starts_at = Some(newline + 1);
                Some(&body[start..newline])
            }
            None => {
                starts_at = None;
                Some(&body[start..])
            }
        }
    })
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

/// A check-in time: unix seconds (the fast path, what exports write) or an
/// RFC 3339 instant (what a person typing a file writes). Both mean the same
/// instant, so a file may mix them.
fn parse_stay_secs(field: &'static str, bytes: &[u8]) -> Result<i64, CsvErrorKind> {
    if bytes.first().is_some_and(u8::is_ascii_digit) && bytes.iter().all(u8::is_ascii_digit) {
        return parse_secs(field, bytes);
    }
    let text = std::str::from_utf8(bytes).map_err(|_| CsvErrorKind::Instant { field })?;
    Timestamp::parse_rfc3339(text)
        .map(Timestamp::unix_secs)
        .map_err(|_| CsvErrorKind::Instant { field })
}

/// Parses one data line of `checkins.csv`.
pub fn parse_checkin_line(line: &[u8]) -> Result<CsvCheckin<'_>, CsvErrorKind> {
    let [person, venue, enter, leave] = split_fields::<4>(strip_line_end(line))?;
    Ok(CsvCheckin {
        person: parse_id("person", person, PersonId::MAX_LEN, person_slow)?,
        venue: parse_id("venue", venue, VenueId::MAX_LEN, venue_slow)?,
        enter: parse_stay_secs("enter", enter)?,
        leave: if leave.is_empty() {
            None
        } else {
            Some(parse_stay_secs("leave", leave)?)
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

/// One good line of a piece, before interning.
struct ParsedRow<'a> {
    person: &'a str,
    venue: &'a str,
    stay: crate::stay::Stay,
}

/// Parses a piece of whole lines starting at `first_line`. Without
/// `skip_bad` it stops at the piece's first bad line.
fn parse_piece<'a>(
    piece: &'a [u8],
    first_line: u64,
    options: &ImportOptions,
) -> (Vec<ParsedRow<'a>>, Vec<CsvError>, u64) {
    let mut rows = Vec::with_capacity(piece.len() / 32);
    let mut errors = Vec::new();
    let mut bad = 0u64;
    for (offset, line) in lines_of(piece).enumerate() {
        let line_number = first_line + offset as u64;
        if line_number == 1 {
            if let Err(error) = check_header(1, line, CHECKINS_HEADER) {
                errors.push(error);
                bad += 1;
                break;
            }
            continue;
        }
        if strip_line_end(line).is_empty() {
            continue;
        }
        let parsed = parse_checkin_line(line).and_then(|row| {
            let stay = options.policy.resolve(row.enter, row.leave)?;
            Ok(ParsedRow {
                person: row.person,
                venue: row.venue,
                stay,
            })
        });
        match parsed {
            Ok(row) => rows.push(row),
            Err(kind) => {
                bad += 1;
                if errors.len() < options.errors_kept_max.max(1) {
                    errors.push(CsvError {
                        line: line_number,
                        kind,
                    });
                }
                if !options.skip_bad {
                    break;
                }
            }
        }
    }
    (rows, errors, bad)
}

/// Bytes read and interned at a time by [`parse_checkins_csv`].
const IMPORT_CHUNK_BYTES: usize = 16 << 20;
/// Lines are parsed in parallel in pieces of about this size.
const PIECE_BYTES: usize = 256 << 10;

/// Parses `checkins.csv`, interning ids into the given tables. On error the
/// interners are restored to their previous length, so nothing changed.
/// Lines are parsed in parallel and ids interned in bulk, chunk by chunk.
pub fn parse_checkins_csv<R: Read>(
    reader: R,
    persons: &mut Interner,
    venues: &mut Interner,
    options: &ImportOptions,
    progress: &mut dyn FnMut(u64),
) -> Result<(Vec<RawStay>, ParseReport), CsvError> {
    parse_checkins_chunked(
        reader,
        persons,
        venues,
        options,
        progress,
        IMPORT_CHUNK_BYTES,
        PIECE_BYTES,
    )
}

fn parse_checkins_chunked<R: Read>(
    reader: R,
    persons: &mut Interner,
    venues: &mut Interner,
    options: &ImportOptions,
    progress: &mut dyn FnMut(u64),
    chunk_bytes: usize,
    piece_bytes: usize,
) -> Result<(Vec<RawStay>, ParseReport), CsvError> {
    use rayon::prelude::*;

    let persons_len = persons.len();
    let venues_len = venues.len();
    let mut stays: Vec<RawStay> = Vec::new();
    let mut report = ParseReport::default();
    let mut person_numbers: Vec<u32> = Vec::new();
    let mut venue_numbers: Vec<u32> = Vec::new();
    let outcome = for_each_chunk(reader, chunk_bytes, progress, |first_line, run| {
        // Cut the run into pieces at line ends and number their first lines.
        let mut pieces: Vec<(&[u8], u64)> = Vec::new();
        let mut start = 0;
        let mut line = first_line;
        while start < run.len() {
            let target = (start + piece_bytes).min(run.len());
            let end = if target == run.len() {
                run.len()
            } else {
                memchr::memchr(b'\n', &run[target..]).map_or(run.len(), |at| target + at + 1)
            };
            pieces.push((&run[start..end], line));
            line += memchr::memchr_iter(b'\n', &run[start..end]).count() as u64;
            start = end;
        }
        report.lines = line - 1 + u64::from(!run.ends_with(b"\n"));
        let parsed: Vec<(Vec<ParsedRow<'_>>, Vec<CsvError>, u64)> = pieces
            .par_iter()
            .map(|&(piece, first)| parse_piece(piece, first, options))
            .collect();
        let mut parsed = parsed;
        for (_, errors, bad) in parsed.iter_mut() {
            let header_bad = errors.first().is_some_and(|error| error.line == 1);
            if *bad > 0 && (!options.skip_bad || header_bad) {
                // The piece's first error is its first bad line.
                return Err(errors.swap_remove(0));
            }
        }
        let mut person_texts: Vec<&str> = Vec::new();
        let mut venue_texts: Vec<&str> = Vec::new();
        let mut pending_stays: Vec<crate::stay::Stay> = Vec::new();
        for (rows, errors, bad) in parsed {
            report.skipped += bad;
            for error in errors {
                if report.skipped_errors.len() < options.errors_kept_max {
                    report.skipped_errors.push(error);
                }
            }
            for row in rows {
                person_texts.push(row.person);
                venue_texts.push(row.venue);
                pending_stays.push(row.stay);
            }
        }
        if stays.len() + pending_stays.len() > STAYS_MAX {
            return Err(CsvError {
                line: first_line,
                kind: CsvErrorKind::TooManyRows { max: STAYS_MAX },
            });
        }
        let at_chunk = |error: InternError| CsvError {
            line: first_line,
            kind: error.into(),
        };
        person_numbers.clear();
        venue_numbers.clear();
        persons
            .intern_batch(&person_texts, &mut person_numbers)
            .map_err(at_chunk)?;
        venues
            .intern_batch(&venue_texts, &mut venue_numbers)
            .map_err(at_chunk)?;
        stays.reserve(pending_stays.len());
        for ((stay, &person), &venue) in pending_stays
            .iter()
            .zip(&person_numbers)
            .zip(&venue_numbers)
        {
            stays.push(RawStay {
                person,
                venue,
                enter_rel: stay.enter_rel,
                leave_rel: stay.leave_rel,
            });
        }
        report.checkins = stays.len() as u64;
        Ok(())
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
            return Err(at(CsvErrorKind::TooManyRows { max: POSITIVES_MAX }));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(lines: usize, bad_every: usize) -> String {
        let mut text = String::from("person,venue,enter,leave\r\n");
        for line in 0..lines {
            let enter = 1_641_000_000 + line as i64;
            if bad_every > 0 && line % bad_every == bad_every - 1 {
                text.push_str(&format!("p{line},v1,{enter},{}\n", enter - 1));
            } else {
                text.push_str(&format!(
                    "p{},v{},{enter},{}\n",
                    line % 977,
                    line % 13,
                    enter + 60
                ));
            }
        }
        text
    }

    fn parse(text: &str, skip_bad: bool, chunk_bytes: usize, piece_bytes: usize) -> String {
        let mut persons = Interner::new();
        let mut venues = Interner::new();
        let options = ImportOptions {
            skip_bad,
            ..ImportOptions::default()
        };
        match parse_checkins_chunked(
            text.as_bytes(),
            &mut persons,
            &mut venues,
            &options,
            &mut |_| {},
            chunk_bytes,
            piece_bytes,
        ) {
            Ok((stays, report)) => format!(
                "{} {} {} {:?} {:?} {}",
                report.lines,
                report.checkins,
                report.skipped,
                report
                    .skipped_errors
                    .iter()
                    .map(|e| e.line)
                    .collect::<Vec<_>>(),
                stays.iter().take(5).collect::<Vec<_>>(),
                persons.len() + venues.len()
            ),
            Err(error) => {
                assert!(persons.is_empty() && venues.is_empty());
                error.to_string()
            }
        }
    }

    #[test]
    fn chunking_does_not_change_the_result() {
        for (lines, bad_every, skip_bad) in
            [(3000, 0, false), (3000, 700, true), (3000, 700, false)]
        {
            let text = sample(lines, bad_every);
            let whole = parse(&text, skip_bad, 64 << 20, 64 << 20);
            for (chunk_bytes, piece_bytes) in [(4097, 100), (5000, 1), (20_000, 3000)] {
                assert_eq!(parse(&text, skip_bad, chunk_bytes, piece_bytes), whole);
            }
            if bad_every > 0 && !skip_bad {
                assert!(whole.starts_with("line 701: leave"), "{whole}");
            }
        }
        let text = sample(10, 0);
        let unterminated = text.trim_end_matches('\n');
        assert!(parse(unterminated, false, 4097, 7).starts_with("11 10 0"));
        assert!(parse("", false, 4097, 7).starts_with("line 1: the header"));
        let long = format!("person,venue,enter,leave\n{}\n", "x".repeat(5000));
        assert!(parse(&long, true, 4097, 7).starts_with("line 2: line longer"));
    }

    #[test]
    fn a_check_in_time_may_be_unix_seconds_or_rfc_3339_and_both_mean_the_same_instant() {
        let check = |enter: &[u8], expect: Result<i64, String>| {
            let line = [b"p1,v1,".as_slice(), enter, b","].concat();
            let got = parse_checkin_line(&line)
                .map(|row| row.enter)
                .map_err(|error| error.to_string());
            assert_eq!(got, expect, "{}", String::from_utf8_lossy(enter));
        };
        check(b"1641000000", Ok(1_641_000_000));
        check(b"2022-01-01T01:20:00Z", Ok(1_641_000_000));
        check(b"2022-01-01T09:20:00+08:00", Ok(1_641_000_000));
        check(
            b"2022-01-01",
            Err("enter: not unix seconds or an RFC 3339 instant".into()),
        );
        check(
            b"-5",
            Err("enter: not unix seconds or an RFC 3339 instant".into()),
        );
        check(
            b"",
            Err("enter: not unix seconds or an RFC 3339 instant".into()),
        );
    }
}
