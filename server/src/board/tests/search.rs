//! The search's tokeniser: what a word is, its tokens, and that a query word is found as
//! the phrase of its tokens exactly where it is a substring of the title or of the text.

use crate::board::search::{GAP, indexed, tokens, words};

/// Whether the tokens of each word of `query` follow one another in `index`, as the
/// store's phrase query asks (a one-character word: anywhere in a token).
fn found(index: &str, query: &str) -> bool {
    let stream: Vec<&str> = index.split(' ').collect();
    words(query).iter().all(|word| {
        let phrase = tokens(word);
        if word.chars().count() == 1 {
            return stream
                .iter()
                .any(|t| *t != GAP && t.contains(word.as_str()));
        }
        stream
            .windows(phrase.len())
            .any(|w| w.iter().zip(&phrase).all(|(a, b)| a == b))
    })
}

#[test]
fn words_are_normalised_and_cut_at_punctuation_and_spaces() {
    assert_eq!(
        words("小区停车难，晚上车辆乱停。"),
        ["小区停车难", "晚上车辆乱停"]
    );
    assert_eq!(words("Hello, World!  ＡＢＣ"), ["hello", "world", "abc"]);
    assert_eq!(words("5G基站 建设"), ["5g基站", "建设"]);
    assert_eq!(words("“停车”\t(养老)"), ["停车", "养老"]);
    assert_eq!(words("caf\u{e9} CAFE\u{301}"), ["caf\u{e9}", "caf\u{e9}"]);
    assert!(words(" ，。!?\"*'() ").is_empty());
}

#[test]
fn a_word_is_its_overlapping_bigrams() {
    assert_eq!(tokens("停车"), ["停车"]);
    assert_eq!(tokens("停车场"), ["停车", "车场"]);
    assert_eq!(tokens("road"), ["ro", "oa", "ad"]);
    assert_eq!(tokens("5g基站"), ["5g", "g基", "基站"]);
    assert_eq!(tokens("车"), ["车"]);
    assert_eq!(indexed("停车难", "养老 A"), "停车 车难 · 养老 · a ·");
    assert_eq!(indexed("", "，。"), "");
}

#[test]
fn chinese_words_of_two_and_more_characters_are_found() {
    let index = indexed("小区停车难", "老旧小区停车位严重不足，晚上车辆乱停。");
    for word in [
        "停车",
        "小区",
        "停车难",
        "老旧小区停车位",
        "乱停",
        "车位 不足",
        "车",
    ] {
        assert!(found(&index, word), "{word}");
    }
    for word in ["养老", "停车场", "不足晚上", "停车 养老", "医"] {
        assert!(!found(&index, word), "{word}");
    }
}

#[test]
fn latin_and_mixed_words_are_found_in_any_case() {
    let index = indexed("WiFi信号差", "Parking near Road 5; 5G基站");
    for word in [
        "wifi",
        "WIFI信号",
        "ParKing",
        "ROAD",
        "5g基站",
        "g基",
        "ｗｉｆｉ",
    ] {
        assert!(found(&index, word), "{word}");
    }
    for word in ["roads", "road5", "nearroad", "wifi信号差劲"] {
        assert!(!found(&index, word), "{word}");
    }
}

#[test]
fn no_word_runs_across_punctuation_or_from_the_title_into_the_text() {
    let index = indexed("小区停车", "场地不足");
    assert!(found(&index, "停车") && found(&index, "场地"));
    assert!(!found(&index, "停车场"), "title and text are apart");
    assert!(!found(&index, "车场"));
    let index = indexed("", "ab,bc,cd");
    assert!(!found(&index, "abcd"), "words are apart");
    assert!(!found(&index, "abc"));
}
