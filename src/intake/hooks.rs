//! Recording what a shop platform's webhook asks for (`tracking::connectors`): conversions,
//! refunds and customer ties, through the same store functions as every other source, plus the
//! events held until what they need arrives, and one hook-log row for each thing done, all in
//! one transaction on the writer. A hook either did all of it or nothing (then 5xx, so the
//! platform retries).
//!
//! Attribution runs on the writer here, next to the insert (as for customer ties): a Stripe
//! invoice and the checkout that ties its customer can arrive at the same moment, and only the
//! writer's order decides which came first. Whichever it is, the books end the same: an event
//! that comes too early is held ([`store::held`]) and replayed in the transaction that brings
//! what it waited for.
//!
//! Architecture Invariant: a step's outcome is decided by types (`Refusal::reason`,
//! `store::WriteError::Failed` ends the hook), never by an error's status or code.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;

use super::Intake;
use super::customer::tie_on_writer;
use crate::error::Error;
use crate::store::connectors::{self, NewHook};
use crate::store::conversions::{self, Prepared, Refunded, Stored};
use crate::store::held::{self, Origin, Wait};
use crate::store::writer::Tx;
use crate::store::{Insert, WriteError, coupons};
use crate::tracking::connectors::{Action, Connector, Mapped, Order, Refund, Tie, What};
use crate::tracking::conversion::{Reason, Refusal, Status};

/// One thing a hook did (or did not do), as its log row and its answer say.
#[derive(Clone, Debug)]
pub struct Done {
    /// `conversion`, `refund`, `tie`, or `none`.
    pub action: &'static str,
    pub reference: Option<String>,
    /// One of `store::connectors::OUTCOMES`.
    pub outcome: &'static str,
    pub conversion_id: Option<i64>,
    /// Why it was rejected or could not be attributed.
    pub error: Option<Error>,
    /// Why it was ignored or held, in our words.
    pub detail: Option<&'static str>,
    /// A held event, recorded now that what it waited for arrived.
    pub replayed: bool,
    pub origin: Origin,
}

/// Records what `mapped` asks for and logs it; every outcome is an `Ok` (the platform must
/// stop retrying) except a failure to store anything at all.
pub fn record_hook(ix: &Intake<'_>, connector: Connector, mapped: Mapped) -> Result<Vec<Done>, Error> {
    let origin = Origin { connector, event_id: mapped.event_id, event_type: mapped.event_type, test: mapped.test };
    let now = crate::clock::now_ms();
    let what = mapped.what;
    let rules = *ix.rules;
    let (done, tally) = ix.writer.run(move |conn| {
        let mut tally = Tally { rules, ..Tally::default() };
        let done = match what {
            What::Ignored(why) => vec![Done { detail: Some(why), ..nothing(&origin, "ignored") }],
            What::Unreadable(e) => vec![Done { error: Some(e), ..nothing(&origin, "rejected") }],
            What::Actions(actions) => {
                let steps = actions.into_iter().map(|action| Step { origin: origin.clone(), action, replayed: false });
                apply_all(conn, steps.collect(), now, &mut tally)?
            }
        };
        for d in &done {
            log(conn, d, now)?;
        }
        Ok((done, tally))
    })?;
    for (counter, n) in [
        (&ix.metrics.conversions_created, tally.created),
        (&ix.metrics.conversions_replaced, tally.replaced),
        (&ix.metrics.conversions_duplicate, tally.duplicate),
        (&ix.metrics.conversions_refunded, tally.refunded),
    ] {
        counter.fetch_add(n, Ordering::Relaxed);
    }
    Ok(done)
}

/// What a hook's run needs (the fraud rules' thresholds) and the metrics it moves, counted
/// after its commit.
#[derive(Default)]
struct Tally {
    rules: crate::tracking::fraud::Thresholds,
    created: u64,
    replaced: u64,
    duplicate: u64,
    refunded: u64,
}

struct Step {
    origin: Origin,
    action: Action,
    replayed: bool,
}

