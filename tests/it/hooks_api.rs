//! The connectors API and the hook log: secrets set at run time (kept, never shown or logged),
//! where a connector's secret comes from, unconfigured connectors answering 404, the log's
//! filters and pages, and the admin's page of it.

use serde_json::json;

use crate::hooks::{STRIPE_SECRET, fixture, fixture_json, hmac, hook_log, outcomes, post_stripe, server};
use crate::support::{KEY, Server, request};

fn put(s: &Server, name: &str, body: &serde_json::Value) -> crate::support::Resp {
    request(s.addr, "PUT", &format!("/api/v1/connectors/{name}"), &[("X-Api-Key", KEY)], body.to_string().as_bytes())
}

fn delete(s: &Server, name: &str) -> crate::support::Resp {
    request(s.addr, "DELETE", &format!("/api/v1/connectors/{name}"), &[("X-Api-Key", KEY)], b"")
}

#[test]
fn secrets_set_through_the_api_are_used_listed_by_source_and_never_shown() {
    let s = Server::start();
    s.seed();
    let secret = "shpss_it_run_time_secret_5f2a";
    let order = fixture("shopify/orders-paid.json", &s.click("ann", json!({})));
    let sig = affiliated::secret::base64(&hmac(secret, &[&order]));
    let headers = [("X-Shopify-Topic", "orders/paid"), ("X-Shopify-Hmac-Sha256", sig.as_str())];
    s.post_raw("/hooks/shopify", &headers, &order).assert_error(404, "connector_not_configured");

    let listed = s.get("/api/v1/connectors").json();
    assert_eq!(listed["data"].as_array().unwrap().len(), 4);
    assert!(listed["data"].as_array().unwrap().iter().all(|c| c["configured"] == false && c["source"].is_null()));

    put(&s, "shopify", &json!({"signing_secret": "shpat_0123456789"})).assert_error(400, "invalid_signing_secret");
    put(&s, "shopify", &json!({})).assert_error(400, "missing_signing_secret");
    put(&s, "paypal", &json!({"signing_secret": "x"})).assert_error(404, "unknown_connector");
    let r = put(&s, "shopify", &json!({"signing_secret": secret}));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!((&r.json()["configured"], &r.json()["source"]), (&json!(true), &json!("api")));
    assert!(r.json()["webhook_url"].as_str().unwrap().ends_with("/hooks/shopify"));
    assert_eq!(outcomes(&s.post_raw("/hooks/shopify", &headers, &order)), ["created"]);

    let one = s.get("/api/v1/connectors/shopify");
    assert_eq!((one.status, &one.json()["source"]), (200, &json!("api")));
    for text in [s.get("/api/v1/connectors").text(), one.text(), r.text(), s.get("/api/v1/hooks/received").text()] {
        assert!(!text.contains(secret), "the secret is never returned: {text}");
    }

    let gone = delete(&s, "shopify");
    assert_eq!(gone.status, 204, "{}", gone.text());
    delete(&s, "shopify").assert_error(404, "connector_not_configured");
    s.post_raw("/hooks/shopify", &headers, &order).assert_error(404, "connector_not_configured");
    assert!(!s.log_text().contains(secret), "the secret is never logged");
}

#[test]
fn a_secret_from_the_environment_wins_and_the_api_cannot_change_it() {
    let s = server(&[]);
    let stripe = &s.get("/api/v1/connectors").json()["data"][0];
    assert_eq!((&stripe["name"], &stripe["source"]), (&json!("stripe"), &json!("environment")));
    put(&s, "stripe", &json!({"signing_secret": "whsec_other"}))
        .assert_error(409, "connector_configured_by_environment");
    delete(&s, "stripe").assert_error(409, "connector_configured_by_environment");
    let text = s.get("/api/v1/connectors").text();
    assert!(!text.contains(STRIPE_SECRET) && !s.log_text().contains(STRIPE_SECRET));

    let flagged = Server::start_with(&["--paddle-webhook-secret", "pdl_ntfset_flag_0123"], &[]);
    assert_eq!(flagged.get("/api/v1/connectors/paddle").json()["source"], "environment");
    let bad = std::process::Command::new(crate::support::bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--stripe-webhook-secret", "sk_live_oops"])
        .env_clear()
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2), "an API key given as a signing secret is a usage error");
    assert!(String::from_utf8_lossy(&bad.stderr).contains("API key"));
}

