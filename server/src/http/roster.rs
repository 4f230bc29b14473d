//! The roster of members (委员名册) under `/api/v1/roster`, for staff (admins and
//! clerks, by session with its CSRF token) and the admin key: list and search, preview
//! an import file, import it (all or nothing), export as CSV, (de)activate a member.
//! Phones are masked except to admins. Imports, exports and changes go to the audit log.
//! Documented in `docs/api.md` and `docs/console.md`.

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::admin::ApiError;
use super::console::Caller;
use crate::hub::now;
use crate::roster::{self, FileError, MAX_FILE_BYTES, Parsed, Phone, RowError};
use crate::store::{Member, MemberInput};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(list))
        .route("/import/preview", post(preview))
        .route("/import", post(import))
        .route("/export", get(export))
        .route("/{id}", patch(update))
}

impl Caller {
    fn phone(&self, phone: &str) -> String {
        if self.admin || phone.is_empty() {
            phone.to_owned()
        } else {
            roster::mask_phone(phone)
        }
    }

    fn member_json(&self, m: &Member) -> Value {
        json!({
            "id": m.id, "number": m.number, "name": m.name, "sector": m.sector,
            "venue": m.venue, "phone": self.phone(&m.phone), "active": m.active,
            "created_at": m.created_at, "updated_at": m.updated_at,
        })
    }
}

#[derive(Deserialize)]
struct ListQuery {
    q: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    actor: Caller,
    Query(query): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let members = state.store.list_members(query.q.as_deref()).await?;
    let active = members.iter().filter(|m| m.active).count();
    Ok(Json(json!({
        "members": members.iter().map(|m| actor.member_json(m)).collect::<Vec<_>>(),
        "total": members.len(),
        "active": active,
    })))
}

#[derive(Deserialize)]
struct FileQuery {
    /// The file's name as the user chose it (for the audit log and the answer).
    filename: Option<String>,
}

fn too_large() -> ApiError {
    ApiError(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_large",
        format!(
            "the file is over {} MB (or was not received whole)",
            MAX_FILE_BYTES / 1024 / 1024
        ),
    )
}

/// The request's body, at most [`MAX_FILE_BYTES`].
async fn file(headers: &HeaderMap, body: Body) -> Result<Vec<u8>, ApiError> {
    Ok(
        super::body_at_most(headers, body, MAX_FILE_BYTES, too_large)
            .await?
            .to_vec(),
    )
}

/// What a row of a file would do to the roster.
enum Outcome<'a> {
    New,
    Update(&'a Member),
    Error,
}

/// A file read and each row's outcome against the stored roster.
struct Checked {
    parsed: Parsed,
    stored: HashMap<String, Member>,
}

impl Checked {
    async fn of(state: &AppState, bytes: &[u8]) -> Result<Checked, ApiError> {
        let mut parsed = roster::parse(bytes).map_err(file_error)?;
        let stored = state.store.members_by_number().await?;
        for row in &mut parsed.rows {
            let known = row.number.as_ref().is_some_and(|n| stored.contains_key(n));
            if row.phone == Some(Phone::Keep) && !known {
                row.errors.push(RowError::PhoneMasked);
            }
        }
        Ok(Checked { parsed, stored })
    }

    fn outcomes(&self) -> impl Iterator<Item = (&roster::Row, Outcome<'_>)> {
        self.parsed.rows.iter().map(|row| {
            let outcome = if !row.errors.is_empty() {
                Outcome::Error
            } else {
                match row.number.as_ref().and_then(|n| self.stored.get(n)) {
                    Some(m) => Outcome::Update(m),
                    None => Outcome::New,
                }
            };
            (row, outcome)
        })
    }

    fn errors(&self) -> usize {
        self.parsed
            .rows
            .iter()
            .filter(|r| !r.errors.is_empty())
            .count()
    }
}

fn file_error(e: FileError) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, e.code(), e.to_string())
}

/// Read a file and say, row by row, what importing it would do; nothing is saved.
async fn preview(
    State(state): State<AppState>,
    actor: Caller,
    headers: HeaderMap,
    Query(query): Query<FileQuery>,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let bytes = file(&headers, body).await?;
    let checked = Checked::of(&state, &bytes).await?;
    let (mut new, mut update, mut error) = (0, 0, 0);
    let rows: Vec<Value> = checked
        .outcomes()
        .map(|(row, outcome)| {
            let (status, current) = match outcome {
                Outcome::New => {
                    new += 1;
                    ("new", Value::Null)
                }
                Outcome::Update(m) => {
                    update += 1;
                    ("update", actor.member_json(m))
                }
                Outcome::Error => {
                    error += 1;
                    ("error", Value::Null)
                }
            };
            let phone = match (&row.phone, &current) {
                (Some(Phone::Number(p)), _) => actor.phone(p),
                (Some(Phone::Keep), Value::Object(m)) => m
                    .get("phone")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned(),
                _ => String::new(),
            };
            let errors: Vec<Value> = row
                .errors
                .iter()
                .map(|e| {
                    let mut v = serde_json::to_value(e).unwrap_or_else(|_| json!({}));
                    v["message"] = json!(e.message());
                    v
                })
                .collect();
            json!({
                "row": row.line, "status": status, "number": row.number, "name": row.name,
                "sector": row.sector, "venue": row.venue, "phone": phone,
                "errors": errors, "current": current,
            })
        })
        .collect();
    Ok(Json(json!({
        "filename": query.filename,
        "format": checked.parsed.format,
        "columns": checked.parsed.columns,
        "ignored_columns": checked.parsed.ignored,
        "counts": { "total": rows.len(), "new": new, "update": update, "error": error },
        "rows": rows,
    })))
}