fn nothing(origin: &Origin, outcome: &'static str) -> Done {
    Done {
        action: "none",
        reference: None,
        outcome,
        conversion_id: None,
        error: None,
        detail: None,
        replayed: false,
        origin: origin.clone(),
    }
}

fn done(step: &Step, outcome: &'static str) -> Done {
    Done {
        action: step.action.kind(),
        reference: Some(step.action.reference().to_string()),
        replayed: step.replayed,
        ..nothing(&step.origin, outcome)
    }
}

/// Applies the hook's actions, then every held one they release, in order.
fn apply_all(conn: &Tx, steps: Vec<Step>, now: i64, tally: &mut Tally) -> Result<Vec<Done>, Error> {
    let mut queue = VecDeque::from(steps);
    let mut out = Vec::new();
    while let Some(step) = queue.pop_front() {
        let (d, released) = match &step.action {
            Action::Order(o) => order(conn, &step, o, now, tally)?,
            Action::Tie(t) => tie(conn, &step, t, now)?,
            Action::Refund(r) => refund(conn, &step, r, now, tally)?,
        };
        out.push(d);
        queue.extend(released);
    }
    Ok(out)
}

/// A refusal, as the hook log keeps it. A shop's sale that nothing leads to an affiliate is
/// normal, so it is `unattributed`, not an error; a wrong one is `rejected`.
fn refused(step: &Step, refusal: Refusal) -> (Done, Vec<Step>) {
    let outcome = match refusal.reason {
        Reason::Unattributed => "unattributed",
        Reason::Rejected => "rejected",
    };
    (Done { error: Some(refusal.error), ..done(step, outcome) }, Vec::new())
}

/// A step's write: its refusal, or a failure of the store, which ends the whole hook (nothing
/// is stored and the platform retries).
fn refusal_of(e: WriteError) -> Result<Refusal, Error> {
    match e {
        WriteError::Refused(refusal) => Ok(refusal),
        WriteError::Failed(e) => Err(e),
    }
}

/// Takes the events of namespace `test` held for `wait`, as steps to replay.
fn release(conn: &Tx, wait: Wait, test: bool) -> Result<Vec<Step>, Error> {
    Ok(held::take(conn, &wait, test)?
        .into_iter()
        .map(|h| Step { origin: h.origin, action: h.action, replayed: true })
        .collect())
}

/// The code of `codes` that is an affiliate's coupon, else the first (whose refusal then says
/// why nothing matched).
fn pick_coupon(conn: &Tx, codes: &[String]) -> Result<Option<String>, Error> {
    for code in codes {
        if coupons::get(conn, code)?.is_some() {
            return Ok(Some(code.clone()));
        }
    }
    Ok(codes.first().cloned())
}

fn order(conn: &Tx, step: &Step, o: &Order, now: i64, tally: &mut Tally) -> Result<(Done, Vec<Step>), Error> {
    let test = step.origin.test.unwrap_or(false);
    let new = o.conversion(pick_coupon(conn, &o.coupons)?, step.origin.connector.source(), test);
    let stored = match new.check() {
        Err(refusal) => Err(refusal),
        Ok(()) => match conversions::prepare(conn, new, &tally.rules, now)? {
            Prepared::Row(row) => match crate::store::nested(conn, |c| conversions::insert(c, &row, now)) {
                Ok(stored) => Ok(stored),
                Err(e) => Err(refusal_of(e)?),
            },
            Prepared::Known(stored) => Ok(Stored::Duplicate(*stored)),
            Prepared::Refused(refusal) => Err(refusal),
        },
    };
    let (c, label) = match stored {
        Ok(Stored::Created(c)) => {
            tally.created += 1;
            (c, "created")
        }
        Ok(Stored::Replaced { conversion, .. }) => {
            tally.replaced += 1;
            (conversion, "created")
        }
        Ok(Stored::Duplicate(c)) => {
            tally.duplicate += 1;
            (c, "duplicate")
        }
        Err(refusal)
            if refusal.reason == Reason::Unattributed
                && o.waits_for_customer
                && !step.replayed
                && o.customer_id.is_some() =>
        {
            let customer = o.customer_id.clone().unwrap_or_default();
            held::hold(conn, &Wait::Customer(customer), &step.origin, &step.action, now)?;
            let detail = "waiting up to 24 hours for the checkout that ties its customer to an affiliate";
            return Ok((Done { detail: Some(detail), ..done(step, "held") }, Vec::new()));
        }
        Err(refusal) => return Ok(refused(step, refusal)),
    };
    let mut released = release(conn, Wait::Order(c.external_id.clone()), c.test)?;
    if let Some(customer) = &c.customer_id {
        released.extend(release(conn, Wait::Customer(customer.clone()), c.test)?);
    }
    Ok((Done { conversion_id: Some(c.id), ..done(step, label) }, released))
}

