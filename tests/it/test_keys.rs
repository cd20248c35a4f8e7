//! Test keys touch test data only (issue #21). Every API route of the router is called with a
//! test key against a server full of live data, and its answer is checked against the scope
//! docs/controls.md gives it (and the router declares): `live only` answers 403
//! `live_key_required` and changes nothing, `catalog` reads what a live key reads (without
//! people's data), `test data` writes test data and treats every live object as unknown. A route
//! without a line in that table, or whose line disagrees with the router, fails the test; so does
//! any answer that carries a live secret or a person's data.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use affiliated::routes::{Access, KeyScope, ROUTES};

use crate::controls::test_key;
use crate::support::{KEY, Resp, Server, request};

/// The table of docs/controls.md: (method, path) -> scope as written (`live only`, ...).
fn documented_scopes() -> BTreeMap<(String, String), String> {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/controls.md")).unwrap();
    let mut table = BTreeMap::new();
    for line in doc.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let Some(endpoint) = cells.get(1).and_then(|c| c.strip_prefix('`')).and_then(|c| c.strip_suffix('`')) else {
            continue;
        };
        let Some((method, path)) = endpoint.split_once(' ').filter(|(_, p)| p.starts_with("/api/")) else {
            continue;
        };
        let previous = table.insert((method.to_string(), path.to_string()), cells[2].to_string());
        assert!(previous.is_none(), "docs/controls.md lists {endpoint} twice");
    }
    table
}

fn scope_name(scope: KeyScope) -> &'static str {
    match scope {
        KeyScope::Live => "live only",
        KeyScope::TestData => "test data",
        KeyScope::Catalog => "catalog",
    }
}

/// Live data to attack, and what must never leak.
struct World {
    s: Server,
    key: String,
    live_click: String,
    live_conversion: i64,
    secrets: Vec<String>,
}

fn call(s: &Server, key: &str, method: &str, path: &str, body: &Value) -> Resp {
    let body = if method == "GET" || method == "DELETE" { String::new() } else { body.to_string() };
    request(s.addr, method, path, &[("X-Api-Key", key)], body.as_bytes())
}

fn world() -> World {
    let s = Server::start_with(&["--min-click-age", "0", "--max-clicks-per-ip", "0"], &[]);
    s.seed();
    let ok = |r: Resp| {
        assert!((200..300).contains(&r.status), "{}", r.text());
        r.json()
    };
    let patch = |path: &str, body: Value| {
        ok(request(s.addr, "PATCH", path, &[("X-Api-Key", KEY)], body.to_string().as_bytes()))
    };
    let mut secrets = Vec::new();
    patch(
        "/api/v1/affiliates/ann",
        json!({"email": "ann@people.example", "payout_email": "ann-pay@people.example",
               "payout_details": "IBAN DE89 3704 0044 0532 0130 00",
               "postback_url": "https://tracker.example/pb?key=ANNS-TRACKER-SECRET&cid={click_id}"}),
    );
    secrets
        .extend(["ann@people.example", "ann-pay@people.example", "DE89 3704", "ANNS-TRACKER-SECRET"].map(String::from));
    secrets.push(
        ok(s.post("/api/v1/affiliates/ann/postback-secret", &json!({})))["postback_secret"].as_str().unwrap().into(),
    );
    secrets.push(s.get("/api/v1/postback-url").json()["token"].as_str().unwrap().into());
    ok(s.post("/api/v1/coupons", &json!({"code": "ANN5", "referral_code": "ann"})));
    let rate = request(
        s.addr,
        "PUT",
        "/api/v1/offers/main/rates/ann",
        &[("X-Api-Key", KEY)],
        json!({"commission": {"type": "percent", "value": "15"}}).to_string().as_bytes(),
    );
    ok(rate);
    let hook =
        ok(s.post("/api/v1/webhooks", &json!({"url": "https://crm.example/h", "events": ["conversion.created"]})));
    secrets.push(hook["secret"].as_str().unwrap().into());
    let live_click = s.click("ann", json!({"session_id": "sess-live", "ip": "203.0.113.7"}));
    ok(s.post("/api/v1/customers", &json!({"customer_id": "cus-live", "click_id": live_click, "email": "buyer@people.example", "name": "Bea Buyer"})));
    secrets.extend(["buyer@people.example", "Bea Buyer", "203.0.113"].map(String::from));
    let live_conversion = ok(
        s.post("/api/v1/conversions", &json!({"external_id": "live-1", "amount": "100", "click_id": live_click}))
    )["id"]
        .as_i64()
        .unwrap();
    let approved =
        ok(s.post("/api/v1/conversions", &json!({"external_id": "live-2", "amount": "100", "coupon": "ANN5"})))["id"]
            .clone();
    ok(s.post(&format!("/api/v1/conversions/{approved}/approve"), &json!({})));
    let invite = ok(s.post("/api/v1/affiliates/ann/invite", &json!({})));
    secrets.push(invite["invite_url"].as_str().unwrap().rsplit('/').next().unwrap().into());
    let key = test_key(&s);
    World { s, key, live_click, live_conversion, secrets }
}

