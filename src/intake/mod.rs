//! One entry point per domain action, for every source. The JSON API, the `/postback` dialects,
//! the pixel, leads and the shop connectors each map their input to the same domain value
//! (`tracking::conversion::NewConversion`, `RefundRequest`, a customer tie) and call one
//! function here, which validates it once, reads and writes through the store in the one way
//! ARCHITECTURE.md describes, and counts the outcome in the metrics once:
//!
//! - [`record`] a conversion: attributed and priced on the caller's read connection
//!   (`store::conversions::prepare`), stored on the writer (`store::conversions::insert`);
//! - [`refund`] one (`refund.rs`), [`decide`] one or many (approve / reject, `decide.rs`);
//! - [`tie_customer`] to an affiliate (`customer.rs`);
//! - [`record_click`] (`click.rs`), for tracking links and the API;
//! - [`record_hook`]: what a shop platform's webhook asks for (conversions, refunds, customer
//!   ties, and the events held until what they need arrives), with its log, in one transaction
//!   (`hooks.rs`);
//! - [`test_postback`]: a sample postback to an affiliate's tracker, within its hourly limit
//!   (`postback_test.rs`).
//!
//! Nothing here knows HTTP: the caller turns the outcome into its own answer (a 201 or 409, a
//! GIF, a webhook's 200).

mod click;
mod customer;
mod decide;
pub mod flood;
mod hooks;
pub mod postback_test;
mod refund;

pub use click::{RecordedClick, record_click};
pub use customer::tie_customer;
pub use decide::{decide, decide_many};
pub use hooks::{Done, record_hook};
pub use postback_test::test_postback;
pub use refund::refund;

use std::sync::atomic::Ordering;

use rusqlite::Connection;

use crate::error::Error;
use crate::metrics::Metrics;
use crate::store::conversions::{self, Prepared, Stored};
use crate::store::writer::Writer;
use crate::tracking::conversion::NewConversion;
use crate::tracking::fraud::Thresholds;

/// What an entry point works with: the caller's own read connection, the writer, the metrics,
/// the fraud rules' thresholds and the click counts they need.
pub struct Intake<'a> {
    pub db: &'a Connection,
    pub writer: &'a Writer,
    pub metrics: &'a Metrics,
    pub rules: &'a Thresholds,
    pub flood: &'a flood::Flood,
}

/// Records a conversion: `Created`, `Replaced` (a server-side report took over the pixel's
/// version of the order) or `Duplicate` (the stored original, unchanged). Errors are refusals
/// (4xx: the report is wrong or cannot be attributed) or a failure to store (503/500).
pub fn record(ix: &Intake<'_>, new: NewConversion) -> Result<Stored, Error> {
    let now = crate::clock::now_ms();
    new.check()?;
    let outcome = match conversions::prepare(ix.db, new, ix.rules, now)? {
        Prepared::Row(row) => ix.writer.run(move |conn| conversions::insert(conn, &row, now)),
        Prepared::Known(stored) => Ok(Stored::Duplicate(*stored)),
        Prepared::Refused(refusal) => Err(refusal),
    };
    count(ix.metrics, &outcome);
    outcome
}

/// [`record`] for sources that keep a log of what they received (inbound postbacks, webhooks):
/// `log` runs in the same transaction as the conversion, whatever the outcome, including a
/// report that failed validation before (`new` is then that error). A failed conversion is
/// undone on its own; the log entry stays.
pub fn record_logged<L>(ix: &Intake<'_>, new: Result<NewConversion, Error>, log: L) -> Result<Stored, Error>
where
    L: FnOnce(&Connection, &Result<Stored, Error>) -> Result<(), Error> + Send + 'static,
{
    let now = crate::clock::now_ms();
    let prepared = new.and_then(|new| {
        new.check()?;
        conversions::prepare(ix.db, new, ix.rules, now)
    });
    let outcome = ix
        .writer
        .run(move |conn| {
            let result = match prepared {
                Ok(Prepared::Row(row)) => crate::store::nested(conn, |c| conversions::insert(c, &row, now)),
                Ok(Prepared::Known(stored)) => Ok(Stored::Duplicate(*stored)),
                Ok(Prepared::Refused(refusal)) | Err(refusal) => Err(refusal),
            };
            log(conn, &result)?;
            Ok(result)
        })
        .and_then(|result| result);
    count(ix.metrics, &outcome);
    outcome
}

fn count(metrics: &Metrics, outcome: &Result<Stored, Error>) {
    let counter = match outcome {
        Ok(Stored::Created(_)) => &metrics.conversions_created,
        Ok(Stored::Replaced { .. }) => &metrics.conversions_replaced,
        Ok(Stored::Duplicate(_)) => &metrics.conversions_duplicate,
        Err(_) => return,
    };
    counter.fetch_add(1, Ordering::Relaxed);
}
