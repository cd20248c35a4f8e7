//! Approving and rejecting conversions, one (API, admin) or many in one transaction (the admin's
//! bulk action). Only a pending conversion can be decided, and only once.
//!
//! Architecture Invariant: a decision is a conditional UPDATE on the writer
//! (`store::conversions::decide`); nothing here reads a status to decide.

use std::sync::atomic::Ordering;

use super::{Intake, mail};
use crate::error::Error;
use crate::store::conversions::{self, Decision};
use crate::store::mailing;
use crate::store::writer::Tx;
use crate::tracking::conversion::Status;

/// Approves or rejects conversion `id` (`to` is `Approved` or `Rejected`).
pub fn decide(ix: &Intake<'_>, id: i64, to: Status, actor: &str, reason: Option<&str>) -> Result<Decision, Error> {
    let (actor, reason) = (actor.to_string(), reason.map(String::from));
    let (now, mail) = (crate::clock::now_ms(), mail::context(ix.config));
    let decision = ix.writer.run(move |conn| {
        let decision = conversions::decide(conn, id, to, &actor, reason.as_deref(), now)?;
        tell(conn, &mail, &decision, now)?;
        Ok(decision)
    })?;
    if matches!(decision, Decision::Changed(_)) {
        count(ix, to, 1);
    }
    Ok(decision)
}

/// Decides every conversion of `ids` in one transaction: (changed, skipped), where skipped ones
/// were not pending or do not exist.
pub fn decide_many(ix: &Intake<'_>, ids: Vec<i64>, to: Status, actor: &str) -> Result<(u64, u64), Error> {
    let actor = actor.to_string();
    let (now, mail) = (crate::clock::now_ms(), mail::context(ix.config));
    let (changed, skipped) = ix.writer.run(move |conn| {
        let (mut changed, mut skipped) = (0u64, 0u64);
        for id in ids {
            let decision = conversions::decide(conn, id, to, &actor, None, now)?;
            tell(conn, &mail, &decision, now)?;
            match decision {
                Decision::Changed(_) => changed += 1,
                Decision::Refused(_) | Decision::NotFound => skipped += 1,
            }
        }
        Ok((changed, skipped))
    })?;
    count(ix, to, changed);
    Ok((changed, skipped))
}

/// An approval tells its affiliate by e-mail, if they opted in (`intake::mail`), in the
/// decision's transaction.
fn tell(tx: &Tx, mail: &mail::Context, decision: &Decision, now: i64) -> Result<(), Error> {
    match decision {
        Decision::Changed(c) if c.status == Status::Approved => mailing::conversion_approved(tx, mail, c, now),
        _ => Ok(()),
    }
}

fn count(ix: &Intake<'_>, to: Status, n: u64) {
    let counter =
        if to == Status::Approved { &ix.metrics.conversions_approved } else { &ix.metrics.conversions_rejected };
    counter.fetch_add(n, Ordering::Relaxed);
}
