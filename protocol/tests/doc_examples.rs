//! The JSON examples in `docs/protocol.md` are real: each fenced block marked
//! ```` ```json client ````, `server`, `command`, `event` or `record` must deserialise into
//! its type and serialise back to the same JSON (so a misspelt or invented field fails
//! too), and every command, event, message and error code of the code must be in the doc.

use std::collections::BTreeSet;
use std::fmt::Debug;

use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value;
use yishi_protocol::{ClientMessage, Command, EventBody, RecordEntry, ServerMessage};

const DOC: &str = "docs/protocol.md";

fn read(relative: &str) -> String {
    let path = format!("{}/{relative}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}

fn doc() -> String {
    read(&format!("../{DOC}"))
}

/// A fenced code block: the line its opening fence is on (1-based), its info string and
/// its text.
struct Block {
    line: usize,
    info: String,
    text: String,
}

fn fenced_blocks(doc: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut open: Option<Block> = None;
    for (i, line) in doc.lines().enumerate() {
        let trimmed = line.trim();
        match open.take() {
            None => {
                if let Some(info) = trimmed.strip_prefix("```") {
                    open = Some(Block {
                        line: i + 1,
                        info: info.trim().to_string(),
                        text: String::new(),
                    });
                }
            }
            Some(mut block) => {
                if trimmed == "```" {
                    blocks.push(block);
                } else {
                    block.text.push_str(line);
                    block.text.push('\n');
                    open = Some(block);
                }
            }
        }
    }
    if let Some(block) = open {
        panic!("{DOC}:{}: code block is never closed", block.line);
    }
    blocks
}

/// Parse `block` as `T`, check that it round-trips and that it is exactly what `T`
/// serialises to. Returns the value as JSON.
fn check<T>(block: &Block, type_name: &str) -> Result<Value, String>
where
    T: DeserializeOwned + Serialize + PartialEq + Debug,
{
    let at = format!("{DOC}:{} (```{})", block.line, block.info);
    let parsed: T = serde_json::from_str(&block.text)
        .map_err(|e| format!("{at}: does not parse as {type_name}: {e}"))?;
    let again = serde_json::to_string(&parsed)
        .map_err(|e| format!("{at}: {type_name} does not serialise: {e}"))?;
    let reparsed: T = serde_json::from_str(&again)
        .map_err(|e| format!("{at}: re-serialised {type_name} does not parse: {e}"))?;
    if reparsed != parsed {
        return Err(format!(
            "{at}: {type_name} changes on a round trip:\n  {parsed:?}\n  {reparsed:?}"
        ));
    }
    let written: Value =
        serde_json::from_str(&block.text).map_err(|e| format!("{at}: not valid JSON: {e}"))?;
    let serialised =
        serde_json::to_value(&parsed).map_err(|e| format!("{at}: {type_name}: {e}"))?;
    if written != serialised {
        return Err(format!(
            "{at}: the example is not what {type_name} serialises to (a misspelt or unknown \
             field is ignored when parsing, and fields with a default are always sent):\n  \
             example:    {written}\n  serialised: {serialised}"
        ));
    }
    Ok(serialised)
}

/// The kinds of example block, with the `type` tags seen in each.
#[derive(Default)]
struct Seen {
    client: BTreeSet<String>,
    server: BTreeSet<String>,
    command: BTreeSet<String>,
    event: BTreeSet<String>,
    record: usize,
}

fn tag(value: &Value) -> String {
    value
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn check_examples(doc: &str) -> (Seen, Vec<String>) {
    let mut seen = Seen::default();
    let mut errors = Vec::new();
    for block in fenced_blocks(doc) {
        let result =
            match block.info.as_str() {
                "json client" => check::<ClientMessage>(&block, "ClientMessage")
                    .map(|v| seen.client.insert(tag(&v))),
                "json server" => check::<ServerMessage>(&block, "ServerMessage")
                    .map(|v| seen.server.insert(tag(&v))),
                "json command" => {
                    check::<Command>(&block, "Command").map(|v| seen.command.insert(tag(&v)))
                }
                "json event" => {
                    check::<EventBody>(&block, "EventBody").map(|v| seen.event.insert(tag(&v)))
                }
                "json record" => check::<RecordEntry>(&block, "RecordEntry").map(|_| {
                    seen.record += 1;
                    true
                }),
                info if info.starts_with("json") => Err(format!(
                    "{DOC}:{}: unknown example kind ```{info}: use json client, json server, \
                 json command, json event or json record",
                    block.line
                )),
                _ => Ok(true),
            };
        if let Err(e) = result {
            errors.push(e);
        }
    }
    (seen, errors)
}

/// The variant names of `pub enum <name>` in `source`, read from the source text, so a
/// variant added to the code cannot be forgotten here.
fn variants(source: &str, name: &str) -> Vec<String> {
    let start = format!("pub enum {name} {{");
    let mut lines = source.lines().skip_while(|l| l.trim() != start);
    assert!(lines.next().is_some(), "`{start}` not found");
    let mut depth = 1usize;
    let mut found = Vec::new();
    for line in lines {
        let code = line.split("//").next().unwrap_or_default().trim();
        if depth == 1 && code.starts_with(|c: char| c.is_ascii_uppercase()) {
            found.push(
                code.chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect(),
            );
        }
        for c in code.chars() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                _ => {}
            }
        }
        if depth == 0 {
            break;
        }
    }
    assert!(!found.is_empty(), "no variants found in `{name}`");
    found
}

/// `OpenCheckIn` → `open_check_in`, as `#[serde(rename_all = "snake_case")]` does.
fn snake_case(camel: &str) -> String {
    let mut out = String::new();
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn tags(file: &str, name: &str) -> Vec<String> {
    variants(&read(file), name)
        .iter()
        .map(|v| snake_case(v))
        .collect()
}

fn missing(all: &[String], seen: &BTreeSet<String>) -> Vec<String> {
    all.iter().filter(|t| !seen.contains(*t)).cloned().collect()
}

#[test]
fn every_example_parses_as_its_type_and_round_trips() {
    let (seen, errors) = check_examples(&doc());
    assert!(
        errors.is_empty(),
        "{} example(s) in {DOC} are wrong:\n\n{}",
        errors.len(),
        errors.join("\n\n")
    );
    assert!(seen.record > 0, "{DOC} has no ```json record example");
}

#[test]
fn every_command_event_and_message_has_an_example() {
    let (seen, _) = check_examples(&doc());
    let mut gaps = Vec::new();
    for (kind, file, name, seen) in [
        ("command", "src/command.rs", "Command", &seen.command),
        ("event", "src/event.rs", "EventBody", &seen.event),
        ("client", "src/message.rs", "ClientMessage", &seen.client),
        ("server", "src/message.rs", "ServerMessage", &seen.server),
    ] {
        let absent = missing(&tags(file, name), seen);
        if !absent.is_empty() {
            gaps.push(format!(
                "no ```json {kind} example in {DOC} for {name} `type`s: {}",
                absent.join(", ")
            ));
        }
    }
    assert!(gaps.is_empty(), "{}", gaps.join("\n"));
}

#[test]
fn every_error_code_is_listed() {
    let doc = doc();
    let absent: Vec<String> = tags("src/error.rs", "ErrorCode")
        .into_iter()
        .filter(|code| !doc.contains(&format!("| `{code}` |")))
        .collect();
    assert!(
        absent.is_empty(),
        "error codes missing from the tables in {DOC}: {}",
        absent.join(", ")
    );
}

/// The tags read from the sources must be real: serde knows each of them (a struct
/// variant read alone fails for a missing field, never for an unknown variant).
fn assert_real_tags<T: DeserializeOwned + Debug>(file: &str, name: &str) {
    for tag in tags(file, name) {
        if let Err(e) = serde_json::from_str::<T>(&format!(r#"{{"type":"{tag}"}}"#)) {
            assert!(
                !e.to_string().contains("unknown variant"),
                "`{tag}`, read from {file}, is not a {name} tag: {e}"
            );
        }
    }
}

#[test]
fn variant_names_are_read_as_serde_names_them() {
    assert_eq!(snake_case("OpenCheckIn"), Command::OpenCheckIn.name());
    assert_eq!(
        snake_case("ShortenAll"),
        Command::ShortenAll { limit_s: 1 }.name()
    );
    assert_real_tags::<Command>("src/command.rs", "Command");
    assert_real_tags::<EventBody>("src/event.rs", "EventBody");
    assert_real_tags::<ClientMessage>("src/message.rs", "ClientMessage");
    assert_real_tags::<ServerMessage>("src/message.rs", "ServerMessage");
    for code in tags("src/error.rs", "ErrorCode") {
        let parsed: Result<yishi_protocol::ErrorCode, _> =
            serde_json::from_value(Value::String(code.clone()));
        assert!(parsed.is_ok(), "`{code}` is not an error code");
    }
}
