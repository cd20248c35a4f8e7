//! Conversions: attribution by each key, commissions, dedup under concurrency, approval.

use std::sync::{Arc, Barrier};

use serde_json::{Value, json};

use crate::support::Server;

fn convert(s: &Server, body: Value) -> crate::support::Resp {
    s.post("/api/v1/conversions", &body)
}

#[test]
fn a_click_converts_with_the_documented_object() {
    let s = Server::start();
    s.seed();
    let click = s.click("ann", json!({}));
    let r = convert(&s, json!({"external_id": "order-1", "amount": "99.00", "click_id": click}));
    assert_eq!(r.status, 201, "{}", r.text());
    let c = r.json();
    for field in [
        "id",
        "external_id",
        "referral_code",
        "click_id",
        "customer_id",
        "offer",
        "amount",
        "currency",
        "commission",
        "status",
        "created_at",
    ] {
        assert!(c.get(field).is_some(), "missing {field} in {c}");
    }
    assert_eq!(c["external_id"], "order-1");
    assert_eq!(c["referral_code"], "ann");
    assert_eq!(c["click_id"], click.as_str());
    assert_eq!(c["offer"], "main");
    assert_eq!(c["amount"], "99.00");
    assert_eq!(c["currency"], "USD");
    assert_eq!(c["commission"], "9.90");
    assert_eq!(c["status"], "pending");
    assert_eq!(c["type"], "sale");
    assert_eq!(c["attributed_by"], "click");
    assert_eq!(c["source"], "api");
}

