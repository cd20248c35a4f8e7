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
//! Every other write of the server is here too, one function per action, shared by the API,
//! the admin and the portal: `affiliates`, `applications` (the form, approving, rejecting),
//! `offers`, `rates`, `coupons`, `webhooks`, `connectors`, `payouts`, `erasure`, `accounts`
//! (invites, accepting one, password resets, sessions), `mail` (queuing an e-mail in the
//! caller's transaction, unsubscribing),
//! `postbacks` (the token, retries), `postback_test`, `test_data`. Each takes plain domain
//! values and returns a domain outcome (a typed enum or struct, or `crate::error::Error`).
//!
//! Nothing here knows HTTP: the caller turns the outcome into its own answer (a 201 or 409, a
//! GIF, a webhook's 200, an admin page).
//!
//! Architecture Invariant: intake is the only door for writes. Only intake, the store and the
//! background threads give the writer jobs; the web areas hold it as [`Door`], which gives
//! none (`guard.rs` checks the source tree for it). Intake imports `tracking` and `store`,
//! never `http`.

pub mod accounts;
pub mod affiliates;
pub mod applications;
mod click;
pub mod connectors;
pub mod coupons;
mod customer;
mod decide;
pub mod erasure;
pub mod flood;
#[cfg(test)]
mod guard;
mod hooks;
pub mod mail;
pub mod offers;
pub mod payouts;
pub mod postback_test;
pub mod postbacks;
pub mod rates;
mod refund;
pub mod test_data;
pub mod webhooks;

pub use click::{RecordedClick, record_click};
pub use customer::tie_customer;
pub use decide::{decide, decide_many};
pub use hooks::{Done, record_hook};
pub use postback_test::test_postback;
pub use refund::refund;

use std::sync::atomic::Ordering;

use crate::error::Error;
use crate::metrics::Metrics;
use crate::store::conversions::{self, Prepared, Stored};
pub use crate::store::writer::Health;
use crate::store::writer::{Writer, WriterStats};
use crate::tracking::conversion::NewConversion;
use crate::tracking::fraud::Thresholds;

/// The writer as the web areas hold it: they hand it to intake ([`Door::intake`]) and ask how
/// it is (`/healthz`, `/metrics`), but cannot give it a job. This is what makes intake the only
/// door for writes in the server: nothing outside intake, the store and the background threads
/// holds a [`Writer`].
#[derive(Clone)]
pub struct Door {
    writer: Writer,
}

impl Door {
    pub fn new(writer: Writer) -> Door {
        Door { writer }
    }

    /// What the entry points need, for a caller with its own read connection `db`.
    pub fn intake<'a>(
        &'a self,
        db: &'a rusqlite::Connection,
        metrics: &'a Metrics,
        flood: &'a flood::Flood,
        config: &'a crate::config::Serve,
    ) -> Intake<'a> {
        Intake { db, writer: &self.writer, metrics, rules: &config.fraud, flood, config }
    }

    /// The writer's round trip and, while commits fail, its probe write (`Writer::health`).
    pub fn health(&self) -> Health {
        self.writer.health()
    }

    /// The writer's counters, for `/metrics`.
    pub fn stats(&self) -> &WriterStats {
        &self.writer.stats
    }

    /// The WAL's checkpoint counters, when this process runs them.
    pub fn wal(&self) -> Option<&crate::store::checkpointer::Wal> {
        self.writer.wal.as_deref()
    }
}

/// What an entry point works with: the caller's own read connection, the writer (private: only
/// intake gives it jobs), the metrics, the fraud rules' thresholds and the click counts they
/// need, and the server's configuration (where its files are, what is on).
pub struct Intake<'a> {
    pub db: &'a rusqlite::Connection,
    writer: &'a Writer,
    pub metrics: &'a Metrics,
    pub rules: &'a Thresholds,
    pub flood: &'a flood::Flood,
    pub config: &'a crate::config::Serve,
}

/// Records a conversion: `Created`, `Replaced` (a server-side report took over the pixel's
/// version of the order) or `Duplicate` (the stored original, unchanged). Errors are refusals
/// (4xx: the report is wrong or cannot be attributed) or a failure to store (503/500).
pub fn record(ix: &Intake<'_>, new: NewConversion) -> Result<Stored, Error> {
    let now = crate::clock::now_ms();
    new.check()?;
    let outcome = match conversions::prepare(ix.db, new, ix.rules, now)? {
        Prepared::Row(row) => ix.writer.run(move |tx| Ok(conversions::insert(tx, &row, now)?)),
        Prepared::Known(stored) => Ok(Stored::Duplicate(*stored)),
        Prepared::Refused(refusal) => Err(refusal.into()),
    };
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
