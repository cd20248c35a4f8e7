//! WooCommerce: `X-WC-Webhook-Signature` is the base64 HMAC-SHA256 of the raw body, keyed with
//! the webhook's Secret field; the topic is `X-WC-Webhook-Topic`, the delivery ID
//! `X-WC-Webhook-Delivery-ID`. When a webhook is saved, WooCommerce first sends a ping without
//! a signature, a form body `webhook_id=<n>` ([`is_ping`]); it must be answered 2xx or the
//! merchant cannot save the webhook.
//!
//! Topics `order.created` and `order.updated` (the whole order each time), fields used:
//! - status `processing` or `completed`: a conversion, `external_id` = the order `id`, amount =
//!   the sum of `line_items[].total` (each line after discounts, without tax; shipping and fees
//!   are other lines) in `currency`. Attributed by the `meta_data` entry `affiliated_click_id`
//!   or `_affiliated_click_id` (set by a short PHP snippet), else the `coupon_lines[].code` as
//!   coupons, else a non-zero `customer_id` (`woocommerce:<id>`).
//! - every `refunds[]` entry (in any of those statuses, or `refunded`): a refund with `refund_id`
//!   = its `id`, of its share of the order's money: `-total` of the refund over the order's
//!   `total` (which includes tax and shipping), applied to the conversion's amount.
//! - Other statuses (pending, on-hold, cancelled, failed) are not paid: ignored.
//!
//! WooCommerce has no test mode of its own (payment gateways do), so `test` is unknown.

use serde_json::Value;

use super::signature::{self, SignatureError};
use super::{Action, Connector, Delivery, Mapped, Order, Refund, What};
use crate::error::Error;
use crate::tracking::conversion::{PlatformRefund, RefundAmount};

pub const SIGNATURE_HEADER: &str = "x-wc-webhook-signature";

pub fn verify(delivery: &Delivery<'_>, secret: &str) -> Result<(), SignatureError> {
    signature::verify_base64(delivery.header(SIGNATURE_HEADER), delivery.body, secret)
}

/// WooCommerce's ping when a webhook is saved: no signature, and a body of `webhook_id=<digits>`.
pub fn is_ping(delivery: &Delivery<'_>) -> bool {
    delivery.header(SIGNATURE_HEADER).is_none()
        && std::str::from_utf8(delivery.body)
            .ok()
            .and_then(|b| b.trim().strip_prefix("webhook_id="))
            .is_some_and(|id| !id.is_empty() && id.len() <= 20 && id.bytes().all(|b| b.is_ascii_digit()))
}

pub fn map(delivery: &Delivery<'_>) -> Mapped {
    let topic = delivery.header("x-wc-webhook-topic").unwrap_or("unknown").to_string();
    let what = match topic.as_str() {
        "order.created" | "order.updated" => super::json_body(delivery).and_then(|o| order(&o)),
        _ => Ok(What::Ignored("not a topic affiliated records (order.created, order.updated)")),
    };
    Mapped {
        event_id: delivery.header("x-wc-webhook-delivery-id").map(String::from),
        event_type: topic,
        test: None,
        what: what.unwrap_or_else(What::Unreadable),
    }
}

fn click(o: &Value) -> Option<String> {
    super::items(&o["meta_data"])
        .iter()
        .find(|m| matches!(m["key"].as_str(), Some("affiliated_click_id" | "_affiliated_click_id")))
        .and_then(|m| super::text(&m["value"]))
}

fn order(o: &Value) -> Result<What, Error> {
    let status = o["status"].as_str().unwrap_or("");
    let paid = matches!(status, "processing" | "completed");
    if !paid && status != "refunded" {
        return Ok(What::Ignored("the order is not paid (status is not processing, completed or refunded)"));
    }
    let id = super::required(&o["id"], "id")?;
    let currency = super::currency(&o["currency"], "currency")?;
    let mut actions = Vec::new();
    if paid {
        let mut amount = 0;
        for line in super::items(&o["line_items"]) {
            amount += super::decimal(&line["total"], currency, "line_items[].total")?;
        }
        let customer = super::text(&o["customer_id"]).filter(|c| c != "0");
        actions.push(Action::Order(Order {
            external_id: id.clone(),
            amount: amount.max(0),
            currency,
            click_id: click(o),
            coupons: super::items(&o["coupon_lines"]).iter().filter_map(|c| super::text(&c["code"])).collect(),
            customer_id: customer.map(|c| Connector::WooCommerce.customer(&c)),
            waits_for_customer: false,
        }));
    }
    let total = super::decimal(&o["total"], currency, "total")?;
    for refund in super::items(&o["refunds"]) {
        let refund_id = super::required(&refund["id"], "refunds[].id")?;
        actions.push(Action::Refund(Refund {
            orders: vec![id.clone()],
            refund_id: Some(refund_id.clone()),
            amount: RefundAmount::Platform(PlatformRefund {
                currency,
                refunded: super::decimal(&refund["total"], currency, "refunds[].total")?.abs(),
                paid: (total > 0).then_some(total),
                running_total: false,
            }),
            reference: refund_id,
        }));
    }
    if actions.is_empty() {
        return Ok(What::Ignored("a refunded order without refunds listed"));
    }
    Ok(What::Actions(actions))
}

