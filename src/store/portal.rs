//! Affiliates' portal accounts: invites and passwords. An affiliate gets into the portal only
//! through an invite: a single-use link whose token is stored as its SHA-256 (a 256-bit random
//! token needs no slow hash), usable for 7 days. Accepting it sets the password hash in the same
//! transaction that consumes it, with a conditional UPDATE, so two submissions of one link cannot
//! both win. A new invite revokes the unused ones, clears the password and ends every portal
//! session of the affiliate: that is also how a forgotten password is reset.
//!
//! This module stores password hashes and never sees a password; it never sees an invite token
//! it stores either. Hashing passwords is `crate::password`'s, on the request's worker.

use rusqlite::{Connection, OptionalExtension, params};

use super::sessions::{self, Principal};
use crate::error::Error;
use crate::secret;
use crate::store::writer::Tx;
use crate::tracking::portal::invite_expires_at;

fn hash(token: &str) -> [u8; 32] {
    secret::sha256(token.as_bytes())
}

/// Makes a new invite with `token` for the affiliate `affiliate_id`, revoking the ones not used
/// yet, clearing the password and ending the affiliate's portal sessions. Returns when it
/// expires. Runs on the writer.
pub fn invite(conn: &Tx, affiliate_id: i64, token: &str, now: i64) -> Result<i64, Error> {
    conn.prepare_cached(
        "UPDATE portal_invites SET revoked_at = ?2
         WHERE affiliate_id = ?1 AND used_at IS NULL AND revoked_at IS NULL",
    )?
    .execute(params![affiliate_id, now])?;
    conn.prepare_cached("UPDATE affiliates SET password_hash = NULL WHERE id = ?1")?.execute([affiliate_id])?;
    sessions::end_all(conn, Principal::Affiliate(affiliate_id), now)?;
    let expires_at = invite_expires_at(now);
    conn.prepare_cached(
        "INSERT INTO portal_invites (token_hash, affiliate_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![hash(token), affiliate_id, now, expires_at])?;
    Ok(expires_at)
}

/// Prefix of invite tokens, so a leaked link is recognisable.
pub const TOKEN_PREFIX: &str = "afi_";

/// Makes a new invite (see [`invite`]) with a fresh random token for affiliate `affiliate_id`,
/// in the caller's transaction: its link under `public_url` (`/portal/invite/{token}`, to hand
/// over or e-mail, never stored) and when it expires. For every action that lets an affiliate
/// in: the merchant's invite (`intake::accounts::invite`), an approved application.
pub fn invite_link(conn: &Tx, public_url: &str, affiliate_id: i64, now: i64) -> Result<(String, i64), Error> {
    let token = secret::token(TOKEN_PREFIX);
    let expires_at = invite(conn, affiliate_id, &token, now)?;
    Ok((format!("{public_url}/portal/invite/{token}"), expires_at))
}

/// The affiliate an invite that can still be used belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenInvite {
    pub affiliate_id: i64,
    pub referral_code: String,
    pub name: String,
    pub paused: bool,
}

/// The invite of `token`, if it is neither used, revoked nor expired at `now`.
pub fn open_invite(conn: &Connection, token: &str, now: i64) -> Result<Option<OpenInvite>, Error> {
    Ok(conn
        .prepare_cached(
            "SELECT a.id, a.referral_code, a.name, a.status FROM portal_invites i
             JOIN affiliates a ON a.id = i.affiliate_id
             WHERE i.token_hash = ?1 AND i.used_at IS NULL AND i.revoked_at IS NULL AND i.expires_at > ?2",
        )?
        .query_row(params![hash(token), now], open_link)
        .optional()?)
}

