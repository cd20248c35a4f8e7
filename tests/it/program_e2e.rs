//! The end-to-end test of #24, all through real HTTP and a real SMTP server (aiosmtpd, as in
//! `mail.rs`): a would-be affiliate applies → the merchant gets the e-mail → the merchant approves
//! → the new affiliate gets the e-mail with the set-password link → sets a password → logs in to
//! the portal → builds a deep link to a page of the shop → a visitor clicks it → the shop reports
//! the order → the merchant approves it → the affiliate gets the approved-conversion e-mail → a
//! payout run is marked paid → the affiliate gets the payout-paid e-mail.

use serde_json::{Value, json};

use crate::applications::{TERMS, applied};
use crate::mail::{FROM, Sink, aiosmtpd, free_port, link};
use crate::portal::{PASSWORD, Visitor, accept, login};
use crate::support::{KEY, Server, request};

const MERCHANT: &str = "owner@shop.example";
const LENA: &str = "lena@people.example";

fn text(m: &Value) -> String {
    m["text"].as_str().unwrap().replace("\r\n", "\n")
}

fn encoded(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// The page's built link (the builder's read-only field), unescaped.
fn built_link(page: &str) -> String {
    let at = page.find("id=\"built-link\"").unwrap_or_else(|| panic!("no link was built: {page}"));
    let value = &page[at..];
    let start = value.find("value=\"").unwrap() + "value=\"".len();
    let end = value[start..].find('"').unwrap();
    value[start..start + end].replace("&amp;", "&")
}

#[test]
fn apply_approve_join_link_click_convert_approve_and_pay_with_every_e_mail() {
    if !aiosmtpd() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let sink = Sink::start(port, dir.path());
    let smtp = format!("smtp://127.0.0.1:{port}");
    let s = Server::start_with(
        &[
            "--signup",
            "review",
            "--terms-url",
            TERMS,
            "--trusted-proxy",
            "127.0.0.1",
            "--smtp-url",
            &smtp,
            "--mail-from",
            FROM,
            "--merchant-email",
            MERCHANT,
            "--min-click-age",
            "0",
        ],
        &[],
    );
    // The shop: its offer lands on shop.example and may link to its blog too.
    s.seed();
    let body = json!({"allowed_hosts": ["blog.shop.example"]}).to_string();
    let r = request(s.addr, "PATCH", "/api/v1/offers/main", &[("X-Api-Key", KEY)], body.as_bytes());
    assert_eq!(r.status, 200, "{}", r.text());

    // 1. Lena applies; the merchant is told.
    let id = applied(&s, "198.51.100.200", LENA, "lena");
    let received = &sink.wait_for(1)[0];
    assert_eq!(received["rcpt_tos"], json!([MERCHANT]));
    assert!(text(received).contains("lena") && text(received).contains("/admin/applications"), "{received}");

    // 2. The merchant approves; Lena gets the link to choose her password.
    let r = s.post(&format!("/api/v1/applications/{id}/approve"), &json!({}));
    assert_eq!((r.status, &r.json()["emailed"]), (201, &json!(true)), "{}", r.text());
    let approved = &sink.wait_for(2)[1];
    assert_eq!(approved["rcpt_tos"], json!([LENA]));

    // 3. She follows it, chooses a password, and logs in to the portal.
    let mut lena = Visitor::default();
    let r = accept(&s, &mut lena, &link(&s, &text(approved), "/portal/invite/"), PASSWORD);
    assert_eq!((r.status, r.header("Location")), (303, Some("/portal")), "{}", r.text());
    let mut again = Visitor::default();
    assert_eq!(login(&s, &mut again, "lena", PASSWORD).status, 303);
    assert_eq!(again.get(&s, "/portal").status, 200);
    let r = again.post(&s, "/portal/settings/emails", &[("conversions", "on"), ("payouts", "on")]);
    assert_eq!(r.status, 303, "she asks to be told of each approved conversion: {}", r.text());

    // 4. She builds a deep link to the blog post she reviews; a visitor clicks it.
    let post = "https://blog.shop.example/2026/tents";
    let page = again.get(&s, &format!("/portal/links?url={}", encoded(post)));
    assert_eq!(page.status, 200);
    let deep = built_link(&page.text());
    assert_eq!(deep, format!("{}?url={}", s.url("/r/lena"), encoded(post)));
    let r = request(s.addr, "GET", deep.strip_prefix(&s.url("")).unwrap(), &[("User-Agent", "Mozilla/5.0")], b"");
    assert_eq!(r.status, 302, "{}", r.text());
    let to = r.header("Location").unwrap().to_string();
    let click_id = to.strip_prefix(&format!("{post}?click_id=")).unwrap_or_else(|| panic!("{to}")).to_string();

    // 5. The shop reports the order with the click ID; the merchant approves the conversion.
    let r = s.post(
        "/api/v1/conversions",
        &json!({"click_id": click_id, "external_id": "order-9001", "amount": "120.00", "currency": "USD"}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["referral_code"], "lena");
    let conversion = r.json()["id"].clone();
    assert_eq!(s.post(&format!("/api/v1/conversions/{conversion}/approve"), &json!({})).status, 200);
    let commission = &sink.wait_for(3)[2];
    assert_eq!(commission["rcpt_tos"], json!([LENA]));
    assert_eq!(commission["headers"]["Subject"], "Commission approved: 12.00 USD");

    // 6. A payout run pays her; she is told, with the reference.
    let run = s.post("/api/v1/payouts", &json!({"currency": "USD", "minimum": "1.00"}));
    assert_eq!(run.status, 201, "{}", run.text());
    let payout = run.json()["data"][0]["id"].as_i64().unwrap();
    let r = s.post(&format!("/api/v1/payouts/{payout}/mark-paid"), &json!({"reference": "PP-9001"}));
    assert_eq!(r.status, 200, "{}", r.text());
    let paid = &sink.wait_for(4)[3];
    assert_eq!(paid["rcpt_tos"], json!([LENA]));
    assert_eq!(paid["headers"]["Subject"], "Your payout of 12.00 USD was paid");
    assert!(text(paid).contains("Payment reference: PP-9001"), "{paid}");

    // Her statement starts with the terms she accepted and verifies.
    let statement: affiliated::tracking::statement::Statement =
        serde_json::from_slice(&s.get("/api/v1/affiliates/lena/statement").body).unwrap();
    assert_eq!(statement.entries[0].terms_url.as_deref(), Some(TERMS));
    assert_eq!(affiliated::tracking::statement::verify(&statement, None), Ok(()));
    assert_eq!(sink.messages().len(), 4, "one e-mail per step, no more");
}
