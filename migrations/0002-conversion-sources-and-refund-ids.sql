-- Schema version 2: conversions from the new sources (Stripe, Shopify, WooCommerce and Paddle
-- connectors; the AFFY-style tracking API), and refund IDs that make a repeated partial refund a
-- no-op. SQLite cannot change a CHECK constraint in place, so `conversions` is rebuilt: created
-- under a new name, filled, the old table dropped and the new one renamed (foreign keys are off
-- while migrations run, and checked before the transaction commits).

CREATE TABLE conversions_v2 (
    id              INTEGER PRIMARY KEY,
    external_id     TEXT NOT NULL UNIQUE,
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
    updated_at      INTEGER NOT NULL
);
INSERT INTO conversions_v2 (id, external_id, type, affiliate_id, offer_id, click_id, customer_id, coupon_code,
                            attributed_by, source, currency, amount, refunded_amount, base_commission, commission,
                            status, created_at, updated_at)
SELECT id, external_id, type, affiliate_id, offer_id, click_id, customer_id, coupon_code, attributed_by, source,
       currency, amount, refunded_amount, base_commission, commission, status, created_at, updated_at
FROM conversions;
DROP TABLE conversions;
ALTER TABLE conversions_v2 RENAME TO conversions;
CREATE INDEX conversions_by_click ON conversions (click_id) WHERE click_id IS NOT NULL;
CREATE INDEX conversions_by_customer ON conversions (customer_id) WHERE customer_id IS NOT NULL;
CREATE INDEX conversions_by_time ON conversions (created_at);
CREATE INDEX conversions_by_status_time ON conversions (status, created_at);
CREATE INDEX conversions_by_affiliate_time ON conversions (affiliate_id, created_at);

ALTER TABLE conversion_events ADD COLUMN refund_id TEXT;
CREATE UNIQUE INDEX conversion_events_by_refund ON conversion_events (conversion_id, refund_id)
    WHERE refund_id IS NOT NULL;
