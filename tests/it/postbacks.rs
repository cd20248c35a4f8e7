//! Inbound postbacks in every dialect, the pixel, leads, tracking status and refunds.

use serde_json::{Value, json};

use crate::support::{Resp, Server, request};

pub fn token(s: &Server) -> String {
    let r = s.get("/api/v1/postback-url");
    assert_eq!(r.status, 200, "{}", r.text());
    let body = r.json();
    let token = body["token"].as_str().unwrap().to_string();
    assert!(body["url"].as_str().unwrap().contains(&format!("token={token}")));
    token
}

pub fn fire(s: &Server, query: &str) -> Resp {
    s.get_public(&format!("/postback?{query}"))
}

#[test]
fn tokens_are_required_and_never_logged() {
    let s = Server::start();
    s.seed();
    let click = s.click("ann", json!({}));
    fire(&s, &format!("click_id={click}&order_id=o1&amount=5")).assert_error(401, "unauthorized");
    fire(&s, &format!("token=pbt_wrong&click_id={click}&order_id=o1&amount=5")).assert_error(401, "unauthorized");
    let t = token(&s);
    let ok = fire(&s, &format!("token={t}&click_id={click}&order_id=o1&amount=5"));
    assert_eq!(ok.status, 201, "{}", ok.text());
    assert_eq!(ok.json()["source"], "postback");
    let log = s.get("/api/v1/postbacks/received").json();
    let entries = log["data"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "unauthenticated attempts are not stored: {log}");
    assert_eq!(entries[0]["outcome"], "created");
    assert_eq!(entries[0]["params"]["order_id"], "o1");
    assert!(!log.to_string().contains(&t), "the token leaked into the log");
    assert!(!s.log_text().contains(&t), "the token leaked into the server log");
    // The token cannot be used as an API key.
    let r = request(s.addr, "GET", "/api/v1/conversions", &[("X-Api-Key", &t)], b"");
    r.assert_error(401, "unauthorized");
}

#[test]
fn every_dialect_reports_a_conversion() {
    let s = Server::start();
    s.seed();
    let t = token(&s);
    let c1 = s.click("ann", json!({}));
    let c2 = s.click("ann", json!({}));
    let c3 = s.click("ann", json!({}));

    let generic = fire(&s, &format!("token={t}&click_id={c1}&amount=19.99&order_id=G-1&currency=USD"));
    assert_eq!(generic.status, 201, "{}", generic.text());
    assert_eq!(generic.json()["click_id"], c1.as_str());
    assert_eq!(generic.json()["commission"], "2.00");

    // FlexOffers CPL: orderamount=0 and empty optional values.
    let flex =
        fire(&s, &format!("token={t}&refid={c2}&orderamount=0&ordernumber=F-1&coupon=&currency=&geo=US&commissionid="));
    assert_eq!(flex.status, 201, "{}", flex.text());
    assert_eq!(flex.json()["external_id"], "F-1");
    assert_eq!(flex.json()["amount"], "0.00");
    fire(&s, &format!("token={t}&refid={c2}&orderamount=10")).assert_error(400, "missing_external_id");

    let tune = fire(&s, &format!("token={t}&transaction_id={c3}&amount=50&adv_unique1=T-1&adv_sub=a&adv_sub2=b"));
    assert_eq!(tune.status, 201, "{}", tune.text());
    assert_eq!(tune.json()["click_id"], c3.as_str());

    let partner = fire(&s, &format!("token={t}&aff_id=ann&offer_id=main&amount=12.50&adv_unique1=P-1"));
    assert_eq!(partner.status, 201, "{}", partner.text());
    assert_eq!(partner.json()["referral_code"], "ann");
    assert_eq!(partner.json()["attributed_by"], "affiliate");
    assert_eq!(partner.json()["click_id"], Value::Null);
    fire(&s, &format!("token={t}&affiliate_id=zed&adv_unique1=P-2&amount=1"))
        .assert_error(404, "unknown_referral_code");

    // The same rules as the API: duplicates, unknown clicks, bad amounts.
    let dup = fire(&s, &format!("token={t}&click_id={c1}&amount=19.99&order_id=G-1"));
    dup.assert_error(409, "duplicate_external_id");
    assert_eq!(dup.json()["conversion"]["id"], generic.json()["id"]);
    fire(&s, &format!("token={t}&click_id={}&amount=1&order_id=G-2", "Z".repeat(30)))
        .assert_error(400, "invalid_click_id");
    fire(&s, &format!("token={t}&click_id={c1}&amount=1e5&order_id=G-3")).assert_error(400, "invalid_amount");
    fire(&s, &format!("token={t}&order_id=G-4&amount=1")).assert_error(400, "missing_attribution");

    // POST with a form body works the same.
    let c4 = s.click("ann", json!({}));
    let form = format!("token={t}&click_id={c4}&amount=7&order_id=FORM-1");
    let posted =
        request(s.addr, "POST", "/postback", &[("Content-Type", "application/x-www-form-urlencoded")], form.as_bytes());
    assert_eq!(posted.status, 201, "{}", posted.text());
    assert_eq!(posted.json()["external_id"], "FORM-1");

    let log = s.get("/api/v1/postbacks/received?limit=100").json();
    let dialects: Vec<&str> = log["data"].as_array().unwrap().iter().map(|e| e["dialect"].as_str().unwrap()).collect();
    for d in ["generic", "flexoffers", "tune", "partner_id"] {
        assert!(dialects.contains(&d), "{d} missing from {dialects:?}");
    }
    let rejected = s.get("/api/v1/postbacks/received?outcome=rejected").json();
    let codes: Vec<&str> =
        rejected["data"].as_array().unwrap().iter().map(|e| e["error_code"].as_str().unwrap()).collect();
    assert!(codes.contains(&"invalid_click_id") && codes.contains(&"invalid_amount"), "{codes:?}");
}

