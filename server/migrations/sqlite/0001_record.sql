-- The record of Yishi rooms (SQLite). See server/src/store/mod.rs.

CREATE TABLE rooms (
    id          TEXT    NOT NULL PRIMARY KEY,
    title       TEXT    NOT NULL,
    kind        TEXT    NOT NULL CHECK (kind IN ('consultation', 'lecture')),
    created_at  INTEGER NOT NULL,
    closed_at   INTEGER,
    final_hash  TEXT,
    settings    TEXT    NOT NULL DEFAULT '{}'
);

-- One row per record entry. `body` is the canonical JSON of the event's body; with seq,
-- at and actor it rebuilds the `Event` whose canonical JSON `hash` covers.
CREATE TABLE events (
    room_id  TEXT    NOT NULL REFERENCES rooms (id),
    seq      INTEGER NOT NULL CHECK (seq >= 1),
    at       INTEGER NOT NULL,
    actor    TEXT,
    body     TEXT    NOT NULL,
    prev     TEXT    NOT NULL,
    hash     TEXT    NOT NULL,
    PRIMARY KEY (room_id, seq)
) WITHOUT ROWID;

-- The sealed ballot box of secret polls: counts only, no voter, no time, no sequence.
-- WITHOUT ROWID: rows are kept in key order, so not even a rowid tells which choice was
-- first cast.
CREATE TABLE ballot_box (
    room_id     TEXT    NOT NULL REFERENCES rooms (id),
    poll        INTEGER NOT NULL,
    electorate  TEXT    NOT NULL CHECK (electorate IN ('binding', 'advisory')),
    choice      TEXT    NOT NULL,
    count       INTEGER NOT NULL CHECK (count > 0),
    PRIMARY KEY (room_id, poll, electorate, choice)
) WITHOUT ROWID;
