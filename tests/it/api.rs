//! Affiliates, offers, coupons, customers, clicks; authentication and the error shape.

use serde_json::json;

use crate::support::{KEY, Server, request};

#[test]
fn every_api_route_requires_a_valid_key() {
    let s = Server::start();
    for (method, path) in [
        ("GET", "/api/v1/affiliates"),
        ("POST", "/api/v1/affiliates"),
        ("GET", "/api/v1/offers"),
        ("POST", "/api/v1/clicks"),
        ("GET", "/api/v1/clicks/abc"),
        ("POST", "/api/v1/conversions"),
        ("GET", "/api/v1/conversions"),
        ("POST", "/api/v1/conversions/1/approve"),
        ("POST", "/api/v1/customers"),
    ] {
        let none = request(s.addr, method, path, &[], b"{}");
        none.assert_error(401, "unauthorized");
        assert!(none.header("WWW-Authenticate").is_some());
        let wrong = request(s.addr, method, path, &[("X-Api-Key", "nope")], b"{}");
        wrong.assert_error(401, "unauthorized");
    }
    let bearer = request(s.addr, "GET", "/api/v1/affiliates", &[("Authorization", &format!("Bearer {KEY}"))], b"");
    assert_eq!(bearer.status, 200, "{}", bearer.text());
}

#[test]
fn affiliates_are_created_listed_and_unique() {
    let s = Server::start();
    let r = s.post("/api/v1/affiliates", &json!({"referral_code": "ann", "name": "Ann", "email": "ann@example.com"}));
    assert_eq!(r.status, 201, "{}", r.text());
    let a = r.json();
    assert_eq!(a["referral_code"], "ann");
    assert_eq!(a["email"], "ann@example.com");
    assert_eq!(a["tracking_link"], format!("http://{}/r/ann", s.addr), "the link names the real port");
    assert!(a["created_at"].as_str().unwrap().ends_with('Z'));

    s.post("/api/v1/affiliates", &json!({"referral_code": "ann", "name": "Other"}))
        .assert_error(409, "duplicate_referral_code");
    s.post("/api/v1/affiliates", &json!({"referral_code": "ANN", "name": "Other"}))
        .assert_error(409, "duplicate_referral_code");
    s.post("/api/v1/affiliates", &json!({"name": "No code"})).assert_error(400, "missing_referral_code");
    s.post("/api/v1/affiliates", &json!({"referral_code": "a b", "name": "x"}))
        .assert_error(400, "invalid_referral_code");
    s.post("/api/v1/affiliates", &json!({"referral_code": "bob"})).assert_error(400, "missing_name");
    s.post("/api/v1/affiliates", &json!({"referral_code": "bob", "name": "Bob", "email": "nope"}))
        .assert_error(400, "invalid_email");
    s.post("/api/v1/affiliates", &json!({"referral_code": "bob", "name": "Bob", "postback_url": "ftp://x"}))
        .assert_error(400, "invalid_postback_url");

    let one = s.get("/api/v1/affiliates/ann");
    assert_eq!(one.status, 200);
    assert_eq!(one.json()["name"], "Ann");
    s.get("/api/v1/affiliates/nobody").assert_error(404, "unknown_referral_code");

    for i in 0..3 {
        let r = s.post("/api/v1/affiliates", &json!({"referral_code": format!("p{i}"), "name": "P"}));
        assert_eq!(r.status, 201);
    }
    let page1 = s.get("/api/v1/affiliates?limit=2").json();
    assert_eq!(page1["data"].as_array().unwrap().len(), 2);
    let cursor = page1["next_cursor"].as_str().unwrap().to_string();
    let page2 = s.get(&format!("/api/v1/affiliates?limit=2&cursor={cursor}")).json();
    let codes: Vec<&str> =
        page2["data"].as_array().unwrap().iter().map(|a| a["referral_code"].as_str().unwrap()).collect();
    assert_eq!(codes, ["p1", "p2"]);
    assert!(page2["next_cursor"].is_string());
    let page3 = s.get(&format!("/api/v1/affiliates?limit=2&cursor={}", page2["next_cursor"].as_str().unwrap())).json();
    assert_eq!(page3["data"].as_array().unwrap().len(), 0);
    assert!(page3["next_cursor"].is_null());
    s.get("/api/v1/affiliates?limit=0").assert_error(400, "invalid_limit");
    s.get("/api/v1/affiliates?cursor=zz").assert_error(400, "invalid_cursor");
}

