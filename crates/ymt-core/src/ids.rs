//! Identifier newtypes, parsed once at the edge.
//!
//! Core functions take these types, never raw strings, so an identifier that
//! reached the core is known to be well formed.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("{kind} must be 1 to {max_len} characters long, got {len}")]
    Length {
        kind: &'static str,
        max_len: usize,
        len: usize,
    },
    #[error("{kind} may contain only ASCII letters, digits and - _ . : (found {found:?})")]
    Character { kind: &'static str, found: char },
    #[error(
        "region code must be a GB/T 2260 division code of 2, 4 or 6 digits, optionally followed by a 3-digit street and a 3-digit community code (got {0:?})"
    )]
    Region(String),
}

fn check_token(kind: &'static str, text: &str, max_len: usize) -> Result<(), IdError> {
    let len = text.chars().count();
    if len == 0 || len > max_len {
        return Err(IdError::Length { kind, max_len, len });
    }
    if let Some(found) = text
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':')))
    {
        return Err(IdError::Character { kind, found });
    }
    Ok(())
}

macro_rules! token_newtype {
    ($(#[$meta:meta])* $name:ident, $kind:literal, $max_len:expr) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(Box<str>);

        impl $name {
            pub const MAX_LEN: usize = $max_len;

            pub fn parse(text: &str) -> Result<$name, IdError> {
                check_token($kind, text, $max_len)?;
                Ok($name(text.into()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = IdError;
            fn from_str(text: &str) -> Result<Self, Self::Err> {
                $name::parse(text)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                $name::parse(&text).map_err(serde::de::Error::custom)
            }
        }
    };
}

token_newtype!(
    /// A globally unique event id, chosen by the submitter (for example a lab's
    /// sample number prefixed with the lab id). Duplicates are ignored.
    EventId,
    "event id",
    64
);
token_newtype!(
    /// A pseudonymous person id: a keyed hash of the identity document, never the
    /// document number itself.
    PersonId,
    "person id",
    64
);
token_newtype!(
    /// A venue id (场所码).
    VenueId,
    "venue id",
    64
);

/// An administrative-division code in the style of GB/T 2260, optionally
/// refined to street (乡镇/街道, 3 more digits) and community (村/社区, 3 more).
///
/// Prefix matching expresses jurisdiction: `4403` (Shenzhen) contains
/// `440305` (Nanshan), which contains `440305001` (a street).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RegionCode(Box<str>);

/// How fine a region code is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RegionLevel {
    Province,
    Prefecture,
    County,
    Street,
    Community,
}

impl RegionCode {
    pub fn parse(text: &str) -> Result<RegionCode, IdError> {
        let valid_len = matches!(text.len(), 2 | 4 | 6 | 9 | 12);
        if !valid_len || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(IdError::Region(text.chars().take(20).collect()));
        }
        Ok(RegionCode(text.into()))
    }

    /// The whole country: the empty prefix, which contains every region.
    pub fn nation() -> RegionCode {
        RegionCode("".into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_nation(&self) -> bool {
        self.0.is_empty()
    }

    pub fn level(&self) -> Option<RegionLevel> {
        match self.0.len() {
            2 => Some(RegionLevel::Province),
            4 => Some(RegionLevel::Prefecture),
            6 => Some(RegionLevel::County),
            9 => Some(RegionLevel::Street),
            12 => Some(RegionLevel::Community),
            _ => None,
        }
    }

    /// True when `other` lies inside this region (or is this region).
    pub fn contains(&self, other: &RegionCode) -> bool {
        other.0.starts_with(&*self.0)
    }
}

impl std::fmt::Display for RegionCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_nation() {
            f.write_str("nation")
        } else {
            f.write_str(&self.0)
        }
    }
}

impl std::str::FromStr for RegionCode {
    type Err = IdError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text == "nation" {
            return Ok(RegionCode::nation());
        }
        RegionCode::parse(text)
    }
}

impl Serialize for RegionCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for RegionCode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_checked() {
        assert!(EventId::parse("lab-1:sample.42_a").is_ok());
        assert!(EventId::parse("").is_err());
        assert!(EventId::parse("has space").is_err());
        assert!(PersonId::parse(&"x".repeat(65)).is_err());
    }

    #[test]
    fn regions_nest_by_prefix() {
        let shenzhen = RegionCode::parse("4403").unwrap();
        let nanshan = RegionCode::parse("440305").unwrap();
        let street = RegionCode::parse("440305001").unwrap();
        assert!(shenzhen.contains(&nanshan));
        assert!(nanshan.contains(&street));
        assert!(!nanshan.contains(&shenzhen));
        assert!(RegionCode::nation().contains(&shenzhen));
        assert_eq!(street.level(), Some(RegionLevel::Street));
        assert!(RegionCode::parse("44030").is_err());
        assert!(RegionCode::parse("4403ab").is_err());
    }
}
