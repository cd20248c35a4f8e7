//! The merchant's levers (issue #14): test mode, pausing and removing, rates per affiliate and
//! per conversion type, recurring limits, and fraud rules that flag but never drop.

use serde_json::{Value, json};

use crate::support::{KEY, Resp, Server, request};

fn patch(s: &Server, path: &str, body: Value) -> Resp {
    request(s.addr, "PATCH", path, &[("X-Api-Key", KEY)], body.to_string().as_bytes())
}

fn put(s: &Server, path: &str, body: Value) -> Resp {
    request(s.addr, "PUT", path, &[("X-Api-Key", KEY)], body.to_string().as_bytes())
}

fn delete(s: &Server, path: &str) -> Resp {
    request(s.addr, "DELETE", path, &[("X-Api-Key", KEY)], b"")
}

/// A server whose fraud rules stay out of the way unless a test turns them on.
fn server() -> Server {
    let s = Server::start_with(&["--min-click-age", "0", "--max-clicks-per-ip", "0"], &[]);
    s.seed();
    s
}

fn convert(s: &Server, body: Value) -> Value {
    let r = s.post("/api/v1/conversions", &body);
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()
}

fn events(s: &Server, id: &Value) -> Vec<Value> {
    s.get(&format!("/api/v1/conversions/{id}")).json()["events"].as_array().unwrap().clone()
}

