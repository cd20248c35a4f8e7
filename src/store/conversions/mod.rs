//! Conversions: orders (and leads) credited to an affiliate, with their commission and status.
//!
//! `insert.rs` stores a priced conversion (`takeover.rs` lets a server-side report take over
//! the pixel's version of the same order), `change.rs` approves, rejects and refunds, `hold.rs`
//! approves those whose hold period passed (for the sweeper), `list.rs` pages through them. The merchant's
//! order ID (`external_id`) is UNIQUE per namespace (test data or live, `UNIQUE (external_id,
//! test)`) and every insert is `ON CONFLICT DO NOTHING`, so under any number of concurrent
//! retries exactly one row exists in each; lookups before a write only choose the answer. The rules themselves (transitions,
//! refund arithmetic, who may replace whom) live in `tracking::conversion`.

mod change;
pub mod hold;
mod insert;
mod list;
mod row;
mod takeover;
mod test_data;

pub use change::{Decision, Refunded, decide, refund};
pub use insert::{Prepared, insert, prepare};
pub use list::{Filter, Pages, cursor_after, newest, parse_cursor};
pub use row::{NewRow, Stored};
pub use test_data::{Deleted, delete_all_test_data, delete_test_conversion};

use rusqlite::{Connection, OptionalExtension, Row, ToSql};

use crate::error::Error;
use crate::tracking::attribution::Key;
use crate::tracking::conversion::RateSource;
use crate::tracking::conversion::{Conversion, Details, Source};
use crate::tracking::fraud::Flag;
use crate::tracking::money::Currency;

const SELECT: &str = "SELECT v.id, v.external_id, v.type, v.affiliate_id, a.referral_code, o.public_id, v.click_id,
                             cu.customer_id, v.coupon_code, v.attributed_by, v.source, v.currency, v.amount,
                             v.refunded_amount, v.base_commission, v.commission, v.status, v.created_at, v.updated_at,
                             v.test, v.flags, v.rate_source, v.goal, v.geo, v.commission_id
                      FROM conversions v
                      JOIN affiliates a ON a.id = v.affiliate_id
                      JOIN offers o ON o.id = v.offer_id
                      LEFT JOIN customers cu ON cu.id = v.customer_id";

/// A stored text that must name one of a fixed set of values.
fn known<T>(r: &Row<'_>, index: usize, parse: impl Fn(&str) -> Option<T>) -> rusqlite::Result<T> {
    let text: String = r.get(index)?;
    parse(&text).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            index,
            rusqlite::types::Type::Text,
            format!("unknown value {text:?} stored").into(),
        )
    })
}

fn from_row(r: &Row<'_>) -> rusqlite::Result<Conversion> {
    Ok(Conversion {
        id: r.get(0)?,
        external_id: r.get(1)?,
        kind: r.get(2)?,
        affiliate_id: r.get(3)?,
        referral_code: r.get(4)?,
        offer: r.get(5)?,
        click_id: r.get(6)?,
        customer_id: r.get(7)?,
        coupon: r.get(8)?,
        attributed_by: known(r, 9, Key::parse)?,
        source: known(r, 10, Source::parse)?,
        currency: known(r, 11, Currency::from_code)?,
        amount: r.get(12)?,
        refunded_amount: r.get(13)?,
        base_commission: r.get(14)?,
        commission: r.get(15)?,
        status: r.get(16)?,
        created_at: r.get(17)?,
        updated_at: r.get(18)?,
        test: r.get(19)?,
        flags: {
            let text: Option<String> = r.get(20)?;
            Flag::split(text.as_deref()).ok_or_else(|| {
                rusqlite::Error::FromSqlConversionFailure(20, rusqlite::types::Type::Text, "unknown flag stored".into())
            })?
        },
        rate_source: known(r, 21, RateSource::parse)?,
        details: Details { goal: r.get(22)?, geo: r.get(23)?, commission_id: r.get(24)? },
    })
}

fn select_one(conn: &Connection, condition: &str, value: impl ToSql) -> Result<Option<Conversion>, Error> {
    Ok(conn.prepare_cached(&format!("{SELECT} WHERE {condition}"))?.query_row([value], from_row).optional()?)
}

pub fn get(conn: &Connection, id: i64) -> Result<Option<Conversion>, Error> {
    select_one(conn, "v.id = ?1", id)
}

/// The conversion of order `external_id` in one namespace: test data (`test`) or live. Test and
/// live orders are separate: the same ID may be stored once as each.
pub fn by_external_id(conn: &Connection, external_id: &str, test: bool) -> Result<Option<Conversion>, Error> {
    Ok(conn
        .prepare_cached(&format!("{SELECT} WHERE v.external_id = ?1 AND v.test = ?2"))?
        .query_row(rusqlite::params![external_id, test], from_row)
        .optional()?)
}

/// Every conversion of order `external_id`: the live one and the test one, live first (for
/// the merchant's searches, which see both).
pub fn with_external_id(conn: &Connection, external_id: &str) -> Result<Vec<Conversion>, Error> {
    let mut stmt = conn.prepare_cached(&format!("{SELECT} WHERE v.external_id = ?1 ORDER BY v.test"))?;
    let rows = stmt.query_map([external_id], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn not_found(id: impl std::fmt::Display) -> Error {
    Error::not_found("not_found", format!("no conversion has id {id}"))
}

/// [`get`], for a conversion that must exist.
fn require(conn: &Connection, id: i64) -> Result<Conversion, Error> {
    get(conn, id)?.ok_or_else(|| not_found(id))
}
