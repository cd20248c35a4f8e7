//! Conversions as the product's rules see them: where a report came from, the value every source
//! maps its input to ([`NewConversion`]), the stored record ([`Conversion`]) and the rules of
//! change: which status transitions exist, what a refund does to the money, and when one report
//! replaces another. Pure: no SQL, no HTTP, no clock.

use super::attribution::{Key, Keys};
use super::commission;
use super::fraud::Flag;
use super::money::Currency;
pub use super::refusal::{Reason, Refusal};
use super::validate;
use crate::error::Error;

/// A conversion's status. `pending` is the only state a decision leaves; a refund of everything
/// ends in `refunded`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Status {
    Pending,
    Approved,
    Rejected,
    Refunded,
}

impl Status {
    pub const ALL: [Status; 4] = [Status::Pending, Status::Approved, Status::Rejected, Status::Refunded];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Approved => "approved",
            Status::Rejected => "rejected",
            Status::Refunded => "refunded",
        }
    }

    pub fn parse(text: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Whether a merchant (or a rule) may still approve or reject it.
    pub fn is_open(self) -> bool {
        self == Status::Pending
    }

    /// Whether money can still be refunded on it.
    pub fn is_refundable(self) -> bool {
        matches!(self, Status::Pending | Status::Approved)
    }

    /// Whether a conversion in this status counts in the figures, as a conversion and with its
    /// amount as revenue: every status but `rejected` (a refunded one counts with what is left).
    pub fn counts(self) -> bool {
        self != Status::Rejected
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// A change of a conversion, as its history records it and its affiliate's postback names it
/// (`{event}`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Change {
    Created,
    Approved,
    Rejected,
    Refunded,
    /// A server-side report took over the pixel's version of the order.
    Replaced,
}

impl Change {
    pub const ALL: [Change; 5] =
        [Change::Created, Change::Approved, Change::Rejected, Change::Refunded, Change::Replaced];

    pub fn as_str(self) -> &'static str {
        match self {
            Change::Created => "created",
            Change::Approved => "approved",
            Change::Rejected => "rejected",
            Change::Refunded => "refunded",
            Change::Replaced => "replaced",
        }
    }

    pub fn parse(text: &str) -> Option<Change> {
        Change::ALL.into_iter().find(|c| c.as_str() == text)
    }

    /// The change a decision makes (`to` is `Approved` or `Rejected`).
    pub fn of_decision(to: Status) -> Change {
        if to == Status::Approved { Change::Approved } else { Change::Rejected }
    }
}

/// Conversions counted per status (the overview's and the portal's days and totals).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ByStatus([i64; 4]);

impl ByStatus {
    pub fn add(&mut self, status: Status, conversions: i64) {
        self.0[status.index()] += conversions;
    }

    pub fn of(&self, status: Status) -> i64 {
        self.0[status.index()]
    }

    /// The conversions that count ([`Status::counts`]).
    pub fn counted(&self) -> i64 {
        Status::ALL.into_iter().filter(|s| s.counts()).map(|s| self.of(s)).sum()
    }
}

/// Where a conversion was reported from. Everything but the pixel is a server-to-server report,
/// which the merchant's own systems (or a platform acting for them) sign or authenticate; the
/// pixel runs in a visitor's browser, where anyone can fire it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    Api,
    Postback,
    Pixel,
    Lead,
    Admin,
    Stripe,
    Shopify,
    WooCommerce,
    Paddle,
    TrackingApi,
}

impl Source {
    pub const ALL: [Source; 10] = [
        Source::Api,
        Source::Postback,
        Source::Pixel,
        Source::Lead,
        Source::Admin,
        Source::Stripe,
        Source::Shopify,
        Source::WooCommerce,
        Source::Paddle,
        Source::TrackingApi,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Source::Api => "api",
            Source::Postback => "postback",
            Source::Pixel => "pixel",
            Source::Lead => "lead",
            Source::Admin => "admin",
            Source::Stripe => "stripe",
            Source::Shopify => "shopify",
            Source::WooCommerce => "woocommerce",
            Source::Paddle => "paddle",
            Source::TrackingApi => "tracking_api",
        }
    }

    pub fn parse(text: &str) -> Option<Source> {
        Source::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Whether the report comes from a server the merchant controls (authoritative), rather than
    /// from a visitor's browser.
    pub fn is_server_side(self) -> bool {
        self != Source::Pixel
    }

    /// The name of the amount field in what this source sends, for error codes
    /// (`invalid_amount`, `invalid_value` for leads, `invalid_leadValue` for AFFY's payment leads).
    pub fn amount_field(self) -> &'static str {
        match self {
            Source::Lead => "value",
            Source::TrackingApi => "leadValue",
            _ => "amount",
        }
    }

    /// The name of the customer's e-mail field in what this source sends, for error codes
    /// (`invalid_customer_email`, `invalid_customerEmail` for AFFY's calls).
    pub fn email_field(self) -> &'static str {
        match self {
            Source::TrackingApi => "customerEmail",
            _ => "customer_email",
        }
    }
}

