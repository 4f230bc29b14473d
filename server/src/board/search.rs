//! How the board's search cuts text, one tokeniser for the topics it indexes and for the
//! words it is asked for, so both are cut the same way. Text is NFKC-normalised and
//! lower-cased, then cut into words at anything that is not a letter or a digit (white
//! space, punctuation, symbols). A word is indexed as its overlapping two-character
//! tokens (停车场 → 停车 车场): Chinese has no spaces between words and no word list is
//! needed, and a word of n ≥ 2 characters is found from the index as the phrase of its
//! n − 1 tokens. A one-character word is its own token (searched by a scan).

use unicode_normalization::UnicodeNormalization;

/// The token after every word of an indexed text: no letter or digit, so no word's
/// token is ever equal to it or contains it, and a phrase cannot run from one word into
/// the next, nor from the title into the text.
pub const GAP: &str = "·";

/// The words of `text`: NFKC, lower case, cut at every character that is not a letter
/// or a digit.
pub fn words(text: &str) -> Vec<String> {
    let normal: String = text.nfkc().flat_map(char::to_lowercase).collect();
    normal
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A word's tokens: its overlapping bigrams, or the word itself if it has one character.
pub fn tokens(word: &str) -> Vec<String> {
    let chars: Vec<char> = word.chars().collect();
    if chars.len() < 2 {
        return vec![word.to_owned()];
    }
    chars.windows(2).map(|pair| pair.iter().collect()).collect()
}

/// What the index holds for a topic: the tokens of its title's words, then of its text's,
/// separated by spaces, each word followed by [`GAP`].
pub fn indexed(title: &str, text: &str) -> String {
    let mut out = String::new();
    for word in words(title).iter().chain(&words(text)) {
        for token in tokens(word) {
            out.push_str(&token);
            out.push(' ');
        }
        out.push_str(GAP);
        out.push(' ');
    }
    out.pop();
    out
}
