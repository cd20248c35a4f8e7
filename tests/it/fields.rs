//! A misspelt field is never silent (issue #21): every POST, PUT and PATCH of the API refuses a
//! field it does not know with 400 `unknown_field` naming it, creates as well as changes. The
//! test walks the router's table, so an endpoint added without a case here fails it. The AFFY
//! Tracking API keeps accepting every field of AFFY's documented bodies.

use serde_json::{Value, json};

use affiliated::routes::{Access, ROUTES};

use crate::support::{KEY, Server, request};

/// (method, route pattern, path to call, a body with one misspelt field, that field).
const CASES: &[(&str, &str, &str, &str, &str)] = &[
    (
        "POST",
        "/api/v1/affiliates",
        "/api/v1/affiliates",
        r#"{"referral_code":"bob","name":"Bob","emial":"b@x.example"}"#,
        "emial",
    ),
    ("PATCH", "/api/v1/affiliates/{referral_code}", "/api/v1/affiliates/ann", r#"{"nmae":"Ann B."}"#, "nmae"),
    (
        "POST",
        "/api/v1/affiliates/{referral_code}/postback-secret",
        "/api/v1/affiliates/ann/postback-secret",
        r#"{"secret":"mine"}"#,
        "secret",
    ),
    (
        "POST",
        "/api/v1/affiliates/{referral_code}/postback-test",
        "/api/v1/affiliates/ann/postback-test",
        r#"{"event":"sale"}"#,
        "event",
    ),
    (
        "POST",
        "/api/v1/affiliates/{referral_code}/invite",
        "/api/v1/affiliates/ann/invite",
        r#"{"email":"a@x.example"}"#,
        "email",
    ),
    (
        "POST",
        "/api/v1/offers",
        "/api/v1/offers",
        r#"{"id":"o2","name":"O2","landing_url":"https://shop.example/","commission":{"type":"flat","value":"1"},"curency":"EUR"}"#,
        "curency",
    ),
    ("PATCH", "/api/v1/offers/{id}", "/api/v1/offers/main", r#"{"stauts":"paused"}"#, "stauts"),
    (
        "PUT",
        "/api/v1/offers/{id}/rates/{referral_code}",
        "/api/v1/offers/main/rates/ann",
        r#"{"commision":{"type":"flat","value":"1"}}"#,
        "commision",
    ),
    ("POST", "/api/v1/coupons", "/api/v1/coupons", r#"{"code":"BOB5","referral_code":"ann","ofer":"main"}"#, "ofer"),
    ("PATCH", "/api/v1/coupons/{code}", "/api/v1/coupons/ANN5", r#"{"enabled":false}"#, "enabled"),
    ("POST", "/api/v1/clicks", "/api/v1/clicks", r#"{"referral_code":"ann","sub6":"x"}"#, "sub6"),
    (
        "POST",
        "/api/v1/conversions",
        "/api/v1/conversions",
        r#"{"external_id":"o-1","amount":"10","coupon":"ANN5","amout":"10"}"#,
        "amout",
    ),
    ("POST", "/api/v1/conversions/{id}/approve", "/api/v1/conversions/1/approve", r#"{"reasn":"ok"}"#, "reasn"),
    ("POST", "/api/v1/conversions/{id}/reject", "/api/v1/conversions/1/reject", r#"{"reasn":"no"}"#, "reasn"),
    (
        "POST",
        "/api/v1/conversions/{id}/refund",
        "/api/v1/conversions/1/refund",
        r#"{"amount":"1","refundId":"r1"}"#,
        "refundId",
    ),
    (
        "POST",
        "/api/v1/customers",
        "/api/v1/customers",
        r#"{"customer_id":"c-1","coupon":"ANN5","mail":"c@x.example"}"#,
        "mail",
    ),
    (
        "POST",
        "/api/v1/leads",
        "/api/v1/leads",
        r#"{"type":"payment","external_id":"l-1","value":"5","coupon":"ANN5"}"#,
        "coupon",
    ),
    (
        "POST",
        "/api/v1/tracking/click",
        "/api/v1/tracking/click",
        r#"{"affiliateReference":"ann","clickURL":"https://shop.example/"}"#,
        "clickURL",
    ),
    (
        "POST",
        "/api/v1/tracking/registration",
        "/api/v1/tracking/registration",
        r#"{"clickId":"abcdefgh","customerId":"u1","customerEmail":"u@x.example"}"#,
        "customerEmail",
    ),
    (
        "POST",
        "/api/v1/tracking/lead",
        "/api/v1/tracking/lead",
        r#"{"leadType":"PAYMENT","leadValue":9,"sessionId":"s1","value":9}"#,
        "value",
    ),
    ("POST", "/api/v1/postback-url/rotate", "/api/v1/postback-url/rotate", r#"{"token":"mine"}"#, "token"),
    ("POST", "/api/v1/postbacks/{id}/retry", "/api/v1/postbacks/1/retry", r#"{"now":true}"#, "now"),
    (
        "POST",
        "/api/v1/webhooks",
        "/api/v1/webhooks",
        r#"{"url":"https://crm.example/h","events":["conversion.created"],"secret":"x"}"#,
        "secret",
    ),
    ("POST", "/api/v1/webhooks/{id}/test", "/api/v1/webhooks/1/test", r#"{"event":"conversion.created"}"#, "event"),
    ("POST", "/api/v1/webhooks/deliveries/{id}/retry", "/api/v1/webhooks/deliveries/1/retry", r#"{"now":true}"#, "now"),
    (
        "PUT",
        "/api/v1/connectors/{name}",
        "/api/v1/connectors/stripe",
        r#"{"signing_secret":"whsec_0123456789abcdef","secret":"x"}"#,
        "secret",
    ),
    ("POST", "/api/v1/payouts", "/api/v1/payouts", r#"{"currency":"USD","minimun":"50"}"#, "minimun"),
    ("POST", "/api/v1/payouts/{id}/mark-paid", "/api/v1/payouts/1/mark-paid", r#"{"referense":"tx-1"}"#, "referense"),
    ("POST", "/api/v1/payouts/{id}/cancel", "/api/v1/payouts/1/cancel", r#"{"reason":"oops"}"#, "reason"),
    (
        "POST",
        "/api/v1/applications/{id}/approve",
        "/api/v1/applications/1/approve",
        r#"{"referral_code":"ann2","rate":{"type":"flat","value":"1"}}"#,
        "rate",
    ),
    ("POST", "/api/v1/applications/{id}/reject", "/api/v1/applications/1/reject", r#"{"reson":"no"}"#, "reson"),
];

#[test]
fn every_body_the_api_reads_refuses_a_field_it_does_not_know() {
    let s = Server::start();
    s.seed();
    assert_eq!(s.post("/api/v1/coupons", &json!({"code": "ANN5", "referral_code": "ann"})).status, 201);
    let writes: Vec<(&str, &str)> = ROUTES
        .iter()
        .filter(|r| matches!(r.access, Access::ApiKey(_)) && ["POST", "PUT", "PATCH"].contains(&r.method.as_str()))
        .map(|r| (r.method.as_str(), r.pattern))
        .collect();
    for (method, pattern) in &writes {
        assert!(
            CASES.iter().any(|c| (c.0, c.1) == (*method, *pattern)),
            "{method} {pattern} has no case here: decide which fields it takes and add one"
        );
    }
    for (method, pattern, path, body, field) in CASES {
        assert!(writes.contains(&(*method, *pattern)), "{method} {pattern} is not an API write any more");
        let r = request(s.addr, method, path, &[("X-Api-Key", KEY)], body.as_bytes());
        assert_eq!(r.status, 400, "{method} {path}: {}", r.text());
        let answer = r.json();
        assert_eq!(answer["error"]["code"], "unknown_field", "{method} {path}: {answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains(&format!("`{field}`")), "{method} {path}: the message names the field: {message}");
        if path.starts_with("/api/v1/tracking/") {
            assert_eq!(answer["success"], false, "AFFY clients check `success`: {answer}");
        }
    }
    // A lead's fields depend on its type: a payment has no e-mail, a registration no value.
    for (body, field) in [
        (
            json!({"type": "payment", "external_id": "l-2", "value": "5", "session_id": "s", "email": "e@x.example"}),
            "email",
        ),
        (json!({"type": "registration", "customer_id": "c-2", "session_id": "s", "value": "5"}), "value"),
    ] {
        let r = s.post("/api/v1/leads", &body);
        r.assert_error(400, "unknown_field");
        assert!(r.json()["error"]["message"].as_str().unwrap().contains(&format!("`{field}`")), "{}", r.text());
    }
    s.post("/api/v1/leads", &json!({"type": "refund", "value": "5"})).assert_error(400, "invalid_type");
    // Nothing was written by any of them.
    let sql = s.sql();
    for table in ["conversions", "customers", "webhooks", "payouts", "postback_deliveries", "portal_invites"] {
        let n: i64 = sql.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0)).unwrap();
        assert_eq!(n, 0, "{table}");
    }
    let affiliates: i64 = sql.query_row("SELECT count(*) FROM affiliates", [], |r| r.get(0)).unwrap();
    assert_eq!(affiliates, 1);
}

/// AFFY's bodies as its documentation shows them (tests/fixtures and /work/shared/seeds/004),
/// with every field it documents, `clientId` included, are accepted as they are.
#[test]
fn the_affy_tracking_api_accepts_every_field_it_documents() {
    let s = Server::start();
    s.seed();
    let affy = |path: &str, body: Value| {
        let r = s.post(path, &body);
        assert_eq!((r.status, &r.json()["success"]), (201, &json!(true)), "{path}: {}", r.text());
        r.json()
    };
    affy(
        "/api/v1/tracking/click",
        json!({"clientId": 12345, "affiliateReference": "ann", "clickId": "click_unique_id", "sessionId": "session_unique_id",
               "clickedUrl": "https://yourwebsite.com/pricing", "referrerUrl": "https://blog.example.com/review",
               "userAgent": "Mozilla/5.0 ...", "source": "blog", "offer": "main", "test": false}),
    );
    affy(
        "/api/v1/tracking/registration",
        json!({"clientId": 12345, "clickId": "click_unique_id", "email": "customer@example.com",
               "customerId": "your_internal_user_id", "customerName": "Jane Smith", "test": false}),
    );
    affy(
        "/api/v1/tracking/lead",
        json!({"clientId": 12345, "leadType": "REGISTRATION", "customerEmail": "other@example.com",
               "customerName": "Jo Smith", "sessionId": "session_unique_id", "customerId": "user-2"}),
    );
    affy(
        "/api/v1/tracking/lead",
        json!({"clientId": 12345, "leadType": "PAYMENT", "customerEmail": "customer@example.com", "leadValue": 99.00,
               "sessionId": "session_unique_id", "clickId": "click_unique_id", "externalId": "inv-1", "currency": "USD",
               "customerName": "Jane Smith", "customerId": "your_internal_user_id", "test": false}),
    );
}