/// Which rate priced a conversion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RateSource {
    Offer,
    AffiliateOverride,
    EventType,
}

impl RateSource {
    pub fn as_str(self) -> &'static str {
        match self {
            RateSource::Offer => "offer",
            RateSource::AffiliateOverride => "affiliate_override",
            RateSource::EventType => "event_type",
        }
    }

    pub fn parse(text: &str) -> Option<RateSource> {
        [RateSource::Offer, RateSource::AffiliateOverride, RateSource::EventType]
            .into_iter()
            .find(|r| r.as_str() == text)
    }
}

/// A conversion as reported, before attribution and pricing: what every source (the API,
/// postback dialects, the pixel, leads, connectors) maps its input to.
#[derive(Clone, Debug)]
pub struct NewConversion {
    /// The merchant's order ID: one order, one conversion.
    pub external_id: String,
    /// `sale`, `lead`, ...
    pub kind: String,
    /// The amount as sent, already checked to be a plain decimal; its scale depends on the
    /// currency, which may come from the offer, so it is parsed when the conversion is priced.
    /// `None` when the source sent none: a flat commission needs none, a percentage does.
    pub amount: Option<String>,
    pub currency: Option<Currency>,
    pub keys: Keys,
    pub source: Source,
    /// Who reported it, for the change log (e.g. `api_key:3`).
    pub actor: String,
    /// Test data (a test key, or marked as test): never counts in money figures.
    pub test: bool,
    /// The customer's e-mail when the source knows it, for the `self_referral` rule only (it is
    /// not stored with the conversion).
    pub customer_email: Option<String>,
    /// What the reporting network or platform says about the sale besides its money.
    pub details: Details,
    /// It earns only a rate set for its type, never the offer's general one (a registration
    /// lead earns the offer's `lead` rate, or nothing).
    pub type_rate_only: bool,
}

/// What a network or platform reports about a sale besides its money and attribution.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Details {
    /// A TUNE/HasOffers goal (`goal_id`).
    pub goal: Option<String>,
    /// FlexOffers' `geo`: the buyer's country.
    pub geo: Option<String>,
    /// FlexOffers' `commissionid`.
    pub commission_id: Option<String>,
}

impl Details {
    /// The longest value kept of each detail.
    pub const MAX_LEN: usize = 64;
}

impl NewConversion {
    /// The checks every report passes before anything is looked up, whatever its source.
    pub fn check(&self) -> Result<(), Refusal> {
        let invalid = |field: &str, e: String| Refusal::rejected(Error::invalid(field, e));
        for email in [&self.customer_email, &self.keys.email].into_iter().flatten() {
            validate::email(email).map_err(|e| invalid(self.source.email_field(), e))?;
        }
        validate::external_id(&self.external_id).map_err(|e| invalid("external_id", e))?;
        validate::conversion_type(&self.kind).map_err(|e| invalid("type", e))?;
        for (field, value) in [("customer_id", &self.keys.customer_id), ("session_id", &self.keys.session_id)] {
            if let Some(v) = value {
                validate::external_id(v).map_err(|e| invalid(field, e))?;
            }
        }
        if self.keys.is_empty() {
            return Err(Refusal::unattributed(match self.source {
                Source::TrackingApi => Error::bad_request(
                    "missing_attribution",
                    "send sessionId or clickId, or the customerEmail of a customer registered before",
                ),
                _ => missing_attribution(),
            }));
        }
        Ok(())
    }