#[test]
fn the_pixel_always_answers_and_counts_once_with_a_postback() {
    let s = Server::start_with(&["--pixel", "on"], &[]);
    s.seed();
    let t = token(&s);
    let click = s.click("ann", json!({}));
    for query in [
        "",
        "click_id=nope&order_id=x",
        &format!("click_id={click}&order_id=px&amount=abc"),
        &format!("click_id={click}&order_id=%7Border_id%7D&amount=1"),
        &format!("click_id={click}&order_id=no-amount"),
        "garbage=%ff",
    ] {
        let r = s.get_public(&format!("/pixel.gif?{query}"));
        assert_eq!(r.status, 200, "{query}");
        assert_eq!(r.header("Content-Type"), Some("image/gif"));
        assert!(r.body.starts_with(b"GIF89a"));
    }
    let none: i64 = s.sql().query_row("SELECT count(*) FROM conversions", [], |r| r.get(0)).unwrap();
    assert_eq!(none, 0, "invalid pixels record nothing");

    let r = s.get_public(&format!("/pixel.gif?click_id={click}&order_id=ORDER-9&amount=30.00&currency=USD"));
    assert_eq!(r.status, 200);
    let stored = s.get("/api/v1/conversions").json();
    assert_eq!(stored["data"][0]["source"], "pixel");
    assert_eq!(stored["data"][0]["amount"], "30.00");
    // The server-to-server postback for the same order is authoritative: it takes the pixel's
    // conversion over (same affiliate here); after it, both are duplicates.
    let taken = fire(&s, &format!("token={t}&click_id={click}&order_id=ORDER-9&amount=30.00"));
    assert_eq!((taken.status, &taken.json()["source"]), (201, &json!("postback")));
    fire(&s, &format!("token={t}&click_id={click}&order_id=ORDER-9&amount=30.00"))
        .assert_error(409, "duplicate_external_id");
    assert_eq!(s.get_public(&format!("/pixel.gif?click_id={click}&order_id=ORDER-9&amount=30.00")).status, 200);
    let count: i64 =
        s.sql().query_row("SELECT count(*) FROM conversions WHERE external_id = 'ORDER-9'", [], |r| r.get(0)).unwrap();
    assert_eq!(count, 1);
}

