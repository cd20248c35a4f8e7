-- Schema version 3 (connectors branch; renumbered at merge): the shop connectors' signing secrets,
-- the log of webhooks received, and the events held until what they need arrives.

-- Signing secrets of the shop connectors, when set at run time (PUT /api/v1/connectors/{name});
-- secrets from the environment or flags are never stored. A webhook's HMAC can only be checked
-- with the secret itself, so it is kept in clear (like affiliates' postback secrets), never
-- logged and never returned.
CREATE TABLE connector_secrets (
    connector  TEXT PRIMARY KEY CHECK (connector IN ('stripe', 'shopify', 'woocommerce', 'paddle')),
    secret     TEXT NOT NULL,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;

-- Webhooks received from shop platforms with a valid signature: one row per thing a hook did (a
-- conversion, a refund, a customer tie, or nothing), written in the transaction that did it.
-- Identifiers and outcomes only, never the body: it holds customers' names, e-mails, addresses.
CREATE TABLE hooks_received (
    id            INTEGER PRIMARY KEY,
    received_at   INTEGER NOT NULL,
    connector     TEXT NOT NULL,
    event_id      TEXT,                 -- the platform's event or delivery ID
    event_type    TEXT NOT NULL,        -- e.g. checkout.session.completed, orders/paid
    test          INTEGER CHECK (test IN (0, 1)),   -- the platform's test-mode flag, where it has one
    action        TEXT NOT NULL CHECK (action IN ('conversion', 'refund', 'tie', 'none')),
    reference     TEXT,                 -- the platform's ID of what was acted on (order, payment, refund)
    outcome       TEXT NOT NULL CHECK (outcome IN ('created', 'duplicate', 'refunded', 'tied', 'held', 'expired',
                                                   'ignored', 'unattributed', 'rejected')),
    error_code    TEXT,
    detail        TEXT,                 -- why it was ignored, held or expired, in our words
    replayed      INTEGER NOT NULL DEFAULT 0 CHECK (replayed IN (0, 1)),   -- a held event, recorded later
    conversion_id INTEGER REFERENCES conversions (id)
);
CREATE INDEX hooks_received_by_time ON hooks_received (received_at);
CREATE INDEX hooks_received_by_connector ON hooks_received (connector, id);

-- Hook events that came before what they need: a Stripe invoice before the checkout that ties its
-- customer, a refund before its order. Replayed in the transaction that brings what they wait
-- for; after 24 hours the sweeper logs them as expired and deletes them. `action` is the mapped
-- event as JSON (identifiers and amounts, no personal data).
CREATE TABLE hooks_held (
    id         INTEGER PRIMARY KEY,
    connector  TEXT NOT NULL,
    waits_for  TEXT NOT NULL CHECK (waits_for IN ('customer', 'order')),
    awaited    TEXT NOT NULL,           -- the customer ID (namespaced) or the order's external_id
    reference  TEXT NOT NULL,           -- the platform's ID of the held object (invoice, refund)
    event_id   TEXT,
    event_type TEXT NOT NULL,
    test       INTEGER CHECK (test IN (0, 1)),
    action     TEXT NOT NULL,
    held_at    INTEGER NOT NULL,
    UNIQUE (connector, waits_for, awaited, reference)
);
CREATE INDEX hooks_held_by_time ON hooks_held (held_at);
