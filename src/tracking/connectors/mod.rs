//! Shop connectors: webhooks from Stripe, Shopify, WooCommerce and Paddle, checked and read the
//! way each platform documents them, and mapped to the domain's actions: record a conversion
//! ([`Order`]), tie a customer to an affiliate ([`Tie`]), refund ([`Refund`]), or nothing
//! ([`What::Ignored`]). One file per platform holds its signature check and its mapping; the
//! HMAC and header parsing they share live in `signature.rs`.
//!
//! Pure: no SQL, no HTTP, no clock (the time to check signatures against is passed in). What an
//! action does to the books is decided by `intake::hooks`, on the writer.
//!
//! Customer IDs from platforms are namespaced with the connector's name (`stripe:cus_123`,
//! `shopify:4567`), so they can never collide with the merchant's own customer IDs or with
//! another platform's. Amounts are minor units of the platform's currency.

mod json;
pub mod paddle;
pub mod shopify;
pub mod signature;
pub mod stripe;
pub mod woocommerce;

use serde::{Deserialize, Serialize};

pub use json::unreadable;
use json::{currency, decimal, id_of, items, json_body, minor, required, text};
pub use signature::SignatureError;

use super::attribution::Keys;
use super::conversion::{NewConversion, RefundAmount, RefundRequest, Source};
use super::customer::NewCustomer;
use super::money::Currency;
use crate::error::Error;

/// The shortest signing secret accepted: every platform generates longer ones, and a short one
/// typed by hand can be guessed.
pub const MIN_SECRET: usize = 16;
/// The longest signing secret accepted.
pub const MAX_SECRET: usize = 512;

/// How long a held event waits for what it needs (its customer's tie, its order).
pub const HOLD_MS: i64 = 24 * 3600 * 1000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Connector {
    Stripe,
    Shopify,
    WooCommerce,
    Paddle,
}

impl Connector {
    pub const ALL: [Connector; 4] = [Connector::Stripe, Connector::Shopify, Connector::WooCommerce, Connector::Paddle];

    /// The name in URLs (`/hooks/stripe`), the API and the database.
    pub fn name(self) -> &'static str {
        self.source().as_str()
    }

    pub fn parse(name: &str) -> Option<Connector> {
        Connector::ALL.into_iter().find(|c| c.name() == name)
    }

    /// The platform's name as merchants write it.
    pub fn title(self) -> &'static str {
        match self {
            Connector::Stripe => "Stripe",
            Connector::Shopify => "Shopify",
            Connector::WooCommerce => "WooCommerce",
            Connector::Paddle => "Paddle",
        }
    }

    /// The source its conversions are recorded with.
    pub fn source(self) -> Source {
        match self {
            Connector::Stripe => Source::Stripe,
            Connector::Shopify => Source::Shopify,
            Connector::WooCommerce => Source::WooCommerce,
            Connector::Paddle => Source::Paddle,
        }
    }

    /// Checks the delivery's signature against `secret` at `now` (Unix seconds).
    pub fn verify(self, delivery: &Delivery<'_>, secret: &str, now: i64) -> Result<(), SignatureError> {
        match self {
            Connector::Stripe => stripe::verify(delivery, secret, now),
            Connector::Shopify => shopify::verify(delivery, secret),
            Connector::WooCommerce => woocommerce::verify(delivery, secret),
            Connector::Paddle => paddle::verify(delivery, secret, now),
        }
    }

    /// Reads a delivery whose signature was checked.
    pub fn map(self, delivery: &Delivery<'_>) -> Mapped {
        match self {
            Connector::Stripe => stripe::map(delivery),
            Connector::Shopify => shopify::map(delivery),
            Connector::WooCommerce => woocommerce::map(delivery),
            Connector::Paddle => paddle::map(delivery),
        }
    }

    /// The signing secret to verify with, from what the merchant gave (the API or the
    /// environment), or why it cannot be one. The rule, the same for every platform: 16 to 512
    /// characters, any printable ones, spaces included, and not one of the platform's API keys
    /// (which would then sit in a config file or the database for nothing).
    ///
    /// Surrounding whitespace is trimmed only where the platform's own secrets never have any,
    /// so it can only be a copy-and-paste artefact: Stripe (`whsec_` and base64), Shopify (hex)
    /// and Paddle (`pdl_ntfset_…`). WooCommerce signs with its secret exactly as stored, and the
    /// secret it generates when the field is left empty (`wp_generate_password(50, true, true)`)
    /// draws from an alphabet with a space in it, at either end too: it is kept byte for byte.
    pub fn signing_secret(self, given: &str) -> Result<String, String> {
        let secret = match self {
            Connector::WooCommerce => given,
            Connector::Stripe | Connector::Shopify | Connector::Paddle => given.trim(),
        };
        let api_key = match self {
            Connector::Stripe => ["sk_", "rk_", "pk_"].iter().any(|p| secret.starts_with(p)),
            Connector::Paddle => secret.contains("_apikey_"),
            Connector::Shopify => secret.starts_with("shpat_"),
            Connector::WooCommerce => secret.starts_with("ck_") || secret.starts_with("cs_"),
        };
        if api_key {
            return Err(format!(
                "looks like a {} API key; use the webhook signing secret (see docs/connectors.md)",
                self.title()
            ));
        }
        let length = secret.chars().count();
        if !(MIN_SECRET..=MAX_SECRET).contains(&length) || secret.chars().any(char::is_control) {
            return Err(format!(
                "must be {MIN_SECRET} to {MAX_SECRET} printable characters (spaces are allowed; it has {length}): \
                 copy the platform's webhook signing secret whole"
            ));
        }
        Ok(secret.to_string())
    }

    /// A platform's customer ID as affiliated stores it: `stripe:cus_123`.
    pub fn customer(self, id: &str) -> String {
        format!("{}:{id}", self.name())
    }
}

