//! Affiliates: the partners who earn commissions, known by their referral code.

use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::error::Error;
use crate::store::writer::Tx;
use crate::tracking::application::Terms;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Affiliate {
    pub id: i64,
    pub referral_code: String,
    pub name: String,
    pub email: Option<String>,
    pub postback_url: Option<String>,
    pub created_at: i64,
    /// Paused: links redirect without a click, conversions are rejected.
    pub paused: bool,
    /// Where to pay them: a PayPal e-mail, or free-text bank details (personal data).
    pub payout_email: Option<String>,
    pub payout_details: Option<String>,
    /// The terms they accepted when they applied (none for affiliates the merchant created).
    pub terms: Option<Terms>,
}

pub struct NewAffiliate {
    pub referral_code: String,
    pub name: String,
    pub email: Option<String>,
    pub postback_url: Option<String>,
}

/// Changes to an affiliate; `None` leaves a field as it is, `Some(None)` clears it.
#[derive(Debug, Default)]
pub struct Changes {
    pub name: Option<String>,
    pub email: Option<Option<String>>,
    pub postback_url: Option<Option<String>>,
    pub paused: Option<bool>,
    pub payout_email: Option<Option<String>>,
    pub payout_details: Option<Option<String>>,
}

const COLUMNS: &str = "id, referral_code, name, email, postback_url, created_at, status, payout_email, payout_details, \
                       terms_url, terms_accepted_at";

fn from_row(r: &Row<'_>) -> rusqlite::Result<Affiliate> {
    Ok(Affiliate {
        id: r.get(0)?,
        referral_code: r.get(1)?,
        name: r.get(2)?,
        email: r.get(3)?,
        postback_url: r.get(4)?,
        created_at: r.get(5)?,
        paused: r.get::<_, String>(6)? == "paused",
        payout_email: r.get(7)?,
        payout_details: r.get(8)?,
        terms: match (r.get::<_, Option<String>>(9)?, r.get::<_, Option<i64>>(10)?) {
            (Some(url), Some(accepted_at)) => Some(Terms { url, accepted_at }),
            _ => None,
        },
    })
}

/// Inserts an affiliate; a referral code that exists (in any letter case) is a 409. With a
/// postback URL, a signing secret is generated and returned (the only time it is shown).
pub fn create(conn: &Tx, new: &NewAffiliate, now: i64) -> Result<(Affiliate, Option<String>), Error> {
    insert(conn, new, now)?.ok_or_else(|| {
        Error::conflict(
            "duplicate_referral_code",
            format!("an affiliate with referral code `{}` already exists", new.referral_code),
        )
    })
}

/// [`create`], with `None` when the referral code exists (in any letter case; the UNIQUE
/// constraint decides): nothing was written then.
pub fn insert(conn: &Tx, new: &NewAffiliate, now: i64) -> Result<Option<(Affiliate, Option<String>)>, Error> {
    super::catalog::changed();
    let secret = new.postback_url.as_ref().map(|_| new_postback_secret());
    let inserted = conn
        .prepare_cached(
            "INSERT INTO affiliates (referral_code, name, email, postback_url, postback_secret, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (referral_code) DO NOTHING",
        )?
        .execute(params![new.referral_code, new.name, new.email, new.postback_url, secret, now])?;
    if inserted == 0 {
        return Ok(None);
    }
    let id = conn.last_insert_rowid();
    Ok(Some((get(conn, id)?.expect("the affiliate just inserted"), secret)))
}

/// Gives affiliate `id` the terms they accepted: on their record, and as the
/// `terms_accepted` entry of their ledger (`ledger::record_terms`), in the caller's transaction.
pub fn accept_terms(conn: &Tx, id: i64, terms: &Terms) -> Result<(), Error> {
    conn.prepare_cached("UPDATE affiliates SET terms_url = ?2, terms_accepted_at = ?3 WHERE id = ?1")?
        .execute(params![id, terms.url, terms.accepted_at])?;
    super::ledger::record_terms(conn, id, terms)?;
    Ok(())
}

fn new_postback_secret() -> String {
    crate::secret::token("whsec_")
}

