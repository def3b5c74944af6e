//! Date-times as CertLogic sees them: UTC instants with millisecond
//! resolution, parsed from the formats the specification allows and offset
//! with JavaScript `Date` semantics (`setUTCFullYear`, `setUTCMonth`, ...),
//! which is what the specification prescribes.

use std::fmt;

use thiserror::Error;

const MILLIS_PER_SECOND: i64 = 1_000;
const MILLIS_PER_HOUR: i64 = 3_600_000;
const MILLIS_PER_DAY: i64 = 86_400_000;

/// JavaScript's `Date` covers ±10⁸ days around the epoch; `plusTime` results
/// outside that range are an error, as they would be `Invalid Date` there.
const JS_DATE_LIMIT_MILLIS: i64 = 8_640_000_000_000_000;

/// A UTC instant, milliseconds since the Unix epoch. Ordered and compared by
/// instant; printed like JavaScript's `Date.toISOString`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DateTime {
    unix_millis: i64,
}

/// The time units of `plusTime`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeUnit {
    Year,
    Month,
    Day,
    Hour,
}

impl TimeUnit {
    pub const NAMES: &'static str = "year, month, day, hour";

    pub fn parse(name: &str) -> Option<TimeUnit> {
        match name {
            "year" => Some(TimeUnit::Year),
            "month" => Some(TimeUnit::Month),
            "day" => Some(TimeUnit::Day),
            "hour" => Some(TimeUnit::Hour),
            _ => None,
        }
    }
}

/// Why a string is not an allowed date or date-time.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum DateTimeParseError {
    #[error("not an allowed date or date-time format: {text:?}")]
    Format { text: String },
    #[error("{text:?} is not a valid date or date-time: {reason}")]
    OutOfRange { text: String, reason: &'static str },
}

impl DateTime {
    pub const fn from_unix_millis(unix_millis: i64) -> DateTime {
        DateTime { unix_millis }
    }

    pub const fn unix_millis(self) -> i64 {
        self.unix_millis
    }

    /// Parses any date or date-time format that `plusTime` accepts:
    /// `YYYY`, `YYYY-MM` (both as by [`DateTime::dcc_date_of_birth`]),
    /// `YYYY-MM-DD`, and `YYYY-MM-DDThh:mm:ss[.S…][Z|±h[h][[:]mm]]`.
    /// A missing offset means UTC; sub-millisecond digits are truncated.
    pub fn parse(text: &str) -> Result<DateTime, DateTimeParseError> {
        let bytes = text.as_bytes();
        if bytes.len() <= 10 {
            return DateTime::dcc_date_of_birth(text);
        }
        let format_error = || DateTimeParseError::Format {
            text: text.to_string(),
        };
        let mut cursor = Cursor { bytes, position: 0 };
        let (year, month, day) = cursor.date().ok_or_else(format_error)?;
        if !cursor.eat(b'T') {
            return Err(format_error());
        }
        let hour = cursor.digits(2).ok_or_else(format_error)?;
        let minute = cursor
            .eat(b':')
            .then(|| cursor.digits(2))
            .flatten()
            .ok_or_else(format_error)?;
        let second = cursor
            .eat(b':')
            .then(|| cursor.digits(2))
            .flatten()
            .ok_or_else(format_error)?;
        let mut millis_of_second = 0;
        if cursor.eat(b'.') {
            let fraction = cursor.take_while_digit();
            if fraction.is_empty() {
                return Err(format_error());
            }
            for position in 0..3 {
                let digit = fraction
                    .get(position)
                    .map_or(0, |byte| i64::from(byte - b'0'));
                millis_of_second = millis_of_second * 10 + digit;
            }
        }
        let offset_minutes = cursor.offset().ok_or_else(format_error)?;
        if !cursor.at_end() {
            return Err(format_error());
        }
        let out_of_range = |reason| DateTimeParseError::OutOfRange {
            text: text.to_string(),
            reason,
        };
        check_date(year, month, day).map_err(out_of_range)?;
        if hour > 23 {
            return Err(out_of_range("hour beyond 23"));
        }
        if minute > 59 {
            return Err(out_of_range("minute beyond 59"));
        }
        if second > 59 {
            return Err(out_of_range("second beyond 59"));
        }
        let days = days_from_civil(year, month, 1) + day - 1;
        let unix_millis = days * MILLIS_PER_DAY
            + hour * MILLIS_PER_HOUR
            + minute * 60 * MILLIS_PER_SECOND
            + second * MILLIS_PER_SECOND
            + millis_of_second
            - offset_minutes * 60 * MILLIS_PER_SECOND;
        Ok(DateTime { unix_millis })
    }

