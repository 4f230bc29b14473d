//! Reading a client's frame: JSON into a [`ClientMessage`], with names as the only tags.
//!
//! serde's internally tagged enums also accept a variant's *index* as its tag, so
//! `{"type":"command","command":{"type":4}}` would be the fifth command. Numbers are not
//! part of the protocol: [`ClientMessage::from_json`] first walks the frame and refuses a
//! number wherever a tag (`type`, `kind`, `decision`) stands, then parses it. The walk
//! allocates nothing and stops at the first refusal.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::ClientMessage;

/// The object keys that carry an enum's tag somewhere in the protocol.
const TAGS: [&str; 3] = ["type", "kind", "decision"];

impl ClientMessage {
    /// Parse one text frame. Unknown or numeric tags, missing fields and anything else
    /// that is not a documented message are refused with serde_json's error.
    pub fn from_json(text: &str) -> Result<ClientMessage, serde_json::Error> {
        let mut walk = serde_json::Deserializer::from_str(text);
        Walk { tag: false }.deserialize(&mut walk)?;
        serde_json::from_str(text)
    }
}

/// Visits any JSON value; `tag` says whether it stands under a tag key.
#[derive(Clone, Copy)]
struct Walk {
    tag: bool,
}

impl<'de> DeserializeSeed<'de> for Walk {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl Walk {
    fn number<E: de::Error>(self) -> Result<(), E> {
        if self.tag {
            Err(E::custom(
                "a tag (`type`, `kind`, `decision`) is a name, not a number",
            ))
        } else {
            Ok(())
        }
    }
}

impl<'de> Visitor<'de> for Walk {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.number()
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.number()
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.number()
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Walk { tag: false })?.is_some() {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(tag) = map.next_key_seed(Key)? {
            map.next_value_seed(Walk { tag })?;
        }
        Ok(())
    }
}

/// An object key: whether it is one of [`TAGS`].
struct Key;

impl<'de> DeserializeSeed<'de> for Key {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object key")
    }
    fn visit_str<E: de::Error>(self, key: &str) -> Result<bool, E> {
        Ok(TAGS.contains(&key))
    }
}

#[cfg(test)]
mod tests {
    use crate::{ClientMessage, Command};

    fn parse(text: &str) -> Result<ClientMessage, String> {
        ClientMessage::from_json(text).map_err(|e| e.to_string())
    }

    #[test]
    fn a_command_given_by_its_index_is_refused() {
        let err = parse(r#"{"type":"command","req":"r1","command":{"type":4}}"#).unwrap_err();
        assert!(err.contains("not a number"), "{err}");
        // The same command by name is accepted.
        let ok = parse(r#"{"type":"command","req":"r1","command":{"type":"close_session"}}"#);
        assert!(
            matches!(ok, Ok(ClientMessage::Command(ref c)) if c.command == Command::CloseSession),
            "{ok:?}"
        );
    }

    #[test]
    fn a_message_type_given_as_a_number_is_refused() {
        assert!(parse(r#"{"type":2}"#).is_err());
        assert!(parse(r#"{"type":2.0}"#).is_err());
        assert!(matches!(
            parse(r#"{"type":"ping"}"#),
            Ok(ClientMessage::Ping)
        ));
    }

    #[test]
    fn nested_tags_must_be_names_too() {
        let ballot = |choice: &str| {
            format!(
                r#"{{"type":"command","req":"r","command":{{"type":"cast_ballot","poll":1,"choice":{choice}}}}}"#
            )
        };
        assert!(parse(&ballot(r#"{"kind":"single","option":1}"#)).is_ok());
        assert!(parse(&ballot(r#"{"kind":0,"option":1}"#)).is_err());
        // Numbers elsewhere are untouched.
        assert!(parse(&ballot(r#"{"kind":"rating","stars":5}"#)).is_ok());
    }

    #[test]
    fn a_missing_reason_is_an_empty_one_for_the_room_to_refuse() {
        let text = r#"{"type":"command","req":"r","command":{"type":"remove_entry","entry":3}}"#;
        let Ok(ClientMessage::Command(c)) = parse(text) else {
            panic!("parses")
        };
        assert_eq!(
            c.command,
            Command::RemoveEntry {
                entry: crate::EntryId(3),
                reason: String::new()
            }
        );
    }

    #[test]
    fn text_that_merely_mentions_a_tag_is_fine() {
        let chat =
            r#"{"type":"command","req":"r","command":{"type":"send_chat","text":"type: 4"}}"#;
        assert!(parse(chat).is_ok());
        assert!(parse("not json").is_err());
        assert!(parse(r#"{"type":"command","req":"r","command":{"type":"no_such"}}"#).is_err());
    }
}
