//! The roster of members (委员名册): reading the files a committee office keeps (CSV in
//! UTF-8, UTF-16 or GBK/GB18030, and XLSX/XLS spreadsheets) into rows, and checking each
//! row before anything is saved. Pure: the store (`store::roster`) keeps the members and
//! the HTTP API (`http::roster`) puts the two together. See `docs/console.md`.

use std::collections::HashMap;
use std::io::Cursor;

use calamine::{Data, Reader};
use serde::Serialize;

/// The largest file accepted, in bytes.
pub const MAX_FILE_BYTES: usize = 2 * 1024 * 1024;
/// The most data rows one file may have.
pub const MAX_ROWS: usize = 10_000;
/// Rows looked at for the header row (a title row or two above it is common).
const HEADER_SEARCH_ROWS: usize = 10;
/// The longest name, and the longest of any other field, in characters.
const MAX_NAME_CHARS: usize = 64;
const MAX_FIELD_CHARS: usize = 100;

/// A field of a member that a file's column can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    Number,
    Name,
    Sector,
    Venue,
    Phone,
}

impl Field {
    /// The field a header names, in Chinese or English, ignoring case, spaces and a
    /// note in brackets (“手机（必填）”).
    pub fn of_header(header: &str) -> Option<Field> {
        let mut h: String = header
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '*')
            .collect::<String>()
            .to_lowercase();
        for open in ['（', '('] {
            if let Some(i) = h.find(open) {
                h.truncate(i);
            }
        }
        let field = match h.as_str() {
            "姓名" | "名字" | "委员姓名" | "name" | "fullname" => Field::Name,
            "界别" | "所属界别" | "sector" => Field::Sector,
            "分会场" | "所属联组" | "联组" | "会场" | "venue" | "group" => Field::Venue,
            "委员编号" | "编号" | "委员证号" | "序号编码" | "number" | "no" | "no."
            | "membernumber" | "memberno" | "id" => Field::Number,
            "手机" | "手机号" | "手机号码" | "电话" | "联系电话" | "phone" | "mobile" | "tel"
            | "telephone" => Field::Phone,
            _ => return None,
        };
        Some(field)
    }
}

/// How a file was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// CSV (or tab-separated text) in UTF-8.
    CsvUtf8,
    /// CSV in UTF-16 (Excel's “Unicode text”).
    CsvUtf16,
    /// CSV in GBK/GB18030 (Excel and WPS on Chinese Windows).
    CsvGb18030,
    /// A spreadsheet (XLSX, XLS): its first sheet.
    Spreadsheet,
}

/// Why a whole file cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileError {
    #[error("the file is empty")]
    Empty,
    #[error("the file is neither CSV text (UTF-8, UTF-16 or GBK) nor a spreadsheet")]
    Unreadable,
    #[error("the spreadsheet cannot be read: {0}")]
    Spreadsheet(String),
    #[error(
        "no header row with a name column (姓名 / name) in the first {HEADER_SEARCH_ROWS} rows"
    )]
    NoNameColumn,
    #[error("more than {MAX_ROWS} rows")]
    TooManyRows,
}

impl FileError {
    /// The API's error code.
    pub fn code(&self) -> &'static str {
        match self {
            FileError::Empty => "roster_empty",
            FileError::Unreadable | FileError::Spreadsheet(_) => "roster_unreadable",
            FileError::NoNameColumn => "roster_no_name_column",
            FileError::TooManyRows => "roster_too_many_rows",
        }
    }
}

/// What is wrong with one row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum RowError {
    /// No name.
    NameMissing,
    NameTooLong,
    /// A field other than the name is too long.
    TooLong {
        field: Field,
    },
    /// Not a mobile number (11 digits from 1) nor a landline (0 area code, 7 or 8 digits).
    PhoneInvalid,
    /// A masked phone (138****5678) for a member who is not on the roster yet.
    PhoneMasked,
    /// The member number appears on an earlier row of the file.
    NumberDuplicate {
        row: usize,
    },
}

