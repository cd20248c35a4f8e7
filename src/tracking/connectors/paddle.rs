//! Paddle Billing: `Paddle-Signature: ts=<unix>;h1=<hex>` is the HMAC-SHA256 of `"<ts>:<body>"`
//! keyed with the notification destination's secret key (`pdl_ntfset_…`); any `h1` may match
//! (two while a secret is rotated); the timestamp must be within five minutes.
//!
//! Events (`event_type`, ID `event_id`) and the fields used; amounts are strings of minor units:
//! - `transaction.completed`: a conversion, `external_id` = `data.id`, amount =
//!   `data.details.totals.subtotal` (items before discount and tax) − `…totals.discount`, so the
//!   items after discounts without tax, in `data.currency_code`. Attributed by
//!   `data.custom_data.affiliated_click_id` (passed as `customData` to Paddle.js checkout), else
//!   `data.customer_id` (`paddle:ctm_…`): renewals of a subscription whose first payment carried
//!   the click are credited to the same affiliate.
//! - `adjustment.created` / `adjustment.updated` with `data.action = refund` and `data.status =
//!   approved`: a refund of the conversion of `data.transaction_id`, `refund_id` = the adjustment
//!   `id`; `data.type = full` refunds everything left, a partial one `data.totals.subtotal` (the
//!   refunded amount without tax). Pending, rejected and non-refund adjustments are ignored.
//!
//! Paddle does not mark sandbox events in them, so `test` is unknown; point the sandbox at a
//! separate affiliated.

use serde_json::Value;

use super::signature::{self, SignatureError};
use super::{Action, Connector, Delivery, Mapped, Order, Refund, What};
use crate::error::Error;
use crate::tracking::conversion::{PlatformRefund, RefundAmount};

pub const SIGNATURE_HEADER: &str = "paddle-signature";

pub fn verify(delivery: &Delivery<'_>, secret: &str, now: i64) -> Result<(), SignatureError> {
    let parsed = delivery.header(SIGNATURE_HEADER).and_then(|h| signature::parse_timestamped(h, ';', "ts", "h1"));
    signature::verify_timestamped(parsed, b":", delivery.body, secret, now)
}

pub fn map(delivery: &Delivery<'_>) -> Mapped {
    let event = match super::json_body(delivery) {
        Ok(event) => event,
        Err(e) => return Mapped::unreadable(e),
    };
    let event_type = super::text(&event["event_type"]).unwrap_or_else(|| "unknown".into());
    let data = &event["data"];
    let what = match event_type.as_str() {
        "transaction.completed" => transaction(data),
        "adjustment.created" | "adjustment.updated" => adjustment(data),
        _ => Ok(What::Ignored(
            "not an event affiliated records (transaction.completed, adjustment.created, adjustment.updated)",
        )),
    };
    Mapped {
        event_id: super::text(&event["event_id"]),
        event_type,
        test: None,
        what: what.unwrap_or_else(What::Unreadable),
    }
}

fn transaction(t: &Value) -> Result<What, Error> {
    let totals = &t["details"]["totals"];
    let discount = match &totals["discount"] {
        Value::Null => 0,
        v => super::minor(v, "details.totals.discount")?,
    };
    Ok(What::Actions(vec![Action::Order(Order {
        external_id: super::required(&t["id"], "id")?,
        amount: (super::minor(&totals["subtotal"], "details.totals.subtotal")? - discount).max(0),
        currency: super::currency(&t["currency_code"], "currency_code")?,
        click_id: super::text(&t["custom_data"]["affiliated_click_id"]),
        coupons: Vec::new(),
        customer_id: super::text(&t["customer_id"]).map(|c| Connector::Paddle.customer(&c)),
        waits_for_customer: false,
    })]))
}

fn adjustment(a: &Value) -> Result<What, Error> {
    if a["action"].as_str() != Some("refund") {
        return Ok(What::Ignored("not a refund (credits and chargebacks are not mapped)"));
    }
    if a["status"].as_str() != Some("approved") {
        return Ok(What::Ignored("the refund is not approved (yet): adjustment.updated follows when it is"));
    }
    let amount = if a["type"].as_str() == Some("full") {
        RefundAmount::All
    } else {
        let currency_field =
            if a["currency_code"].is_null() { &a["totals"]["currency_code"] } else { &a["currency_code"] };
        RefundAmount::Platform(PlatformRefund {
            currency: super::currency(currency_field, "currency_code")?,
            refunded: super::minor(&a["totals"]["subtotal"], "totals.subtotal")?,
            paid: None,
            running_total: false,
        })
    };
    let id = super::required(&a["id"], "id")?;
    Ok(What::Actions(vec![Action::Refund(Refund {
        orders: vec![super::required(&a["transaction_id"], "transaction_id")?],
        refund_id: Some(id.clone()),
        amount,
        reference: id,
    })]))
}