#[cfg(test)]
mod tests {
    use super::super::tests::{CLICK, actions, fixture, headers, map_fixture};
    use super::*;
    use crate::tracking::money::Currency;

    fn mapped(topic: &str, name: &str, edit: impl FnOnce(&mut Value)) -> Mapped {
        let with = [("X-WC-Webhook-Topic", topic), ("X-WC-Webhook-Delivery-ID", "9f1c2b3a")];
        map_fixture(Connector::WooCommerce, name, &with, edit)
    }

    fn eur() -> Currency {
        Currency::from_code("EUR").unwrap()
    }

    #[test]
    fn a_processing_order_is_a_conversion_of_its_line_totals() {
        let m = mapped("order.updated", "order-processing.json", |_| {});
        assert_eq!((m.event_id.as_deref(), m.test), (Some("9f1c2b3a"), None));
        assert_eq!(
            actions(m),
            [Action::Order(Order {
                external_id: "1042".into(),
                amount: 10_000,
                currency: eur(),
                click_id: Some(CLICK.into()),
                coupons: vec!["ann10".into()],
                customer_id: Some("woocommerce:12".into()),
                waits_for_customer: false,
            })]
        );
    }

    #[test]
    fn guests_have_no_customer_and_either_meta_key_carries_the_click() {
        let guest = actions(mapped("order.created", "order-processing.json", |o| {
            o["customer_id"] = 0.into();
            o["status"] = "completed".into();
            o["meta_data"] =
                serde_json::json!([{"id": 1, "key": "affiliated_click_id", "value": "0Q0CkLM2x5c1Yy3dWmYv5Vb0kCq7jZ"}]);
        }));
        assert!(matches!(&guest[0], Action::Order(o) if o.customer_id.is_none()
            && o.click_id.as_deref() == Some("0Q0CkLM2x5c1Yy3dWmYv5Vb0kCq7jZ")));
    }

    #[test]
    fn refunds_take_their_share_of_the_orders_money() {
        let all = actions(mapped("order.updated", "order-refunded.json", |_| {}));
        assert_eq!(all.len(), 2, "the conversion (again), then the refund");
        assert_eq!(
            all[1],
            Action::Refund(Refund {
                orders: vec!["1042".into()],
                refund_id: Some("1077".into()),
                amount: RefundAmount::Platform(PlatformRefund {
                    currency: eur(),
                    refunded: 6545,
                    paid: Some(13_090),
                    running_total: false
                }),
                reference: "1077".into(),
            })
        );
        let refunded = actions(mapped("order.updated", "order-refunded.json", |o| o["status"] = "refunded".into()));
        assert!(matches!(refunded.as_slice(), [Action::Refund(_)]), "a refunded order is no new conversion");
    }

    #[test]
    fn unpaid_orders_and_other_topics_are_ignored() {
        for status in ["pending", "on-hold", "cancelled", "failed"] {
            let m = mapped("order.updated", "order-processing.json", |o| o["status"] = status.into());
            assert!(matches!(m.what, What::Ignored(_)), "{status}");
        }
        assert!(matches!(mapped("product.updated", "order-processing.json", |_| {}).what, What::Ignored(_)));
        let empty = mapped("order.updated", "order-processing.json", |o| o["status"] = "refunded".into());
        assert!(matches!(empty.what, What::Ignored(_)));
    }

    #[test]
    fn the_ping_is_recognised_and_nothing_else_is() {
        let ping = |body: &[u8], h: &[(&str, &str)]| is_ping(&Delivery { headers: &headers(h), body });
        assert!(ping(b"webhook_id=17", &[]));
        assert!(!ping(b"webhook_id=17", &[("X-WC-Webhook-Signature", "abc")]));
        assert!(!ping(b"webhook_id=", &[]));
        assert!(!ping(b"webhook_id=17&x=1", &[]));
        assert!(!ping(b"{\"id\": 1}", &[]));
    }

    #[test]
    fn signatures_are_base64_hmacs_of_the_body() {
        let body = fixture("woocommerce/order-processing.json");
        let sig = crate::secret::base64(&signature::hmac("wc-secret", &[&body]));
        let h = headers(&[("X-WC-Webhook-Signature", &sig)]);
        assert_eq!(verify(&Delivery { headers: &h, body: &body }, "wc-secret"), Ok(()));
        assert_eq!(verify(&Delivery { headers: &h, body: &body }, "wc-secreT"), Err(SignatureError::Invalid));
    }
}