/// An [`OpenInvite`] from a row of `a.id, a.referral_code, a.name, a.status` (the affiliate a
/// link that still works belongs to: an invite's here, a reset's in `resets.rs`).
pub(super) fn open_link(r: &rusqlite::Row<'_>) -> rusqlite::Result<OpenInvite> {
    Ok(OpenInvite {
        affiliate_id: r.get(0)?,
        referral_code: r.get(1)?,
        name: r.get(2)?,
        paused: r.get::<_, String>(3)? == "paused",
    })
}

/// What became of an invite someone tried to accept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Acceptance {
    /// The password is set; the invite is used up.
    Accepted(i64),
    /// Used, revoked, expired or unknown.
    Gone,
    /// The invite is open, but the affiliate is paused: nothing changed.
    Paused,
}

/// Accepts the invite of `token`: marks it used and sets `password_hash` (a PHC string made by
/// `crate::password::hash`), ending any portal session from before. The UPDATE that marks it
/// used is conditional on it being open, so of any number of concurrent submissions exactly one
/// is [`Acceptance::Accepted`]. Runs on the writer.
pub fn accept(conn: &Tx, token: &str, password_hash: &str, now: i64) -> Result<Acceptance, Error> {
    let accepted: Option<i64> = conn
        .prepare_cached(
            "UPDATE portal_invites SET used_at = ?2
             WHERE token_hash = ?1 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ?2
               AND affiliate_id IN (SELECT id FROM affiliates WHERE status = 'active')
             RETURNING affiliate_id",
        )?
        .query_row(params![hash(token), now], |r| r.get(0))
        .optional()?;
    let Some(affiliate_id) = accepted else {
        return Ok(if open_invite(conn, token, now)?.is_some() { Acceptance::Paused } else { Acceptance::Gone });
    };
    set_password_hash(conn, affiliate_id, password_hash)?;
    sessions::end_all(conn, Principal::Affiliate(affiliate_id), now)?;
    Ok(Acceptance::Accepted(affiliate_id))
}

fn set_password_hash(conn: &Tx, affiliate_id: i64, password_hash: &str) -> Result<(), Error> {
    conn.prepare_cached("UPDATE affiliates SET password_hash = ?2 WHERE id = ?1")?
        .execute(params![affiliate_id, password_hash])?;
    Ok(())
}

/// What a login checks about the affiliate whose referral code was typed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    pub affiliate_id: i64,
    pub paused: bool,
    /// `None` until they accepted an invite (and after a re-invite).
    pub password_hash: Option<String>,
}

/// The account of `referral_code` (any letter case), if the affiliate exists.
pub fn account(conn: &Connection, referral_code: &str) -> Result<Option<Account>, Error> {
    Ok(conn
        .prepare_cached("SELECT id, status, password_hash FROM affiliates WHERE referral_code = ?1")?
        .query_row([referral_code], |r| {
            Ok(Account {
                affiliate_id: r.get(0)?,
                paused: r.get::<_, String>(1)? == "paused",
                password_hash: r.get(2)?,
            })
        })
        .optional()?)
}

