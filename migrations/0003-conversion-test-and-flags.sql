-- Schema version 3: test conversions and fraud flags (issue #14). A test conversion was written
-- with a test API key (or marked as test): it never counts in reports, balances, payouts or
-- automatic approval. `flags` lists the fraud rules a conversion tripped (comma-separated, NULL
-- when none): a flagged conversion stays pending until a person decides.
ALTER TABLE conversions ADD COLUMN test INTEGER NOT NULL DEFAULT 0 CHECK (test IN (0, 1));
ALTER TABLE conversions ADD COLUMN flags TEXT;
