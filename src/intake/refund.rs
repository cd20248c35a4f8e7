//! Refunds, from the API and from shop connectors: partial ones name themselves (`refund_id`),
//! so a retried refund never refunds twice.
//!
//! Architecture Invariant: the refund's arithmetic is `tracking::conversion`'s; this only
//! checks the request and hands it to the writer.

use std::sync::atomic::Ordering;

use super::Intake;
use crate::error::Error;
use crate::store::conversions::{self, Refunded};
use crate::tracking::conversion::{RefundRequest, Status};

/// Refunds conversion `id` as `request` asks.
pub fn refund(ix: &Intake<'_>, id: i64, request: RefundRequest, actor: &str) -> Result<Refunded, Error> {
    request.check()?;
    let actor = actor.to_string();
    let now = crate::clock::now_ms();
    let outcome = ix.writer.run(move |tx| Ok(conversions::refund(tx, id, &request, &actor, now)?))?;
    if let Refunded::Changed(c) = &outcome
        && c.status == Status::Refunded
    {
        ix.metrics.conversions_refunded.fetch_add(1, Ordering::Relaxed);
    }
    Ok(outcome)
}