/// A webhook as received: the platform's headers (names in lower case) and the raw body.
#[derive(Clone, Copy, Debug)]
pub struct Delivery<'a> {
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

impl Delivery<'_> {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim()).filter(|v| !v.is_empty())
    }
}

/// What a webhook says.
#[derive(Clone, Debug)]
pub struct Mapped {
    /// The platform's event or delivery ID.
    pub event_id: Option<String>,
    /// The platform's event type or topic (`unknown` when the body said none).
    pub event_type: String,
    /// The platform's test-mode flag (Stripe's `livemode: false`, a Shopify test order), where
    /// it has one.
    pub test: Option<bool>,
    pub what: What,
}

impl Mapped {
    /// A body that could not even say which event it is.
    fn unreadable(e: Error) -> Mapped {
        Mapped { event_id: None, event_type: "unknown".into(), test: None, what: What::Unreadable(e) }
    }
}

#[derive(Clone, Debug)]
pub enum What {
    /// Nothing to record, and why (an event type or status affiliated does not count).
    Ignored(&'static str),
    /// The body is not what the platform documents for this event (`invalid_payload`).
    Unreadable(Error),
    Actions(Vec<Action>),
}

/// One thing a webhook asks for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Action {
    Order(Order),
    Tie(Tie),
    Refund(Refund),
}

impl Action {
    /// What it acts on, as the hook log names it.
    pub fn kind(&self) -> &'static str {
        match self {
            Action::Order(_) => "conversion",
            Action::Tie(_) => "tie",
            Action::Refund(_) => "refund",
        }
    }

    /// The platform's ID of the object (order, payment, checkout, refund).
    pub fn reference(&self) -> &str {
        match self {
            Action::Order(o) => &o.external_id,
            Action::Tie(t) => &t.reference,
            Action::Refund(r) => &r.reference,
        }
    }
}

