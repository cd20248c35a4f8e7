-- Migration 0005: server-side sessions for logged-in browsers (the merchant admin today,
-- affiliates in the portal later), so that logging out ends a session on the server.

-- Logged-in browsers. Only the SHA-256 of a session's cookie token is stored. A session is
-- valid until `expires_at`, unless `ended_at` is set first (logout, a changed admin token, and
-- later a re-invited or paused affiliate). The retention sweep deletes expired and ended rows.
CREATE TABLE sessions (
    id           INTEGER PRIMARY KEY,
    token_hash   BLOB NOT NULL UNIQUE,
    principal    TEXT NOT NULL CHECK (principal IN ('admin', 'affiliate')),
    affiliate_id INTEGER REFERENCES affiliates (id) ON DELETE CASCADE,
    csrf_token   TEXT NOT NULL,        -- what this session's forms must post back
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    ended_at     INTEGER,
    CHECK ((principal = 'affiliate') = (affiliate_id IS NOT NULL))
);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);
CREATE INDEX sessions_by_affiliate ON sessions (affiliate_id) WHERE affiliate_id IS NOT NULL;
