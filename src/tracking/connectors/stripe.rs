//! Stripe: `Stripe-Signature: t=<unix>,v1=<hex>` is the HMAC-SHA256 of `"<t>.<body>"` keyed with
//! the endpoint's whole signing secret (`whsec_…`); any of several `v1` may match (Stripe sends
//! two while a secret is rolled); the timestamp must be within five minutes.
//!
//! Events and the fields used (API versions 2020-08-27 onwards):
//! - `checkout.session.completed` and `checkout.session.async_payment_succeeded`, `mode=payment`,
//!   `payment_status=paid`: a conversion. `external_id` = `payment_intent`; amount =
//!   `amount_subtotal` (items before discounts) − `total_details.amount_discount`, so without
//!   shipping and tax; `currency`. Attributed by `client_reference_id` when it is a click ID,
//!   else `metadata.affiliated_click_id`, else the `customer` (`stripe:cus_…`).
//! - The same events with `mode=subscription`: the `customer` is tied to the click's affiliate
//!   (same two fields); no conversion: the subscription's invoices are the conversions.
//! - `invoice.paid` with `amount_paid > 0`, of a subscription (`subscription`,
//!   `parent.subscription_details` or a `billing_reason` starting with `subscription`): a
//!   conversion, `external_id` = the invoice `id`, amount = `total_excluding_tax` (after
//!   discounts, without tax; else `total − tax`, else `amount_paid`), attributed by its
//!   `customer` (recurring). It waits for its customer's tie when it comes first.
//! - `charge.refunded`: a refund of the conversion of its `payment_intent` (or `invoice`), up to
//!   the share `amount_refunded / amount` of the charge (the charge also paid tax and shipping).
//! - `livemode: false` marks test events.
//!
//! Amounts are in Stripe's minor units, which are not always ISO 4217's ([`stripe_digits`]):
//! each is read in Stripe's unit and then written in the currency's own minor units.

use serde_json::Value;

use super::signature::{self, SignatureError};
use super::{Action, Connector, Delivery, Mapped, Order, Refund, Tie, What};
use crate::error::Error;
use crate::tracking::click_id;
use crate::tracking::conversion::{PlatformRefund, RefundAmount};
use crate::tracking::money::Currency;

/// How many decimals Stripe's API writes `currency` with, where that differs from ISO 4217.
///
/// From Stripe's "Supported currencies" page (https://docs.stripe.com/currencies, sections
/// "Zero-decimal currencies" and "Special cases", read 2026-12):
/// - ISK and UGX "transitioned to a zero-decimal currency, but backwards compatibility requires
///   you to represent it as a two-decimal value, where the decimal amount is always 00": an
///   amount of `500` is 5 króna (or 5 shillings), while ISO 4217 gives both no decimals. (UGX is
///   also in that page's zero-decimal list; the special case is the more precise statement, and
///   Stripe's support note on ISK says "an ISK amount of `100` will continue to represent 1
///   króna".)
/// - MGA is in Stripe's zero-decimal list ("to charge 500 JPY, provide an amount value of 500"),
///   while ISO 4217 gives it two decimals.
/// - HUF and TWD are special cases for payouts only ("Stripe treats HUF as a zero-decimal
///   currency for payouts, even though you can charge two-decimal amounts"): in charges,
///   sessions and invoices they have two decimals, as in ISO 4217.
/// - The three-decimal currencies (BHD, JOD, KWD, OMR, TND) have three, as in ISO 4217 (Stripe
///   only asks that the last digit be 0).
///
/// Every other currency is written as ISO 4217 says ("Unless otherwise specified, currencies are
/// two-decimal" matches ISO for every other currency Stripe supports).
pub fn stripe_digits(currency: Currency) -> u8 {
    match currency.code() {
        "ISK" | "UGX" => 2,
        "MGA" => 0,
        _ => currency.minor_digits(),
    }
}