#[test]
fn leads_and_tracking_status() {
    let s = Server::start();
    s.seed();
    let unknown = s.get("/api/v1/tracking/status/nobody").json();
    assert_eq!(
        unknown,
        json!({"session_id": "nobody", "has_affiliate": false, "referral_code": null, "click_id": null, "clicked_at": null,
               "sessionId": "nobody", "hasAffiliate": false, "affiliateReference": null, "clickId": null, "clickedAt": null})
    );
    let click = s.click("ann", json!({"session_id": "sess-7"}));
    let status = s.get("/api/v1/tracking/status/sess-7").json();
    assert_eq!(status["has_affiliate"], true);
    assert_eq!(status["referral_code"], "ann");
    assert_eq!(status["click_id"], click.as_str());
    assert!(status["clicked_at"].as_str().unwrap().ends_with('Z'));

    let reg = s.post(
        "/api/v1/leads",
        &json!({"type": "registration", "session_id": "sess-7", "customer_id": "u-1", "email": "u@example.com"}),
    );
    assert_eq!(reg.status, 201, "{}", reg.text());
    assert_eq!(reg.json()["referral_code"], "ann");
    assert_eq!(reg.json()["click_id"], click.as_str());
    s.post("/api/v1/leads", &json!({"type": "registration", "customer_id": "u-2"}))
        .assert_error(400, "missing_attribution");
    s.post("/api/v1/leads", &json!({"type": "registration", "session_id": "sess-7"}))
        .assert_error(400, "missing_customer_id");

    let pay = s.post(
        "/api/v1/leads",
        &json!({"type": "payment", "customer_id": "u-1", "value": "40.00", "external_id": "inv-1"}),
    );
    assert_eq!(pay.status, 201, "{}", pay.text());
    assert_eq!(pay.json()["source"], "lead");
    assert_eq!(pay.json()["attributed_by"], "customer");
    assert_eq!(pay.json()["commission"], "4.00");
    s.post(
        "/api/v1/leads",
        &json!({"type": "payment", "customer_id": "u-1", "value": "40.00", "external_id": "inv-1"}),
    )
    .assert_error(409, "duplicate_external_id");
    s.post("/api/v1/leads", &json!({"type": "payment", "customer_id": "u-1", "external_id": "inv-2"}))
        .assert_error(400, "missing_value");
    s.post("/api/v1/leads", &json!({"type": "signup"})).assert_error(400, "invalid_type");
    s.post("/api/v1/leads", &json!({})).assert_error(400, "missing_type");
}

