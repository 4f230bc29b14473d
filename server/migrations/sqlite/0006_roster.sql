-- The roster of members (委员名册), kept across meetings and imported from the office's
-- spreadsheets. A member number (委员编号) is unique when given; an import updates the
-- member with the same number. Times are milliseconds since the epoch.
CREATE TABLE members (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    number     TEXT UNIQUE,
    name       TEXT NOT NULL,
    sector     TEXT NOT NULL DEFAULT '',
    venue      TEXT NOT NULL DEFAULT '',
    phone      TEXT NOT NULL DEFAULT '',
    active     BOOLEAN NOT NULL DEFAULT TRUE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE INDEX members_name ON members (name);