/// An amount in Stripe's minor units of `currency`, in the currency's own minor units. Where
/// Stripe writes more decimals than the currency has (ISK, UGX: always `00` since 2023), a
/// fraction is rounded half up (an older charge's fraction of a króna).
pub fn from_stripe_units(amount: i64, currency: Currency) -> Result<i64, Error> {
    let (stripe, own) = (u32::from(stripe_digits(currency)), u32::from(currency.minor_digits()));
    if stripe >= own {
        let scale = 10i64.pow(stripe - own);
        let half = scale / 2;
        Ok(if amount >= 0 { (amount + half) / scale } else { -((half - amount) / scale) })
    } else {
        amount
            .checked_mul(10i64.pow(own - stripe))
            .ok_or_else(|| super::unreadable(format!("an amount of {amount} {currency} is out of range")))
    }
}

/// A field holding an amount in Stripe's minor units of `currency`, in the currency's own.
fn amount(v: &Value, currency: Currency, field: &str) -> Result<i64, Error> {
    from_stripe_units(super::minor(v, field)?, currency)
}

pub const SIGNATURE_HEADER: &str = "stripe-signature";

pub fn verify(delivery: &Delivery<'_>, secret: &str, now: i64) -> Result<(), SignatureError> {
    let parsed = delivery.header(SIGNATURE_HEADER).and_then(|h| signature::parse_timestamped(h, ',', "t", "v1"));
    signature::verify_timestamped(parsed, b".", delivery.body, secret, now)
}

pub fn map(delivery: &Delivery<'_>) -> Mapped {
    let event = match super::json_body(delivery) {
        Ok(event) => event,
        Err(e) => return Mapped::unreadable(e),
    };
    let event_type = super::text(&event["type"]).unwrap_or_else(|| "unknown".into());
    let object = &event["data"]["object"];
    let what = match event_type.as_str() {
        "checkout.session.completed" | "checkout.session.async_payment_succeeded" => session(object),
        "invoice.paid" => invoice(object),
        "charge.refunded" => charge(object),
        _ => Ok(What::Ignored(
            "not an event affiliated records (checkout.session.completed, checkout.session.async_payment_succeeded, \
             invoice.paid, charge.refunded)",
        )),
    };
    Mapped {
        event_id: super::text(&event["id"]),
        event_type,
        test: event["livemode"].as_bool().map(|live| !live),
        what: what.unwrap_or_else(What::Unreadable),
    }
}

fn customer(o: &Value) -> Option<String> {
    super::id_of(&o["customer"]).map(|id| Connector::Stripe.customer(&id))
}

/// `client_reference_id` when it is a click ID (merchants also use it for their own IDs), else
/// `metadata.affiliated_click_id`.
fn click(o: &Value) -> Option<String> {
    super::text(&o["client_reference_id"])
        .filter(|id| click_id::is_well_formed(id))
        .or_else(|| super::text(&o["metadata"]["affiliated_click_id"]))
}

fn session(o: &Value) -> Result<What, Error> {
    match o["mode"].as_str() {
        Some("payment") => {}
        Some("subscription") => {
            let Some(click_id) = click(o) else {
                return Ok(What::Ignored(
                    "a subscription checkout without a click ID: its customer is tied to no affiliate",
                ));
            };
            let customer_id =
                customer(o).ok_or_else(|| super::unreadable("a subscription checkout names its `customer`"))?;
            let reference = super::required(&o["id"], "id")?;
            return Ok(What::Actions(vec![Action::Tie(Tie { customer_id, click_id, reference })]));
        }
        _ => return Ok(What::Ignored("a Checkout Session that is neither a payment nor a subscription")),
    }
    if o["payment_status"].as_str() != Some("paid") {
        return Ok(What::Ignored(
            "the Checkout Session is not paid (yet): Stripe sends checkout.session.async_payment_succeeded when it is",
        ));
    }
    let external_id = super::id_of(&o["payment_intent"])
        .ok_or_else(|| super::unreadable("a paid Checkout Session names its `payment_intent`"))?;
    let currency = super::currency(&o["currency"], "currency")?;
    let discount = match &o["total_details"]["amount_discount"] {
        Value::Null => 0,
        v => super::minor(v, "total_details.amount_discount")?,
    };
    let items = super::minor(&o["amount_subtotal"], "amount_subtotal")? - discount;
    Ok(What::Actions(vec![Action::Order(Order {
        external_id,
        amount: from_stripe_units(items, currency)?.max(0),
        currency,
        click_id: click(o),
        coupons: Vec::new(),
        customer_id: customer(o),
        waits_for_customer: false,
    })]))
}

