-- Schema version 6: what the integrations affiliated was built from send along with a sale
-- (issue #15). A TUNE/HasOffers goal, FlexOffers' geo and commission ID are kept on the
-- conversion (they used to survive only in the received-postback log, which retention prunes);
-- a click can carry the ID the caller chose for it (AFFY's `clickId`), beside its own; and a
-- customer can be found by e-mail (AFFY's payment leads name the customer that way).
ALTER TABLE conversions ADD COLUMN goal TEXT;
ALTER TABLE conversions ADD COLUMN geo TEXT;
ALTER TABLE conversions ADD COLUMN commission_id TEXT;
ALTER TABLE clicks ADD COLUMN alias TEXT;
CREATE UNIQUE INDEX clicks_by_alias ON clicks (alias) WHERE alias IS NOT NULL;
CREATE INDEX customers_by_email ON customers (email COLLATE NOCASE) WHERE email IS NOT NULL;