/// Import a file: read and checked again, then every row saved in one transaction, or
/// nothing when any row has an error.
async fn import(
    State(state): State<AppState>,
    actor: Caller,
    headers: HeaderMap,
    Query(query): Query<FileQuery>,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let bytes = file(&headers, body).await?;
    let checked = Checked::of(&state, &bytes).await?;
    let errors = checked.errors();
    if errors > 0 {
        return Err(ApiError(
            StatusCode::UNPROCESSABLE_ENTITY,
            "roster_has_errors",
            format!("{errors} rows have errors: nothing was saved; preview the file to see them"),
        ));
    }
    let inputs: Vec<MemberInput> = checked
        .parsed
        .rows
        .iter()
        .map(|r| MemberInput {
            number: r.number.clone(),
            name: r.name.clone(),
            sector: r.sector.clone(),
            venue: r.venue.clone(),
            phone: match &r.phone {
                Some(Phone::Number(p)) => Some(p.clone()),
                Some(Phone::None) => Some(String::new()),
                Some(Phone::Keep) | None => None,
            },
        })
        .collect();
    let at = now().0 as i64;
    let done = state.store.import_members(&inputs, at).await?;
    let filename: String = query
        .filename
        .as_deref()
        .unwrap_or("")
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect();
    state
        .store
        .audit(
            at,
            &actor.name,
            "import_roster",
            &format!("{filename}: {} added, {} updated", done.added, done.updated),
        )
        .await?;
    Ok(Json(
        json!({ "added": done.added, "updated": done.updated }),
    ))
}

#[derive(Deserialize)]
struct ExportQuery {
    format: Option<String>,
}

/// The roster as CSV in UTF-8 with a BOM (so Excel and WPS read it as UTF-8), with the
/// headers an import recognises.
async fn export(
    State(state): State<AppState>,
    actor: Caller,
    Query(query): Query<ExportQuery>,
) -> Result<Response, ApiError> {
    if !matches!(query.format.as_deref(), None | Some("csv")) {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            "invalid_argument",
            "format is `csv`".into(),
        ));
    }
    let members = state.store.list_members(None).await?;
    let mut csv = String::from("\u{feff}委员编号,姓名,界别,分会场,手机,状态\r\n");
    for m in &members {
        let fields = [
            roster::csv_field(m.number.as_deref().unwrap_or("")),
            roster::csv_field(&m.name),
            roster::csv_field(&m.sector),
            roster::csv_field(&m.venue),
            roster::csv_field(&actor.phone(&m.phone)),
            (if m.active { "在册" } else { "停用" }).to_owned(),
        ];
        csv.push_str(&fields.join(","));
        csv.push_str("\r\n");
    }
    state
        .store
        .audit(
            now().0 as i64,
            &actor.name,
            "export_roster",
            &format!("{} members", members.len()),
        )
        .await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"roster.csv\"; \
                 filename*=UTF-8''%E5%A7%94%E5%91%98%E5%90%8D%E5%86%8C.csv",
            ),
        ],
        csv,
    )
        .into_response())
}

#[derive(Deserialize)]
struct MemberChange {
    active: bool,
}

/// Mark one member active or not (a member who left keeps their history).
async fn update(
    State(state): State<AppState>,
    actor: Caller,
    Path(id): Path<i64>,
    Json(change): Json<MemberChange>,
) -> Result<Json<Value>, ApiError> {
    let at = now().0 as i64;
    let member = state
        .store
        .set_member_active(id, change.active, at)
        .await?
        .ok_or_else(|| {
            ApiError(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("no member {id}"),
            )
        })?;
    let action = if change.active {
        "activate_member"
    } else {
        "deactivate_member"
    };
    let target = match &member.number {
        Some(n) => format!("{} ({n})", member.name),
        None => member.name.clone(),
    };
    state.store.audit(at, &actor.name, action, &target).await?;
    Ok(Json(actor.member_json(&member)))
}
