-- Webhooks (Standard Webhooks) to a committee's own platforms. See server/src/webhooks.rs.
-- Subscriptions, with the secret they are signed with (whsec_…, shown once at creation).
CREATE TABLE webhooks (
    id          TEXT   NOT NULL PRIMARY KEY,
    url         TEXT   NOT NULL,
    types       TEXT   NOT NULL,            -- JSON array of event types
    secret      TEXT   NOT NULL,
    enabled     BIGINT NOT NULL DEFAULT 1,
    created_by  TEXT   NOT NULL,
    created_at  BIGINT NOT NULL
);

-- How far in each room's record a subscription has been read: every event up to `seq`
-- has had its deliveries enqueued (in the same transaction that moved the cursor).
CREATE TABLE webhook_cursors (
    webhook_id  TEXT   NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    room_id     TEXT   NOT NULL,
    seq         BIGINT NOT NULL,
    PRIMARY KEY (webhook_id, room_id)
);

-- The outbox and delivery log. `id` is the `webhook-id` header: `{room}:{seq}:{type}`
-- for an event of the record, `test:{random}` for a test, so a redelivery carries the
-- same id. `locked_until` is a sender's claim (milliseconds), so that two senders (two
-- nodes of a cluster) never post the same attempt.
CREATE TABLE webhook_deliveries (
    webhook_id       TEXT   NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    id               TEXT   NOT NULL,
    type             TEXT   NOT NULL,
    payload          TEXT   NOT NULL,
    status           TEXT   NOT NULL DEFAULT 'pending'
                            CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         BIGINT NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT NOT NULL,
    locked_until     BIGINT NOT NULL DEFAULT 0,
    last_status      BIGINT,
    last_error       TEXT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    PRIMARY KEY (webhook_id, id)
);

CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX webhook_deliveries_log ON webhook_deliveries (webhook_id, created_at);