/// Everything a live key sees of the live data, to compare before and after the walk.
fn live_state(s: &Server) -> Vec<String> {
    let sql = s.sql();
    let mut state: Vec<String> = [
        "SELECT group_concat(id || ':' || external_id || ':' || status || ':' || refunded_amount || ':' || test, ',') FROM conversions WHERE test = 0",
        "SELECT group_concat(id || ':' || affiliate_id, ',') FROM clicks WHERE test = 0",
        "SELECT group_concat(customer_id || ':' || coalesce(email, ''), ',') FROM customers WHERE test = 0",
        "SELECT group_concat(referral_code || ':' || coalesce(email, '') || ':' || coalesce(postback_url, '') || ':' || coalesce(postback_secret, '') || ':' || status, ',') FROM affiliates",
        "SELECT group_concat(public_id || ':' || commission_value || ':' || status, ',') FROM offers",
        "SELECT group_concat(code || ':' || active, ',') FROM coupons",
        "SELECT group_concat(id || ':' || url || ':' || coalesce(deleted_at, ''), ',') FROM webhooks",
        "SELECT count(*) FROM payouts",
        "SELECT count(*) FROM payout_runs",
        "SELECT count(*) FROM ledger_entries",
        "SELECT count(*) FROM connector_secrets",
        "SELECT group_concat(name || ':' || value, ',') FROM settings",
        "SELECT count(*) FROM erasures",
        "SELECT count(*) FROM portal_invites",
        "SELECT count(*) FROM api_keys",
    ]
    .iter()
    .map(|q| sql.query_row(q, [], |r| r.get::<_, Option<rusqlite::types::Value>>(0)).map(|v| format!("{q} => {v:?}")).unwrap())
    .collect();
    state.push(s.get("/api/v1/affiliates").text());
    state
}

/// The concrete path for a route pattern, naming live objects where it can.
fn path_for(w: &World, pattern: &str) -> String {
    pattern
        .replace("{referral_code}", "ann")
        .replace("/offers/{id}", "/offers/main")
        .replace("{code}", "ANN5")
        .replace("/clicks/{id}", &format!("/clicks/{}", w.live_click))
        .replace("/conversions/{id}", &format!("/conversions/{}", w.live_conversion))
        .replace("{customer_id}", "cus-live")
        .replace("{session_id}", "sess-live")
        .replace("{name}", "stripe")
        .replace("{id}", "1")
}

