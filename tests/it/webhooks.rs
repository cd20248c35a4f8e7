//! Merchant webhooks (issue #14): every event reaches a local receiver, signed per Standard
//! Webhooks (checked here with an independent HMAC and base64, and in `webhooks_interop.rs`
//! with the reference library); retries after a 500 keep the message ID; the secret is shown
//! once; deletion gives up what is pending; erasure redacts payloads; test data says so; bad
//! input is refused.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{KEY, Resp, Server, eventually, request};
use crate::webhook_receiver::{Received, Receiver, signed_by};

pub fn delete(s: &Server, path: &str) -> Resp {
    request(s.addr, "DELETE", path, &[("X-Api-Key", KEY)], b"")
}

/// Creates a webhook to `url` for `events` and returns its id and secret.
pub fn create(s: &Server, url: &str, events: &[&str]) -> (i64, String) {
    let r = s.post("/api/v1/webhooks", &json!({"url": url, "events": events}));
    assert_eq!(r.status, 201, "{}", r.text());
    let body = r.json();
    (body["id"].as_i64().unwrap(), body["secret"].as_str().expect("the secret, shown at creation").to_string())
}

fn deliveries(s: &Server, webhook: i64) -> Vec<Value> {
    let r = s.get(&format!("/api/v1/webhooks/{webhook}/deliveries"));
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["data"].as_array().unwrap().clone()
}

/// Waits until every delivery the server lists for `webhook` has been answered by `receiver` and
/// marked delivered (the receiver records a request before it answers, so the two can be a
/// moment apart), and returns how many arrived: a count taken before that can miss events still
/// on their way (a pixel's own conversion events, for one).
fn settled(s: &Server, webhook: i64, receiver: &Receiver) -> usize {
    let done = || {
        let listed = deliveries(s, webhook);
        listed.len() == receiver.count() && listed.iter().all(|d| d["status"] == "delivered")
    };
    assert!(eventually(Duration::from_secs(20), done), "deliveries never settled: {:?}", deliveries(s, webhook));
    receiver.count()
}

fn convert(s: &Server, body: Value) -> Value {
    let r = s.post("/api/v1/conversions", &body);
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()
}

pub fn server() -> Server {
    let s = Server::start_with(&["--allow-private-postbacks", "--outbound", "on", "--pixel", "on"], &[]);
    s.seed();
    s
}

const CONVERSION_EVENTS: [&str; 6] = [
    "conversion.created",
    "conversion.approved",
    "conversion.rejected",
    "conversion.refunded",
    "conversion.flagged",
    "conversion.replaced",
];

