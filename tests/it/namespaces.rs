//! Test and live data are separate namespaces (issue #21): the same order ID may be recorded once
//! as a test order and once as the real one, each deduplicated within its own; and identifiers a
//! merchant chooses (customer IDs, session IDs, a caller's own click ID) never let test data take
//! a live sale. Ids handed out are never handed out again, whatever is deleted.

use serde_json::{Value, json};

use crate::controls::test_key;
use crate::hooks::{post_stripe, server as hooks_server};
use crate::support::{KEY, Resp, Server, request};

fn with(s: &Server, key: &str, method: &str, path: &str, body: Value) -> Resp {
    request(s.addr, method, path, &[("X-Api-Key", key)], body.to_string().as_bytes())
}

fn server() -> Server {
    let s = Server::start_with(&["--min-click-age", "0", "--max-clicks-per-ip", "0"], &[]);
    s.seed();
    let r = s.post("/api/v1/affiliates", &json!({"referral_code": "bob", "name": "Bob"}));
    assert_eq!(r.status, 201, "{}", r.text());
    s
}

/// The case: a test order 1042 made the real report of 1042 answer 409, which
/// integrations take for "already recorded": the sale was lost.
#[test]
fn a_test_order_never_keeps_the_real_one_from_being_recorded() {
    let s = server();
    let key = test_key(&s);
    let test_click = with(&s, &key, "POST", "/api/v1/clicks", json!({"referral_code": "bob"})).json()["id"].clone();
    let test = with(
        &s,
        &key,
        "POST",
        "/api/v1/conversions",
        json!({"external_id": "1042", "amount": "10", "click_id": test_click}),
    );
    assert_eq!((test.status, &test.json()["test"]), (201, &json!(true)), "{}", test.text());

    let live_click = s.click("ann", json!({}));
    let live = s.post("/api/v1/conversions", &json!({"external_id": "1042", "amount": "80", "click_id": live_click}));
    assert_eq!(live.status, 201, "the real order is recorded: {}", live.text());
    let live = live.json();
    assert_eq!(
        (&live["test"], &live["referral_code"], &live["amount"]),
        (&json!(false), &json!("ann"), &json!("80.00"))
    );
    assert_ne!(live["id"], test.json()["id"]);

    // Each dedups within its own namespace, answering with its own order.
    let again = s.post("/api/v1/conversions", &json!({"external_id": "1042", "amount": "80", "click_id": live_click}));
    again.assert_error(409, "duplicate_external_id");
    assert_eq!(again.json()["conversion"]["id"], live["id"]);
    let test_again = with(
        &s,
        &key,
        "POST",
        "/api/v1/conversions",
        json!({"external_id": "1042", "amount": "10", "click_id": test_click}),
    );
    test_again.assert_error(409, "duplicate_external_id");
    assert_eq!(
        test_again.json()["conversion"]["id"],
        test.json()["id"],
        "the test key is answered with the test order"
    );
    // A live key marking one write as test lands in the test namespace too.
    let marked = s.post(
        "/api/v1/conversions",
        &json!({"external_id": "1042", "amount": "10", "click_id": live_click, "test": true}),
    );
    marked.assert_error(409, "duplicate_external_id");
    assert_eq!(marked.json()["conversion"]["test"], true);

    // The same through a postback (`test=1`), a lead and the AFFY API: one order per namespace.
    let token = s.get("/api/v1/postback-url").json()["token"].as_str().unwrap().to_string();
    let postback = |extra: &str| {
        s.get_public(&format!("/postback?token={token}&click_id={live_click}&order_id=2001&amount=5{extra}")).status
    };
    assert_eq!(postback("&test=1"), 201);
    assert_eq!(postback(""), 201, "the live postback of a tested order is recorded");
    assert_eq!((postback(""), postback("&test=1")), (409, 409));
    let lead = |k: &str| {
        with(
            &s,
            k,
            "POST",
            "/api/v1/leads",
            json!({"type": "payment", "external_id": "L-7", "value": "9", "click_id": live_click}),
        )
    };
    assert_eq!((lead(&key).status, lead(KEY).status, lead(KEY).status), (201, 201, 409));
    let rows: Vec<(String, bool)> = s
        .sql()
        .prepare("SELECT external_id, test FROM conversions ORDER BY external_id, test")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let expected: Vec<(String, bool)> =
        [("1042", false), ("1042", true), ("2001", false), ("2001", true), ("L-7", false), ("L-7", true)]
            .iter()
            .map(|(e, t)| (e.to_string(), *t))
            .collect();
    assert_eq!(rows, expected);
    // The books hold the live orders only.
    let in_ledger: i64 =
        s.sql().query_row("SELECT count(DISTINCT conversion_id) FROM ledger_entries", [], |r| r.get(0)).unwrap();
    assert_eq!(in_ledger, 3);
}

