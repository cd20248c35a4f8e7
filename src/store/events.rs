//! The change history of conversions: one row per change, with who made it, the statuses before
//! and after, and what it did to the amount and the commission. Rows are only ever inserted.
//! A refund's row also carries the shop's refund ID: a UNIQUE index on (conversion, refund ID)
//! is what makes a repeated partial refund a no-op.

use rusqlite::{Connection, params};

use crate::error::Error;
use crate::store::writer::Tx;
use crate::tracking::conversion::{Change, Status};

/// One change of a conversion, to record.
#[derive(Clone, Debug)]
pub struct NewEvent<'a> {
    pub conversion_id: i64,
    pub actor: &'a str,
    pub action: Change,
    pub from: Option<Status>,
    pub to: Status,
    pub amount_delta: i64,
    pub commission_delta: i64,
    pub reason: Option<&'a str>,
    pub refund_id: Option<&'a str>,
}

/// Records a change. `Ok(false)` when the event carries a refund ID this conversion has seen
/// already: nothing was recorded, and the caller must change nothing either.
pub fn record(conn: &Tx, e: &NewEvent<'_>, at: i64) -> Result<bool, Error> {
    let inserted = conn
        .prepare_cached(
            "INSERT INTO conversion_events (conversion_id, at, actor, action, from_status, to_status,
                                            amount_delta, commission_delta, reason, refund_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
             ON CONFLICT (conversion_id, refund_id) WHERE refund_id IS NOT NULL DO NOTHING",
        )?
        .execute(params![
            e.conversion_id,
            at,
            e.actor,
            e.action,
            e.from,
            e.to,
            e.amount_delta,
            e.commission_delta,
            e.reason,
            e.refund_id
        ])?;
    Ok(inserted == 1)
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub at: i64,
    pub actor: String,
    pub action: Change,
    pub from_status: Option<Status>,
    pub to_status: Status,
    pub amount_delta: i64,
    pub commission_delta: i64,
    pub reason: Option<String>,
    pub refund_id: Option<String>,
}

pub fn of_conversion(conn: &Connection, id: i64) -> Result<Vec<Event>, Error> {
    let mut stmt = conn.prepare_cached(
        "SELECT at, actor, action, from_status, to_status, amount_delta, commission_delta, reason, refund_id
         FROM conversion_events WHERE conversion_id = ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map([id], |r| {
        Ok(Event {
            at: r.get(0)?,
            actor: r.get(1)?,
            action: r.get(2)?,
            from_status: r.get(3)?,
            to_status: r.get(4)?,
            amount_delta: r.get(5)?,
            commission_delta: r.get(6)?,
            reason: r.get(7)?,
            refund_id: r.get(8)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The refund recorded under `refund_id` for a conversion: the amount it refunded (minor units).
pub fn refund_by_id(conn: &Connection, conversion_id: i64, refund_id: &str) -> Result<Option<i64>, Error> {
    use rusqlite::OptionalExtension;
    Ok(conn
        .prepare_cached(
            "SELECT -amount_delta FROM conversion_events
             WHERE conversion_id = ?1 AND refund_id = ?2 AND refund_id IS NOT NULL",
        )?
        .query_row(params![conversion_id, refund_id], |r| r.get(0))
        .optional()?)
}
