//! Rules for text typed on the board: titles, topic texts, comments, notes. The same
//! rules as the room's typed text (NFC, trimmed, no control characters but line breaks)
//! with the board's own limits. The room's helper is private to `room/` and answers with
//! the room's error codes, hence this one.

use unicode_normalization::UnicodeNormalization;

use super::{ErrorCode, Rejection, reject};

/// At most this many characters in a title, an area, a category, a unit's name.
pub const MAX_SHORT: usize = 60;
/// At most this many in a topic's text, an opinion, a note or a comment.
pub const MAX_LONG: usize = 2_000;

/// `text` in NFC and trimmed, if it is not empty, has no control characters (line breaks
/// allowed where `lines`) and at most `max` characters. `what` names it in the refusal.
pub(crate) fn clean(what: &str, text: &str, max: usize, lines: bool) -> Result<String, Rejection> {
    let text: String = text.nfc().collect::<String>().trim().to_owned();
    if text.is_empty() {
        return reject(ErrorCode::TextEmpty, format!("the {what} is empty"));
    }
    if text
        .chars()
        .any(|c| c.is_control() && !(lines && c == '\n'))
    {
        return reject(
            ErrorCode::TextInvalid,
            format!("the {what} has control characters"),
        );
    }
    let n = text.chars().count();
    if n > max {
        return reject(
            ErrorCode::TextTooLong,
            format!("the {what} has {n} characters; at most {max} are allowed"),
        );
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn text_is_normalised_trimmed_and_bounded() {
        assert_eq!(
            clean("title", "  cafe\u{301} ", 10, false).unwrap(),
            "caf\u{e9}"
        );
        assert_eq!(
            clean("title", "  ", 10, false).unwrap_err().code,
            ErrorCode::TextEmpty
        );
        assert_eq!(
            clean("title", "a\nb", 10, false).unwrap_err().code,
            ErrorCode::TextInvalid
        );
        assert_eq!(clean("text", "a\nb", 10, true).unwrap(), "a\nb");
        assert_eq!(
            clean("title", &"议".repeat(11), 10, false)
                .unwrap_err()
                .code,
            ErrorCode::TextTooLong
        );
    }
}