    /// The `dccDateOfBirth` conversion: the last day consistent with a
    /// possibly partial date, at midnight UTC. `YYYY` → `YYYY-12-31`,
    /// `YYYY-MM` → the last day of that month, `YYYY-MM-DD` → that day.
    pub fn dcc_date_of_birth(text: &str) -> Result<DateTime, DateTimeParseError> {
        let format_error = || DateTimeParseError::Format {
            text: text.to_string(),
        };
        let mut cursor = Cursor {
            bytes: text.as_bytes(),
            position: 0,
        };
        let year = cursor.digits(4).ok_or_else(format_error)?;
        let (month, day) = if cursor.at_end() {
            (12, 31)
        } else {
            let month = cursor
                .eat(b'-')
                .then(|| cursor.digits(2))
                .flatten()
                .ok_or_else(format_error)?;
            if cursor.at_end() {
                if !(1..=12).contains(&month) {
                    return Err(DateTimeParseError::OutOfRange {
                        text: text.to_string(),
                        reason: "month outside 01-12",
                    });
                }
                (month, days_in_month(year, month))
            } else {
                let day = cursor
                    .eat(b'-')
                    .then(|| cursor.digits(2))
                    .flatten()
                    .ok_or_else(format_error)?;
                if !cursor.at_end() {
                    return Err(format_error());
                }
                (month, day)
            }
        };
        check_date(year, month, day).map_err(|reason| DateTimeParseError::OutOfRange {
            text: text.to_string(),
            reason,
        })?;
        Ok(DateTime {
            unix_millis: (days_from_civil(year, month, 1) + day - 1) * MILLIS_PER_DAY,
        })
    }

    /// Adds `amount` units with JavaScript `Date` semantics: hours and days
    /// are fixed lengths (UTC has no DST); months and years keep the day of
    /// the month and let it overflow into the next month (2020-02-29 plus one
    /// year is 2021-03-01; 2021-01-31 plus one month is 2021-03-03). `None`
    /// when the result leaves JavaScript's date range.
    pub fn plus(self, amount: i64, unit: TimeUnit) -> Option<DateTime> {
        let unix_millis = match unit {
            TimeUnit::Hour => self
                .unix_millis
                .checked_add(amount.checked_mul(MILLIS_PER_HOUR)?)?,
            TimeUnit::Day => self
                .unix_millis
                .checked_add(amount.checked_mul(MILLIS_PER_DAY)?)?,
            TimeUnit::Month | TimeUnit::Year => {
                let days = self.unix_millis.div_euclid(MILLIS_PER_DAY);
                let millis_of_day = self.unix_millis.rem_euclid(MILLIS_PER_DAY);
                let (year, month, day) = civil_from_days(days);
                let months_total = match unit {
                    TimeUnit::Month => (year * 12 + month - 1).checked_add(amount)?,
                    _ => year.checked_add(amount)?.checked_mul(12)? + month - 1,
                };
                let new_year = months_total.div_euclid(12);
                // Far beyond JavaScript's range; stop before the day
                // arithmetic could overflow.
                if new_year.abs() > 1_000_000 {
                    return None;
                }
                let new_month = months_total.rem_euclid(12) + 1;
                let new_days = days_from_civil(new_year, new_month, 1) + day - 1;
                new_days * MILLIS_PER_DAY + millis_of_day
            }
        };
        (unix_millis.abs() <= JS_DATE_LIMIT_MILLIS).then_some(DateTime { unix_millis })
    }
}

