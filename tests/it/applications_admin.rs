//! The admin's Applications page (#24): the pending count in the navigation, the list by
//! status, approving (with another code than the wished one) and rejecting (with a reason) with
//! the session's CSRF token, and what the page says the merchant must do, since no e-mail is
//! sent.

use serde_json::json;

use crate::admin::{Session, TOKEN};
use crate::applications::{TERMS, applied};
use crate::portal::{PASSWORD, Visitor, accept};
use crate::support::Server;

fn server() -> Server {
    Server::start_with(
        &["--signup", "review", "--terms-url", TERMS, "--trusted-proxy", "127.0.0.1", "--admin-token", TOKEN],
        &[],
    )
}

/// The number beside *Applications* in the navigation, if any.
fn nav_count(page: &str) -> Option<String> {
    let entry = page.split("href=\"/admin/applications\">").nth(1)?.split("</a>").next()?;
    entry.split("class=\"count\"").nth(1).map(|c| c.split('>').nth(1).unwrap().split('<').next().unwrap().to_string())
}

#[test]
fn the_navigation_counts_pending_applications_and_the_page_decides_them() {
    let s = server();
    let admin = Session::start(&s);
    let overview = admin.get(&s, "/admin").text();
    assert!(overview.contains("href=\"/admin/applications\">Applications</a>"), "{overview}");
    assert_eq!(nav_count(&overview), None, "nothing pending, no number");

    let ann = applied(&s, "192.0.2.10", "ann@people.example", "ann");
    let bob = applied(&s, "192.0.2.11", "bob@people.example", "bob");
    let cho = applied(&s, "192.0.2.12", "cho@people.example", "cho");
    assert_eq!(nav_count(&admin.get(&s, "/admin/conversions").text()).as_deref(), Some("3"));
    let list = admin.get(&s, "/admin/applications");
    assert_eq!(list.status, 200);
    let page = list.text();
    for text in ["ann@people.example", "bob@people.example", "a hiking blog", TERMS, "ann-pay@people.example"] {
        assert!(page.contains(text), "{text} is not on the page: {page}");
    }
    assert!(page.contains(&format!("action=\"/admin/applications/{ann}/approve\"")), "{page}");

    // Approve with a code of the merchant's choice: the page shows the set-password link once
    // and says to send it, since no e-mail is sent.
    let r = admin.post(&s, &format!("/admin/applications/{ann}/approve"), &[("referral_code", "ann-outdoors")]);
    assert_eq!(r.status, 201, "{}", r.text());
    let page = r.text();
    assert!(page.contains("Approved: Ann Outdoors is affiliate ann-outdoors"), "{page}");
    assert!(page.contains("No e-mail is sent: send them this link yourself (at ann@people.example)"), "{page}");
    let link =
        page.split("value=\"").find_map(|p| p.split('"').next().filter(|v| v.contains("/portal/invite/"))).unwrap();
    let mut browser = Visitor::default();
    let r = accept(&s, &mut browser, link.strip_prefix(&s.url("")).unwrap(), PASSWORD);
    assert_eq!(r.status, 303, "the link works: {}", r.text());
    assert_eq!(s.get("/api/v1/affiliates/ann-outdoors").json()["terms_url"], TERMS);

    // Reject with a reason; the page says to tell them.
    let r = admin.post(&s, &format!("/admin/applications/{bob}/reject"), &[("reason", "Not our market")]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("No e-mail is sent: tell them yourself at bob@people.example"), "{}", r.text());
    assert_eq!(s.get(&format!("/api/v1/applications/{bob}")).json()["reason"], "Not our market");
    assert_eq!(nav_count(&r.text()).as_deref(), Some("1"), "the count follows");

    // A decided application is not decided twice; a taken code is refused with a message.
    let r = admin.post(&s, &format!("/admin/applications/{bob}/approve"), &[]);
    assert_eq!(r.status, 409);
    assert!(r.text().contains("This application was rejected already"), "{}", r.text());
    let r = admin.post(&s, &format!("/admin/applications/{cho}/approve"), &[("referral_code", "ANN-OUTDOORS")]);
    assert_eq!(r.status, 409);
    assert!(r.text().contains("The referral code ANN-OUTDOORS is another affiliate&#39;s"), "{}", r.text());
    assert_eq!(s.get(&format!("/api/v1/applications/{cho}")).json()["status"], "pending");

    // Without the session's CSRF token nothing changes.
    let r = admin.post_raw(&s, &format!("/admin/applications/{cho}/approve"), &[]);
    assert_eq!(r.status, 403, "{}", r.text());
    let r = admin.post_raw(&s, &format!("/admin/applications/{cho}/reject"), &[("csrf", "forged")]);
    assert_eq!(r.status, 403);
    assert_eq!(s.get(&format!("/api/v1/applications/{cho}")).json()["status"], "pending");

    // The lists by status.
    let approved = admin.get(&s, "/admin/applications?status=approved").text();
    assert!(approved.contains("href=\"/admin/affiliates/ann-outdoors\"") && !approved.contains("bob@"), "{approved}");
    let rejected = admin.get(&s, "/admin/applications?status=rejected").text();
    assert!(rejected.contains("Not our market") && !rejected.contains("ann@"), "{rejected}");
    assert_eq!(s.post(&format!("/api/v1/applications/{cho}/reject"), &json!({})).status, 200);
    let none = admin.get(&s, "/admin/applications").text();
    assert!(none.contains("No pending applications."), "{none}");
    assert_eq!(nav_count(&none), None);
}
