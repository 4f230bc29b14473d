-- The record of Yishi rooms (PostgreSQL). See server/src/store/mod.rs.

CREATE TABLE rooms (
    id          TEXT   NOT NULL PRIMARY KEY,
    title       TEXT   NOT NULL,
    kind        TEXT   NOT NULL CHECK (kind IN ('consultation', 'lecture')),
    created_at  BIGINT NOT NULL,
    closed_at   BIGINT,
    final_hash  TEXT,
    settings    TEXT   NOT NULL DEFAULT '{}'
);

-- One row per record entry. `body` is the canonical JSON of the event's body (kept as
-- text, not jsonb, so its bytes come back unchanged).
CREATE TABLE events (
    room_id  TEXT   NOT NULL REFERENCES rooms (id),
    seq      BIGINT NOT NULL CHECK (seq >= 1),
    at       BIGINT NOT NULL,
    actor    TEXT,
    body     TEXT   NOT NULL,
    prev     TEXT   NOT NULL,
    hash     TEXT   NOT NULL,
    PRIMARY KEY (room_id, seq)
);

-- The sealed ballot box of secret polls: counts only, no voter, no time, no sequence.
CREATE TABLE ballot_box (
    room_id     TEXT   NOT NULL REFERENCES rooms (id),
    poll        BIGINT NOT NULL,
    electorate  TEXT   NOT NULL CHECK (electorate IN ('binding', 'advisory')),
    choice      TEXT   NOT NULL,
    count       BIGINT NOT NULL CHECK (count > 0),
    PRIMARY KEY (room_id, poll, electorate, choice)
);