impl RowError {
    /// In English, for the API's users.
    pub fn message(&self) -> String {
        match self {
            RowError::NameMissing => "the name is missing".into(),
            RowError::NameTooLong => format!("the name is over {MAX_NAME_CHARS} characters"),
            RowError::TooLong { field } => {
                format!("{field:?} is over {MAX_FIELD_CHARS} characters")
            }
            RowError::PhoneInvalid => {
                "the phone is neither a mobile (11 digits from 1) nor a landline (0 area code)"
                    .into()
            }
            RowError::PhoneMasked => {
                "a masked phone can only keep the stored one of a member already on the roster"
                    .into()
            }
            RowError::NumberDuplicate { row } => {
                format!("the member number is on row {row} already")
            }
        }
    }
}

/// A phone cell as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phone {
    /// A checked number, normalised (digits; a landline keeps one `-` after its area code).
    Number(String),
    /// Empty: no phone.
    None,
    /// Masked as an export for a clerk shows it: keep the stored phone.
    Keep,
}

/// One data row of a file, read and checked on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// Its row number in the file as a spreadsheet shows it (the header is usually 1).
    pub line: usize,
    pub number: Option<String>,
    pub name: String,
    /// `None` when the file has no such column (an update then keeps the stored value).
    pub sector: Option<String>,
    pub venue: Option<String>,
    pub phone: Option<Phone>,
    pub errors: Vec<RowError>,
}

/// A file read into rows.
#[derive(Debug, Clone)]
pub struct Parsed {
    pub format: Format,
    /// The fields of the file's columns, in the file's order.
    pub columns: Vec<Field>,
    /// Headers not recognised (their columns are ignored).
    pub ignored: Vec<String>,
    pub rows: Vec<Row>,
}

/// Read a file: a spreadsheet when it looks like one (a zip or an OLE file), otherwise
/// CSV text in the encoding it is valid in. Rows are checked on their own and against
/// each other (a member number twice); not against the stored roster.
pub fn parse(bytes: &[u8]) -> Result<Parsed, FileError> {
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(FileError::Empty);
    }
    let (format, grid) =
        if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(&[0xD0, 0xCF, 0x11, 0xE0]) {
            (Format::Spreadsheet, spreadsheet(bytes)?)
        } else {
            let (format, text) = decode(bytes)?;
            (format, csv_grid(&text)?)
        };
    rows(format, grid)
}

/// Text in the encoding it is valid in: UTF-8 (with or without a BOM), UTF-16 with a
/// BOM, else GB18030 (a superset of GBK and GB2312).
pub fn decode(bytes: &[u8]) -> Result<(Format, String), FileError> {
    if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
        return std::str::from_utf8(rest)
            .map(|s| (Format::CsvUtf8, s.to_owned()))
            .map_err(|_| FileError::Unreadable);
    }
    if bytes.starts_with(b"\xFF\xFE") || bytes.starts_with(b"\xFE\xFF") {
        let (text, _, bad) = encoding_rs::UTF_16LE.decode(bytes);
        return if bad {
            Err(FileError::Unreadable)
        } else {
            Ok((Format::CsvUtf16, text.into_owned()))
        };
    }
    if let Ok(s) = std::str::from_utf8(bytes) {
        return Ok((Format::CsvUtf8, s.to_owned()));
    }
    let (text, bad) = encoding_rs::GB18030.decode_without_bom_handling(bytes);
    if bad || text.contains('\0') {
        return Err(FileError::Unreadable);
    }
    Ok((Format::CsvGb18030, text.into_owned()))
}

/// Rows of cells, each with its row number in the file.
type Grid = Vec<(usize, Vec<String>)>;

fn csv_grid(text: &str) -> Result<Grid, FileError> {
    // Tab-separated when the first line has tabs and no commas (Excel's “text” export).
    let first = text.lines().next().unwrap_or("");
    let delimiter = if first.contains('\t') && !first.contains(',') {
        b'\t'
    } else {
        b','
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(text.as_bytes());
    let mut grid = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|_| FileError::Unreadable)?;
        // The line the record starts on, counted here: csv's position is where the
        // previous record's terminator began to be read (before a CRLF's `\n`).
        let line = record
            .position()
            .and_then(|p| {
                let at = p.byte() as usize;
                let rest = text.get(at..)?;
                let skip = rest.len() - rest.trim_start_matches(['\r', '\n']).len();
                text.get(..at + skip)
            })
            .map(|before| before.matches('\n').count() + 1)
            .unwrap_or(grid.len() + 1);
        grid.push((line, record.iter().map(str::to_owned).collect()));
        if grid.len() > MAX_ROWS + HEADER_SEARCH_ROWS {
            return Err(FileError::TooManyRows);
        }
    }
    Ok(grid)
}

