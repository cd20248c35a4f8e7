//! The Shopify, WooCommerce and Paddle connectors against the real binary: each platform's paid
//! order is one conversion, its refunds refund it once, in whichever order they come, and what
//! the signature does not vouch for is refused.

use serde_json::{Value, json};

use crate::hooks::{
    FIXTURE_CLICK, books, conversion, conversions, fixture, fixture_json, hook_log, now, outcomes, paddle_signature,
    post_paddle, post_shopify, post_woo, server,
};

fn bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

#[test]
fn a_shopify_order_and_its_refund_count_once_in_any_order() {
    let s = server(&[]);
    let order = fixture("shopify/orders-paid.json", &s.click("ann", json!({})));
    let refund = fixture("shopify/refunds-create.json", FIXTURE_CLICK);
    assert_eq!(outcomes(&post_shopify(&s, "orders/paid", &order)), ["created"]);
    assert_eq!(outcomes(&post_shopify(&s, "orders/paid", &order)), ["duplicate"]);
    assert_eq!(outcomes(&post_shopify(&s, "refunds/create", &refund)), ["refunded"]);
    assert_eq!(outcomes(&post_shopify(&s, "refunds/create", &refund)), ["duplicate"], "the refund ID refunds once");
    let c = conversion(&s, "5830496714838");
    assert_eq!(
        (&c["amount"], &c["refunded_amount"], &c["commission"], &c["customer_id"], &c["attributed_by"]),
        (&json!("89.10"), &json!("29.70"), &json!("5.94"), &json!("shopify:207119551"), &json!("click"))
    );
    assert_eq!(hook_log(&s, "&connector=shopify")[0]["test"], false);

    let reordered = server(&[]);
    let order = fixture("shopify/orders-paid.json", &reordered.click("ann", json!({})));
    assert_eq!(outcomes(&post_shopify(&reordered, "refunds/create", &refund)), ["held"]);
    assert_eq!(outcomes(&post_shopify(&reordered, "orders/paid", &order)), ["created", "refunded"]);
    assert_eq!(books(&s), books(&reordered));
}

#[test]
fn a_shopify_order_without_a_click_is_credited_by_its_affiliates_coupon() {
    let s = server(&[]);
    let r = s.post("/api/v1/coupons", &json!({"code": "SPRING10", "referral_code": "ann"}));
    assert_eq!(r.status, 201, "{}", r.text());
    let mut order = fixture_json("shopify/orders-paid.json", FIXTURE_CLICK);
    order["note_attributes"] = json!([]);
    order["landing_site"] = "/".into();
    order["discount_codes"] = json!([{"code": "FREESHIP", "amount": "0.00"}, {"code": "SPRING10", "amount": "9.90"}]);
    assert_eq!(outcomes(&post_shopify(&s, "orders/paid", &bytes(&order))), ["created"]);
    let c = conversion(&s, "5830496714838");
    assert_eq!(
        (&c["attributed_by"], &c["coupon"]),
        (&json!("coupon"), &json!("SPRING10")),
        "the code that is a coupon"
    );
    // Their next order, with no code at all, is credited by the customer the first one tied.
    order["id"] = 5830496714999u64.into();
    order["discount_codes"] = json!([]);
    assert_eq!(outcomes(&post_shopify(&s, "orders/paid", &bytes(&order))), ["created"]);
    assert_eq!(conversion(&s, "5830496714999")["attributed_by"], "customer");
    let wrong = [("X-Shopify-Topic", "orders/paid"), ("X-Shopify-Hmac-Sha256", "bm90IHRoZSBzaWduYXR1cmU=")];
    s.post_raw("/hooks/shopify", &wrong, &bytes(&order)).assert_error(401, "invalid_signature");
    let r = post_shopify(&s, "customers/create", b"{}");
    assert!(r.json()["ignored"].is_string(), "{}", r.text());
}

