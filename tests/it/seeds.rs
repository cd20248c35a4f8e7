//! Each of the five integration documents affiliated was designed from (../shared/seeds), tried
//! with its own parameter names, bodies and flow against the real binary (issue #15): code
//! written against one of them works after changing the host and adding a credential.

use std::time::Duration;

use serde_json::{Value, json};

use crate::admin::{Session, TOKEN};
use crate::postbacks::{fire, token};
use crate::support::{KEY, Server, eventually, request};

fn conversions(s: &Server, query: &str) -> Vec<Value> {
    s.get(&format!("/api/v1/conversions?limit=500{query}")).json()["data"].as_array().unwrap().clone()
}

fn post_json(s: &Server, path: &str, body: Value) -> crate::support::Resp {
    s.post(path, &body)
}

/// 000: the developer's guide to server-side affiliate tracking (a Tapfiliate-style REST flow).
#[test]
fn the_developers_guide_flow_works_as_written() {
    let s = Server::start_with(&["--admin-token", TOKEN, "--min-click-age", "0"], &[]);
    s.seed();
    // "Your backend calls a create click endpoint ... passing the referral code. The platform
    // ... returns a unique click ID."
    let click = s.click("ann", json!({"user_agent": "Mozilla/5.0", "ip": "203.0.113.5"}));
    // "... your order confirmation handler calls a create conversion endpoint, passing the stored
    // click ID ... Always use your internal order ID as external ID."
    let created =
        post_json(&s, "/api/v1/conversions", json!({"click_id": click, "external_id": "1001", "amount": "60.00"}));
    assert_eq!((created.status, &created.json()["status"]), (201, &json!("pending")), "{}", created.text());
    // "Submit the same test order ID twice and confirm the second call returns a duplicate rejection."
    post_json(&s, "/api/v1/conversions", json!({"click_id": click, "external_id": "1001", "amount": "60.00"}))
        .assert_error(409, "duplicate_external_id");
    // "A 400 ... means the click ID is invalid or expired. A 401 means the API key header is missing."
    post_json(
        &s,
        "/api/v1/conversions",
        json!({"click_id": "P7-not-a-real-click-id-000000", "external_id": "1002", "amount": "1"}),
    )
    .assert_error(400, "invalid_click_id");
    let no_key = request(s.addr, "POST", "/api/v1/conversions", &[], br#"{"external_id":"1003","amount":"1"}"#);
    no_key.assert_error(401, "unauthorized");
    // "Null click IDs passed to the create conversion endpoint result in 400 errors."
    post_json(&s, "/api/v1/conversions", json!({"click_id": null, "external_id": "1004", "amount": "1"}))
        .assert_error(400, "missing_attribution");
    // "... used an affiliate coupon code at checkout, you can pass the coupon code directly."
    assert_eq!(post_json(&s, "/api/v1/coupons", json!({"code": "ANN20", "referral_code": "ann"})).status, 201);
    let coupon =
        post_json(&s, "/api/v1/conversions", json!({"coupon": "ANN20", "external_id": "1005", "amount": "20.00"}));
    assert_eq!((coupon.status, &coupon.json()["referral_code"]), (201, &json!("ann")));
    // "The optional create customer endpoint ... recurring commission attribution across
    // multiple billing events."
    assert_eq!(post_json(&s, "/api/v1/customers", json!({"customer_id": "cus_1", "click_id": click})).status, 201);
    for month in ["inv-1", "inv-2"] {
        let r = post_json(
            &s,
            "/api/v1/conversions",
            json!({"customer_id": "cus_1", "external_id": month, "amount": "29.00"}),
        );
        assert_eq!((r.status, &r.json()["attributed_by"]), (201, &json!("customer")));
    }
    // "They click ... affiliate A on Monday ... affiliate B on Thursday ... The default model
    // attributes the commission to the last click ... first-touch attribution" is the offer's choice.
    assert_eq!(post_json(&s, "/api/v1/affiliates", json!({"referral_code": "bea", "name": "Bea"})).status, 201);
    s.click("ann", json!({"session_id": "visitor-9"}));
    // Clicks are stamped to the millisecond and two in the same one are in no defined order:
    // let the clock pass the first click's before the second.
    let first_done = std::time::SystemTime::now();
    assert!(eventually(Duration::from_secs(1), || first_done.elapsed().is_ok_and(|d| d.as_millis() >= 2)));
    s.click("bea", json!({"session_id": "visitor-9"}));
    let last =
        post_json(&s, "/api/v1/conversions", json!({"session_id": "visitor-9", "external_id": "1006", "amount": "10"}));
    assert_eq!(last.json()["referral_code"], "bea");
    // "Your affiliate dashboard shows 847 conversions ... Your order management system shows
    // 1,203": reconciliation names the orders the program never heard of.
    let session = Session::start(&s);
    let orders = "order_id\n1001\n1005\n1006\n2001\n2002\n";
    let page = session.post(&s, "/admin/reconcile", &[("orders", orders)]).text();
    assert!(page.contains("2001") && page.contains("2002"), "{page}");
}

/// 001: TUNE/HasOffers server-to-server basics: the transaction ID is the conversion.
#[test]
fn tune_hasoffers_postbacks_work_unchanged() {
    let s = Server::start_with(&["--allow-private-postbacks", "--outbound", "on"], &[]);
    s.seed();
    let cpa = post_json(
        &s,
        "/api/v1/offers",
        json!({"id": "cpa", "name": "CPA", "landing_url": "https://shop.example/?sub={aff_sub}&tid={click_id}",
               "commission": {"type": "flat", "value": "4.00"}}),
    );
    assert_eq!(cpa.status, 201, "{}", cpa.text());
    let t = token(&s);
    // The affiliate's own sub ID travels on the tracking link under HasOffers' name.
    let link = s.get_public("/r/ann?offer=cpa&aff_sub=campaign-7");
    let location = link.header("Location").unwrap().to_string();
    assert!(location.starts_with("https://shop.example/?sub=campaign-7&tid="), "{location}");
    let transaction = location.split("tid=").nth(1).unwrap().to_string();
    // The minimal postback: the transaction ID alone.
    let r = fire(&s, &format!("token={t}&transaction_id={transaction}"));
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["external_id"], format!("{transaction}:0"));
    fire(&s, &format!("token={t}&transaction_id={transaction}")).assert_error(409, "duplicate_external_id");
    // A goal is a conversion of its own, stored and filterable; HasOffers' paths work too.
    let goal =
        request(s.addr, "GET", &format!("/aff_goal?a=lsr&goal_id=12&transaction_id={transaction}&token={t}"), &[], b"");
    assert_eq!((goal.status, &goal.json()["goal"]), (201, &json!("12")), "{}", goal.text());
    let listed = conversions(&s, "&goal=12");
    assert_eq!(listed.len(), 1);
    // With an order ID (adv_sub), and through /aff_lsr.
    let click = s.click("ann", json!({"offer": "cpa"}));
    let sale = request(
        s.addr,
        "GET",
        &format!("/aff_lsr?offer_id=cpa&transaction_id={click}&amount=80&adv_sub=ORD-77&token={t}"),
        &[],
        b"",
    );
    assert_eq!((sale.status, &sale.json()["external_id"]), (201, &json!("ORD-77")), "{}", sale.text());
    // {aff_sub} in an affiliate's own postback URL.
    let tracker = crate::outbound::Tracker::start(vec![200]);
    let url = format!("http://127.0.0.1:{}/pb?s={{aff_sub}}&e={{event}}", tracker.port);
    let r = request(
        s.addr,
        "PATCH",
        "/api/v1/affiliates/ann",
        &[("X-Api-Key", KEY)],
        json!({"postback_url": url}).to_string().as_bytes(),
    );
    assert_eq!(r.status, 200);
    let id = conversions(&s, "").iter().find(|c| c["goal"] == "12").unwrap()["id"].clone();
    assert_eq!(s.post(&format!("/api/v1/conversions/{id}/approve"), &json!({})).status, 200);
    assert!(crate::support::eventually(std::time::Duration::from_secs(10), || tracker.count() >= 1));
    assert_eq!(tracker.seen.lock().unwrap()[0].0, "/pb?s=campaign-7&e=approved");
}

