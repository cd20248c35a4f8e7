-- Schema version 18 (issue #26: a conversion's CPU cost). The value lists of the tables a
-- conversion's transaction writes (conversions, postbacks_received, postback_deliveries,
-- webhook_deliveries) were checked with `x IN ('a', 'b', 'c', ...)`. For a list of more than two
-- values SQLite builds a temporary b-tree (its own pager and page cache) each time a row is
-- inserted or updated: 4.5 of them per conversion, 15% of the instructions a conversion cost.
-- The same rules are now written as comparisons (`x = 'a' OR x = 'b' ...`), which SQLite
-- evaluates in place. SQLite cannot change a CHECK constraint in place, so each table is rebuilt
-- with the same columns, rows and ids, and its AUTOINCREMENT sequence is carried over (ids of
-- deleted newest rows are still never handed out again).
CREATE TABLE conversions_v18 (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    external_id     TEXT NOT NULL,
    type            TEXT NOT NULL,
    affiliate_id    INTEGER NOT NULL REFERENCES affiliates (id),
    offer_id        INTEGER NOT NULL REFERENCES offers (id),
    click_id        TEXT REFERENCES clicks (id) ON DELETE SET NULL,
    customer_id     INTEGER REFERENCES customers (id) ON DELETE SET NULL,
    coupon_code     TEXT,
    attributed_by   TEXT NOT NULL CHECK (attributed_by = 'click' OR attributed_by = 'coupon' OR attributed_by = 'customer'
                                     OR attributed_by = 'session' OR attributed_by = 'affiliate'),
    source          TEXT NOT NULL CHECK (source = 'api' OR source = 'postback' OR source = 'pixel' OR source = 'lead'
                                     OR source = 'admin' OR source = 'stripe' OR source = 'shopify'
                                     OR source = 'woocommerce' OR source = 'paddle' OR source = 'tracking_api'),
    currency        TEXT NOT NULL,
    amount          INTEGER NOT NULL CHECK (amount >= 0),
    refunded_amount INTEGER NOT NULL DEFAULT 0 CHECK (refunded_amount BETWEEN 0 AND amount),
    -- The commission as first computed; refunds scale it down to `commission`.
    base_commission INTEGER NOT NULL CHECK (base_commission >= 0),
    commission      INTEGER NOT NULL CHECK (commission BETWEEN 0 AND base_commission),
    status          TEXT NOT NULL CHECK (status = 'pending' OR status = 'approved' OR status = 'rejected'
                                     OR status = 'refunded'),
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    -- Written with a test key (or marked as test): never counts in reports, balances or payouts.
    test INTEGER NOT NULL DEFAULT 0 CHECK (test IN (0, 1)),
    -- The fraud rules it tripped, comma-separated; NULL when none. Flagged conversions stay pending.
    flags TEXT,
    -- Which rate priced it.
    rate_source TEXT NOT NULL DEFAULT 'offer'
    CHECK (rate_source = 'offer' OR rate_source = 'affiliate_override' OR rate_source = 'event_type'),
    -- What the reporting network or platform said about it: a TUNE/HasOffers goal, FlexOffers'
    -- country and commission ID.
    goal TEXT,
    geo TEXT,
    commission_id TEXT,
    UNIQUE (external_id, test)
);
INSERT INTO conversions_v18 (
    id, external_id, type, affiliate_id, offer_id, click_id, customer_id, coupon_code,
    attributed_by, source, currency, amount, refunded_amount, base_commission, commission, status,
    created_at, updated_at, test, flags, rate_source, goal, geo, commission_id
)
SELECT id, external_id, type, affiliate_id, offer_id, click_id, customer_id, coupon_code,
       attributed_by, source, currency, amount, refunded_amount, base_commission, commission,
       status, created_at, updated_at, test, flags, rate_source, goal, geo, commission_id
FROM conversions;
INSERT INTO sqlite_sequence (name, seq)
SELECT 'conversions_v18', seq FROM sqlite_sequence WHERE name = 'conversions'
  AND NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'conversions_v18');
UPDATE sqlite_sequence SET seq = max(seq, (SELECT coalesce(max(seq), 0) FROM sqlite_sequence WHERE name = 'conversions'))
WHERE name = 'conversions_v18';
DROP TABLE conversions;
ALTER TABLE conversions_v18 RENAME TO conversions;
CREATE INDEX conversions_by_click ON conversions (click_id) WHERE click_id IS NOT NULL;
CREATE INDEX conversions_by_customer ON conversions (customer_id) WHERE customer_id IS NOT NULL;
CREATE INDEX conversions_by_time ON conversions (created_at);
CREATE INDEX conversions_by_status_time ON conversions (status, created_at);
CREATE INDEX conversions_by_affiliate_time ON conversions (affiliate_id, created_at);

