//! Minutes as PDF: the same blocks as Markdown and DOCX, typeset by typst (see
//! [`crate::pdf`]). A4 pages, numbered; tables with a header row repeated on each page.
//!
//! The typst program below is fixed; the blocks reach it as data (`sys.inputs.pages`:
//! lists of maps of strings), and a string placed in a document is always printed as
//! written. Nothing from the record is ever parsed as typst markup.
//!
//! Other documents made of blocks (participation records, 履职档案) use
//! [`blocks_to_pdf`]: one group of blocks per page (or more, when a group is long).

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
/// blocks starts on a new page.
pub fn blocks_to_pdf(
    settings: &pdf::Settings,
    title: &str,
    pages: Vec<Vec<Block>>,
) -> Result<Vec<u8>, PdfError> {
    pdf::render(settings, PROGRAM, inputs(title, pages))
}

/// The minutes as the bytes of a PDF file.
pub fn to_pdf(minutes: &Minutes, settings: &pdf::Settings) -> Result<Vec<u8>, PdfError> {
    blocks_to_pdf(
        settings,
        &format!("{}　会议纪要", minutes.title),
        vec![layout(minutes)],
    )
}
