-- Schema version 10 (issue #13, the affiliate portal): affiliates log in with a password they set
-- through a single-use invite link. (Provisional number: renumbered in landing order.)

-- The Argon2id hash of the affiliate's portal password, as a PHC string
-- ($argon2id$v=19$m=…,t=…,p=…$salt$hash); NULL until they accept an invite, and again after a
-- re-invite (which is also how a forgotten password is reset).
ALTER TABLE affiliates ADD COLUMN password_hash TEXT;

-- Invites to the affiliate portal. Only the SHA-256 of the link's 256-bit random token is stored.
-- An invite is usable once, before `expires_at`, unless a newer invite revoked it; accepting it
-- sets `used_at` with a conditional UPDATE in the transaction that sets the password, so of two
-- submissions of one link exactly one wins.
CREATE TABLE portal_invites (
    id           INTEGER PRIMARY KEY,
    token_hash   BLOB NOT NULL UNIQUE,
    affiliate_id INTEGER NOT NULL REFERENCES affiliates (id) ON DELETE CASCADE,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    used_at      INTEGER,
    revoked_at   INTEGER,
    CHECK (used_at IS NULL OR revoked_at IS NULL)
);
CREATE INDEX portal_invites_by_affiliate ON portal_invites (affiliate_id);
