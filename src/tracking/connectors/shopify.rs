//! Shopify: `X-Shopify-Hmac-Sha256` is the base64 HMAC-SHA256 of the raw body, keyed with the
//! secret shown under Settings → Notifications → Webhooks (or the app's client secret); the topic
//! is `X-Shopify-Topic`, the delivery ID `X-Shopify-Webhook-Id`.
//!
//! Topics and the fields used:
//! - `orders/paid`: a conversion, `external_id` = the order `id`, amount =
//!   `current_subtotal_price` (the items after discounts, before shipping and tax; for shops
//!   whose prices include tax, Shopify's subtotal includes it) in `currency` (the shop's).
//!   Attributed by the `note_attributes` entry `affiliated_click_id` (a cart attribute), else a
//!   `click_id` parameter in `landing_site`, else the `discount_codes[].code` as coupons, else
//!   `customer.id` (`shopify:<id>`). `test: true` marks test orders.
//! - `refunds/create`: a refund of the conversion of `order_id`, `refund_id` = the refund `id`,
//!   amount = the sum of `refund_line_items[].subtotal_set.shop_money.amount` (what the refunded
//!   items were worth after discounts, before tax: the basis of the conversion's amount).
//!   Refunded shipping and money refunded without items (order adjustments) are not items and
//!   leave the commission alone; a refund of no items is ignored.

use serde_json::Value;

use super::signature::{self, SignatureError};
use super::{Action, Connector, Delivery, Mapped, Order, Refund, What};
use crate::error::Error;
use crate::tracking::conversion::{PlatformRefund, RefundAmount};
use crate::tracking::money::Currency;

pub const SIGNATURE_HEADER: &str = "x-shopify-hmac-sha256";

pub fn verify(delivery: &Delivery<'_>, secret: &str) -> Result<(), SignatureError> {
    signature::verify_base64(delivery.header(SIGNATURE_HEADER), delivery.body, secret)
}

pub fn map(delivery: &Delivery<'_>) -> Mapped {
    let topic = delivery.header("x-shopify-topic").unwrap_or("unknown").to_string();
    let body = super::json_body(delivery);
    let test = body.as_ref().ok().and_then(|b| b["test"].as_bool());
    let what = body.and_then(|body| match topic.as_str() {
        "orders/paid" => order(&body),
        "refunds/create" => refund(&body),
        _ => Ok(What::Ignored("not a topic affiliated records (orders/paid, refunds/create)")),
    });
    Mapped {
        event_id: delivery.header("x-shopify-webhook-id").or(delivery.header("x-shopify-event-id")).map(String::from),
        event_type: topic,
        test,
        what: what.unwrap_or_else(What::Unreadable),
    }
}

/// The `click_id` parameter of the landing page's URL (a path and query, or a whole URL).
fn landing_click(landing_site: &str) -> Option<String> {
    let query = landing_site.split_once('?')?.1.split('#').next()?;
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, v)| k == "click_id" && !v.trim().is_empty())
        .map(|(_, v)| v.trim().into())
}

fn order(o: &Value) -> Result<What, Error> {
    let currency = super::currency(&o["currency"], "currency")?;
    let subtotal =
        if o["current_subtotal_price"].is_null() { &o["subtotal_price"] } else { &o["current_subtotal_price"] };
    let noted = super::items(&o["note_attributes"])
        .iter()
        .find(|a| a["name"].as_str() == Some("affiliated_click_id"))
        .and_then(|a| super::text(&a["value"]));
    let click_id = noted.or_else(|| o["landing_site"].as_str().and_then(landing_click));
    Ok(What::Actions(vec![Action::Order(Order {
        external_id: super::required(&o["id"], "id")?,
        amount: super::decimal(subtotal, currency, "current_subtotal_price")?.max(0),
        currency,
        click_id,
        coupons: super::items(&o["discount_codes"]).iter().filter_map(|d| super::text(&d["code"])).collect(),
        customer_id: super::text(&o["customer"]["id"]).map(|id| Connector::Shopify.customer(&id)),
        waits_for_customer: false,
    })]))
}

fn refund(r: &Value) -> Result<What, Error> {
    let lines = super::items(&r["refund_line_items"]);
    if lines.is_empty() {
        return Ok(What::Ignored("the refund returned no items (shipping or money alone): commission is on items"));
    }
    let mut currency: Option<Currency> = None;
    let mut refunded = 0;
    for line in lines {
        let money = &line["subtotal_set"]["shop_money"];
        let line_currency = super::currency(&money["currency_code"], "refund_line_items[].subtotal_set")?;
        if currency.is_some_and(|c| c != line_currency) {
            return Err(super::unreadable("the refund's line items are in several currencies"));
        }
        currency = Some(line_currency);
        refunded += super::decimal(&money["amount"], line_currency, "refund_line_items[].subtotal_set")?;
    }
    let currency = currency.expect("at least one line");
    let id = super::required(&r["id"], "id")?;
    Ok(What::Actions(vec![Action::Refund(Refund {
        orders: vec![super::required(&r["order_id"], "order_id")?],
        refund_id: Some(id.clone()),
        amount: RefundAmount::Platform(PlatformRefund { currency, refunded, paid: None, running_total: false }),
        reference: id,
    })]))
}

