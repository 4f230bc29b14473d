-- Scoped API keys for machines (a committee's 履职平台): kept as the SHA-256 digest of
-- the secret, never the secret. And the last use of a staff session, for idle expiry.
CREATE TABLE api_keys (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT NOT NULL UNIQUE,
    digest       TEXT NOT NULL UNIQUE,
    scopes       TEXT NOT NULL,
    created_by   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    expires_at   BIGINT,
    revoked_at   BIGINT
);

ALTER TABLE staff_tokens ADD COLUMN last_used BIGINT NOT NULL DEFAULT 0;
