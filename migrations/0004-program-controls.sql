-- Schema version 4: the merchant's levers (issue #14). Test keys and test data (clicks,
-- customers, outbound postbacks) that never count in money figures; pausing affiliates and
-- offers, switching coupons off; per-affiliate and per-event commission rates; recurring
-- commission limited to some months; a cap on conversions per click; fraud flags on clicks; and
-- which rate a conversion was priced with.
ALTER TABLE api_keys ADD COLUMN test INTEGER NOT NULL DEFAULT 0 CHECK (test IN (0, 1));
ALTER TABLE affiliates ADD COLUMN status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'paused'));
ALTER TABLE offers ADD COLUMN status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'paused'));
ALTER TABLE offers ADD COLUMN recurring_months INTEGER CHECK (recurring_months BETWEEN 1 AND 1200);
ALTER TABLE offers ADD COLUMN max_conversions_per_click INTEGER CHECK (max_conversions_per_click >= 1);
ALTER TABLE coupons ADD COLUMN active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1));
ALTER TABLE clicks ADD COLUMN test INTEGER NOT NULL DEFAULT 0 CHECK (test IN (0, 1));
ALTER TABLE clicks ADD COLUMN flags TEXT;
ALTER TABLE customers ADD COLUMN test INTEGER NOT NULL DEFAULT 0 CHECK (test IN (0, 1));
ALTER TABLE conversions ADD COLUMN rate_source TEXT NOT NULL DEFAULT 'offer'
    CHECK (rate_source IN ('offer', 'affiliate_override', 'event_type'));
ALTER TABLE postback_deliveries ADD COLUMN test INTEGER NOT NULL DEFAULT 0 CHECK (test IN (0, 1));

-- An offer's rate per conversion type (`sale`, `lead`, ...). When an offer has any, a type it
-- does not list earns nothing.
CREATE TABLE offer_event_rates (
    offer_id         INTEGER NOT NULL REFERENCES offers (id),
    event_type       TEXT NOT NULL,
    commission_type  TEXT NOT NULL CHECK (commission_type IN ('percent', 'flat')),
    commission_value INTEGER NOT NULL CHECK (commission_value >= 0),
    PRIMARY KEY (offer_id, event_type)
) WITHOUT ROWID;

-- A special rate for one affiliate on one offer, for every type (`*`) or per type.
CREATE TABLE affiliate_rates (
    offer_id         INTEGER NOT NULL REFERENCES offers (id),
    affiliate_id     INTEGER NOT NULL REFERENCES affiliates (id),
    event_type       TEXT NOT NULL,
    commission_type  TEXT NOT NULL CHECK (commission_type IN ('percent', 'flat')),
    commission_value INTEGER NOT NULL CHECK (commission_value >= 0),
    PRIMARY KEY (offer_id, affiliate_id, event_type)
) WITHOUT ROWID;

-- Test clicks do not count in the daily totals.
DROP TRIGGER clicks_count_daily;
CREATE TRIGGER clicks_count_daily AFTER INSERT ON clicks WHEN NEW.test = 0 BEGIN
    INSERT INTO daily_clicks (day, affiliate_id, offer_id, clicks)
    VALUES (NEW.created_at / 86400000, NEW.affiliate_id, NEW.offer_id, 1)
    ON CONFLICT (day, affiliate_id, offer_id) DO UPDATE SET clicks = clicks + 1;
END;
