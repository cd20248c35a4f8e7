//! Sessions of logged-in browsers, for every kind of principal: the merchant admin, and
//! affiliates (the portal). The cookie carries a random token; the database keeps only its
//! SHA-256, so a copy of the database or of a backup opens no session. A session is live until
//! it expires or is ended (logout; a new admin token ends every admin session; a re-invite or
//! pausing ends an affiliate's: `store::portal`, `store::affiliates`). Expired and ended sessions
//! are deleted by the sweep.
//!
//! Also here: the admin token's hash and where it came from, in `settings`, so that a changed
//! token ends the sessions opened with the old one. This module never sees a token it stores.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::settings;
use crate::error::Error;
use crate::secret;
use crate::store::writer::Tx;

/// Who a session belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Principal {
    Admin,
    Affiliate(i64),
}

impl Principal {
    fn kind(self) -> &'static str {
        match self {
            Principal::Admin => "admin",
            Principal::Affiliate(_) => "affiliate",
        }
    }

    fn affiliate_id(self) -> Option<i64> {
        match self {
            Principal::Admin => None,
            Principal::Affiliate(id) => Some(id),
        }
    }
}

/// A live session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    pub id: i64,
    pub principal: Principal,
    /// The token this session's forms post back (see `web::session`).
    pub csrf_token: String,
    pub expires_at: i64,
}

fn hash(token: &str) -> [u8; 32] {
    secret::sha256(token.as_bytes())
}

/// Stores a new session for `token` (which is not stored itself).
pub fn create(
    conn: &Tx,
    token: &str,
    principal: Principal,
    csrf_token: &str,
    now: i64,
    expires_at: i64,
) -> Result<i64, Error> {
    conn.prepare_cached(
        "INSERT INTO sessions (token_hash, principal, affiliate_id, csrf_token, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![hash(token), principal.kind(), principal.affiliate_id(), csrf_token, now, expires_at])?;
    Ok(conn.last_insert_rowid())
}

fn from_row(r: &Row<'_>) -> rusqlite::Result<Session> {
    let affiliate_id: Option<i64> = r.get(1)?;
    Ok(Session {
        id: r.get(0)?,
        principal: affiliate_id.map_or(Principal::Admin, Principal::Affiliate),
        csrf_token: r.get(2)?,
        expires_at: r.get(3)?,
    })
}

/// The live session whose cookie carries `token`, if any.
pub fn find(conn: &Connection, token: &str, now: i64) -> Result<Option<Session>, Error> {
    Ok(conn
        .prepare_cached(
            "SELECT id, affiliate_id, csrf_token, expires_at FROM sessions
             WHERE token_hash = ?1 AND ended_at IS NULL AND expires_at > ?2",
        )?
        .query_row(params![hash(token), now], from_row)
        .optional()?)
}

/// Ends the session of `token`. Returns whether a live one was ended.
pub fn end(conn: &Tx, token: &str, now: i64) -> Result<bool, Error> {
    let changed = conn
        .prepare_cached("UPDATE sessions SET ended_at = ?2 WHERE token_hash = ?1 AND ended_at IS NULL")?
        .execute(params![hash(token), now])?;
    Ok(changed > 0)
}

/// Ends every live session of `principal`. Returns how many there were.
pub fn end_all(conn: &Tx, principal: Principal, now: i64) -> Result<usize, Error> {
    Ok(conn
        .prepare_cached(
            "UPDATE sessions SET ended_at = ?3
             WHERE principal = ?1 AND affiliate_id IS ?2 AND ended_at IS NULL AND expires_at > ?3",
        )?
        .execute(params![principal.kind(), principal.affiliate_id(), now])?)
}

/// Deletes up to `limit` sessions that expired or ended before `now`.
pub fn prune(conn: &Tx, now: i64, limit: usize) -> Result<usize, Error> {
    Ok(conn
        .prepare_cached(
            "DELETE FROM sessions WHERE id IN
               (SELECT id FROM sessions WHERE expires_at <= ?1 OR ended_at IS NOT NULL ORDER BY id LIMIT ?2)",
        )?
        .execute(params![now, limit as i64])?)
}

/// Where the admin token in use came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenSource {
    /// `--admin-token` / `AFFILIATED_ADMIN_TOKEN`.
    Configured,
    /// Generated at a start without one, and written to `<db>.initial-admin-token`.
    Generated,
}

impl TokenSource {
    fn as_str(self) -> &'static str {
        match self {
            TokenSource::Configured => "configured",
            TokenSource::Generated => "generated",
        }
    }
}

/// The admin token's SHA-256 (hex) and its source, as last recorded.
pub fn admin_token(conn: &Connection) -> Result<Option<(String, TokenSource)>, Error> {
    let Some(sha256) = settings::get(conn, "admin_token_sha256")? else { return Ok(None) };
    let source = match settings::get(conn, "admin_token_source")?.as_deref() {
        Some("generated") => TokenSource::Generated,
        _ => TokenSource::Configured,
    };
    Ok(Some((sha256, source)))
}

