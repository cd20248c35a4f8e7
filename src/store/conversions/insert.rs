//! Recording a conversion: [`prepare`] attributes and prices it (reads only, on a worker's own
//! connection), [`insert`] stores it on the writer. Between the two, the database may have
//! changed: the insert's UNIQUE `external_id` decides duplicates, and foreign keys catch a click
//! swept or erased in between.
//!
//! A server-side report of an order that only the pixel has reported takes the pixel's version
//! over ([`replace`]): the pixel runs in visitors' browsers, where anyone can fire it, so it must
//! never be able to keep a sale from the affiliate the shop's own backend credits.

use rusqlite::{Connection, params};

use super::{by_external_id, require};
use crate::error::Error;
use crate::store::attribute;
use crate::store::events::{self, NewEvent};
use crate::store::ledger;
use crate::store::{customers, deliveries, offers, reports};
use crate::tracking::attribution::Resolved;
use crate::tracking::conversion::{Conversion, Flag, NewConversion, Status, replaces};
use crate::tracking::ledger::Kind;
use crate::tracking::pricing::{self, Price, Terms};

/// A conversion attributed and priced, ready to be stored.
#[derive(Clone, Debug)]
pub struct NewRow {
    pub new: NewConversion,
    pub resolved: Resolved,
    pub price: Price,
    /// The fraud rules it trips.
    pub flags: Vec<Flag>,
}

/// What reading showed.
pub enum Prepared {
    /// A conversion to store.
    Row(Box<NewRow>),
    /// The stored conversion of this order: the report is a retry (even if its click has
    /// expired since), and there is nothing to write.
    Known(Box<Conversion>),
    /// The report cannot be recorded; the error says why.
    Refused(Error),
}

/// Attributes and prices `new` on `conn`. Reads only, so it runs on a worker's own connection
/// in parallel with everything else. A report that cannot be attributed or priced is answered
/// with its stored order when there is one it would not replace.
pub fn prepare(conn: &Connection, new: NewConversion, now: i64) -> Result<Prepared, Error> {
    let priced = match attribute::resolve(conn, &new.keys, now)? {
        Ok(resolved) => price(conn, &new, &resolved)?.map(|price| (resolved, price)),
        Err(refusal) => Err(refusal),
    };
    match priced {
        Ok((resolved, price)) => Ok(Prepared::Row(Box::new(NewRow { new, resolved, price, flags: Vec::new() }))),
        Err(refusal) => Ok(match by_external_id(conn, &new.external_id)? {
            Some(stored) if !replaces(&stored, new.source) => Prepared::Known(Box::new(stored)),
            _ => Prepared::Refused(refusal),
        }),
    }
}

fn price(conn: &Connection, new: &NewConversion, resolved: &Resolved) -> Result<Result<Price, Error>, Error> {
    let offer = offers::get(conn, resolved.offer_id)?
        .ok_or_else(|| Error::internal("offer of a resolved conversion is missing"))?;
    let terms = Terms { offer: &offer.public_id, rule: offer.commission, currency: offer.currency };
    Ok(pricing::price(&terms, new))
}

/// What storing did.
#[derive(Clone, Debug)]
pub enum Stored {
    Created(Conversion),
    /// The order was stored already; this is the stored conversion, unchanged.
    Duplicate(Conversion),
    /// The order was stored from the pixel only; the server-side report took it over.
    Replaced {
        conversion: Conversion,
        previous: Box<Conversion>,
    },
}

