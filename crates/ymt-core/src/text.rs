//! Free text accepted from clients (reasons, notes, names, appeal texts):
//! one newtype, [`PlainText`], parsed at the edge.
//!
//! It refuses control characters (NUL included) and the Unicode
//! bidirectional controls, which let a text display differently from what it
//! holds: U+202E (right-to-left override) placed before `evitagen`
//! makes a reason display as `negative` on a console while holding a different word, and a NUL truncates the text in C
//! consumers. Tab and line feed are allowed (appeals have paragraphs). Lengths
//! stay with each field (they differ); this type is about which characters.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a text was refused: the first offending character and its position.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("character {index} is the control character U+{code_point:04X}")]
    Control { index: usize, code_point: u32 },
    #[error(
        "character {index} is the bidirectional control U+{code_point:04X}, which can make text display as something it is not"
    )]
    Bidi { index: usize, code_point: u32 },
}

/// The bidirectional formatting characters: embeddings and overrides
/// (U+202A–U+202E), isolates (U+2066–U+2069), the marks U+200E/U+200F and
/// the Arabic letter mark U+061C.
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
}

/// Whether a character is refused in free text: any control character
/// (Unicode category Cc, NUL included) except tab and line feed, and the
/// bidirectional controls.
pub fn is_refused_in_text(c: char) -> bool {
    (c.is_control() && c != '\t' && c != '\n') || is_bidi_control(c)
}

/// Text holding no refused character ([`is_refused_in_text`]).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PlainText(String);

impl PlainText {
    pub fn parse(text: &str) -> Result<PlainText, TextError> {
        check(text)?;
        Ok(PlainText(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// Checks a text without copying it: what [`PlainText::parse`] refuses.
pub fn check(text: &str) -> Result<(), TextError> {
    match text
        .chars()
        .enumerate()
        .find(|(_, c)| is_refused_in_text(*c))
    {
        None => Ok(()),
        Some((index, c)) if is_bidi_control(c) => Err(TextError::Bidi {
            index,
            code_point: u32::from(c),
        }),
        Some((index, c)) => Err(TextError::Control {
            index,
            code_point: u32::from(c),
        }),
    }
}

impl TryFrom<String> for PlainText {
    type Error = TextError;

    fn try_from(text: String) -> Result<PlainText, TextError> {
        check(&text)?;
        Ok(PlainText(text))
    }
}

impl From<PlainText> for String {
    fn from(text: PlainText) -> String {
        text.0
    }
}

impl fmt::Display for PlainText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reason_with_a_right_to_left_override_is_refused() {
        for (text, expected) in [
            ("positive \u{202E}evitagen", Some(9)),
            ("a\u{0}b", Some(1)),
            ("\u{2066}x", Some(0)),
            ("x\u{200F}", Some(1)),
            ("\u{061C}", Some(0)),
            ("line\r\n", Some(4)),
            ("\u{7F}", Some(0)),
            ("阳性, 密接\n第二段\t结束", None),
            ("emoji 👩\u{200D}⚕️ joiner", None),
            ("", None),
        ] {
            let index = PlainText::parse(text).err().map(|error| match error {
                TextError::Control { index, .. } | TextError::Bidi { index, .. } => index,
            });
            assert_eq!(index, expected, "{text:?}");
        }
        let json = serde_json::from_str::<PlainText>(r#""abc\u202edef""#);
        assert!(json.is_err());
    }
}
