//! Server faults that the Schemathesis run of docs/openapi.yaml found (docs/schemathesis.md), one
//! regression test each: the server had refused or misnamed what the document rightly promised.

use serde_json::json;

use crate::support::{KEY, Server, request};

/// `PATCH /api/v1/offers/{id}` takes every field of `POST`, `approve_after_days` included; it
/// was refused as `unknown_field`.
#[test]
fn an_offers_hold_period_can_be_changed() {
    let s = Server::start();
    s.seed();
    let patch = |body: serde_json::Value| {
        request(s.addr, "PATCH", "/api/v1/offers/main", &[("X-Api-Key", KEY)], body.to_string().as_bytes())
    };
    let r = patch(json!({"approve_after_days": 14}));
    assert_eq!((r.status, &r.json()["approve_after_days"]), (200, &json!(14)), "{}", r.text());
    assert_eq!(s.get("/api/v1/offers/main").json()["approve_after_days"], 14);
    patch(json!({"approve_after_days": 3651})).assert_error(400, "invalid_approve_after_days");
    let r = patch(json!({"approve_after_days": null}));
    assert_eq!((r.status, &r.json()["approve_after_days"]), (200, &json!(null)), "{}", r.text());
}

/// A connector's signing secret may have 512 characters, as documented; the server counted
/// bytes, so a secret of 300 two-byte characters was refused.
#[test]
fn a_signing_secret_is_measured_in_characters() {
    let s = Server::start();
    let put = |secret: &str| {
        let body = json!({"signing_secret": secret}).to_string();
        request(s.addr, "PUT", "/api/v1/connectors/woocommerce", &[("X-Api-Key", KEY)], body.as_bytes())
    };
    let r = put(&"é".repeat(300));
    assert_eq!((r.status, &r.json()["configured"]), (200, &json!(true)), "{}", r.text());
    put(&"é".repeat(513)).assert_error(400, "invalid_signing_secret");
}

/// AFFY's Tracking API names every error about a field's value after the field as the caller
/// sent it, whichever check finds it; `customerName` with a control character was
/// `invalid_name`, a payment's `leadValue` with three decimals in USD `invalid_amount`.
#[test]
fn affy_errors_name_the_field_that_was_sent() {
    let s = Server::start_with(&["--min-click-age", "0"], &[]);
    s.seed();
    let click = s.click("ann", json!({"session_id": "sess-1"}));
    let cases = [
        (
            "registration",
            json!({"clickId": click, "customerId": "u1", "customerName": "Jo\u{1}"}),
            "invalid_customerName",
        ),
        ("registration", json!({"clickId": click, "customerId": "u1", "email": "no-at-sign"}), "invalid_email"),
        ("registration", json!({"clickId": click, "customerId": "u\u{2}1"}), "invalid_customerId"),
        (
            "lead",
            json!({"leadType": "REGISTRATION", "sessionId": "sess-1", "customerEmail": "x"}),
            "invalid_customerEmail",
        ),
        ("lead", json!({"leadType": "registration", "sessionId": "s\u{3}", "customerId": "u2"}), "invalid_sessionId"),
        ("lead", json!({"leadType": "PAYMENT", "sessionId": "sess-1", "leadValue": "10.001"}), "invalid_leadValue"),
        (
            "lead",
            json!({"leadType": "PAYMENT", "sessionId": "sess-1", "leadValue": "1", "externalId": " "}),
            "invalid_externalId",
        ),
    ];
    for (path, body, code) in cases {
        let r = s.post(&format!("/api/v1/tracking/{path}"), &body);
        r.assert_error(400, code);
        assert_eq!(r.json()["success"], false, "{}", r.text());
    }
    // Attribution keeps the API's codes: no such click is `invalid_click_id` everywhere.
    let r = s.post("/api/v1/tracking/registration", &json!({"clickId": "nope-0000", "customerId": "u3"}));
    r.assert_error(400, "invalid_click_id");
}

/// Every customer ID the API accepts (up to 255 bytes) can register through AFFY's API; one
/// over 242 bytes made the lead's order ID `registration:<id>` too long (`invalid_external_id`).
#[test]
fn a_long_customer_id_registers_once() {
    let s = Server::start_with(&["--min-click-age", "0"], &[]);
    s.seed();
    let click = s.click("ann", json!({}));
    let customer = "c".repeat(255);
    let body = json!({"clickId": click, "customerId": customer});
    let r = s.post("/api/v1/tracking/registration", &body);
    assert_eq!(r.status, 201, "{}", r.text());
    let lead = s.get(&format!("/api/v1/conversions/{}", r.json()["leadId"])).json();
    assert!(lead["external_id"].as_str().unwrap().starts_with("registration:sha256:"), "{lead}");
    assert_eq!(s.get(&format!("/api/v1/customers/{customer}")).json()["referral_code"], "ann");
    s.post("/api/v1/tracking/registration", &body).assert_error(409, "duplicate_external_id");
}

/// A payment lead answers its `leadValue` as a JSON number, as AFFY does; a value sent with
/// leading zeros (`"007.50"`, which the API accepts) came back as a string.
#[test]
fn a_payment_answers_its_value_as_a_number() {
    let s = Server::start_with(&["--min-click-age", "0"], &[]);
    s.seed();
    s.click("ann", json!({"session_id": "sess-9"}));
    for (sent, answered) in [("007.50", "7.50"), ("0.50", "0.50"), ("000", "0"), ("12", "12")] {
        let body = json!({"leadType": "PAYMENT", "sessionId": "sess-9", "leadValue": sent});
        let r = s.post("/api/v1/tracking/lead", &body);
        assert_eq!(r.status, 201, "{}", r.text());
        assert!(r.text().contains(&format!(r#""leadValue":{answered},"#)), "{sent}: {}", r.text());
    }
}