/// Stores a prepared conversion. Must run on the writer.
pub fn insert(conn: &Connection, row: &NewRow, now: i64) -> Result<Stored, Error> {
    let (new, resolved) = (&row.new, &row.resolved);
    let customer_row = tie_customer(conn, row, now)?;
    let inserted = conn
        .prepare_cached(
            "INSERT INTO conversions (external_id, type, affiliate_id, offer_id, click_id, customer_id, coupon_code,
                                      attributed_by, source, currency, amount, base_commission, commission, status,
                                      created_at, updated_at, test, flags)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12, 'pending', ?13, ?13, ?14, ?15)
             ON CONFLICT (external_id) DO NOTHING",
        )?
        .execute(params![
            new.external_id,
            new.kind,
            resolved.affiliate_id,
            resolved.offer_id,
            resolved.click_id,
            customer_row,
            resolved.coupon_code,
            resolved.key.as_str(),
            new.source.as_str(),
            row.price.currency.code(),
            row.price.amount,
            row.price.commission,
            now,
            new.test,
            Flag::join(&row.flags)
        ])
        .map_err(vanished_click)?;
    if inserted == 0 {
        let stored = by_external_id(conn, &new.external_id)?
            .ok_or_else(|| Error::internal("conflicting conversion is missing"))?;
        if replaces(&stored, new.source) {
            return replace(conn, stored, row, customer_row, now);
        }
        return Ok(Stored::Duplicate(stored));
    }
    let created = require(conn, conn.last_insert_rowid())?;
    let event = NewEvent {
        conversion_id: created.id,
        actor: &new.actor,
        action: "created",
        from: None,
        to: Status::Pending,
        amount_delta: created.amount,
        commission_delta: created.commission,
        reason: None,
        refund_id: None,
    };
    events::record(conn, &event, now)?;
    reports::count_conversion(conn, &created, 1)?;
    ledger::conversion(conn, &created, Kind::Created, created.commission, now)?;
    deliveries::enqueue(conn, &created, "created", Status::Pending.as_str(), now)?;
    Ok(Stored::Created(created))
}

/// A customer named on an order attributed another way is tied to that affiliate, so their
/// later orders earn recurring commission. An existing tie is left as it is.
fn tie_customer(conn: &Connection, row: &NewRow, now: i64) -> Result<Option<i64>, Error> {
    Ok(match (row.resolved.customer_row, row.new.keys.customer_id.as_deref()) {
        (Some(existing), _) => Some(existing),
        (None, Some(customer_id)) => Some(customers::insert_tie(conn, customer_id, &row.resolved, None, None, now)?),
        (None, None) => None,
    })
}

/// A click (or customer) can be swept or erased between reading and writing.
fn vanished_click(e: rusqlite::Error) -> Error {
    if crate::store::is_foreign_key_violation(&e) {
        Error::bad_request("invalid_click_id", "the click (or customer) of this conversion no longer exists")
    } else {
        e.into()
    }
}