#[test]
fn offers_validate_and_the_first_is_the_default() {
    let s = Server::start();
    let offer = |id: &str, extra: serde_json::Value| {
        let mut body = json!({
            "id": id, "name": "Offer", "landing_url": "https://shop.example/?c={click_id}",
            "commission": {"type": "percent", "value": 12.5}
        });
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        s.post("/api/v1/offers", &body)
    };
    let first = offer("first", json!({}));
    assert_eq!(first.status, 201, "{}", first.text());
    let f = first.json();
    assert_eq!(f["default"], true);
    assert_eq!(f["commission"], json!({"type": "percent", "value": "12.5"}));
    assert_eq!(f["attribution"], "last_click");
    assert_eq!(f["click_window_days"], 30);
    assert_eq!(f["currency"], "USD");

    let second = offer(
        "second",
        json!({"commission": {"type": "flat", "value": "5"}, "currency": "EUR", "attribution": "first_click", "click_window_days": 7}),
    );
    assert_eq!(second.status, 201, "{}", second.text());
    assert_eq!(second.json()["default"], false);
    assert_eq!(second.json()["commission"]["value"], "5.00");

    let third = offer("third", json!({"default": true}));
    assert_eq!(third.json()["default"], true);
    let defaults: Vec<bool> = s.get("/api/v1/offers").json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["default"].as_bool().unwrap())
        .collect();
    assert_eq!(defaults, [false, false, true]);

    offer("first", json!({})).assert_error(409, "duplicate_offer_id");
    // A failed default change leaves the old default in place.
    offer("third", json!({"default": true})).assert_error(409, "duplicate_offer_id");
    assert_eq!(s.get("/api/v1/offers/third").json()["default"], true);

    for (extra, code) in [
        (json!({"landing_url": "javascript:alert(1)"}), "invalid_landing_url"),
        (json!({"landing_url": "https://shop.example/\r\nX: y"}), "invalid_landing_url"),
        (json!({"landing_url": "https://{click_id}.evil.example/"}), "invalid_landing_url"),
        (json!({"landing_url": null}), "missing_landing_url"),
        (json!({"commission": {"type": "percent", "value": 101}}), "invalid_commission"),
        (json!({"commission": {"type": "bribe", "value": 1}}), "invalid_commission"),
        (json!({"commission": {"type": "flat", "value": "1.001"}}), "invalid_commission"),
        (json!({"commission": null}), "missing_commission"),
        (json!({"attribution": "random"}), "invalid_attribution"),
        (json!({"click_window_days": 0}), "invalid_click_window_days"),
        (json!({"currency": "XYZ"}), "invalid_currency"),
        (json!({"default": "yes"}), "invalid_default"),
    ] {
        offer("bad", extra.clone()).assert_error(400, code);
    }
    s.get("/api/v1/offers/none").assert_error(404, "unknown_offer");
}

