//! Rules for text that people type: chat, comments, questions, annotations.

use unicode_normalization::UnicodeNormalization;
use yishi_protocol::{ErrorCode, MAX_TEXT_CHARS};

use super::{Rejection, reject};

/// Normalise `text` to NFC and check it: not empty, at most 500 characters, no control
/// characters except line breaks. Surrounding white space is trimmed.
pub(crate) fn clean(text: &str) -> Result<String, Rejection> {
    // Most text arrives already in NFC (all ASCII does, and nearly all CJK input): the
    // quick check spares the copy through the normaliser.
    let normalised: String = match unicode_normalization::is_nfc_quick(text.chars()) {
        unicode_normalization::IsNormalized::Yes => text.to_owned(),
        _ => text.nfc().collect(),
    };
    let trimmed = normalised.trim();
    if trimmed.is_empty() {
        return reject(ErrorCode::TextEmpty, "the text is empty");
    }
    if trimmed.chars().any(|c| c.is_control() && c != '\n') {
        return reject(ErrorCode::TextInvalid, "control characters are not allowed");
    }
    let chars = trimmed.chars().count();
    if chars > MAX_TEXT_CHARS {
        return reject(
            ErrorCode::TextTooLong,
            format!("the text has {chars} characters; at most {MAX_TEXT_CHARS} are allowed"),
        );
    }
    Ok(if trimmed.len() == normalised.len() {
        normalised
    } else {
        trimmed.to_owned()
    })
}

/// Whether `text` contains a word of the list (case-insensitive, after NFC).
pub(crate) fn matches_word_list(text: &str, words: &[String]) -> bool {
    if words.is_empty() {
        return false;
    }
    let lower = text.to_lowercase();
    words
        .iter()
        .any(|w| !w.is_empty() && lower.contains(w.as_str()))
}

/// A word list entry as it is stored: NFC, trimmed, lower case.
pub(crate) fn normalise_word(word: &str) -> String {
    word.nfc().collect::<String>().trim().to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_normalised_to_nfc() {
        // "é" as e + combining acute becomes the single code point.
        assert_eq!(clean("cafe\u{301}").unwrap(), "caf\u{e9}");
    }

    #[test]
    fn text_of_500_characters_passes_and_501_is_refused() {
        let ok = "议".repeat(500);
        assert_eq!(clean(&ok).unwrap().chars().count(), 500);
        let long = "议".repeat(501);
        assert_eq!(clean(&long).unwrap_err().code, ErrorCode::TextTooLong);
    }

    #[test]
    fn control_characters_are_refused_but_line_breaks_are_kept() {
        assert_eq!(clean("a\u{7}b").unwrap_err().code, ErrorCode::TextInvalid);
        assert_eq!(clean("a\u{0}b").unwrap_err().code, ErrorCode::TextInvalid);
        assert_eq!(clean("第一行\n第二行").unwrap(), "第一行\n第二行");
    }

    #[test]
    fn blank_text_is_refused() {
        assert_eq!(clean("  \n ").unwrap_err().code, ErrorCode::TextEmpty);
    }

    #[test]
    fn the_word_list_matches_regardless_of_case() {
        let words = vec![normalise_word("Spam"), normalise_word("广告")];
        assert!(matches_word_list("buy SPAM now", &words));
        assert!(matches_word_list("这是广告", &words));
        assert!(!matches_word_list("关于养老服务的建议", &words));
    }
}
