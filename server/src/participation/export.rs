//! Participation records as files: CSV (UTF-8 with a BOM, as the roster's export, so
//! Excel and WPS keep the Chinese) and XLSX (`rust_xlsxwriter`). Two tables: one row per
//! member (履职档案), and one row per point with the event it came from (积分明细).
//! Every row names the rules' version. The same report gives the same bytes.

use rust_xlsxwriter::{DocProperties, ExcelDateTime, Format, Workbook, XlsxError};

use super::{MemberRecord, PointLine, Report};
use crate::minutes::time::local_minute;
use crate::roster::csv_field;

/// The media type of a .xlsx file.
pub const XLSX_MEDIA_TYPE: &str =
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// Which table of a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    /// One row per member (履职档案).
    Members,
    /// One row per point, with its source event (积分明细).
    Points,
}

/// A cell: text, or a number a spreadsheet can add up.
pub(crate) enum Cell {
    Text(String),
    Number(i64),
}

impl Cell {
    fn text(&self) -> String {
        match self {
            Cell::Text(t) => csv_field(t),
            Cell::Number(n) => n.to_string(),
        }
    }
}

pub(crate) fn text(t: impl Into<String>) -> Cell {
    Cell::Text(t.into())
}

pub(crate) fn num(n: impl TryInto<i64>) -> Cell {
    Cell::Number(n.try_into().unwrap_or(i64::MAX))
}

const MEMBER_HEADERS: [&str; 16] = [
    "委员编号",
    "姓名",
    "界别",
    "分会场",
    "状态",
    "应出席",
    "出席",
    "缺席",
    "在会时长（分钟）",
    "发言次数",
    "发言时长（秒）",
    "提问",
    "参加表决",
    "积分",
    "统计期间",
    "积分规则",
];

const POINT_HEADERS: [&str; 11] = [
    "委员编号",
    "姓名",
    "项目",
    "积分",
    "说明",
    "时间",
    "会议名称",
    "会议编号",
    "事件序号",
    "统计期间",
    "积分规则",
];

fn period(report: &Report) -> String {
    format!("{}至{}", report.period.from, report.period.to)
}

fn member_row(report: &Report, m: &MemberRecord) -> Vec<Cell> {
    vec![
        text(m.number.clone().unwrap_or_default()),
        text(&m.name),
        text(&m.sector),
        text(&m.venue),
        text(if m.active { "在册" } else { "停用" }),
        num(m.invited),
        num(m.attended),
        num(m.absent),
        num((m.present_ms + 30_000) / 60_000),
        num(m.speeches),
        num((m.speech_ms + 500) / 1000),
        num(m.questions),
        num(m.polls),
        num(m.points),
        text(period(report)),
        text(report.rules.label()),
    ]
}

fn point_row(report: &Report, m: &MemberRecord, p: &PointLine) -> Vec<Cell> {
    vec![
        text(m.number.clone().unwrap_or_default()),
        text(&m.name),
        text(p.kind.label()),
        num(p.points),
        text(&p.note),
        text(local_minute(p.at)),
        text(&p.title),
        text(&p.room),
        num(p.seq),
        text(period(report)),
        text(report.rules.label()),
    ]
}

fn rows(report: &Report, table: Table) -> (&'static [&'static str], Vec<Vec<Cell>>) {
    match table {
        Table::Members => (
            &MEMBER_HEADERS,
            report
                .members
                .iter()
                .map(|m| member_row(report, m))
                .collect(),
        ),
        Table::Points => (
            &POINT_HEADERS,
            report
                .members
                .iter()
                .flat_map(|m| m.lines.iter().map(move |p| point_row(report, m, p)))
                .collect(),
        ),
    }
}

/// One table as CSV: UTF-8 with a BOM, CRLF line ends, no field read as a formula.
pub fn to_csv(report: &Report, table: Table) -> String {
    let (headers, rows) = rows(report, table);
    csv_table(headers, &rows)
}

/// A table as CSV: UTF-8 with a BOM, CRLF line ends, no field read as a formula.
pub(crate) fn csv_table(headers: &[&str], rows: &[Vec<Cell>]) -> String {
    let mut csv = String::from("\u{feff}");
    csv.push_str(&headers.join(","));
    csv.push_str("\r\n");
    for row in rows {
        let fields: Vec<String> = row.iter().map(Cell::text).collect();
        csv.push_str(&fields.join(","));
        csv.push_str("\r\n");
    }
    csv
}

/// Both tables and a sheet saying what the report covers, as one workbook.
pub fn to_xlsx(report: &Report) -> Result<Vec<u8>, XlsxError> {
    let mut book = Workbook::new();
    // A fixed creation time (the period's end), so the same report gives the same bytes.
    let (y, m, d) = report.period.to.ymd();
    let created = ExcelDateTime::from_ymd(y, m, d)?;
    book.set_properties(
        &DocProperties::new()
            .set_title(format!("履职档案 {}", period(report)))
            .set_comment(report.rules.label())
            .set_creation_datetime(&created),
    );
    let bold = Format::new().set_bold();
    for (name, table) in [("履职档案", Table::Members), ("积分明细", Table::Points)] {
        let sheet = book.add_worksheet();
        sheet.set_name(name)?;
        let (headers, rows) = rows(report, table);
        for (c, h) in headers.iter().enumerate() {
            let c = u16::try_from(c).unwrap_or(u16::MAX);
            sheet.write_string_with_format(0, c, *h, &bold)?;
            sheet.set_column_width(c, 12)?;
        }
        for (r, row) in rows.iter().enumerate() {
            let r = u32::try_from(r + 1).unwrap_or(u32::MAX);
            for (c, cell) in row.iter().enumerate() {
                let c = u16::try_from(c).unwrap_or(u16::MAX);
                match cell {
                    Cell::Text(t) => sheet.write_string(r, c, t)?,
                    Cell::Number(n) => sheet.write_number(r, c, *n as f64)?,
                };
            }
        }
        sheet.set_freeze_panes(1, 0)?;
    }
    let sheet = book.add_worksheet();
    sheet.set_name("说明")?;
    sheet.set_column_width(0, 14)?;
    sheet.set_column_width(1, 40)?;
    let about = [
        ("统计期间", period(report)),
        ("积分规则", report.rules.label()),
        ("规则版本", report.rules.version.to_string()),
        ("会议数", report.meetings.len().to_string()),
    ];
    let mut r = 0u32;
    for (k, v) in about {
        sheet.write_string_with_format(r, 0, k, &bold)?;
        sheet.write_string(r, 1, v)?;
        r += 1;
    }
    r += 1;
    for (c, h) in ["会议时间", "会议名称", "会议编号"].iter().enumerate() {
        sheet.write_string_with_format(r, c as u16, *h, &bold)?;
    }
    for meeting in &report.meetings {
        r += 1;
        sheet.write_string(r, 0, local_minute(meeting.at))?;
        sheet.write_string(r, 1, &meeting.title)?;
        sheet.write_string(r, 2, &meeting.room)?;
    }
    book.save_to_buffer()
}
