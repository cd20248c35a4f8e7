-- Schema version 13 (issue #25).
--
-- Balances were sums over every ledger entry of an affiliate, computed per request: 90 ms for an
-- affiliate with 63,000 entries, and /admin/balances summed the whole ledger (bench/scale).
-- `ledger_balances` keeps them: per affiliate and currency the four balances, the number of
-- entries and the last entry (the affiliate's chain head is their row with the highest seq),
-- updated by store::ledger::append in the transaction of every entry. After this script the
-- migration's Rust step (store::ledger::rollup::build) fills it from the entries and checks it
-- against them, in this same transaction.
--
-- ledger_entries is rebuilt with its kind CHECK written as comparisons instead of `kind IN (...)`,
-- which SQLite evaluates by building a temporary b-tree on every insert (a quarter of
-- ledger::append's instructions, measured with callgrind); it allows exactly the same values.
-- Foreign keys are off during migrations, so payout_items keeps pointing at the table by name.
CREATE TABLE ledger_entries_v15 (
    id            INTEGER PRIMARY KEY,
    affiliate_id  INTEGER NOT NULL REFERENCES affiliates (id),
    seq           INTEGER NOT NULL CHECK (seq >= 1),
    kind          TEXT NOT NULL CHECK (kind = 'created' OR kind = 'approved' OR kind = 'rejected' OR kind = 'refunded'
                                       OR kind = 'clawed_back' OR kind = 'replaced' OR kind = 'replaced_approved'
                                       OR kind = 'payout' OR kind = 'paid' OR kind = 'payout_cancelled'),
    conversion_id INTEGER REFERENCES conversions (id),
    payout_id     INTEGER REFERENCES payouts (id),
    currency      TEXT NOT NULL,
    amount        INTEGER NOT NULL,
    at            INTEGER NOT NULL,
    order_hash    BLOB,
    prev_hash     BLOB NOT NULL,
    hash          BLOB NOT NULL,
    UNIQUE (affiliate_id, seq),
    CHECK ((conversion_id IS NULL) != (payout_id IS NULL))
);
INSERT INTO ledger_entries_v15 (id, affiliate_id, seq, kind, conversion_id, payout_id, currency, amount, at, order_hash,
                                prev_hash, hash)
SELECT id, affiliate_id, seq, kind, conversion_id, payout_id, currency, amount, at, order_hash, prev_hash, hash
FROM ledger_entries ORDER BY id;
DROP TABLE ledger_entries;
ALTER TABLE ledger_entries_v15 RENAME TO ledger_entries;
CREATE INDEX ledger_entries_by_conversion ON ledger_entries (conversion_id) WHERE conversion_id IS NOT NULL;
CREATE INDEX ledger_entries_by_time ON ledger_entries (at);
CREATE TRIGGER ledger_entries_are_never_updated BEFORE UPDATE ON ledger_entries BEGIN
    SELECT RAISE(ABORT, 'ledger entries are append-only');
END;
CREATE TRIGGER ledger_entries_are_never_deleted BEFORE DELETE ON ledger_entries BEGIN
    SELECT RAISE(ABORT, 'ledger entries are append-only');
END;

CREATE TABLE ledger_balances (
    affiliate_id INTEGER NOT NULL REFERENCES affiliates (id),
    currency     TEXT NOT NULL,
    pending      INTEGER NOT NULL,
    available    INTEGER NOT NULL,
    in_payouts   INTEGER NOT NULL,
    paid         INTEGER NOT NULL,
    entries      INTEGER NOT NULL CHECK (entries >= 1),
    seq          INTEGER NOT NULL CHECK (seq >= 1),
    hash         BLOB NOT NULL,
    PRIMARY KEY (affiliate_id, currency)
) WITHOUT ROWID;
CREATE TRIGGER ledger_balances_are_never_deleted BEFORE DELETE ON ledger_balances BEGIN
    SELECT RAISE(ABORT, 'ledger balances follow the append-only ledger');
END;
