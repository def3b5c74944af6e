//! The claims of a health code and their CWT encoding.

use ciborium::Value;
use serde::{Deserialize, Serialize};
use ymt_core::{Color, PersonId, Timestamp};

/// Standard CWT claim keys (RFC 8392).
pub const CLAIM_ISSUER: i64 = 1;
pub const CLAIM_EXPIRES_AT: i64 = 4;
pub const CLAIM_ISSUED_AT: i64 = 6;
/// Private-use claim keys (RFC 8392 reserves integers below -65536).
pub const CLAIM_PERSON: i64 = -70_001;
pub const CLAIM_COLOR: i64 = -70_002;
pub const CLAIM_MASKED_NAME: i64 = -70_003;
pub const CLAIM_RULE_SET_VERSION: i64 = -70_004;
pub const CLAIM_COLOR_VALID_UNTIL: i64 = -70_005;
/// The kind of code (format revision 2, docs/token-format.md): absent on a
/// phone code, so every code issued before kinds existed is a phone code and
/// its bytes are unchanged; 1 on a printed code.
pub const CLAIM_KIND: i64 = -70_006;

/// Longest issuer id, masked name and rule-set version, in characters.
pub const ISSUER_LEN_MAX: usize = 64;
pub const MASKED_NAME_LEN_MAX: usize = 64;
pub const RULE_SET_VERSION_LEN_MAX: usize = 64;
/// More claims than this in one payload is malformed.
pub const CLAIMS_COUNT_MAX: usize = 32;

/// What carries a code, signed into it: a verifier shows it, and applies
/// the kind's own longest lifetime (a printed code cannot refresh).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CodeKind {
    /// Shown live on a phone and refreshed every few minutes.
    #[default]
    Phone,
    /// Printed on paper (纸质码) for a person without a phone, by their
    /// guardian or a health authority; lives for days, not minutes.
    Printed,
}

impl CodeKind {
    /// The claim's value; the phone kind is never written (absent means
    /// phone).
    pub fn as_u8(self) -> u8 {
        match self {
            CodeKind::Phone => 0,
            CodeKind::Printed => 1,
        }
    }

    /// A verifier must not guess what a kind it does not know means: any
    /// other value is malformed.
    pub fn from_u8(value: u8) -> Option<CodeKind> {
        match value {
            0 => Some(CodeKind::Phone),
            1 => Some(CodeKind::Printed),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CodeKind::Phone => "phone",
            CodeKind::Printed => "printed",
        }
    }
}

/// What a health code asserts. The kid travels in the COSE protected
/// header, not here.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The issuing platform or region (for example `ymt:44`).
    pub issuer: String,
    pub issued_at: Timestamp,
    pub expires_at: Timestamp,
    pub person: PersonId,
    pub color: Color,
    /// The holder's name with most characters masked (张*三).
    pub masked_name: String,
    pub rule_set_version: String,
    /// Until when the color itself holds (for example the end of a yellow
    /// code's observation period); absent when open-ended.
    pub color_valid_until: Option<Timestamp>,
    /// Phone or printed code; absent in serialized claims of older codes.
    #[serde(default)]
    pub kind: CodeKind,
}

fn check_text(field: &str, text: &str, len_max: usize) -> Result<(), String> {
    let len = text.chars().count();
    if len == 0 || len > len_max {
        return Err(format!(
            "{field} must be 1 to {len_max} characters, got {len}"
        ));
    }
    if text.chars().any(char::is_control) {
        return Err(format!("{field} contains a control character"));
    }
    Ok(())
}

impl Claims {
    /// Checks what the types do not: text lengths and the order of instants.
    pub fn check(&self) -> Result<(), String> {
        check_text("issuer", &self.issuer, ISSUER_LEN_MAX)?;
        check_text("masked_name", &self.masked_name, MASKED_NAME_LEN_MAX)?;
        check_text(
            "rule_set_version",
            &self.rule_set_version,
            RULE_SET_VERSION_LEN_MAX,
        )?;
        if self.expires_at <= self.issued_at {
            return Err(format!(
                "expires_at {} is not after issued_at {}",
                self.expires_at, self.issued_at
            ));
        }
        Ok(())
    }

