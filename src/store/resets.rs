//! Password-reset links of the portal (`password_resets`): made when an affiliate asks for one
//! at `/portal/forgot`, usable once within `tracking::mail::RESET_LIFETIME_MS`, only the newest
//! one. Only the SHA-256 of a link's token is stored. Asking changes nothing else: the password
//! stays as it is until the link is used, so nobody can lock an affiliate out by asking for
//! them. Using a link is a conditional UPDATE in the transaction that sets the password and
//! ends every portal session of the affiliate, so of two submissions exactly one wins.
//!
//! Architecture Invariant: never sees a password or a token it keeps; hashes are made by
//! `crate::password` on the worker.

use rusqlite::{Connection, OptionalExtension, params};

use super::portal::{Acceptance, OpenInvite};
use super::sessions::{self, Principal};
use crate::error::Error;
use crate::secret;
use crate::store::writer::Tx;
use crate::tracking::mail::RESET_LIFETIME_MS;

fn hash(token: &str) -> [u8; 32] {
    secret::sha256(token.as_bytes())
}

/// An active affiliate a reset can be sent to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holder {
    pub affiliate_id: i64,
    pub name: String,
    pub referral_code: String,
    pub email: String,
}

/// The active affiliates whose e-mail address is `email` (any letter case), at most 10.
pub fn holders(conn: &Connection, email: &str) -> Result<Vec<Holder>, Error> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, name, referral_code, email FROM affiliates
         WHERE email = ?1 COLLATE NOCASE AND status = 'active' ORDER BY id LIMIT 10",
    )?;
    let rows = stmt.query_map([email.trim()], |r| {
        Ok(Holder { affiliate_id: r.get(0)?, name: r.get(1)?, referral_code: r.get(2)?, email: r.get(3)? })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Makes a reset link with `token` for affiliate `affiliate_id`, revoking their earlier ones
/// not used yet. Returns when it expires.
pub fn create(conn: &Tx, affiliate_id: i64, token: &str, now: i64) -> Result<i64, Error> {
    conn.prepare_cached(
        "UPDATE password_resets SET revoked_at = ?2
         WHERE affiliate_id = ?1 AND used_at IS NULL AND revoked_at IS NULL",
    )?
    .execute(params![affiliate_id, now])?;
    let expires_at = now + RESET_LIFETIME_MS;
    conn.prepare_cached(
        "INSERT INTO password_resets (token_hash, affiliate_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![hash(token), affiliate_id, now, expires_at])?;
    Ok(expires_at)
}

/// The affiliate a reset link that still works belongs to.
pub fn open(conn: &Connection, token: &str, now: i64) -> Result<Option<OpenInvite>, Error> {
    Ok(conn
        .prepare_cached(
            "SELECT a.id, a.referral_code, a.name, a.status FROM password_resets r
             JOIN affiliates a ON a.id = r.affiliate_id
             WHERE r.token_hash = ?1 AND r.used_at IS NULL AND r.revoked_at IS NULL AND r.expires_at > ?2",
        )?
        .query_row(params![hash(token), now], super::portal::open_link)
        .optional()?)
}

/// Uses the reset link of `token`: sets `password_hash` and ends every portal session of the
/// affiliate. Exactly one of concurrent submissions is `Accepted`.
pub fn accept(conn: &Tx, token: &str, password_hash: &str, now: i64) -> Result<Acceptance, Error> {
    let used: Option<i64> = conn
        .prepare_cached(
            "UPDATE password_resets SET used_at = ?2
             WHERE token_hash = ?1 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ?2
               AND affiliate_id IN (SELECT id FROM affiliates WHERE status = 'active')
             RETURNING affiliate_id",
        )?
        .query_row(params![hash(token), now], |r| r.get(0))
        .optional()?;
    let Some(affiliate_id) = used else {
        return Ok(if open(conn, token, now)?.is_some() { Acceptance::Paused } else { Acceptance::Gone });
    };
    conn.prepare_cached("UPDATE affiliates SET password_hash = ?2 WHERE id = ?1")?
        .execute(params![affiliate_id, password_hash])?;
    sessions::end_all(conn, Principal::Affiliate(affiliate_id), now)?;
    Ok(Acceptance::Accepted(affiliate_id))
}

/// Deletes at most `limit` reset links that ended before `cutoff`.
pub fn prune(conn: &Tx, cutoff: i64, limit: usize) -> Result<usize, Error> {
    Ok(conn
        .prepare_cached(
            "DELETE FROM password_resets WHERE id IN
               (SELECT id FROM password_resets WHERE coalesce(used_at, revoked_at, expires_at) < ?1 ORDER BY id LIMIT ?2)",
        )?
        .execute(params![cutoff, limit as i64])?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        let conn = super::super::testing::memory();
        conn.execute_batch(super::super::TEST_CATALOG).unwrap();
        conn.execute(
            "UPDATE affiliates SET email = 'Ann@Example.com', password_hash = '$old' WHERE referral_code = 'ann'",
            [],
        )
        .unwrap();
        conn
    }

    fn ann(conn: &Connection) -> i64 {
        conn.query_row("SELECT id FROM affiliates WHERE referral_code = 'ann'", [], |r| r.get(0)).unwrap()
    }

    fn password(conn: &Connection, id: i64) -> Option<String> {
        conn.query_row("SELECT password_hash FROM affiliates WHERE id = ?1", [id], |r| r.get(0)).unwrap()
    }

    #[test]
    fn holders_are_found_by_address_in_any_case() {
        let conn = db();
        let found = holders(&conn, " ann@example.COM ").unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].referral_code, "ann");
        assert!(holders(&conn, "nobody@example.com").unwrap().is_empty());
        conn.execute("UPDATE affiliates SET status = 'paused' WHERE referral_code = 'ann'", []).unwrap();
        assert!(holders(&conn, "ann@example.com").unwrap().is_empty(), "paused affiliates get no reset");
    }

    #[test]
    fn a_link_works_once_within_the_hour_and_only_the_newest() {
        let conn = db();
        let id = ann(&conn);
        let expires_at = create(&Tx::within(&conn), id, "r1", 1_000).unwrap();
        assert_eq!(expires_at, 1_000 + RESET_LIFETIME_MS);
        assert_eq!(password(&conn, id).as_deref(), Some("$old"), "asking changes nothing");
        let stored: Vec<u8> = conn.query_row("SELECT token_hash FROM password_resets", [], |r| r.get(0)).unwrap();
        assert_eq!(stored, secret::sha256(b"r1"));
        create(&Tx::within(&conn), id, "r2", 2_000).unwrap();
        assert_eq!(accept(&Tx::within(&conn), "r1", "$x", 2_500).unwrap(), Acceptance::Gone, "revoked");
        assert_eq!(accept(&Tx::within(&conn), "r2", "$x", 2_000 + RESET_LIFETIME_MS).unwrap(), Acceptance::Gone);
        sessions::create(&Tx::within(&conn), "browser", Principal::Affiliate(id), "c", 2_000, i64::MAX).unwrap();
        assert_eq!(open(&conn, "r2", 3_000).unwrap().unwrap().referral_code, "ann");
        assert_eq!(accept(&Tx::within(&conn), "r2", "$new", 3_000).unwrap(), Acceptance::Accepted(id));
        assert_eq!(password(&conn, id).as_deref(), Some("$new"));
        assert_eq!(sessions::find(&conn, "browser", 3_001).unwrap(), None, "every session ended");
        assert_eq!(accept(&Tx::within(&conn), "r2", "$again", 3_001).unwrap(), Acceptance::Gone, "used");
        assert_eq!(password(&conn, id).as_deref(), Some("$new"));
        assert_eq!(prune(&Tx::within(&conn), 3_002, 10).unwrap(), 2);
    }
}