/// Applies changes. Setting a postback URL on an affiliate without a signing secret creates one,
/// returned here (the only time it is shown).
pub fn update(conn: &Tx, referral_code: &str, changes: &Changes) -> Result<(Affiliate, Option<String>), Error> {
    super::catalog::changed();
    let id = require_id(conn, referral_code)?;
    if let Some(name) = &changes.name {
        conn.prepare_cached("UPDATE affiliates SET name = ?1 WHERE id = ?2")?.execute(params![name, id])?;
    }
    if let Some(email) = &changes.email {
        conn.prepare_cached("UPDATE affiliates SET email = ?1 WHERE id = ?2")?.execute(params![email, id])?;
    }
    if let Some(paused) = changes.paused {
        let status = if paused { "paused" } else { "active" };
        conn.prepare_cached("UPDATE affiliates SET status = ?1 WHERE id = ?2")?.execute(params![status, id])?;
        if paused {
            // A paused affiliate is out of the portal at once, in the transaction that pauses.
            super::sessions::end_all(conn, super::sessions::Principal::Affiliate(id), crate::clock::now_ms())?;
        }
    }
    if let Some(email) = &changes.payout_email {
        conn.prepare_cached("UPDATE affiliates SET payout_email = ?1 WHERE id = ?2")?.execute(params![email, id])?;
    }
    if let Some(details) = &changes.payout_details {
        conn.prepare_cached("UPDATE affiliates SET payout_details = ?1 WHERE id = ?2")?
            .execute(params![details, id])?;
    }
    let mut secret = None;
    if let Some(url) = &changes.postback_url {
        conn.prepare_cached("UPDATE affiliates SET postback_url = ?1 WHERE id = ?2")?.execute(params![url, id])?;
        if url.is_some() && postback_secret(conn, id)?.is_none() {
            secret = Some(rotate_postback_secret(conn, id)?);
        }
    }
    Ok((get(conn, id)?.expect("the affiliate just updated"), secret))
}

pub fn postback_secret(conn: &Connection, id: i64) -> Result<Option<String>, Error> {
    Ok(conn
        .prepare_cached("SELECT postback_secret FROM affiliates WHERE id = ?1")?
        .query_row([id], |r| r.get(0))
        .optional()?
        .flatten())
}

/// Replaces the signing secret of an affiliate's postbacks and returns the new one.
pub fn rotate_postback_secret(conn: &Tx, id: i64) -> Result<String, Error> {
    let secret = new_postback_secret();
    conn.prepare_cached("UPDATE affiliates SET postback_secret = ?1 WHERE id = ?2")?.execute(params![secret, id])?;
    Ok(secret)
}

pub fn get(conn: &Connection, id: i64) -> Result<Option<Affiliate>, Error> {
    Ok(conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM affiliates WHERE id = ?1"))?
        .query_row([id], from_row)
        .optional()?)
}

pub fn by_code(conn: &Connection, referral_code: &str) -> Result<Option<Affiliate>, Error> {
    Ok(conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM affiliates WHERE referral_code = ?1"))?
        .query_row([referral_code], from_row)
        .optional()?)
}

/// The id of an affiliate by referral code, or 404 `unknown_referral_code`.
pub fn require_id(conn: &Connection, referral_code: &str) -> Result<i64, Error> {
    conn.prepare_cached("SELECT id FROM affiliates WHERE referral_code = ?1")?
        .query_row([referral_code], |r| r.get(0))
        .optional()?
        .ok_or_else(|| unknown(referral_code))
}

pub fn unknown(referral_code: &str) -> Error {
    Error::not_found(
        "unknown_referral_code",
        format!("no affiliate has referral code `{referral_code}`; create it with POST /api/v1/affiliates"),
    )
}

/// A page of affiliates in creation order, after the row `after` (a cursor).
pub fn list(conn: &Connection, after: i64, limit: usize) -> Result<Vec<Affiliate>, Error> {
    let mut stmt =
        conn.prepare_cached(&format!("SELECT {COLUMNS} FROM affiliates WHERE id > ?1 ORDER BY id LIMIT ?2"))?;
    let rows = stmt.query_map(params![after, limit as i64], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}
