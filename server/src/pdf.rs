//! PDF output: documents typeset with typst by the PDF worker `yishi-pdf`
//! (`server/pdf-worker/`), a child process per document, so that typst stays out of the
//! server's build and address space (a crash or a runaway document costs one child).
//! The minutes (会议纪要) and participation records (履职档案) each have a fixed typst
//! program of our own; what they print is handed to it as data (`sys.inputs`: strings,
//! numbers, lists and maps), never spliced into markup, so a name like `#let` or `*` is
//! printed as written and cannot become markup.
//!
//! One CJK font file (Noto Serif/Sans CJK, Debian's `fonts-noto-cjk`) is used; a `-Bold`
//! file next to it is loaded too when present. It is `--pdf-font FILE` (`YISHI_PDF_FONT`,
//! config key `pdf_font`), or the first of [`FONT_CANDIDATES`] that exists. The worker is
//! `--pdf-worker FILE` (`YISHI_PDF_WORKER`, config key `pdf_worker`), or `yishi-pdf`
//! beside the running executable, or on `PATH`. Typesetting blocks its thread while the
//! child runs (a fraction of a second): callers in the server run it in `spawn_blocking`.

use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The media type of a PDF file.
pub const PDF_MEDIA_TYPE: &str = "application/pdf";

/// The worker's file name.
pub const WORKER: &str = "yishi-pdf";

/// How long one document may take before its worker is killed.
pub const WORKER_TIMEOUT: Duration = Duration::from_secs(60);

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

/// Where PDF output finds its font and its worker (both `None`: the usual places).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    pub font: Option<PathBuf>,
    pub worker: Option<PathBuf>,
}

/// Why a PDF could not be made.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum PdfError {
    /// No usable font file.
    #[error(
        "no CJK font for PDF output: tried {}; install fonts-noto-cjk, or give --pdf-font FILE (YISHI_PDF_FONT)",
        tried.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    )]
    FontMissing { tried: Vec<PathBuf> },
    /// No worker to run.
    #[error(
        "no PDF worker: tried {}; build it with `make pdf-worker` (it installs beside `yishi`), or give --pdf-worker FILE (YISHI_PDF_WORKER)",
        tried.join(", ")
    )]
    WorkerMissing { tried: Vec<String> },
    /// Typesetting failed (a bug in our typst program, a font without the glyphs, a
    /// worker that crashed or ran out of time).
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

    fn json(self) -> serde_json::Value {
        match self {
            Data::Str(s) => s.into(),
            Data::Int(n) => n.into(),
            Data::List(items) => items.into_iter().map(Data::json).collect(),
            Data::Map(fields) => fields
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.json()))
                .collect::<serde_json::Map<_, _>>()
                .into(),
        }
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

/// The worker to run, and what was tried to find it: the configured file, or
/// `yishi-pdf` beside the running executable, or on `PATH`.
fn worker(configured: Option<&Path>) -> (PathBuf, Vec<String>) {
    if let Some(path) = configured {
        return (path.to_owned(), vec![path.display().to_string()]);
    }
    let beside = std::env::current_exe()
        .ok()
        .map(|exe| exe.with_file_name(WORKER))
        .filter(|p| p.is_file());
    match beside {
        Some(path) => (path.clone(), vec![path.display().to_string()]),
        None => (
            PathBuf::from(WORKER),
            vec![format!("{WORKER} beside the executable and on PATH")],
        ),
    }
}

/// `program` (typst markup of our own) typeset with `inputs` as `sys.inputs`, as PDF,
/// by the worker (blocking until it is done, at most [`WORKER_TIMEOUT`]).
pub fn render(
    settings: &Settings,
    program: &str,
    inputs: Vec<(&'static str, Data)>,
) -> Result<Vec<u8>, PdfError> {
    let font = font_path(settings.font.as_deref())?;
    let request = serde_json::json!({
        "program": program,
        "font": font,
        "inputs": Data::Map(inputs).json(),
    });
    let (path, tried) = worker(settings.worker.as_deref());
    let mut child = Command::new(&path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| match e.kind() {
            ErrorKind::NotFound | ErrorKind::PermissionDenied => PdfError::WorkerMissing { tried },
            _ => PdfError::Typeset(format!("cannot start {}: {e}", path.display())),
        })?;
    // The worker reads its whole request before it writes: no deadlock.
    let written = child
        .stdin
        .take()
        .map(|mut stdin| stdin.write_all(request.to_string().as_bytes()));
    let (done, timer) = mpsc::channel::<()>();
    let pid = child.id();
    let watchdog = std::thread::spawn(move || {
        if timer.recv_timeout(WORKER_TIMEOUT) == Err(mpsc::RecvTimeoutError::Timeout) {
            // Still running (not yet reaped, so the pid is still the worker's).
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    });
    let output = child.wait_with_output();
    let _ = done.send(());
    let _ = watchdog.join();
    let output = output.map_err(|e| PdfError::Typeset(format!("the worker: {e}")))?;
    if output.status.success() && output.stdout.starts_with(b"%PDF-") {
        return Ok(output.stdout);
    }
    let reason = String::from_utf8_lossy(&output.stderr).trim().to_owned();
    Err(match (output.status.code(), written) {
        (Some(3), _) => PdfError::Typeset(format!("the font {}: {reason}", font.display())),
        (Some(_), _) if !reason.is_empty() => PdfError::Typeset(reason),
        (None, _) => PdfError::Typeset(format!(
            "the worker {} was killed ({}; at most {} s per document)",
            path.display(),
            output.status,
            WORKER_TIMEOUT.as_secs()
        )),
        (Some(_), Some(Err(e))) => PdfError::Typeset(format!("the worker: {e}")),
        (Some(_), _) => PdfError::Typeset(format!("the worker exited with {}", output.status)),
    })
}