fn spreadsheet(bytes: &[u8]) -> Result<Grid, FileError> {
    let mut book = calamine::open_workbook_auto_from_rs(Cursor::new(bytes))
        .map_err(|e| FileError::Spreadsheet(e.to_string()))?;
    let range = book
        .worksheet_range_at(0)
        .ok_or(FileError::Empty)?
        .map_err(|e| FileError::Spreadsheet(e.to_string()))?;
    let first_row = range.start().map(|(r, _)| r as usize).unwrap_or(0);
    let first_col = range.start().map(|(_, c)| c as usize).unwrap_or(0);
    if range.height() > MAX_ROWS + HEADER_SEARCH_ROWS {
        return Err(FileError::TooManyRows);
    }
    Ok(range
        .rows()
        .enumerate()
        .map(|(i, cells)| {
            // Columns left of the range's first are empty: keep the positions.
            let mut row = vec![String::new(); first_col];
            row.extend(cells.iter().map(cell_text));
            (first_row + i + 1, row)
        })
        .collect())
}

/// A spreadsheet cell as text: whole numbers without a decimal point (a member number
/// or a phone typed as a number), dates as the spreadsheet would show their ISO form.
fn cell_text(cell: &Data) -> String {
    match cell {
        Data::Empty => String::new(),
        Data::String(s) => s.clone(),
        Data::Int(i) => i.to_string(),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        Data::Float(f) => f.to_string(),
        Data::Bool(b) => b.to_string(),
        Data::Error(_) => String::new(),
        other => other.to_string(),
    }
}

fn rows(format: Format, grid: Grid) -> Result<Parsed, FileError> {
    let nonempty = |cells: &[String]| cells.iter().any(|c| !c.trim().is_empty());
    if !grid.iter().any(|(_, cells)| nonempty(cells)) {
        return Err(FileError::Empty);
    }
    let header_at = grid
        .iter()
        .take(HEADER_SEARCH_ROWS)
        .position(|(_, cells)| {
            cells
                .iter()
                .any(|c| Field::of_header(c) == Some(Field::Name))
        })
        .ok_or(FileError::NoNameColumn)?;
    let headers = &grid[header_at].1;
    // The first column of each field counts; later ones with the same field are ignored.
    let mut index: HashMap<Field, usize> = HashMap::new();
    let mut columns = Vec::new();
    let mut ignored = Vec::new();
    for (i, h) in headers.iter().enumerate() {
        match Field::of_header(h) {
            Some(f) if !index.contains_key(&f) => {
                index.insert(f, i);
                columns.push(f);
            }
            _ if h.trim().is_empty() => {}
            _ => ignored.push(h.trim().to_owned()),
        }
    }
    let data: Vec<_> = grid[header_at + 1..]
        .iter()
        .filter(|(_, cells)| nonempty(cells))
        .collect();
    if data.is_empty() {
        return Err(FileError::Empty);
    }
    if data.len() > MAX_ROWS {
        return Err(FileError::TooManyRows);
    }
    let mut seen: HashMap<String, usize> = HashMap::new();
    let rows = data
        .into_iter()
        .map(|(line, cells)| {
            let get = |f: Field| {
                index.get(&f).map(|&i| {
                    cells
                        .get(i)
                        .map(|c| c.trim().to_owned())
                        .unwrap_or_default()
                })
            };
            let mut row = check(*line, get);
            if let Some(n) = &row.number {
                if let Some(&first) = seen.get(n) {
                    row.errors.push(RowError::NumberDuplicate { row: first });
                } else {
                    seen.insert(n.clone(), row.line);
                }
            }
            row
        })
        .collect();
    Ok(Parsed {
        format,
        columns,
        ignored,
        rows,
    })
}

