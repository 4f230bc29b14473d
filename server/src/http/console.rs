//! Staff sessions for the committee office's console, under `/api/v1/staff`: set a
//! password from a one-time link, log in and out, who am I, staff accounts and the
//! audit log (admins only). Documented in `docs/api.md`.
//!
//! A session is a cookie (`HttpOnly; SameSite=Strict; Path=/`, and `Secure` when the
//! public URL is HTTPS) holding a random secret; a state-changing request of a session
//! must also send the session's CSRF token in `X-CSRF-Token`, which a page of another
//! origin cannot read. Logins are limited per client address and lock an account after
//! repeated wrong passwords (`crate::staff`).

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use super::admin::ApiError;
use crate::hub::now;
use crate::roster::csv_field;
use crate::staff::{self, CSRF_HEADER, SESSION_COOKIE, StaffRole};
use crate::store::{StaffAccount, TokenPurpose};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(list_staff).post(add_staff))
        .route("/password", post(set_password))
        .route("/login", post(login))
        .route("/logout", post(logout))
        .route("/me", get(me))
        .route("/audit", get(audit_log))
}

/// A logged-in staff member, as a request's cookie shows them.
pub struct Session {
    pub staff: StaffAccount,
    digest: String,
    csrf: String,
}

/// Who calls a console or admin API: a staff member by session (with its CSRF token
/// for changes), a scoped API key (checked and set by `apikeys::authenticate` before
/// any handler runs), or the admin key.
#[derive(Debug, Clone)]
pub(super) struct Caller {
    /// The staff member's name, or `apikey:<name>` for a key.
    pub name: String,
    /// An admin: the admin key or a staff admin.
    pub admin: bool,
    /// A staff member or an API key (whose changes are audited), not the admin key.
    pub staff: bool,
    /// An API key, let through for the scope of the route it calls.
    pub key: bool,
}

/// A handler's caller: the one an API key or the admin layer set, or else the admin key
/// or the session the request carries.
impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Caller, ApiError> {
        if let Some(caller) = parts.extensions.get::<Caller>() {
            return Ok(caller.clone());
        }
        caller(state, &parts.method, &parts.headers).await
    }
}

pub(super) async fn caller(
    state: &AppState,
    method: &Method,
    headers: &HeaderMap,
) -> Result<Caller, ApiError> {
    if let Some(key) = super::admin::bearer(headers) {
        return if super::admin::same_key(key, &state.config.auth.admin_key) {
            Ok(Caller::admin_key())
        } else {
            Err(ApiError(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "send the admin key as `Authorization: Bearer <key>`".into(),
            ))
        };
    }
    Ok(Caller::staff(Session::of(state, method, headers).await?))
}

impl Caller {
    /// An API key, named after it.
    pub(super) fn api_key(name: &str) -> Caller {
        Caller {
            name: crate::apikeys::actor(name),
            admin: false,
            staff: true,
            key: true,
        }
    }

    /// The admin key, named `admin`.
    pub(super) fn admin_key() -> Caller {
        Caller {
            name: "admin".into(),
            admin: true,
            staff: false,
            key: false,
        }
    }

    pub(super) fn staff(session: Session) -> Caller {
        Caller {
            admin: session.staff.role == StaffRole::Admin,
            name: session.staff.name,
            staff: true,
            key: false,
        }
    }

    /// Write a staff member's change to the audit log (the admin key's are not).
    pub(super) async fn audit(
        &self,
        state: &AppState,
        action: &str,
        target: &str,
    ) -> Result<(), ApiError> {
        if self.staff {
            state
                .store
                .audit(now().0 as i64, &self.name, action, target)
                .await?;
        }
        Ok(())
    }
}

impl Session {
    /// The session a request carries, if its cookie names a live one (within 12 hours of
    /// its login and used within the idle period), and (for anything but GET and HEAD) its
    /// `X-CSRF-Token` matches. Its use renews it.
    pub async fn of(
        state: &AppState,
        method: &Method,
        headers: &HeaderMap,
    ) -> Result<Session, ApiError> {
        let secret = cookie(headers, SESSION_COOKIE).ok_or_else(unauthorized)?;
        let digest = staff::digest(secret);
        let at = now().0 as i64;
        let idle = state.config.auth.staff_idle;
        let (account, csrf, last_used) = state
            .store
            .staff_session(&digest, at, at - idle.as_millis() as i64)
            .await?
            .ok_or_else(unauthorized)?;
        let csrf = csrf.unwrap_or_default();
        if !matches!(*method, Method::GET | Method::HEAD) {
            let sent = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
            if !sent.is_some_and(|s| !csrf.is_empty() && super::admin::same_key(s, &csrf)) {
                return Err(ApiError(
                    StatusCode::FORBIDDEN,
                    "csrf",
                    format!("send the session's CSRF token in {CSRF_HEADER}"),
                ));
            }
        }
        if at - last_used >= staff::touch_every(idle).as_millis() as i64 {
            state.store.touch_staff_token(&digest, at).await?;
        }
        Ok(Session {
            staff: account,
            digest,
            csrf,
        })
    }

