-- Schema version 11 (issue #21): test and live data are separate namespaces, and ids are never
-- handed out twice.
--
-- - `conversions.external_id` is UNIQUE per (external_id, test): a test order no longer keeps the
--   real order with the same ID from being recorded (it answered 409 and the sale was lost).
--   `customers.customer_id` likewise, per (customer_id, test): a tie made with a test key can
--   neither block nor take over the live customer's; and a caller's own click ID (`alias`) per
--   (alias, test), an index changed without rebuilding `clicks`.
-- - Every table whose rows leave the server by their integer id becomes AUTOINCREMENT (API keys,
--   conversions, payout runs and payouts, received postbacks, outbound postbacks, the hook log,
--   webhooks and their deliveries), so deleting the newest rows (test data, retention, a
--   replaced environment key) no longer lets SQLite hand their ids out again. Each table's
--   sequence starts at its largest id now: an id handed out and deleted before this upgrade
--   cannot be known any more, and may be handed out once more.
--
-- SQLite can change neither a UNIQUE constraint nor AUTOINCREMENT in place, so each table is
-- rebuilt: created under a new name, filled with every row (ids kept), the old one dropped and
-- the new one renamed, its indexes created again. Foreign keys are off while migrations run and
-- are checked before the transaction commits; other tables refer to these by name, so their
-- references hold. None of these tables has a trigger.

CREATE TABLE api_keys_v11 (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    label      TEXT NOT NULL,
    prefix     TEXT NOT NULL,
    key_hash   BLOB NOT NULL UNIQUE,
    source     TEXT NOT NULL CHECK (source IN ('cli', 'env', 'initial')),
    created_at INTEGER NOT NULL,
    revoked_at INTEGER,
    -- A test key: everything written with it is test data.
    test INTEGER NOT NULL DEFAULT 0 CHECK (test IN (0, 1))
);
INSERT INTO api_keys_v11 (id, label, prefix, key_hash, source, created_at, revoked_at, test)
SELECT id, label, prefix, key_hash, source, created_at, revoked_at, test FROM api_keys;
DROP TABLE api_keys;
ALTER TABLE api_keys_v11 RENAME TO api_keys;

CREATE TABLE customers_v11 (
    id           INTEGER PRIMARY KEY,
    customer_id  TEXT NOT NULL,
    affiliate_id INTEGER NOT NULL REFERENCES affiliates (id),
    offer_id     INTEGER NOT NULL REFERENCES offers (id),
    click_id     TEXT REFERENCES clicks (id) ON DELETE SET NULL,
    coupon_code  TEXT,
    email        TEXT,
    name         TEXT,
    created_at   INTEGER NOT NULL,
    test INTEGER NOT NULL DEFAULT 0 CHECK (test IN (0, 1)),
    UNIQUE (customer_id, test)
);
INSERT INTO customers_v11 (id, customer_id, affiliate_id, offer_id, click_id, coupon_code, email, name,
                           created_at, test)
SELECT id, customer_id, affiliate_id, offer_id, click_id, coupon_code, email, name, created_at, test FROM customers;
DROP TABLE customers;
ALTER TABLE customers_v11 RENAME TO customers;
CREATE INDEX customers_by_click ON customers (click_id) WHERE click_id IS NOT NULL;
CREATE INDEX customers_by_email ON customers (email COLLATE NOCASE) WHERE email IS NOT NULL;

CREATE TABLE conversions_v11 (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    external_id     TEXT NOT NULL,
    type            TEXT NOT NULL,
    affiliate_id    INTEGER NOT NULL REFERENCES affiliates (id),
    offer_id        INTEGER NOT NULL REFERENCES offers (id),
    click_id        TEXT REFERENCES clicks (id) ON DELETE SET NULL,
    customer_id     INTEGER REFERENCES customers (id) ON DELETE SET NULL,
    coupon_code     TEXT,
    attributed_by   TEXT NOT NULL CHECK (attributed_by IN ('click', 'coupon', 'customer', 'session', 'affiliate')),
    source          TEXT NOT NULL CHECK (source IN ('api', 'postback', 'pixel', 'lead', 'admin', 'stripe', 'shopify',
                                                    'woocommerce', 'paddle', 'tracking_api')),
    currency        TEXT NOT NULL,
    amount          INTEGER NOT NULL CHECK (amount >= 0),
    refunded_amount INTEGER NOT NULL DEFAULT 0 CHECK (refunded_amount BETWEEN 0 AND amount),
    -- The commission as first computed; refunds scale it down to `commission`.
    base_commission INTEGER NOT NULL CHECK (base_commission >= 0),
    commission      INTEGER NOT NULL CHECK (commission BETWEEN 0 AND base_commission),
    status          TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected', 'refunded')),
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    -- Written with a test key (or marked as test): never counts in reports, balances or payouts.
    test INTEGER NOT NULL DEFAULT 0 CHECK (test IN (0, 1)),
    -- The fraud rules it tripped, comma-separated; NULL when none. Flagged conversions stay pending.
    flags TEXT,
    -- Which rate priced it.
    rate_source TEXT NOT NULL DEFAULT 'offer'
    CHECK (rate_source IN ('offer', 'affiliate_override', 'event_type')),
    -- What the reporting network or platform said about it: a TUNE/HasOffers goal, FlexOffers'
    -- country and commission ID.
    goal TEXT,
    geo TEXT,
    commission_id TEXT,
    UNIQUE (external_id, test)
);
INSERT INTO conversions_v11 (id, external_id, type, affiliate_id, offer_id, click_id, customer_id,
                             coupon_code, attributed_by, source, currency, amount, refunded_amount,
                             base_commission, commission, status, created_at, updated_at, test, flags,
                             rate_source, goal, geo, commission_id)
SELECT id, external_id, type, affiliate_id, offer_id, click_id, customer_id, coupon_code, attributed_by,
       source, currency, amount, refunded_amount, base_commission, commission, status, created_at, updated_at,
       test, flags, rate_source, goal, geo, commission_id FROM conversions;
DROP TABLE conversions;
ALTER TABLE conversions_v11 RENAME TO conversions;
CREATE INDEX conversions_by_click ON conversions (click_id) WHERE click_id IS NOT NULL;
CREATE INDEX conversions_by_customer ON conversions (customer_id) WHERE customer_id IS NOT NULL;
CREATE INDEX conversions_by_time ON conversions (created_at);
CREATE INDEX conversions_by_status_time ON conversions (status, created_at);
CREATE INDEX conversions_by_affiliate_time ON conversions (affiliate_id, created_at);

CREATE TABLE payout_runs_v11 (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id     TEXT UNIQUE,
    currency   TEXT NOT NULL,
    minimum    INTEGER NOT NULL CHECK (minimum >= 0),   -- minor units of `currency`
    created_at INTEGER NOT NULL
);
INSERT INTO payout_runs_v11 (id, run_id, currency, minimum, created_at)
SELECT id, run_id, currency, minimum, created_at FROM payout_runs;
DROP TABLE payout_runs;
ALTER TABLE payout_runs_v11 RENAME TO payout_runs;

CREATE TABLE payouts_v11 (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    run          INTEGER NOT NULL REFERENCES payout_runs (id),
    affiliate_id INTEGER NOT NULL REFERENCES affiliates (id),
    currency     TEXT NOT NULL,
    amount       INTEGER NOT NULL CHECK (amount > 0),
    status       TEXT NOT NULL CHECK (status IN ('pending', 'paid', 'cancelled')),
    reference    TEXT,
    created_at   INTEGER NOT NULL,
    paid_at      INTEGER,
    cancelled_at INTEGER
);
INSERT INTO payouts_v11 (id, run, affiliate_id, currency, amount, status, reference, created_at, paid_at,
                         cancelled_at)
SELECT id, run, affiliate_id, currency, amount, status, reference, created_at, paid_at, cancelled_at FROM payouts;
DROP TABLE payouts;
ALTER TABLE payouts_v11 RENAME TO payouts;
CREATE INDEX payouts_by_run ON payouts (run, id);
CREATE INDEX payouts_by_affiliate ON payouts (affiliate_id, id);
CREATE INDEX payouts_by_status ON payouts (status, id);

CREATE TABLE postbacks_received_v11 (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at   INTEGER NOT NULL,
    dialect       TEXT NOT NULL,
    method        TEXT NOT NULL,
    params        TEXT NOT NULL,        -- JSON object of the parameters, minus the token
    status        INTEGER NOT NULL,     -- the HTTP status answered
    outcome       TEXT NOT NULL CHECK (outcome IN ('created', 'duplicate', 'rejected', 'failed')),
    error_code    TEXT,
    conversion_id INTEGER REFERENCES conversions (id)
);
INSERT INTO postbacks_received_v11 (id, received_at, dialect, method, params, status, outcome, error_code,
                                    conversion_id)
SELECT id, received_at, dialect, method, params, status, outcome, error_code, conversion_id FROM postbacks_received;
DROP TABLE postbacks_received;
ALTER TABLE postbacks_received_v11 RENAME TO postbacks_received;
CREATE INDEX postbacks_received_by_time ON postbacks_received (received_at);

CREATE TABLE postback_deliveries_v11 (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    affiliate_id    INTEGER NOT NULL REFERENCES affiliates (id),
    conversion_id   INTEGER REFERENCES conversions (id),
    event           TEXT NOT NULL,
    url             TEXT NOT NULL,      -- the template with every macro filled in
    status          TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_attempt_at INTEGER,
    last_status     INTEGER,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    delivered_at    INTEGER,
    -- About test data: sent with the {test} macro 1 and an X-Affiliated-Test header.
    test INTEGER NOT NULL DEFAULT 0 CHECK (test IN (0, 1))
);
INSERT INTO postback_deliveries_v11 (id, affiliate_id, conversion_id, event, url, status, attempts,
                                     next_attempt_at, last_attempt_at, last_status, last_error, created_at,
                                     delivered_at, test)
SELECT id, affiliate_id, conversion_id, event, url, status, attempts, next_attempt_at, last_attempt_at,
       last_status, last_error, created_at, delivered_at, test FROM postback_deliveries;
DROP TABLE postback_deliveries;
ALTER TABLE postback_deliveries_v11 RENAME TO postback_deliveries;
CREATE INDEX postback_deliveries_due ON postback_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX postback_deliveries_by_status ON postback_deliveries (status, id);

CREATE TABLE hooks_received_v11 (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
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
INSERT INTO hooks_received_v11 (id, received_at, connector, event_id, event_type, test, action, reference,
                                outcome, error_code, detail, replayed, conversion_id)
SELECT id, received_at, connector, event_id, event_type, test, action, reference, outcome, error_code, detail,
       replayed, conversion_id FROM hooks_received;
DROP TABLE hooks_received;
ALTER TABLE hooks_received_v11 RENAME TO hooks_received;
CREATE INDEX hooks_received_by_time ON hooks_received (received_at);
CREATE INDEX hooks_received_by_connector ON hooks_received (connector, id);

CREATE TABLE webhooks_v11 (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    url        TEXT NOT NULL,
    events     TEXT NOT NULL,       -- the event types it subscribes to, comma-separated
    secret     BLOB,                -- NULL once deleted
    created_at INTEGER NOT NULL,
    deleted_at INTEGER,
    CHECK ((deleted_at IS NULL) = (secret IS NOT NULL))
);
INSERT INTO webhooks_v11 (id, url, events, secret, created_at, deleted_at)
SELECT id, url, events, secret, created_at, deleted_at FROM webhooks;
DROP TABLE webhooks;
ALTER TABLE webhooks_v11 RENAME TO webhooks;
CREATE UNIQUE INDEX webhooks_by_url ON webhooks (url) WHERE deleted_at IS NULL;

CREATE TABLE webhook_deliveries_v11 (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
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
INSERT INTO webhook_deliveries_v11 (id, webhook_id, message_id, event, conversion_id, payload, status,
                                    attempts, next_attempt_at, last_attempt_at, last_status, last_error,
                                    created_at, delivered_at)
SELECT id, webhook_id, message_id, event, conversion_id, payload, status, attempts, next_attempt_at,
       last_attempt_at, last_status, last_error, created_at, delivered_at FROM webhook_deliveries;
DROP TABLE webhook_deliveries;
ALTER TABLE webhook_deliveries_v11 RENAME TO webhook_deliveries;
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_by_webhook ON webhook_deliveries (webhook_id, id);
CREATE INDEX webhook_deliveries_by_conversion ON webhook_deliveries (conversion_id) WHERE conversion_id IS NOT NULL;

DROP INDEX clicks_by_alias;
CREATE UNIQUE INDEX clicks_by_alias ON clicks (alias, test) WHERE alias IS NOT NULL;