#[test]
fn refunds_partial_full_and_over() {
    let s = Server::start();
    s.seed();
    let click = s.click("ann", json!({}));
    let id = s
        .post("/api/v1/conversions", &json!({"external_id": "R-1", "amount": "100.00", "click_id": click}))
        .json()["id"]
        .clone();
    assert_eq!(s.get(&format!("/api/v1/conversions/{id}")).json()["commission"], "10.00");

    let partial = s.post(&format!("/api/v1/conversions/{id}/refund"), &json!({"amount": "40.00", "refund_id": "r1"}));
    assert_eq!(partial.status, 200, "{}", partial.text());
    assert_eq!(partial.json()["refunded_amount"], "40.00");
    assert_eq!(partial.json()["commission"], "6.00");
    assert_eq!(partial.json()["status"], "pending");

    s.post(&format!("/api/v1/conversions/{id}/refund"), &json!({"amount": "60.01", "refund_id": "r2"}))
        .assert_error(400, "invalid_amount");
    s.post(&format!("/api/v1/conversions/{id}/refund"), &json!({"amount": "-1", "refund_id": "r2"}))
        .assert_error(400, "invalid_amount");

    let approved = s.post(&format!("/api/v1/conversions/{id}/approve"), &json!({}));
    assert_eq!(approved.json()["status"], "approved");
    let rest = s.post(&format!("/api/v1/conversions/{id}/refund"), &json!({}));
    assert_eq!(rest.status, 200, "{}", rest.text());
    assert_eq!(rest.json()["status"], "refunded");
    assert_eq!(rest.json()["commission"], "0.00");
    assert_eq!(rest.json()["refunded_amount"], "100.00");
    // A full refund can be repeated safely: nothing is left, nothing changes.
    let again = s.post(&format!("/api/v1/conversions/{id}/refund"), &json!({}));
    assert_eq!((again.status, &again.json()["refunded_amount"]), (200, &json!("100.00")));

    // Every change is in the history, and in the affiliate's ledger: the pending commission cut,
    // then the approved money taken back, as negative entries.
    let history = s.get(&format!("/api/v1/conversions/{id}")).json();
    let actions: Vec<&str> =
        history["events"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["created", "refunded", "approved", "refunded"]);
    assert_eq!(history["events"][1]["commission_delta"], "-4.00");
    assert_eq!(history["events"][3]["commission_delta"], "-6.00");
    let ledger: Vec<(String, i64)> = s
        .sql()
        .prepare("SELECT kind, amount FROM ledger_entries ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let expected = [("created", 1000), ("refunded", -400), ("approved", 600), ("clawed_back", -600)];
    assert_eq!(ledger, expected.map(|(k, a)| (k.to_string(), a)));

    let other = s.post("/api/v1/conversions", &json!({"external_id": "R-2", "amount": "10", "click_id": click})).json()
        ["id"]
        .clone();
    s.post(&format!("/api/v1/conversions/{other}/reject"), &json!({}));
    s.post(&format!("/api/v1/conversions/{other}/refund"), &json!({})).assert_error(409, "invalid_status_transition");
    s.post("/api/v1/conversions/9999/refund", &json!({})).assert_error(404, "not_found");
}

#[test]
fn the_postback_token_rotates_with_a_grace_period() {
    let s = Server::start();
    s.seed();
    let old = token(&s);
    let rotated = s.post("/api/v1/postback-url/rotate", &json!({}));
    assert_eq!(rotated.status, 200);
    let new = rotated.json()["token"].as_str().unwrap().to_string();
    assert_ne!(old, new);
    assert_eq!(token(&s), new);
    let click = s.click("ann", json!({}));
    assert_eq!(
        fire(&s, &format!("token={old}&click_id={click}&order_id=a&amount=1")).status,
        201,
        "old token in grace"
    );
    assert_eq!(fire(&s, &format!("token={new}&click_id={click}&order_id=b&amount=1")).status, 201);
    // The CLI shows the same URL.
    let out = std::process::Command::new(crate::support::bin())
        .args(["postback-url", "--db"])
        .arg(s.db_path())
        .args(["--public-url", "https://track.shop.example"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let url = String::from_utf8(out.stdout).unwrap();
    assert!(url.starts_with(&format!("https://track.shop.example/postback?token={new}&")), "{url}");
}

#[test]
fn postbacks_follow_the_api_rules_and_head_records_nothing() {
    let s = Server::start();
    s.seed();
    let t = token(&s);
    let click = s.click("ann", json!({}));
    // A HEAD request (a link checker) records nothing.
    let head =
        request(s.addr, "HEAD", &format!("/postback?token={t}&click_id={click}&order_id=head-1&amount=1"), &[], b"");
    assert_eq!(head.status, 200);
    let n: i64 = s.sql().query_row("SELECT count(*) FROM conversions", [], |r| r.get(0)).unwrap();
    assert_eq!(n, 0);
    // Identifiers are checked as the API checks them.
    fire(&s, &format!("token={t}&click_id={click}&order_id=pc-1&customer_id=%01bad"))
        .assert_error(400, "invalid_customer_id");
    fire(&s, &format!("token={t}&click_id={click}&order_id=pc-2&customer_id={}", "x".repeat(300)))
        .assert_error(400, "invalid_customer_id");
    fire(&s, &format!("token={t}&click_id={click}&order_id=%00")).assert_error(400, "invalid_external_id");
    // A payment lead names its amount `value`, and so do its errors.
    s.post("/api/v1/customers", &json!({"customer_id": "cus_9", "click_id": click}));
    s.post(
        "/api/v1/leads",
        &json!({"type": "payment", "external_id": "l-1", "value": "10.001", "customer_id": "cus_9"}),
    )
    .assert_error(400, "invalid_value");
}
