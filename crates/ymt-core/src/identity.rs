//! Identity documents and display names, parsed at the edge.
//!
//! A clear ID number lives only in an [`IdDocument`] value for the duration
//! of a request: its `Debug` and `Display` never show the number, and the
//! platform stores only a keyed hash of it (computed in the server, which
//! holds the key). Names are stored masked.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum IdType {
    /// 居民身份证: 18-character resident identity number (GB 11643-1999).
    ResidentId,
    /// 护照
    Passport,
    /// 港澳居民来往内地通行证
    HkMacaoPermit,
    /// 台湾居民来往大陆通行证
    TaiwanPermit,
    /// 外国人永久居留身份证
    ForeignPermanentResident,
}

impl IdType {
    pub fn as_str(self) -> &'static str {
        match self {
            IdType::ResidentId => "resident_id",
            IdType::Passport => "passport",
            IdType::HkMacaoPermit => "hk_macao_permit",
            IdType::TaiwanPermit => "taiwan_permit",
            IdType::ForeignPermanentResident => "foreign_permanent_resident",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    #[error("a resident ID has 18 characters: 17 digits and a check character (0-9 or X)")]
    ResidentIdShape,
    #[error("the resident ID's check character does not match its first 17 digits")]
    ResidentIdCheckDigit,
    #[error("the resident ID's birth date is not a valid date")]
    ResidentIdBirthDate,
    #[error("{0} numbers are 5 to 20 letters and digits")]
    DocumentShape(&'static str),
    #[error("a display name has 1 to 50 characters")]
    NameLength,
    #[error("display name: {0}")]
    NameText(crate::text::TextError),
}

/// An identity document: its type and its clear number. Never logged.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct IdDocument {
    id_type: IdType,
    number: String,
}

impl std::fmt::Debug for IdDocument {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "IdDocument({}, {})",
            self.id_type.as_str(),
            self.masked_number()
        )
    }
}

/// The weights of GB 11643-1999's ISO 7064 MOD 11-2 check.
const RESIDENT_ID_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const RESIDENT_ID_CHECK_CHARS: [u8; 11] = *b"10X98765432";

/// The check character of the first 17 digits of a resident ID.
pub fn resident_id_check_char(first_17_digits: &[u8; 17]) -> u8 {
    let sum: u32 = first_17_digits
        .iter()
        .zip(RESIDENT_ID_WEIGHTS)
        .map(|(digit, weight)| u32::from(digit - b'0') * weight)
        .sum();
    RESIDENT_ID_CHECK_CHARS[(sum % 11) as usize]
}

impl IdDocument {
    pub fn parse(id_type: IdType, number: &str) -> Result<IdDocument, IdentityError> {
        let number = number.trim();
        match id_type {
            IdType::ResidentId => {
                let bytes = number.as_bytes();
                if bytes.len() != 18
                    || !bytes[..17].iter().all(u8::is_ascii_digit)
                    || !(bytes[17].is_ascii_digit() || bytes[17] == b'X' || bytes[17] == b'x')
                {
                    return Err(IdentityError::ResidentIdShape);
                }
                let first: [u8; 17] = bytes[..17].try_into().expect("length checked");
                if resident_id_check_char(&first) != bytes[17].to_ascii_uppercase() {
                    return Err(IdentityError::ResidentIdCheckDigit);
                }
                let year: i32 = number[6..10]
                    .parse()
                    .map_err(|_| IdentityError::ResidentIdBirthDate)?;
                let month: u8 = number[10..12]
                    .parse()
                    .map_err(|_| IdentityError::ResidentIdBirthDate)?;
                let day: u8 = number[12..14]
                    .parse()
                    .map_err(|_| IdentityError::ResidentIdBirthDate)?;
                let month = ::time::Month::try_from(month)
                    .map_err(|_| IdentityError::ResidentIdBirthDate)?;
                ::time::Date::from_calendar_date(year, month, day)
                    .map_err(|_| IdentityError::ResidentIdBirthDate)?;
                Ok(IdDocument {
                    id_type,
                    number: number.to_ascii_uppercase(),
                })
            }
            other => {
                let valid = (5..=20).contains(&number.len())
                    && number.bytes().all(|b| b.is_ascii_alphanumeric());
                if !valid {
                    return Err(IdentityError::DocumentShape(other.as_str()));
                }
                Ok(IdDocument {
                    id_type,
                    number: number.to_ascii_uppercase(),
                })
            }
        }
    }

