//! Minutes as PDF: the same blocks as Markdown and DOCX, typeset by typst (see
//! [`crate::pdf`]). A4 pages, numbered; tables with a header row repeated on each page.
//!
//! The typst program below is fixed; the blocks reach it as data (`sys.inputs.pages`:
//! lists of maps of strings), and a string placed in a document is always printed as
//! written. Nothing from the record is ever parsed as typst markup.
//!
//! Other documents made of blocks (participation records, 履职档案) use
//! [`blocks_to_pdf`]: one group of blocks per page (or more, when a group is long).

use std::path::Path;

use super::Minutes;
use super::layout::{Block, layout};
use crate::pdf::{self, Data, PdfError};

/// The typst program that prints pages of blocks. Every string comes from
/// `sys.inputs`; the program itself holds no text from a document.
const PROGRAM: &str = r#"#let data = sys.inputs
#set document(title: data.title)
#set page(
  paper: "a4",
  margin: (x: 2.2cm, top: 2.5cm, bottom: 2.5cm),
  footer: context align(center, text(size: 9pt, counter(page).display("1 / 1", both: true))),
)
#set text(font: data.font, size: 10.5pt, lang: "zh", region: "cn")
#set par(justify: true, leading: 0.75em)
#set heading(numbering: none)
#show heading.where(level: 1): set text(size: 13pt)
#show heading.where(level: 2): set text(size: 11pt)
#set table(stroke: 0.5pt + luma(110), inset: (x: 4pt, y: 4pt))
#show table: set text(size: 9pt)
#show table: set par(justify: false)
#for (i, page) in data.pages.enumerate() {
  if i > 0 { pagebreak() }
  for b in page {
    if b.kind == "title" {
      align(center, block(below: 1.2em, text(size: 16pt, weight: "bold", b.text)))
    } else if b.kind == "heading" {
      heading(level: 1, b.text)
    } else if b.kind == "subheading" {
      heading(level: 2, b.text)
    } else if b.kind == "paragraph" {
      par(b.text)
    } else if b.kind == "field" {
      block(above: 0.5em, below: 0.5em, strong(b.label + "：") + b.value)
    } else if b.kind == "code" {
      block(fill: luma(238), inset: 6pt, radius: 2pt, text(size: 8.5pt, b.text))
    } else if b.kind == "bullets" {
      list(..b.items)
    } else if b.kind == "table" {
      table(
        columns: b.head.len(),
        table.header(..b.head.map(strong)),
        ..b.rows.flatten(),
      )
    }
  }
}
"#;

/// One block as data for [`PROGRAM`].
fn block(block: Block) -> Data {
    let kind = |k: &str| ("kind", Data::str(k));
    Data::Map(match block {
        Block::Title(text) => vec![kind("title"), ("text", Data::Str(text))],
        Block::Heading(text) => vec![kind("heading"), ("text", Data::Str(text))],
        Block::Subheading(text) => vec![kind("subheading"), ("text", Data::Str(text))],
        Block::Paragraph(text) => vec![kind("paragraph"), ("text", Data::Str(text))],
        Block::Field(label, value) => vec![
            kind("field"),
            ("label", Data::Str(label)),
            ("value", Data::Str(value)),
        ],
        Block::Code(text) => vec![kind("code"), ("text", Data::Str(text))],
        Block::Bullets(items) => vec![kind("bullets"), ("items", Data::strs(items))],
        Block::Table { head, rows } => {
            let width = head.len();
            vec![
                kind("table"),
                ("head", Data::strs(head)),
                (
                    "rows",
                    Data::List(
                        rows.into_iter()
                            .map(|mut row| {
                                // Every row exactly as wide as the head, so cells never
                                // shift into the next row.
                                row.resize(width, String::new());
                                Data::strs(row)
                            })
                            .collect(),
                    ),
                ),
            ]
        }
    })
}

fn inputs(title: &str, pages: Vec<Vec<Block>>) -> Vec<(&'static str, Data)> {
    vec![
        ("title", Data::str(title)),
        (
            "pages",
            Data::List(
                pages
                    .into_iter()
                    .map(|page| Data::List(page.into_iter().map(block).collect()))
                    .collect(),
            ),
        ),
    ]
}

/// Pages of blocks as a PDF titled `title` (the document's metadata): each group of
/// blocks starts on a new page. `font` is the configured font file, if any.
pub fn blocks_to_pdf(
    font: Option<&Path>,
    title: &str,
    pages: Vec<Vec<Block>>,
) -> Result<Vec<u8>, PdfError> {
    pdf::render(font, PROGRAM, inputs(title, pages))
}

/// The minutes as the bytes of a PDF file.
pub fn to_pdf(minutes: &Minutes, font: Option<&Path>) -> Result<Vec<u8>, PdfError> {
    blocks_to_pdf(
        font,
        &format!("{}　会议纪要", minutes.title),
        vec![layout(minutes)],
    )
}

/// The text of each page of pages of blocks, as laid out (for tests).
#[cfg(all(test, feature = "pdf"))]
pub(crate) fn page_texts(title: &str, pages: Vec<Vec<Block>>) -> Result<Vec<String>, PdfError> {
    pdf::page_texts(PROGRAM, inputs(title, pages))
}

#[cfg(all(test, feature = "pdf"))]
mod tests {
    use super::*;

    /// Characters that start markup in typst, in a name, a title, a cell and a list item.
    const HOSTILE: &str = r#"#let x = 1 *粗* _斜_ $x^2$ [链接] \ @ref <label> `code` = 标题 - 项 // 注释 /* c */ "q""#;

    fn squash(text: &str) -> String {
        text.split_whitespace().collect()
    }

    #[test]
    fn markup_characters_in_text_are_printed_as_written() {
        let pages = vec![vec![
            Block::Title(HOSTILE.to_owned()),
            Block::Heading(HOSTILE.to_owned()),
            Block::Subheading(HOSTILE.to_owned()),
            Block::Paragraph(HOSTILE.to_owned()),
            Block::Field(HOSTILE.to_owned(), HOSTILE.to_owned()),
            Block::Code(HOSTILE.to_owned()),
            Block::Bullets(vec![HOSTILE.to_owned()]),
            Block::Table {
                head: vec!["姓名".to_owned(), HOSTILE.to_owned()],
                rows: vec![vec![HOSTILE.to_owned(), "#".to_owned()]],
            },
        ]];
        let texts = page_texts(HOSTILE, pages).expect("typeset");
        let all = squash(&texts.concat());
        let hostile = squash(HOSTILE);
        // Title, heading, subheading, paragraph, field (label and value), code, list
        // item, header cell and body cell: ten times, every character there.
        assert_eq!(all.matches(&hostile).count(), 10, "{all}");
    }

    #[test]
    fn each_group_of_blocks_starts_a_page() {
        let page = |name: &str| {
            vec![
                Block::Title(format!("履职档案：{name}")),
                Block::Field("积分".to_owned(), "6".to_owned()),
            ]
        };
        let texts = page_texts("t", vec![page("李委员"), page("王委员")]).expect("typeset");
        assert_eq!(texts.len(), 2);
        assert!(
            squash(&texts[0]).contains("履职档案：李委员积分：6"),
            "{texts:?}"
        );
        assert!(squash(&texts[1]).contains("王委员"), "{texts:?}");
    }
}
