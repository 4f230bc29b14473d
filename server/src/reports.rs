//! Reports for the committee office, made from the store: the one place that loads what
//! a report over a period needs (the roster, the period's closed meetings with their
//! records and invitations) and renders it, so the API (`GET /api/v1/reports/…`) and the
//! command line (`yishi report …`) give the same bytes. The readings themselves are
//! `crate::participation` (履职档案) and `crate::statistics` (统计), pure.

use crate::minutes::time::LocalDate;
use crate::participation::{
    MeetingInput, Period, Report, Rules, Table, XLSX_MEDIA_TYPE, to_csv, to_xlsx,
};
use crate::pdf::{self, PDF_MEDIA_TYPE, PdfError};
use crate::statistics::{StatTable, Statistics};
use crate::store::{Store, StoreResult};

/// The media type of a CSV report.
pub const CSV_MEDIA_TYPE: &str = "text/csv; charset=utf-8";

/// The file formats of a participation report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Xlsx,
    /// One member per page (一人一档), typeset by the PDF worker.
    Pdf,
}

impl Format {
    pub fn parse(text: &str) -> Option<Format> {
        match text {
            "csv" => Some(Format::Csv),
            "xlsx" => Some(Format::Xlsx),
            "pdf" => Some(Format::Pdf),
            _ => None,
        }
    }
}

/// A report as a file to download or write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportFile {
    pub media_type: &'static str,
    /// An ASCII name: `participation-2026-01-01_2026-12-31.csv`.
    pub ascii_name: String,
    /// The name in Chinese: `履职档案-2026-01-01至2026-12-31.csv`.
    pub name: String,
    pub bytes: Vec<u8>,
}

/// Why a period was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PeriodError {
    #[error("{0} is not a date: give YYYY-MM-DD")]
    NotADate(String),
    #[error("the period ends ({to}) before it starts ({from})")]
    Backwards { from: String, to: String },
}

/// The period from `from` to `to` (`YYYY-MM-DD`, both included).
pub fn period(from: &str, to: &str) -> Result<Period, PeriodError> {
    let date = |t: &str| LocalDate::parse(t).ok_or_else(|| PeriodError::NotADate(t.to_owned()));
    let (from, to) = (date(from)?, date(to)?);
    if to < from {
        return Err(PeriodError::Backwards {
            from: from.to_string(),
            to: to.to_string(),
        });
    }
    Ok(Period { from, to })
}

/// What a report over a period reads from the store: the roster, and the rooms that may
/// have been held in the period with their records and invitations.
struct Loaded {
    roster: Vec<crate::store::Member>,
    rooms: Vec<crate::store::StoredRoom>,
    records: Vec<(Vec<yishi_protocol::RecordEntry>, Vec<crate::store::Invitee>)>,
}

impl Loaded {
    async fn read(store: &Store, period: Period) -> StoreResult<Loaded> {
        let roster = store.list_members(None).await?;
        // Only rooms that may have been held in the period: created before its end and
        // closed after its start (the reports read only closed meetings).
        let rooms: Vec<_> = store
            .list_rooms()
            .await?
            .into_iter()
            .filter(|r| {
                r.created_at < period.to.end()
                    && r.closed_at.is_some_and(|c| c >= period.from.start())
            })
            .collect();
        let mut records = Vec::with_capacity(rooms.len());
        for room in &rooms {
            let entries = store.load(&room.id).await?.entries;
            let invitees = store.invitees(&room.id).await?;
            records.push((entries, invitees));
        }
        Ok(Loaded {
            roster,
            rooms,
            records,
        })
    }

    fn inputs(&self) -> Vec<MeetingInput<'_>> {
        self.rooms
            .iter()
            .zip(&self.records)
            .map(|(room, (entries, invitees))| MeetingInput {
                room,
                entries,
                invitees,
            })
            .collect()
    }
}

/// The participation records of the roster over `period`, from the store.
pub async fn participation(store: &Store, rules: &Rules, period: Period) -> StoreResult<Report> {
    let loaded = Loaded::read(store, period).await?;
    Ok(Report::build(
        rules,
        period,
        &loaded.roster,
        &loaded.inputs(),
    ))
}

/// The statistics (统计) of `period`, from the store: the same meetings and roster as
/// [`participation`].
pub async fn statistics(store: &Store, period: Period) -> StoreResult<Statistics> {
    let loaded = Loaded::read(store, period).await?;
    Ok(Statistics::build(period, &loaded.roster, &loaded.inputs()))
}

/// One table of the statistics as a CSV file.
pub fn statistics_csv(statistics: &Statistics, table: StatTable) -> ReportFile {
    let span = (&statistics.from, &statistics.to);
    ReportFile {
        media_type: CSV_MEDIA_TYPE,
        ascii_name: format!("statistics-{}-{}_{}.csv", table.as_str(), span.0, span.1),
        name: format!("{}-{}至{}.csv", table.title(), span.0, span.1),
        bytes: crate::statistics::to_csv(statistics, table).into_bytes(),
    }
}

/// Why a report could not be written.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("cannot write the workbook: {0}")]
    Xlsx(#[from] rust_xlsxwriter::XlsxError),
    #[error(transparent)]
    Pdf(#[from] PdfError),
}

/// A report as a file: CSV (one table), XLSX (both tables and what it covers) or PDF
/// (one member per page, with their points; typeset by the worker `pdf` names). PDF
/// blocks while its worker runs: run it off the async threads.
pub fn render(
    report: &Report,
    format: Format,
    table: Table,
    pdf: &pdf::Settings,
) -> Result<ReportFile, RenderError> {
    let span = (report.period.from, report.period.to);
    let (what, kind) = match table {
        Table::Members => ("履职档案", "participation"),
        Table::Points => ("积分明细", "participation-points"),
    };
    let (media_type, extension, bytes) = match format {
        Format::Csv => (CSV_MEDIA_TYPE, "csv", to_csv(report, table).into_bytes()),
        Format::Xlsx => (XLSX_MEDIA_TYPE, "xlsx", to_xlsx(report)?),
        Format::Pdf => (
            PDF_MEDIA_TYPE,
            "pdf",
            crate::participation::to_pdf(report, pdf)?,
        ),
    };
    let (ascii_name, name) = match format {
        Format::Xlsx | Format::Pdf => (
            format!("participation-{}_{}.{extension}", span.0, span.1),
            format!("履职档案-{}至{}.{extension}", span.0, span.1),
        ),
        Format::Csv => (
            format!("{kind}-{}_{}.{extension}", span.0, span.1),
            format!("{what}-{}至{}.{extension}", span.0, span.1),
        ),
    };
    Ok(ReportFile {
        media_type,
        ascii_name,
        name,
        bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_period_is_two_dates_in_order() {
        let p = period("2026-01-01", "2026-12-31").unwrap();
        assert_eq!(p.from.to_string(), "2026-01-01");
        assert_eq!(
            period("2026-01-01", "2026-13-01"),
            Err(PeriodError::NotADate("2026-13-01".into()))
        );
        assert!(matches!(
            period("2026-02-01", "2026-01-31"),
            Err(PeriodError::Backwards { .. })
        ));
        assert!(period("2026-01-01", "2026-01-01").is_ok());
    }
}