impl fmt::Display for DateTime {
    /// `YYYY-MM-DDThh:mm:ss.sssZ`, with an expanded `±YYYYYY` year outside
    /// 0000-9999, as JavaScript's `Date.toISOString`.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days = self.unix_millis.div_euclid(MILLIS_PER_DAY);
        let millis_of_day = self.unix_millis.rem_euclid(MILLIS_PER_DAY);
        let (year, month, day) = civil_from_days(days);
        if (0..=9999).contains(&year) {
            write!(formatter, "{year:04}")?;
        } else if year < 0 {
            write!(formatter, "-{:06}", -year)?;
        } else {
            write!(formatter, "+{year:06}")?;
        }
        write!(
            formatter,
            "-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
            millis_of_day / MILLIS_PER_HOUR,
            millis_of_day / 60_000 % 60,
            millis_of_day / MILLIS_PER_SECOND % 60,
            millis_of_day % MILLIS_PER_SECOND
        )
    }
}

fn is_leap_year(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn check_date(year: i64, month: i64, day: i64) -> Result<(), &'static str> {
    if !(1..=12).contains(&month) {
        return Err("month outside 01-12");
    }
    if day < 1 || day > days_in_month(year, month) {
        return Err("day outside the month");
    }
    Ok(())
}

/// Days since 1970-01-01 of a proleptic Gregorian date (month 1-12), after
/// Howard Hinnant's well-known civil-calendar algorithm.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let shifted_year = if month <= 2 { year - 1 } else { year };
    let era = shifted_year.div_euclid(400);
    let year_of_era = shifted_year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The inverse of [`days_from_civil`]: `(year, month 1-12, day 1-31)`.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// A tiny forward-only reader over ASCII bytes.
struct Cursor<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl Cursor<'_> {
    fn at_end(&self) -> bool {
        self.position == self.bytes.len()
    }

    fn eat(&mut self, expected: u8) -> bool {
        if self.bytes.get(self.position) == Some(&expected) {
            self.position += 1;
            true
        } else {
            false
        }
    }

    /// Exactly `count` decimal digits as a number.
    fn digits(&mut self, count: usize) -> Option<i64> {
        let slice = self.bytes.get(self.position..self.position + count)?;
        let mut number = 0;
        for byte in slice {
            if !byte.is_ascii_digit() {
                return None;
            }
            number = number * 10 + i64::from(byte - b'0');
        }
        self.position += count;
        Some(number)
    }

    fn take_while_digit(&mut self) -> &[u8] {
        let start = self.position;
        while self
            .bytes
            .get(self.position)
            .is_some_and(u8::is_ascii_digit)
        {
            self.position += 1;
        }
        &self.bytes[start..self.position]
    }

    fn date(&mut self) -> Option<(i64, i64, i64)> {
        let year = self.digits(4)?;
        self.eat(b'-').then_some(())?;
        let month = self.digits(2)?;
        self.eat(b'-').then_some(())?;
        let day = self.digits(2)?;
        Some((year, month, day))
    }

    /// The optional timezone offset in minutes east of UTC: nothing or `Z`
    /// is 0; otherwise `±h`, `±hh`, `±hmm`, `±hhmm`, `±h:mm`, `±hh:mm`.
    fn offset(&mut self) -> Option<i64> {
        if self.at_end() || self.eat(b'Z') {
            return Some(0);
        }
        let sign = if self.eat(b'+') {
            1
        } else if self.eat(b'-') {
            -1
        } else {
            return None;
        };
        let hour_and_minute_digits = self.take_while_digit();
        let (hours, minutes) = match hour_and_minute_digits.len() {
            1 | 2 => {
                let hours = parse_digits(hour_and_minute_digits);
                let minutes = if self.eat(b':') {
                    let minute_digits = self.take_while_digit();
                    match minute_digits.len() {
                        0 => 0,
                        2 => parse_digits(minute_digits),
                        _ => return None,
                    }
                } else {
                    0
                };
                (hours, minutes)
            }
            3 | 4 => {
                let split = hour_and_minute_digits.len() - 2;
                (
                    parse_digits(&hour_and_minute_digits[..split]),
                    parse_digits(&hour_and_minute_digits[split..]),
                )
            }
            _ => return None,
        };
        if hours > 23 || minutes > 59 {
            return None;
        }
        Some(sign * (hours * 60 + minutes))
    }
}

