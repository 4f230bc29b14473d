-- Staff accounts of the committee office (会务组), their one-time and session tokens
-- (kept as SHA-256 digests, never as the secret), and the audit log of staff actions.
CREATE TABLE staff (
    name          TEXT PRIMARY KEY,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'clerk')),
    password_hash TEXT,
    failed_logins BIGINT NOT NULL DEFAULT 0,
    locked_until  BIGINT NOT NULL DEFAULT 0,
    created_at    BIGINT NOT NULL
);

CREATE TABLE staff_tokens (
    digest     TEXT PRIMARY KEY,
    staff      TEXT NOT NULL REFERENCES staff (name) ON DELETE CASCADE,
    purpose    TEXT NOT NULL CHECK (purpose IN ('password', 'session')),
    csrf       TEXT,
    expires_at BIGINT NOT NULL
);

CREATE TABLE audit_log (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    at     BIGINT NOT NULL,
    staff  TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL DEFAULT ''
);
