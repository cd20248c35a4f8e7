//! Our webhook signatures checked by the Standard Webhooks reference library: the PyPI package
//! `standardwebhooks` (installed by `.ci/run`, pinned) verifies a delivery exactly as a
//! merchant's endpoint would, and refuses it once its body, timestamp or message ID is changed,
//! or with another secret. Without python3 or the package the test prints SKIPPED, and fails
//! under `AFFILIATED_REQUIRE_TOOLS=1` (as in CI).

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::systemd::skip;
use crate::webhook_receiver::Receiver;
use crate::webhooks::{create, server};

/// Reads one delivery (secret, body, headers) on stdin; prints what the library made of it and
/// of tampered copies.
const VERIFY: &str = r#"
import json, sys
from standardwebhooks import Webhook, WebhookVerificationError

case = json.load(sys.stdin)
hook = Webhook(case["secret"])

def refused(webhook, body, headers):
    try:
        webhook.verify(body, headers)
        return False
    except WebhookVerificationError:
        return True

def changed(name, value):
    headers = dict(case["headers"])
    headers[name] = value
    return headers

body, headers = case["body"], case["headers"]
print(json.dumps({
    "verified": hook.verify(body, headers),
    "tampered_body": refused(hook, body.replace('"12.50"', '"99.50"'), headers),
    "tampered_timestamp": refused(hook, body, changed("webhook-timestamp", str(int(headers["webhook-timestamp"]) - 1))),
    "tampered_id": refused(hook, body, changed("webhook-id", headers["webhook-id"] + "x")),
    "other_secret": refused(Webhook("whsec_" + "A" * 43 + "="), body, headers),
}))
"#;

/// Whether python3 can import the reference library; says why not otherwise.
fn library() -> Result<(), String> {
    match Command::new("python3").args(["-c", "import standardwebhooks"]).output() {
        Err(e) => Err(format!("python3 is not available ({e})")),
        Ok(out) if !out.status.success() => Err(format!(
            "the Python package standardwebhooks is not installed (pip install standardwebhooks): {}",
            String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or("")
        )),
        Ok(_) => Ok(()),
    }
}

#[test]
fn the_reference_library_verifies_our_signatures_and_refuses_tampering() {
    if let Err(reason) = library() {
        return skip(&reason);
    }
    let s = server();
    let receiver = Receiver::start(vec![200]);
    let (_, secret) = create(&s, &receiver.url("/in"), &["conversion.created"]);
    let click = s.click("ann", json!({}));
    let r = s.post("/api/v1/conversions", &json!({"external_id": "I-1", "amount": "12.50", "click_id": click}));
    assert_eq!(r.status, 201, "{}", r.text());
    let got = receiver.wait_for(1).remove(0);
    assert!(got.body.contains(r#""amount":"12.50""#), "{}", got.body);

    let case = json!({"secret": secret, "body": got.body, "headers": got.headers});
    let mut python = Command::new("python3")
        .args(["-c", VERIFY])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    python.stdin.take().unwrap().write_all(case.to_string().as_bytes()).unwrap();
    let out = python.wait_with_output().unwrap();
    assert!(out.status.success(), "the library refused our delivery: {}", String::from_utf8_lossy(&out.stderr));
    let result: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(result["verified"], got.json(), "verify() returns the parsed payload");
    assert_eq!(result["verified"]["data"], r.json());
    for tampering in ["tampered_body", "tampered_timestamp", "tampered_id", "other_secret"] {
        assert_eq!(result[tampering], true, "{tampering} was accepted: {result}");
    }
}