/// A secret WooCommerce generated (`wp_generate_password(50, true, true)`: spaces anywhere, at
/// the ends too), set through the API, then a webhook signed as Woo signs it (base64 HMAC-SHA256
/// of the raw body keyed with the exact secret): accepted. The same secret in the environment
/// starts the server.
const WOO_GENERATED: &str = " q]L8 b{T|:x?Ww6 ,yZ;H^(c`3<m.N}p  ~Kf=e/R7j+u!s- ";

fn signed_woo_order(s: &Server, secret: &str) -> crate::support::Resp {
    let order = fixture("woocommerce/order-processing.json", &s.click("ann", json!({})));
    let sig = affiliated::secret::base64(&hmac(secret, &[&order]));
    let headers = [("X-WC-Webhook-Topic", "order.updated"), ("X-WC-Webhook-Signature", sig.as_str())];
    s.post_raw("/hooks/woocommerce", &headers, &order)
}

#[test]
fn a_woocommerce_generated_secret_with_spaces_works_end_to_end() {
    assert_eq!(WOO_GENERATED.chars().count(), 50);
    let s = Server::start();
    s.seed();
    let r = put(&s, "woocommerce", &json!({"signing_secret": WOO_GENERATED}));
    assert_eq!((r.status, &r.json()["configured"]), (200, &json!(true)), "{}", r.text());
    assert_eq!(outcomes(&signed_woo_order(&s, WOO_GENERATED)), ["created"]);
    signed_woo_order(&s, WOO_GENERATED.trim()).assert_error(401, "invalid_signature");

    let env = Server::start_with(&[], &[("AFFILIATED_WOOCOMMERCE_WEBHOOK_SECRET", WOO_GENERATED)]);
    env.seed();
    assert_eq!(outcomes(&signed_woo_order(&env, WOO_GENERATED)), ["created"]);
}