/// What each `test data` route must do with a test key, given live data.
fn check_test_data_route(w: &World, method: &str, pattern: &str, path: &str) -> Vec<Resp> {
    let (s, key) = (&w.s, w.key.as_str());
    let go = |m: &str, p: &str, body: Value| call(s, key, m, p, &body);
    let test_of = |r: &Resp| -> bool {
        assert_eq!(r.status, 201, "{method} {pattern}: {}", r.text());
        r.json()["test"] == true
    };
    let unknown = |r: Resp, what: &str| {
        r.assert_error(404, "not_found");
        assert!(r.text().contains(what), "{method} {pattern}: {}", r.text());
        r
    };
    match (method, pattern) {
        ("POST", "/api/v1/clicks") => {
            let r = go(method, path, json!({"referral_code": "ann"}));
            assert!(test_of(&r), "a test click");
            vec![r]
        }
        ("GET", "/api/v1/clicks/{id}") => {
            let live = unknown(go(method, path, json!({})), "no click");
            let nothing = go(method, "/api/v1/clicks/P8AAAAAAAAAAAAAAAAAAAAAAAAAAAA", json!({}));
            assert_eq!(
                (live.status, live.json()["error"]["code"].clone()),
                (nothing.status, nothing.json()["error"]["code"].clone())
            );
            vec![live, nothing]
        }
        ("POST", "/api/v1/conversions") => {
            // Even naming a live click and the live order's ID: a test conversion, beside it.
            let r = go(method, path, json!({"external_id": "live-1", "amount": "1", "click_id": w.live_click}));
            assert!(test_of(&r), "a test conversion");
            vec![r]
        }
        ("GET", "/api/v1/conversions") => {
            let mut seen = Vec::new();
            for query in ["", "?test=false", "?test=true", "?referral_code=ann&limit=500"] {
                let r = go(method, &format!("{path}{query}"), json!({}));
                assert_eq!(r.status, 200, "{}", r.text());
                let data = r.json()["data"].as_array().unwrap().clone();
                assert!(
                    !data.is_empty() && data.iter().all(|c| c["test"] == true),
                    "{query}: test data only: {data:?}"
                );
                seen.push(r);
            }
            seen
        }
        ("GET", "/api/v1/conversions/{id}")
        | ("DELETE", "/api/v1/conversions/{id}")
        | ("POST", "/api/v1/conversions/{id}/approve")
        | ("POST", "/api/v1/conversions/{id}/reject")
        | ("POST", "/api/v1/conversions/{id}/refund") => {
            let live = unknown(go(method, path, json!({})), &format!("no conversion has id {}", w.live_conversion));
            let missing = go(method, &pattern.replace("{id}", "987654"), json!({}));
            assert_eq!(missing.status, 404, "the same answer as for an id that does not exist");
            // And on test data it works.
            let own = go(
                "POST",
                "/api/v1/conversions",
                json!({"external_id": format!("own-{method}-{pattern}"), "amount": "10", "coupon": "ANN5"}),
            );
            let id = own.json()["id"].clone();
            let done = go(method, &pattern.replace("{id}", &id.to_string()), json!({}));
            assert!((200..300).contains(&done.status), "{method} {pattern} on test data: {}", done.text());
            vec![live, missing, own, done]
        }
        ("POST", "/api/v1/customers") => {
            let r = go(method, path, json!({"customer_id": "cus-live", "coupon": "ANN5", "email": "t@test.example"}));
            assert!(test_of(&r), "a test tie beside the live one, not a 409 showing it");
            vec![r]
        }
        ("GET", "/api/v1/customers/{customer_id}") => {
            let none = go(method, "/api/v1/customers/cus-only-live", json!({}));
            let r = go(method, path, json!({}));
            // cus-live has a test tie too by now (the POST above may have run first), never the live one.
            if r.status == 200 {
                assert_eq!(r.json()["test"], true, "{}", r.text());
            } else {
                r.assert_error(404, "not_found");
            }
            none.assert_error(404, "not_found");
            vec![r, none]
        }
        ("DELETE", "/api/v1/test-data") => {
            let r = go(method, path, json!({}));
            assert_eq!(r.status, 204, "{}", r.text());
            vec![r]
        }
        ("POST", "/api/v1/leads") => {
            let r = go(
                method,
                path,
                json!({"type": "payment", "external_id": "live-2", "value": "3", "click_id": w.live_click}),
            );
            assert!(test_of(&r));
            vec![r]
        }
        ("GET", "/api/v1/tracking/status/{session_id}") => {
            let r = go(method, path, json!({}));
            assert_eq!(
                (r.status, &r.json()["has_affiliate"]),
                (200, &json!(false)),
                "the live session's click is not seen: {}",
                r.text()
            );
            vec![r]
        }
        ("POST", "/api/v1/tracking/click") => {
            let r = go(
                method,
                path,
                json!({"affiliateReference": "ann", "clickId": "affy-click-001", "sessionId": "sess-live"}),
            );
            assert_eq!(r.status, 201, "{}", r.text());
            let test: bool = s
                .sql()
                .query_row("SELECT test FROM clicks WHERE alias = 'affy-click-001'", [], |row| row.get(0))
                .unwrap();
            assert!(test);
            vec![r]
        }
        ("POST", "/api/v1/tracking/registration") => {
            let r =
                go(method, path, json!({"clickId": w.live_click, "customerId": "cus-live", "email": "r@test.example"}));
            assert_eq!(r.status, 201, "{}", r.text());
            vec![r]
        }
        ("POST", "/api/v1/tracking/lead") => {
            let r = go(method, path, json!({"leadType": "PAYMENT", "leadValue": 5, "clickId": w.live_click}));
            assert_eq!(r.status, 201, "{}", r.text());
            vec![r]
        }
        _ => panic!("{method} {pattern} is a test-data route with no check in tests/it/test_keys.rs: write one"),
    }
}

