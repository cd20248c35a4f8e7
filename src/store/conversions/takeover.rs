//! A server-side report taking over the pixel's version of the same order (called by
//! `insert.rs` when the order's UNIQUE key is already held by a pixel-only row): the row gets the
//! report's attribution, amount and commission, the history keeps the pixel's version, and the
//! ledger, the daily totals, the affiliates' postbacks and the merchant's webhooks follow.
//!
//! Must never: take over anything but a row the pixel alone reported and nothing refunded
//! (`overwrite_pixel_row`'s conditions decide, on the writer).

use rusqlite::params;

use super::require;
use super::row::{NewRow, Stored, coupon_of, reject_if_paused, vanished_click};
use crate::error::Error;
use crate::store::WriteError;
use crate::store::events::{self, NewEvent};
use crate::store::ledger;
use crate::store::writer::Tx;
use crate::store::{deliveries, reports, webhooks};
use crate::tracking::conversion::{Change, Conversion, Status};
use crate::tracking::fraud::Flag;
use crate::tracking::ledger::Kind;
use crate::tracking::webhook::Event;

/// Gives the pixel's version of an order the server-side report's attribution, amount and
/// commission, back to `pending`. The history keeps the pixel's version; an approved pixel
/// commission is taken back from its affiliate; an affiliate who was told of the pixel's
/// conversion and lost it is told it was rejected.
pub(super) fn replace(
    conn: &Tx,
    previous: Conversion,
    row: &NewRow,
    customer_row: Option<i64>,
    flags: &[Flag],
    now: i64,
) -> Result<Stored, WriteError> {
    let new = &row.new;
    let changed = overwrite_pixel_row(conn, previous.id, row, customer_row, flags, now)?;
    if changed == 0 {
        return Err(Error::internal("the pixel conversion to replace changed under the writer").into());
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
        action: Change::Replaced,
        from: Some(previous.status),
        to: Status::Pending,
        amount_delta: conversion.amount - if same_currency { previous.amount } else { 0 },
        commission_delta: conversion.commission - if same_currency { previous.commission } else { 0 },
        reason: Some(&reason),
        refund_id: None,
    };
    events::record(conn, &event, now)?;
    reports::count_change(conn, Some(&previous), &conversion)?;
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
            deliveries::enqueue(conn, &previous, Change::Rejected, Status::Rejected, now)?;
        }
        deliveries::enqueue(conn, &conversion, Change::Created, Status::Pending, now)?;
    } else {
        deliveries::enqueue(conn, &conversion, Change::Replaced, Status::Pending, now)?;
    }
    webhooks::announce(conn, &conversion, Event::ConversionReplaced, now)?;
    let conversion = reject_if_paused(conn, conversion, row, now)?;
    Ok(Stored::Replaced { conversion, previous: Box::new(previous) })
}

/// Overwrites the pixel's row `previous_id` with the server-side report, if it is still the
/// pixel's and nothing of it was refunded; the number of rows changed (0 or 1).
fn overwrite_pixel_row(
    conn: &Tx,
    previous_id: i64,
    row: &NewRow,
    customer_row: Option<i64>,
    flags: &[Flag],
    now: i64,
) -> Result<usize, WriteError> {
    let (new, resolved) = (&row.new, &row.resolved);
    conn.prepare_cached(
        "UPDATE conversions
             SET type = ?1, affiliate_id = ?2, offer_id = ?3, click_id = ?4, customer_id = ?5, coupon_code = ?6,
                 attributed_by = ?7, source = ?8, currency = ?9, amount = ?10, refunded_amount = 0,
                 base_commission = ?11, commission = ?11, status = 'pending', updated_at = ?12, test = ?14,
                 flags = ?15, rate_source = ?16, goal = ?17, geo = ?18, commission_id = ?19
             WHERE id = ?13 AND source = 'pixel' AND refunded_amount = 0",
    )?
    .execute(params![
        new.kind,
        resolved.affiliate_id,
        resolved.offer_id,
        resolved.click_id,
        customer_row,
        coupon_of(row),
        resolved.key.as_str(),
        new.source.as_str(),
        row.price.currency.code(),
        row.price.amount,
        row.price.commission,
        now,
        previous_id,
        row.test,
        Flag::join(flags),
        row.price.rate_source.as_str(),
        new.details.goal,
        new.details.geo,
        new.details.commission_id
    ])
    .map_err(vanished_click)
}