#[test]
fn amounts_are_exact_and_bad_ones_are_refused() {
    let s = Server::start();
    s.seed();
    let click = s.click("ann", json!({}));
    let mut n = 0;
    let mut post = |amount: Value| {
        n += 1;
        convert(&s, json!({"external_id": format!("o{n}"), "amount": amount, "click_id": click}))
    };
    // Numbers are read from their JSON text, never through a float.
    let r = post(json!(0.29));
    assert_eq!(r.json()["amount"], "0.29");
    assert_eq!(r.json()["commission"], "0.03");
    let r = post(json!("1.15"));
    assert_eq!(r.json()["commission"], "0.12"); // 0.115 rounds half up
    let r = post(json!("19.990"));
    assert_eq!(r.json()["amount"], "19.99");
    let r = post(json!(20));
    assert_eq!(r.json()["amount"], "20.00");
    for bad in [
        json!("-1"),
        json!(-1),
        json!("abc"),
        json!("NaN"),
        json!("inf"),
        json!("1e3"),
        json!("1.001"),
        json!("10000000000000"),
        json!(true),
        json!({"v": 1}),
    ] {
        post(bad.clone()).assert_error(400, "invalid_amount");
    }
    // JSON numbers with an exponent or a sign, as a client would write them.
    for raw in ["1e3", "1E-2", "-0.5", "1.0e2"] {
        let body = format!(r#"{{"external_id": "raw-{raw}", "amount": {raw}, "click_id": "{click}"}}"#);
        s.post_raw("/api/v1/conversions", &[("X-Api-Key", crate::support::KEY)], body.as_bytes())
            .assert_error(400, "invalid_amount");
    }
    post(Value::Null).assert_error(400, "missing_amount");
}

#[test]
fn every_documented_error() {
    let s = Server::start();
    s.seed();
    let click = s.click("ann", json!({}));
    convert(&s, json!({"amount": "1", "click_id": click})).assert_error(400, "missing_external_id");
    convert(&s, json!({"external_id": "", "amount": "1", "click_id": click})).assert_error(400, "missing_external_id");
    convert(&s, json!({"external_id": "a", "amount": "1"})).assert_error(400, "missing_attribution");
    convert(&s, json!({"external_id": "a", "amount": "1", "click_id": null, "coupon": null, "customer_id": null, "session_id": null}))
        .assert_error(400, "missing_attribution");
    convert(&s, json!({"external_id": "a", "amount": "1", "click_id": "x".repeat(30)}))
        .assert_error(400, "invalid_click_id");
    convert(&s, json!({"external_id": "a", "amount": "1", "coupon": "NOPE"})).assert_error(400, "invalid_coupon");
    convert(&s, json!({"external_id": "a", "amount": "1", "customer_id": "nobody"}))
        .assert_error(400, "invalid_customer");
    convert(&s, json!({"external_id": "a", "amount": "1", "click_id": click, "currency": "XXX"}))
        .assert_error(400, "invalid_currency");
    convert(&s, json!({"external_id": "a", "amount": "1", "click_id": click, "type": "Sale!"}))
        .assert_error(400, "invalid_type");
    s.post_raw("/api/v1/conversions", &[("X-Api-Key", crate::support::KEY)], b"{\"external_id\":")
        .assert_error(400, "invalid_json");
    s.post_raw("/api/v1/conversions", &[("X-Api-Key", crate::support::KEY)], b"[1,2]")
        .assert_error(400, "invalid_json");

    // Age the click past the offer's 30-day window.
    let thirty_one_days = 31 * 86_400_000i64;
    s.sql()
        .execute(
            "UPDATE clicks SET created_at = created_at - ?1 WHERE id = ?2",
            rusqlite::params![thirty_one_days, click],
        )
        .unwrap();
    convert(&s, json!({"external_id": "a", "amount": "1", "click_id": click})).assert_error(400, "expired_click_id");
    // Nothing was stored by any of these.
    let total: i64 = s.sql().query_row("SELECT count(*) FROM conversions", [], |r| r.get(0)).unwrap();
    assert_eq!(total, 0);
}

#[test]
fn duplicate_orders_return_the_original() {
    let s = Server::start();
    s.seed();
    let click = s.click("ann", json!({}));
    let first = convert(&s, json!({"external_id": 1001, "amount": "50.00", "click_id": click}));
    assert_eq!(first.status, 201);
    assert_eq!(first.json()["external_id"], "1001");
    // A retry, even with a different amount, is answered with the stored original.
    let again = convert(&s, json!({"external_id": "1001", "amount": "70.00", "click_id": click}));
    again.assert_error(409, "duplicate_external_id");
    assert_eq!(again.json()["conversion"], first.json());
    // Still a duplicate after the click expired: the order is known, that is what matters.
    s.sql().execute("UPDATE clicks SET created_at = 0", []).unwrap();
    convert(&s, json!({"external_id": "1001", "amount": "50.00", "click_id": click}))
        .assert_error(409, "duplicate_external_id");
}

#[test]
fn thirty_two_concurrent_retries_store_one_conversion() {
    let s = Arc::new(Server::start_with(&["--workers", "32"], &[]));
    s.seed();
    let click = s.click("ann", json!({}));
    let barrier = Arc::new(Barrier::new(32));
    let threads: Vec<_> = (0..32)
        .map(|_| {
            let (s, barrier, click) = (s.clone(), barrier.clone(), click.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let r = convert(&s, json!({"external_id": "race-1", "amount": "10.00", "click_id": click}));
                (r.status, r.json())
            })
        })
        .collect();
    let results: Vec<(u16, Value)> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let created: Vec<&Value> = results.iter().filter(|(st, _)| *st == 201).map(|(_, b)| b).collect();
    assert_eq!(created.len(), 1, "{results:?}");
    let original_id = &created[0]["id"];
    for (status, body) in &results {
        if *status != 201 {
            assert_eq!(*status, 409, "{body}");
            assert_eq!(body["error"]["code"], "duplicate_external_id");
            assert_eq!(&body["conversion"]["id"], original_id);
        }
    }
    let rows: i64 =
        s.sql().query_row("SELECT count(*) FROM conversions WHERE external_id = 'race-1'", [], |r| r.get(0)).unwrap();
    assert_eq!(rows, 1);
}

