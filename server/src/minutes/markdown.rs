//! Minutes as Markdown (CommonMark with GitHub tables). Text from the record (names,
//! questions, notes) is escaped so it can never become markup, while staying readable as
//! plain text (dates, times and hyphens are left alone).

use super::Minutes;
use super::layout::{Block, layout};

/// The minutes as a Markdown document.
pub fn to_markdown(minutes: &Minutes) -> String {
    let mut out = String::new();
    for block in layout(minutes) {
        match block {
            Block::Title(text) => push_line(&mut out, &format!("# {}", escape(&text))),
            Block::Heading(text) => push_line(&mut out, &format!("## {}", escape(&text))),
            Block::Subheading(text) => push_line(&mut out, &format!("### {}", escape(&text))),
            Block::Paragraph(text) => push_line(&mut out, &escape(&text)),
            Block::Field(label, value) => {
                // Consecutive fields form one paragraph, one per line (a hard break).
                if out.ends_with("  \n\n") {
                    out.truncate(out.len() - 1);
                }
                out.push_str(&format!("**{}**：{}  \n\n", escape(&label), escape(&value)));
            }
            Block::Code(text) => {
                push_line(&mut out, &format!("```\n{}\n```", text.replace('`', "'")))
            }
            Block::Bullets(items) => {
                let lines: Vec<String> = items.iter().map(|i| format!("- {}", escape(i))).collect();
                push_line(&mut out, &lines.join("\n"));
            }
            Block::Table { head, rows } => {
                let row = |cells: &[String]| {
                    let cells: Vec<String> = cells.iter().map(|c| cell(c)).collect();
                    format!("| {} |", cells.join(" | "))
                };
                let mut lines = vec![row(&head), format!("|{}", " --- |".repeat(head.len()))];
                lines.extend(rows.iter().map(|r| row(r)));
                push_line(&mut out, &lines.join("\n"));
            }
        }
    }
    out
}

fn push_line(out: &mut String, text: &str) {
    out.push_str(text);
    out.push_str("\n\n");
}

/// Text on one line with every character that could start inline markup escaped, and a
/// leading `#`, `-`, `+`, `=`, `>` or `1.` that could start a block escaped too.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '~' | '&' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' | '\t' => out.push(' '),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    let digits = out.chars().take_while(char::is_ascii_digit).count();
    let after_digits = out[digits..].chars().next();
    let block_start = matches!(out.chars().next(), Some('#' | '-' | '+' | '='))
        || (digits > 0 && matches!(after_digits, Some('.' | ')')));
    if block_start {
        if digits > 0 {
            out.insert(digits, '\\');
        } else {
            out.insert(0, '\\');
        }
    }
    out
}

/// A table cell: escaped, and never empty (an empty cell is fine, but a space reads
/// better in plain text).
fn cell(text: &str) -> String {
    if text.is_empty() {
        " ".to_owned()
    } else {
        escape(text)
    }
}