fn invoice(o: &Value) -> Result<What, Error> {
    if super::minor(&o["amount_paid"], "amount_paid")? <= 0 {
        return Ok(What::Ignored("the invoice paid nothing (amount_paid is 0)"));
    }
    let of_subscription = !o["subscription"].is_null()
        || o["parent"]["subscription_details"].is_object()
        || o["billing_reason"].as_str().is_some_and(|r| r.starts_with("subscription"));
    if !of_subscription {
        return Ok(What::Ignored(
            "not a subscription's invoice: one-off payments count through their Checkout Session",
        ));
    }
    let currency = super::currency(&o["currency"], "currency")?;
    let amount = if !o["total_excluding_tax"].is_null() {
        super::minor(&o["total_excluding_tax"], "total_excluding_tax")?
    } else if !o["total"].is_null() && !o["tax"].is_null() {
        super::minor(&o["total"], "total")? - super::minor(&o["tax"], "tax")?
    } else {
        super::minor(&o["amount_paid"], "amount_paid")?
    };
    let customer_id = customer(o).ok_or_else(|| super::unreadable("an invoice names its `customer`"))?;
    Ok(What::Actions(vec![Action::Order(Order {
        external_id: super::required(&o["id"], "id")?,
        amount: from_stripe_units(amount, currency)?.max(0),
        currency,
        click_id: None,
        coupons: Vec::new(),
        customer_id: Some(customer_id),
        waits_for_customer: true,
    })]))
}

fn charge(o: &Value) -> Result<What, Error> {
    let orders: Vec<String> = [&o["payment_intent"], &o["invoice"]].into_iter().filter_map(super::id_of).collect();
    if orders.is_empty() {
        return Ok(What::Ignored("the charge belongs to no PaymentIntent or invoice"));
    }
    let currency = super::currency(&o["currency"], "currency")?;
    let refunded = amount(&o["amount_refunded"], currency, "amount_refunded")?;
    if refunded <= 0 {
        return Ok(What::Ignored("nothing of the charge is refunded"));
    }
    let amount = RefundAmount::Platform(PlatformRefund {
        currency,
        refunded,
        paid: Some(amount(&o["amount"], currency, "amount")?),
        running_total: true,
    });
    let reference = super::required(&o["id"], "id")?;
    Ok(What::Actions(vec![Action::Refund(Refund { orders, refund_id: None, amount, reference })]))
}

#[cfg(test)]
mod tests {
    use super::super::tests::{CLICK, actions, fixture, headers, map_fixture, usd};
    use super::*;
    use crate::secret;

    fn mapped(name: &str, edit: impl FnOnce(&mut Value)) -> Mapped {
        map_fixture(Connector::Stripe, name, &[], edit)
    }

    #[test]
    fn a_paid_one_off_checkout_is_a_conversion_of_its_items_after_discounts() {
        let m = mapped("checkout.session.completed.payment.json", |_| {});
        assert_eq!(
            (m.event_id.as_deref(), m.event_type.as_str(), m.test),
            (Some("evt_1QpRrXLkdIwHu7ixbOl9Zk3F"), "checkout.session.completed", Some(true))
        );
        assert_eq!(
            actions(m),
            [Action::Order(Order {
                external_id: "pi_3QpRrVLkdIwHu7ix0m8Kx5aB".into(),
                amount: 4500,
                currency: usd(),
                click_id: Some(CLICK.into()),
                coupons: vec![],
                customer_id: Some("stripe:cus_R8fTz2Qw1nXy9a".into()),
                waits_for_customer: false,
            })]
        );
    }

