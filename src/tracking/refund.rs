//! Refunds as the product's rules see them: how much a refund asks for (all, a part with its own
//! ID, or a platform's refund of a payment that may include tax and shipping), and what it does
//! to a conversion's amount, commission and status (`plan_refund`). Pure: no SQL, no HTTP, no
//! clock. `conversion.rs` re-exports these, beside the conversion they change.

use super::commission;
use super::conversion::{Conversion, Status};
use super::money::Currency;
use crate::error::Error;

/// How much a refund asks for.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum RefundAmount {
    /// Everything not refunded yet.
    All,
    /// This much (a decimal in the conversion's currency).
    Part(String),
    /// Whatever brings the total refunded up to this much (platforms that report a running
    /// total, such as Stripe's `amount_refunded`): naturally idempotent.
    UpTo(String),
    /// A shop platform's refund, measured in what the platform paid (see [`PlatformRefund`]).
    Platform(PlatformRefund),
}

/// A refund as a shop platform reports it, in minor units of its currency. Platforms refund
/// money that may also have paid tax and shipping, while a conversion's amount is the items
/// alone: with `paid` (the money the refunded payment took), the refund takes the same share of
/// the conversion's amount (half the payment back, half the amount refunded); without it,
/// `refunded` is on the conversion's own basis already. `running_total` says `refunded` is
/// everything refunded so far (Stripe's `amount_refunded`) rather than this refund alone.
/// A platform cannot be asked to send a smaller refund, so one that asks for more than is
/// left refunds what is left.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PlatformRefund {
    pub currency: Currency,
    pub refunded: i64,
    pub paid: Option<i64>,
    pub running_total: bool,
}

impl PlatformRefund {
    /// Minor units of `c` to refund now: `None` for everything left, `Some(0)` for nothing
    /// (a running total reached already, or a refund of nothing).
    pub fn requested(&self, c: &Conversion) -> Result<Option<i64>, RefundRefusal> {
        if self.currency != c.currency {
            return Err(RefundRefusal::Currency(self.currency));
        }
        let refunded = self.refunded.max(0);
        let share = match self.paid {
            Some(paid) if paid > 0 => commission::mul_div_round_half_up(refunded.min(paid), c.amount, paid),
            _ => refunded,
        }
        .min(c.amount);
        let now = if self.running_total { share - c.refunded_amount } else { share };
        Ok(if now <= 0 {
            Some(0)
        } else if now >= c.remaining() {
            None
        } else {
            Some(now)
        })
    }
}

/// A refund as asked for, by the API or a connector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefundRequest {
    pub amount: RefundAmount,
    /// The shop's own ID of the refund: the same ID twice refunds once.
    pub refund_id: Option<String>,
}

impl RefundRequest {
    /// A partial refund must name itself, so that a retry cannot refund twice; a full refund
    /// cannot happen twice anyway.
    pub fn check(&self) -> Result<(), Error> {
        if let Some(id) = &self.refund_id
            && (id.trim().is_empty() || id.chars().count() > 128 || id.chars().any(char::is_control))
        {
            return Err(Error::invalid("refund_id", "must be 1 to 128 characters without control characters"));
        }
        if matches!(self.amount, RefundAmount::Part(_)) && self.refund_id.is_none() {
            return Err(Error::bad_request(
                "missing_refund_id",
                "a partial refund needs `refund_id`, your own ID of the refund, so that retrying it cannot refund twice",
            ));
        }
        Ok(())
    }
}

/// What a refund does to a conversion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refund {
    /// Minor units refunded now.
    pub amount: i64,
    /// The commission afterwards.
    pub commission: i64,
    /// The status afterwards: `refunded` once nothing is left.
    pub status: Status,
}

impl Refund {
    /// Commission taken back by this refund.
    pub fn taken_back(&self, before: &Conversion) -> i64 {
        before.commission - self.commission
    }
}

/// Plans a refund of `requested` minor units (`None`: everything left) of `c`. The commission
/// shrinks in proportion to what remains of the amount; a refund of everything leaves none.
/// `Ok(None)` when a full refund finds nothing left to refund (it happened already).
pub fn plan_refund(c: &Conversion, requested: Option<i64>) -> Result<Option<Refund>, RefundRefusal> {
    if !c.status.is_refundable() {
        if c.status == Status::Refunded && requested.is_none() {
            return Ok(None);
        }
        return Err(RefundRefusal::Status(c.status));
    }
    let remaining = c.remaining();
    let amount = requested.unwrap_or(remaining);
    if amount <= 0 && remaining > 0 {
        return Err(RefundRefusal::NotPositive);
    }
    if amount > remaining {
        return Err(RefundRefusal::MoreThanLeft(remaining));
    }
    let left = remaining - amount;
    let commission = if left == 0 { 0 } else { commission::after_refund(c.base_commission, c.amount, left) };
    let status = if left == 0 { Status::Refunded } else { c.status };
    Ok(Some(Refund { amount, commission, status }))
}

/// Why a refund cannot be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefundRefusal {
    /// The conversion is rejected (or already refunded, for a partial refund).
    Status(Status),
    NotPositive,
    /// More than the given minor units, which is what is left, was asked for.
    MoreThanLeft(i64),
    /// The refund ID was used before for another amount (given in minor units).
    RefundIdReused(i64),
    /// A platform refunded money in this currency, not the conversion's.
    Currency(Currency),
}

