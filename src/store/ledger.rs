//! The commission ledger: money owed to affiliates. An approval adds the commission; a refund of
//! an approved conversion, or its loss to another report, takes back what it removes (a
//! claw-back of money possibly paid out already). Rows are only ever inserted; payout reports
//! sum them over a period.

use rusqlite::{Connection, params};

use crate::error::Error;
use crate::tracking::conversion::Conversion;

/// What a ledger row records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entry {
    /// An approval: the commission becomes owed.
    Approval,
    /// Commission taken back from an approved conversion (a refund, or a replacement).
    Clawback,
}

impl Entry {
    fn as_str(self) -> &'static str {
        match self {
            Entry::Approval => "approval",
            Entry::Clawback => "clawback",
        }
    }
}

/// Books `amount` (signed minor units of the conversion's currency) for `c`'s affiliate.
pub fn append(conn: &Connection, c: &Conversion, entry: Entry, amount: i64, now: i64) -> Result<(), Error> {
    conn.prepare_cached(
        "INSERT INTO commission_ledger (conversion_id, affiliate_id, at, kind, amount, currency)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![c.id, c.affiliate_id, now, entry.as_str(), amount, c.currency.code()])?;
    Ok(())
}
