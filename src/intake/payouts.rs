//! Payouts: making a run (every affiliate whose available balance reached the minimum gets a
//! payout), marking a payout paid, cancelling one. From the API and the admin's books alike.
//! A run is many small writer jobs, never one long one (`store::payout_runs`): its candidates
//! are read on the caller's connection and each is decided again on the writer, one affiliate
//! (or one slice of a long ledger) per job, so clicks and conversions are stored between them.
//! Reading before writing never decides (the UNIQUE live-item index does).
//!
//! Architecture Invariant: plain values in (a `Run`, a payout id, a payment reference), a domain
//! outcome out; never a request or a response.

use super::Intake;
use crate::error::Error;
use crate::store::payout_runs::{self, Outcome, Start};
use crate::store::payouts::{self, Transition};
use crate::tracking::payout::{Run, check_reference};

/// The longest pause between two jobs of a payout run.
const RUN_PAUSE_MAX: std::time::Duration = std::time::Duration::from_millis(20);

/// Makes a run, or finishes the interrupted run with the same `run_id`: `Created` with its row
/// id; `Repeated` when the run with this `run_id` was complete already (nothing new is made).
/// A failure on the way leaves the run `building` with the payouts finished so far (the one it
/// was building removed); the same `run_id` again finishes it.
pub fn make_run(ix: &Intake<'_>, run: Run) -> Result<Outcome, Error> {
    let now = crate::clock::now_ms();
    let asked = run.clone();
    let id = match ix.writer.run(move |tx| payout_runs::start(tx, &asked, now))? {
        Start::Done(id) => return Ok(Outcome::Repeated(id)),
        Start::New(id) | Start::Resume(id) => id,
    };
    for affiliate in payout_runs::to_visit(ix.db, id, &run)? {
        for slice in payout_runs::slices(ix.db, affiliate)? {
            let run = run.clone();
            let started = std::time::Instant::now();
            if let Err(e) = ix.writer.run(move |tx| payout_runs::step(tx, id, affiliate, &run, slice, now)) {
                // The run stops here; what it was building holds no entry from now on (if even
                // this job fails, the next start removes it).
                if let Err(undo) = ix.writer.run(move |tx| payout_runs::abandon_run(tx, id)) {
                    log::warn!("payout run {id} stopped; its half-built payout waits for the next start: {undo}");
                }
                return Err(e);
            }
            // As long again before the next job (at most RUN_PAUSE_MAX): the run takes at most
            // about half of the writer, and of a core, whatever else waits for them.
            std::thread::sleep(started.elapsed().min(RUN_PAUSE_MAX));
        }
    }
    ix.writer.run(move |tx| payout_runs::finish(tx, id, now))?;
    Ok(Outcome::Created(id))
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
