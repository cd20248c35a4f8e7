//! Approving and rejecting conversions, one (API, admin) or many in one transaction (the admin's
//! bulk action). Only a pending conversion can be decided, and only once.
//!
//! Architecture Invariant: a decision is a conditional UPDATE on the writer
//! (`store::conversions::decide`); nothing here reads a status to decide.

use std::sync::atomic::Ordering;

use super::Intake;
use crate::error::Error;
use crate::store::conversions::{self, Decision};
use crate::tracking::conversion::Status;

/// Approves or rejects conversion `id` (`to` is `Approved` or `Rejected`).
pub fn decide(ix: &Intake<'_>, id: i64, to: Status, actor: &str, reason: Option<&str>) -> Result<Decision, Error> {
    let (actor, reason) = (actor.to_string(), reason.map(String::from));
    let now = crate::clock::now_ms();
    let decision = ix.writer.run(move |conn| conversions::decide(conn, id, to, &actor, reason.as_deref(), now))?;
    if matches!(decision, Decision::Changed(_)) {
        count(ix, to, 1);
    }
    Ok(decision)
}

/// Decides every conversion of `ids` in one transaction: (changed, skipped), where skipped ones
/// were not pending or do not exist.
pub fn decide_many(ix: &Intake<'_>, ids: Vec<i64>, to: Status, actor: &str) -> Result<(u64, u64), Error> {
    let actor = actor.to_string();
    let now = crate::clock::now_ms();
    let (changed, skipped) = ix.writer.run(move |conn| {
        let (mut changed, mut skipped) = (0u64, 0u64);
        for id in ids {
            match conversions::decide(conn, id, to, &actor, None, now)? {
                Decision::Changed(_) => changed += 1,
                Decision::Refused(_) | Decision::NotFound => skipped += 1,
            }
        }
        Ok((changed, skipped))
    })?;
    count(ix, to, changed);
    Ok((changed, skipped))
}

fn count(ix: &Intake<'_>, to: Status, n: u64) {
    let counter =
        if to == Status::Approved { &ix.metrics.conversions_approved } else { &ix.metrics.conversions_rejected };
    counter.fetch_add(n, Ordering::Relaxed);
}