/// Records the admin token in use. When it differs from the one recorded before, every admin
/// session ends: whoever logged in with the old token must log in again. Returns how many
/// sessions ended.
pub fn set_admin_token(conn: &Tx, token: &str, source: TokenSource, now: i64) -> Result<usize, Error> {
    let sha256 = secret::hex(&hash(token));
    let previous = settings::get(conn, "admin_token_sha256")?;
    settings::set(conn, "admin_token_source", source.as_str())?;
    if previous.as_deref() == Some(sha256.as_str()) {
        return Ok(0);
    }
    settings::set(conn, "admin_token_sha256", &sha256)?;
    end_all(conn, Principal::Admin, now)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let conn =
            super::super::open_writer(&dir.path().join("a.db"), super::super::Synchronous::Normal, 1000).unwrap();
        conn.execute_batch(super::super::TEST_CATALOG).unwrap();
        (dir, conn)
    }

    #[test]
    fn a_session_lives_until_it_expires_or_ends_and_only_its_hash_is_stored() {
        let (_dir, conn) = db();
        create(&Tx::within(&conn), "tok-a", Principal::Admin, "csrf-a", 100, 200).unwrap();
        let found = find(&conn, "tok-a", 150).unwrap().unwrap();
        assert_eq!((found.principal, found.csrf_token.as_str(), found.expires_at), (Principal::Admin, "csrf-a", 200));
        assert_eq!(find(&conn, "tok-a", 200).unwrap(), None, "expired");
        assert_eq!(find(&conn, "tok-b", 150).unwrap(), None);
        let stored: Vec<u8> = conn.query_row("SELECT token_hash FROM sessions", [], |r| r.get(0)).unwrap();
        assert_eq!(stored, secret::sha256(b"tok-a"));
        assert!(end(&Tx::within(&conn), "tok-a", 160).unwrap());
        assert!(!end(&Tx::within(&conn), "tok-a", 161).unwrap(), "already ended");
        assert_eq!(find(&conn, "tok-a", 170).unwrap(), None, "ended");
    }

    #[test]
    fn ending_all_sessions_of_one_principal_leaves_the_others() {
        let (_dir, conn) = db();
        create(&Tx::within(&conn), "admin-1", Principal::Admin, "c", 0, 1000).unwrap();
        create(&Tx::within(&conn), "admin-2", Principal::Admin, "c", 0, 1000).unwrap();
        create(&Tx::within(&conn), "ann", Principal::Affiliate(1), "c", 0, 1000).unwrap();
        assert_eq!(end_all(&Tx::within(&conn), Principal::Affiliate(1), 10).unwrap(), 1);
        assert_eq!(find(&conn, "ann", 20).unwrap(), None);
        assert_eq!(find(&conn, "admin-1", 20).unwrap().unwrap().principal, Principal::Admin);
        assert_eq!(end_all(&Tx::within(&conn), Principal::Admin, 10).unwrap(), 2);
        assert_eq!(find(&conn, "admin-2", 20).unwrap(), None);
        let bad = create(&Tx::within(&conn), "x", Principal::Affiliate(99), "c", 0, 1000);
        assert!(bad.is_err(), "an affiliate session needs an existing affiliate");
    }

    #[test]
    fn pruning_deletes_expired_and_ended_sessions_only() {
        let (_dir, conn) = db();
        create(&Tx::within(&conn), "expired", Principal::Admin, "c", 0, 100).unwrap();
        create(&Tx::within(&conn), "ended", Principal::Admin, "c", 0, 1000).unwrap();
        create(&Tx::within(&conn), "live", Principal::Admin, "c", 0, 1000).unwrap();
        end(&Tx::within(&conn), "ended", 50).unwrap();
        assert_eq!(prune(&Tx::within(&conn), 100, 1).unwrap(), 1, "bounded by the limit");
        assert_eq!(prune(&Tx::within(&conn), 100, 10).unwrap(), 1);
        assert_eq!(prune(&Tx::within(&conn), 100, 10).unwrap(), 0);
        assert!(find(&conn, "live", 100).unwrap().is_some());
    }

    #[test]
    fn a_new_admin_token_ends_the_admin_sessions() {
        let (_dir, conn) = db();
        assert_eq!(admin_token(&conn).unwrap(), None);
        set_admin_token(&Tx::within(&conn), "first-token-0123456789", TokenSource::Generated, 0).unwrap();
        create(&Tx::within(&conn), "s", Principal::Admin, "c", 0, 1000).unwrap();
        assert_eq!(
            set_admin_token(&Tx::within(&conn), "first-token-0123456789", TokenSource::Generated, 5).unwrap(),
            0
        );
        assert!(find(&conn, "s", 10).unwrap().is_some(), "the same token keeps sessions");
        let (sha, source) = admin_token(&conn).unwrap().unwrap();
        assert_eq!((sha, source), (secret::hex(&secret::sha256(b"first-token-0123456789")), TokenSource::Generated));
        assert_eq!(
            set_admin_token(&Tx::within(&conn), "second-token-0123456789", TokenSource::Configured, 10).unwrap(),
            1
        );
        assert!(find(&conn, "s", 20).unwrap().is_none());
        assert_eq!(admin_token(&conn).unwrap().unwrap().1, TokenSource::Configured);
    }
}
