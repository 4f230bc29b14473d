//! `yishi-pdf`: the server's PDF worker. Reads one request as JSON on standard input,
//! typesets it with typst (used as a library) and writes the PDF to standard output.
//!
//! ```json
//! {"program": "#let data = sys.inputs …", "font": "/usr/share/fonts/…/NotoSerifCJK-Regular.ttc",
//!  "inputs": {"title": "…", "pages": [[{"kind": "title", "text": "…"}]]}}
//! ```
//!
//! `program` is a typst program of the server's own; `inputs` reach it as `sys.inputs`
//! (strings, integers, lists and maps), never spliced into markup, so text from a record
//! is printed as written. `inputs.font` is set to the family to set text in: the
//! Simplified Chinese face (`… CJK SC`) of the font file, whose `-Bold` sibling is
//! loaded too when present. No file but the font is read, and there is no clock: the
//! same request gives the same bytes.
//!
//! Exit status: 0 with the PDF on standard output; 2 for a request that cannot be read;
//! 3 for a font file that cannot be used; 1 when typesetting fails. The reason is one
//! line on standard error.

use std::io::{Read, Write};
use std::path::Path;
use std::process::ExitCode;

use typst::diag::{FileError, FileResult, SourceDiagnostic};
use typst::foundations::{Array, Bytes, Datetime, Dict, Duration, Str, Value};
use typst::syntax::{FileId, RootedPath, Source, VirtualPath, VirtualRoot};
use typst::text::{Font, FontBook};
use typst::utils::LazyHash;
use typst::{Library, LibraryExt, World};
use typst_layout::PagedDocument;

/// Why a document was not made, with the exit status that says so.
enum Failure {
    Request(String),
    Font(String),
    Typeset(String),
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            let (status, message) = match failure {
                Failure::Typeset(m) => (1, m),
                Failure::Request(m) => (2, m),
                Failure::Font(m) => (3, m),
            };
            eprintln!("{message}");
            ExitCode::from(status)
        }
    }
}

fn run() -> Result<(), Failure> {
    let mut request = String::new();
    std::io::stdin()
        .read_to_string(&mut request)
        .map_err(|e| Failure::Request(format!("cannot read the request: {e}")))?;
    let request: serde_json::Value = serde_json::from_str(&request)
        .map_err(|e| Failure::Request(format!("the request is not JSON: {e}")))?;
    let field = |name: &str| {
        request
            .get(name)
            .ok_or_else(|| Failure::Request(format!("the request has no {name:?}")))
    };
    let program = field("program")?
        .as_str()
        .ok_or_else(|| Failure::Request("\"program\" is not a string".to_owned()))?;
    let font = field("font")?
        .as_str()
        .ok_or_else(|| Failure::Request("\"font\" is not a string".to_owned()))?;
    let Value::Dict(inputs) = value(field("inputs")?)? else {
        return Err(Failure::Request("\"inputs\" is not an object".to_owned()));
    };
    let fonts = Fonts::load(Path::new(font))?;
    let pdf = typeset(&fonts, program, inputs)?;
    let mut out = std::io::stdout().lock();
    out.write_all(&pdf)
        .and_then(|()| out.flush())
        .map_err(|e| Failure::Request(format!("cannot write the PDF: {e}")))
}

/// A JSON value as the typst value the program reads (no floats: documents print text).
fn value(json: &serde_json::Value) -> Result<Value, Failure> {
    Ok(match json {
        serde_json::Value::String(s) => Value::Str(Str::from(s.as_str())),
        serde_json::Value::Number(n) => Value::Int(
            n.as_i64()
                .ok_or_else(|| Failure::Request(format!("{n} is not an integer")))?,
        ),
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Null => Value::None,
        serde_json::Value::Array(items) => {
            Value::Array(items.iter().map(value).collect::<Result<Array, _>>()?)
        }
        serde_json::Value::Object(fields) => Value::Dict(
            fields
                .iter()
                .map(|(k, v)| Ok((Str::from(k.as_str()), value(v)?)))
                .collect::<Result<Dict, Failure>>()?,
        ),
    })
}