#[test]
fn a_short_secret_is_refused_with_the_rule() {
    let s = Server::start();
    s.seed();
    let short = put(&s, "stripe", &json!({"signing_secret": "a"}));
    short.assert_error(400, "invalid_signing_secret");
    assert!(short.json()["error"]["message"].as_str().unwrap().contains("16 to 512 printable characters"));
    put(&s, "woocommerce", &json!({"signing_secret": "fifteen-chars-x"})).assert_error(400, "invalid_signing_secret");
    // Pasted with a newline: trimmed for Stripe, whose secrets never end in whitespace.
    let r = put(&s, "stripe", &json!({"signing_secret": "  whsec_it_0123456789abcdef\n"}));
    assert_eq!(r.status, 200, "{}", r.text());
    let event = fixture_json("stripe/checkout.session.completed.payment.json", &s.click("ann", json!({})));
    let body = serde_json::to_vec(&event).unwrap();
    let t = crate::hooks::now();
    let sig = format!(
        "t={t},v1={}",
        crate::hooks::hex(&hmac("whsec_it_0123456789abcdef", &[t.to_string().as_bytes(), b".", &body]))
    );
    assert_eq!(s.post_raw("/hooks/stripe", &[("Stripe-Signature", &sig)], &body).status, 200);

    let started = std::process::Command::new(crate::support::bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--db"])
        .arg(s.dir.path().join("other.db"))
        .env_clear()
        .env("AFFILIATED_SHOPIFY_WEBHOOK_SECRET", "short")
        .output()
        .unwrap();
    assert_eq!(started.status.code(), Some(2), "a short secret in the environment is a usage error");
    let stderr = String::from_utf8_lossy(&started.stderr);
    assert!(stderr.contains("AFFILIATED_SHOPIFY_WEBHOOK_SECRET") && stderr.contains("16 to 512"), "{stderr}");
}

#[test]
fn the_hook_log_filters_and_pages() {
    let s = server(&[]);
    let click = s.click("ann", json!({}));
    let session = fixture_json("stripe/checkout.session.completed.payment.json", &click);
    for _ in 0..3 {
        post_stripe(&s, &session);
    }
    let mut other = session.clone();
    other["type"] = "payment_intent.created".into();
    post_stripe(&s, &other);
    assert_eq!(hook_log(&s, "").len(), 4);
    assert_eq!(hook_log(&s, "&outcome=duplicate").len(), 2);
    assert_eq!(hook_log(&s, "&connector=stripe&outcome=ignored")[0]["event_type"], "payment_intent.created");
    assert!(hook_log(&s, "&connector=paddle").is_empty());
    s.get("/api/v1/hooks/received?outcome=nope").assert_error(400, "invalid_outcome");
    s.get("/api/v1/hooks/received?connector=paypal").assert_error(400, "invalid_connector");

    let mut seen = Vec::new();
    let mut path = "/api/v1/hooks/received?limit=3".to_string();
    loop {
        let page = s.get(&path).json();
        seen.extend(page["data"].as_array().unwrap().iter().map(|h| h["id"].as_i64().unwrap()));
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/hooks/received?limit=3&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, [4, 3, 2, 1], "every entry once, newest first");
}

#[test]
fn no_personal_data_from_a_body_is_kept() {
    let s = server(&[]);
    let click = s.click("ann", json!({}));
    post_stripe(&s, &fixture_json("stripe/checkout.session.completed.payment.json", &click));
    post_stripe(&s, &fixture_json("stripe/invoice.paid.json", &click));
    let everything: String = s
        .sql()
        .query_row(
            "SELECT (SELECT group_concat(quote(event_id) || quote(event_type) || quote(reference) || quote(error_code)
                                         || quote(detail), '|') FROM hooks_received)
                    || (SELECT group_concat(action || awaited || reference, '|') FROM hooks_held)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(everything.contains("in_1QpS0ZLkdIwHu7ixFirst001"), "the held invoice is there: {everything}");
    for personal in ["jenny", "Jenny", "Rosen", "Hauptstr", "mustermann", "Mustermann"] {
        assert!(!everything.contains(personal), "{personal} kept: {everything}");
    }
}

#[test]
fn the_admin_shows_the_connectors_and_the_log() {
    const TOKEN: &str = "admin-token-0123456789-hooks";
    let s = crate::support::Server::start_with(
        &["--admin-token", TOKEN],
        &[("AFFILIATED_STRIPE_WEBHOOK_SECRET", STRIPE_SECRET)],
    );
    s.seed();
    let click = s.click("ann", json!({}));
    post_stripe(&s, &fixture_json("stripe/checkout.session.completed.payment.json", &click));
    let cookie = s.admin_cookie(TOKEN);
    let page = request(s.addr, "GET", "/admin/hooks?connector=stripe", &[("Cookie", &cookie)], b"");
    assert_eq!(page.status, 200, "{}", page.text());
    let html = page.text();
    for expected in
        ["Shop hooks", "set by the environment", "checkout.session.completed", "pi_3QpRrVLkdIwHu7ix0m8Kx5aB"]
    {
        assert!(html.contains(expected), "{expected} missing");
    }
    assert!(!html.contains(STRIPE_SECRET));
    let overview = request(s.addr, "GET", "/admin", &[("Cookie", &cookie)], b"").text();
    assert!(overview.contains("href=\"/admin/hooks\""), "the navigation links to it");
}