/// A paid order: one conversion.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub external_id: String,
    /// Minor units of `currency`: the items after discounts, without shipping and tax.
    pub amount: i64,
    pub currency: Currency,
    pub click_id: Option<String>,
    /// Codes typed at checkout, in the order given; the first that is an affiliate's coupon counts.
    pub coupons: Vec<String>,
    /// The platform's customer, namespaced.
    pub customer_id: Option<String>,
    /// When nothing attributes it yet, wait for the customer to be tied (a Stripe invoice that
    /// arrives before the checkout of its subscription).
    pub waits_for_customer: bool,
}

impl Order {
    /// The conversion to record, attributed by `coupon` (the one of [`Order::coupons`] to use);
    /// `test` when the platform sent it in its test mode.
    pub fn conversion(&self, coupon: Option<String>, source: Source, test: bool) -> NewConversion {
        NewConversion {
            external_id: self.external_id.clone(),
            kind: "sale".into(),
            amount: Some(self.currency.format(self.amount)),
            currency: Some(self.currency),
            keys: Keys {
                click_id: self.click_id.clone(),
                coupon,
                customer_id: self.customer_id.clone(),
                ..Keys::default()
            },
            source,
            actor: source.as_str().into(),
            test,
            customer_email: None,
            details: Default::default(),
            type_rate_only: false,
        }
    }
}

/// A platform customer to tie to the affiliate a click names (a Stripe subscription checkout).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tie {
    pub customer_id: String,
    pub click_id: String,
    /// The checkout that made the tie.
    pub reference: String,
}

impl Tie {
    /// The customer to tie; `test` when the platform sent it in its test mode.
    pub fn new_customer(&self, test: bool) -> NewCustomer {
        NewCustomer {
            customer_id: self.customer_id.clone(),
            keys: Keys { click_id: Some(self.click_id.clone()), ..Keys::default() },
            email: None,
            name: None,
            test,
        }
    }
}

/// A refund of the conversion recorded for one of `orders` (the first that exists).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refund {
    /// External IDs of the conversion it may belong to (a Stripe charge names its payment and
    /// maybe its invoice).
    pub orders: Vec<String>,
    /// The platform's ID of this refund, when each refund is its own event.
    pub refund_id: Option<String>,
    pub amount: RefundAmount,
    /// The platform's ID of what was refunded (refund, adjustment or charge).
    pub reference: String,
}