    pub(super) fn admin(self) -> Result<Session, ApiError> {
        if self.staff.role == StaffRole::Admin {
            Ok(self)
        } else {
            Err(ApiError(
                StatusCode::FORBIDDEN,
                "forbidden",
                "only an admin may do this".into(),
            ))
        }
    }
}

fn unauthorized() -> ApiError {
    ApiError(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "log in first (or send the admin key)".into(),
    )
}

/// The value of cookie `name` in a request's `Cookie` headers.
pub(super) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find_map(|(k, v)| (k == name).then_some(v))
}

fn session_cookie(state: &AppState, value: &str, max_age: u64) -> HeaderValue {
    let secure = if state.config.http.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let text = format!(
        "{SESSION_COOKIE}={value}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age}{secure}"
    );
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn me_json(session: &Session) -> serde_json::Value {
    json!({ "name": session.staff.name, "role": session.staff.role, "csrf": session.csrf })
}

#[derive(Deserialize)]
struct Credentials {
    name: String,
    password: String,
}

async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Json(body): Json<Credentials>,
) -> Result<Response, ApiError> {
    let ip: IpAddr = super::client_ip(peer.ip(), &headers, &state.config.http.trusted_proxies);
    if state.logins.check_key(&ip).is_err() {
        metrics::counter!("yishi_staff_logins_total", "outcome" => "rate_limited").increment(1);
        return Err(ApiError(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "too many logins from this address; wait a minute".into(),
        ));
    }
    let at = now().0 as i64;
    let wrong = || {
        metrics::counter!("yishi_staff_logins_total", "outcome" => "wrong").increment(1);
        ApiError(
            StatusCode::UNAUTHORIZED,
            "bad_credentials",
            "wrong name or password".into(),
        )
    };
    let account = state.store.staff(&body.name).await?;
    // Argon2 takes tens of milliseconds: off the async workers. An unknown name is
    // checked against a decoy so that it answers no faster than a known one.
    let hash = account.as_ref().and_then(|a| a.password_hash.clone());
    let password = body.password;
    let good = tokio::task::spawn_blocking(move || match hash {
        Some(hash) => staff::verify_password(&hash, &password),
        None => {
            staff::verify_password(staff::decoy_hash(), &password);
            false
        }
    })
    .await
    .unwrap_or(false);
    let Some(account) = account else {
        return Err(wrong());
    };
    if account.locked_until > at {
        metrics::counter!("yishi_staff_logins_total", "outcome" => "locked").increment(1);
        return Err(ApiError(
            StatusCode::LOCKED,
            "locked",
            format!(
                "too many wrong passwords: locked for {} more minutes",
                (account.locked_until - at + 59_999) / 60_000
            ),
        ));
    }
    if !good {
        let (failed, locked_until) = staff::after_failure(account.failed_logins, at);
        state
            .store
            .set_login_state(&account.name, failed, locked_until)
            .await?;
        if locked_until > 0 {
            state.store.audit(at, &account.name, "locked", "").await?;
        }
        return Err(wrong());
    }
    state.store.set_login_state(&account.name, 0, 0).await?;
    let secret = staff::new_secret();
    let csrf = staff::new_secret();
    let ttl = staff::SESSION_TTL;
    state
        .store
        .put_staff_token(
            &staff::digest(&secret),
            &account.name,
            TokenPurpose::Session,
            Some(&csrf),
            at,
            at + ttl.as_millis() as i64,
        )
        .await?;
    state.store.audit(at, &account.name, "login", "").await?;
    metrics::counter!("yishi_staff_logins_total", "outcome" => "ok").increment(1);
    let body = json!({ "name": account.name, "role": account.role, "csrf": csrf });
    Ok((
        [(
            header::SET_COOKIE,
            session_cookie(&state, &secret, ttl.as_secs()),
        )],
        Json(body),
    )
        .into_response())
}

