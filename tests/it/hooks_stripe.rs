//! The Stripe connector against the real binary: signed events recorded once however often
//! they come, bad and stale signatures refused, and events in any order leaving the same books
//! (an invoice before the checkout that ties its customer, a refund before its payment).

use std::time::Duration;

use serde_json::{Value, json};

use crate::hooks::{
    FIXTURE_CLICK, books, conversion, conversions, fixture, fixture_json, hook_log, now, outcomes, post_stripe,
    post_stripe_at, server, stripe_signature,
};
use crate::support::{Server, eventually};

fn event(s: &Server, name: &str) -> Value {
    let click = s.click("ann", json!({}));
    fixture_json(&format!("stripe/{name}"), &click)
}

#[test]
fn a_paid_checkout_is_one_conversion_of_its_items_however_often_it_comes() {
    let s = server(&[]);
    let session = event(&s, "checkout.session.completed.payment.json");
    let first = post_stripe(&s, &session);
    assert_eq!(outcomes(&first), ["created"]);
    assert_eq!(first.json()["event_id"], "evt_1QpRrXLkdIwHu7ixbOl9Zk3F");
    let again = post_stripe(&s, &session);
    assert_eq!(outcomes(&again), ["duplicate"], "a retry is a 200 that says so");
    assert!(again.json()["results"][0]["message"].as_str().unwrap().contains("nothing changed"));
    let all = conversions(&s);
    assert_eq!(all.len(), 1);
    let c = &all[0];
    assert_eq!(
        (&c["external_id"], &c["amount"], &c["commission"], &c["currency"], &c["source"], &c["attributed_by"]),
        (
            &json!("pi_3QpRrVLkdIwHu7ix0m8Kx5aB"),
            &json!("45.00"),
            &json!("4.50"),
            &json!("USD"),
            &json!("stripe"),
            &json!("click")
        )
    );
    assert_eq!(c["customer_id"], "stripe:cus_R8fTz2Qw1nXy9a", "the platform's customer, namespaced");
    assert_eq!(c["test"], true, "livemode:false is test data");
    let live_list = s.get("/api/v1/conversions");
    assert_eq!(live_list.json()["data"].as_array().unwrap().len(), 0, "test data stays out of the default list");
    let log = hook_log(&s, "&connector=stripe");
    assert_eq!(log.len(), 2);
    assert_eq!(
        (&log[0]["outcome"], &log[0]["test"], &log[0]["conversion_id"]),
        (&json!("created"), &json!(true), &c["id"])
    );
    assert_eq!(log[1]["outcome"], "duplicate");
}

#[test]
fn bad_and_stale_signatures_are_refused_and_record_nothing() {
    let s = server(&[]);
    let body = fixture("stripe/checkout.session.completed.payment.json", &s.click("ann", json!({})));
    let t = now();
    let good = stripe_signature(&body, t);
    let v0_only = good.replace("v1=", "v0=");
    let forged = format!("t={t},v1={}", "0".repeat(64));
    // (header, body): none, garbage, a forged v1, only a v0, and a good header on another body.
    let cases = [
        (None, &body[..]),
        (Some("garbage"), &body[..]),
        (Some(forged.as_str()), &body[..]),
        (Some(v0_only.as_str()), &body[..]),
        (Some(good.as_str()), &body[1..]),
    ];
    for (header, sent) in cases {
        let headers: Vec<(&str, &str)> = header.map(|h| ("Stripe-Signature", h)).into_iter().collect();
        s.post_raw("/hooks/stripe", &headers, sent).assert_error(401, "invalid_signature");
    }
    post_stripe_at(&s, &body, t - 600).assert_error(401, "stale_signature");
    post_stripe_at(&s, &body, t + 600).assert_error(401, "stale_signature");
    assert!(conversions(&s).is_empty());
    assert!(hook_log(&s, "").is_empty(), "refused requests are not logged");
    assert_eq!(outcomes(&post_stripe_at(&s, &body, t - 290)), ["created"], "within five minutes");
}

