//! Payouts as the product's rules see them: a payout and the ledger entries it holds, their
//! statuses and transitions, and who qualifies in a payout run. Pure: no SQL, no clock.
//!
//! A payout is created `pending`, holding every payable ledger entry of its affiliate and
//! currency that no other live payout holds; it then becomes `paid` (the merchant sent the
//! money) or `cancelled` (its entries return to the available balance). Neither end changes.

use crate::error::Error;
use crate::tracking::money::{self, Currency};

/// A payout as stored: who is paid, how much, where, and where it stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Payout {
    pub id: i64,
    /// The run that made it (`payout_runs.id`) and that run's idempotency key.
    pub run: i64,
    pub run_id: Option<String>,
    pub affiliate_id: i64,
    pub referral_code: String,
    pub name: String,
    pub payout_email: Option<String>,
    pub payout_details: Option<String>,
    pub currency: Currency,
    pub amount: i64,
    pub status: Status,
    pub reference: Option<String>,
    pub created_at: i64,
    pub paid_at: Option<i64>,
    pub cancelled_at: Option<i64>,
}

/// A ledger entry a payout holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    pub seq: i64,
    pub kind: super::ledger::Kind,
    pub conversion_id: Option<i64>,
    /// The merchant's order ID (never shown to affiliates in full).
    pub external_id: Option<String>,
    pub amount: i64,
    pub at: i64,
}

/// What a payout's answer shows of its items: the first [`ITEMS_SHOWN`] in ledger order, how
/// many there are, and where the rest continue (a cursor for the payout's item pages).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ItemsShown {
    pub first: Vec<Item>,
    pub count: i64,
    pub next_cursor: Option<i64>,
}

/// How many of its items a payout's answer (and its `payout.paid` webhook) carries; the rest
/// are paged (`GET /api/v1/payouts/{id}/items`), so an answer stays small whatever the payout.
pub const ITEMS_SHOWN: usize = 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Status {
    Pending,
    Paid,
    Cancelled,
}

impl Status {
    pub const ALL: [Status; 3] = [Status::Pending, Status::Paid, Status::Cancelled];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Paid => "paid",
            Status::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Whether a payout in this status may become `to`: only a pending one moves, once.
    pub fn can_become(self, to: Status) -> bool {
        self == Status::Pending && to != Status::Pending
    }
}

/// Whether an affiliate whose payable entries add up to `available` gets a payout in a run
/// with `minimum`: at least the minimum, and more than nothing (a negative balance, left by a
/// claw-back after a payout, is carried until new commission covers it).
pub fn qualifies(available: i64, minimum: i64) -> bool {
    available > 0 && available >= minimum
}

/// The answer when a payout cannot make the transition asked for.
pub fn refused(id: i64, from: Status, to: Status) -> Error {
    Error::conflict(
        "invalid_status_transition",
        format!(
            "payout {id} is {}; only a pending payout can be {}",
            from.as_str(),
            if to == Status::Paid { "marked paid" } else { "cancelled" }
        ),
    )
}

/// A payment reference (a bank transfer ID, a PayPal batch ID): optional, short, one line.
pub fn check_reference(reference: &str) -> Result<(), Error> {
    if reference.chars().count() > 200 || reference.chars().any(char::is_control) {
        return Err(Error::invalid("reference", "must be at most 200 characters on one line"));
    }
    Ok(())
}

/// An idempotency key for a payout run.
pub fn check_run_id(run_id: &str) -> Result<(), Error> {
    if run_id.chars().count() > 128 || run_id.chars().any(char::is_control) {
        return Err(Error::invalid("run_id", "must be 1 to 128 characters without control characters"));
    }
    Ok(())
}

/// What a payout run was asked to do.
#[derive(Clone, Debug)]
pub struct Run {
    pub currency: Currency,
    /// Minor units of `currency`.
    pub minimum: i64,
    /// The caller's idempotency key.
    pub run_id: Option<String>,
}

impl Run {
    /// Reads a run request as every source sends it (the API's body, the admin's form): a
    /// currency code (required), the minimum in that currency's units (default 0) and an
    /// optional idempotency key.
    pub fn read(currency: Option<&str>, minimum: Option<&str>, run_id: Option<&str>) -> Result<Run, Error> {
        let currency = money::currency("currency", currency.ok_or_else(|| Error::missing("currency"))?)?;
        let minimum = match minimum {
            Some(text) => currency.parse(text).map_err(|e| Error::invalid("minimum", e))?,
            None => 0,
        };
        if let Some(id) = run_id {
            check_run_id(id)?;
        }
        Ok(Run { currency, minimum, run_id: run_id.map(String::from) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_pending_payouts_move_and_only_once() {
        for from in Status::ALL {
            for to in Status::ALL {
                assert_eq!(from.can_become(to), from == Status::Pending && to != Status::Pending, "{from:?} {to:?}");
            }
            assert_eq!(Status::parse(from.as_str()), Some(from));
        }
        assert_eq!(refused(3, Status::Paid, Status::Cancelled).code, "invalid_status_transition");
    }

    #[test]
    fn a_run_pays_positive_balances_at_or_above_the_minimum() {
        assert!(qualifies(5000, 5000));
        assert!(!qualifies(4999, 5000));
        assert!(qualifies(1, 0));
        assert!(!qualifies(0, 0), "nothing to pay");
        assert!(!qualifies(-250, -1000), "a negative balance is never paid out");
    }

    #[test]
    fn references_and_run_ids_are_short_single_lines() {
        assert!(check_reference("PAYPAL-BATCH-123").is_ok());
        assert_eq!(check_reference("a\nb").unwrap_err().code, "invalid_reference");
        assert_eq!(check_reference(&"x".repeat(201)).unwrap_err().code, "invalid_reference");
        assert!(check_run_id("2026-11").is_ok());
        assert_eq!(check_run_id(&"x".repeat(129)).unwrap_err().code, "invalid_run_id");
    }

    #[test]
    fn a_run_request_is_read_in_its_currencys_units() {
        let run = Run::read(Some("JPY"), Some("500"), Some("2026-11")).unwrap();
        assert_eq!((run.currency.code(), run.minimum, run.run_id.as_deref()), ("JPY", 500, Some("2026-11")));
        let run = Run::read(Some("EUR"), None, None).unwrap();
        assert_eq!((run.minimum, run.run_id), (0, None));
        assert_eq!(Run::read(Some("EUR"), Some("12.50"), None).unwrap().minimum, 1250);
        let code = |c, m, r| Run::read(c, m, r).unwrap_err().code;
        assert_eq!(code(None, Some("1"), None), "missing_currency");
        assert_eq!(code(Some("XXY"), None, None), "invalid_currency");
        assert_eq!(code(Some("JPY"), Some("0.5"), None), "invalid_minimum");
        assert_eq!(code(Some("EUR"), None, Some("a\nb")), "invalid_run_id");
    }
}