/// 002: FlexOffers' S2S URL, with every optional parameter filled.
#[test]
fn flexoffers_postbacks_keep_geo_commission_id_and_coupon() {
    let s = Server::start();
    s.seed();
    let t = token(&s);
    assert_eq!(post_json(&s, "/api/v1/coupons", json!({"code": "FLEX10", "referral_code": "ann"})).status, 201);
    let refid = s.click("ann", json!({}));
    let url = format!(
        "token={t}&refid={refid}&orderamount=120.00&ordernumber=FX-1&coupon=FLEX10&currency=USD&geo=US&commissionid=C-88"
    );
    let r = fire(&s, &url);
    assert_eq!(r.status, 201, "{}", r.text());
    let c = r.json();
    assert_eq!((&c["geo"], &c["commission_id"], &c["coupon"]), (&json!("US"), &json!("C-88"), &json!("FLEX10")));
    assert_eq!(c["attributed_by"], "click", "the click wins; the coupon is still kept");
    // "If you're running a CPL campaign, you can put in orderamount=0."
    let cpl = fire(&s, &format!("token={t}&refid={refid}&orderamount=0&ordernumber=FX-2&geo=DE"));
    assert_eq!((cpl.status, &cpl.json()["amount"]), (201, &json!("0.00")));
    // Filterable, and a JSON body with the same names works too.
    assert_eq!(conversions(&s, "&geo=DE").len(), 1);
    assert_eq!(conversions(&s, "&commission_id=C-88").len(), 1);
    let body = json!({"token": t, "refid": refid, "orderamount": 15.5, "ordernumber": "FX-3", "geo": "FR"});
    let r = request(s.addr, "POST", "/postback", &[("Content-Type", "application/json")], body.to_string().as_bytes());
    assert_eq!((r.status, &r.json()["amount"], &r.json()["geo"]), (201, &json!("15.50"), &json!("FR")), "{}", r.text());
}