impl Refund {
    pub fn request(&self) -> RefundRequest {
        RefundRequest { amount: self.amount.clone(), refund_id: self.refund_id.clone() }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use serde_json::Value;

    use super::*;

    /// A well-formed click ID, as the fixtures carry it.
    pub const CLICK: &str = "0Q0CkLM2x5c1Yy3dWmYv5Vb0kCq7jT";

    pub fn fixture(name: &str) -> Vec<u8> {
        let path = format!("{}/tests/fixtures/hooks/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// Maps fixture `name` (changed by `edit` first) as `connector` would, with `with` headers.
    pub fn map_fixture(
        connector: Connector,
        name: &str,
        with: &[(&str, &str)],
        edit: impl FnOnce(&mut Value),
    ) -> Mapped {
        let mut body: Value = serde_json::from_slice(&fixture(&format!("{}/{name}", connector.name()))).unwrap();
        edit(&mut body);
        let body = serde_json::to_vec(&body).unwrap();
        connector.map(&Delivery { headers: &headers(with), body: &body })
    }

    pub fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    pub fn actions(mapped: Mapped) -> Vec<Action> {
        match mapped.what {
            What::Actions(actions) => actions,
            other => panic!("expected actions, got {other:?}"),
        }
    }

    pub fn usd() -> Currency {
        Currency::from_code("USD").unwrap()
    }

    #[test]
    fn names_round_trip_and_customers_are_namespaced() {
        for c in Connector::ALL {
            assert_eq!(Connector::parse(c.name()), Some(c));
            assert_eq!(Source::parse(c.name()), Some(c.source()));
        }
        assert_eq!(Connector::parse("paypal"), None);
        assert_eq!(Connector::Stripe.customer("cus_123"), "stripe:cus_123");
        assert_eq!(Connector::WooCommerce.customer("12"), "woocommerce:12");
        assert!(crate::tracking::click_id::is_well_formed(CLICK));
    }

    impl Connector {
        fn check_secret(self, secret: &str) -> Result<String, String> {
            self.signing_secret(secret)
        }
    }

    #[test]
    fn secrets_must_be_signing_secrets() {
        assert!(Connector::Stripe.check_secret("whsec_0123456789abcdef").is_ok());
        assert!(Connector::WooCommerce.check_secret("a woo secret 0123").is_ok());
        assert!(Connector::Stripe.check_secret("sk_live_0123").unwrap_err().contains("API key"));
        assert!(Connector::Paddle.check_secret("pdl_live_apikey_01gt").unwrap_err().contains("API key"));
        assert!(Connector::Shopify.check_secret("shpat_abc").is_err());
        assert!(Connector::Shopify.check_secret("").is_err());
        assert!(Connector::Shopify.check_secret("two words").is_err());
        assert!(Connector::Shopify.check_secret(&"x".repeat(513)).is_err());
    }

    /// WooCommerce's generated secrets (`wp_generate_password(50, true, true)`) may hold spaces
    /// anywhere, at the ends too, and Woo signs with them exactly.
    const WOO_GENERATED: &str = " q]L8 b{T|:x?Ww6 ,yZ;H^(c`3<m.N}p  ~Kf=e/R7j+u!s- ";

    #[test]
    fn a_secret_has_at_least_16_printable_characters_and_the_error_says_so() {
        for c in Connector::ALL {
            let short = c.check_secret("fifteen-chars-x").unwrap_err();
            assert!(short.contains("16 to 512 printable characters") && short.contains("it has 15"), "{c:?}: {short}");
            assert!(c.check_secret("sixteen-chars-xx").is_ok(), "{c:?}");
            assert!(c.check_secret("with a tab\tin it 0123").is_err(), "{c:?}: a control character");
            assert!(c.check_secret("with a newline\n0123").is_err(), "{c:?}");
        }
        assert_eq!(WOO_GENERATED.chars().count(), 50);
        assert_eq!(Connector::WooCommerce.check_secret(WOO_GENERATED).as_deref(), Ok(WOO_GENERATED), "kept exactly");
        assert!(Connector::Shopify.check_secret("a secret with spaces").is_ok(), "spaces are printable");
        assert!(Connector::WooCommerce.check_secret("ünïcödé-sëcrét-xx").is_ok());
    }

    #[test]
    fn only_platforms_whose_secrets_never_have_spaces_trim_them() {
        let pasted = "  whsec_0123456789abcdef\n";
        assert_eq!(Connector::Stripe.check_secret(pasted).as_deref(), Ok("whsec_0123456789abcdef"));
        assert_eq!(Connector::Paddle.check_secret(" pdl_ntfset_01h2x ").as_deref(), Ok("pdl_ntfset_01h2x"));
        assert_eq!(
            Connector::Shopify.check_secret("\t0a1b2c3d4e5f60718293a4b5c6d7e8f9 ").as_deref(),
            Ok("0a1b2c3d4e5f60718293a4b5c6d7e8f9")
        );
        assert!(Connector::WooCommerce.check_secret("  whsec_0123456789abcdef\n").is_err(), "not trimmed: a newline");
        assert_eq!(Connector::WooCommerce.check_secret(" padded woo secret ").as_deref(), Ok(" padded woo secret "));
        assert!(Connector::Stripe.check_secret("   short     ").is_err(), "trimmed first, then measured");
    }

    #[test]
    fn held_actions_survive_their_json() {
        let action = Action::Refund(Refund {
            orders: vec!["pi_1".into(), "in_1".into()],
            refund_id: None,
            amount: RefundAmount::Platform(crate::tracking::conversion::PlatformRefund {
                currency: usd(),
                refunded: 500,
                paid: Some(1000),
                running_total: true,
            }),
            reference: "ch_1".into(),
        });
        let text = serde_json::to_string(&action).unwrap();
        assert_eq!(serde_json::from_str::<Action>(&text).unwrap(), action);
    }
}