#[test]
fn every_api_route_answers_a_test_key_as_docs_controls_md_says() {
    let w = world();
    let documented = documented_scopes();
    let before = live_state(&w.s);
    let mut answers: Vec<(String, Resp)> = Vec::new();
    let mut routed = Vec::new();
    // Test-data routes first, so the catalog and live-only walk below also runs with test data
    // present (and DELETE /test-data last of them, so the rest still finds some).
    let mut routes: Vec<_> = ROUTES
        .iter()
        .filter_map(|r| match r.access {
            Access::ApiKey(scope) => Some((r, scope)),
            _ => None,
        })
        .collect();
    routes.sort_by_key(|(r, scope)| (*scope != KeyScope::TestData, r.pattern == "/api/v1/test-data"));
    for (route, scope) in routes {
        let (method, pattern) = (route.method.as_str(), route.pattern);
        routed.push((method.to_string(), pattern.to_string()));
        let doc = documented.get(&(method.to_string(), pattern.to_string())).unwrap_or_else(|| {
            panic!("{method} {pattern} is not in the test-key table of docs/controls.md: decide what a test key gets")
        });
        assert_eq!(doc, scope_name(scope), "{method} {pattern}: docs/controls.md and the router disagree");
        let path = path_for(&w, pattern);
        match scope {
            KeyScope::Live => {
                let r = call(&w.s, &w.key, method, &path, &json!({}));
                r.assert_error(403, "live_key_required");
                answers.push((format!("{method} {pattern}"), r));
            }
            KeyScope::Catalog => {
                let r = call(&w.s, &w.key, method, &path, &json!({}));
                let live = call(&w.s, KEY, method, &path, &json!({}));
                assert_eq!(r.status, 200, "{method} {pattern}: {}", r.text());
                let mut expected = live.json();
                redact(&mut expected);
                assert_eq!(
                    r.json(),
                    expected,
                    "{method} {pattern}: the catalog as a live key reads it, without people"
                );
                answers.push((format!("{method} {pattern}"), r));
            }
            KeyScope::TestData => {
                for r in check_test_data_route(&w, method, pattern, &path) {
                    answers.push((format!("{method} {pattern}"), r));
                }
            }
        }
    }
    for (method, path) in documented.keys() {
        assert!(
            routed.contains(&(method.clone(), path.clone())),
            "docs/controls.md lists {method} {path}, which the router does not have"
        );
    }
    for (what, r) in &answers {
        let text = r.text();
        for secret in &w.secrets {
            assert!(!text.contains(secret.as_str()), "{what} gave a test key {secret:?}: {text}");
        }
    }
    assert_eq!(live_state(&w.s), before, "a test key changed live data");
}

/// What a test key does not see of an affiliate.
fn redact(v: &mut Value) {
    match v {
        Value::Object(map) => {
            if map.contains_key("referral_code") && map.contains_key("tracking_link") {
                for field in ["email", "postback_url", "payout_email", "payout_details"] {
                    map.insert(field.into(), Value::Null);
                }
            }
            map.values_mut().for_each(redact);
        }
        Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

/// The issue's attack, end to end: with a leaked test key nobody can read the live postback
/// token, record a live conversion, approve or refund one, pay out, redirect an affiliate's
/// postbacks, add a webhook or erase a customer.
#[test]
fn a_leaked_test_key_cannot_do_what_the_issue_found() {
    let w = world();
    let (s, key) = (&w.s, w.key.as_str());
    call(s, key, "GET", "/api/v1/postback-url", &json!({})).assert_error(403, "live_key_required");
    let marked_live = call(
        s,
        key,
        "POST",
        "/api/v1/conversions",
        &json!({"external_id": "x-1", "amount": "5000", "coupon": "ANN5", "test": false}),
    );
    assert_eq!((marked_live.status, &marked_live.json()["test"]), (201, &json!(true)));
    for path in ["approve", "refund"] {
        call(s, key, "POST", &format!("/api/v1/conversions/{}/{path}", w.live_conversion), &json!({}))
            .assert_error(404, "not_found");
    }
    call(s, key, "POST", "/api/v1/payouts", &json!({"currency": "USD"})).assert_error(403, "live_key_required");
    call(s, key, "POST", "/api/v1/payouts/1/mark-paid", &json!({})).assert_error(403, "live_key_required");
    call(s, key, "PATCH", "/api/v1/affiliates/ann", &json!({"postback_url": "https://evil.example/pb"}))
        .assert_error(403, "live_key_required");
    call(
        s,
        key,
        "POST",
        "/api/v1/webhooks",
        &json!({"url": "https://evil.example/h", "events": ["conversion.created"]}),
    )
    .assert_error(403, "live_key_required");
    call(s, key, "DELETE", "/api/v1/customers/cus-live", &json!({})).assert_error(403, "live_key_required");
    let live = s.get(&format!("/api/v1/conversions/{}", w.live_conversion)).json();
    assert_eq!(live["status"], "pending");
    assert_eq!(s.get("/api/v1/customers/cus-live").json()["email"], "buyer@people.example");
}

/// Clicks a test key reports "from" an address do not count towards `click_flood`: otherwise a
/// test key could get a live affiliate's real visitors from that network flagged.
#[test]
fn test_clicks_never_flag_live_visitors() {
    let s = Server::start_with(&["--max-clicks-per-ip", "3"], &[]);
    s.seed();
    let key = test_key(&s);
    for _ in 0..10 {
        let r = call(&s, &key, "POST", "/api/v1/clicks", &json!({"referral_code": "ann", "ip": "198.51.100.20"}));
        assert_eq!(r.status, 201, "{}", r.text());
    }
    let live = s.post("/api/v1/clicks", &json!({"referral_code": "ann", "ip": "198.51.100.21"}));
    assert_eq!((live.status, &live.json()["flags"]), (201, &json!([])), "{}", live.text());
}
