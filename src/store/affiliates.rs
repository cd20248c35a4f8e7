//! Affiliates: the partners who earn commissions, known by their referral code.

use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::error::Error;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Affiliate {
    pub id: i64,
    pub referral_code: String,
    pub name: String,
    pub email: Option<String>,
    pub postback_url: Option<String>,
    pub created_at: i64,
}

pub struct NewAffiliate {
    pub referral_code: String,
    pub name: String,
    pub email: Option<String>,
    pub postback_url: Option<String>,
}

const COLUMNS: &str = "id, referral_code, name, email, postback_url, created_at";

fn from_row(r: &Row<'_>) -> rusqlite::Result<Affiliate> {
    Ok(Affiliate {
        id: r.get(0)?,
        referral_code: r.get(1)?,
        name: r.get(2)?,
        email: r.get(3)?,
        postback_url: r.get(4)?,
        created_at: r.get(5)?,
    })
}

/// Inserts an affiliate; a referral code that exists (in any letter case) is a 409.
pub fn create(conn: &Connection, new: &NewAffiliate, now: i64) -> Result<Affiliate, Error> {
    let inserted = conn
        .prepare_cached(
            "INSERT INTO affiliates (referral_code, name, email, postback_url, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (referral_code) DO NOTHING",
        )?
        .execute(params![new.referral_code, new.name, new.email, new.postback_url, now])?;
    if inserted == 0 {
        return Err(Error::conflict(
            "duplicate_referral_code",
            format!("an affiliate with referral code `{}` already exists", new.referral_code),
        ));
    }
    let id = conn.last_insert_rowid();
    Ok(get(conn, id)?.expect("the affiliate just inserted"))
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