#[cfg(test)]
mod tests {
    use super::super::tests::{CLICK, actions, fixture, headers, map_fixture, usd};
    use super::*;

    fn mapped(topic: &str, name: &str, edit: impl FnOnce(&mut Value)) -> Mapped {
        let with = [("X-Shopify-Topic", topic), ("X-Shopify-Webhook-Id", "b54557e4-8a5f-4f7d-9c0b-cd043aa1")];
        map_fixture(Connector::Shopify, name, &with, edit)
    }

    fn order_of(m: Mapped) -> Order {
        match actions(m).remove(0) {
            Action::Order(o) => o,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_paid_order_is_a_conversion_of_its_current_subtotal() {
        let m = mapped("orders/paid", "orders-paid.json", |_| {});
        assert_eq!((m.event_id.as_deref(), m.test), (Some("b54557e4-8a5f-4f7d-9c0b-cd043aa1"), Some(false)));
        assert_eq!(
            order_of(m),
            Order {
                external_id: "5830496714838".into(),
                amount: 8910,
                currency: usd(),
                click_id: Some(CLICK.into()),
                coupons: vec!["SPRING10".into()],
                customer_id: Some("shopify:207119551".into()),
                waits_for_customer: false,
            }
        );
    }

    #[test]
    fn the_click_comes_from_the_cart_attribute_then_the_landing_page() {
        let from_landing = order_of(mapped("orders/paid", "orders-paid.json", |o| {
            o["note_attributes"] = serde_json::json!([{"name": "gift_note", "value": "hi"}]);
            o["landing_site"] = "https://shop.example/?utm_source=x&click_id=0Q0CkLM2x5c1Yy3dWmYv5Vb0kCq7jZ#top".into();
        }));
        assert_eq!(from_landing.click_id.as_deref(), Some("0Q0CkLM2x5c1Yy3dWmYv5Vb0kCq7jZ"));
        let none = order_of(mapped("orders/paid", "orders-paid.json", |o| {
            o["note_attributes"] = serde_json::json!([]);
            o["landing_site"] = "/collections/all".into();
            o["customer"] = Value::Null;
            o["test"] = true.into();
        }));
        assert_eq!((none.click_id, none.customer_id), (None, None));
        assert_eq!(landing_click("/p?click_id="), None);
        assert!(mapped("orders/paid", "orders-paid.json", |o| o["test"] = true.into()).test == Some(true));
    }

    #[test]
    fn a_refund_refunds_its_items_after_discounts() {
        let m = mapped("refunds/create", "refunds-create.json", |_| {});
        assert_eq!(
            actions(m),
            [Action::Refund(Refund {
                orders: vec!["5830496714838".into()],
                refund_id: Some("929361464".into()),
                amount: RefundAmount::Platform(PlatformRefund {
                    currency: usd(),
                    refunded: 2970,
                    paid: None,
                    running_total: false
                }),
                reference: "929361464".into(),
            })]
        );
        let shipping_only =
            mapped("refunds/create", "refunds-create.json", |r| r["refund_line_items"] = Value::Array(vec![]));
        assert!(matches!(shipping_only.what, What::Ignored(_)));
    }

    #[test]
    fn other_topics_are_ignored_and_broken_bodies_are_unreadable() {
        assert!(matches!(mapped("orders/create", "orders-paid.json", |_| {}).what, What::Ignored(_)));
        let no_currency = mapped("orders/paid", "orders-paid.json", |o| o["currency"] = Value::Null);
        assert!(matches!(no_currency.what, What::Unreadable(e) if e.code == "invalid_payload"));
        let h = headers(&[("X-Shopify-Topic", "orders/paid")]);
        let garbage = map(&Delivery { headers: &h, body: b"not json" });
        assert!(matches!(garbage.what, What::Unreadable(_)));
        assert_eq!(garbage.event_type, "orders/paid");
    }

    #[test]
    fn signatures_are_base64_hmacs_of_the_body() {
        let body = fixture("shopify/orders-paid.json");
        let sig = crate::secret::base64(&signature::hmac("shpss_secret", &[&body]));
        let h = headers(&[("X-Shopify-Hmac-Sha256", &sig)]);
        assert_eq!(verify(&Delivery { headers: &h, body: &body }, "shpss_secret"), Ok(()));
        assert_eq!(verify(&Delivery { headers: &h, body: &body[1..] }, "shpss_secret"), Err(SignatureError::Invalid));
        assert_eq!(verify(&Delivery { headers: &h, body: &body }, "other"), Err(SignatureError::Invalid));
    }
}