#[test]
fn every_conversion_event_arrives_signed_with_the_conversion_as_it_was() {
    let s = server();
    let receiver = Receiver::start(vec![200]);
    let (id, secret) = create(&s, &receiver.url("/hooks/affiliated?src=1"), &CONVERSION_EVENTS);
    assert!(secret.starts_with("whsec_") && secret.len() == 50, "{secret}");

    // A conversion right after its click is flagged `too_fast` (default 10 s): created + flagged.
    let click = s.click("ann", json!({}));
    let flagged = convert(&s, json!({"external_id": "W-1", "amount": "80.00", "click_id": click}));
    let got = receiver.wait_for(2);
    let types: Vec<Value> = got.iter().map(|r| r.json()["type"].clone()).collect();
    assert!(types.contains(&json!("conversion.created")) && types.contains(&json!("conversion.flagged")), "{types:?}");
    for r in &got {
        assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/hooks/affiliated?src=1"));
        assert_eq!(r.header("content-type"), "application/json");
        assert!(r.header("user-agent").contains("webhook"), "{:?}", r.headers);
        assert!(r.header("webhook-id").starts_with("msg_"), "{:?}", r.headers);
        let sent_at: i64 = r.header("webhook-timestamp").parse().expect("unix seconds");
        assert!(sent_at > 1_700_000_000);
        assert!(signed_by(&secret, r), "bad signature: {r:?}");
        let payload = r.json();
        assert_eq!(payload["data"], flagged, "the conversion exactly as the API showed it");
        assert!(payload["timestamp"].as_str().unwrap().ends_with('Z'));
    }
    assert_ne!(got[0].header("webhook-id"), got[1].header("webhook-id"), "one message ID per event");

    // Approve, then refund half: each event carries the conversion as it was at that moment.
    let conversion = flagged["id"].as_i64().unwrap();
    assert_eq!(s.post(&format!("/api/v1/conversions/{conversion}/approve"), &json!({})).status, 200);
    let r =
        s.post(&format!("/api/v1/conversions/{conversion}/refund"), &json!({"amount": "40.00", "refund_id": "re-1"}));
    assert_eq!(r.status, 200, "{}", r.text());
    let got = receiver.wait_for(4);
    let approved = got.iter().map(Received::json).find(|p| p["type"] == "conversion.approved").unwrap();
    assert_eq!(
        (&approved["data"]["status"], &approved["data"]["refunded_amount"]),
        (&json!("approved"), &json!("0.00"))
    );
    let refunded = got.iter().map(Received::json).find(|p| p["type"] == "conversion.refunded").unwrap();
    assert_eq!(refunded["data"]["refunded_amount"], "40.00");
    assert_eq!(
        refunded["data"],
        s.get(&format!("/api/v1/conversions/{conversion}"))
            .json()
            .as_object()
            .map(|o| {
                let mut o = o.clone();
                o.remove("events");
                Value::Object(o)
            })
            .unwrap()
    );
    let created = got.iter().map(Received::json).find(|p| p["type"] == "conversion.created").unwrap();
    assert_eq!(created["data"]["status"], "pending", "an earlier event's payload never changes");

    // Rejected by hand, and rejected at once for a paused affiliate (created, then rejected).
    let old_click = s.click("ann", json!({}));
    let c2 = convert(&s, json!({"external_id": "W-2", "amount": "10.00", "click_id": s.click("ann", json!({}))}));
    assert_eq!(s.post(&format!("/api/v1/conversions/{}/reject", c2["id"]), &json!({})).status, 200);
    let body = json!({"status": "paused"}).to_string();
    assert_eq!(request(s.addr, "PATCH", "/api/v1/affiliates/ann", &[("X-Api-Key", KEY)], body.as_bytes()).status, 200);
    let c3 = convert(&s, json!({"external_id": "W-3", "amount": "10.00", "click_id": old_click}));
    assert_eq!(c3["status"], "rejected");
    let got = receiver.wait_for(10);
    let about = |external: &str| -> Vec<String> {
        got.iter()
            .map(Received::json)
            .filter(|p| p["data"]["external_id"] == external)
            .map(|p| p["type"].as_str().unwrap().to_string())
            .collect()
    };
    let mut w3 = about("W-3");
    w3.sort();
    assert_eq!(w3, ["conversion.created", "conversion.flagged", "conversion.rejected"]);
    assert!(about("W-2").contains(&"conversion.rejected".to_string()));
    let body = json!({"status": "active"}).to_string();
    assert_eq!(request(s.addr, "PATCH", "/api/v1/affiliates/ann", &[("X-Api-Key", KEY)], body.as_bytes()).status, 200);

    // The pixel's order taken over by the shop's server-side report: conversion.replaced.
    let pixel_click = s.click("ann", json!({}));
    let pixel = s.get_public(&format!("/pixel.gif?click_id={pixel_click}&order_id=W-4&amount=99.00"));
    assert_eq!(pixel.status, 200);
    let before = settled(&s, id, &receiver);
    let replaced = convert(&s, json!({"external_id": "W-4", "amount": "50.00", "click_id": s.click("ann", json!({}))}));
    let got = receiver.wait_for(before + 2);
    let payload = got.iter().map(Received::json).find(|p| p["type"] == "conversion.replaced").expect("replaced");
    assert_eq!(payload["data"], replaced);
    assert!(got.iter().all(|r| signed_by(&secret, r)));

    // Every delivery is listed as delivered, with its payload.
    settled(&s, id, &receiver);
    let listed = deliveries(&s, id);
    assert_eq!(listed.len(), receiver.count(), "{listed:?}");
    assert!(listed.iter().all(|d| d["status"] == "delivered" && d["attempts"] == 1), "{listed:?}");
    assert!(listed.iter().all(|d| d["payload"]["type"] == d["event"]));
}