/// A new test key (`keys create --test`) for `s`'s database.
pub fn test_key(s: &Server) -> String {
    let out = std::process::Command::new(crate::support::bin())
        .args(["keys", "create", "--label", "try-out", "--test", "--db"])
        .arg(s.db_path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let key = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(key.starts_with("afk_test_"), "{key}");
    key
}

#[test]
fn test_data_never_counts_and_can_be_deleted() {
    let s = server();
    let key = test_key(&s);
    let post_test = |path: &str, body: Value| {
        request(s.addr, "POST", path, &[("X-Api-Key", key.as_str())], body.to_string().as_bytes())
    };
    let click = post_test("/api/v1/clicks", json!({"referral_code": "ann", "user_agent": "Mozilla/5.0"}));
    assert_eq!((click.status, &click.json()["test"]), (201, &json!(true)), "{}", click.text());
    let click_id = click.json()["id"].as_str().unwrap().to_string();
    let test = post_test("/api/v1/conversions", json!({"external_id": "T-1", "amount": "50.00", "click_id": click_id}));
    assert_eq!((test.status, &test.json()["test"]), (201, &json!(true)), "{}", test.text());
    // A test key cannot write live data, even when asked.
    let live_click_of_test_key = s.click("ann", json!({}));
    let still = post_test(
        "/api/v1/conversions",
        json!({"external_id": "T-2", "amount": "5", "click_id": live_click_of_test_key, "test": false}),
    );
    assert_eq!((still.status, &still.json()["test"]), (201, &json!(true)), "{}", still.text());
    // A live key marks one write as test; a live conversion on a test click is test data too.
    let live_click = s.click("ann", json!({}));
    let marked = convert(&s, json!({"external_id": "T-3", "amount": "20", "click_id": live_click, "test": true}));
    assert_eq!(marked["test"], true);
    let on_test_click = convert(&s, json!({"external_id": "T-4", "amount": "20", "click_id": click_id}));
    assert_eq!(on_test_click["test"], true, "a test click's conversion is test data");
    let live = convert(&s, json!({"external_id": "L-1", "amount": "100.00", "click_id": live_click}));
    assert_eq!(live["test"], false);

    // Lists hide test data unless asked; ?test=true shows only it.
    let listed = |query: &str| -> Vec<String> {
        s.get(&format!("/api/v1/conversions{query}")).json()["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["external_id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(listed(""), ["L-1"]);
    let mut tests = listed("?test=true");
    tests.sort();
    assert_eq!(tests, ["T-1", "T-2", "T-3", "T-4"]);
    // Test data stays out of the daily totals, the ledger and the clicks per day.
    let id = test.json()["id"].clone();
    assert_eq!(s.post(&format!("/api/v1/conversions/{id}/approve"), &json!({})).status, 200);
    let sql = s.sql();
    let counted: i64 =
        sql.query_row("SELECT coalesce(sum(conversions), 0) FROM daily_conversions", [], |r| r.get(0)).unwrap();
    assert_eq!(counted, 1, "only L-1 counts");
    let in_ledger: Vec<String> = sql
        .prepare("SELECT c.external_id FROM ledger_entries e JOIN conversions c ON c.id = e.conversion_id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(in_ledger, ["L-1"], "test conversions never enter an affiliate's ledger, even approved");
    let clicks: i64 = sql.query_row("SELECT coalesce(sum(clicks), 0) FROM daily_clicks", [], |r| r.get(0)).unwrap();
    assert_eq!(clicks, 2, "the two live clicks; the test click is not counted");

    // Deleting: test data goes, live data stays.
    delete(&s, &format!("/api/v1/conversions/{}", live["id"])).assert_error(409, "not_test_data");
    assert_eq!(delete(&s, &format!("/api/v1/conversions/{id}")).status, 204);
    s.get(&format!("/api/v1/conversions/{id}")).assert_error(404, "not_found");
    assert_eq!(delete(&s, "/api/v1/test-data").status, 204);
    assert!(listed("?test=true").is_empty());
    assert_eq!(listed(""), ["L-1"]);
    assert_eq!(s.get(&format!("/api/v1/clicks/{click_id}")).status, 404, "test clicks go too");
    assert_eq!(s.get(&format!("/api/v1/clicks/{live_click}")).status, 200);
}

#[test]
fn a_paused_affiliate_keeps_its_visitors_flowing_and_earns_nothing() {
    let s = server();
    let click = s.click("ann", json!({}));
    let r = s.post("/api/v1/coupons", &json!({"code": "ANN5", "referral_code": "ann"}));
    assert_eq!(r.status, 201);
    let paused = patch(&s, "/api/v1/affiliates/ann", json!({"status": "paused"}));
    assert_eq!((paused.status, &paused.json()["status"]), (200, &json!("paused")), "{}", paused.text());
    patch(&s, "/api/v1/affiliates/ann", json!({"staus": "active"})).assert_error(400, "unknown_field");

    // The link still redirects, without a click ID and without recording a click.
    let link = s.get_public("/r/ann");
    assert_eq!(link.status, 302);
    assert!(!link.header("Location").unwrap().contains("click_id"), "{:?}", link.header("Location"));
    let clicks: i64 = s.sql().query_row("SELECT count(*) FROM clicks", [], |r| r.get(0)).unwrap();
    assert_eq!(clicks, 1);
    s.post("/api/v1/clicks", &json!({"referral_code": "ann"})).assert_error(409, "affiliate_paused");

    // Conversions by an old click or a coupon are recorded, and rejected with the reason.
    for (order, key) in [("P-1", json!({"click_id": click})), ("P-2", json!({"coupon": "ANN5"}))] {
        let mut body = json!({"external_id": order, "amount": "80.00"});
        body.as_object_mut().unwrap().extend(key.as_object().unwrap().clone());
        let c = convert(&s, body);
        assert_eq!(c["status"], "rejected", "{c}");
        let events = events(&s, &c["id"]);
        assert_eq!(events.last().unwrap()["reason"], "affiliate_paused", "{events:?}");
        assert_eq!(events.last().unwrap()["actor"], "rules");
    }
    let balance = s.get("/api/v1/affiliates/ann/balance");
    assert_eq!(balance.status, 200, "{}", balance.text());
    for b in balance.json()["balances"].as_array().unwrap() {
        assert_eq!(
            (&b["pending"], &b["available"]),
            (&json!("0.00"), &json!("0.00")),
            "a paused affiliate earns nothing: {b}"
        );
    }

    // Active again: links click, conversions earn.
    assert_eq!(patch(&s, "/api/v1/affiliates/ann", json!({"status": "active"})).status, 200);
    assert!(s.get_public("/r/ann").header("Location").unwrap().contains("click_id="));
    assert_eq!(convert(&s, json!({"external_id": "P-3", "amount": "10", "click_id": click}))["status"], "pending");
}

#[test]
fn offers_change_and_pause_and_coupons_switch_off() {
    let s = server();
    let r =
        patch(&s, "/api/v1/offers/main", json!({"name": "Main shop", "commission": {"type": "flat", "value": "3.00"}}));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        (&r.json()["name"], &r.json()["commission"]),
        (&json!("Main shop"), &json!({"type": "flat", "value": "3.00"}))
    );
    assert_eq!(r.json()["landing_url"], "https://shop.example/landing", "fields not sent stay");
    patch(&s, "/api/v1/offers/main", json!({"currency": "EUR"})).assert_error(400, "invalid_currency");
    patch(&s, "/api/v1/offers/main", json!({"comission": {}})).assert_error(400, "unknown_field");
    patch(&s, "/api/v1/offers/nope", json!({"name": "x"})).assert_error(404, "unknown_offer");
    let click = s.click("ann", json!({}));
    assert_eq!(patch(&s, "/api/v1/offers/main", json!({"status": "paused"})).json()["status"], "paused");
    assert!(!s.get_public("/r/ann").header("Location").unwrap().contains("click_id"));
    let c = convert(&s, json!({"external_id": "O-1", "amount": "10", "click_id": click}));
    assert_eq!(c["status"], "rejected");
    assert_eq!(events(&s, &c["id"]).last().unwrap()["reason"], "offer_paused");
    assert_eq!(patch(&s, "/api/v1/offers/main", json!({"status": "active"})).status, 200);

    assert_eq!(s.post("/api/v1/coupons", &json!({"code": "SPRING", "referral_code": "ann"})).status, 201);
    let off = patch(&s, "/api/v1/coupons/SPRING", json!({"active": false}));
    assert_eq!((off.status, &off.json()["active"]), (200, &json!(false)), "{}", off.text());
    s.post("/api/v1/conversions", &json!({"external_id": "C-1", "amount": "10", "coupon": "SPRING"}))
        .assert_error(400, "invalid_coupon");
    assert_eq!(patch(&s, "/api/v1/coupons/SPRING", json!({"active": true})).status, 200);
    assert_eq!(convert(&s, json!({"external_id": "C-2", "amount": "10", "coupon": "SPRING"}))["coupon"], "SPRING");
    assert_eq!(delete(&s, "/api/v1/coupons/SPRING").status, 204);
    s.post("/api/v1/conversions", &json!({"external_id": "C-3", "amount": "10", "coupon": "SPRING"}))
        .assert_error(400, "invalid_coupon");
    delete(&s, "/api/v1/coupons/SPRING").assert_error(404, "not_found");
    patch(&s, "/api/v1/coupons/SPRING", json!({"active": true})).assert_error(404, "not_found");
}

#[test]
fn rates_per_affiliate_and_per_type_and_recurring_limits() {
    let s = server();
    let r = s.post("/api/v1/affiliates", &json!({"referral_code": "vip", "name": "VIP"}));
    assert_eq!(r.status, 201);
    let r = s.post(
        "/api/v1/offers",
        &json!({"id": "app", "name": "App", "landing_url": "https://shop.example/app",
                "commission": {"sale": {"type": "percent", "value": "20"}, "lead": {"type": "flat", "value": "1.50"}}}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["commission"]["lead"], json!({"type": "flat", "value": "1.50"}));
    let ann = s.click("ann", json!({"offer": "app"}));
    let sale = convert(&s, json!({"external_id": "A-1", "amount": "10.00", "click_id": ann}));
    assert_eq!((&sale["commission"], &sale["rate_source"]), (&json!("2.00"), &json!("event_type")));
    let lead = convert(&s, json!({"external_id": "A-2", "amount": "0", "type": "lead", "click_id": ann}));
    assert_eq!(lead["commission"], "1.50");
    let install = convert(&s, json!({"external_id": "A-3", "amount": "5", "type": "install", "click_id": ann}));
    assert_eq!(install["commission"], "0.00");
    let reason = events(&s, &install["id"])[0]["reason"].as_str().unwrap().to_string();
    assert!(reason.contains("`install`"), "a type without a rate earns 0 and says so: {reason}");

    // vip's own rate on the offer wins for every type.
    let rate = put(&s, "/api/v1/offers/app/rates/vip", json!({"commission": {"type": "percent", "value": "30"}}));
    assert_eq!(rate.status, 200, "{}", rate.text());
    assert_eq!(
        rate.json(),
        json!({"offer": "app", "referral_code": "vip", "commission": {"type": "percent", "value": "30"}})
    );
    let vip = s.click("vip", json!({"offer": "app"}));
    let special = convert(&s, json!({"external_id": "A-4", "amount": "10.00", "click_id": vip}));
    assert_eq!((&special["commission"], &special["rate_source"]), (&json!("3.00"), &json!("affiliate_override")));
    let listed = s.get("/api/v1/offers/app/rates").json();
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
    assert_eq!(delete(&s, "/api/v1/offers/app/rates/vip").status, 204);
    delete(&s, "/api/v1/offers/app/rates/vip").assert_error(404, "not_found");
    let back = convert(&s, json!({"external_id": "A-5", "amount": "10.00", "click_id": vip}));
    assert_eq!((&back["commission"], &back["rate_source"]), (&json!("2.00"), &json!("event_type")));
    put(&s, "/api/v1/offers/app/rates/nobody", json!({"commission": {"type": "percent", "value": "1"}}))
        .assert_error(404, "unknown_referral_code");

    // Recurring commission ends after the offer's months: a customer tied long ago earns 0.
    assert_eq!(patch(&s, "/api/v1/offers/main", json!({"recurring_months": 12})).json()["recurring_months"], 12);
    let click = s.click("ann", json!({}));
    assert_eq!(s.post("/api/v1/customers", &json!({"customer_id": "cus-old", "click_id": click})).status, 201);
    assert_eq!(s.post("/api/v1/customers", &json!({"customer_id": "cus-new", "click_id": click})).status, 201);
    let thirteen_months = 13 * 31 * 86_400_000_i64;
    s.sql()
        .execute("UPDATE customers SET created_at = created_at - ?1 WHERE customer_id = 'cus-old'", [thirteen_months])
        .unwrap();
    let fresh = convert(&s, json!({"external_id": "R-1", "amount": "100.00", "customer_id": "cus-new"}));
    assert_eq!(fresh["commission"], "10.00");
    let old = convert(&s, json!({"external_id": "R-2", "amount": "100.00", "customer_id": "cus-old"}));
    assert_eq!(old["commission"], "0.00", "{old}");
    assert!(events(&s, &old["id"])[0]["reason"].as_str().unwrap().contains("12 months"));
}

#[test]
fn fraud_rules_flag_and_never_drop() {
    let s = Server::start_with(&["--max-clicks-per-ip", "3"], &[]);
    s.seed();
    let r = s.post("/api/v1/affiliates", &json!({"referral_code": "eve", "name": "Eve", "email": "Eve@Example.com"}));
    assert_eq!(r.status, 201);
    assert_eq!(patch(&s, "/api/v1/offers/main", json!({"max_conversions_per_click": 1})).status, 200);

    // too_fast: a conversion moments after its click (the default minimum age is 10 s).
    let click = s.click("eve", json!({}));
    let fast = convert(&s, json!({"external_id": "F-1", "amount": "10", "click_id": click}));
    assert_eq!((&fast["flags"], &fast["status"]), (&json!(["too_fast"]), &json!("pending")));
    // click_reused: a second conversion on the same click, over the offer's limit of 1.
    s.sql().execute("UPDATE clicks SET created_at = created_at - 60000", []).unwrap();
    let reused = convert(&s, json!({"external_id": "F-2", "amount": "10", "click_id": click}));
    assert_eq!(reused["flags"], json!(["click_reused"]));
    // self_referral: the buyer is the affiliate (case and +tags do not hide it).
    let own = convert(
        &s,
        json!({"external_id": "F-3", "amount": "10", "coupon": null, "click_id": s.click("eve", json!({})),
               "customer_email": "eve+deals@example.COM"}),
    );
    assert!(own["flags"].as_array().unwrap().contains(&json!("self_referral")), "{own}");
    // click_flood: the fourth click within the hour from one /24 for one affiliate is flagged,
    // and so is a conversion on it.
    let mut last = Value::Null;
    for n in 0..4 {
        let r = s.post("/api/v1/clicks", &json!({"referral_code": "ann", "ip": format!("198.51.100.{n}")}));
        last = r.json();
    }
    assert_eq!(last["flags"], json!(["click_flood"]));
    let other = s.post("/api/v1/clicks", &json!({"referral_code": "ann", "ip": "203.0.113.9"})).json();
    assert_eq!(other["flags"], json!([]), "another address is counted on its own");
    s.sql().execute("UPDATE clicks SET created_at = created_at - 60000", []).unwrap();
    let flooded = convert(&s, json!({"external_id": "F-4", "amount": "10", "click_id": last["id"]}));
    assert_eq!(flooded["flags"], json!(["click_flood"]));

    // Flagged conversions are listed apart, stay pending, and are still counted and approvable.
    let flagged: Vec<String> = s.get("/api/v1/conversions?flagged=true").json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["external_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(flagged.len(), 4, "{flagged:?}");
    assert_eq!(s.get("/api/v1/conversions?flagged=false").json()["data"].as_array().unwrap().len(), 0);
    s.get("/api/v1/conversions?flagged=maybe").assert_error(400, "invalid_flagged");
    assert_eq!(s.post(&format!("/api/v1/conversions/{}/approve", fast["id"]), &json!({})).status, 200);

    // Bots: crawlers and agentless requests reach the shop without a click.
    let before: i64 = s.sql().query_row("SELECT count(*) FROM clicks", [], |r| r.get(0)).unwrap();
    for agent in ["Googlebot/2.1 (+http://www.google.com/bot.html)", "facebookexternalhit/1.1", ""] {
        let r = request(s.addr, "GET", "/r/ann", &[("User-Agent", agent)], b"");
        assert_eq!(r.status, 302);
        assert!(!r.header("Location").unwrap().contains("click_id"), "{agent}");
    }
    let after: i64 = s.sql().query_row("SELECT count(*) FROM clicks", [], |r| r.get(0)).unwrap();
    assert_eq!(after, before);
    let metrics = s.get_public("/metrics").text();
    assert!(metrics.contains("affiliated_bot_visits_total 3"), "{metrics}");
}

#[test]
fn outbound_postbacks_say_when_they_are_about_test_data() {
    let s = Server::start_with(&["--allow-private-postbacks", "--outbound", "on", "--min-click-age", "0"], &[]);
    s.seed();
    let tracker = crate::outbound::Tracker::start(vec![200]);
    let url = format!("http://127.0.0.1:{}/pb?o={{external_id}}&t={{test}}", tracker.port);
    assert_eq!(patch(&s, "/api/v1/affiliates/ann", json!({"postback_url": url})).status, 200);
    let click = s.click("ann", json!({}));
    convert(&s, json!({"external_id": "W-1", "amount": "10", "click_id": click, "test": true}));
    convert(&s, json!({"external_id": "W-2", "amount": "10", "click_id": s.click("ann", json!({}))}));
    assert!(crate::support::eventually(std::time::Duration::from_secs(10), || tracker.count() >= 2));
    let seen = tracker.seen.lock().unwrap().clone();
    let test = seen.iter().find(|(path, _)| path.contains("o=W-1")).unwrap();
    let live = seen.iter().find(|(path, _)| path.contains("o=W-2")).unwrap();
    assert!(test.0.ends_with("t=1") && live.0.ends_with("t=0"), "{seen:?}");
    assert!(test.1.iter().any(|(k, v)| k == "x-affiliated-test" && v == "1"), "{:?}", test.1);
    assert!(!live.1.iter().any(|(k, _)| k == "x-affiliated-test"), "{:?}", live.1);
}