/// Gives the pixel's version of an order the server-side report's attribution, amount and
/// commission, back to `pending`. The history keeps the pixel's version; an approved pixel
/// commission is taken back from its affiliate; an affiliate who was told of the pixel's
/// conversion and lost it is told it was rejected.
fn replace(
    conn: &Connection,
    previous: Conversion,
    row: &NewRow,
    customer_row: Option<i64>,
    now: i64,
) -> Result<Stored, Error> {
    let (new, resolved) = (&row.new, &row.resolved);
    let changed = conn
        .prepare_cached(
            "UPDATE conversions
             SET type = ?1, affiliate_id = ?2, offer_id = ?3, click_id = ?4, customer_id = ?5, coupon_code = ?6,
                 attributed_by = ?7, source = ?8, currency = ?9, amount = ?10, refunded_amount = 0,
                 base_commission = ?11, commission = ?11, status = 'pending', updated_at = ?12, test = ?14,
                 flags = ?15
             WHERE id = ?13 AND source = 'pixel' AND refunded_amount = 0",
        )?
        .execute(params![
            new.kind,
            resolved.affiliate_id,
            resolved.offer_id,
            resolved.click_id,
            customer_row,
            resolved.coupon_code,
            resolved.key.as_str(),
            new.source.as_str(),
            row.price.currency.code(),
            row.price.amount,
            row.price.commission,
            now,
            previous.id,
            new.test,
            Flag::join(&row.flags)
        ])
        .map_err(vanished_click)?;
    if changed == 0 {
        return Err(Error::internal("the pixel conversion to replace changed under the writer"));
    }
    let conversion = require(conn, previous.id)?;
    let reason = format!(
        "replaced the pixel's report (affiliate {}, offer {}, amount {} {}, commission {}, {}) by the {}'s",
        previous.referral_code,
        previous.offer,
        previous.currency.format(previous.amount),
        previous.currency,
        previous.currency.format(previous.commission),
        previous.status.as_str(),
        new.source.as_str()
    );
    let same_currency = previous.currency == conversion.currency;
    let event = NewEvent {
        conversion_id: conversion.id,
        actor: &new.actor,
        action: "replaced",
        from: Some(previous.status),
        to: Status::Pending,
        amount_delta: conversion.amount - if same_currency { previous.amount } else { 0 },
        commission_delta: conversion.commission - if same_currency { previous.commission } else { 0 },
        reason: Some(&reason),
        refund_id: None,
    };
    events::record(conn, &event, now)?;
    reports::count_conversion(conn, &previous, -1)?;
    reports::count_conversion(conn, &conversion, 1)?;
    // The pixel's affiliate loses what it was credited (a rejected one had lost it already);
    // the report's affiliate (perhaps the same) is credited the new commission.
    match previous.status {
        Status::Pending => ledger::conversion(conn, &previous, Kind::Replaced, -previous.commission, now)?,
        Status::Approved => ledger::conversion(conn, &previous, Kind::ReplacedApproved, -previous.commission, now)?,
        Status::Rejected | Status::Refunded => {}
    }
    ledger::conversion(conn, &conversion, Kind::Created, conversion.commission, now)?;
    if previous.affiliate_id != conversion.affiliate_id {
        if deliveries::was_told(conn, previous.id, previous.affiliate_id)? {
            deliveries::enqueue(conn, &previous, "rejected", Status::Rejected.as_str(), now)?;
        }
        deliveries::enqueue(conn, &conversion, "created", Status::Pending.as_str(), now)?;
    } else {
        deliveries::enqueue(conn, &conversion, "replaced", Status::Pending.as_str(), now)?;
    }
    Ok(Stored::Replaced { conversion, previous: Box::new(previous) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tracking::attribution::Keys;
    use crate::tracking::conversion::Source;

    #[test]
    fn a_click_swept_between_reading_and_writing_is_an_invalid_click() {
        let conn = Connection::open_in_memory().unwrap();
        crate::store::migrate::run(&conn).unwrap();
        conn.pragma_update(None, "foreign_keys", true).unwrap();
        conn.execute_batch(crate::store::TEST_CATALOG).unwrap();
        let now = 1_000_000;
        let id = crate::store::clicks::new_id(now);
        let click = crate::store::clicks::NewClick { affiliate_id: 1, offer_id: 1, ..Default::default() };
        crate::store::clicks::insert(&conn, &id, &click, now).unwrap();
        let new = NewConversion {
            external_id: "o-1".into(),
            kind: "sale".into(),
            amount: Some("10".into()),
            currency: None,
            keys: Keys { click_id: Some(id.clone()), ..Keys::default() },
            source: Source::Api,
            actor: "test".into(),
            test: false,
        };
        let Prepared::Row(row) = prepare(&conn, new, now).unwrap() else { panic!("not priced") };
        assert_eq!(row.price.commission, 100);
        conn.execute("DELETE FROM clicks WHERE id = ?1", [&id]).unwrap();
        let err = insert(&conn, &row, now).unwrap_err();
        assert_eq!(err.code, "invalid_click_id");
        let stored: i64 = conn.query_row("SELECT count(*) FROM conversions", [], |r| r.get(0)).unwrap();
        assert_eq!(stored, 0);
    }
}
