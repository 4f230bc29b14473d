//! Reports for the committee office under `/api/v1/reports`, for staff (admins and
//! clerks, by session) and the admin key: participation records (履职档案) over a
//! period, as CSV or XLSX. Each download is written to the audit log. Documented in
//! `docs/api.md` and `docs/participation.md`.

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use super::AppState;
use super::admin::{ApiError, disposition};
use super::console::caller;
use crate::participation::Table;
use crate::reports::{self, Format};

pub fn routes() -> Router<AppState> {
    Router::new().route("/participation", get(participation))
}

#[derive(Deserialize)]
struct ParticipationQuery {
    /// First day, `YYYY-MM-DD` (Beijing time).
    from: Option<String>,
    /// Last day, included.
    to: Option<String>,
    /// `csv` (the default) or `xlsx`.
    format: Option<String>,
    /// For CSV: `members` (the default, one row per member) or `points` (one row per
    /// point with its source event). An XLSX has both.
    table: Option<String>,
}

fn bad(message: String) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, "invalid_argument", message)
}

/// The participation records of the roster over a period, to download.
async fn participation(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    Query(query): Query<ParticipationQuery>,
) -> Result<Response, ApiError> {
    let actor = caller(&state, &method, &headers).await?;
    let (Some(from), Some(to)) = (query.from.as_deref(), query.to.as_deref()) else {
        return Err(bad(
            "give the period as from=YYYY-MM-DD&to=YYYY-MM-DD".into()
        ));
    };
    let period = reports::period(from, to).map_err(|e| bad(e.to_string()))?;
    let format = match query.format.as_deref() {
        None => Format::Csv,
        Some(f) => {
            Format::parse(f).ok_or_else(|| bad(format!("format is `csv` or `xlsx`, not {f:?}")))?
        }
    };
    let table = match query.table.as_deref() {
        None | Some("members") => Table::Members,
        Some("points") => Table::Points,
        Some(t) => return Err(bad(format!("table is `members` or `points`, not {t:?}"))),
    };
    let rules = &state.config.participation_rules;
    let report = reports::participation(&state.store, rules, period).await?;
    let file = reports::render(&report, format, table).map_err(|e| {
        ApiError(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("cannot write the workbook: {e}"),
        )
    })?;
    actor
        .audit(
            &state,
            "GET /api/v1/reports/participation",
            &format!(
                "{} ({}, {} members)",
                file.name,
                rules.label(),
                report.members.len()
            ),
        )
        .await?;
    Ok((
        [
            (header::CONTENT_TYPE, file.media_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                disposition(&file.ascii_name, &file.name),
            ),
        ],
        file.bytes,
    )
        .into_response())
}