fn parse_digits(digits: &[u8]) -> i64 {
    digits
        .iter()
        .fold(0, |number, byte| number * 10 + i64::from(byte - b'0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_parse(text: &str, expect: &str) {
        let parsed = DateTime::parse(text).unwrap_or_else(|error| panic!("{text}: {error}"));
        assert_eq!(parsed.to_string(), expect, "{text}");
    }

    #[test]
    fn parses_every_allowed_format() {
        check_parse("2021", "2021-12-31T00:00:00.000Z");
        check_parse("2004-02", "2004-02-29T00:00:00.000Z");
        check_parse("2003-02", "2003-02-28T00:00:00.000Z");
        check_parse("2021-06-01", "2021-06-01T00:00:00.000Z");
        check_parse("2021-06-01T10:20:30", "2021-06-01T10:20:30.000Z");
        check_parse("2021-06-01T10:20:30Z", "2021-06-01T10:20:30.000Z");
        check_parse("2021-06-01T10:20:30+1", "2021-06-01T09:20:30.000Z");
        check_parse("2021-06-01T10:20:30-01", "2021-06-01T11:20:30.000Z");
        check_parse("2021-06-01T10:20:30+130", "2021-06-01T08:50:30.000Z");
        check_parse("2021-06-01T10:20:30+0130", "2021-06-01T08:50:30.000Z");
        check_parse("2021-06-01T10:20:30+1:30", "2021-06-01T08:50:30.000Z");
        check_parse("2021-06-01T10:20:30+01:30", "2021-06-01T08:50:30.000Z");
        check_parse("2021-06-01T10:20:30.1", "2021-06-01T10:20:30.100Z");
        check_parse("2021-06-01T10:20:30.123456Z", "2021-06-01T10:20:30.123Z");
        check_parse("2021-06-01T00:00:00.5+02:00", "2021-05-31T22:00:00.500Z");
    }

    #[test]
    fn rejects_malformed_and_impossible_dates() {
        for text in [
            "",
            "21",
            "2021-6-01",
            "2021-06-01T",
            "2021-06-01 10:20:30",
            "2021-06-01T10:20",
            "2021-06-01T10:20:30.",
            "2021-06-01T10:20:30+",
            "2021-06-01T10:20:30+12345",
            "2021-06-01T10:20:30ZZ",
            "2021-13",
            "2021-02-29",
            "2021-06-01T24:00:00",
            "２０２１",
        ] {
            assert!(DateTime::parse(text).is_err(), "{text:?} should not parse");
        }
    }

    fn check_plus(start: &str, amount: i64, unit: TimeUnit, expect: &str) {
        let start_date_time = DateTime::parse(start).unwrap();
        let result = start_date_time.plus(amount, unit).unwrap();
        assert_eq!(result.to_string(), expect, "{start} + {amount} {unit:?}");
    }

    #[test]
    fn offsets_like_javascript_dates() {
        check_plus("2020-02-29", 1, TimeUnit::Day, "2020-03-01T00:00:00.000Z");
        check_plus("2020-02-29", 1, TimeUnit::Month, "2020-03-29T00:00:00.000Z");
        check_plus("2020-02-29", 1, TimeUnit::Year, "2021-03-01T00:00:00.000Z");
        check_plus("2021-01-31", 1, TimeUnit::Month, "2021-03-03T00:00:00.000Z");
        check_plus(
            "2021-03-31T12:00:00Z",
            -13,
            TimeUnit::Month,
            "2020-03-02T12:00:00.000Z",
        );
        check_plus(
            "2021-06-01T00:00:00Z",
            40,
            TimeUnit::Hour,
            "2021-06-02T16:00:00.000Z",
        );
        check_plus(
            "2021-06-23T00:00:00Z",
            -180,
            TimeUnit::Day,
            "2020-12-25T00:00:00.000Z",
        );
        check_plus(
            "1969-12-31T23:00:00Z",
            2,
            TimeUnit::Hour,
            "1970-01-01T01:00:00.000Z",
        );
        check_plus(
            "0001-01-01",
            -2,
            TimeUnit::Year,
            "-000001-01-01T00:00:00.000Z",
        );
        assert_eq!(
            DateTime::parse("2021")
                .unwrap()
                .plus(i64::MAX, TimeUnit::Hour),
            None
        );
        assert_eq!(
            DateTime::parse("2021")
                .unwrap()
                .plus(i64::MIN, TimeUnit::Year),
            None
        );
    }

    #[test]
    fn civil_conversion_round_trips() {
        for days in (-800_000..800_000).step_by(997) {
            let (year, month, day) = civil_from_days(days);
            assert_eq!(days_from_civil(year, month, day), days);
        }
    }
}
