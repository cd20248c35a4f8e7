//! Coupons: codes a visitor types at checkout that credit an affiliate without any click.

use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::error::Error;
use crate::store::writer::Tx;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Coupon {
    pub code: String,
    pub affiliate_id: i64,
    pub referral_code: String,
    /// The offer the coupon pays under; `None` means the default offer at conversion time.
    pub offer_id: Option<i64>,
    pub offer_public_id: Option<String>,
    pub created_at: i64,
    /// A coupon switched off attributes nothing.
    pub active: bool,
}

const SELECT: &str = "SELECT c.code, c.affiliate_id, a.referral_code, c.offer_id, o.public_id, c.created_at, c.active
                      FROM coupons c JOIN affiliates a ON a.id = c.affiliate_id
                      LEFT JOIN offers o ON o.id = c.offer_id";

fn from_row(r: &Row<'_>) -> rusqlite::Result<Coupon> {
    Ok(Coupon {
        code: r.get(0)?,
        affiliate_id: r.get(1)?,
        referral_code: r.get(2)?,
        offer_id: r.get(3)?,
        offer_public_id: r.get(4)?,
        created_at: r.get(5)?,
        active: r.get(6)?,
    })
}

pub fn create(conn: &Tx, code: &str, affiliate_id: i64, offer_id: Option<i64>, now: i64) -> Result<Coupon, Error> {
    let inserted = conn
        .prepare_cached(
            "INSERT INTO coupons (code, affiliate_id, offer_id, created_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (code) DO NOTHING",
        )?
        .execute(params![code, affiliate_id, offer_id, now])?;
    if inserted == 0 {
        return Err(Error::conflict("duplicate_coupon", format!("coupon `{code}` already exists")));
    }
    Ok(get(conn, code)?.expect("the coupon just inserted"))
}

/// Moves a coupon to another affiliate or offer (`None`: the default offer), and switches it on
/// or off. 404 if unknown.
pub fn update(conn: &Tx, code: &str, affiliate_id: i64, offer_id: Option<i64>, active: bool) -> Result<Coupon, Error> {
    let changed = conn
        .prepare_cached("UPDATE coupons SET affiliate_id = ?1, offer_id = ?2, active = ?3 WHERE code = ?4")?
        .execute(params![affiliate_id, offer_id, active, code])?;
    if changed == 0 {
        return Err(not_found(code));
    }
    Ok(get(conn, code)?.expect("the coupon just updated"))
}

/// Removes a coupon for good (conversions it credited keep its code). `false` if unknown.
pub fn delete(conn: &Tx, code: &str) -> Result<bool, Error> {
    Ok(conn.prepare_cached("DELETE FROM coupons WHERE code = ?1")?.execute([code])? == 1)
}

pub fn not_found(code: &str) -> Error {
    Error::not_found("not_found", format!("no coupon has code `{code}`"))
}

/// Looks a coupon up, ignoring letter case.
pub fn get(conn: &Connection, code: &str) -> Result<Option<Coupon>, Error> {
    Ok(conn.prepare_cached(&format!("{SELECT} WHERE c.code = ?1"))?.query_row([code], from_row).optional()?)
}

pub fn list(conn: &Connection, after: &str, limit: usize) -> Result<Vec<Coupon>, Error> {
    let mut stmt = conn.prepare_cached(&format!("{SELECT} WHERE c.code > ?1 ORDER BY c.code LIMIT ?2"))?;
    let rows = stmt.query_map(params![after, limit as i64], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The coupons of one affiliate (at most `limit`), by code.
pub fn of_affiliate(conn: &Connection, affiliate_id: i64, limit: usize) -> Result<Vec<Coupon>, Error> {
    let mut stmt = conn.prepare_cached(&format!("{SELECT} WHERE c.affiliate_id = ?1 ORDER BY c.code LIMIT ?2"))?;
    let rows = stmt.query_map(params![affiliate_id, limit as i64], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Stores a coupon for the affiliate with `referral_code`, paying under `offer` (or the default
/// offer at conversion time). Runs on the writer.
pub fn create_for(conn: &Tx, code: &str, referral_code: &str, offer: Option<&str>, now: i64) -> Result<Coupon, Error> {
    let (affiliate_id, offer_id) = owners(conn, referral_code, offer)?;
    create(conn, code, affiliate_id, offer_id, now)
}

/// The affiliate and offer rows a coupon points to.
pub fn owners(conn: &Connection, referral_code: &str, offer: Option<&str>) -> Result<(i64, Option<i64>), Error> {
    let affiliate_id = super::affiliates::require_id(conn, referral_code)?;
    let offer_id = match offer {
        Some(id) => Some(super::offers::named_or_default(conn, Some(id))?.id),
        None => None,
    };
    Ok((affiliate_id, offer_id))
}
