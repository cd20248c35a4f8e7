//! Trust boundaries of the conversion path (issue #10): the public pixel cannot take an order
//! from the affiliate the shop's backend credits, every refund is safe to retry, and postback
//! input that would silently lose money is refused.

use std::time::Duration;

use serde_json::{Value, json};

use crate::outbound::Tracker;
use crate::postbacks::{fire, token};
use crate::support::{KEY, Server, eventually, request};

fn conversion_of(s: &Server, external_id: &str) -> Value {
    let list = s.get("/api/v1/conversions?limit=500").json();
    let found = list["data"].as_array().unwrap().iter().find(|c| c["external_id"] == external_id).cloned();
    let id = found.unwrap_or_else(|| panic!("no conversion {external_id}"))["id"].clone();
    s.get(&format!("/api/v1/conversions/{id}")).json()
}

fn affiliate(s: &Server, code: &str, postback_url: Option<&str>) {
    let r = s.post("/api/v1/affiliates", &json!({"referral_code": code, "name": code, "postback_url": postback_url}));
    assert_eq!(r.status, 201, "{}", r.text());
}

#[test]
fn the_pixel_is_off_unless_turned_on() {
    let s = Server::start();
    s.seed();
    let click = s.click("ann", json!({}));
    let r = s.get_public(&format!("/pixel.gif?click_id={click}&order_id=o-1&amount=10.00"));
    r.assert_error(404, "not_found");
    let n: i64 = s.sql().query_row("SELECT count(*) FROM conversions", [], |r| r.get(0)).unwrap();
    assert_eq!(n, 0, "an off pixel records nothing");
    let on = Server::start_with(&["--pixel", "on"], &[]);
    on.seed();
    let click = on.click("ann", json!({}));
    let r = on.get_public(&format!("/pixel.gif?click_id={click}&order_id=o-1&amount=10.00"));
    assert_eq!((r.status, r.header("Content-Type")), (200, Some("image/gif")));
    assert_eq!(conversion_of(&on, "o-1")["source"], "pixel");
    let env = Server::start_with(&[], &[("AFFILIATED_PIXEL", "on")]);
    assert_eq!(env.get_public("/pixel.gif").status, 200);
}

/// The attack of issue #10: ann fires the pixel for an order with her own click ID before the
/// shop's backend reports it for bob.
#[test]
fn a_server_side_report_takes_an_order_back_from_the_pixel() {
    let s = Server::start_with(&["--pixel", "on", "--allow-private-postbacks", "--outbound", "on"], &[]);
    s.seed();
    let tracker = Tracker::start(vec![200]);
    let ann_tracker = format!("http://127.0.0.1:{}/ann?cid={{click_id}}&st={{status}}&ev={{event}}", tracker.port);
    let body = json!({"postback_url": ann_tracker}).to_string();
    let r = request(s.addr, "PATCH", "/api/v1/affiliates/ann", &[("X-Api-Key", KEY)], body.as_bytes());
    assert_eq!(r.status, 200, "{}", r.text());
    affiliate(&s, "bob", Some(&format!("http://127.0.0.1:{}/bob?st={{status}}&ev={{event}}", tracker.port)));
    let ann_click = s.click("ann", json!({}));
    let bob_click = s.click("bob", json!({}));

    let pixel = s.get_public(&format!("/pixel.gif?click_id={ann_click}&order_id=order-5001&amount=5000.00"));
    assert_eq!(pixel.status, 200);
    assert_eq!(conversion_of(&s, "order-5001")["referral_code"], "ann");
    assert!(
        eventually(Duration::from_secs(10), || tracker.count() >= 1),
        "ann's tracker hears of the pixel's conversion"
    );

    let r =
        s.post("/api/v1/conversions", &json!({"external_id": "order-5001", "amount": "50.00", "click_id": bob_click}));
    assert_eq!(r.status, 201, "the shop's report is accepted, not a duplicate: {}", r.text());
    let body = r.json();
    assert_eq!(
        (&body["referral_code"], &body["amount"], &body["commission"], &body["source"], &body["status"]),
        (&json!("bob"), &json!("50.00"), &json!("5.00"), &json!("api"), &json!("pending"))
    );
    assert_eq!(body["click_id"], bob_click.as_str());

    let stored = conversion_of(&s, "order-5001");
    let events = stored["events"].as_array().unwrap();
    let actions: Vec<&str> = events.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["created", "replaced"]);
    assert_eq!(events[0]["actor"], "pixel");
    assert_eq!(events[0]["amount_delta"], "5000.00", "the pixel's version stays in the history");
    let reason = events[1]["reason"].as_str().unwrap();
    assert!(reason.contains("affiliate ann") && reason.contains("5000.00"), "{reason}");
    let n: i64 = s.sql().query_row("SELECT count(*) FROM conversions", [], |r| r.get(0)).unwrap();
    assert_eq!(n, 1, "one order, one conversion");

    // ann's tracker is told the order was rejected; bob's hears of it as created.
    assert!(eventually(Duration::from_secs(15), || tracker.count() >= 3), "{:?}", tracker.seen.lock().unwrap());
    let seen: Vec<String> = tracker.seen.lock().unwrap().iter().map(|(path, _)| path.clone()).collect();
    assert!(seen.contains(&format!("/ann?cid={ann_click}&st=rejected&ev=rejected")), "{seen:?}");
    assert!(seen.contains(&"/bob?st=pending&ev=created".to_string()), "{seen:?}");

    // The pixel again, and the shop's retry, change nothing.
    s.get_public(&format!("/pixel.gif?click_id={ann_click}&order_id=order-5001&amount=9999.00"));
    s.post("/api/v1/conversions", &json!({"external_id": "order-5001", "amount": "50.00", "click_id": bob_click}))
        .assert_error(409, "duplicate_external_id");
    let after = conversion_of(&s, "order-5001");
    assert_eq!((&after["referral_code"], &after["amount"]), (&json!("bob"), &json!("50.00")));
    assert_eq!(after["events"].as_array().unwrap().len(), 2);
    let metrics = s.get_public("/metrics").text();
    assert!(metrics.contains("affiliated_conversions_replaced_total 1"), "{metrics}");
}