    #[test]
    fn the_click_comes_from_client_reference_id_only_when_it_is_one() {
        let order = |edit: fn(&mut Value)| match &actions(mapped("checkout.session.completed.payment.json", edit))[0] {
            Action::Order(o) => o.clone(),
            other => panic!("{other:?}"),
        };
        let from_metadata = order(|e| {
            e["data"]["object"]["client_reference_id"] = "user-42".into();
            e["data"]["object"]["metadata"]["affiliated_click_id"] = "0Q0CkLM2x5c1Yy3dWmYv5Vb0kCq7jZ".into();
        });
        assert_eq!(from_metadata.click_id.as_deref(), Some("0Q0CkLM2x5c1Yy3dWmYv5Vb0kCq7jZ"));
        let none = order(|e| e["data"]["object"]["client_reference_id"] = Value::Null);
        assert_eq!((none.click_id, none.customer_id.as_deref()), (None, Some("stripe:cus_R8fTz2Qw1nXy9a")));
        let live = mapped("checkout.session.completed.payment.json", |e| e["livemode"] = true.into());
        assert_eq!(live.test, Some(false));
    }

    #[test]
    fn unpaid_sessions_and_other_modes_are_ignored_and_async_payments_count() {
        let unpaid = mapped("checkout.session.completed.payment.json", |e| {
            e["data"]["object"]["payment_status"] = "unpaid".into()
        });
        assert!(matches!(unpaid.what, What::Ignored(why) if why.contains("async_payment_succeeded")));
        let setup = mapped("checkout.session.completed.payment.json", |e| e["data"]["object"]["mode"] = "setup".into());
        assert!(matches!(setup.what, What::Ignored(_)));
        let later = mapped("checkout.session.completed.payment.json", |e| {
            e["type"] = "checkout.session.async_payment_succeeded".into()
        });
        assert!(matches!(&actions(later)[0], Action::Order(o) if o.amount == 4500));
        let broken =
            mapped("checkout.session.completed.payment.json", |e| e["data"]["object"]["payment_intent"] = Value::Null);
        assert!(matches!(broken.what, What::Unreadable(e) if e.code == "invalid_payload"));
        let other = mapped("checkout.session.completed.payment.json", |e| e["type"] = "customer.created".into());
        assert!(matches!(other.what, What::Ignored(_)));
        assert_eq!(other.event_type, "customer.created");
    }

    #[test]
    fn a_subscription_checkout_ties_its_customer_and_records_nothing() {
        let m = mapped("checkout.session.completed.subscription.json", |_| {});
        assert_eq!(
            actions(m),
            [Action::Tie(Tie {
                customer_id: "stripe:cus_R8gSubscriber01".into(),
                click_id: CLICK.into(),
                reference: "cs_test_b9sub0scr1pt10n".into(),
            })]
        );
        let no_click = mapped("checkout.session.completed.subscription.json", |e| {
            e["data"]["object"]["metadata"] = serde_json::json!({})
        });
        assert!(matches!(no_click.what, What::Ignored(_)));
    }