async fn logout(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let session = Session::of(&state, &method, &headers).await?;
    let at = now().0 as i64;
    state.store.delete_staff_token(&session.digest, at).await?;
    state
        .store
        .audit(at, &session.staff.name, "logout", "")
        .await?;
    Ok((
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, session_cookie(&state, "", 0))],
    )
        .into_response())
}

async fn me(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    let session = Session::of(&state, &method, &headers).await?;
    Ok(Json(me_json(&session)))
}

#[derive(Deserialize)]
struct NewPassword {
    token: String,
    password: String,
}

/// Set a password with a one-time link's token; the token is spent.
async fn set_password(
    State(state): State<AppState>,
    Json(body): Json<NewPassword>,
) -> Result<StatusCode, ApiError> {
    let at = now().0 as i64;
    let digest = staff::digest(&body.token);
    let Some((account, _)) = state
        .store
        .staff_token(&digest, TokenPurpose::Password, at)
        .await?
    else {
        return Err(ApiError(
            StatusCode::UNAUTHORIZED,
            "link_invalid",
            "this link has expired or was used already: ask an admin for a new one".into(),
        ));
    };
    let password = body.password;
    let hash = tokio::task::spawn_blocking(move || staff::hash_password(&password))
        .await
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?
        .map_err(|e| ApiError(StatusCode::BAD_REQUEST, "invalid_argument", e.to_string()))?;
    state.store.set_password(&account.name, &hash).await?;
    state.store.delete_staff_token(&digest, at).await?;
    state
        .store
        .audit(at, &account.name, "set_password", "")
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct NewStaff {
    name: String,
    role: StaffRole,
}

async fn add_staff(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    Json(body): Json<NewStaff>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let session = Session::of(&state, &method, &headers).await?.admin()?;
    let secret = staff::invite(&state.store, &body.name, body.role, now().0 as i64)
        .await
        .map_err(|e| match e {
            staff::InviteError::Name(e) => {
                ApiError(StatusCode::BAD_REQUEST, "invalid_argument", e.to_string())
            }
            staff::InviteError::Store(e) => e.into(),
        })?;
    let link = staff::set_password_link(&state.config.http.public_url, &secret);
    state
        .store
        .audit(
            now().0 as i64,
            &session.staff.name,
            "add_staff",
            &format!("{} ({})", body.name, body.role),
        )
        .await?;
    Ok(Json(
        json!({ "name": body.name, "role": body.role, "link": link }),
    ))
}

async fn list_staff(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    Session::of(&state, &method, &headers).await?.admin()?;
    let at = now().0 as i64;
    let list: Vec<_> = state
        .store
        .list_staff()
        .await?
        .into_iter()
        .map(|a| {
            json!({
                "name": a.name,
                "role": a.role,
                "has_password": a.password_hash.is_some(),
                "locked": a.locked_until > at,
            })
        })
        .collect();
    Ok(Json(json!(list)))
}

#[derive(Deserialize)]
struct AuditQuery {
    format: Option<String>,
}

/// The audit log, as JSON or (`?format=csv`) as CSV for a spreadsheet: UTF-8 with a BOM
/// (so Excel and WPS read the Chinese names), the time in Beijing beside the epoch
/// milliseconds, to download as `audit-log.csv`.
async fn audit_log(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    Query(query): Query<AuditQuery>,
) -> Result<Response, ApiError> {
    let session = Session::of(&state, &method, &headers).await?.admin()?;
    let log = state.store.audit_log().await?;
    let at = now().0 as i64;
    state
        .store
        .audit(at, &session.staff.name, "export_audit", "")
        .await?;
    if query.format.as_deref() == Some("csv") {
        let mut csv = String::from("\u{feff}id,at,time,staff,action,target\n");
        for e in &log {
            csv.push_str(&format!(
                "{},{},{},{},{},{}\n",
                e.id,
                e.at,
                beijing(e.at),
                csv_field(&e.staff),
                csv_field(&e.action),
                csv_field(&e.target)
            ));
        }
        Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"audit-log.csv\"",
                ),
            ],
            csv,
        )
            .into_response())
    } else {
        Ok(Json(json!(log)).into_response())
    }
}

/// `2026-12-06 14:30:05`: epoch milliseconds as a time in Beijing.
fn beijing(at: i64) -> String {
    use crate::minutes::time::{local_date, local_time};
    let at = yishi_protocol::Millis(u64::try_from(at).unwrap_or(0));
    format!("{} {}", local_date(at), local_time(at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_times_are_in_beijing() {
        assert_eq!(beijing(1_796_538_605_000), "2026-12-06 14:30:05");
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; yishi_staff=abc; b=2"),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(&h, "c"), None);
    }
}