/// 003: an Aspire (HasOffers) partner-ID postback, which carries no token.
#[test]
fn aspires_partner_id_postback_works_from_an_allowed_network() {
    let s = Server::start_with(&["--postback-allow", "127.0.0.0/8"], &[]);
    let r = post_json(&s, "/api/v1/affiliates", json!({"referral_code": "123456", "name": "Aspire member"}));
    assert_eq!(r.status, 201);
    let offer = post_json(
        &s,
        "/api/v1/offers",
        json!({"id": "1", "name": "Link Tracking Offer", "landing_url": "https://yourstore.com?affiliate_id={affiliate_id}",
               "commission": {"type": "percent", "value": "10"}}),
    );
    assert_eq!(offer.status, 201, "{}", offer.text());
    // "we will redirect to the Offer URL and replace {affiliate_id} with the member's unique affiliate_id"
    let link = s.get_public("/r/123456?offer=1");
    assert!(link.header("Location").unwrap().starts_with("https://yourstore.com?affiliate_id=123456"));
    // The seed's final URL, unchanged but for the host.
    let r = request(s.addr, "GET", "/aff_lsr?offer_id=1&affiliate_id=123456&amount=25&adv_unique1=547839", &[], b"");
    assert_eq!(r.status, 201, "{}", r.text());
    let c = r.json();
    assert_eq!(
        (&c["external_id"], &c["referral_code"], &c["amount"], &c["commission"]),
        (&json!("547839"), &json!("123456"), &json!("25.00"), &json!("2.50"))
    );
    // Its placeholder form, fired before the macros were filled in, is refused by name.
    let raw =
        request(s.addr, "GET", "/aff_lsr?offer_id=1&aff_id=AFFILIATE_ID&amount=AMOUNT&adv_unique1=ORDER_ID", &[], b"");
    raw.assert_error(400, "unreplaced_macro");
    // Outside the allowed networks the token is still needed.
    let closed = Server::start();
    request(closed.addr, "GET", "/aff_lsr?offer_id=1&affiliate_id=123456&amount=25&adv_unique1=1", &[], b"")
        .assert_error(401, "unauthorized");
}