#[test]
fn woocommerce_pings_orders_and_refunds() {
    let s = server(&[]);
    let ping =
        s.post_raw("/hooks/woocommerce", &[("Content-Type", "application/x-www-form-urlencoded")], b"webhook_id=17");
    assert_eq!(ping.status, 200, "{}", ping.text());
    assert!(ping.json()["ignored"].as_str().unwrap().contains("ping"));
    assert!(hook_log(&s, "").is_empty(), "an unsigned ping is not logged");

    let click = s.click("ann", json!({}));
    let mut pending = fixture_json("woocommerce/order-processing.json", &click);
    pending["status"] = "pending".into();
    assert!(post_woo(&s, "order.created", &bytes(&pending)).json()["ignored"].is_string());
    let processing = fixture("woocommerce/order-processing.json", &click);
    let refunded = fixture("woocommerce/order-refunded.json", &click);
    assert_eq!(outcomes(&post_woo(&s, "order.updated", &processing)), ["created"]);
    assert_eq!(outcomes(&post_woo(&s, "order.updated", &refunded)), ["duplicate", "refunded"]);
    assert_eq!(outcomes(&post_woo(&s, "order.updated", &refunded)), ["duplicate", "duplicate"]);
    let c = conversion(&s, "1042");
    // Half of the order's 130.90 (with tax and shipping) came back: half of the 100.00 of items.
    assert_eq!(
        (&c["amount"], &c["currency"], &c["refunded_amount"], &c["commission"], &c["customer_id"]),
        (&json!("100.00"), &json!("EUR"), &json!("50.00"), &json!("5.00"), &json!("woocommerce:12"))
    );

    // The refunded snapshot delivered before the paid one: its refund waits for the order.
    let reordered = server(&[]);
    let click = reordered.click("ann", json!({}));
    let mut refunded_first = fixture_json("woocommerce/order-refunded.json", &click);
    refunded_first["status"] = "refunded".into();
    assert_eq!(outcomes(&post_woo(&reordered, "order.updated", &bytes(&refunded_first))), ["held"]);
    let processing = fixture("woocommerce/order-processing.json", &click);
    assert_eq!(outcomes(&post_woo(&reordered, "order.updated", &processing)), ["created", "refunded"]);
    assert_eq!(books(&s), books(&reordered));

    let unsigned = reordered.post_raw("/hooks/woocommerce", &[("X-WC-Webhook-Topic", "order.updated")], &processing);
    unsigned.assert_error(401, "invalid_signature");
}

#[test]
fn paddle_transactions_renewals_and_refunds() {
    let s = server(&[]);
    let click = s.click("ann", json!({}));
    let txn = fixture("paddle/transaction-completed.json", &click);
    assert_eq!(outcomes(&post_paddle(&s, &txn, now())), ["created"]);
    assert_eq!(outcomes(&post_paddle(&s, &txn, now())), ["duplicate"]);
    let c = conversion(&s, "txn_01hv8wptq8987qeep44cyrewp9");
    assert_eq!(
        (&c["amount"], &c["commission"], &c["attributed_by"]),
        (&json!("90.00"), &json!("9.00"), &json!("click"))
    );

    let mut renewal = fixture_json("paddle/transaction-completed.json", &click);
    renewal["data"]["id"] = "txn_01hvrenewal000000000000000".into();
    renewal["data"]["custom_data"] = Value::Null;
    assert_eq!(outcomes(&post_paddle(&s, &bytes(&renewal), now())), ["created"]);
    assert_eq!(conversion(&s, "txn_01hvrenewal000000000000000")["attributed_by"], "customer");

    let mut pending = fixture_json("paddle/adjustment-updated.json", FIXTURE_CLICK);
    pending["event_type"] = "adjustment.created".into();
    pending["data"]["status"] = "pending_approval".into();
    assert!(post_paddle(&s, &bytes(&pending), now()).json()["ignored"].is_string());
    let approved = fixture("paddle/adjustment-updated.json", FIXTURE_CLICK);
    assert_eq!(outcomes(&post_paddle(&s, &approved, now())), ["refunded"]);
    assert_eq!(outcomes(&post_paddle(&s, &approved, now())), ["duplicate"]);
    assert_eq!(conversion(&s, "txn_01hv8wptq8987qeep44cyrewp9")["refunded_amount"], "45.00");

    post_paddle(&s, &approved, now() - 400).assert_error(401, "stale_signature");
    let forged = paddle_signature(&approved, now()).replace("h1=", "h1=00");
    s.post_raw("/hooks/paddle", &[("Paddle-Signature", &forged)], &approved).assert_error(401, "invalid_signature");
    assert_eq!(conversions(&s).len(), 2);
}
