//! Conversions as the product's rules see them: where a report came from, the value every source
//! maps its input to ([`NewConversion`]), the stored record ([`Conversion`]) and the rules of
//! change: which status transitions exist, what a refund does to the money, and when one report
//! replaces another. Pure: no SQL, no HTTP, no clock.

use super::attribution::{Key, Keys};
use super::fraud::Flag;
use super::money::Currency;
pub use super::refund::{PlatformRefund, Refund, RefundAmount, RefundRefusal, RefundRequest, plan_refund};
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
