//! PDF output: documents typeset with typst, used as a library (the `pdf` feature, on by
//! default). The minutes (会议纪要) and participation records (履职档案) each have a
//! fixed typst program of our own; what they print is handed to it as data
//! (`sys.inputs`: strings, numbers, lists and maps), never spliced into markup, so a
//! name like `#let` or `*` is printed as written and cannot become markup.
//!
//! One CJK font file (Noto Serif/Sans CJK, Debian's `fonts-noto-cjk`) is loaded on first
//! use and shared by every document after it; a `-Bold` file next to it is loaded too
//! when present. It is `--pdf-font FILE` (`YISHI_PDF_FONT`, config key `pdf_font`), or
//! the first of [`FONT_CANDIDATES`] that exists. Typesetting is CPU work: callers in the
//! server run it in `spawn_blocking`.
//!
//! Without the feature the same functions exist and return [`PdfError::Unavailable`].

use std::path::{Path, PathBuf};

/// The media type of a PDF file.
pub const PDF_MEDIA_TYPE: &str = "application/pdf";

/// Where the CJK font is looked for when none is configured, in order: Debian and
/// Ubuntu (`fonts-noto-cjk`), then Fedora and Arch.
pub const FONT_CANDIDATES: [&str; 6] = [
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/google-noto-serif-cjk-fonts/NotoSerifCJK-Regular.ttc",
    "/usr/share/fonts/google-noto-sans-cjk-fonts/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSerifCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
];

/// Why a PDF could not be made.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum PdfError {
    /// The server was built without the `pdf` feature.
    #[error("this build has no PDF output")]
    Unavailable,
    /// No usable font file.
    #[error(
        "no CJK font for PDF output: tried {}; install fonts-noto-cjk, or give --pdf-font FILE (YISHI_PDF_FONT)",
        tried.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    )]
    FontMissing { tried: Vec<PathBuf> },
    /// Typesetting failed (a bug in our typst program, or a font without the glyphs).
    #[error("cannot typeset the PDF: {0}")]
    Typeset(String),
}