#[test]
fn a_pixel_for_an_order_the_server_reported_changes_nothing() {
    let s = Server::start_with(&["--pixel", "on"], &[]);
    s.seed();
    affiliate(&s, "bob", None);
    let (ann_click, bob_click) = (s.click("ann", json!({})), s.click("bob", json!({})));
    let r = s.post("/api/v1/conversions", &json!({"external_id": "o-7", "amount": "20.00", "click_id": bob_click}));
    assert_eq!(r.status, 201);
    s.get_public(&format!("/pixel.gif?click_id={ann_click}&order_id=o-7&amount=999.00"));
    let c = conversion_of(&s, "o-7");
    assert_eq!((&c["referral_code"], &c["amount"], &c["source"]), (&json!("bob"), &json!("20.00"), &json!("api")));
    assert_eq!(c["events"].as_array().unwrap().len(), 1);
}

#[test]
fn a_postback_takes_over_an_approved_pixel_conversion_and_claws_its_commission_back() {
    let s = Server::start_with(&["--pixel", "on"], &[]);
    s.seed();
    affiliate(&s, "bob", None);
    let (ann_click, bob_click) = (s.click("ann", json!({})), s.click("bob", json!({})));
    s.get_public(&format!("/pixel.gif?click_id={ann_click}&order_id=o-8&amount=100.00"));
    let pixel = conversion_of(&s, "o-8");
    let id = pixel["id"].as_i64().unwrap();
    assert_eq!(s.post(&format!("/api/v1/conversions/{id}/approve"), &json!({})).status, 200);
    let t = token(&s);
    let r = fire(&s, &format!("token={t}&click_id={bob_click}&order_id=o-8&amount=40.00"));
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!((&r.json()["referral_code"], &r.json()["status"]), (&json!("bob"), &json!("pending")));
    let ledger: Vec<(String, String, i64)> = s
        .sql()
        .prepare(
            "SELECT a.referral_code, l.kind, l.amount FROM ledger_entries l JOIN affiliates a ON a.id = l.affiliate_id
             ORDER BY l.id",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let expected = [
        ("ann", "created", 1000),
        ("ann", "approved", 1000),
        ("ann", "replaced_approved", -1000),
        ("bob", "created", 400),
    ];
    assert_eq!(ledger, expected.map(|(a, k, n)| (a.to_string(), k.to_string(), n)));
    // The daily totals moved with it: ann has nothing left, bob one pending conversion.
    let totals: Vec<(String, String, i64, i64)> = s
        .sql()
        .prepare(
            "SELECT a.referral_code, d.status, d.conversions, d.commission FROM daily_conversions d
             JOIN affiliates a ON a.id = d.affiliate_id WHERE d.conversions <> 0 ORDER BY 1",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(totals, [("bob".into(), "pending".into(), 1, 400)]);
}

#[test]
fn an_unattributable_server_report_does_not_leave_the_pixel_a_duplicate_answer() {
    let s = Server::start_with(&["--pixel", "on"], &[]);
    s.seed();
    let ann_click = s.click("ann", json!({}));
    s.get_public(&format!("/pixel.gif?click_id={ann_click}&order_id=o-9&amount=10.00"));
    // The shop reports the order with a coupon nobody has: the answer says so (no 409 that a shop
    // would take for "done"), and the pixel's version stays pending for the merchant to judge.
    s.post("/api/v1/conversions", &json!({"external_id": "o-9", "amount": "10.00", "coupon": "NOPE"}))
        .assert_error(400, "invalid_coupon");
    assert_eq!(conversion_of(&s, "o-9")["status"], "pending");
}

#[test]
fn a_partial_refund_needs_its_id_and_happens_once_however_often_it_is_sent() {
    let s = Server::start();
    s.seed();
    let click = s.click("ann", json!({}));
    let r = s.post("/api/v1/conversions", &json!({"external_id": "R-1", "amount": "100.00", "click_id": click}));
    let id = r.json()["id"].clone();
    let url = format!("/api/v1/conversions/{id}/refund");
    s.post(&url, &json!({"amount": "5.00"})).assert_error(400, "missing_refund_id");
    s.post(&url, &json!({"amount": "5.00", "refund_id": ""})).assert_error(400, "missing_refund_id");
    s.post(&url, &json!({"amount": "5.00", "refund_id": "x".repeat(129)})).assert_error(400, "invalid_refund_id");

    let first = s.post(&url, &json!({"amount": "5.00", "refund_id": "re_1"}));
    assert_eq!(first.status, 200, "{}", first.text());
    assert_eq!(first.json()["refunded_amount"], "5.00");
    let again = s.post(&url, &json!({"amount": "5.00", "refund_id": "re_1"}));
    assert_eq!(again.status, 200);
    assert_eq!(again.json()["refunded_amount"], "5.00", "the same refund ID refunds once");
    s.post(&url, &json!({"amount": "7.00", "refund_id": "re_1"})).assert_error(409, "refund_id_conflict");

    // 32 clients retry another refund at once: it is applied exactly once.
    let answers: Vec<u16> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..32)
            .map(|_| scope.spawn(|| s.post(&url, &json!({"amount": "5.00", "refund_id": "re_2"})).status))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(answers.iter().all(|&status| status == 200), "{answers:?}");
    let c = s.get(&format!("/api/v1/conversions/{id}")).json();
    assert_eq!((&c["refunded_amount"], &c["commission"]), (&json!("10.00"), &json!("9.00")));
    let refunds = c["events"].as_array().unwrap().iter().filter(|e| e["action"] == "refunded").count();
    assert_eq!(refunds, 2);

    // A full refund needs no ID and may be repeated: the second changes nothing.
    let full = s.post(&url, &json!({}));
    assert_eq!((full.status, &full.json()["status"]), (200, &json!("refunded")));
    let repeat = s.post(&url, &json!({}));
    assert_eq!((repeat.status, &repeat.json()["refunded_amount"]), (200, &json!("100.00")));
    let events = s.get(&format!("/api/v1/conversions/{id}")).json()["events"].as_array().unwrap().len();
    assert_eq!(events, 4, "created and three refunds");
}

