//! Staff accounts of the committee office (会务组): their roles, passwords and the rules
//! for logging in. The store keeps the accounts; `http/console.rs` speaks HTTP.
//!
//! - Passwords are hashed with Argon2id (the `argon2` crate's defaults, OWASP's
//!   recommended parameters); the hash string carries its own salt and parameters.
//! - Secrets handed out (a one-time set-password link, a session cookie) are 256 random
//!   bits; the store keeps only their SHA-256 digest, so a copy of the database opens no
//!   session.
//! - After [`MAX_FAILURES`] wrong passwords in a row an account is locked for
//!   [`LOCKOUT`], whatever is tried meanwhile, the right password included.
//!
//! Never logs a password, a secret or a hash.

use std::fmt;
use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::store::{Store, StoreError, TokenPurpose};

/// Wrong passwords in a row that lock an account.
pub const MAX_FAILURES: u32 = 5;
/// How long a locked account stays locked.
pub const LOCKOUT: Duration = Duration::from_secs(15 * 60);
/// How long a staff session lasts from its login.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);
/// How long a staff session lasts unused, unless configured (`--staff-idle`).
pub const SESSION_IDLE: Duration = Duration::from_secs(30 * 60);
/// How often a session's last use is written, at most: a minute, or less for a short
/// idle period (a quarter of it), so that a session in use never lapses.
pub fn touch_every(idle: Duration) -> Duration {
    (idle / 4).min(Duration::from_secs(60))
}
/// How long a set-password link stays valid.
pub const SET_PASSWORD_TTL: Duration = Duration::from_secs(72 * 3600);
/// The shortest and longest password accepted, in characters.
pub const PASSWORD_CHARS: std::ops::RangeInclusive<usize> = 10..=128;
/// The cookie that carries a staff session.
pub const SESSION_COOKIE: &str = "yishi_staff";
/// The header a state-changing request of a session must carry its CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// What a staff member may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum StaffRole {
    /// Everything, staff accounts and the audit log included.
    Admin,
    /// Meetings, rosters and reports; not staff accounts, not the audit log.
    Clerk,
}

impl StaffRole {
    pub fn as_str(self) -> &'static str {
        match self {
            StaffRole::Admin => "admin",
            StaffRole::Clerk => "clerk",
        }
    }

    pub fn parse(text: &str) -> Option<StaffRole> {
        match text {
            "admin" => Some(StaffRole::Admin),
            "clerk" => Some(StaffRole::Clerk),
            _ => None,
        }
    }
}

impl fmt::Display for StaffRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a name or password is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StaffError {
    #[error("a staff name has 1 to 64 characters, no control characters")]
    BadName,
    #[error("a password has 10 to 128 characters")]
    BadPassword,
    #[error("the password could not be hashed")]
    Hash,
}

/// A staff name: what a person logs in with.
pub fn check_name(name: &str) -> Result<(), StaffError> {
    let chars = name.chars().count();
    if (1..=64).contains(&chars) && !name.chars().any(char::is_control) && name.trim() == name {
        Ok(())
    } else {
        Err(StaffError::BadName)
    }
}

/// Hash a new password (Argon2id, a fresh salt), after checking its length.
pub fn hash_password(password: &str) -> Result<String, StaffError> {
    if !PASSWORD_CHARS.contains(&password.chars().count()) {
        return Err(StaffError::BadPassword);
    }
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|_| StaffError::Hash)?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|_| StaffError::Hash)
}

/// Whether `password` matches a stored hash. A hash that cannot be read matches nothing.
pub fn verify_password(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// A valid hash of no one's password, to check an unknown name against so that it takes
/// as long as a known one.
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password(&new_secret()).unwrap_or_default())
}

/// A new secret to hand out: 256 random bits, URL-safe.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// What the store keeps of a secret.
pub fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// The account's state after a wrong password at `now` (milliseconds): the failures in
/// a row, and until when it is locked (0: not locked).
pub fn after_failure(failures_before: u32, now: i64) -> (u32, i64) {
    let failures = failures_before.saturating_add(1);
    if failures >= MAX_FAILURES {
        (0, now.saturating_add(LOCKOUT.as_millis() as i64))
    } else {
        (failures, 0)
    }
}

/// Why an invitation could not be made.
#[derive(Debug, thiserror::Error)]
pub enum InviteError {
    #[error(transparent)]
    Name(#[from] StaffError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Add an account (an existing one keeps its role: this resets its password) and return
/// the secret of a one-time set-password link, valid for [`SET_PASSWORD_TTL`].
pub async fn invite(
    store: &Store,
    name: &str,
    role: StaffRole,
    at: i64,
) -> Result<String, InviteError> {
    check_name(name)?;
    match store.create_staff(name, role, at).await {
        Ok(()) | Err(StoreError::StaffExists(_)) => {}
        Err(e) => return Err(e.into()),
    }
    let secret = new_secret();
    let expires = at.saturating_add(SET_PASSWORD_TTL.as_millis() as i64);
    store
        .put_staff_token(
            &digest(&secret),
            name,
            TokenPurpose::Password,
            None,
            at,
            expires,
        )
        .await?;
    Ok(secret)
}

/// The console's page for setting a password with a one-time secret.
pub fn set_password_link(public_url: &str, secret: &str) -> String {
    format!("{public_url}/console#set-password={secret}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_verifies_against_its_hash_and_nothing_else_does() {
        let hash = hash_password("correct horse battery").unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(verify_password(&hash, "correct horse battery"));
        assert!(!verify_password(&hash, "correct horse batterz"));
        assert!(!verify_password("not a hash", "correct horse battery"));
        // A fresh salt each time.
        assert_ne!(hash, hash_password("correct horse battery").unwrap());
    }

    #[test]
    fn short_and_overlong_passwords_are_refused() {
        assert_eq!(hash_password("123456789"), Err(StaffError::BadPassword));
        assert_eq!(
            hash_password(&"x".repeat(129)),
            Err(StaffError::BadPassword)
        );
        assert!(hash_password("一二三四五六七八九十").is_ok());
    }

    #[test]
    fn names_follow_the_text_rules() {
        assert!(check_name("王秘书").is_ok());
        assert_eq!(check_name(""), Err(StaffError::BadName));
        assert_eq!(check_name(" a"), Err(StaffError::BadName));
        assert_eq!(check_name("a\u{7}b"), Err(StaffError::BadName));
        assert_eq!(check_name(&"名".repeat(65)), Err(StaffError::BadName));
    }

    #[test]
    fn the_fifth_failure_in_a_row_locks_for_the_lockout() {
        let mut failures = 0;
        for _ in 1..MAX_FAILURES {
            let (f, locked) = after_failure(failures, 1_000);
            assert_eq!(locked, 0);
            failures = f;
        }
        let (f, locked) = after_failure(failures, 1_000);
        assert_eq!((f, locked), (0, 1_000 + LOCKOUT.as_millis() as i64));
    }

    #[test]
    fn a_session_in_use_is_written_often_enough_to_stay_alive() {
        assert_eq!(touch_every(SESSION_IDLE), Duration::from_secs(60));
        assert_eq!(
            touch_every(Duration::from_secs(2)),
            Duration::from_millis(500)
        );
    }

    #[test]
    fn secrets_are_long_random_and_kept_as_digests() {
        let (a, b) = (new_secret(), new_secret());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(digest(&a).len(), 64);
        assert_ne!(digest(&a), a);
    }
}