/// The faces of one font file (and of its bold sibling).
struct Fonts {
    book: LazyHash<FontBook>,
    fonts: Vec<Font>,
    /// The family to set text in: its Simplified Chinese face (`… CJK SC`).
    family: String,
}

impl Fonts {
    /// Every face of the file at `path`, and of its bold sibling
    /// (`NotoSerifCJK-Regular.ttc` → `NotoSerifCJK-Bold.ttc`) when there is one.
    fn load(path: &Path) -> Result<Fonts, Failure> {
        let data = std::fs::read(path)
            .map_err(|e| Failure::Font(format!("cannot read {}: {e}", path.display())))?;
        let mut fonts: Vec<Font> = Font::iter(Bytes::new(data)).collect();
        if fonts.is_empty() {
            return Err(Failure::Font(format!(
                "{} is not a font file (OpenType, TrueType or a collection of them)",
                path.display()
            )));
        }
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.contains("-Regular.") {
            let bold = path.with_file_name(name.replacen("-Regular.", "-Bold.", 1));
            if let Ok(data) = std::fs::read(&bold) {
                fonts.extend(Font::iter(Bytes::new(data)));
            }
        }
        let families: Vec<&str> = fonts.iter().map(|f| f.info().family.as_str()).collect();
        let family = families
            .iter()
            .find(|f| f.ends_with(" SC"))
            .or(families.first())
            .map_or_else(String::new, |f| (*f).to_owned());
        Ok(Fonts {
            book: LazyHash::new(FontBook::from_fonts(&fonts)),
            fonts,
            family,
        })
    }
}

/// One document: the program, its data and the fonts. No file is read.
struct Document<'a> {
    library: LazyHash<Library>,
    fonts: &'a Fonts,
    main: Source,
}

impl World for Document<'_> {
    fn library(&self) -> &LazyHash<Library> {
        &self.library
    }

    fn book(&self) -> &LazyHash<FontBook> {
        &self.fonts.book
    }

    fn main(&self) -> FileId {
        self.main.id()
    }

    fn source(&self, id: FileId) -> FileResult<Source> {
        if id == self.main.id() {
            Ok(self.main.clone())
        } else {
            Err(FileError::AccessDenied)
        }
    }

    fn file(&self, _id: FileId) -> FileResult<Bytes> {
        Err(FileError::AccessDenied)
    }

    fn font(&self, index: usize) -> Option<Font> {
        self.fonts.fonts.get(index).cloned()
    }

    /// No clock: the same data gives the same document.
    fn today(&self, _offset: Option<Duration>) -> Option<Datetime> {
        None
    }
}

fn messages(diagnostics: &[SourceDiagnostic]) -> String {
    diagnostics
        .iter()
        .map(|d| d.message.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

fn typeset(fonts: &Fonts, program: &str, mut inputs: Dict) -> Result<Vec<u8>, Failure> {
    inputs.insert(
        Str::from("font"),
        Value::Str(Str::from(fonts.family.as_str())),
    );
    let id = VirtualPath::new("main.typ")
        .map(|p| RootedPath::new(VirtualRoot::Project, p).intern())
        .map_err(|e| Failure::Typeset(format!("{e:?}")))?;
    let document = Document {
        library: LazyHash::new(Library::builder().with_inputs(inputs).build()),
        fonts,
        main: Source::new(id, program.to_owned()),
    };
    let compiled = typst::compile::<PagedDocument>(&document)
        .output
        .map_err(|e| Failure::Typeset(messages(&e)))?;
    // No timestamp and a fixed creator: the same data gives the same bytes.
    let options = typst_pdf::PdfOptions {
        creator: typst::foundations::Smart::Custom(Some("Yishi (议事)".to_owned())),
        ..Default::default()
    };
    typst_pdf::pdf(&compiled, &options).map_err(|e| Failure::Typeset(messages(&e)))
}