    #[test]
    fn a_subscription_invoice_is_a_recurring_conversion_that_waits_for_its_customer() {
        let m = mapped("invoice.paid.json", |_| {});
        assert_eq!(
            actions(m),
            [Action::Order(Order {
                external_id: "in_1QpS0ZLkdIwHu7ixFirst001".into(),
                amount: 2000,
                currency: usd(),
                click_id: None,
                coupons: vec![],
                customer_id: Some("stripe:cus_R8gSubscriber01".into()),
                waits_for_customer: true,
            })]
        );
        let taxed = mapped("invoice.paid.json", |e| {
            let o = &mut e["data"]["object"];
            o["total_excluding_tax"] = Value::Null;
            o["total"] = 2380.into();
            o["tax"] = 380.into();
        });
        assert!(matches!(&actions(taxed)[0], Action::Order(o) if o.amount == 2000));
        let free = mapped("invoice.paid.json", |e| e["data"]["object"]["amount_paid"] = 0.into());
        assert!(matches!(free.what, What::Ignored(_)));
        let one_off = mapped("invoice.paid.json", |e| {
            let o = &mut e["data"]["object"];
            o["subscription"] = Value::Null;
            o["billing_reason"] = "manual".into();
        });
        assert!(matches!(one_off.what, What::Ignored(why) if why.contains("Checkout Session")));
        let new_api = mapped("invoice.paid.json", |e| {
            let o = &mut e["data"]["object"];
            o["subscription"] = Value::Null;
            o["billing_reason"] = "manual".into();
            o["parent"] = serde_json::json!({"type": "subscription_details", "subscription_details": {}});
        });
        assert!(matches!(&actions(new_api)[0], Action::Order(_)));
    }

    #[test]
    fn a_refunded_charge_refunds_its_share_of_the_payment() {
        let m = mapped("charge.refunded.json", |_| {});
        assert_eq!(
            actions(m),
            [Action::Refund(Refund {
                orders: vec!["pi_3QpRrVLkdIwHu7ix0m8Kx5aB".into()],
                refund_id: None,
                amount: RefundAmount::Platform(PlatformRefund {
                    currency: usd(),
                    refunded: 2450,
                    paid: Some(4900),
                    running_total: true,
                }),
                reference: "ch_3QpRrVLkdIwHu7ix0n5Y2cDe".into(),
            })]
        );
        let of_invoice = mapped("charge.refunded.json", |e| e["data"]["object"]["invoice"] = "in_9".into());
        assert!(
            matches!(&actions(of_invoice)[0], Action::Refund(r) if r.orders == ["pi_3QpRrVLkdIwHu7ix0m8Kx5aB", "in_9"])
        );
    }

    fn currency(code: &str) -> Currency {
        Currency::from_code(code).unwrap()
    }

    /// The amount a paid checkout of `amount_subtotal` Stripe units in `code` is recorded with.
    fn checkout_amount(code: &str, amount_subtotal: i64) -> (i64, String) {
        let m = mapped("checkout.session.completed.payment.json", |e| {
            let o = &mut e["data"]["object"];
            o["currency"] = code.to_ascii_lowercase().into();
            o["amount_subtotal"] = amount_subtotal.into();
            o["total_details"]["amount_discount"] = 0.into();
        });
        match &actions(m)[0] {
            Action::Order(o) => (o.amount, o.currency.format(o.amount)),
            other => panic!("{other:?}"),
        }
    }

    /// Stripe's special case: ISK is written with two decimals (`100` is 1 króna), ISO 4217 has none.
    #[test]
    fn isk_is_two_decimal_in_stripe() {
        assert_eq!(stripe_digits(currency("ISK")), 2);
        assert_eq!(checkout_amount("ISK", 500_000), (5_000, "5000".to_string()), "5,000 kr., not 500,000");
        assert_eq!(from_stripe_units(4_010, currency("ISK")).unwrap(), 40, "an older fraction rounds half up");
        assert_eq!(from_stripe_units(4_050, currency("ISK")).unwrap(), 41);
    }

    /// Stripe's special case: UGX, like ISK, is written with two decimals that are always `00`.
    #[test]
    fn ugx_is_two_decimal_in_stripe() {
        assert_eq!(stripe_digits(currency("UGX")), 2);
        assert_eq!(checkout_amount("UGX", 3_700_000), (37_000, "37000".to_string()));
    }

