-- Meetings prepared in the console: a room plus its preparation (time, place,
-- description, agenda, venues), its invitees from the roster with their per-person join
-- links, and the join tokens revoked when a link was replaced. Times are milliseconds
-- since the epoch; agenda and venues are JSON arrays.
CREATE TABLE meetings (
    room_id     TEXT PRIMARY KEY REFERENCES rooms (id),
    starts_at   BIGINT NOT NULL,
    ends_at     BIGINT NOT NULL,
    place       TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    agenda      TEXT NOT NULL DEFAULT '[]',
    venues      TEXT NOT NULL DEFAULT '[]',
    copied_from TEXT,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

-- One row per invited person. `participant` is the id in the room (`sub` of the token);
-- `jti`, `not_before` and `expires_at` are those of the current link (minted again from
-- them when shown, so no token is stored); `serial` counts re-issues.
CREATE TABLE meeting_invitees (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    room_id     TEXT NOT NULL REFERENCES meetings (room_id),
    member_id   BIGINT REFERENCES members (id),
    participant TEXT NOT NULL,
    name        TEXT NOT NULL,
    sector      TEXT NOT NULL DEFAULT '',
    venue       TEXT NOT NULL DEFAULT '',
    role        TEXT NOT NULL,
    jti         TEXT NOT NULL,
    serial      BIGINT NOT NULL DEFAULT 1,
    issued_at   BIGINT NOT NULL,
    not_before  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    UNIQUE (room_id, participant)
);

CREATE INDEX meeting_invitees_room ON meeting_invitees (room_id);

-- Join tokens that were replaced: refused at hello until they expire.
CREATE TABLE revoked_tokens (
    jti        TEXT PRIMARY KEY,
    room_id    TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT NOT NULL
);