#[test]
fn postback_placeholders_that_were_never_filled_in_are_refused_by_name() {
    let s = Server::start();
    s.seed();
    let t = token(&s);
    let click = s.click("ann", json!({}));
    for (query, param) in [
        (format!("transaction_id={click}&adv_unique1=ORDER_ID&amount=5"), "adv_unique1"),
        (format!("click_id={click}&order_id=%7Border_id%7D&amount=5"), "order_id"),
        (format!("click_id={click}&order_id=%7B%7Border%7D%7D&amount=5"), "order_id"),
        (format!("click_id={click}&order_id=%23order%23&amount=5"), "order_id"),
        (format!("click_id={click}&order_id=[ORDER_ID]&amount=5"), "order_id"),
        (format!("click_id={click}&order_id=%25ORDER_ID%25&amount=5"), "order_id"),
        (format!("click_id={click}&order_id=$ORDER&amount=5"), "order_id"),
        (format!("click_id={click}&order_id=o-1&amount=AMOUNT"), "amount"),
        ("click_id=%7Bclick_id%7D&order_id=o-1&amount=5".to_string(), "click_id"),
        ("refid=TRANSACTION_ID&ordernumber=o-1&orderamount=5".to_string(), "refid"),
    ] {
        let r = fire(&s, &format!("token={t}&{query}"));
        r.assert_error(400, "unreplaced_macro");
        let message = r.json()["error"]["message"].as_str().unwrap().to_string();
        assert!(message.contains(&format!("`{param}`")), "{query}: {message}");
    }
    let n: i64 = s.sql().query_row("SELECT count(*) FROM conversions", [], |r| r.get(0)).unwrap();
    assert_eq!(n, 0);
    // Two real orders after the broken one are both recorded (today's bug: every later order with
    // the same literal was a 409).
    for order in ["1001", "1002"] {
        let r = fire(&s, &format!("token={t}&transaction_id={click}&adv_unique1={order}&amount=5"));
        assert_eq!(r.status, 201, "{}", r.text());
    }
}