/// Whether a login checked against `password_hash` may still open a session: the affiliate is
/// active and has that same password hash now. A login is checked on a worker and stored on the
/// writer; a re-invite or a pause in between must win. Runs on the writer, in the transaction
/// that stores the session.
pub fn still_valid(conn: &Connection, affiliate_id: i64, password_hash: &str) -> Result<bool, Error> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM affiliates WHERE id = ?1 AND status = 'active' AND password_hash = ?2")?
        .query_row(params![affiliate_id, password_hash], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Whether the affiliate may use the portal now (exists and is not paused). Checked on every
/// portal request, after the session.
pub fn may_use_portal(conn: &Connection, affiliate_id: i64) -> Result<bool, Error> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM affiliates WHERE id = ?1 AND status = 'active'")?
        .query_row([affiliate_id], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Where an affiliate stands with the portal, for the merchant's affiliate page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Standing {
    pub has_password: bool,
    /// When the newest invite that can still be used expires.
    pub invite_expires_at: Option<i64>,
}

pub fn standing(conn: &Connection, affiliate_id: i64, now: i64) -> Result<Standing, Error> {
    let has_password = conn
        .prepare_cached("SELECT password_hash IS NOT NULL FROM affiliates WHERE id = ?1")?
        .query_row([affiliate_id], |r| r.get(0))
        .optional()?
        .unwrap_or(false);
    let invite_expires_at = conn
        .prepare_cached(
            "SELECT max(expires_at) FROM portal_invites
             WHERE affiliate_id = ?1 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ?2",
        )?
        .query_row(params![affiliate_id, now], |r| r.get(0))?;
    Ok(Standing { has_password, invite_expires_at })
}

/// Deletes at most `limit` invites that ended (used, revoked or expired) before `cutoff`: they
/// open nothing any more, and the sweep keeps no record longer than the other logs.
pub fn prune_invites(conn: &Tx, cutoff: i64, limit: usize) -> Result<usize, Error> {
    Ok(conn
        .prepare_cached(
            "DELETE FROM portal_invites WHERE id IN
               (SELECT id FROM portal_invites WHERE coalesce(used_at, revoked_at, expires_at) < ?1 ORDER BY id LIMIT ?2)",
        )?
        .execute(params![cutoff, limit as i64])?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tracking::portal::INVITE_LIFETIME_MS;

    fn db() -> Connection {
        let conn = super::super::testing::memory();
        conn.execute_batch(super::super::TEST_CATALOG).unwrap();
        conn
    }

    fn ann(conn: &Connection) -> i64 {
        conn.query_row("SELECT id FROM affiliates WHERE referral_code = 'ann'", [], |r| r.get(0)).unwrap()
    }

    fn stored_hash(conn: &Connection, id: i64) -> Option<String> {
        conn.query_row("SELECT password_hash FROM affiliates WHERE id = ?1", [id], |r| r.get(0)).unwrap()
    }

    #[test]
    fn an_invite_is_used_once_before_it_expires_and_only_its_hash_is_stored() {
        let conn = db();
        let id = ann(&conn);
        let expires_at = invite(&Tx::within(&conn), id, "tok-1", 1_000).unwrap();
        assert_eq!(expires_at, 1_000 + INVITE_LIFETIME_MS);
        let stored: Vec<u8> = conn.query_row("SELECT token_hash FROM portal_invites", [], |r| r.get(0)).unwrap();
        assert_eq!(stored, secret::sha256(b"tok-1"));
        assert_eq!(open_invite(&conn, "tok-1", 2_000).unwrap().unwrap().referral_code, "ann");
        assert_eq!(open_invite(&conn, "tok-1", expires_at).unwrap(), None, "expired");
        assert_eq!(accept(&Tx::within(&conn), "tok-1", "$hash-1", expires_at).unwrap(), Acceptance::Gone, "expired");
        assert_eq!(stored_hash(&conn, id), None);

        assert_eq!(
            standing(&conn, id, 2_000).unwrap(),
            Standing { has_password: false, invite_expires_at: Some(expires_at) }
        );
        assert_eq!(accept(&Tx::within(&conn), "tok-1", "$hash-1", 2_000).unwrap(), Acceptance::Accepted(id));
        assert_eq!(standing(&conn, id, 2_000).unwrap(), Standing { has_password: true, invite_expires_at: None });
        assert_eq!(stored_hash(&conn, id).as_deref(), Some("$hash-1"));
        assert_eq!(accept(&Tx::within(&conn), "tok-1", "$hash-2", 2_001).unwrap(), Acceptance::Gone, "used");
        assert_eq!(stored_hash(&conn, id).as_deref(), Some("$hash-1"));
        assert_eq!(accept(&Tx::within(&conn), "nope", "$hash-2", 2_001).unwrap(), Acceptance::Gone);
        assert_eq!(open_invite(&conn, "tok-1", 2_001).unwrap(), None);
    }

    #[test]
    fn a_new_invite_revokes_the_old_one_clears_the_password_and_ends_sessions() {
        let conn = db();
        let id = ann(&conn);
        invite(&Tx::within(&conn), id, "first", 0).unwrap();
        assert_eq!(accept(&Tx::within(&conn), "first", "$hash", 10).unwrap(), Acceptance::Accepted(id));
        sessions::create(&Tx::within(&conn), "browser", Principal::Affiliate(id), "c", 20, 100_000).unwrap();
        assert!(still_valid(&conn, id, "$hash").unwrap());

        invite(&Tx::within(&conn), id, "second", 30).unwrap();
        invite(&Tx::within(&conn), id, "third", 40).unwrap();
        assert_eq!(stored_hash(&conn, id), None, "the password is reset");
        assert!(!still_valid(&conn, id, "$hash").unwrap(), "a login checked before the re-invite cannot finish");
        assert_eq!(sessions::find(&conn, "browser", 50).unwrap(), None, "the session ended");
        assert_eq!(accept(&Tx::within(&conn), "second", "$x", 50).unwrap(), Acceptance::Gone, "revoked by the third");
        assert_eq!(accept(&Tx::within(&conn), "third", "$new", 50).unwrap(), Acceptance::Accepted(id));
        assert_eq!(account(&conn, "ANN").unwrap().unwrap().password_hash.as_deref(), Some("$new"));
        assert_eq!(account(&conn, "nobody").unwrap(), None);
    }

    #[test]
    fn a_paused_affiliate_cannot_accept_or_keep_using_the_portal() {
        let conn = db();
        let id = ann(&conn);
        invite(&Tx::within(&conn), id, "tok", 0).unwrap();
        conn.execute("UPDATE affiliates SET status = 'paused' WHERE id = ?1", [id]).unwrap();
        assert!(open_invite(&conn, "tok", 1).unwrap().unwrap().paused);
        assert_eq!(accept(&Tx::within(&conn), "tok", "$hash", 1).unwrap(), Acceptance::Paused);
        assert!(open_invite(&conn, "tok", 2).unwrap().is_some(), "the invite stays usable");
        assert!(!may_use_portal(&conn, id).unwrap());
        conn.execute("UPDATE affiliates SET status = 'active' WHERE id = ?1", [id]).unwrap();
        assert!(may_use_portal(&conn, id).unwrap());
        assert!(!may_use_portal(&conn, 999).unwrap());
        assert_eq!(accept(&Tx::within(&conn), "tok", "$hash", 3).unwrap(), Acceptance::Accepted(id));
    }

    #[test]
    fn invites_that_ended_before_the_cutoff_are_pruned() {
        let conn = db();
        let id = ann(&conn);
        invite(&Tx::within(&conn), id, "used", 0).unwrap();
        accept(&Tx::within(&conn), "used", "$h", 10).unwrap();
        invite(&Tx::within(&conn), id, "revoked", 20).unwrap();
        invite(&Tx::within(&conn), id, "open", 30).unwrap();
        let left = |conn: &Connection| -> i64 {
            conn.query_row("SELECT count(*) FROM portal_invites", [], |r| r.get(0)).unwrap()
        };
        // Used at 10, revoked at 30 (by the third invite): a cutoff of 25 takes only the first.
        assert_eq!(prune_invites(&Tx::within(&conn), 25, 100).unwrap(), 1);
        assert_eq!(left(&conn), 2);
        // The open one ends when it expires; before that it stays, whatever the cutoff.
        assert_eq!(prune_invites(&Tx::within(&conn), 31, 100).unwrap(), 1);
        assert!(open_invite(&conn, "open", 40).unwrap().is_some());
        assert_eq!(prune_invites(&Tx::within(&conn), 30 + INVITE_LIFETIME_MS + 1, 100).unwrap(), 1);
        assert_eq!(left(&conn), 0);
    }
}