#[test]
fn an_invoice_before_its_checkout_is_held_then_recorded_once() {
    let s = server(&[]);
    let click = s.click("ann", json!({}));
    let invoice = fixture_json("stripe/invoice.paid.json", &click);
    let session = fixture_json("stripe/checkout.session.completed.subscription.json", &click);

    let held = post_stripe(&s, &invoice);
    assert_eq!(outcomes(&held), ["held"]);
    assert_eq!(outcomes(&post_stripe(&s, &invoice)), ["held"], "a retry is held once");
    assert!(conversions(&s).is_empty());

    let tie = post_stripe(&s, &session);
    assert_eq!(outcomes(&tie), ["tied", "created"], "the tie replays the held invoice in its transaction");
    assert_eq!(tie.json()["results"][1]["replayed"]["event_type"], "invoice.paid");
    let c = conversion(&s, "in_1QpS0ZLkdIwHu7ixFirst001");
    assert_eq!(
        (&c["amount"], &c["attributed_by"], &c["referral_code"]),
        (&json!("20.00"), &json!("customer"), &json!("ann"))
    );

    assert_eq!(outcomes(&post_stripe(&s, &invoice)), ["duplicate"]);
    assert_eq!(outcomes(&post_stripe(&s, &session)), ["duplicate"]);
    assert_eq!(conversions(&s).len(), 1, "never counted twice");
    let log: Vec<_> = hook_log(&s, "").iter().map(|h| (h["outcome"].clone(), h["replayed"].clone())).collect();
    assert!(log.contains(&(json!("created"), json!(true))), "{log:?}");

    // The next month's invoice is credited by the tie.
    let mut renewal = invoice.clone();
    renewal["id"] = "evt_renewal".into();
    renewal["data"]["object"]["id"] = "in_1QpS0ZLkdIwHu7ixSecond02".into();
    renewal["data"]["object"]["billing_reason"] = "subscription_cycle".into();
    assert_eq!(outcomes(&post_stripe(&s, &renewal)), ["created"]);

    // The same events in the natural order leave the same books.
    let other = server(&[]);
    let click = other.click("ann", json!({}));
    let session = fixture_json("stripe/checkout.session.completed.subscription.json", &click);
    assert_eq!(outcomes(&post_stripe(&other, &session)), ["tied"]);
    assert_eq!(outcomes(&post_stripe(&other, &fixture_json("stripe/invoice.paid.json", &click))), ["created"]);
    assert_eq!(outcomes(&post_stripe(&other, &renewal)), ["created"]);
    assert_eq!(books(&s), books(&other));
}

#[test]
fn refunds_follow_the_charge_in_any_order_and_only_once() {
    let in_order = server(&[]);
    let session = event(&in_order, "checkout.session.completed.payment.json");
    let refund = fixture_json("stripe/charge.refunded.json", FIXTURE_CLICK);
    assert_eq!(outcomes(&post_stripe(&in_order, &session)), ["created"]);
    assert_eq!(outcomes(&post_stripe(&in_order, &refund)), ["refunded"]);
    assert_eq!(outcomes(&post_stripe(&in_order, &refund)), ["duplicate"], "the running total is reached already");
    let c = conversion(&in_order, "pi_3QpRrVLkdIwHu7ix0m8Kx5aB");
    // Half of the 49.00 charged (items 45.00 after discount, plus tax) is half the conversion.
    assert_eq!(
        (&c["refunded_amount"], &c["commission"], &c["status"]),
        (&json!("22.50"), &json!("2.25"), &json!("pending"))
    );

    let reordered = server(&[]);
    let click = reordered.click("ann", json!({}));
    let session = fixture_json("stripe/checkout.session.completed.payment.json", &click);
    assert_eq!(outcomes(&post_stripe(&reordered, &refund)), ["held"]);
    assert_eq!(outcomes(&post_stripe(&reordered, &session)), ["created", "refunded"]);
    assert_eq!(outcomes(&post_stripe(&reordered, &refund)), ["duplicate"]);
    assert_eq!(books(&in_order), books(&reordered));

    let mut everything = refund.clone();
    everything["data"]["object"]["amount_refunded"] = 4900.into();
    everything["data"]["object"]["refunded"] = true.into();
    for s in [&in_order, &reordered] {
        assert_eq!(outcomes(&post_stripe(s, &everything)), ["refunded"]);
        let c = conversion(s, "pi_3QpRrVLkdIwHu7ix0m8Kx5aB");
        assert_eq!(
            (&c["refunded_amount"], &c["commission"], &c["status"]),
            (&json!("45.00"), &json!("0.00"), &json!("refunded"))
        );
    }
}

#[test]
fn other_events_are_ignored_and_sales_without_an_affiliate_are_unattributed() {
    let s = server(&[]);
    let mut other = event(&s, "checkout.session.completed.payment.json");
    other["type"] = "customer.subscription.updated".into();
    let r = post_stripe(&s, &other);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.json()["ignored"].as_str().unwrap().contains("checkout.session.completed"), "{}", r.text());

    let mut organic = event(&s, "checkout.session.completed.payment.json");
    organic["data"]["object"]["client_reference_id"] = Value::Null;
    organic["data"]["object"]["payment_intent"] = "pi_organic".into();
    let r = post_stripe(&s, &organic);
    assert_eq!(outcomes(&r), ["unattributed"], "a 200: the platform must not retry a sale without an affiliate");

    let mut unreadable = event(&s, "checkout.session.completed.payment.json");
    unreadable["data"]["object"]["currency"] = "xyz".into();
    let r = post_stripe(&s, &unreadable);
    assert_eq!(outcomes(&r), ["rejected"]);
    assert_eq!(r.json()["results"][0]["error"]["code"], "invalid_payload");

    assert!(conversions(&s).is_empty());
    let log: Vec<_> = hook_log(&s, "").iter().map(|h| h["outcome"].as_str().unwrap().to_string()).collect();
    assert_eq!(log, ["ignored", "unattributed", "rejected"]);
    assert_eq!(hook_log(&s, "&outcome=unattributed")[0]["error_code"], "invalid_customer");
}