fn tie(conn: &Tx, step: &Step, t: &Tie, now: i64) -> Result<(Done, Vec<Step>), Error> {
    let new = t.new_customer(step.origin.test.unwrap_or(false));
    if let Err(refusal) = new.check() {
        return Ok(refused(step, refusal));
    }
    let (outcome, tie) = match tie_on_writer(conn, &new, now) {
        Ok(Insert::Created(c)) => ("tied", c),
        Ok(Insert::Duplicate(c)) => ("duplicate", c),
        Err(e) => return Ok(refused(step, refusal_of(e)?)),
    };
    Ok((done(step, outcome), release(conn, Wait::Customer(t.customer_id.clone()), tie.test)?))
}

/// A refund from the platform's live mode refunds a live conversion, one from its test mode a
/// test conversion: never one of the other namespace, even with the same order ID.
fn refund(conn: &Tx, step: &Step, r: &Refund, now: i64, tally: &mut Tally) -> Result<(Done, Vec<Step>), Error> {
    let test = step.origin.test.unwrap_or(false);
    let mut found = None;
    for external_id in &r.orders {
        if let Some(c) = conversions::by_external_id(conn, external_id, test)? {
            found = Some(c);
            break;
        }
    }
    let Some(conversion) = found else {
        for external_id in &r.orders {
            held::hold(conn, &Wait::Order(external_id.clone()), &step.origin, &step.action, now)?;
        }
        let detail = "waiting up to 24 hours for the conversion of its order";
        return Ok((Done { detail: Some(detail), ..done(step, "held") }, Vec::new()));
    };
    let request = r.request();
    if let Err(e) = request.check() {
        return Ok(refused(step, Refusal::rejected(e)));
    }
    let actor = step.origin.connector.name();
    let outcome = crate::store::nested(conn, |c| conversions::refund(c, conversion.id, &request, actor, now));
    let (label, c) = match outcome {
        Ok(Refunded::Changed(c)) => {
            if c.status == Status::Refunded {
                tally.refunded += 1;
            }
            ("refunded", c)
        }
        Ok(Refunded::Repeated(c)) => ("duplicate", c),
        Ok(Refunded::Refused(c, refusal)) => {
            let d = Done { error: Some(refusal.error(&c)), conversion_id: Some(c.id), ..done(step, "rejected") };
            return Ok((d, Vec::new()));
        }
        Err(e) => return Ok(refused(step, refusal_of(e)?)),
    };
    Ok((Done { conversion_id: Some(c.id), ..done(step, label) }, Vec::new()))
}

fn log(conn: &Tx, d: &Done, now: i64) -> Result<(), Error> {
    let entry = NewHook {
        connector: d.origin.connector,
        event_id: d.origin.event_id.as_deref(),
        event_type: &d.origin.event_type,
        test: d.origin.test,
        action: d.action,
        reference: d.reference.as_deref(),
        outcome: d.outcome,
        error_code: d.error.as_ref().map(|e| e.code.as_ref()),
        detail: d.detail,
        replayed: d.replayed,
        conversion_id: d.conversion_id,
    };
    connectors::log(conn, &entry, now)
}