#[cfg(test)]
mod tests {
    use super::super::tests::{CLICK, actions, fixture, headers, map_fixture, usd};
    use super::*;
    use crate::secret;

    fn mapped(name: &str, edit: impl FnOnce(&mut Value)) -> Mapped {
        map_fixture(Connector::Paddle, name, &[], edit)
    }

    #[test]
    fn a_completed_transaction_is_a_conversion_of_its_subtotal_after_discount() {
        let m = mapped("transaction-completed.json", |_| {});
        assert_eq!(
            (m.event_id.as_deref(), m.event_type.as_str(), m.test),
            (Some("evt_01hv8x2a5tgxq8p0n3bqjn4f2y"), "transaction.completed", None)
        );
        assert_eq!(
            actions(m),
            [Action::Order(Order {
                external_id: "txn_01hv8wptq8987qeep44cyrewp9".into(),
                amount: 9000,
                currency: usd(),
                click_id: Some(CLICK.into()),
                coupons: vec![],
                customer_id: Some("paddle:ctm_01hv6y1jedq4p1n0yqn5ba3ky4".into()),
                waits_for_customer: false,
            })]
        );
        let renewal = actions(mapped("transaction-completed.json", |e| e["data"]["custom_data"] = Value::Null));
        assert!(matches!(&renewal[0], Action::Order(o) if o.click_id.is_none() && o.customer_id.is_some()));
    }

    #[test]
    fn approved_refund_adjustments_are_refunds() {
        let m = mapped("adjustment-updated.json", |_| {});
        assert_eq!(
            actions(m),
            [Action::Refund(Refund {
                orders: vec!["txn_01hv8wptq8987qeep44cyrewp9".into()],
                refund_id: Some("adj_01hv9fk6h3xk9m2q8w7e6r5t4y".into()),
                amount: RefundAmount::Platform(PlatformRefund {
                    currency: usd(),
                    refunded: 4500,
                    paid: None,
                    running_total: false
                }),
                reference: "adj_01hv9fk6h3xk9m2q8w7e6r5t4y".into(),
            })]
        );
        let full = actions(mapped("adjustment-updated.json", |e| e["data"]["type"] = "full".into()));
        assert!(matches!(&full[0], Action::Refund(r) if r.amount == RefundAmount::All));
        for (field, value) in [("status", "pending_approval"), ("status", "rejected"), ("action", "credit")] {
            let m = mapped("adjustment-updated.json", |e| e["data"][field] = value.into());
            assert!(matches!(m.what, What::Ignored(_)), "{field}={value}");
        }
        assert!(matches!(
            mapped("adjustment-updated.json", |e| e["event_type"] = "customer.updated".into()).what,
            What::Ignored(_)
        ));
    }

    #[test]
    fn signatures_are_paddles() {
        let body = fixture("paddle/transaction-completed.json");
        let key = "pdl_ntfset_01gkpjp8bkm3tm53kdgkx6sms7_6h3qd3uFSi9YCD3OLYAShQI90XTI5vEI";
        let ts = 1_764_244_805;
        let mut signed = format!("{ts}:").into_bytes();
        signed.extend_from_slice(&body);
        let h1 = secret::hex(&secret::hmac_sha256(key.as_bytes(), &signed));
        let check = |header: &str, now| {
            let h = headers(&[("Paddle-Signature", header)]);
            verify(&Delivery { headers: &h, body: &body }, key, now)
        };
        assert_eq!(check(&format!("ts={ts};h1={h1}"), ts), Ok(()));
        assert_eq!(check(&format!("ts={ts};h1=00;h1={h1}"), ts), Ok(()));
        assert_eq!(check(&format!("ts={ts};h1={h1}"), ts + 301), Err(SignatureError::Stale));
        assert_eq!(check(&format!("ts={ts},h1={h1}"), ts), Err(SignatureError::Invalid), "Paddle separates with ;");
        assert_eq!(check(&format!("ts={};h1={h1}", ts - 1), ts), Err(SignatureError::Invalid));
    }
}
