//! Our signature checks against the outside world: a Stripe event signed by Stripe's own Node
//! library (`stripe.webhooks.generateTestHeaderString`, tests/interop), and the four replay
//! recipes of docs/connectors.md run as written (bash, openssl, curl) against a real server.
//! Missing tools print SKIPPED, or fail when AFFILIATED_REQUIRE_TOOLS=1 (CI installs them).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::json;

use crate::hooks::{
    PADDLE_SECRET, SHOPIFY_SECRET, STRIPE_SECRET, WOO_SECRET, conversion, conversions, fixture, fixture_json, now,
    outcomes, server,
};
use crate::systemd::{find_tool, skip};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A header from Stripe's library for `payload` under `secret`, at `timestamp` (or now).
fn stripe_library_header(node: &Path, payload: &Path, secret: &str, timestamp: Option<i64>) -> String {
    let mut cmd = Command::new(node);
    cmd.current_dir(root().join("tests/interop"))
        .arg("stripe-sign.js")
        .arg(payload)
        .env("STRIPE_WEBHOOK_SECRET", secret);
    if let Some(t) = timestamp {
        cmd.arg(t.to_string());
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "stripe-sign.js failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn events_signed_by_stripes_own_library_are_accepted() {
    let Some(node) = find_tool(&["node", "nodejs"]) else { return skip("node is not installed") };
    if !root().join("tests/interop/node_modules/stripe/package.json").exists() {
        return skip("the npm package stripe is not installed (run `npm ci` in tests/interop)");
    }
    let s = server(&[]);
    let body = fixture("stripe/checkout.session.completed.payment.json", &s.click("ann", json!({})));
    let payload = s.dir.path().join("event.json");
    std::fs::write(&payload, &body).unwrap();

    let header = stripe_library_header(&node, &payload, STRIPE_SECRET, None);
    assert!(header.starts_with("t=") && header.contains(",v1="), "{header}");
    let r = s.post_raw("/hooks/stripe", &[("Stripe-Signature", &header)], &body);
    assert_eq!(outcomes(&r), ["created"]);

    let old = stripe_library_header(&node, &payload, STRIPE_SECRET, Some(now() - 3600));
    s.post_raw("/hooks/stripe", &[("Stripe-Signature", &old)], &body).assert_error(401, "stale_signature");
    let other = stripe_library_header(&node, &payload, "whsec_someone_else", None);
    s.post_raw("/hooks/stripe", &[("Stripe-Signature", &other)], &body).assert_error(401, "invalid_signature");
    assert_eq!(conversions(&s).len(), 1);
}

/// Stripe writes ISK with two decimals (an amount of 100 is 1 króna, Stripe's "special cases"),
/// while ISO 4217 gives it none: a checkout of 5,000 kr. (`amount_subtotal` 500000), signed by
/// Stripe's own library, is recorded as 5000 ISK with a 10% commission of 500, not 100 times that.
#[test]
fn a_stripe_checkout_in_isk_is_recorded_in_kronur() {
    let Some(node) = find_tool(&["node", "nodejs"]) else { return skip("node is not installed") };
    if !root().join("tests/interop/node_modules/stripe/package.json").exists() {
        return skip("the npm package stripe is not installed (run `npm ci` in tests/interop)");
    }
    let s = server(&[]);
    let mut event = fixture_json("stripe/checkout.session.completed.payment.json", &s.click("ann", json!({})));
    let session = &mut event["data"]["object"];
    session["currency"] = "isk".into();
    session["amount_subtotal"] = 500_000.into();
    session["amount_total"] = 500_000.into();
    session["total_details"] = json!({"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0});
    session["payment_intent"] = "pi_3QpRrVLkdIwHu7ixIskKr001".into();
    let body = serde_json::to_vec(&event).unwrap();
    let payload = s.dir.path().join("isk.json");
    std::fs::write(&payload, &body).unwrap();
    let header = stripe_library_header(&node, &payload, STRIPE_SECRET, None);
    let r = s.post_raw("/hooks/stripe", &[("Stripe-Signature", &header)], &body);
    assert_eq!(outcomes(&r), ["created"]);
    let c = conversion(&s, "pi_3QpRrVLkdIwHu7ixIskKr001");
    assert_eq!((&c["currency"], &c["amount"], &c["commission"]), (&json!("ISK"), &json!("5000"), &json!("500")), "{c}");
}

/// The bash block of docs/connectors.md after `<!-- replay: {platform} -->`.
fn documented_replay(platform: &str) -> String {
    let doc = std::fs::read_to_string(root().join("docs/connectors.md")).unwrap();
    let marker = format!("<!-- replay: {platform} -->");
    let after = &doc[doc.find(&marker).unwrap_or_else(|| panic!("{marker} is missing")) + marker.len()..];
    let block = after.trim_start().strip_prefix("```bash\n").expect("a bash block follows the marker");
    block[..block.find("\n```").unwrap()].to_string()
}

/// The block with its three settings (`URL=`, `SECRET=`, `CLICK_ID=`) pointed at the test.
fn with_settings(block: &str, url: &str, secret: &str, click: &str) -> String {
    let mut set = [false; 3];
    let lines: Vec<String> = block
        .lines()
        .map(|line| {
            for (i, (name, value)) in [("URL=", url), ("SECRET=", secret), ("CLICK_ID=", click)].iter().enumerate() {
                if line.starts_with(name) {
                    set[i] = true;
                    return format!("{name}{value}");
                }
            }
            line.to_string()
        })
        .collect();
    assert_eq!(set, [true; 3], "the block sets URL, SECRET and CLICK_ID:\n{block}");
    lines.join("\n")
}

#[test]
fn the_documented_replays_are_accepted_as_written() {
    let tools: Vec<Option<PathBuf>> = ["bash", "openssl", "curl", "base64"].iter().map(|t| find_tool(&[t])).collect();
    if tools.iter().any(Option::is_none) {
        return skip("bash, openssl, curl or base64 is missing");
    }
    let s = server(&[]);
    let cases = [
        ("stripe", STRIPE_SECRET, "pi_replay_1"),
        ("shopify", SHOPIFY_SECRET, "820982911946154508"),
        ("woocommerce", WOO_SECRET, "9001"),
        ("paddle", PADDLE_SECRET, "txn_replay_1"),
    ];
    for (platform, secret, external_id) in cases {
        let click = s.click("ann", json!({}));
        let script = with_settings(&documented_replay(platform), &s.url(""), secret, &click);
        let out = Command::new(tools[0].as_ref().unwrap()).args(["-euo", "pipefail", "-c", &script]).output().unwrap();
        let answer = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{platform}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(answer.contains("\"outcome\":\"created\""), "{platform}: {answer}");
        let c = conversion(&s, external_id);
        assert_eq!((&c["source"], &c["click_id"]), (&json!(platform), &json!(click)), "{platform}");
        assert_eq!(c["amount"], "50.00", "{platform}: every sample is worth 50.00 of items");
    }
}

/// What docs/connectors.md says the replays leave behind: Stripe's and Shopify's samples are
/// test-mode events, so their conversions are test data (in no default list or balance, listed
/// with `test=true`, removed by `DELETE /api/v1/test-data`); WooCommerce's and Paddle's samples
/// cannot say so and make live conversions that count.
#[test]
fn the_replays_leave_behind_what_the_docs_say() {
    let Some(bash) = find_tool(&["bash"]) else { return skip("bash is missing") };
    if ["openssl", "curl", "base64"].iter().any(|t| find_tool(&[t]).is_none()) {
        return skip("openssl, curl or base64 is missing");
    }
    let doc = std::fs::read_to_string(root().join("docs/connectors.md")).unwrap();
    assert!(doc.contains("so the conversion it makes is **test data**"), "the Stripe replay says so");
    assert!(doc.contains("the WooCommerce and Paddle samples cannot say so and record\n**live** pending conversions"));
    let s = server(&[]);
    let cases = [
        ("stripe", STRIPE_SECRET, "pi_replay_1", true),
        ("shopify", SHOPIFY_SECRET, "820982911946154508", true),
        ("woocommerce", WOO_SECRET, "9001", false),
        ("paddle", PADDLE_SECRET, "txn_replay_1", false),
    ];
    for (platform, secret, _, _) in cases {
        let script = with_settings(&documented_replay(platform), &s.url(""), secret, &s.click("ann", json!({})));
        let out = Command::new(&bash).args(["-euo", "pipefail", "-c", &script]).output().unwrap();
        assert!(out.status.success(), "{platform}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let listed: Vec<serde_json::Value> = s.get("/api/v1/conversions").json()["data"].as_array().unwrap().clone();
    for (platform, _, external_id, test) in cases {
        assert_eq!(conversion(&s, external_id)["test"], test, "{platform}");
        assert_eq!(listed.iter().any(|c| c["external_id"] == external_id), !test, "{platform}: the default list");
    }
    // Only Paddle's USD 50.00 counts in ann's USD balance (Stripe's and Shopify's are test data).
    let balance = s.get("/api/v1/affiliates/ann/balance").json()["balances"].clone();
    let usd = balance.as_array().unwrap().iter().find(|b| b["currency"] == "USD").unwrap().clone();
    assert_eq!(usd["pending"], "5.00", "{balance}");
    let r = crate::support::request(s.addr, "DELETE", "/api/v1/test-data", &[("X-Api-Key", crate::support::KEY)], b"");
    assert_eq!(r.status, 204, "{}", r.text());
    let left: Vec<String> = conversions(&s).iter().map(|c| c["external_id"].as_str().unwrap().to_string()).collect();
    assert_eq!(left, ["9001", "txn_replay_1"], "the test data is gone, the live conversions stay");
}