    pub fn id_type(&self) -> IdType {
        self.id_type
    }

    /// The clear number, for hashing only. Never store or log it.
    pub fn number_for_hashing(&self) -> &str {
        &self.number
    }

    /// The number with all but the first and last two characters hidden,
    /// as printed on receipts: `44********1234` style.
    pub fn masked_number(&self) -> String {
        let characters: Vec<char> = self.number.chars().collect();
        let shown_head = characters.len().min(2);
        let shown_tail = if characters.len() > 4 { 2 } else { 0 };
        characters
            .iter()
            .enumerate()
            .map(|(index, character)| {
                if index < shown_head || index >= characters.len() - shown_tail {
                    *character
                } else {
                    '*'
                }
            })
            .collect()
    }
}

/// A display name stored masked: 张三 → 张*, 张小三 → 张*三, and for
/// Latin names every letter of each word after the first is hidden.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MaskedName(String);

impl MaskedName {
    pub fn mask(name: &str) -> Result<MaskedName, IdentityError> {
        let name = name.trim();
        crate::text::check(name).map_err(IdentityError::NameText)?;
        let characters: Vec<char> = name.chars().collect();
        if characters.is_empty() || characters.len() > 50 {
            return Err(IdentityError::NameLength);
        }
        let masked: String = if characters.iter().any(|c| c.is_ascii_alphabetic()) {
            name.split_whitespace()
                .map(|word| {
                    let mut chars = word.chars();
                    let first = chars.next().unwrap_or('*');
                    std::iter::once(first)
                        .chain(chars.map(|_| '*'))
                        .collect::<String>()
                })
                .collect::<Vec<_>>()
                .join(" ")
        } else {
            match characters.len() {
                1 => "*".to_owned(),
                2 => format!("{}*", characters[0]),
                length => {
                    let mut masked = String::new();
                    masked.push(characters[0]);
                    masked.extend(std::iter::repeat_n('*', length - 2));
                    masked.push(characters[length - 1]);
                    masked
                }
            }
        };
        Ok(MaskedName(masked))
    }

    /// An already masked name, as read back from storage.
    pub fn from_masked(masked: String) -> MaskedName {
        MaskedName(masked)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for MaskedName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_resident(number: &str, expect: Result<(), IdentityError>) {
        assert_eq!(
            IdDocument::parse(IdType::ResidentId, number).map(|_| ()),
            expect,
            "{number}"
        );
    }

    #[test]
    fn resident_ids_are_checked() {
        // 11010519491231002X is the standard's own example.
        check_resident("11010519491231002X", Ok(()));
        check_resident("11010519491231002x", Ok(()));
        check_resident(
            "110105194912310021",
            Err(IdentityError::ResidentIdCheckDigit),
        );
        check_resident(
            "11010519491331002X",
            Err(IdentityError::ResidentIdCheckDigit),
        );
        check_resident("1101051949123100", Err(IdentityError::ResidentIdShape));
        check_resident("11010519491231002A", Err(IdentityError::ResidentIdShape));
    }

    #[test]
    fn birth_dates_are_checked() {
        let mut first: [u8; 17] = *b"11010519490231002";
        let check = resident_id_check_char(&first);
        let mut number = String::from_utf8(first.to_vec()).unwrap();
        number.push(check as char);
        check_resident(&number, Err(IdentityError::ResidentIdBirthDate));
        first = *b"11010520000229002";
        let check = resident_id_check_char(&first);
        let mut number = String::from_utf8(first.to_vec()).unwrap();
        number.push(check as char);
        check_resident(&number, Ok(()));
    }

    #[test]
    fn debug_never_shows_the_number() {
        let document = IdDocument::parse(IdType::ResidentId, "11010519491231002X").unwrap();
        let shown = format!("{document:?}");
        assert!(!shown.contains("0519491231"), "{shown}");
        assert_eq!(document.masked_number(), "11**************2X");
    }

    #[test]
    fn names_are_masked() {
        for (name, masked) in [
            ("张三", "张*"),
            ("张小三", "张*三"),
            ("欧阳娜娜", "欧**娜"),
            ("王", "*"),
            ("John Smith", "J*** S****"),
        ] {
            assert_eq!(MaskedName::mask(name).unwrap().as_str(), masked);
        }
        assert!(MaskedName::mask("  ").is_err());
    }
}
