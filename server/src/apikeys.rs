//! Scoped API keys: how machines (a committee's 履职平台, a messaging gateway) call the
//! admin API without a person's session. Pure rules here; the store keeps the keys
//! (`store/apikeys.rs`) and `http/apikeys.rs` speaks HTTP.
//!
//! - A key's secret is `yk_` and 256 random bits, URL-safe; it is shown once, and the
//!   store keeps only its SHA-256 digest (as for staff sessions, `crate::staff`).
//! - A key holds scopes; every admin route needs exactly one, declared in [`ROUTES`]
//!   and nowhere else. A route missing from the table (staff accounts, the audit log,
//!   the keys themselves) is never reachable with a key.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::store::{ApiKey, Store, StoreError};

/// What every key's secret starts with, so that a leaked one is recognised (and found
/// by secret scanners).
pub const PREFIX: &str = "yk_";
/// How often a key's `last used` time is written, at most.
pub const TOUCH_EVERY: Duration = Duration::from_secs(60);
/// The longest expiry a key may be given, in days.
pub const MAX_DAYS: u32 = 3650;

/// What a key may do: the admin routes, read apart from write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Scope {
    /// Rooms and prepared meetings, their live attendance and speaking, join links' QR.
    #[serde(rename = "meetings:read")]
    MeetingsRead,
    /// Create, edit, close and host meetings; invite, remove and reissue links.
    #[serde(rename = "meetings:write")]
    MeetingsWrite,
    /// The roster (名册) and its export.
    #[serde(rename = "roster:read")]
    RosterRead,
    /// Import the roster and change members.
    #[serde(rename = "roster:write")]
    RosterWrite,
    /// A room's record and minutes, participation records (履职档案).
    #[serde(rename = "reports:read")]
    ReportsRead,
    /// The board's staff views: the queue, the shortlist, the review list.
    #[serde(rename = "board:read")]
    BoardRead,
    /// The board's staff commands (publish, merge, select into a meeting, …).
    #[serde(rename = "board:moderate")]
    BoardModerate,
    /// Webhook subscriptions, their deliveries and test sends.
    #[serde(rename = "webhooks:manage")]
    WebhooksManage,
}

