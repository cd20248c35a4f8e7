-- Schema version 16 (issue #24, applications): would-be
-- affiliates apply through /portal/apply, the merchant approves or rejects, and the terms an
-- affiliate accepted become part of their record and of their ledger's chain.
--
-- - `applications`: what an applicant sent and the merchant's decision. One pending
--   application per e-mail address (any letter case): a partial UNIQUE index decides, in the
--   transaction that stores it.
-- - `affiliates.terms_url`, `terms_accepted_at`: the terms an affiliate accepted, and when.
-- - `ledger_entries` gains the kind `terms_accepted` (no conversion, no payout, amount 0, the
--   terms' URL in `terms_url`; its rollup row, in `ledger_balances`, has currency XXX and
--   balances 0) and `erasures` the kind `application`. SQLite cannot change a
--   CHECK constraint in place, so both tables are rebuilt as migration 0011 rebuilt its tables:
--   created under a new name, filled with every row (ids kept), the old one dropped (its
--   triggers and indexes with it) and the new one renamed; then the indexes and the
--   append-only triggers are created again. Foreign keys are off while migrations run and are
--   checked before the transaction commits; `payout_items` refers to `ledger_entries` by name,
--   so its references hold.

CREATE TABLE applications (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    name              TEXT,
    email             TEXT,
    website           TEXT,
    referral_code     TEXT NOT NULL,
    payout_email      TEXT,
    terms_url         TEXT,
    terms_accepted_at INTEGER,
    status            TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'rejected')),
    created_at        INTEGER NOT NULL,
    decided_at        INTEGER,
    reason            TEXT,
    affiliate_id      INTEGER REFERENCES affiliates (id),
    erased_at         INTEGER,
    CHECK ((status = 'pending') = (decided_at IS NULL)),
    CHECK ((status = 'approved') = (affiliate_id IS NOT NULL)),
    CHECK ((terms_url IS NULL) = (terms_accepted_at IS NULL)),
    CHECK (erased_at IS NOT NULL OR (name IS NOT NULL AND email IS NOT NULL AND website IS NOT NULL))
);
CREATE UNIQUE INDEX applications_one_pending_per_email ON applications (email COLLATE NOCASE) WHERE status = 'pending';
CREATE INDEX applications_by_status ON applications (status, id);
CREATE INDEX applications_by_affiliate ON applications (affiliate_id) WHERE affiliate_id IS NOT NULL;

ALTER TABLE affiliates ADD COLUMN terms_url TEXT;
ALTER TABLE affiliates ADD COLUMN terms_accepted_at INTEGER;

CREATE TABLE ledger_entries_v16 (
    id            INTEGER PRIMARY KEY,
    affiliate_id  INTEGER NOT NULL REFERENCES affiliates (id),
    seq           INTEGER NOT NULL CHECK (seq >= 1),
    kind          TEXT NOT NULL CHECK (kind = 'created' OR kind = 'approved' OR kind = 'rejected' OR kind = 'refunded'
                                       OR kind = 'clawed_back' OR kind = 'replaced' OR kind = 'replaced_approved'
                                       OR kind = 'payout' OR kind = 'paid' OR kind = 'payout_cancelled'
                                       OR kind = 'terms_accepted'),
    conversion_id INTEGER REFERENCES conversions (id),
    payout_id     INTEGER REFERENCES payouts (id),
    currency      TEXT NOT NULL,
    amount        INTEGER NOT NULL,
    at            INTEGER NOT NULL,
    order_hash    BLOB,
    prev_hash     BLOB NOT NULL,
    hash          BLOB NOT NULL,
    terms_url     TEXT,
    UNIQUE (affiliate_id, seq),
    CHECK (CASE WHEN kind = 'terms_accepted'
                THEN conversion_id IS NULL AND payout_id IS NULL AND amount = 0 AND terms_url IS NOT NULL
                ELSE (conversion_id IS NULL) != (payout_id IS NULL) AND terms_url IS NULL END)
);
INSERT INTO ledger_entries_v16 (id, affiliate_id, seq, kind, conversion_id, payout_id, currency, amount, at, order_hash,
                                prev_hash, hash)
SELECT id, affiliate_id, seq, kind, conversion_id, payout_id, currency, amount, at, order_hash, prev_hash, hash
FROM ledger_entries ORDER BY id;
DROP TABLE ledger_entries;
ALTER TABLE ledger_entries_v16 RENAME TO ledger_entries;
CREATE INDEX ledger_entries_by_conversion ON ledger_entries (conversion_id) WHERE conversion_id IS NOT NULL;
CREATE INDEX ledger_entries_by_time ON ledger_entries (at);
CREATE TRIGGER ledger_entries_are_never_updated BEFORE UPDATE ON ledger_entries BEGIN
    SELECT RAISE(ABORT, 'ledger entries are append-only');
END;
CREATE TRIGGER ledger_entries_are_never_deleted BEFORE DELETE ON ledger_entries BEGIN
    SELECT RAISE(ABORT, 'ledger entries are append-only');
END;

CREATE TABLE erasures_v16 (
    hash       TEXT PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('customer', 'click', 'affiliate', 'application')),
    applied_at INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO erasures_v16 (hash, kind, applied_at) SELECT hash, kind, applied_at FROM erasures;
DROP TABLE erasures;
ALTER TABLE erasures_v16 RENAME TO erasures;