    pub fn to_cbor_value(&self) -> Value {
        let int = |key: i64| Value::Integer(key.into());
        let mut entries = vec![
            (int(CLAIM_ISSUER), Value::Text(self.issuer.clone())),
            (int(CLAIM_EXPIRES_AT), int(self.expires_at.unix_secs())),
            (int(CLAIM_ISSUED_AT), int(self.issued_at.unix_secs())),
            (int(CLAIM_PERSON), Value::Text(self.person.as_str().into())),
            (int(CLAIM_COLOR), int(self.color as i64)),
            (
                int(CLAIM_MASKED_NAME),
                Value::Text(self.masked_name.clone()),
            ),
            (
                int(CLAIM_RULE_SET_VERSION),
                Value::Text(self.rule_set_version.clone()),
            ),
        ];
        if let Some(valid_until) = self.color_valid_until {
            entries.push((int(CLAIM_COLOR_VALID_UNTIL), int(valid_until.unix_secs())));
        }
        // A phone code carries no kind claim, so its bytes are those of
        // the first revision and older verifiers read it unchanged.
        if self.kind != CodeKind::Phone {
            entries.push((int(CLAIM_KIND), int(i64::from(self.kind.as_u8()))));
        }
        Value::Map(entries)
    }

    /// Decodes a claims map. Unknown claim keys are ignored so later
    /// versions can add claims; a duplicated key is malformed.
    pub fn from_cbor_value(value: &Value) -> Result<Claims, String> {
        let Value::Map(entries) = value else {
            return Err("claims are not a CBOR map".into());
        };
        if entries.len() > CLAIMS_COUNT_MAX {
            return Err(format!(
                "{} claims, at most {CLAIMS_COUNT_MAX}",
                entries.len()
            ));
        }
        let mut issuer = None;
        let mut expires_at = None;
        let mut issued_at = None;
        let mut person = None;
        let mut color = None;
        let mut masked_name = None;
        let mut rule_set_version = None;
        let mut color_valid_until = None;
        let mut kind = CodeKind::Phone;
        let mut seen = Vec::with_capacity(entries.len());
        for (key, value) in entries {
            let Some(key) = key.as_integer().and_then(|key| i64::try_from(key).ok()) else {
                return Err("claim key is not an integer".into());
            };
            if seen.contains(&key) {
                return Err(format!("claim {key} appears twice"));
            }
            seen.push(key);
            match key {
                CLAIM_ISSUER => issuer = Some(text(value, "iss (1)")?),
                CLAIM_EXPIRES_AT => expires_at = Some(instant(value, "exp (4)")?),
                CLAIM_ISSUED_AT => issued_at = Some(instant(value, "iat (6)")?),
                CLAIM_PERSON => {
                    let raw = text(value, "person (-70001)")?;
                    person = Some(
                        PersonId::parse(&raw)
                            .map_err(|error| format!("person (-70001): {error}"))?,
                    );
                }
                CLAIM_COLOR => {
                    let raw = value
                        .as_integer()
                        .and_then(|raw| u8::try_from(raw).ok())
                        .and_then(Color::from_u8);
                    color = Some(raw.ok_or("color (-70002) is not 0, 1 or 2")?);
                }
                CLAIM_MASKED_NAME => masked_name = Some(text(value, "masked name (-70003)")?),
                CLAIM_RULE_SET_VERSION => {
                    rule_set_version = Some(text(value, "rule-set version (-70004)")?)
                }
                CLAIM_COLOR_VALID_UNTIL => {
                    color_valid_until = Some(instant(value, "color valid until (-70005)")?)
                }
                CLAIM_KIND => {
                    kind = value
                        .as_integer()
                        .and_then(|raw| u8::try_from(raw).ok())
                        .and_then(CodeKind::from_u8)
                        .ok_or("kind (-70006) is not 0 (phone) or 1 (printed)")?;
                }
                _ => {}
            }
        }
        let claims = Claims {
            issuer: issuer.ok_or("missing iss (1)")?,
            issued_at: issued_at.ok_or("missing iat (6)")?,
            expires_at: expires_at.ok_or("missing exp (4)")?,
            person: person.ok_or("missing person (-70001)")?,
            color: color.ok_or("missing color (-70002)")?,
            masked_name: masked_name.ok_or("missing masked name (-70003)")?,
            rule_set_version: rule_set_version.ok_or("missing rule-set version (-70004)")?,
            color_valid_until,
            kind,
        };
        claims.check()?;
        Ok(claims)
    }
}

fn text(value: &Value, what: &str) -> Result<String, String> {
    value
        .as_text()
        .map(str::to_owned)
        .ok_or_else(|| format!("{what} is not a text string"))
}

fn instant(value: &Value, what: &str) -> Result<Timestamp, String> {
    let secs = value
        .as_integer()
        .and_then(|secs| i64::try_from(secs).ok())
        .ok_or_else(|| format!("{what} is not an integer"))?;
    Timestamp::from_unix_secs(secs).map_err(|error| format!("{what}: {error}"))
}