    /// Stripe's zero-decimal list has MGA, which ISO 4217 gives two decimals.
    #[test]
    fn mga_is_zero_decimal_in_stripe() {
        assert_eq!(stripe_digits(currency("MGA")), 0);
        assert_eq!(checkout_amount("MGA", 45_000), (4_500_000, "45000.00".to_string()));
    }

    /// Stripe's special cases for HUF and TWD are about payouts: charges have two decimals.
    #[test]
    fn huf_and_twd_charges_are_two_decimal_as_in_iso() {
        assert_eq!(checkout_amount("HUF", 1_045), (1_045, "10.45".to_string()));
        assert_eq!(checkout_amount("TWD", 80_045), (80_045, "800.45".to_string()));
    }

    /// The zero-decimal and three-decimal currencies are written as ISO 4217 says.
    #[test]
    fn other_currencies_follow_iso() {
        assert_eq!(checkout_amount("JPY", 500), (500, "500".to_string()));
        assert_eq!(checkout_amount("KWD", 5_120), (5_120, "5.120".to_string()));
        assert_eq!(checkout_amount("USD", 4_500), (4_500, "45.00".to_string()));
        for code in ["BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "PYG", "RWF", "VND", "VUV", "XAF", "XOF", "XPF"] {
            assert_eq!(stripe_digits(currency(code)), 0, "{code}");
        }
    }

    #[test]
    fn refunds_and_invoices_are_read_in_stripes_units_too() {
        let refund = mapped("charge.refunded.json", |e| {
            let o = &mut e["data"]["object"];
            o["currency"] = "isk".into();
            o["amount"] = 490_000.into();
            o["amount_refunded"] = 245_000.into();
        });
        assert!(matches!(&actions(refund)[0], Action::Refund(Refund { amount: RefundAmount::Platform(p), .. })
            if (p.refunded, p.paid) == (2_450, Some(4_900))));
        let invoice = mapped("invoice.paid.json", |e| e["data"]["object"]["currency"] = "isk".into());
        assert!(matches!(&actions(invoice)[0], Action::Order(o) if o.amount == 20));
    }

    #[test]
    fn signatures_are_stripes() {
        let body = fixture("stripe/invoice.paid.json");
        let secret = "whsec_test_0123456789";
        let sign = |t: i64| {
            let mut signed = format!("{t}.").into_bytes();
            signed.extend_from_slice(&body);
            secret::hex(&secret::hmac_sha256(secret.as_bytes(), &signed))
        };
        let check = |header: String, now| {
            let h = headers(&[("stripe-signature", &header)]);
            verify(&Delivery { headers: &h, body: &body }, secret, now)
        };
        let t = 1_764_230_459;
        assert_eq!(check(format!("t={t},v1={}", sign(t)), t + 10), Ok(()));
        assert_eq!(check(format!("t={t},v1={},v0=abc", sign(t)), t), Ok(()));
        assert_eq!(check(format!("t={t},v1=deadbeef,v1={}", sign(t)), t), Ok(()), "any of several v1");
        assert_eq!(check(format!("t={t},v1={}", sign(t)), t + 301), Err(SignatureError::Stale));
        assert_eq!(check(format!("t={},v1={}", t + 1, sign(t)), t), Err(SignatureError::Invalid));
        assert_eq!(check(format!("t={t},v1={}", sign(t)).replace("v1=", "v0="), t), Err(SignatureError::Invalid));
        let none = verify(&Delivery { headers: &[], body: &body }, secret, t);
        assert_eq!(none, Err(SignatureError::Invalid));
        let wrong_secret = {
            let h = headers(&[("stripe-signature", &format!("t={t},v1={}", sign(t)))]);
            verify(&Delivery { headers: &h, body: &body }, "whsec_other", t)
        };
        assert_eq!(wrong_secret, Err(SignatureError::Invalid));
    }
}
