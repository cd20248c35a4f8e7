//! Changing a stored conversion: approving or rejecting it (once, from `pending`), and refunding
//! it. Every change records its event, keeps the daily totals in step, books what it does to
//! the money owed in the affiliate's ledger and queues the affiliate's postback, in one
//! transaction. Must run on the writer.

use rusqlite::params;

use super::require;
use crate::error::Error;
use crate::store::WriteError;
use crate::store::events::{self, NewEvent};
use crate::store::ledger;
use crate::store::writer::Tx;
use crate::store::{deliveries, reports, webhooks};
use crate::tracking::conversion::{
    Change, Conversion, RefundAmount, RefundRefusal, RefundRequest, Refusal, Status, plan_refund,
};
use crate::tracking::ledger::Kind;
use crate::tracking::webhook::Event;

/// The result of approving or rejecting.
#[derive(Debug)]
pub enum Decision {
    Changed(Conversion),
    /// The conversion was not pending; nothing changed.
    Refused(Conversion),
    /// No conversion has that id.
    NotFound,
}

/// Moves a pending conversion to approved or rejected. Exactly one caller can win: the update
/// only matches while the status is still `pending`.
pub fn decide(conn: &Tx, id: i64, to: Status, actor: &str, reason: Option<&str>, now: i64) -> Result<Decision, Error> {
    debug_assert!(matches!(to, Status::Approved | Status::Rejected));
    let changed = conn
        .prepare_cached("UPDATE conversions SET status = ?1, updated_at = ?2 WHERE id = ?3 AND status = 'pending'")?
        .execute(params![to.as_str(), now, id])?;
    let Some(current) = super::get(conn, id)? else { return Ok(Decision::NotFound) };
    if changed == 0 {
        return Ok(Decision::Refused(current));
    }
    reports::count_change(conn, Some(&Conversion { status: Status::Pending, ..current.clone() }), &current)?;
    let commission_delta = if to == Status::Rejected { -current.commission } else { 0 };
    let event = NewEvent {
        conversion_id: id,
        actor,
        action: Change::of_decision(to),
        from: Some(Status::Pending),
        to,
        amount_delta: 0,
        commission_delta,
        reason,
        refund_id: None,
    };
    events::record(conn, &event, now)?;
    match to {
        Status::Approved => ledger::conversion(conn, &current, Kind::Approved, current.commission, now)?,
        _ => ledger::conversion(conn, &current, Kind::Rejected, -current.commission, now)?,
    }
    deliveries::enqueue(conn, &current, Change::of_decision(to), to, now)?;
    webhooks::announce(conn, &current, Event::of_decision(to), now)?;
    Ok(Decision::Changed(current))
}

/// The result of a refund.
#[derive(Debug)]
pub enum Refunded {
    Changed(Conversion),
    /// Nothing to do: this refund ID was refunded already, or nothing is left to refund for a
    /// full refund or a running total. The conversion as it is.
    Repeated(Conversion),
    /// The refund is not possible; nothing changed.
    Refused(Conversion, RefundRefusal),
}

/// Refunds part or all of a pending or approved conversion (see `tracking::conversion` for the
/// arithmetic). The commission it takes back is a negative ledger entry: `refunded` while
/// pending, `clawed_back` once approved (even if paid out: the affiliate's next balance carries
/// it). A refund ID seen before refunds nothing: the UNIQUE index on the event's (conversion,
/// refund ID) decides, inside this transaction.
pub fn refund(conn: &Tx, id: i64, request: &RefundRequest, actor: &str, now: i64) -> Result<Refunded, WriteError> {
    let Some(current) = super::get(conn, id)? else { return Err(Refusal::rejected(super::not_found(id)).into()) };
    let parse = |text: &str| current.currency.parse(text).map_err(|e| Refusal::rejected(Error::invalid("amount", e)));
    if let Some(refund_id) = &request.refund_id
        && let Some(refunded) = events::refund_by_id(conn, id, refund_id)?
    {
        if let RefundAmount::Part(text) = &request.amount
            && parse(text)? != refunded
        {
            return Ok(Refunded::Refused(current, RefundRefusal::RefundIdReused(refunded)));
        }
        return Ok(Refunded::Repeated(current));
    }
    let requested = match &request.amount {
        RefundAmount::All => None,
        RefundAmount::Part(text) => Some(parse(text)?),
        RefundAmount::UpTo(text) => {
            let more = parse(text)? - current.refunded_amount;
            if more <= 0 {
                return Ok(Refunded::Repeated(current));
            }
            Some(more)
        }
        RefundAmount::Platform(platform) => match platform.requested(&current) {
            Ok(Some(0)) => return Ok(Refunded::Repeated(current)),
            Ok(requested) => requested,
            Err(refusal) => return Ok(Refunded::Refused(current, refusal)),
        },
    };
    let plan = match plan_refund(&current, requested) {
        Ok(Some(plan)) => plan,
        Ok(None) => return Ok(Refunded::Repeated(current)),
        Err(refusal) => return Ok(Refunded::Refused(current, refusal)),
    };
    let taken_back = plan.taken_back(&current);
    let event = NewEvent {
        conversion_id: id,
        actor,
        action: Change::Refunded,
        from: Some(current.status),
        to: plan.status,
        amount_delta: -plan.amount,
        commission_delta: -taken_back,
        reason: None,
        refund_id: request.refund_id.as_deref(),
    };
    if !events::record(conn, &event, now)? {
        return Ok(Refunded::Repeated(current));
    }
    conn.prepare_cached(
        "UPDATE conversions SET refunded_amount = refunded_amount + ?1, commission = ?2, status = ?3, updated_at = ?4
         WHERE id = ?5",
    )?
    .execute(params![plan.amount, plan.commission, plan.status.as_str(), now, id])?;
    let updated = require(conn, id)?;
    reports::count_change(conn, Some(&current), &updated)?;
    let kind = if current.status == Status::Approved { Kind::ClawedBack } else { Kind::Refunded };
    ledger::conversion(conn, &updated, kind, -taken_back, now)?;
    deliveries::enqueue(conn, &updated, Change::Refunded, updated.status, now)?;
    webhooks::announce(conn, &updated, Event::ConversionRefunded, now)?;
    Ok(Refunded::Changed(updated))
}
