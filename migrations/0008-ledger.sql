-- Schema version 8 (issues #13 and #16): the affiliate ledger, payouts and hold periods.
-- `commission_ledger` (approvals and claw-backs only) is replaced by `ledger_entries`, which holds
-- every change to what an affiliate is owed as a hash chain per affiliate. The chain cannot be
-- computed in SQL: after this script, the migration's Rust step (store::ledger::backfill) writes
-- every affiliate's chain from `conversion_events` in order, checks that the balances equal what
-- `commission_ledger` implied, and drops `commission_ledger`, all in this same transaction.

-- Where to pay an affiliate (personal data: erased with the affiliate's personal data).
ALTER TABLE affiliates ADD COLUMN payout_email TEXT;
ALTER TABLE affiliates ADD COLUMN payout_details TEXT;
-- Days after which the sweeper approves this offer's pending conversions; NULL: the server's
-- --approve-after (off unless set).
ALTER TABLE offers ADD COLUMN approve_after_days INTEGER CHECK (approve_after_days BETWEEN 0 AND 3650);

-- Erasures may now name an affiliate (e-mail and payout details). SQLite cannot change a CHECK
-- constraint in place, so the table is rebuilt.
CREATE TABLE erasures_v4 (
    hash       TEXT PRIMARY KEY,        -- hex SHA-256 of "customer:<id>", "click:<id>" or "affiliate:<code>"
    kind       TEXT NOT NULL CHECK (kind IN ('customer', 'click', 'affiliate')),
    applied_at INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO erasures_v4 (hash, kind, applied_at) SELECT hash, kind, applied_at FROM erasures;
DROP TABLE erasures;
ALTER TABLE erasures_v4 RENAME TO erasures;

-- Payout runs: one row per `POST /api/v1/payouts` (or the admin's form). `run_id` is the
-- caller's optional idempotency key: the same key again answers with the same run.
CREATE TABLE payout_runs (
    id         INTEGER PRIMARY KEY,
    run_id     TEXT UNIQUE,
    currency   TEXT NOT NULL,
    minimum    INTEGER NOT NULL CHECK (minimum >= 0),   -- minor units of `currency`
    created_at INTEGER NOT NULL
);

-- Payouts: what an affiliate is paid in one transfer, holding exactly the ledger entries it covers
-- (payout_items). Only `status`, `reference` and the times ever change.
CREATE TABLE payouts (
    id           INTEGER PRIMARY KEY,
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
CREATE INDEX payouts_by_run ON payouts (run, id);
CREATE INDEX payouts_by_affiliate ON payouts (affiliate_id, id);
CREATE INDEX payouts_by_status ON payouts (status, id);

-- The affiliate ledger: every change to what an affiliate is owed, append-only, one hash chain
-- per affiliate (`seq` 1, 2, 3, ...; hash = SHA-256(prev_hash || canonical bytes), see
-- src/tracking/ledger.rs and docs/statements.md). `amount` is signed minor units of `currency`;
-- what each kind does to the balances is `tracking::ledger::Kind::effect`. The order ID is only
-- here as a salted hash; the salt and the readable ID live in `ledger_orders`.
CREATE TABLE ledger_entries (
    id            INTEGER PRIMARY KEY,
    affiliate_id  INTEGER NOT NULL REFERENCES affiliates (id),
    seq           INTEGER NOT NULL CHECK (seq >= 1),
    kind          TEXT NOT NULL CHECK (kind IN ('created', 'approved', 'rejected', 'refunded', 'clawed_back', 'replaced',
                                                'replaced_approved', 'payout', 'paid', 'payout_cancelled')),
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
CREATE INDEX ledger_entries_by_conversion ON ledger_entries (conversion_id) WHERE conversion_id IS NOT NULL;
CREATE INDEX ledger_entries_by_time ON ledger_entries (at);
-- Entries are never changed or removed, by anything (erasure does not need to: they hold no
-- personal data).
CREATE TRIGGER ledger_entries_are_never_updated BEFORE UPDATE ON ledger_entries BEGIN
    SELECT RAISE(ABORT, 'ledger entries are append-only');
END;
CREATE TRIGGER ledger_entries_are_never_deleted BEFORE DELETE ON ledger_entries BEGIN
    SELECT RAISE(ABORT, 'ledger entries are append-only');
END;

-- Which ledger entries each payout holds. An entry is in at most one payout that is not
-- cancelled: the partial unique index decides, inside the transaction that creates the payout.
-- Cancelling a payout sets `live` to 0 on its items, which frees its entries for the next one.
CREATE TABLE payout_items (
    payout_id INTEGER NOT NULL REFERENCES payouts (id),
    entry_id  INTEGER NOT NULL REFERENCES ledger_entries (id),
    live      INTEGER NOT NULL DEFAULT 1 CHECK (live IN (0, 1)),
    PRIMARY KEY (payout_id, entry_id)
) WITHOUT ROWID;
CREATE UNIQUE INDEX payout_items_one_live_payout ON payout_items (entry_id) WHERE live = 1;

-- The salt and readable order ID behind each conversion's `order_hash` in the ledger. Erasing
-- a customer deletes their rows here: the ledger keeps its hashes, which then tie to no order.
CREATE TABLE ledger_orders (
    conversion_id INTEGER PRIMARY KEY REFERENCES conversions (id),
    salt          BLOB NOT NULL,
    order_id      TEXT NOT NULL
);