#[test]
fn only_subscribed_events_are_sent_and_test_data_says_so() {
    let s = server();
    let receiver = Receiver::start(vec![200]);
    let (id, _) = create(&s, &receiver.url("/approved-only"), &["conversion.approved"]);
    let c = convert(
        &s,
        json!({"external_id": "T-1", "amount": "10.00", "click_id": s.click("ann", json!({})), "test": true}),
    );
    assert_eq!(c["test"], true, "{c}");
    assert_eq!(s.post(&format!("/api/v1/conversions/{}/approve", c["id"]), &json!({})).status, 200);
    let got = receiver.wait_for(1);
    let payload = got[0].json();
    assert_eq!((&payload["type"], &payload["data"]["test"]), (&json!("conversion.approved"), &json!(true)));
    // The test event, on request, to this webhook only.
    let test = s.post(&format!("/api/v1/webhooks/{id}/test"), &json!({}));
    assert_eq!(test.status, 201, "{}", test.text());
    assert_eq!(test.json()["event"], "webhook.test");
    let got = receiver.wait_for(2);
    assert_eq!(got[1].json()["type"], "webhook.test");
    assert_eq!(deliveries(&s, id).len(), 2, "created was never queued: not subscribed");
    // Deleting test data deletes its webhook deliveries too.
    assert_eq!(delete(&s, &format!("/api/v1/conversions/{}", c["id"])).status, 204);
    let left: Vec<Value> = deliveries(&s, id);
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0]["event"], "webhook.test");
}

#[test]
fn a_failed_delivery_is_retried_with_the_same_message_id() {
    let s = server();
    let receiver = Receiver::start(vec![500, 200, 204]);
    let (id, secret) = create(&s, &receiver.url("/flaky"), &["conversion.created"]);
    let queued = s.post(&format!("/api/v1/webhooks/{id}/test"), &json!({})).json();
    assert!(
        eventually(Duration::from_secs(30), || deliveries(&s, id)[0]["status"] == "delivered"),
        "{:?}",
        deliveries(&s, id)
    );
    let d = &deliveries(&s, id)[0];
    assert_eq!((&d["attempts"], &d["last_status"]), (&json!(2), &json!(200)), "{d}");
    let got = receiver.all();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].header("webhook-id"), got[1].header("webhook-id"));
    assert_eq!(got[0].header("webhook-id"), queued["message_id"].as_str().unwrap());
    assert_eq!(got[0].body, got[1].body, "the same payload, byte for byte");
    assert!(got.iter().all(|r| signed_by(&secret, r)));

    // A manual retry sends it again, still the same message.
    let retried = s.post(&format!("/api/v1/webhooks/deliveries/{}/retry", d["id"]), &json!({}));
    assert_eq!(retried.status, 200, "{}", retried.text());
    assert_eq!((&retried.json()["status"], &retried.json()["attempts"]), (&json!("pending"), &json!(0)));
    let got = receiver.wait_for(3);
    assert_eq!(got[2].header("webhook-id"), got[0].header("webhook-id"));
    assert!(eventually(Duration::from_secs(10), || deliveries(&s, id)[0]["last_status"] == 204));
    s.post("/api/v1/webhooks/deliveries/999/retry", &json!({})).assert_error(404, "not_found");
}