/// 004: AFFY's Tracking API, with the seed's own bodies.
#[test]
fn affys_tracking_api_works_with_its_own_bodies() {
    let s = Server::start_with(&["--min-click-age", "0"], &[]);
    s.seed();
    assert_eq!(post_json(&s, "/api/v1/affiliates", json!({"referral_code": "aff_xyz123", "name": "XYZ"})).status, 201);
    let click = post_json(
        &s,
        "/api/v1/tracking/click",
        json!({"clientId": 12345, "affiliateReference": "aff_xyz123", "clickId": "click_unique_id",
               "sessionId": "session_unique_id", "clickedUrl": "https://yourwebsite.com/pricing",
               "referrerUrl": "https://blog.example.com/review", "userAgent": "Mozilla/5.0 ...", "source": "blog"}),
    );
    assert_eq!(click.status, 201, "{}", click.text());
    assert_eq!(
        click.json(),
        json!({"success": true, "clickId": "click_unique_id", "sessionId": "session_unique_id", "message": "Click tracked successfully"})
    );
    let again = post_json(
        &s,
        "/api/v1/tracking/click",
        json!({"affiliateReference": "aff_xyz123", "clickId": "click_unique_id"}),
    );
    again.assert_error(409, "duplicate_click_id");
    assert_eq!(again.json()["success"], false);

    let status = s.get("/api/v1/tracking/status/session_unique_id").json();
    assert_eq!(
        (&status["sessionId"], &status["hasAffiliate"], &status["affiliateReference"], &status["clickId"]),
        (&json!("session_unique_id"), &json!(true), &json!("aff_xyz123"), &json!("click_unique_id"))
    );
    assert!(status["clickedAt"].as_str().unwrap().ends_with('Z'));
    assert_eq!(status["has_affiliate"], true, "the snake_case keys stay");

    let reg = post_json(
        &s,
        "/api/v1/tracking/registration",
        json!({"clickId": "click_unique_id", "email": "customer@example.com", "customerId": "your_internal_user_id",
               "customerName": "Jane Smith"}),
    );
    assert_eq!(reg.status, 201, "{}", reg.text());
    let reg = reg.json();
    assert_eq!(
        (&reg["success"], &reg["clickId"], &reg["message"]),
        (&json!(true), &json!("click_unique_id"), &json!("Registration linked to affiliate referral"))
    );
    let lead = s.get(&format!("/api/v1/conversions/{}", reg["leadId"])).json();
    assert_eq!(
        (&lead["type"], &lead["referral_code"], &lead["commission"], &lead["source"]),
        (&json!("lead"), &json!("aff_xyz123"), &json!("0.00"), &json!("tracking_api"))
    );
    assert_eq!(s.get("/api/v1/customers/your_internal_user_id").json()["email"], "customer@example.com");

    // A registration by session, then a payment matched by the customer's e-mail.
    s.click("aff_xyz123", json!({"session_id": "session-2"}));
    let by_session = post_json(
        &s,
        "/api/v1/tracking/lead",
        json!({"clientId": 12345, "leadType": "REGISTRATION", "customerEmail": "second@example.com",
               "customerName": "Jo Doe", "sessionId": "session-2"}),
    );
    assert_eq!((by_session.status, &by_session.json()["success"]), (201, &json!(true)), "{}", by_session.text());
    // The seed's body as written (a JSON number with two decimals).
    let body =
        r#"{"clientId": 12345, "leadType": "PAYMENT", "customerEmail": "customer@example.com", "leadValue": 99.00}"#;
    let pay = request(s.addr, "POST", "/api/v1/tracking/lead", &[("X-Api-Key", KEY)], body.as_bytes());
    assert_eq!(pay.status, 201, "{}", pay.text());
    let pay = pay.json();
    assert_eq!(pay["conversionSource"], "TRACKING_API");
    assert!(pay.to_string().contains(r#""leadValue":99.00"#), "the value keeps its exact text: {pay}");
    let sale = s.get(&format!("/api/v1/conversions/{}", pay["leadId"])).json();
    assert_eq!(
        (&sale["amount"], &sale["commission"], &sale["attributed_by"]),
        (&json!("99.00"), &json!("9.90"), &json!("customer"))
    );
    // Each payment call is a new lead, as AFFY does; an externalId dedups.
    let second = post_json(
        &s,
        "/api/v1/tracking/lead",
        json!({"leadType": "payment", "leadValue": "10", "sessionId": "session-2"}),
    );
    let third = post_json(
        &s,
        "/api/v1/tracking/lead",
        json!({"leadType": "PAYMENT", "leadValue": "10", "sessionId": "session-2"}),
    );
    assert_eq!((second.status, third.status), (201, 201));
    assert_ne!(second.json()["leadId"], third.json()["leadId"]);
    for _ in 0..2 {
        let r = post_json(
            &s,
            "/api/v1/tracking/lead",
            json!({"leadType": "PAYMENT", "leadValue": "10", "sessionId": "session-2", "externalId": "inv-9"}),
        );
        assert!(r.status == 201 || (r.status == 409 && r.json()["success"] == false), "{}", r.text());
    }
    assert_eq!(conversions(&s, "").iter().filter(|c| c["external_id"] == "inv-9").count(), 1);
    // The caller's clickId works wherever a click ID does.
    let api = post_json(
        &s,
        "/api/v1/conversions",
        json!({"external_id": "api-1", "amount": "5", "click_id": "click_unique_id"}),
    );
    assert_eq!((api.status, &api.json()["referral_code"]), (201, &json!("aff_xyz123")));
    let bad = post_json(&s, "/api/v1/tracking/lead", json!({"leadType": "REFUND"}));
    bad.assert_error(400, "invalid_leadType");
    assert_eq!(bad.json()["success"], false);
}
