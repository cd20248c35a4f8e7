//! The server's log under hostile input: no request can write a line of its own into it, and a
//! flood of wrong postback tokens is one summary line, not one line per guess.

use serde_json::json;

use crate::support::{Server, eventually, request};

/// A forged log line, percent-encoded: CR/LF, then a line that looks like the server's own, then
/// a terminal escape.
const FORGED: &str = "X%0D%0A2026-11-27T00:00:00.000Z%20ERROR%20affiliated::forged:%20injected%0Aagain%1B[2J";
/// The same, as it must appear in the log: on the line that logged it, escaped.
const ESCAPED: &str = "X\\r\\n2026-11-27T00:00:00.000Z ERROR affiliated::forged: injected\\nagain\\x1b[2J";

#[test]
fn no_request_can_forge_a_log_line() {
    let s = Server::start_with(&["--admin-token", "admin-token-0123456789-abcdef"], &[("AFFILIATED_PIXEL", "on")]);
    s.seed();
    let decoded = "X\r\n2026-11-27T00:00:00.000Z ERROR affiliated::forged: injected\nagain\u{1b}[2J";
    // Tracking links: unknown codes, every parameter.
    s.get_public(&format!("/r/{FORGED}"));
    s.get_public(&format!("/r/ann?offer={FORGED}&sub1={FORGED}&source={FORGED}"));
    let click = s.click("ann", json!({}));
    // The pixel (its currency reached the log raw before), and the postback endpoint.
    let pixel = s.get_public(&format!("/pixel.gif?click_id={click}&order_id=o-1&amount=1&currency={FORGED}"));
    assert_eq!(pixel.status, 200);
    s.get_public(&format!("/postback?token={FORGED}&click_id={FORGED}&order_id={FORGED}"));
    let form = format!("token={FORGED}&click_id={click}&order_id={FORGED}");
    s.post_raw("/postback", &[("Content-Type", "application/x-www-form-urlencoded")], form.as_bytes());
    // The API with a key: every string field, and a path parameter.
    let body = json!({"external_id": decoded, "amount": "1", "currency": decoded, "click_id": decoded});
    s.post("/api/v1/conversions", &body);
    s.post("/api/v1/affiliates", &json!({"referral_code": decoded, "name": decoded}));
    s.get(&format!("/api/v1/conversions/{FORGED}"));
    // The admin's login form, and a request with control bytes in its headers.
    let form = format!("token={FORGED}&next=/admin/{FORGED}");
    s.post_raw("/admin/login", &[("Content-Type", "application/x-www-form-urlencoded")], form.as_bytes());
    let headers = [("User-Agent", "ua\u{1b}[2J\u{7}"), ("Referer", "https://x.example/\u{1b}]0;title\u{7}")];
    request(s.addr, "GET", "/r/ann", &headers, b"");
    request(s.addr, "GET", &format!("/pixel.gif?click_id={click}&order_id=o-2&currency={FORGED}"), &headers, b"");
    assert_eq!(s.get(&format!("/api/v1/clicks/{click}")).status, 200);

    // The pixel logs why it ignored its input (twice), with the value in it.
    let ignored = || s.log_text().matches("pixel ignored").count();
    assert!(eventually(std::time::Duration::from_secs(5), || ignored() >= 2), "{}", s.log_text());
    let log = s.log_text();
    for line in log.lines() {
        assert!(
            !line.starts_with("2026-11-27T00:00:00.000Z") && !line.starts_with("again"),
            "a forged line:\n{line}\nin\n{log}"
        );
        assert!(!line.contains('\u{1b}') && !line.contains('\r'), "a raw control character in {line:?}");
    }
    // The request text did reach the log, escaped, on the line that logged it.
    assert!(log.contains(ESCAPED), "{log}");
}

#[test]
fn wrong_postback_tokens_are_summed_up_not_logged_one_by_one() {
    let s = Server::start();
    for i in 0..50 {
        let r = s.get_public(&format!("/postback?token=pbt_wrong{i}&click_id=c&order_id=o{i}"));
        r.assert_error(401, "unauthorized");
    }
    // Every refusal is answered and logged as a request; only one line is about the tokens.
    let answered = || s.log_text().matches("affiliated::access: GET /postback 401").count();
    assert!(eventually(std::time::Duration::from_secs(5), || answered() == 50), "{}", s.log_text());
    let log = s.log_text();
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("wrong token")).collect();
    assert_eq!(lines.len(), 1, "{log}");
    assert!(lines[0].contains("postbacks refused for a wrong token: 1 since the last such line"), "{}", lines[0]);
    assert!(lines[0].contains("(latest from 127.0.0.1)"), "{}", lines[0]);
    assert!(!log.contains("pbt_wrong"), "a token reached the log");
}
