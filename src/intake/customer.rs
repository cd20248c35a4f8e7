//! Tying a customer to an affiliate, for recurring commission: from `POST /customers`,
//! registration leads, and platforms' subscription checkouts.
//!
//! Architecture Invariant: a tie is decided on the writer, by the store's UNIQUE
//! `(customer_id, test)`; attribution refusals come back typed (`store::WriteError`).

use super::Intake;
use crate::error::Error;
use crate::store::attribute;
use crate::store::customers::{self, Customer};
use crate::store::writer::Tx;
use crate::store::{Insert, WriteError};
use crate::tracking::attribution::Keys;
use crate::tracking::customer::NewCustomer;

/// Ties `new` to the affiliate its keys name: `Created`, or `Duplicate` with the customer as
/// stored (the first affiliate keeps a customer). Attribution runs on the writer here, next to
/// the insert, so the answer for a customer ID is the same under any number of concurrent ties.
/// A tie is test data when `new` is or its click is, and test and live ties of one customer ID
/// are separate: each is found and made in its own namespace only.
pub fn tie_customer(ix: &Intake<'_>, new: NewCustomer) -> Result<Insert<Customer>, Error> {
    new.check()?;
    let now = crate::clock::now_ms();
    ix.writer.run(move |tx| Ok(tie_on_writer(tx, &new, now)?))
}

/// The tie itself, inside a write transaction (a checked `new`): also how a platform's
/// subscription checkout ties its customer, next to the events it releases. Refused when
/// nothing its keys name leads to an affiliate.
pub(super) fn tie_on_writer(conn: &Tx, new: &NewCustomer, now: i64) -> Result<Insert<Customer>, WriteError> {
    // A retry is answered with its tie even if its click is gone since.
    if let Some(existing) = customers::get(conn, &new.customer_id, new.test)? {
        return Ok(Insert::Duplicate(existing));
    }
    let keys = Keys { customer_id: None, ..new.keys.clone() };
    let resolved = attribute::resolve(conn, &keys, new.test, now)??;
    let test = new.test || resolved.click_test;
    if let Some(existing) = customers::get(conn, &new.customer_id, test)? {
        return Ok(Insert::Duplicate(existing));
    }
    let (email, name) = (new.email.as_deref(), new.name.as_deref());
    let row = customers::insert_tie(conn, &new.customer_id, &resolved, email, name, test, now)?;
    Ok(Insert::Created(customers::get_by_row(conn, row)?))
}