/// Check one row's cells (`get` gives a field's trimmed cell, `None` without a column).
fn check(line: usize, get: impl Fn(Field) -> Option<String>) -> Row {
    let mut errors = Vec::new();
    let name = get(Field::Name).unwrap_or_default();
    if name.is_empty() {
        errors.push(RowError::NameMissing);
    } else if name.chars().count() > MAX_NAME_CHARS {
        errors.push(RowError::NameTooLong);
    }
    let number = get(Field::Number).filter(|n| !n.is_empty());
    let sector = get(Field::Sector);
    let venue = get(Field::Venue);
    for (field, value) in [
        (Field::Number, &number),
        (Field::Sector, &sector),
        (Field::Venue, &venue),
    ] {
        if value
            .as_ref()
            .is_some_and(|v| v.chars().count() > MAX_FIELD_CHARS)
        {
            errors.push(RowError::TooLong { field });
        }
    }
    let phone = get(Field::Phone).map(|p| match normalise_phone(&p) {
        Some(phone) => phone,
        None => {
            errors.push(RowError::PhoneInvalid);
            Phone::None
        }
    });
    Row {
        line,
        number,
        name,
        sector,
        venue,
        phone,
        errors,
    }
}

/// A phone as typed (spaces, dashes, a +86 prefix, full-width digits) normalised: a
/// mobile as its 11 digits, a landline as area code, `-`, number (and extension);
/// `None` when it is neither.
pub fn normalise_phone(text: &str) -> Option<Phone> {
    let text: String = text
        .chars()
        .map(|c| match c {
            '０'..='９' => char::from_u32(c as u32 - '０' as u32 + '0' as u32).unwrap_or(c),
            '－' | '—' => '-',
            c => c,
        })
        .filter(|c| !c.is_whitespace() && !matches!(c, '(' | ')'))
        .collect();
    if text.is_empty() {
        return Some(Phone::None);
    }
    if text.contains('*') {
        let masked = text.len() == 11
            && text[..3].bytes().all(|b| b.is_ascii_digit())
            && &text[3..7] == "****"
            && text[7..].bytes().all(|b| b.is_ascii_digit());
        return if masked { Some(Phone::Keep) } else { None };
    }
    let text = text
        .strip_prefix("+86")
        .or_else(|| text.strip_prefix("0086"))
        .unwrap_or(&text);
    let text = text.strip_prefix('-').unwrap_or(text);
    let digits: String = text.chars().filter(|c| *c != '-').collect();
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits = if digits.len() == 13 && digits.starts_with("861") {
        &digits[2..]
    } else {
        &digits[..]
    };
    if digits.len() == 11 && digits.starts_with('1') && digits.as_bytes()[1] >= b'3' {
        return Some(Phone::Number(digits.to_owned()));
    }
    if digits.starts_with('0') {
        // Area codes: 010, 02x (3 digits) or 0xxx (4 digits); numbers of 7 or 8 digits.
        let area = if digits.starts_with("01") || digits.starts_with("02") {
            3
        } else {
            4
        };
        let parts: Vec<&str> = text.split('-').collect();
        let (area_code, rest) = match parts.as_slice() {
            [a, n] | [a, n, _] if a.len() == 3 || a.len() == 4 => (a.to_string(), n.to_string()),
            [all] if all.len() > area => (all[..area].to_owned(), all[area..].to_owned()),
            _ => return None,
        };
        let ext = parts.get(2).filter(|e| (1..=6).contains(&e.len()));
        if parts.len() == 3 && ext.is_none() {
            return None;
        }
        if (7..=8).contains(&rest.len()) && !rest.starts_with('0') {
            let mut out = format!("{area_code}-{rest}");
            if let Some(e) = ext {
                out.push('-');
                out.push_str(e);
            }
            return Some(Phone::Number(out));
        }
    }
    None
}

/// A phone as lists show it to those who may not see it whole: 138****5678.
pub fn mask_phone(phone: &str) -> String {
    let chars: Vec<char> = phone.chars().collect();
    if chars.len() < 8 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}****{tail}")
}