#[test]
fn approval_happens_exactly_once() {
    let s = Arc::new(Server::start_with(&["--workers", "16"], &[]));
    s.seed();
    let click = s.click("ann", json!({}));
    let id = convert(&s, json!({"external_id": "o1", "amount": "10", "click_id": click})).json()["id"].clone();
    let barrier = Arc::new(Barrier::new(16));
    let threads: Vec<_> = (0..16)
        .map(|i| {
            let (s, barrier) = (s.clone(), barrier.clone());
            let id = id.clone();
            std::thread::spawn(move || {
                barrier.wait();
                let action = if i % 2 == 0 { "approve" } else { "reject" };
                s.post(&format!("/api/v1/conversions/{id}/{action}"), &json!({"reason": "race"})).status
            })
        })
        .collect();
    let statuses: Vec<u16> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(statuses.iter().filter(|&&st| st == 200).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|&&st| st == 409).count(), 15, "{statuses:?}");
    let stored = s.get(&format!("/api/v1/conversions/{id}")).json();
    assert_ne!(stored["status"], "pending");
    let events = stored["events"].as_array().unwrap();
    assert_eq!(events.len(), 2, "created + one decision: {stored}");
    assert_eq!(events[1]["reason"], "race");
    assert!(events[1]["actor"].as_str().unwrap().starts_with("api_key:"));

    let refused = s.post(&format!("/api/v1/conversions/{id}/approve"), &json!({}));
    refused.assert_error(409, "invalid_status_transition");
    assert_eq!(refused.json()["conversion"]["status"], stored["status"]);
    s.post("/api/v1/conversions/999/approve", &json!({})).assert_error(404, "not_found");
    s.post("/api/v1/conversions/abc/reject", &json!({})).assert_error(404, "not_found");
    s.get("/api/v1/conversions/999").assert_error(404, "not_found");
}

#[test]
fn coupons_customers_and_sessions_attribute() {
    let s = Server::start();
    s.seed();
    s.post("/api/v1/affiliates", &json!({"referral_code": "bob", "name": "Bob"}));
    s.post(
        "/api/v1/offers",
        &json!({
            "id": "flat5", "name": "Flat", "landing_url": "https://shop.example/f",
            "commission": {"type": "flat", "value": "5"}, "attribution": "first_click"
        }),
    );
    s.post("/api/v1/coupons", &json!({"code": "BOB5", "referral_code": "bob", "offer": "flat5"}));

    let by_coupon = convert(&s, json!({"external_id": "c1", "amount": "100", "coupon": "bob5"}));
    assert_eq!(by_coupon.status, 201, "{}", by_coupon.text());
    assert_eq!(by_coupon.json()["referral_code"], "bob");
    assert_eq!(by_coupon.json()["commission"], "5.00");
    assert_eq!(by_coupon.json()["attributed_by"], "coupon");
    convert(&s, json!({"external_id": "c2", "amount": "100", "coupon": "bob5", "currency": "EUR"}))
        .assert_error(400, "currency_mismatch");

    // Session: first-click offer for Ann's then Bob's click -> Ann (first) ...
    let ann_click = s.click("ann", json!({"session_id": "S", "offer": "flat5"}));
    let bob_click = s.click("bob", json!({"session_id": "S", "offer": "flat5"}));
    s.sql().execute("UPDATE clicks SET created_at = created_at - 1000 WHERE id = ?1", [&ann_click]).unwrap();
    let by_session = convert(&s, json!({"external_id": "s1", "amount": "10", "session_id": "S"}));
    assert_eq!(by_session.status, 201, "{}", by_session.text());
    assert_eq!(by_session.json()["click_id"], ann_click.as_str());
    // ... and last-click for a session whose latest click is on a last-click offer.
    let earlier = s.click("ann", json!({"session_id": "T"}));
    let last = s.click("bob", json!({"session_id": "T"}));
    // Two API calls can land in the same millisecond; make the order of the clicks unambiguous.
    s.sql().execute("UPDATE clicks SET created_at = created_at - 1000 WHERE id = ?1", [&earlier]).unwrap();
    let r = convert(&s, json!({"external_id": "s2", "amount": "10", "session_id": "T"}));
    assert_eq!(r.json()["click_id"], last.as_str());
    assert_eq!(r.json()["referral_code"], "bob");
    convert(&s, json!({"external_id": "s3", "amount": "10", "session_id": "unknown"}))
        .assert_error(400, "invalid_session_id");
    let _ = bob_click;

    // Customer: the first order with click + customer ties the customer to Ann; later orders with
    // only the customer pay Ann again, even after the click is gone.
    let click = s.click("ann", json!({}));
    let first = convert(&s, json!({"external_id": "r1", "amount": "20", "click_id": click, "customer_id": "cust-9"}));
    assert_eq!(first.json()["customer_id"], "cust-9");
    s.sql().execute("DELETE FROM clicks WHERE id = ?1", [&click]).unwrap();
    let recurring = convert(&s, json!({"external_id": "r2", "amount": "30", "customer_id": "cust-9"}));
    assert_eq!(recurring.status, 201, "{}", recurring.text());
    assert_eq!(recurring.json()["referral_code"], "ann");
    assert_eq!(recurring.json()["attributed_by"], "customer");
    assert_eq!(recurring.json()["commission"], "3.00");
    assert_eq!(s.get("/api/v1/conversions?referral_code=ann").json()["data"][1]["click_id"], Value::Null);
}