CREATE TABLE postbacks_received_v18 (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at   INTEGER NOT NULL,
    dialect       TEXT NOT NULL,
    method        TEXT NOT NULL,
    params        TEXT NOT NULL,        -- JSON object of the parameters, minus the token
    status        INTEGER NOT NULL,     -- the HTTP status answered
    outcome       TEXT NOT NULL CHECK (outcome = 'created' OR outcome = 'duplicate' OR outcome = 'rejected'
                                   OR outcome = 'failed'),
    error_code    TEXT,
    conversion_id INTEGER REFERENCES conversions (id)
);
INSERT INTO postbacks_received_v18 (
    id, received_at, dialect, method, params, status, outcome, error_code, conversion_id
)
SELECT id, received_at, dialect, method, params, status, outcome, error_code, conversion_id
FROM postbacks_received;
INSERT INTO sqlite_sequence (name, seq)
SELECT 'postbacks_received_v18', seq FROM sqlite_sequence WHERE name = 'postbacks_received'
  AND NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'postbacks_received_v18');
UPDATE sqlite_sequence SET seq = max(seq, (SELECT coalesce(max(seq), 0) FROM sqlite_sequence WHERE name = 'postbacks_received'))
WHERE name = 'postbacks_received_v18';
DROP TABLE postbacks_received;
ALTER TABLE postbacks_received_v18 RENAME TO postbacks_received;
CREATE INDEX postbacks_received_by_time ON postbacks_received (received_at);

CREATE TABLE postback_deliveries_v18 (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    affiliate_id    INTEGER NOT NULL REFERENCES affiliates (id),
    conversion_id   INTEGER REFERENCES conversions (id),
    event           TEXT NOT NULL,
    url             TEXT NOT NULL,      -- the template with every macro filled in
    status          TEXT NOT NULL CHECK (status = 'pending' OR status = 'delivered' OR status = 'failed'),
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
INSERT INTO postback_deliveries_v18 (
    id, affiliate_id, conversion_id, event, url, status, attempts, next_attempt_at, last_attempt_at,
    last_status, last_error, created_at, delivered_at, test
)
SELECT id, affiliate_id, conversion_id, event, url, status, attempts, next_attempt_at,
       last_attempt_at, last_status, last_error, created_at, delivered_at, test
FROM postback_deliveries;
INSERT INTO sqlite_sequence (name, seq)
SELECT 'postback_deliveries_v18', seq FROM sqlite_sequence WHERE name = 'postback_deliveries'
  AND NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'postback_deliveries_v18');
UPDATE sqlite_sequence SET seq = max(seq, (SELECT coalesce(max(seq), 0) FROM sqlite_sequence WHERE name = 'postback_deliveries'))
WHERE name = 'postback_deliveries_v18';
DROP TABLE postback_deliveries;
ALTER TABLE postback_deliveries_v18 RENAME TO postback_deliveries;
CREATE INDEX postback_deliveries_due ON postback_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX postback_deliveries_by_status ON postback_deliveries (status, id);

CREATE TABLE webhook_deliveries_v18 (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook_id      INTEGER NOT NULL REFERENCES webhooks (id),
    message_id      TEXT NOT NULL,      -- `webhook-id`: random, the same on every attempt
    event           TEXT NOT NULL,
    -- The conversion the payload shows (erasure finds the payloads to redact by it).
    conversion_id   INTEGER REFERENCES conversions (id),
    payload         TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status = 'pending' OR status = 'delivered' OR status = 'failed'),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_attempt_at INTEGER,
    last_status     INTEGER,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    delivered_at    INTEGER
);
INSERT INTO webhook_deliveries_v18 (
    id, webhook_id, message_id, event, conversion_id, payload, status, attempts, next_attempt_at,
    last_attempt_at, last_status, last_error, created_at, delivered_at
)
SELECT id, webhook_id, message_id, event, conversion_id, payload, status, attempts,
       next_attempt_at, last_attempt_at, last_status, last_error, created_at, delivered_at
FROM webhook_deliveries;
INSERT INTO sqlite_sequence (name, seq)
SELECT 'webhook_deliveries_v18', seq FROM sqlite_sequence WHERE name = 'webhook_deliveries'
  AND NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'webhook_deliveries_v18');
UPDATE sqlite_sequence SET seq = max(seq, (SELECT coalesce(max(seq), 0) FROM sqlite_sequence WHERE name = 'webhook_deliveries'))
WHERE name = 'webhook_deliveries_v18';
DROP TABLE webhook_deliveries;
ALTER TABLE webhook_deliveries_v18 RENAME TO webhook_deliveries;
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_by_webhook ON webhook_deliveries (webhook_id, id);
CREATE INDEX webhook_deliveries_by_conversion ON webhook_deliveries (conversion_id) WHERE conversion_id IS NOT NULL;