impl Scope {
    pub const ALL: [Scope; 8] = [
        Scope::MeetingsRead,
        Scope::MeetingsWrite,
        Scope::RosterRead,
        Scope::RosterWrite,
        Scope::ReportsRead,
        Scope::BoardRead,
        Scope::BoardModerate,
        Scope::WebhooksManage,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::MeetingsRead => "meetings:read",
            Scope::MeetingsWrite => "meetings:write",
            Scope::RosterRead => "roster:read",
            Scope::RosterWrite => "roster:write",
            Scope::ReportsRead => "reports:read",
            Scope::BoardRead => "board:read",
            Scope::BoardModerate => "board:moderate",
            Scope::WebhooksManage => "webhooks:manage",
        }
    }

    pub fn parse(text: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

use Scope::*;

/// Every admin route a key can reach and the scope it needs: method, path (`{…}` is one
/// segment) and scope. The one place scopes are given to routes.
pub const ROUTES: &[(&str, &str, Scope)] = &[
    ("GET", "/api/v1/rooms", MeetingsRead),
    ("POST", "/api/v1/rooms", MeetingsWrite),
    ("GET", "/api/v1/rooms/{id}", MeetingsRead),
    ("POST", "/api/v1/rooms/{id}/close", MeetingsWrite),
    ("POST", "/api/v1/rooms/{id}/tokens", MeetingsWrite),
    ("GET", "/api/v1/rooms/{id}/record", ReportsRead),
    ("GET", "/api/v1/rooms/{id}/minutes", ReportsRead),
    ("GET", "/api/v1/rooms/{id}/attendance", MeetingsRead),
    ("GET", "/api/v1/rooms/{id}/speaking", MeetingsRead),
    ("GET", "/api/v1/webhooks", WebhooksManage),
    ("POST", "/api/v1/webhooks", WebhooksManage),
    ("DELETE", "/api/v1/webhooks/{id}", WebhooksManage),
    ("GET", "/api/v1/webhooks/{id}/deliveries", WebhooksManage),
    ("POST", "/api/v1/webhooks/{id}/test", WebhooksManage),
    ("GET", "/api/v1/roster", RosterRead),
    ("POST", "/api/v1/roster/import/preview", RosterWrite),
    ("POST", "/api/v1/roster/import", RosterWrite),
    ("GET", "/api/v1/roster/export", RosterRead),
    ("PATCH", "/api/v1/roster/{id}", RosterWrite),
    ("GET", "/api/v1/meetings", MeetingsRead),
    ("POST", "/api/v1/meetings", MeetingsWrite),
    ("GET", "/api/v1/meetings/{id}", MeetingsRead),
    ("PUT", "/api/v1/meetings/{id}", MeetingsWrite),
    ("POST", "/api/v1/meetings/{id}/duplicate", MeetingsWrite),
    ("POST", "/api/v1/meetings/{id}/host", MeetingsWrite),
    ("POST", "/api/v1/meetings/{id}/invitees", MeetingsWrite),
    (
        "DELETE",
        "/api/v1/meetings/{id}/invitees/{who}",
        MeetingsWrite,
    ),
    (
        "POST",
        "/api/v1/meetings/{id}/invitees/{who}/reissue",
        MeetingsWrite,
    ),
    (
        "GET",
        "/api/v1/meetings/{id}/invitees/{who}/qr.svg",
        MeetingsRead,
    ),
    ("GET", "/api/v1/reports/participation", ReportsRead),
    ("GET", "/api/v1/reports/statistics", ReportsRead),
    ("POST", "/api/v1/board/staff/commands", BoardModerate),
    ("GET", "/api/v1/board/staff/queue", BoardRead),
    ("GET", "/api/v1/board/staff/shortlist", BoardRead),
    ("GET", "/api/v1/board/staff/review", BoardRead),
    ("POST", "/api/v1/board/staff/review/meeting", MeetingsWrite),
    ("GET", "/api/v1/board/staff/overdue", BoardRead),
    ("GET", "/api/v1/board/staff/duty", BoardRead),
    ("GET", "/api/v1/board/staff/reports", BoardRead),
    ("POST", "/api/v1/board/staff/photos", BoardModerate),
];

/// The scope a request needs, or `None` when no key may make it. `HEAD` is a `GET`; a
/// trailing `/` is ignored.
pub fn required_scope(method: &str, path: &str) -> Option<Scope> {
    let method = if method == "HEAD" { "GET" } else { method };
    let path = path.strip_suffix('/').unwrap_or(path);
    ROUTES
        .iter()
        .find(|(m, pattern, _)| *m == method && matches(pattern, path))
        .map(|(_, _, scope)| *scope)
}

fn matches(pattern: &str, path: &str) -> bool {
    let (mut p, mut q) = (pattern.split('/'), path.split('/'));
    loop {
        match (p.next(), q.next()) {
            (None, None) => return true,
            (Some(want), Some(got)) => {
                let any = want.starts_with('{') && want.ends_with('}');
                if !(any && !got.is_empty() || want == got) {
                    return false;
                }
            }
            _ => return false,
        }
    }
}

/// Why a key's name is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("a key's name has 1 to 64 characters, no control characters")]
    BadName,
    #[error("give at least one scope")]
    NoScope,
    #[error("unknown scope {0:?}: the scopes are {list}", list = scope_list())]
    UnknownScope(String),
    #[error("a key expires after 1 to {MAX_DAYS} days")]
    BadExpiry,
}

fn scope_list() -> String {
    Scope::ALL.map(Scope::as_str).join(", ")
}

/// A new key as asked for: its name, scopes (sorted, each once) and expiry (milliseconds
/// since the epoch), checked.
pub fn check_new(
    name: &str,
    scopes: &[String],
    expires_in_days: Option<u32>,
    now: i64,
) -> Result<(Vec<Scope>, Option<i64>), KeyError> {
    crate::staff::check_name(name).map_err(|_| KeyError::BadName)?;
    let mut parsed = scopes
        .iter()
        .map(|s| Scope::parse(s.trim()).ok_or_else(|| KeyError::UnknownScope(s.clone())))
        .collect::<Result<Vec<_>, _>>()?;
    parsed.sort();
    parsed.dedup();
    if parsed.is_empty() {
        return Err(KeyError::NoScope);
    }
    let expires = match expires_in_days {
        None => None,
        Some(d) if (1..=MAX_DAYS).contains(&d) => {
            Some(now.saturating_add(i64::from(d) * 24 * 3600 * 1000))
        }
        Some(_) => return Err(KeyError::BadExpiry),
    };
    Ok((parsed, expires))
}

/// A new secret: the prefix and 256 random bits.
pub fn new_secret() -> String {
    format!("{PREFIX}{}", crate::staff::new_secret())
}

/// Scopes as stored: space-separated.
pub fn join_scopes(scopes: &[Scope]) -> String {
    scopes
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Scopes as stored, read back; unknown words (a scope since removed) are dropped.
pub fn split_scopes(text: &str) -> Vec<Scope> {
    text.split_whitespace().filter_map(Scope::parse).collect()
}

/// Whether a key can be used at `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    Active,
    Expired,
    Revoked,
}

pub fn standing(expires_at: Option<i64>, revoked_at: Option<i64>, now: i64) -> Standing {
    if revoked_at.is_some() {
        Standing::Revoked
    } else if expires_at.is_some_and(|e| e <= now) {
        Standing::Expired
    } else {
        Standing::Active
    }
}