    /// The amount in minor units of `currency`; `needed` says whether the commission depends on
    /// it (a percentage). A missing amount is zero when it is not needed.
    pub fn amount_in(&self, currency: Currency, needed: bool) -> Result<i64, Error> {
        match &self.amount {
            Some(text) => currency.parse(text).map_err(|e| Error::invalid(self.source.amount_field(), e)),
            None if needed => Err(Error::bad_request(
                "missing_amount",
                format!(
                    "`{}` is required: the offer pays a percentage of it (send 0 for a conversion worth nothing)",
                    self.source.amount_field()
                ),
            )),
            None => Ok(0),
        }
    }
}

/// The one answer for a report that names nothing to attribute it by.
pub fn missing_attribution() -> Error {
    Error::bad_request(
        "missing_attribution",
        "send one of click_id, coupon, customer_id or session_id so the conversion can be attributed",
    )
}

/// A stored conversion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conversion {
    pub id: i64,
    pub external_id: String,
    pub kind: String,
    pub affiliate_id: i64,
    pub referral_code: String,
    pub offer: String,
    pub click_id: Option<String>,
    pub customer_id: Option<String>,
    pub coupon: Option<String>,
    pub attributed_by: Key,
    pub source: Source,
    pub currency: Currency,
    pub amount: i64,
    pub refunded_amount: i64,
    /// The commission as first computed; refunds scale it down to `commission`.
    pub base_commission: i64,
    pub commission: i64,
    pub status: Status,
    pub created_at: i64,
    pub updated_at: i64,
    pub test: bool,
    /// The fraud rules it tripped (empty when none).
    pub flags: Vec<Flag>,
    /// Which rate priced it.
    pub rate_source: RateSource,
    pub details: Details,
}

impl Conversion {
    /// The amount not refunded.
    pub fn remaining(&self) -> i64 {
        self.amount - self.refunded_amount
    }

    /// The commission it credits the affiliate now: `commission` (already cut by refunds), or
    /// nothing once rejected, which keeps `commission` only as what it would have earned.
    pub fn credited_commission(&self) -> i64 {
        if self.status == Status::Rejected { 0 } else { self.commission }
    }
}

/// Whether a report from `incoming` takes over the stored conversion of the same order: a
/// server-side report is authoritative over one that only the pixel made, as long as no money
/// moved on the pixel's version (nothing refunded). Anything else is a duplicate.
pub fn replaces(stored: &Conversion, incoming: Source) -> bool {
    stored.source == Source::Pixel
        && incoming.is_server_side()
        && stored.refunded_amount == 0
        && stored.status != Status::Refunded
}

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
pub(crate) mod tests {
    use super::*;

    /// A conversion attributed by coupon, for tests here and in other rules' modules.
    pub(crate) fn conversion(amount: i64, commission: i64, status: Status) -> Conversion {
        Conversion {
            id: 7,
            external_id: "o-7".into(),
            kind: "sale".into(),
            affiliate_id: 1,
            referral_code: "ann".into(),
            offer: "main".into(),
            click_id: None,
            customer_id: None,
            coupon: None,
            attributed_by: Key::Coupon,
            source: Source::Api,
            currency: Currency::from_code("USD").unwrap(),
            amount,
            refunded_amount: 0,
            base_commission: commission,
            commission,
            status,
            created_at: 0,
            updated_at: 0,
            test: false,
            flags: Vec::new(),
            rate_source: RateSource::Offer,
            details: Details::default(),
        }
    }

    #[test]
    fn a_rejected_conversion_credits_no_commission() {
        for status in Status::ALL {
            let c = conversion(10_000, 1_000, status);
            assert_eq!(c.credited_commission(), if status == Status::Rejected { 0 } else { 1_000 }, "{status:?}");
        }
    }

    #[test]
    fn names_round_trip() {
        for s in Status::ALL {
            assert_eq!(Status::parse(s.as_str()), Some(s));
        }
        for s in Source::ALL {
            assert_eq!(Source::parse(s.as_str()), Some(s));
        }
        assert_eq!(Status::parse("Pending"), None);
        assert_eq!(Source::parse(""), None);
    }

    #[test]
    fn only_pending_conversions_are_decided_and_only_live_ones_refunded() {
        assert!(Status::Pending.is_open());
        assert!(Status::ALL.iter().filter(|s| s.is_open()).count() == 1);
        assert!(Status::Approved.is_refundable() && Status::Pending.is_refundable());
        assert!(!Status::Rejected.is_refundable() && !Status::Refunded.is_refundable());
    }

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

