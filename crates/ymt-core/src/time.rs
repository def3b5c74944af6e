//! Instants as whole seconds since the Unix epoch, UTC.
//!
//! Seconds are the resolution of every decision: rules compare instants and
//! `valid_until` is exact to the second. On the wire an instant is an RFC 3339
//! string (`2022-01-14T12:00:00Z`); an offset is accepted and normalised to UTC.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(i64);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimestampError {
    #[error("not an RFC 3339 date-time: {0:?}")]
    NotRfc3339(String),
    #[error("instant out of the supported range (years 1970..=9999)")]
    OutOfRange,
}

/// 1970-01-01T00:00:00Z and 9999-12-31T23:59:59Z bound every instant we accept.
const SECS_MAX: i64 = 253_402_300_799;

impl Timestamp {
    pub const EPOCH: Timestamp = Timestamp(0);
    pub const MAX: Timestamp = Timestamp(SECS_MAX);

    pub fn from_unix_secs(secs: i64) -> Result<Timestamp, TimestampError> {
        if (0..=SECS_MAX).contains(&secs) {
            Ok(Timestamp(secs))
        } else {
            Err(TimestampError::OutOfRange)
        }
    }

    pub fn unix_secs(self) -> i64 {
        self.0
    }

    /// Adds seconds, saturating at the bounds of the supported range.
    pub fn plus_secs(self, secs: i64) -> Timestamp {
        Timestamp(self.0.saturating_add(secs).clamp(0, SECS_MAX))
    }

    pub fn parse_rfc3339(text: &str) -> Result<Timestamp, TimestampError> {
        let parsed =
            ::time::OffsetDateTime::parse(text, &::time::format_description::well_known::Rfc3339)
                .map_err(|_| TimestampError::NotRfc3339(truncate_for_error(text)))?;
        Timestamp::from_unix_secs(parsed.unix_timestamp())
    }

    pub fn to_rfc3339(self) -> String {
        let datetime = ::time::OffsetDateTime::from_unix_timestamp(self.0)
            .expect("a Timestamp is always inside the supported range");
        datetime
            .format(&::time::format_description::well_known::Rfc3339)
            .expect("formatting a UTC instant as RFC 3339 cannot fail")
    }
}

fn truncate_for_error(text: &str) -> String {
    text.chars().take(40).collect()
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl std::str::FromStr for Timestamp {
    type Err = TimestampError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Timestamp::parse_rfc3339(text)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_rfc3339())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Timestamp::parse_rfc3339(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_rfc3339() {
        let instant = Timestamp::parse_rfc3339("2022-01-14T12:00:00Z").unwrap();
        assert_eq!(instant.unix_secs(), 1_642_161_600);
        assert_eq!(instant.to_rfc3339(), "2022-01-14T12:00:00Z");
        let with_offset = Timestamp::parse_rfc3339("2022-01-14T20:00:00+08:00").unwrap();
        assert_eq!(with_offset, instant);
    }

    #[test]
    fn rejects_garbage_and_out_of_range() {
        assert!(Timestamp::parse_rfc3339("yesterday").is_err());
        assert_eq!(
            Timestamp::from_unix_secs(-1),
            Err(TimestampError::OutOfRange)
        );
    }
}
