-- Schema version 14 (issue #24, e-mail).
-- The queue of e-mails the server sends, password-reset links, and each affiliate's choice of
-- notifications. Nothing existing changes.
ALTER TABLE affiliates ADD COLUMN mail_conversions INTEGER NOT NULL DEFAULT 0;
ALTER TABLE affiliates ADD COLUMN mail_payouts INTEGER NOT NULL DEFAULT 1;

CREATE TABLE emails (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    kind             TEXT NOT NULL,
    affiliate_id     INTEGER REFERENCES affiliates (id),
    recipient        TEXT,
    subject          TEXT NOT NULL,
    message_id       TEXT NOT NULL UNIQUE,
    body_text        TEXT,
    body_html        TEXT,
    unsubscribe_url  TEXT,
    unsubscribe_hash BLOB UNIQUE,
    status           TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'failed', 'expired')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL,
    last_attempt_at  INTEGER,
    last_error       TEXT,
    created_at       INTEGER NOT NULL,
    sent_at          INTEGER,
    expires_at       INTEGER NOT NULL,
    CHECK (status = 'pending' OR (body_text IS NULL AND body_html IS NULL AND unsubscribe_url IS NULL))
);
CREATE INDEX emails_due ON emails (next_attempt_at) WHERE status = 'pending';
CREATE INDEX emails_by_affiliate ON emails (affiliate_id) WHERE affiliate_id IS NOT NULL;

CREATE TABLE password_resets (
    id           INTEGER PRIMARY KEY,
    token_hash   BLOB NOT NULL UNIQUE,
    affiliate_id INTEGER NOT NULL REFERENCES affiliates (id) ON DELETE CASCADE,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    used_at      INTEGER,
    revoked_at   INTEGER,
    CHECK (used_at IS NULL OR revoked_at IS NULL)
);
CREATE INDEX password_resets_by_affiliate ON password_resets (affiliate_id);