#[test]
fn a_held_invoice_whose_checkout_never_comes_expires_in_the_log() {
    let s = server(&["--sweep-interval", "1s"]);
    let invoice = event(&s, "invoice.paid.json");
    assert_eq!(outcomes(&post_stripe(&s, &invoice)), ["held"]);
    // A day passes: the held event's clock is moved back instead of waiting.
    let moved = s.sql().execute("UPDATE hooks_held SET held_at = held_at - 25 * 3600 * 1000", []).unwrap();
    assert_eq!(moved, 1);
    assert!(eventually(Duration::from_secs(20), || !hook_log(&s, "&outcome=expired").is_empty()), "{}", s.log_text());
    let expired = &hook_log(&s, "&outcome=expired")[0];
    assert_eq!(
        (&expired["reference"], &expired["error_code"]),
        (&json!("in_1QpS0ZLkdIwHu7ixFirst001"), &json!("missing_attribution"))
    );
    let left: i64 = s.sql().query_row("SELECT count(*) FROM hooks_held", [], |r| r.get(0)).unwrap();
    assert_eq!(left, 0);
    // A tie now finds nothing held: the expired invoice is not recorded late.
    let tie = post_stripe(&s, &event(&s, "checkout.session.completed.subscription.json"));
    assert_eq!(outcomes(&tie), ["tied"]);
    assert!(conversions(&s).is_empty());
}

#[test]
fn an_invoice_and_its_checkout_arriving_together_count_once_whichever_wins() {
    let s = server(&["--workers", "8"]);
    let pairs: Vec<(Value, Value)> = (0..12)
        .map(|i| {
            let click = s.click("ann", json!({}));
            let mut invoice = fixture_json("stripe/invoice.paid.json", &click);
            let mut session = fixture_json("stripe/checkout.session.completed.subscription.json", &click);
            let customer = format!("cus_race{i:02}");
            invoice["data"]["object"]["id"] = format!("in_race{i:02}").into();
            invoice["data"]["object"]["customer"] = customer.clone().into();
            session["data"]["object"]["customer"] = customer.into();
            (invoice, session)
        })
        .collect();
    std::thread::scope(|scope| {
        for (invoice, session) in &pairs {
            scope.spawn(|| assert_eq!(post_stripe(&s, invoice).status, 200));
            scope.spawn(|| assert_eq!(post_stripe(&s, session).status, 200));
        }
    });
    let recorded: Vec<_> = conversions(&s).iter().map(|c| c["external_id"].as_str().unwrap().to_string()).collect();
    assert_eq!(recorded.len(), 12, "every invoice recorded once, none left held: {recorded:?}");
    let held: i64 = s.sql().query_row("SELECT count(*) FROM hooks_held", [], |r| r.get(0)).unwrap();
    assert_eq!(held, 0);
}

#[test]
fn a_live_event_is_live_data_in_the_default_lists() {
    let s = server(&[]);
    let mut session = event(&s, "checkout.session.completed.payment.json");
    session["livemode"] = json!(true);
    assert_eq!(outcomes(&post_stripe(&s, &session)), ["created"]);
    let listed = s.get("/api/v1/conversions");
    let data = listed.json()["data"].as_array().unwrap().clone();
    assert_eq!(data.len(), 1, "{}", listed.text());
    assert_eq!((&data[0]["test"], &data[0]["source"]), (&json!(false), &json!("stripe")));
}

#[test]
fn test_mode_events_are_deleted_with_the_test_data_and_the_log_keeps_its_rows() {
    let s = server(&[]);
    let session = event(&s, "checkout.session.completed.payment.json");
    assert_eq!(outcomes(&post_stripe(&s, &session)), ["created"]);
    let c = conversion(&s, "pi_3QpRrVLkdIwHu7ix0m8Kx5aB");
    assert_eq!(c["test"], true);
    let r = s.delete("/api/v1/test-data");
    assert_eq!(r.status, 204, "{}", r.text());
    assert!(conversions(&s).is_empty(), "the test conversion is gone");
    let log = hook_log(&s, "&connector=stripe");
    assert_eq!(log.len(), 1, "the hook log keeps what arrived");
    assert_eq!(log[0]["conversion_id"], Value::Null, "without pointing at a deleted conversion");
    // The same event again records it again: the platform's retry is still an order.
    assert_eq!(outcomes(&post_stripe(&s, &session)), ["created"]);
}