impl RefundRefusal {
    pub fn error(self, c: &Conversion) -> Error {
        match self {
            RefundRefusal::Status(status) => Error::conflict(
                "invalid_status_transition",
                format!(
                    "conversion {} is {}; only pending or approved conversions can be refunded",
                    c.id,
                    status.as_str()
                ),
            ),
            RefundRefusal::NotPositive => Error::invalid("amount", "must be more than zero"),
            RefundRefusal::MoreThanLeft(left) => Error::invalid(
                "amount",
                format!("is more than the {} {} left to refund", c.currency.format(left), c.currency),
            ),
            RefundRefusal::RefundIdReused(amount) => Error::conflict(
                "refund_id_conflict",
                format!(
                    "this refund_id already refunded {} {} of conversion {}; use a new refund_id for another refund",
                    c.currency.format(amount),
                    c.currency,
                    c.id
                ),
            ),
            RefundRefusal::Currency(currency) => Error::conflict(
                "currency_mismatch",
                format!("the refund is in {currency}, conversion {} in {}", c.id, c.currency),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tracking::conversion::tests::conversion;

    #[test]
    fn partial_refunds_shrink_the_commission_and_the_last_one_ends_it() {
        let mut c = conversion(10_000, 1_000, Status::Approved);
        let r = plan_refund(&c, Some(4_000)).unwrap().unwrap();
        assert_eq!(r, Refund { amount: 4_000, commission: 600, status: Status::Approved });
        assert_eq!(r.taken_back(&c), 400);
        c.refunded_amount = 4_000;
        c.commission = 600;
        assert_eq!(plan_refund(&c, Some(6_001)), Err(RefundRefusal::MoreThanLeft(6_000)));
        assert_eq!(plan_refund(&c, Some(0)), Err(RefundRefusal::NotPositive));
        let all = plan_refund(&c, None).unwrap().unwrap();
        assert_eq!(all, Refund { amount: 6_000, commission: 0, status: Status::Refunded });
    }

    #[test]
    fn a_full_refund_of_a_refunded_conversion_changes_nothing_and_rejected_ones_refuse() {
        let mut c = conversion(10_000, 1_000, Status::Refunded);
        c.refunded_amount = 10_000;
        assert_eq!(plan_refund(&c, None), Ok(None));
        assert_eq!(plan_refund(&c, Some(1)), Err(RefundRefusal::Status(Status::Refunded)));
        let rejected = conversion(10_000, 1_000, Status::Rejected);
        assert_eq!(plan_refund(&rejected, None), Err(RefundRefusal::Status(Status::Rejected)));
        assert_eq!(RefundRefusal::Status(Status::Rejected).error(&rejected).code, "invalid_status_transition");
    }

    #[test]
    fn partial_refunds_need_their_own_id() {
        let part = |id: Option<&str>| RefundRequest {
            amount: RefundAmount::Part("5.00".into()),
            refund_id: id.map(String::from),
        };
        assert_eq!(part(None).check().unwrap_err().code, "missing_refund_id");
        assert!(part(Some("re_1")).check().is_ok());
        assert_eq!(part(Some(" ")).check().unwrap_err().code, "invalid_refund_id");
        assert_eq!(part(Some(&"x".repeat(129))).check().unwrap_err().code, "invalid_refund_id");
        assert!(part(Some(&"x".repeat(128))).check().is_ok());
        let all = RefundRequest { amount: RefundAmount::All, refund_id: None };
        assert!(all.check().is_ok(), "a full refund is idempotent without one");
    }

    #[test]
    fn platform_refunds_take_the_share_of_the_payment_and_never_more_than_is_left() {
        let usd = Currency::from_code("USD").unwrap();
        let mut c = conversion(10_000, 1_000, Status::Approved);
        // A payment of 119.00 (tax included) for items of 100.00: half of it back is 50.00.
        let half = PlatformRefund { currency: usd, refunded: 5_950, paid: Some(11_900), running_total: false };
        assert_eq!(half.requested(&c), Ok(Some(5_000)));
        // Stripe's running total: the second event with the same total refunds nothing more.
        let total = PlatformRefund { running_total: true, ..half };
        assert_eq!(total.requested(&c), Ok(Some(5_000)));
        c.refunded_amount = 5_000;
        assert_eq!(total.requested(&c), Ok(Some(0)));
        let all = PlatformRefund { refunded: 11_900, ..total };
        assert_eq!(all.requested(&c), Ok(None), "the whole payment refunds everything left");
        // On the conversion's own basis, capped at what is left.
        let plain = PlatformRefund { currency: usd, refunded: 7_000, paid: None, running_total: false };
        assert_eq!(plain.requested(&c), Ok(None));
        assert_eq!(PlatformRefund { refunded: 0, ..plain }.requested(&c), Ok(Some(0)));
        let eur = PlatformRefund { currency: Currency::from_code("EUR").unwrap(), ..plain };
        assert_eq!(eur.requested(&c), Err(RefundRefusal::Currency(eur.currency)));
        assert_eq!(RefundRefusal::Currency(eur.currency).error(&c).code, "currency_mismatch");
    }

    #[test]
    fn a_zero_amount_lead_can_be_refunded_in_full() {
        let lead = conversion(0, 250, Status::Pending);
        assert_eq!(plan_refund(&lead, None), Ok(Some(Refund { amount: 0, commission: 0, status: Status::Refunded })));
    }
}
