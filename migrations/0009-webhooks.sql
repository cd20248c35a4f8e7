-- Migration 0009: merchant webhooks (#14): the merchant's endpoints and the outbox of events
-- signed for them per the Standard Webhooks specification.

-- Merchant webhooks: endpoints of the merchant's own systems (CRM, chat, accounting) and the
-- events each one wants. The key signs every delivery (Standard Webhooks), so it is kept in
-- clear: 32 random bytes, shown to the merchant once as `whsec_` + base64. A deleted webhook
-- keeps its row, for its deliveries to point at, but not its key.
CREATE TABLE webhooks (
    id         INTEGER PRIMARY KEY,
    url        TEXT NOT NULL,
    events     TEXT NOT NULL,       -- the event types it subscribes to, comma-separated
    secret     BLOB,                -- NULL once deleted
    created_at INTEGER NOT NULL,
    deleted_at INTEGER,
    CHECK ((deleted_at IS NULL) = (secret IS NOT NULL))
);
-- One live webhook per URL: a retried POST cannot make every event arrive twice.
CREATE UNIQUE INDEX webhooks_by_url ON webhooks (url) WHERE deleted_at IS NULL;

-- Webhook events to deliver (an outbox, like postback_deliveries). The payload is rendered in
-- the transaction of the change it reports and sent byte for byte, signed at each attempt.
CREATE TABLE webhook_deliveries (
    id              INTEGER PRIMARY KEY,
    webhook_id      INTEGER NOT NULL REFERENCES webhooks (id),
    message_id      TEXT NOT NULL,      -- `webhook-id`: random, the same on every attempt
    event           TEXT NOT NULL,
    -- The conversion the payload shows (erasure finds the payloads to redact by it).
    conversion_id   INTEGER REFERENCES conversions (id),
    payload         TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_attempt_at INTEGER,
    last_status     INTEGER,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    delivered_at    INTEGER
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_by_webhook ON webhook_deliveries (webhook_id, id);
CREATE INDEX webhook_deliveries_by_conversion ON webhook_deliveries (conversion_id) WHERE conversion_id IS NOT NULL;
