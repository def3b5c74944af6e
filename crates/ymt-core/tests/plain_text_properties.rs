//! Property tests of `PlainText`, the one parser of client free text.

use proptest::prelude::*;
use ymt_core::text::{PlainText, TextError, is_bidi_control, is_refused_in_text};

const BIDI: [char; 10] = [
    '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}', '\u{2066}', '\u{2067}', '\u{2068}',
    '\u{2069}', '\u{061C}',
];

proptest! {
    /// Parsing never panics, and accepts exactly the texts without a refused
    /// character, unchanged.
    #[test]
    fn plain_text_accepts_exactly_the_texts_without_refused_characters(text in any::<String>()) {
        let refused = text.chars().position(is_refused_in_text);
        match PlainText::parse(&text) {
            Ok(parsed) => {
                prop_assert!(refused.is_none());
                prop_assert_eq!(parsed.as_str(), text.as_str());
                // Its JSON form reads back to itself.
                let json = serde_json::to_string(&parsed).unwrap();
                prop_assert_eq!(serde_json::from_str::<PlainText>(&json).unwrap(), parsed);
            }
            Err(TextError::Control { index, .. } | TextError::Bidi { index, .. }) => {
                prop_assert_eq!(Some(index), refused);
            }
        }
    }

    /// A bidi control or NUL anywhere in an otherwise valid text is refused,
    /// naming its position, through parse and through JSON alike.
    #[test]
    fn a_bidi_control_or_nul_anywhere_is_refused(
        before in "[a-z阳性 ,.\n]{0,20}",
        after in "[a-z阴性 ,.\t]{0,20}",
        which in 0usize..12,
    ) {
        let bad = if which < BIDI.len() { BIDI[which] } else if which == 10 { '\u{0}' } else { '\u{200F}' };
        let text = format!("{before}{bad}{after}");
        let index = before.chars().count();
        match PlainText::parse(&text) {
            Err(TextError::Bidi { index: at, code_point }) => {
                prop_assert!(is_bidi_control(bad));
                prop_assert_eq!(at, index);
                prop_assert_eq!(code_point, u32::from(bad));
            }
            Err(TextError::Control { index: at, code_point }) => {
                prop_assert_eq!(bad, '\u{0}');
                prop_assert_eq!(at, index);
                prop_assert_eq!(code_point, 0);
            }
            Ok(_) => prop_assert!(false, "{:?} was accepted", text),
        }
        prop_assert!(serde_json::from_value::<PlainText>(serde_json::Value::String(text)).is_err());
    }
}
