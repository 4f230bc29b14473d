//! Reports for the committee office under `/api/v1/reports`, for staff (admins and
//! clerks, by session) and the admin key: participation records (履职档案) over a
//! period, as CSV, XLSX or PDF (one member per page), and statistics (统计: attendance
//! and speaking time) as JSON for the console's charts or CSV. Each is written to the
//! audit log. Documented in `docs/api.md`, `docs/participation.md` and
//! `docs/reports.md`.

use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use super::AppState;
use super::admin::{ApiError, disposition, typeset};
use super::console::Caller;
use crate::participation::Table;
use crate::reports::{self, Format, RenderError};
use crate::statistics::StatTable;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/participation", get(participation))
        .route("/statistics", get(statistics))
}

#[derive(Deserialize)]
struct ParticipationQuery {
    /// First day, `YYYY-MM-DD` (Beijing time).
    from: Option<String>,
    /// Last day, included.
    to: Option<String>,
    /// `csv` (the default), `xlsx` or `pdf`.
    format: Option<String>,
    /// For CSV: `members` (the default, one row per member) or `points` (one row per
    /// point with its source event). An XLSX has both.
    table: Option<String>,
}

impl From<RenderError> for ApiError {
    fn from(e: RenderError) -> Self {
        match e {
            RenderError::Pdf(e) => e.into(),
            e @ RenderError::Xlsx(_) => {
                ApiError(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
            }
        }
    }
}

fn bad(message: String) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, "invalid_argument", message)
}

/// A report file as a download.
fn download(file: reports::ReportFile) -> Response {
    (
        [
            (header::CONTENT_TYPE, file.media_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                disposition(&file.ascii_name, &file.name),
            ),
        ],
        file.bytes,
    )
        .into_response()
}

/// The period of a report's query.
fn period_of(
    from: Option<&str>,
    to: Option<&str>,
) -> Result<crate::participation::Period, ApiError> {
    let (Some(from), Some(to)) = (from, to) else {
        return Err(bad(
            "give the period as from=YYYY-MM-DD&to=YYYY-MM-DD".into()
        ));
    };
    reports::period(from, to).map_err(|e| bad(e.to_string()))
}

/// The participation records of the roster over a period, to download.
async fn participation(
    State(state): State<AppState>,
    actor: Caller,
    Query(query): Query<ParticipationQuery>,
) -> Result<Response, ApiError> {
    let period = period_of(query.from.as_deref(), query.to.as_deref())?;
    let format = match query.format.as_deref() {
        None => Format::Csv,
        Some(f) => Format::parse(f)
            .ok_or_else(|| bad(format!("format is `csv`, `xlsx` or `pdf`, not {f:?}")))?,
    };
    let table = match query.table.as_deref() {
        None | Some("members") => Table::Members,
        Some("points") => Table::Points,
        Some(t) => return Err(bad(format!("table is `members` or `points`, not {t:?}"))),
    };
    let rules = &state.config.reports.participation_rules;
    let report = reports::participation(&state.store, rules, period).await?;
    let members = report.members.len();
    let pdf = state.config.reports.pdf.clone();
    let file = if format == Format::Pdf {
        typeset(move || reports::render(&report, format, table, &pdf)).await?
    } else {
        reports::render(&report, format, table, &pdf)?
    };
    actor
        .audit(
            &state,
            "GET /api/v1/reports/participation",
            &format!("{} ({}, {} members)", file.name, rules.label(), members),
        )
        .await?;
    Ok(download(file))
}

#[derive(Deserialize)]
struct StatisticsQuery {
    /// First day, `YYYY-MM-DD` (Beijing time).
    from: Option<String>,
    /// Last day, included.
    to: Option<String>,
    /// `json` (the default: every figure, for the console) or `csv` (one table).
    format: Option<String>,
    /// For CSV: `meetings` (the default), `sectors` or `members`.
    table: Option<String>,
}

/// The statistics of a period (attendance, speaking time per meeting, sector and
/// member): JSON, or one table as CSV to download.
async fn statistics(
    State(state): State<AppState>,
    actor: Caller,
    Query(query): Query<StatisticsQuery>,
) -> Result<Response, ApiError> {
    let period = period_of(query.from.as_deref(), query.to.as_deref())?;
    let csv = match query.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(f) => return Err(bad(format!("format is `json` or `csv`, not {f:?}"))),
    };
    let table = match query.table.as_deref() {
        None => StatTable::Meetings,
        Some(t) => StatTable::parse(t).ok_or_else(|| {
            bad(format!(
                "table is `meetings`, `sectors` or `members`, not {t:?}"
            ))
        })?,
    };
    let statistics = reports::statistics(&state.store, period).await?;
    let what = format!(
        "{} meetings, {} members",
        statistics.meetings.len(),
        statistics.members.len()
    );
    if !csv {
        actor
            .audit(
                &state,
                "GET /api/v1/reports/statistics",
                &format!("统计 {}至{} (json, {what})", statistics.from, statistics.to),
            )
            .await?;
        return Ok(Json(statistics).into_response());
    }
    let file = reports::statistics_csv(&statistics, table);
    actor
        .audit(
            &state,
            "GET /api/v1/reports/statistics",
            &format!("{} ({what})", file.name),
        )
        .await?;
    Ok(download(file))
}