#[test]
fn clicks_have_unguessable_ids_and_can_be_read_back() {
    let s = Server::start();
    s.seed();
    let r = s.post(
        "/api/v1/clicks",
        &json!({
            "referral_code": "ann", "session_id": "sess-1", "landing_url": "https://shop.example/p",
            "referrer": "https://blog.example/", "user_agent": "Mozilla/5.0", "ip": "203.0.113.77",
            "source": "newsletter", "sub1": "a", "sub5": "e"
        }),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let click = r.json();
    let id = click["id"].as_str().unwrap();
    assert!(id.len() >= 20 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "{id}");
    assert_eq!(click["referral_code"], "ann");
    assert_eq!(click["offer"], "main");
    assert_eq!(click["session_id"], "sess-1");
    // IPs are stored truncated by default.
    assert_eq!(click["ip"], "203.0.113.0");

    let back = s.get(&format!("/api/v1/clicks/{id}"));
    assert_eq!(back.status, 200);
    assert_eq!(back.json()["sub5"], "e");
    assert_eq!(back.json()["user_agent"], "Mozilla/5.0");

    let ids: std::collections::HashSet<String> = (0..50).map(|_| s.click("ann", json!({}))).collect();
    assert_eq!(ids.len(), 50);

    s.get("/api/v1/clicks/not-a-click").assert_error(404, "not_found");
    s.get(&format!("/api/v1/clicks/{}", "A".repeat(30))).assert_error(404, "not_found");
    s.post("/api/v1/clicks", &json!({"referral_code": "nobody"})).assert_error(404, "unknown_referral_code");
    s.post("/api/v1/clicks", &json!({"referral_code": "ann", "offer": "nope"})).assert_error(404, "unknown_offer");
    s.post("/api/v1/clicks", &json!({})).assert_error(400, "missing_referral_code");
    s.post("/api/v1/clicks", &json!({"referral_code": "ann", "ip": "999.1.1.1"})).assert_error(400, "invalid_ip");
}

#[test]
fn coupons_and_customers() {
    let s = Server::start();
    s.seed();
    let c = s.post("/api/v1/coupons", &json!({"code": "ANN10", "referral_code": "ann"}));
    assert_eq!(c.status, 201, "{}", c.text());
    assert_eq!(c.json()["referral_code"], "ann");
    s.post("/api/v1/coupons", &json!({"code": "ann10", "referral_code": "ann"})).assert_error(409, "duplicate_coupon");
    s.post("/api/v1/coupons", &json!({"code": "X1", "referral_code": "zed"}))
        .assert_error(404, "unknown_referral_code");
    s.post("/api/v1/coupons", &json!({"code": "X1", "referral_code": "ann", "offer": "zzz"}))
        .assert_error(404, "unknown_offer");
    assert_eq!(s.get("/api/v1/coupons/ann10").json()["code"], "ANN10");

    let click = s.click("ann", json!({}));
    let r = s.post(
        "/api/v1/customers",
        &json!({"customer_id": "cus_1", "click_id": click, "email": "c@example.com", "name": "Cee"}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["referral_code"], "ann");
    assert_eq!(r.json()["click_id"], click.as_str());
    let by_coupon = s.post("/api/v1/customers", &json!({"customer_id": 42, "coupon": "ann10"}));
    assert_eq!(by_coupon.status, 201, "{}", by_coupon.text());
    assert_eq!(by_coupon.json()["customer_id"], "42");

    let dup = s.post("/api/v1/customers", &json!({"customer_id": "cus_1", "coupon": "ann10"}));
    dup.assert_error(409, "duplicate_customer_id");
    assert_eq!(dup.json()["customer"]["click_id"], click.as_str());
    s.post("/api/v1/customers", &json!({"customer_id": "cus_2"})).assert_error(400, "missing_attribution");
    s.post("/api/v1/customers", &json!({"click_id": click})).assert_error(400, "missing_customer_id");
    s.post("/api/v1/customers", &json!({"customer_id": "cus_3", "click_id": "nope"}))
        .assert_error(400, "invalid_click_id");
    s.post("/api/v1/customers", &json!({"customer_id": "cus_3", "coupon": "nope"})).assert_error(400, "invalid_coupon");
    assert_eq!(s.get("/api/v1/customers/cus_1").json()["email"], "c@example.com");
    s.get("/api/v1/customers/cus_9").assert_error(404, "not_found");
}

#[test]
fn unknown_routes_and_methods() {
    let s = Server::start();
    s.get("/api/v1/nothing").assert_error(404, "not_found");
    let r = request(s.addr, "DELETE", "/api/v1/conversions", &[("X-Api-Key", KEY)], b"");
    r.assert_error(405, "method_not_allowed");
    assert_eq!(r.header("Allow"), Some("POST, GET, HEAD"));
}

#[test]
fn openapi_is_served() {
    let s = Server::start();
    let r = s.get_public("/openapi.yaml");
    assert_eq!(r.status, 200);
    assert!(r.text().starts_with("openapi: 3"));
}

#[test]
fn whole_valued_numbers_count_as_integers() {
    let s = Server::start();
    let offer = |id: &str, days: &str| {
        let body = format!(
            r#"{{"id":"{id}","name":"O","landing_url":"https://shop.example/","commission":{{"type":"percent","value":"10"}},"click_window_days":{days}}}"#
        );
        s.post_raw("/api/v1/offers", &[("X-Api-Key", crate::support::KEY)], body.as_bytes())
    };
    for (id, days) in [("o1", "159.0"), ("o2", "1.59e2"), ("o3", "1590E-1"), ("o4", "159")] {
        let r = offer(id, days);
        assert_eq!(r.status, 201, "{days}: {}", r.text());
        assert_eq!(r.json()["click_window_days"], 159, "{days}");
    }
    for days in ["159.5", "1.595e2", "9223372036854775808", "1e400", "\"159\""] {
        offer("bad", days).assert_error(400, "invalid_click_window_days");
    }
    // Identifiers sent as numbers follow the same rule.
    s.seed();
    let click = s.click("ann", json!({}));
    let body = format!(r#"{{"external_id":1.001e3,"amount":"1","click_id":"{click}"}}"#);
    let r = s.post_raw("/api/v1/conversions", &[("X-Api-Key", crate::support::KEY)], body.as_bytes());
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["external_id"], "1001");
}