    #[test]
    fn only_server_side_reports_replace_and_only_an_untouched_pixel_conversion() {
        let mut pixel = conversion(500_000, 50_000, Status::Pending);
        pixel.source = Source::Pixel;
        for incoming in Source::ALL {
            assert_eq!(replaces(&pixel, incoming), incoming != Source::Pixel, "{incoming:?}");
        }
        let api = conversion(500_000, 50_000, Status::Pending);
        assert!(!replaces(&api, Source::Postback), "a server-side report is never replaced");
        pixel.refunded_amount = 1;
        assert!(!replaces(&pixel, Source::Api), "money moved on the pixel's version");
    }

    #[test]
    fn missing_amounts_are_zero_unless_a_percentage_needs_them() {
        let usd = Currency::from_code("USD").unwrap();
        let mut new = NewConversion {
            external_id: "o".into(),
            kind: "sale".into(),
            amount: None,
            currency: None,
            keys: Keys { click_id: Some("c".into()), ..Keys::default() },
            source: Source::Postback,
            actor: "postback".into(),
            test: false,
            customer_email: None,
            details: Default::default(),
            type_rate_only: false,
        };
        assert_eq!(new.amount_in(usd, false).unwrap(), 0);
        assert_eq!(new.amount_in(usd, true).unwrap_err().code, "missing_amount");
        new.amount = Some("0".into());
        assert_eq!(new.amount_in(usd, true).unwrap(), 0, "an explicit 0 is an amount");
        new.amount = Some("1.234".into());
        assert_eq!(new.amount_in(usd, true).unwrap_err().code, "invalid_amount");
        new.source = Source::Lead;
        assert_eq!(new.amount_in(usd, true).unwrap_err().code, "invalid_value");
    }

    #[test]
    fn every_status_but_rejected_counts() {
        let counted: Vec<Status> = Status::ALL.into_iter().filter(|s| s.counts()).collect();
        assert_eq!(counted, [Status::Pending, Status::Approved, Status::Refunded]);
        let mut by = ByStatus::default();
        for (status, n) in [(Status::Approved, 3), (Status::Rejected, 2), (Status::Refunded, 1), (Status::Approved, 1)]
        {
            by.add(status, n);
        }
        assert_eq!((by.of(Status::Approved), by.of(Status::Pending), by.of(Status::Rejected)), (4, 0, 2));
        assert_eq!(by.counted(), 5);
        for (i, s) in Status::ALL.into_iter().enumerate() {
            assert_eq!(s.index(), i, "ByStatus is indexed by the order of Status::ALL");
        }
    }

    #[test]
    fn reports_are_checked_before_any_lookup() {
        let mut new = NewConversion {
            external_id: "o".into(),
            kind: "sale".into(),
            amount: Some("1".into()),
            currency: None,
            keys: Keys::default(),
            source: Source::Api,
            actor: "t".into(),
            test: false,
            customer_email: None,
            details: Default::default(),
            type_rate_only: false,
        };
        assert_eq!(new.check().unwrap_err().code, "missing_attribution");
        new.keys.coupon = Some("X".into());
        assert!(new.check().is_ok());
        new.kind = "Sale".into();
        assert_eq!(new.check().unwrap_err().code, "invalid_type");
        new.kind = "sale".into();
        new.external_id = " ".into();
        assert_eq!(new.check().unwrap_err().code, "invalid_external_id");
    }

    #[test]
    fn a_customers_email_is_checked_whatever_the_source_under_the_name_it_sent() {
        let report = crate::tracking::postback::Report {
            external_id: Some("o".into()),
            keys: Keys { click_id: Some("c".into()), ..Keys::default() },
            ..Default::default()
        };
        let mut new = crate::tracking::postback::conversion(report, Source::Api, "t").unwrap();
        new.customer_email = Some("no-at-sign".into());
        assert_eq!(new.check().unwrap_err().code, "invalid_customer_email");
        new.source = Source::TrackingApi;
        assert_eq!(new.check().unwrap_err().code, "invalid_customerEmail");
        new.customer_email = Some("jo@shop.example".into());
        assert!(new.check().is_ok());
        new.keys = Keys { email: Some("jo@".into()), ..Keys::default() };
        assert_eq!(new.check().unwrap_err().code, "invalid_customerEmail", "the e-mail that attributes, too");
        new.keys.email = None;
        let refusal = new.check().unwrap_err();
        assert_eq!(refusal.code, "missing_attribution");
        assert!(refusal.message.contains("sessionId"), "AFFY's callers are told in AFFY's names: {refusal:?}");
    }
}
