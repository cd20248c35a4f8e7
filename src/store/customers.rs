//! Customers: a merchant's customer tied to the affiliate who brought them, for recurring
//! commissions. The tie stores the affiliate and offer themselves, so it outlives the click.
//! Customer IDs are the merchant's, so test and live ties are separate namespaces (`UNIQUE
//! (customer_id, test)`): every lookup names the one it reads.

use rusqlite::{Connection, OptionalExtension, Row, ToSql, params};

use crate::error::Error;
use crate::store::writer::Tx;
use crate::tracking::attribution::Resolved;

#[derive(Clone, Debug)]
pub struct Customer {
    pub id: i64,
    pub customer_id: String,
    pub affiliate_id: i64,
    pub referral_code: String,
    pub offer_id: i64,
    pub offer: String,
    pub click_id: Option<String>,
    pub coupon: Option<String>,
    pub email: Option<String>,
    pub name: Option<String>,
    pub created_at: i64,
    pub test: bool,
}

fn from_row(r: &Row<'_>) -> rusqlite::Result<Customer> {
    Ok(Customer {
        id: r.get(0)?,
        customer_id: r.get(1)?,
        affiliate_id: r.get(2)?,
        referral_code: r.get(3)?,
        offer_id: r.get(4)?,
        offer: r.get(5)?,
        click_id: r.get(6)?,
        coupon: r.get(7)?,
        email: r.get(8)?,
        name: r.get(9)?,
        created_at: r.get(10)?,
        test: r.get(11)?,
    })
}

const SELECT: &str = "SELECT c.id, c.customer_id, c.affiliate_id, a.referral_code, c.offer_id, o.public_id,
                             c.click_id, c.coupon_code, c.email, c.name, c.created_at, c.test
                      FROM customers c JOIN affiliates a ON a.id = c.affiliate_id JOIN offers o ON o.id = c.offer_id";

/// The customer of namespace `test` most recently tied with this e-mail address (compared
/// without letter case).
pub fn by_email(conn: &Connection, email: &str, test: bool) -> Result<Option<Customer>, Error> {
    Ok(conn
        .prepare_cached(&format!(
            "{SELECT} WHERE c.email = ?1 COLLATE NOCASE AND c.email IS NOT NULL AND c.test = ?2
             ORDER BY c.id DESC LIMIT 1"
        ))?
        .query_row(params![email.trim(), test], from_row)
        .optional()?)
}

/// The tie of `customer_id` in namespace `test` (test data or live).
pub fn get(conn: &Connection, customer_id: &str, test: bool) -> Result<Option<Customer>, Error> {
    Ok(conn
        .prepare_cached(&format!("{SELECT} WHERE c.customer_id = ?1 AND c.test = ?2"))?
        .query_row(params![customer_id, test], from_row)
        .optional()?)
}

/// The tie of `customer_id` in either namespace, the live one first (for a live key, which sees
/// test data too).
pub fn any(conn: &Connection, customer_id: &str) -> Result<Option<Customer>, Error> {
    Ok(conn
        .prepare_cached(&format!("{SELECT} WHERE c.customer_id = ?1 ORDER BY c.test LIMIT 1"))?
        .query_row([customer_id], from_row)
        .optional()?)
}

fn select_one(conn: &Connection, condition: &str, value: impl ToSql) -> Result<Option<Customer>, Error> {
    Ok(conn.prepare_cached(&format!("{SELECT} WHERE {condition}"))?.query_row([value], from_row).optional()?)
}

/// Inserts the customer row unless the id exists in namespace `test`; returns the row id either
/// way.
#[allow(clippy::too_many_arguments)]
pub fn insert_tie(
    conn: &Tx,
    customer_id: &str,
    resolved: &Resolved,
    email: Option<&str>,
    name: Option<&str>,
    test: bool,
    now: i64,
) -> Result<i64, Error> {
    conn.prepare_cached(
        "INSERT INTO customers (customer_id, affiliate_id, offer_id, click_id, coupon_code, email, name, created_at, test)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (customer_id, test) DO NOTHING",
    )?
    .execute(params![
        customer_id,
        resolved.affiliate_id,
        resolved.offer_id,
        resolved.click_id,
        resolved.coupon_code,
        email,
        name,
        now,
        test
    ])?;
    Ok(conn
        .prepare_cached("SELECT id FROM customers WHERE customer_id = ?1 AND test = ?2")?
        .query_row(params![customer_id, test], |r| r.get(0))?)
}

pub fn get_by_row(conn: &Connection, id: i64) -> Result<Customer, Error> {
    select_one(conn, "c.id = ?1", id)?.ok_or_else(|| Error::internal("customer vanished inside its transaction"))
}