#[test]
fn a_failing_key_falls_through_to_the_next() {
    let s = Server::start();
    s.seed();
    s.post("/api/v1/coupons", &json!({"code": "ANN", "referral_code": "ann"}));
    let r = convert(&s, json!({"external_id": "f1", "amount": "10", "click_id": "gone", "coupon": "ANN"}));
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["attributed_by"], "coupon");
}

#[test]
fn listing_filters_and_pages() {
    let s = Server::start();
    s.seed();
    s.post("/api/v1/affiliates", &json!({"referral_code": "bob", "name": "Bob"}));
    let ann = s.click("ann", json!({}));
    let bob = s.click("bob", json!({}));
    for i in 0..5 {
        convert(&s, json!({"external_id": format!("a{i}"), "amount": "1", "click_id": ann}));
    }
    for i in 0..3 {
        convert(&s, json!({"external_id": format!("b{i}"), "amount": "1", "click_id": bob}));
    }
    s.post("/api/v1/conversions/1/approve", &json!({}));
    let all = s.get("/api/v1/conversions?limit=3").json();
    assert_eq!(all["data"].as_array().unwrap().len(), 3);
    assert_eq!(all["data"][0]["external_id"], "b2", "newest first");
    let mut seen = 3;
    let mut cursor = all["next_cursor"].as_str().map(String::from);
    while let Some(c) = cursor {
        let page = s.get(&format!("/api/v1/conversions?limit=3&cursor={c}")).json();
        seen += page["data"].as_array().unwrap().len();
        cursor = page["next_cursor"].as_str().map(String::from);
    }
    assert_eq!(seen, 8);
    assert_eq!(s.get("/api/v1/conversions?referral_code=bob").json()["data"].as_array().unwrap().len(), 3);
    let approved = s.get("/api/v1/conversions?status=approved").json();
    assert_eq!(approved["data"].as_array().unwrap().len(), 1);
    assert_eq!(approved["data"][0]["external_id"], "a0");
    assert_eq!(s.get("/api/v1/conversions?since=2000-01-01T00:00:00Z").json()["data"].as_array().unwrap().len(), 8);
    assert_eq!(s.get("/api/v1/conversions?since=2999-01-01T00:00:00Z").json()["data"].as_array().unwrap().len(), 0);
    s.get("/api/v1/conversions?status=paid").assert_error(400, "invalid_status");
    s.get("/api/v1/conversions?since=yesterday").assert_error(400, "invalid_since");
    s.get("/api/v1/conversions?referral_code=zed").assert_error(404, "unknown_referral_code");
}