#[test]
fn the_secret_is_shown_once_and_deletion_gives_up_pending_deliveries() {
    let s = server();
    let receiver = Receiver::start(vec![503]);
    let url = receiver.url("/down");
    let (id, secret) = create(&s, &url, &["conversion.created", "payout.paid"]);
    let shown = s.get(&format!("/api/v1/webhooks/{id}")).json();
    assert_eq!(
        shown,
        json!({"id": id, "url": url, "events": ["conversion.created", "payout.paid"], "created_at": shown["created_at"]})
    );
    let listed = s.get("/api/v1/webhooks");
    assert_eq!(listed.json()["data"], json!([shown]));
    assert!(!listed.text().contains(&secret[6..]) && !s.log_text().contains(&secret[6..]), "the secret leaked");
    // A second POST of the same URL (a retry) creates nothing and shows no secret.
    let again = s.post("/api/v1/webhooks", &json!({"url": url, "events": ["conversion.created"]}));
    again.assert_error(409, "duplicate_url");
    assert_eq!(again.json()["webhook"], shown);

    convert(&s, json!({"external_id": "D-1", "amount": "10.00", "click_id": s.click("ann", json!({}))}));
    assert!(eventually(Duration::from_secs(10), || deliveries(&s, id).first().is_some_and(|d| d["attempts"] == 1)));
    assert_eq!(deliveries(&s, id)[0]["status"], "pending", "a 503 is retried");
    let backlog = || {
        s.get_public("/metrics").text().lines().find(|l| l.starts_with("affiliated_webhook_backlog ")).map(String::from)
    };
    assert_eq!(backlog().as_deref(), Some("affiliated_webhook_backlog 1"));
    assert_eq!(delete(&s, &format!("/api/v1/webhooks/{id}")).status, 204);
    assert_eq!(backlog().as_deref(), Some("affiliated_webhook_backlog 0"));
    s.get(&format!("/api/v1/webhooks/{id}")).assert_error(404, "not_found");
    s.get(&format!("/api/v1/webhooks/{id}/deliveries")).assert_error(404, "not_found");
    delete(&s, &format!("/api/v1/webhooks/{id}")).assert_error(404, "not_found");
    assert_eq!(s.get("/api/v1/webhooks").json()["data"], json!([]));
    let (status, error, key): (String, String, Option<Vec<u8>>) = s
        .sql()
        .query_row(
            "SELECT d.status, d.last_error, w.secret FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!((status.as_str(), key), ("failed", None), "given up, and the key is gone");
    assert!(error.contains("deleted"), "{error}");
    // Nothing more is queued for it, and the URL can be used again.
    convert(&s, json!({"external_id": "D-2", "amount": "10.00", "click_id": s.click("ann", json!({}))}));
    let n: i64 = s.sql().query_row("SELECT count(*) FROM webhook_deliveries", [], |r| r.get(0)).unwrap();
    assert_eq!(n, 1);
    let (new_id, new_secret) = create(&s, &url, &["conversion.created"]);
    assert!(new_id != id && new_secret != secret);
}

#[test]
fn bad_webhooks_are_refused_with_a_clear_code() {
    let s = server();
    let post = |body: Value| s.post("/api/v1/webhooks", &body);
    post(json!({"events": ["conversion.created"]})).assert_error(400, "missing_url");
    post(json!({"url": "https://crm.example/in"})).assert_error(400, "missing_events");
    post(json!({"url": "https://crm.example/in", "events": []})).assert_error(400, "missing_events");
    for bad in ["crm.example/in", "ftp://crm.example/in", "https://u:p@crm.example/", "https://crm.example/{event}"] {
        post(json!({"url": bad, "events": ["conversion.created"]})).assert_error(400, "invalid_url");
    }
    let unknown = post(json!({"url": "https://crm.example/in", "events": ["conversion.created", "order.paid"]}));
    unknown.assert_error(400, "invalid_events");
    assert!(unknown.json()["error"]["message"].as_str().unwrap().contains("`order.paid`"), "{}", unknown.text());
    post(json!({"url": "https://crm.example/in", "events": ["webhook.test"]})).assert_error(400, "invalid_events");
    post(json!({"url": "https://crm.example/in", "events": "conversion.created"})).assert_error(400, "invalid_events");
    post(json!({"url": "https://crm.example/in", "events": [1]})).assert_error(400, "invalid_events");
    post(json!({"url": "https://crm.example/in", "events": ["payout.paid"], "secret": "mine"}))
        .assert_error(400, "unknown_field");
    s.get("/api/v1/webhooks/abc").assert_error(404, "not_found");
    s.get("/api/v1/webhooks/999").assert_error(404, "not_found");
    s.post("/api/v1/webhooks/999/test", &json!({})).assert_error(404, "not_found");
    let (id, _) = create(&s, "https://crm.example/in", &["payout.paid"]);
    s.get(&format!("/api/v1/webhooks/{id}/deliveries?status=lost")).assert_error(400, "invalid_status");
    assert_eq!(s.get("/api/v1/webhooks").json()["data"].as_array().unwrap().len(), 1, "nothing else was created");
    let n: i64 = s.sql().query_row("SELECT count(*) FROM webhooks", [], |r| r.get(0)).unwrap();
    assert_eq!(n, 1);
}

#[test]
fn private_addresses_are_refused_without_the_flag() {
    let s = Server::start_with(&["--outbound", "on"], &[]);
    s.seed();
    let receiver = Receiver::start(vec![200]);
    let (id, _) = create(&s, &receiver.url("/in"), &["payout.paid"]);
    assert_eq!(s.post(&format!("/api/v1/webhooks/{id}/test"), &json!({})).status, 201);
    assert!(eventually(Duration::from_secs(10), || deliveries(&s, id)[0]["attempts"] == 1));
    let d = &deliveries(&s, id)[0];
    assert_eq!(d["status"], "pending");
    assert!(d["last_error"].as_str().unwrap().contains("not a public address"), "{d}");
    assert_eq!(receiver.count(), 0, "nothing may reach a private address");
    assert!(!s.log_text().contains("/in"), "no URL path in the log");
}

#[test]
fn erasure_redacts_the_payloads_about_the_person() {
    let s = server();
    let receiver = Receiver::start(vec![200]);
    let down = Receiver::start(vec![500]);
    let (delivered_to, _) = create(&s, &receiver.url("/ok"), &["conversion.created"]);
    let (pending_at, _) = create(&s, &down.url("/down"), &["conversion.created"]);
    let customer = "cust-webhook-erase-4c1d";
    let click = s.click("ann", json!({}));
    // Attributed by the click; the customer named on it is tied to ann by the same report.
    let c = convert(&s, json!({"external_id": "E-1", "amount": "10.00", "click_id": click, "customer_id": customer}));
    assert_eq!((&c["customer_id"], &c["click_id"]), (&json!(customer), &json!(click)));
    receiver.wait_for(1);
    assert!(eventually(Duration::from_secs(10), || deliveries(&s, pending_at)[0]["attempts"] == 1));

    assert_eq!(delete(&s, &format!("/api/v1/customers/{customer}")).status, 204);
    for webhook in [delivered_to, pending_at] {
        let d = &deliveries(&s, webhook)[0];
        let data = &d["payload"]["data"];
        assert!(data["customer_id"].is_null() && data["click_id"].is_null(), "{d}");
        assert_eq!((&data["external_id"], &data["amount"]), (&json!("E-1"), &json!("10.00")));
    }
    assert_eq!(deliveries(&s, pending_at)[0]["status"], "pending", "still sent, without the person");
    let wal = std::path::PathBuf::from(format!("{}-wal", s.db_path().display()));
    for needle in [customer.as_bytes(), click.as_bytes()] {
        let shown = String::from_utf8_lossy(needle);
        assert!(!crate::privacy::file_contains(&s.db_path(), needle), "{shown} in the database file");
        assert!(!crate::privacy::file_contains(&wal, needle), "{shown} in the WAL");
    }
}

#[test]
fn finished_deliveries_are_pruned_like_postbacks() {
    let s = Server::start_with(
        &["--allow-private-postbacks", "--outbound", "on", "--click-retention", "2s", "--sweep-interval", "1s"],
        &[],
    );
    let receiver = Receiver::start(vec![200]);
    let (id, _) = create(&s, &receiver.url("/in"), &["payout.paid"]);
    assert_eq!(s.post(&format!("/api/v1/webhooks/{id}/test"), &json!({})).status, 201);
    receiver.wait_for(1);
    assert!(
        eventually(Duration::from_secs(20), || deliveries(&s, id).is_empty()),
        "not pruned: {:?}",
        deliveries(&s, id)
    );
    assert_eq!(s.get(&format!("/api/v1/webhooks/{id}")).status, 200, "the webhook itself stays");
}

#[test]
fn a_payout_marked_paid_is_announced_once_as_the_api_shows_it() {
    let s = server();
    let receiver = Receiver::start(vec![200]);
    let (id, secret) = create(&s, &receiver.url("/books"), &["payout.paid"]);
    let c = convert(&s, json!({"external_id": "P-1", "amount": "120.00", "click_id": s.click("ann", json!({}))}));
    assert_eq!(s.post(&format!("/api/v1/conversions/{}/approve", c["id"]), &json!({})).status, 200);
    let run = s.post("/api/v1/payouts", &json!({"currency": "USD", "minimum": "1.00"}));
    assert_eq!(run.status, 201, "{}", run.text());
    let payout = run.json()["data"][0]["id"].as_i64().unwrap();
    assert!(deliveries(&s, id).is_empty(), "a payout made is not a payout paid");
    let paid = s.post(&format!("/api/v1/payouts/{payout}/mark-paid"), &json!({"reference": "PP-1"}));
    assert_eq!(paid.status, 200, "{}", paid.text());
    s.post(&format!("/api/v1/payouts/{payout}/mark-paid"), &json!({})).assert_error(409, "invalid_status_transition");
    let got = receiver.wait_for(1);
    assert!(signed_by(&secret, &got[0]));
    let event = got[0].json();
    assert_eq!(event["type"], "payout.paid");
    assert_eq!(event["data"], s.get(&format!("/api/v1/payouts/{payout}")).json());
    assert_eq!((&event["data"]["reference"], &event["data"]["amount"]), (&json!("PP-1"), &json!("12.00")));
    assert_eq!(deliveries(&s, id).len(), 1, "the refused second mark-paid announced nothing");
}

#[test]
fn with_outbound_off_nothing_is_resolved_or_sent_until_it_is_on_again() {
    let mut s = Server::start_with(&["--allow-private-postbacks", "--outbound", "off"], &[]);
    s.seed();
    let receiver = Receiver::start(vec![200]);
    let (id, secret) = create(&s, &receiver.url("/off"), &["conversion.created"]);
    // A host name that must never be looked up.
    let (never, _) = create(&s, "http://never-resolved.invalid/in", &["conversion.created"]);
    convert(&s, json!({"external_id": "O-1", "amount": "10.00", "click_id": s.click("ann", json!({}))}));
    let queued = s.post(&format!("/api/v1/webhooks/{id}/test"), &json!({})).json();
    let retried = s.post(&format!("/api/v1/webhooks/deliveries/{}/retry", queued["id"]), &json!({}));
    assert_eq!(retried.status, 200, "{}", retried.text());
    // With delivery on, the first attempt comes within a quarter second.
    assert!(!eventually(Duration::from_secs(3), || receiver.count() > 0), "a webhook was sent with --outbound off");
    for webhook in [id, never] {
        for d in deliveries(&s, webhook) {
            assert_eq!((&d["status"], &d["attempts"], &d["last_error"]), (&json!("pending"), &json!(0), &Value::Null));
        }
    }
    assert_eq!(deliveries(&s, id).len(), 2);
    // Switched on again, what was queued goes out, signed for the moment it is sent.
    s.extra_args.retain(|a| a != "--outbound" && a != "off");
    s.extra_args.extend(["--outbound".to_string(), "on".to_string()]);
    s.restart();
    let got = receiver.wait_for(2);
    assert!(got.iter().all(|r| signed_by(&secret, r)));
    assert!(eventually(Duration::from_secs(10), || deliveries(&s, never)[0]["attempts"] == 1));
}

#[test]
fn the_admin_adds_tests_retries_and_deletes_a_webhook() {
    use crate::admin::{Session, TOKEN};
    let s = Server::start_with(
        &["--allow-private-postbacks", "--outbound", "on", "--admin-token", TOKEN, "--min-click-age", "0"],
        &[],
    );
    s.seed();
    // The receiver fails the first attempt, so a delivery waits with a retry button.
    let receiver = Receiver::start(vec![500, 200]);
    let url = receiver.url("/crm");
    let admin = Session::start(&s);
    let page = admin.get(&s, "/admin/webhooks");
    assert_eq!(page.status, 200, "{}", page.text());
    assert!(page.text().contains("No webhooks yet."));

    // Refused input comes back with what was typed and the API's reason.
    let bad = admin.post(&s, "/admin/webhooks", &[("url", "ftp://crm.example/x"), ("events", "conversion.created")]);
    assert_eq!(bad.status, 400, "{}", bad.text());
    assert!(bad.text().contains("ftp://crm.example/x"));
    let none = admin.post(&s, "/admin/webhooks", &[("url", url.as_str())]);
    assert_eq!(none.status, 400, "no events: {}", none.text());
    assert_eq!(s.get("/api/v1/webhooks").json()["data"].as_array().unwrap().len(), 0);

    // Added: the secret is on this answer only, and it signs what is sent.
    let added = admin.post(
        &s,
        "/admin/webhooks",
        &[("url", url.as_str()), ("events", "conversion.created"), ("events", "payout.paid")],
    );
    assert_eq!(added.status, 201, "{}", added.text());
    let html = added.text();
    let field = "id=\"secret\" class=\"mono\" type=\"text\" readonly value=\"";
    let at = html.find(field).expect("the secret") + field.len();
    let secret = html[at..].split('"').next().unwrap().to_string();
    assert!(secret.starts_with("whsec_"), "{secret}");
    let listed = s.get("/api/v1/webhooks").json()["data"].clone();
    assert_eq!(listed[0]["events"], json!(["conversion.created", "payout.paid"]));
    let id = listed[0]["id"].as_i64().unwrap();
    let again = admin.get(&s, "/admin/webhooks").text();
    assert!(!again.contains(&secret), "shown once");
    let twice = admin.post(&s, "/admin/webhooks", &[("url", url.as_str()), ("events", "conversion.created")]);
    assert_eq!(twice.status, 409, "{}", twice.text());

    // A test event, first refused by the receiver (500), then retried from the page.
    let queued = admin.post(&s, &format!("/admin/webhooks/{id}/test"), &[]);
    assert_eq!(queued.status, 303);
    let first = receiver.wait_for(1);
    assert_eq!(first[0].json()["type"], "webhook.test");
    assert!(signed_by(&secret, &first[0]));
    let failed_once = || deliveries(&s, id).first().is_some_and(|d| d["attempts"] == 1);
    assert!(eventually(Duration::from_secs(10), failed_once), "{:?}", deliveries(&s, id));
    let delivery = deliveries(&s, id)[0]["id"].as_i64().unwrap();
    let shown = admin.get(&s, "/admin/webhooks").text();
    assert!(shown.contains("webhook.test") && shown.contains("answered 500"), "the delivery and its last answer");
    let retried = admin.post(&s, &format!("/admin/webhook-deliveries/{delivery}/retry"), &[]);
    assert_eq!(retried.status, 303);
    let both = receiver.wait_for(2);
    assert_eq!(both[1].header("webhook-id"), both[0].header("webhook-id"), "the same message, again");
    assert!(eventually(Duration::from_secs(10), || deliveries(&s, id)[0]["status"] == "delivered"));

    // Without the CSRF token nothing changes; with it, deleted.
    let forged = admin.post_raw(&s, &format!("/admin/webhooks/{id}/delete"), &[]);
    assert_eq!(forged.status, 403);
    assert_eq!(s.get(&format!("/api/v1/webhooks/{id}")).status, 200);
    assert_eq!(admin.post(&s, &format!("/admin/webhooks/{id}/delete"), &[]).status, 303);
    assert_eq!(s.get(&format!("/api/v1/webhooks/{id}")).status, 404);
    assert_eq!(admin.post(&s, "/admin/webhooks/999/delete", &[]).status, 404);
    let overview = admin.get(&s, "/admin").text();
    assert!(overview.contains("href=\"/admin/webhooks\""), "the navigation links to it");
}
