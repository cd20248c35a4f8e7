//! One door for every write (#23): a rule that belongs to a value holds for every source that
//! maps its input to that value. Each test here failed while the rule lived in one handler.

use serde_json::json;

use crate::support::Server;

/// The customer's e-mail on a conversion is checked in `NewConversion::check`, so AFFY's payment
/// leads refuse a malformed one as the JSON API does (each naming the field as it was sent); a
/// payment lead took any text before.
#[test]
fn every_source_checks_the_customers_email_of_a_conversion() {
    let s = Server::start_with(&["--min-click-age", "0"], &[]);
    s.seed();
    let click = s.click("ann", json!({}));
    let api = json!({"external_id": "o-1", "amount": "10.00", "click_id": click, "customer_email": "no-at-sign"});
    s.post("/api/v1/conversions", &api).assert_error(400, "invalid_customer_email");
    let affy = json!({"leadType": "PAYMENT", "leadValue": "10.00", "clickId": click, "customerEmail": "no-at-sign"});
    let r = s.post("/api/v1/tracking/lead", &affy);
    r.assert_error(400, "invalid_customerEmail");
    assert_eq!(r.json()["success"], false, "{}", r.text());
    assert_eq!(s.get("/api/v1/conversions").json()["data"], json!([]), "nothing was recorded");
    let fine = json!({"leadType": "PAYMENT", "leadValue": "10.00", "clickId": click, "customerEmail": "c@b.example"});
    assert_eq!(s.post("/api/v1/tracking/lead", &fine).status, 201);
}

/// Attribution by the e-mail of a registered customer is a key of `tracking::attribution`: it
/// credits a report that names no visit, in the report's own namespace, and never overrides a
/// click or session the report names, even one that cannot be credited.
#[test]
fn a_registered_customers_email_attributes_only_a_report_without_a_visit() {
    let s = Server::start_with(&["--min-click-age", "0"], &[]);
    s.seed();
    let click = s.click("ann", json!({}));
    let registered = s.post(
        "/api/v1/tracking/registration",
        &json!({"clickId": click, "customerId": "u-1", "email": "Jo@Shop.example"}),
    );
    assert_eq!(registered.status, 201, "{}", registered.text());
    let pay = |extra: serde_json::Value| {
        let mut body = json!({"leadType": "PAYMENT", "leadValue": "20.00", "customerEmail": "jo@shop.example"});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        s.post("/api/v1/tracking/lead", &body)
    };
    let by_email = pay(json!({}));
    assert_eq!(by_email.status, 201, "{}", by_email.text());
    let sale = s.get(&format!("/api/v1/conversions/{}", by_email.json()["leadId"])).json();
    assert_eq!(
        (&sale["referral_code"], &sale["attributed_by"], &sale["customer_id"]),
        (&json!("ann"), &json!("customer"), &json!("u-1"))
    );
    // A session the report names decides, even one without clicks: the e-mail is not a fallback.
    pay(json!({"sessionId": "no-clicks"})).assert_error(400, "invalid_session_id");
    pay(json!({"clickId": "nope-0000"})).assert_error(400, "invalid_click_id");
    // Nobody registered with this e-mail; nor in the test namespace.
    pay(json!({"customerEmail": "someone@else.example"})).assert_error(400, "missing_attribution");
    pay(json!({"test": true})).assert_error(400, "missing_attribution");
    // Without any key, AFFY's wording of what to send.
    let r = s.post("/api/v1/tracking/lead", &json!({"leadType": "PAYMENT", "leadValue": "1"}));
    r.assert_error(400, "missing_attribution");
    assert!(r.json()["error"]["message"].as_str().unwrap().contains("customerEmail"), "{}", r.text());
}
