//! Tying a customer to an affiliate, for recurring commission: from `POST /customers`,
//! registration leads, and platforms' subscription checkouts.

use super::Intake;
use crate::error::Error;
use crate::store::Insert;
use crate::store::customers::{self, Customer};
use crate::tracking::customer::NewCustomer;

/// Ties `new` to the affiliate its keys name: `Created`, or `Duplicate` with the customer as
/// stored (the first affiliate keeps a customer).
pub fn tie_customer(ix: &Intake<'_>, new: NewCustomer) -> Result<Insert<Customer>, Error> {
    new.check()?;
    let now = crate::clock::now_ms();
    ix.writer.run(move |conn| customers::create(conn, &new, now))
}