/// Stripe's test mode and live mode may both send an order with one ID (or the merchant's
/// own order numbers may repeat across a staging shop): each is its own conversion, and a
/// refund from one mode refunds only that mode's conversion.
#[test]
fn a_platforms_test_and_live_orders_and_refunds_stay_apart() {
    let s = hooks_server(&[]);
    let session = |live: bool| {
        let mut e =
            crate::hooks::fixture_json("stripe/checkout.session.completed.payment.json", &s.click("ann", json!({})));
        e["livemode"] = live.into();
        e["id"] = format!("evt_mode_{live}").into();
        e
    };
    for live in [false, true] {
        let r = post_stripe(&s, &session(live));
        assert_eq!(r.json()["results"][0]["outcome"], "created", "{}", r.text());
    }
    let mut refund = crate::hooks::fixture_json("stripe/charge.refunded.json", "");
    refund["livemode"] = true.into();
    refund["data"]["object"]["amount_refunded"] = refund["data"]["object"]["amount"].clone();
    let r = post_stripe(&s, &refund);
    assert_eq!(r.json()["results"][0]["outcome"], "refunded", "{}", r.text());
    let both: Vec<Value> = crate::hooks::conversions(&s);
    assert_eq!(both.len(), 2);
    for c in &both {
        let expected = if c["test"] == true { "pending" } else { "refunded" };
        assert_eq!(c["status"], expected, "a live refund refunds the live order only: {c}");
    }
}

/// A customer ID is the merchant's (often a user number): a tie made with a test key neither
/// blocks the live tie (it answered 409 and kept the test key's affiliate) nor credits live
/// orders.
#[test]
fn a_test_tie_neither_blocks_nor_takes_a_live_customer() {
    let s = server();
    let key = test_key(&s);
    let bob_click = with(&s, &key, "POST", "/api/v1/clicks", json!({"referral_code": "bob"})).json()["id"].clone();
    let tie = with(
        &s,
        &key,
        "POST",
        "/api/v1/customers",
        json!({"customer_id": "42", "click_id": bob_click, "email": "x@example.com"}),
    );
    assert_eq!((tie.status, &tie.json()["test"]), (201, &json!(true)), "{}", tie.text());

    // Live orders of customer 42 are not attributed through the test tie.
    s.post("/api/v1/conversions", &json!({"external_id": "o-1", "amount": "10", "customer_id": "42"}))
        .assert_error(400, "invalid_customer");
    // A live order of theirs by another key ties them live, to its own affiliate.
    let ann_click = s.click("ann", json!({}));
    let first = s.post(
        "/api/v1/conversions",
        &json!({"external_id": "o-2", "amount": "10", "click_id": ann_click, "customer_id": "42"}),
    );
    assert_eq!((first.status, &first.json()["referral_code"]), (201, &json!("ann")), "{}", first.text());
    let later = s.post("/api/v1/conversions", &json!({"external_id": "o-3", "amount": "10", "customer_id": "42"}));
    assert_eq!(
        (later.status, &later.json()["referral_code"], &later.json()["test"]),
        (201, &json!("ann"), &json!(false)),
        "recurring credit goes to the live tie: {}",
        later.text()
    );
    // Each key sees its own tie; the test key never sees the live one (an e-mail is personal data).
    let live_view = s.get("/api/v1/customers/42").json();
    assert_eq!((&live_view["referral_code"], &live_view["test"]), (&json!("ann"), &json!(false)));
    let test_view = with(&s, &key, "GET", "/api/v1/customers/42", json!({})).json();
    assert_eq!((&test_view["referral_code"], &test_view["test"]), (&json!("bob"), &json!(true)));
    let dup = with(&s, &key, "POST", "/api/v1/customers", json!({"customer_id": "42", "click_id": bob_click}));
    dup.assert_error(409, "duplicate_customer_id");
    assert_eq!(dup.json()["customer"]["referral_code"], "bob", "the test key's own tie, not the live one");
    // Erasure reaches both ties.
    assert_eq!(request(s.addr, "DELETE", "/api/v1/customers/42", &[("X-Api-Key", KEY)], b"").status, 204);
    let left: i64 =
        s.sql().query_row("SELECT count(*) FROM customers WHERE customer_id = '42'", [], |r| r.get(0)).unwrap();
    assert_eq!(left, 0);
}