#[test]
fn a_postback_without_an_amount_is_refused_when_the_commission_is_a_percentage() {
    let s = Server::start();
    s.seed();
    let r = s.post(
        "/api/v1/offers",
        &json!({"id": "cpl", "name": "Lead", "landing_url": "https://shop.example/l",
                "commission": {"type": "flat", "value": "2.00"}}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let t = token(&s);
    let click = s.click("ann", json!({}));
    let lead_click = s.click("ann", json!({"offer": "cpl"}));
    // A misspelt amount parameter used to record 0.00 without a word.
    fire(&s, &format!("token={t}&click_id={click}&order_id=o-1&sale_amount=50.00")).assert_error(400, "missing_amount");
    fire(&s, &format!("token={t}&click_id={click}&order_id=o-1&amount=")).assert_error(400, "missing_amount");
    // FlexOffers' CPL postbacks send an explicit 0; a flat offer needs no amount at all.
    let zero = fire(&s, &format!("token={t}&refid={click}&ordernumber=o-2&orderamount=0"));
    assert_eq!((zero.status, &zero.json()["amount"]), (201, &json!("0.00")));
    let flat = fire(&s, &format!("token={t}&click_id={lead_click}&order_id=lead-1"));
    assert_eq!(flat.status, 201, "{}", flat.text());
    assert_eq!((&flat.json()["amount"], &flat.json()["commission"]), (&json!("0.00"), &json!("2.00")));
}

#[test]
fn erasure_reaches_postback_parameters_and_outbound_postbacks() {
    let s = Server::start_with(&["--allow-private-postbacks", "--outbound", "on"], &[]);
    s.seed();
    let tracker = Tracker::start(vec![200]);
    let url = format!("http://127.0.0.1:{}/pb?cid={{click_id}}&s1={{sub1}}&o={{external_id}}", tracker.port);
    let body = json!({"postback_url": url}).to_string();
    let r = request(s.addr, "PATCH", "/api/v1/affiliates/ann", &[("X-Api-Key", KEY)], body.as_bytes());
    assert_eq!(r.status, 200, "{}", r.text());
    let sub = "sub-person-4b8e1d";
    let click = s.click("ann", json!({"sub1": sub}));
    let r = s.post("/api/v1/customers", &json!({"customer_id": "cust-x", "click_id": click}));
    assert_eq!(r.status, 201, "{}", r.text());
    let t = token(&s);
    let email = "pb-mail-3c7e9a@example.com";
    let street = "Erasestrasse-77";
    let r = fire(
        &s,
        &format!("token={t}&click_id={click}&order_id=P-1&amount=10&customer_id=cust-x&email={email}&street={street}"),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    // A rejected postback naming the customer keeps its parameters in the log too.
    fire(&s, &format!("token={t}&order_id=P-2&amount=1,0&customer_id=cust-x&email={email}"))
        .assert_error(400, "invalid_amount");
    assert!(eventually(Duration::from_secs(10), || tracker.count() >= 1), "the affiliate heard of P-1");
    let before = s.get("/api/v1/postbacks").json();
    assert!(before.to_string().contains(sub), "{before}");

    let r = request(s.addr, "DELETE", "/api/v1/customers/cust-x", &[("X-Api-Key", KEY)], b"");
    assert_eq!(r.status, 204, "{}", r.text());
    let received = s.get("/api/v1/postbacks/received?limit=100").json().to_string();
    let sent = s.get("/api/v1/postbacks").json().to_string();
    for needle in [email, street, sub, click.as_str()] {
        assert!(!received.contains(needle), "{needle} still in received postbacks: {received}");
        assert!(!sent.contains(needle), "{needle} still in deliveries: {sent}");
    }
    assert!(sent.contains(&format!("http://127.0.0.1:{}/[erased]", tracker.port)), "{sent}");
    let wal = std::path::PathBuf::from(format!("{}-wal", s.db_path().display()));
    for needle in [email, street, sub, click.as_str()] {
        for file in [s.db_path(), wal.clone()] {
            assert!(!crate::privacy::file_contains(&file, needle.as_bytes()), "{needle} in {}", file.display());
        }
    }
    // The money stays.
    let kept = conversion_of(&s, "P-1");
    assert_eq!((&kept["amount"], &kept["referral_code"]), (&json!("10.00"), &json!("ann")));
}
