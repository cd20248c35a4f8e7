//! Payouts: making a run (every affiliate whose available balance reached the minimum gets a
//! payout), marking a payout paid, cancelling one. From the API and the admin's books alike.
//! A run's candidates are read on the caller's connection and decided again one by one on the
//! writer: reading before writing never decides (the UNIQUE live-item index does).
//!
//! Architecture Invariant: plain values in (a `Run`, a payout id, a payment reference), a domain
//! outcome out; never a request or a response.

use super::Intake;
use crate::error::Error;
use crate::store::payouts::{self, RunOutcome, Transition};
use crate::tracking::payout::{Run, check_reference};

/// Makes a run: `Created` with the payouts it made (perhaps none), or `Repeated` with those of
/// the run that had this `run_id` already (nothing new is made).
pub fn make_run(ix: &Intake<'_>, run: Run) -> Result<RunOutcome, Error> {
    let candidates = payouts::candidates(ix.db, run.currency, run.minimum)?;
    let now = crate::clock::now_ms();
    ix.writer.run(move |tx| payouts::create_run(tx, &run, &candidates, now))
}

/// Marks payout `id` paid with the merchant's payment `reference` (checked: one short line),
/// and tells the affiliate by e-mail in the same transaction (unless they turned it off).
/// Only a pending payout changes; `Refused` with the payout as it is otherwise.
pub fn mark_paid(ix: &Intake<'_>, id: i64, reference: Option<&str>) -> Result<Transition, Error> {
    if let Some(r) = reference {
        check_reference(r)?;
    }
    let (reference, now) = (reference.map(String::from), crate::clock::now_ms());
    let mail = super::mail::context(ix.config);
    ix.writer.run(move |tx| {
        let transition = payouts::mark_paid(tx, id, reference.as_deref(), now)?;
        if let Transition::Changed(paid) = &transition {
            crate::store::mailing::payout_paid(tx, &mail, paid, now)?;
        }
        Ok(transition)
    })
}

/// Cancels payout `id`: its commission is available again for the next run. Only a pending
/// payout changes; `Refused` with the payout as it is otherwise.
pub fn cancel(ix: &Intake<'_>, id: i64) -> Result<Transition, Error> {
    let now = crate::clock::now_ms();
    ix.writer.run(move |tx| payouts::cancel(tx, id, now))
}
