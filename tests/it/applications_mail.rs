//! Applications with e-mail on (#24), against a real SMTP server (aiosmtpd, as in `mail.rs`):
//! the merchant is told of each application, an approved applicant gets the set-password link
//! and it works, a rejected one gets the reason; with `--signup open` the link goes to the
//! applicant's mailbox, not the screen; erasing an application takes its address out of the
//! e-mails sent to it.

use serde_json::{Value, json};

use crate::applications::{TERMS, applied, apply, fields, visitor};
use crate::mail::{FROM, Sink, aiosmtpd, free_port, link};
use crate::portal::{PASSWORD, Visitor, accept};
use crate::support::Server;

const MERCHANT: &str = "owner@shop.example";

fn server(mode: &str, port: u16) -> Server {
    let url = format!("smtp://127.0.0.1:{port}");
    let args = [
        "--signup",
        mode,
        "--terms-url",
        TERMS,
        "--trusted-proxy",
        "127.0.0.1",
        "--smtp-url",
        &url,
        "--mail-from",
        FROM,
        "--merchant-email",
        MERCHANT,
        "--admin-token",
        crate::admin::TOKEN,
    ];
    Server::start_with(&args, &[])
}

fn text(m: &Value) -> String {
    m["text"].as_str().unwrap().replace("\r\n", "\n")
}

fn queued(s: &Server) -> Vec<Value> {
    s.get("/api/v1/emails").json()["data"].as_array().unwrap().clone()
}

#[test]
fn the_merchant_is_told_of_each_application_and_the_applicant_of_the_decision() {
    if !aiosmtpd() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let sink = Sink::start(port, dir.path());
    let s = server("review", port);

    let ann = applied(&s, "198.51.100.110", "ann@people.example", "ann-outdoors");
    let received = &sink.wait_for(1)[0];
    assert_eq!(received["rcpt_tos"], json!([MERCHANT]));
    let body = text(received);
    for shown in ["Ann Outdoors", "ann@people.example", "a hiking blog", "ann-outdoors", "/admin/applications"] {
        assert!(body.contains(shown), "{shown:?} is not in the merchant's message:\n{body}");
    }

    // Approved: the new affiliate gets the set-password link, and it works.
    let r = s.post(&format!("/api/v1/applications/{ann}/approve"), &json!({}));
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["emailed"], true);
    let approved = &sink.wait_for(2)[1];
    assert_eq!(approved["rcpt_tos"], json!(["ann@people.example"]));
    let body = text(approved);
    assert!(body.contains(r.json()["invite_url"].as_str().unwrap()), "the link of the answer:\n{body}");
    let mut browser = Visitor::default();
    let r = accept(&s, &mut browser, &link(&s, &body, "/portal/invite/"), PASSWORD);
    assert_eq!((r.status, r.header("Location")), (303, Some("/portal")), "{}", r.text());

    // Rejected: the applicant gets the reason; the API's answer says it was e-mailed.
    let bob = applied(&s, "198.51.100.111", "bob@people.example", "bob");
    assert_eq!(sink.wait_for(3)[2]["rcpt_tos"], json!([MERCHANT]), "bob's application, to the merchant");
    let r = s.post(&format!("/api/v1/applications/{bob}/reject"), &json!({"reason": "Not our market"}));
    assert_eq!((r.status, &r.json()["emailed"]), (200, &json!(true)), "{}", r.text());
    let rejected = &sink.wait_for(4)[3];
    assert_eq!(rejected["rcpt_tos"], json!(["bob@people.example"]));
    assert!(text(rejected).contains("Not our market"), "{}", text(rejected));

    // A second application from a pending address tells no one (the form answers as before).
    let cho = applied(&s, "198.51.100.112", "cho@people.example", "cho");
    let again = apply(&s, &mut visitor("198.51.100.113"), &fields("CHO@people.example", "cho2"));
    assert_eq!(again.status, 200);
    let kinds: Vec<String> = queued(&s).iter().map(|e| e["kind"].as_str().unwrap().to_string()).collect();
    assert_eq!(kinds.iter().filter(|k| *k == "application_received").count(), 3, "{kinds:?}");

    // The admin's pages say what was e-mailed.
    let admin = crate::admin::Session::start(&s);
    let r = admin.post(&s, &format!("/admin/applications/{cho}/reject"), &[]);
    assert!(r.text().contains("They are told by e-mail at cho@people.example"), "{}", r.text());

    // Erasing Bob's application takes his address out of the e-mail that told him.
    assert_eq!(s.delete(&format!("/api/v1/applications/{bob}/personal-data")).status, 204);
    let listed = serde_json::to_string(&queued(&s)).unwrap();
    assert!(!listed.contains("bob@people.example"), "{listed}");
    assert!(listed.contains("ann@people.example"), "only his: {listed}");
}

#[test]
fn with_signup_open_the_link_goes_to_the_mailbox_not_the_screen() {
    if !aiosmtpd() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let sink = Sink::start(port, dir.path());
    let s = server("open", port);
    let r = apply(&s, &mut visitor("198.51.100.120"), &fields("eve@people.example", "eve"));
    assert_eq!(r.status, 200, "{}", r.text());
    let page = r.text();
    assert!(page.contains("We sent the link to choose your password to <strong>eve@people.example</strong>"), "{page}");
    assert!(!page.contains("/portal/invite/"), "no link on the screen: {page}");
    let m = &sink.wait_for(1)[0];
    assert_eq!(m["rcpt_tos"], json!(["eve@people.example"]));
    let mut browser = Visitor::default();
    let r = accept(&s, &mut browser, &link(&s, &text(m), "/portal/invite/"), PASSWORD);
    assert_eq!(r.status, 303, "{}", r.text());

    // A bot that fills the honeypot sees the same page, and nothing is queued for it.
    let mut trap = fields("bot@spam.example", "botty");
    trap.push(("homepage", "x"));
    let r = apply(&s, &mut visitor("198.51.100.121"), &trap);
    assert_eq!(r.status, 200);
    assert!(r.text().contains("We sent the link to choose your password to <strong>bot@spam.example</strong>"));
    assert_eq!(queued(&s).len(), 1, "only Eve's message");
}
