//! Shop connectors over HTTP, shared helpers: a server with every connector's secret, fixtures
//! (tests/fixtures/hooks) carrying a real click, and requests signed the way each platform
//! signs them. The scenarios are in `hooks_stripe.rs`, `hooks_shops.rs`, `hooks_api.rs` and
//! `hooks_interop.rs`.

use std::path::Path;

use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha2::Sha256;

use crate::support::{Resp, Server};

pub const STRIPE_SECRET: &str = "whsec_it_0123456789abcdef";
pub const SHOPIFY_SECRET: &str = "it-shopify-webhook-secret";
pub const WOO_SECRET: &str = "it-woo-secret-0123";
pub const PADDLE_SECRET: &str = "pdl_ntfset_01it0000000000000000000000_itsecret";
/// The click ID every fixture carries (replaced by a real one).
pub const FIXTURE_CLICK: &str = "0Q0CkLM2x5c1Yy3dWmYv5Vb0kCq7jT";

/// A seeded server (affiliate `ann`, 10% offer `main`) with every connector configured through
/// the environment, plus `args`.
pub fn server(args: &[&str]) -> Server {
    let s = Server::start_with(
        args,
        &[
            ("AFFILIATED_STRIPE_WEBHOOK_SECRET", STRIPE_SECRET),
            ("AFFILIATED_SHOPIFY_WEBHOOK_SECRET", SHOPIFY_SECRET),
            ("AFFILIATED_WOOCOMMERCE_WEBHOOK_SECRET", WOO_SECRET),
            ("AFFILIATED_PADDLE_WEBHOOK_SECRET", PADDLE_SECRET),
        ],
    );
    s.seed();
    s
}

/// A fixture's bytes with `click` in place of the fixture's click ID.
pub fn fixture(name: &str, click: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hooks").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.replace(FIXTURE_CLICK, click).into_bytes()
}

/// A fixture as JSON, to change before sending.
pub fn fixture_json(name: &str, click: &str) -> Value {
    serde_json::from_slice(&fixture(name, click)).unwrap()
}

pub fn hmac(secret: &str, parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).unwrap();
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

pub fn stripe_signature(body: &[u8], t: i64) -> String {
    format!("t={t},v1={}", hex(&hmac(STRIPE_SECRET, &[t.to_string().as_bytes(), b".", body])))
}

pub fn post_stripe_at(s: &Server, body: &[u8], t: i64) -> Resp {
    s.post_raw("/hooks/stripe", &[("Stripe-Signature", &stripe_signature(body, t))], body)
}

pub fn post_stripe(s: &Server, event: &Value) -> Resp {
    post_stripe_at(s, &serde_json::to_vec(event).unwrap(), now())
}

pub fn post_shopify(s: &Server, topic: &str, body: &[u8]) -> Resp {
    let sig = affiliated::secret::base64(&hmac(SHOPIFY_SECRET, &[body]));
    let headers = [("X-Shopify-Topic", topic), ("X-Shopify-Hmac-Sha256", &sig), ("X-Shopify-Webhook-Id", "wh-1")];
    s.post_raw("/hooks/shopify", &headers, body)
}

pub fn post_woo(s: &Server, topic: &str, body: &[u8]) -> Resp {
    let sig = affiliated::secret::base64(&hmac(WOO_SECRET, &[body]));
    let headers = [("X-WC-Webhook-Topic", topic), ("X-WC-Webhook-Signature", &sig), ("X-WC-Webhook-Delivery-ID", "d1")];
    s.post_raw("/hooks/woocommerce", &headers, body)
}

pub fn paddle_signature(body: &[u8], ts: i64) -> String {
    format!("ts={ts};h1={}", hex(&hmac(PADDLE_SECRET, &[ts.to_string().as_bytes(), b":", body])))
}

pub fn post_paddle(s: &Server, body: &[u8], ts: i64) -> Resp {
    s.post_raw("/hooks/paddle", &[("Paddle-Signature", &paddle_signature(body, ts))], body)
}

/// The outcomes of a hook's answer, in order.
pub fn outcomes(r: &Resp) -> Vec<String> {
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["results"].as_array().unwrap().iter().map(|x| x["outcome"].as_str().unwrap().to_string()).collect()
}

/// Every conversion, live and test data (the fixtures are test-mode events, as a merchant's
/// first tries are), oldest first.
pub fn conversions(s: &Server) -> Vec<Value> {
    let mut all = Vec::new();
    for test in ["false", "true"] {
        let r = s.get(&format!("/api/v1/conversions?limit=500&test={test}"));
        assert_eq!(r.status, 200, "{}", r.text());
        all.extend(r.json()["data"].as_array().unwrap().iter().cloned());
    }
    all.sort_by_key(|c| c["id"].as_i64());
    all
}

pub fn conversion(s: &Server, external_id: &str) -> Value {
    conversions(s).into_iter().find(|c| c["external_id"] == external_id).unwrap_or_else(|| panic!("no {external_id}"))
}

/// The books as a comparable value: each conversion's order, amount, refunds, commission and
/// status, in order of external ID.
pub fn books(s: &Server) -> Vec<(String, String, String, String, String, String)> {
    let mut rows: Vec<_> = conversions(s)
        .iter()
        .map(|c| {
            let text = |k: &str| c[k].as_str().unwrap_or("").to_string();
            (
                text("external_id"),
                text("referral_code"),
                text("amount"),
                text("refunded_amount"),
                text("commission"),
                text("status"),
            )
        })
        .collect();
    rows.sort();
    rows
}

/// The hook log, oldest first.
pub fn hook_log(s: &Server, query: &str) -> Vec<Value> {
    let r = s.get(&format!("/api/v1/hooks/received?limit=500{query}"));
    assert_eq!(r.status, 200, "{}", r.text());
    let mut all = r.json()["data"].as_array().unwrap().clone();
    all.reverse();
    all
}