/// What a document prints: plain values, handed to its typst program as data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Data {
    Str(String),
    Int(i64),
    List(Vec<Data>),
    Map(Vec<(&'static str, Data)>),
}

impl Data {
    pub fn str(text: impl Into<String>) -> Data {
        Data::Str(text.into())
    }

    /// A list of strings.
    pub fn strs<S: Into<String>>(items: impl IntoIterator<Item = S>) -> Data {
        Data::List(items.into_iter().map(Data::str).collect())
    }
}

/// The font files to try: the configured one only, or else the usual places.
fn candidates(configured: Option<&Path>) -> Vec<PathBuf> {
    match configured {
        Some(path) => vec![path.to_owned()],
        None => FONT_CANDIDATES.iter().map(PathBuf::from).collect(),
    }
}

/// The font file that would be used: the configured one, or the first candidate that
/// exists.
pub fn font_path(configured: Option<&Path>) -> Result<PathBuf, PdfError> {
    let tried = candidates(configured);
    tried
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or(PdfError::FontMissing { tried })
}

/// `program` (typst markup of our own) typeset with `inputs` as `sys.inputs`, as PDF.
#[cfg(feature = "pdf")]
pub fn render(
    font: Option<&Path>,
    program: &str,
    inputs: Vec<(&'static str, Data)>,
) -> Result<Vec<u8>, PdfError> {
    engine::render(font, program, inputs)
}

/// Without the `pdf` feature: always [`PdfError::Unavailable`].
#[cfg(not(feature = "pdf"))]
pub fn render(
    _font: Option<&Path>,
    _program: &str,
    _inputs: Vec<(&'static str, Data)>,
) -> Result<Vec<u8>, PdfError> {
    Err(PdfError::Unavailable)
}

/// The text of each page, as laid out (for tests: what a reader would see).
#[cfg(all(test, feature = "pdf"))]
pub(crate) fn page_texts(
    program: &str,
    inputs: Vec<(&'static str, Data)>,
) -> Result<Vec<String>, PdfError> {
    engine::page_texts(program, inputs)
}

#[cfg(feature = "pdf")]
mod engine {
    use std::path::{Path, PathBuf};
    use std::sync::{Arc, Mutex};

    use typst::diag::{FileError, FileResult, SourceDiagnostic};
    use typst::foundations::{Array, Bytes, Datetime, Dict, Duration, Str, Value};
    use typst::syntax::{FileId, RootedPath, Source, VirtualPath, VirtualRoot};
    use typst::text::{Font, FontBook};
    use typst::utils::LazyHash;
    use typst::{Library, LibraryExt, World};
    use typst_layout::PagedDocument;

    use super::{Data, PdfError, font_path};

    /// The loaded font file(s), shared by every document.
    struct Fonts {
        path: PathBuf,
        book: LazyHash<FontBook>,
        fonts: Vec<Font>,
        /// The family to set text in: its Simplified Chinese face (`… CJK SC`).
        family: String,
    }

    /// The fonts loaded so far (one set: the path configured, or found, first).
    static LOADED: Mutex<Option<Arc<Fonts>>> = Mutex::new(None);

    /// The fonts of `configured` (or the usual places), loaded on first use.
    fn fonts(configured: Option<&Path>) -> Result<Arc<Fonts>, PdfError> {
        let path = font_path(configured)?;
        // Held while loading, so that concurrent first documents load the file once.
        let mut loaded = LOADED.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(fonts) = loaded.as_ref().filter(|f| f.path == path) {
            return Ok(fonts.clone());
        }
        let fonts = Arc::new(load(&path)?);
        *loaded = Some(fonts.clone());
        Ok(fonts)
    }

    /// Every face of the file at `path`, and of its bold sibling
    /// (`NotoSerifCJK-Regular.ttc` → `NotoSerifCJK-Bold.ttc`) when there is one.
    fn load(path: &Path) -> Result<Fonts, PdfError> {
        let missing = || PdfError::FontMissing {
            tried: vec![path.to_owned()],
        };
        let data = std::fs::read(path).map_err(|_| missing())?;
        let mut fonts: Vec<Font> = Font::iter(Bytes::new(data)).collect();
        if fonts.is_empty() {
            return Err(PdfError::Typeset(format!(
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
            path: path.to_owned(),
            book: LazyHash::new(FontBook::from_fonts(&fonts)),
            fonts,
            family,
        })
    }

    /// One document: our program, its data and the shared fonts. No file is read.
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

    fn value(data: Data) -> Value {
        match data {
            Data::Str(s) => Value::Str(Str::from(s)),
            Data::Int(n) => Value::Int(n),
            Data::List(items) => Value::Array(items.into_iter().map(value).collect::<Array>()),
            Data::Map(fields) => Value::Dict(
                fields
                    .into_iter()
                    .map(|(k, v)| (Str::from(k), value(v)))
                    .collect::<Dict>(),
            ),
        }
    }

    fn messages(diagnostics: &[SourceDiagnostic]) -> String {
        diagnostics
            .iter()
            .map(|d| d.message.to_string())
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn compile(
        fonts: &Fonts,
        program: &str,
        inputs: Vec<(&'static str, Data)>,
    ) -> Result<PagedDocument, PdfError> {
        let mut dict: Dict = inputs
            .into_iter()
            .map(|(k, v)| (Str::from(k), value(v)))
            .collect();
        dict.insert(
            Str::from("font"),
            Value::Str(Str::from(fonts.family.as_str())),
        );
        let id = VirtualPath::new("main.typ")
            .map(|p| RootedPath::new(VirtualRoot::Project, p).intern())
            .map_err(|e| PdfError::Typeset(format!("{e:?}")))?;
        let document = Document {
            library: LazyHash::new(Library::builder().with_inputs(dict).build()),
            fonts,
            main: Source::new(id, program.to_owned()),
        };
        let out = typst::compile::<PagedDocument>(&document);
        for warning in &out.warnings {
            tracing::debug!(warning = %warning.message, "typst");
        }
        let compiled = out.output.map_err(|e| PdfError::Typeset(messages(&e)));
        // Memoized layouts are of no use to the next document (other data): drop them.
        typst::comemo::evict(0);
        compiled
    }

    pub(super) fn render(
        font: Option<&Path>,
        program: &str,
        inputs: Vec<(&'static str, Data)>,
    ) -> Result<Vec<u8>, PdfError> {
        let fonts = fonts(font)?;
        let document = compile(&fonts, program, inputs)?;
        // No timestamp and a fixed creator: the same data gives the same bytes.
        let options = typst_pdf::PdfOptions {
            creator: typst::foundations::Smart::Custom(Some("Yishi (议事)".to_owned())),
            ..Default::default()
        };
        typst_pdf::pdf(&document, &options).map_err(|e| PdfError::Typeset(messages(&e)))
    }

    #[cfg(test)]
    pub(super) fn page_texts(
        program: &str,
        inputs: Vec<(&'static str, Data)>,
    ) -> Result<Vec<String>, PdfError> {
        use typst::layout::{Frame, FrameItem};

        fn walk(frame: &Frame, out: &mut String) {
            for (_, item) in frame.items() {
                match item {
                    FrameItem::Group(group) => walk(&group.frame, out),
                    FrameItem::Text(text) => out.push_str(&text.text),
                    _ => {}
                }
            }
        }
        let fonts = fonts(None)?;
        let document = compile(&fonts, program, inputs)?;
        Ok(document
            .pages()
            .iter()
            .map(|page| {
                let mut text = String::new();
                walk(&page.frame, &mut text);
                text
            })
            .collect())
    }
}