/// Whether a use at `now` should write the key's `last used` time.
pub fn should_touch(last_used: Option<i64>, now: i64) -> bool {
    last_used.is_none_or(|t| now - t >= TOUCH_EVERY.as_millis() as i64)
}

/// The actor a key's changes are audited under.
pub fn actor(name: &str) -> String {
    format!("apikey:{name}")
}

/// Why a key could not be made.
#[derive(Debug, thiserror::Error)]
pub enum MakeError {
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Make a key and keep its digest: the key as stored and its secret. The console's API
/// and `yishi apikey add` both make keys here.
pub async fn make(
    store: &Store,
    name: &str,
    scopes: &[String],
    expires_in_days: Option<u32>,
    created_by: &str,
    at: i64,
) -> Result<(ApiKey, String), MakeError> {
    let (scopes, expires_at) = check_new(name, scopes, expires_in_days, at)?;
    let secret = new_secret();
    let digest = crate::staff::digest(&secret);
    let id = store
        .create_api_key(
            name,
            &digest,
            &join_scopes(&scopes),
            created_by,
            at,
            expires_at,
        )
        .await?;
    let key = ApiKey {
        id,
        name: name.to_owned(),
        digest,
        scopes,
        created_by: created_by.to_owned(),
        created_at: at,
        last_used_at: None,
        expires_at,
        revoked_at: None,
    };
    Ok((key, secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_has_its_scope_and_others_none() {
        assert_eq!(required_scope("GET", "/api/v1/rooms"), Some(MeetingsRead));
        assert_eq!(required_scope("POST", "/api/v1/rooms"), Some(MeetingsWrite));
        assert_eq!(required_scope("HEAD", "/api/v1/rooms/"), Some(MeetingsRead));
        assert_eq!(
            required_scope("GET", "/api/v1/rooms/r1/minutes"),
            Some(ReportsRead)
        );
        assert_eq!(
            required_scope("DELETE", "/api/v1/meetings/m/invitees/p-1"),
            Some(MeetingsWrite)
        );
        assert_eq!(
            required_scope("GET", "/api/v1/reports/participation"),
            Some(ReportsRead)
        );
        // Staff, the audit log and the keys themselves: never.
        for (m, p) in [
            ("GET", "/api/v1/staff"),
            ("POST", "/api/v1/staff"),
            ("GET", "/api/v1/staff/audit"),
            ("GET", "/api/v1/api-keys"),
            ("POST", "/api/v1/api-keys"),
            ("DELETE", "/api/v1/api-keys/3"),
            ("GET", "/api/v1/rooms//minutes"),
            ("GET", "/api/v1/rooms/a/b/minutes"),
            ("PUT", "/api/v1/rooms"),
        ] {
            assert_eq!(required_scope(m, p), None, "{m} {p}");
        }
    }

    #[test]
    fn scopes_read_back_as_written() {
        for s in Scope::ALL {
            assert_eq!(Scope::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        let all = Scope::ALL.to_vec();
        assert_eq!(split_scopes(&join_scopes(&all)), all);
        assert_eq!(split_scopes("roster:read gone:away"), vec![RosterRead]);
    }

    #[test]
    fn new_keys_are_checked() {
        let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let (scopes, expires) = check_new(
            "履职平台",
            &s(&["roster:read", "meetings:read", "roster:read"]),
            Some(2),
            0,
        )
        .unwrap();
        assert_eq!(scopes, vec![MeetingsRead, RosterRead]);
        assert_eq!(expires, Some(2 * 86_400_000));
        assert_eq!(
            check_new("a", &s(&["roster:read"]), None, 5).unwrap().1,
            None
        );
        assert_eq!(
            check_new("", &s(&["roster:read"]), None, 0),
            Err(KeyError::BadName)
        );
        assert_eq!(check_new("a", &[], None, 0), Err(KeyError::NoScope));
        assert_eq!(
            check_new("a", &s(&["staff:manage"]), None, 0),
            Err(KeyError::UnknownScope("staff:manage".into()))
        );
        assert_eq!(
            check_new("a", &s(&["roster:read"]), Some(0), 0),
            Err(KeyError::BadExpiry)
        );
    }

    #[test]
    fn standing_and_touching() {
        assert_eq!(standing(None, None, 10), Standing::Active);
        assert_eq!(standing(Some(11), None, 10), Standing::Active);
        assert_eq!(standing(Some(10), None, 10), Standing::Expired);
        assert_eq!(standing(Some(11), Some(5), 10), Standing::Revoked);
        assert!(should_touch(None, 0));
        assert!(!should_touch(Some(0), 59_999));
        assert!(should_touch(Some(0), 60_000));
    }

    #[test]
    fn secrets_carry_the_prefix() {
        let (a, b) = (new_secret(), new_secret());
        assert!(a.starts_with(PREFIX) && a.len() == PREFIX.len() + 43);
        assert_ne!(a, b);
    }
}