/// A CSV field, quoted when it must be, and never read as a formula by a spreadsheet.
pub fn csv_field(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@']) {
        format!("'{text}")
    } else {
        text.to_owned()
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn headers_are_recognised_in_chinese_and_english() {
        assert_eq!(Field::of_header("姓名"), Some(Field::Name));
        assert_eq!(Field::of_header(" Name "), Some(Field::Name));
        assert_eq!(Field::of_header("手机（必填）"), Some(Field::Phone));
        assert_eq!(Field::of_header("所属联组"), Some(Field::Venue));
        assert_eq!(Field::of_header("委员编号"), Some(Field::Number));
        assert_eq!(Field::of_header("备注"), None);
    }

    #[test]
    fn phones_are_normalised_or_refused() {
        let ok = |s: &str| match normalise_phone(s) {
            Some(Phone::Number(n)) => n,
            other => panic!("{s}: {other:?}"),
        };
        assert_eq!(ok("138 1234 5678"), "13812345678");
        assert_eq!(ok("+86 138-1234-5678"), "13812345678");
        assert_eq!(ok("１３８１２３４５６７８"), "13812345678");
        assert_eq!(ok("010-12345678"), "010-12345678");
        assert_eq!(ok("075512345678"), "0755-12345678");
        assert_eq!(ok("0755-1234567-801"), "0755-1234567-801");
        assert_eq!(normalise_phone(""), Some(Phone::None));
        assert_eq!(normalise_phone("138****5678"), Some(Phone::Keep));
        for bad in ["12345", "1381234567", "23812345678", "电话", "138****567"] {
            assert_eq!(normalise_phone(bad), None, "{bad}");
        }
    }

    #[test]
    fn phones_are_masked() {
        assert_eq!(mask_phone("13812345678"), "138****5678");
        assert_eq!(mask_phone("010-12345678"), "010****5678");
        assert_eq!(mask_phone("123"), "***");
    }

    #[test]
    fn a_gbk_csv_with_a_title_row_and_headers_in_any_order_is_read() {
        let text = "某区政协委员名册,,\n手机,界别,姓名,编号\n13812345678,经济界,张三,A001\n,,,\n,教育界,,A002\n";
        let (bytes, _, _) = encoding_rs::GBK.encode(text);
        let parsed = parse(&bytes).unwrap();
        assert_eq!(parsed.format, Format::CsvGb18030);
        assert_eq!(
            parsed.columns,
            [Field::Phone, Field::Sector, Field::Name, Field::Number]
        );
        assert_eq!(parsed.rows.len(), 2);
        assert_eq!(parsed.rows[0].name, "张三");
        assert_eq!(parsed.rows[0].line, 3);
        assert_eq!(parsed.rows[0].venue, None);
        assert_eq!(parsed.rows[1].line, 5);
        assert_eq!(parsed.rows[1].errors, [RowError::NameMissing]);
    }

    #[test]
    fn a_bom_is_tolerated_and_a_number_twice_is_an_error() {
        let text = "\u{feff}name,number\n甲,1\n乙,1\n";
        let parsed = parse(text.as_bytes()).unwrap();
        assert_eq!(parsed.format, Format::CsvUtf8);
        assert!(parsed.rows[0].errors.is_empty());
        assert_eq!(
            parsed.rows[1].errors,
            [RowError::NumberDuplicate { row: 2 }]
        );
    }

    #[test]
    fn utf16_and_tab_separated_text_is_read() {
        let mut bytes = vec![0xFF, 0xFE];
        for unit in "姓名\t手机\r\n周九\t13500009999\r\n".encode_utf16() {
            bytes.extend(unit.to_le_bytes());
        }
        let parsed = parse(&bytes).unwrap();
        assert_eq!(parsed.format, Format::CsvUtf16);
        assert_eq!(parsed.columns, [Field::Name, Field::Phone]);
        assert_eq!(parsed.rows[0].name, "周九");
        assert_eq!(
            parsed.rows[0].phone,
            Some(Phone::Number("13500009999".into()))
        );
    }

    #[test]
    fn files_without_a_name_column_or_content_are_refused() {
        assert_eq!(parse(b"a,b\n1,2\n").unwrap_err(), FileError::NoNameColumn);
        assert_eq!(parse(b" \n").unwrap_err(), FileError::Empty);
        assert_eq!(
            parse(b"PK\x03\x04junk").unwrap_err().code(),
            "roster_unreadable"
        );
    }

    #[test]
    fn csv_fields_are_never_formulas() {
        assert_eq!(csv_field("王秘书"), "王秘书");
        assert_eq!(csv_field("=1+1"), "'=1+1");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }
}