/// Session IDs and a caller's own click IDs are the merchant's and can be guessed: a test click
/// made under a live visitor's session or click ID does not take (or turn into test data) the
/// live sale of that session.
#[test]
fn test_clicks_never_take_a_live_session_or_click_id() {
    let s = server();
    let key = test_key(&s);
    let r = with(&s, &key, "POST", "/api/v1/clicks", json!({"referral_code": "bob", "session_id": "sess-9"}));
    assert_eq!(r.status, 201);
    s.post("/api/v1/conversions", &json!({"external_id": "s-1", "amount": "10", "session_id": "sess-9"}))
        .assert_error(400, "invalid_session_id");
    s.click("ann", json!({"session_id": "sess-9"}));
    let live = s.post("/api/v1/conversions", &json!({"external_id": "s-1", "amount": "10", "session_id": "sess-9"}));
    assert_eq!((live.status, &live.json()["referral_code"], &live.json()["test"]), (201, &json!("ann"), &json!(false)));
    let status =
        |k: &str| with(&s, k, "GET", "/api/v1/tracking/status/sess-9", json!({})).json()["referral_code"].clone();
    assert_eq!((status(KEY), status(&key)), (json!("ann"), json!("bob")), "each key sees its own namespace's click");

    // AFFY's caller-chosen click IDs: the test key claims one first.
    let claim = with(
        &s,
        &key,
        "POST",
        "/api/v1/tracking/click",
        json!({"affiliateReference": "bob", "clickId": "user-42-visit-1"}),
    );
    assert_eq!(claim.status, 201, "{}", claim.text());
    let real = s.post("/api/v1/tracking/click", &json!({"affiliateReference": "ann", "clickId": "user-42-visit-1"}));
    assert_eq!(real.status, 201, "the live click gets its ID: {}", real.text());
    let sale =
        s.post("/api/v1/conversions", &json!({"external_id": "a-1", "amount": "10", "click_id": "user-42-visit-1"}));
    assert_eq!((sale.status, &sale.json()["referral_code"], &sale.json()["test"]), (201, &json!("ann"), &json!(false)));
}

/// Ids are AUTOINCREMENT: after the newest rows are deleted (test data, retention, a replaced
/// environment key), the next id is still larger than every id handed out before.
#[test]
fn ids_are_never_handed_out_twice() {
    let mut s = Server::start_with(&["--min-click-age", "0"], &[]);
    s.seed();
    let key = test_key(&s);
    let click = s.click("ann", json!({}));
    let webhook =
        s.post("/api/v1/webhooks", &json!({"url": "https://crm.example/h", "events": ["conversion.created"]}));
    assert_eq!(webhook.status, 201);
    let convert = |k: &str, order: &str| {
        let r = with(
            &s,
            k,
            "POST",
            "/api/v1/conversions",
            json!({"external_id": order, "amount": "10", "click_id": click}),
        );
        assert_eq!(r.status, 201, "{}", r.text());
        r.json()["id"].as_i64().unwrap()
    };
    let live = convert(KEY, "live-1");
    let tests: Vec<i64> = (1..=3).map(|i| convert(&key, &format!("test-{i}"))).collect();
    let max =
        |table: &str| -> i64 { s.sql().query_row(&format!("SELECT max(id) FROM {table}"), [], |r| r.get(0)).unwrap() };
    let before: Vec<(&str, i64)> =
        ["conversions", "webhook_deliveries", "api_keys"].iter().map(|t| (*t, max(t))).collect();
    assert_eq!(*tests.iter().max().unwrap(), before[0].1);

    assert_eq!(request(s.addr, "DELETE", "/api/v1/test-data", &[("X-Api-Key", KEY)], b"").status, 204);
    assert_eq!(max("conversions"), live, "the newest conversions are gone");
    let next = convert(&key, "test-4");
    assert!(next > before[0].1, "conversion {next} after {tests:?} were deleted");
    assert!(
        max("webhook_deliveries") > before[1].1,
        "the new conversion's webhook delivery has a new id too ({} <= {})",
        max("webhook_deliveries"),
        before[1].1
    );

    // Whatever else deletes the newest rows (the retention sweep, by hand): the same.
    let sql = s.sql();
    let token = s.get("/api/v1/postback-url").json()["token"].as_str().unwrap().to_string();
    let received = |order: &str| {
        s.get_public(&format!("/postback?token={token}&click_id={click}&order_id={order}&amount=1"));
        max("postbacks_received")
    };
    let first = received("pb-1");
    sql.execute("DELETE FROM postbacks_received", []).unwrap();
    assert!(received("pb-2") > first, "a received postback after the log was swept");
    let hook = webhook.json()["id"].as_i64().unwrap();
    assert_eq!(request(s.addr, "DELETE", &format!("/api/v1/webhooks/{hook}"), &[("X-Api-Key", KEY)], b"").status, 204);
    sql.execute("DELETE FROM webhook_deliveries", []).unwrap();
    sql.execute("DELETE FROM webhooks", []).unwrap();
    let again = s.post("/api/v1/webhooks", &json!({"url": "https://crm.example/h", "events": ["conversion.created"]}));
    assert!(again.json()["id"].as_i64().unwrap() > hook, "a webhook after the last one was deleted");

    // A replaced environment key is deleted: when it was the newest key, the next one still
    // gets a new id.
    let env_key_id = |s: &Server| -> i64 {
        s.sql().query_row("SELECT id FROM api_keys WHERE source = 'env'", [], |r| r.get(0)).unwrap()
    };
    let mut ids = Vec::new();
    for replacement in ["another-env-key-0123456789abcdefghijklmnop", "a-third-env-key-0123456789abcdefghijklmnop"] {
        s.extra_env.push(("AFFILIATED_API_KEY".into(), replacement.into()));
        s.restart();
        ids.push(env_key_id(&s));
    }
    assert!(ids[0] > before[2].1 && ids[1] > ids[0], "env keys {ids:?} after {}", before[2].1);
}
