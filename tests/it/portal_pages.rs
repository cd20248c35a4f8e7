//! What the portal's pages show and do, for the logged-in affiliate: the overview's charts and
//! balances, links and the sub-ID builder, conversions with their history and file, payouts,
//! the signed statement, and settings (validated like the API, test postback, new secret). And
//! the merchant's side: the admin's "Invite to the portal" button.

use serde_json::json;

use crate::admin::Session;
use crate::portal::{Visitor, convert, join, two_affiliates};
use crate::support::{Server, request};

#[test]
fn the_overview_charts_the_last_30_days_and_shows_the_balances() {
    let s = Server::start();
    let books = two_affiliates(&s);
    let mut ann = join(&s, "ann");
    let page = ann.get(&s, "/portal").text();
    assert_eq!(page.matches("<svg class=\"chart\"").count(), 3, "commission, conversions and clicks");
    assert!(page.contains("Commission per day (USD)"));
    // Two live clicks and one conversion today (the test conversion's click counts as a click;
    // the test conversion itself does not).
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    assert!(page.contains(&format!("<title>{today}: 2 clicks, 1 conversions, $12.35 commission</title>")), "{page}");
    // Balance: approved, paid out.
    assert!(page.contains("<td>USD</td><td class=\"num\">$0.00</td><td class=\"num\"><strong>$0.00</strong></td><td class=\"num\">$0.00</td>\
         <td class=\"num\">$12.35</td>"), "{page}");
    assert!(page.contains("href=\"/portal/statement.json\""));
    let _ = books;
}

#[test]
fn links_for_every_active_offer_a_sub_id_builder_and_coupons() {
    let s = Server::start();
    two_affiliates(&s);
    let r = s.post(
        "/api/v1/offers",
        &json!({"id": "bundles", "name": "Tent bundles", "landing_url": "https://shop.example/b",
                "commission": {"type": "flat", "value": "15.00"}}),
    );
    assert_eq!(r.status, 201);
    let r = s.post(
        "/api/v1/offers",
        &json!({"id": "old", "name": "Old offer", "landing_url": "https://shop.example/o",
                "commission": {"type": "flat", "value": "1.00"}, "status": "paused"}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let body = json!({"commission": {"type": "percent", "value": "25"}}).to_string();
    let r = request(
        s.addr,
        "PUT",
        "/api/v1/offers/bundles/rates/ann",
        &[("X-Api-Key", crate::support::KEY)],
        body.as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let mut ann = join(&s, "ann");
    let base = s.url("/r/ann");
    let page = ann.get(&s, "/portal/links").text();
    assert!(page.contains(&format!("value=\"{base}\"")), "the default offer's link");
    assert!(page.contains(&format!("value=\"{base}?offer=bundles\"")));
    assert!(page.contains("10% of the amount") && page.contains("25% of the amount"), "ann's own rate: {page}");
    assert!(!page.contains("Old offer"), "paused offers are not offered");
    assert!(page.contains("ANNCOUPON") && !page.contains("RIVALCOUPON"));
    let built = ann.get(&s, "/portal/links?offer=bundles&sub1=spring+sale&sub2=&sub3=a%26b").text();
    assert!(built.contains(&format!("value=\"{base}?offer=bundles&amp;sub1=spring+sale&amp;sub3=a%26b\"")), "{built}");
    let unknown = ann.get(&s, "/portal/links?offer=old&sub1=x").text();
    assert!(unknown.contains("That offer is not active") && unknown.contains(&format!("value=\"{base}?sub1=x\"")));
    // The built link works: it redirects through a click.
    let r = request(s.addr, "GET", "/r/ann?offer=bundles&sub1=spring+sale", &[], b"");
    assert_eq!(r.status, 302);
    assert!(r.header("Location").unwrap().starts_with("https://shop.example/b"));
}

#[test]
fn conversions_show_their_history_and_the_file_guards_against_formulas() {
    let s = Server::start();
    let books = two_affiliates(&s);
    let click = s.click("ann", json!({}));
    let short = convert(&s, json!({"external_id": "=1+1", "amount": "40.00", "click_id": click}));
    let r =
        s.post(&format!("/api/v1/conversions/{short}/refund"), &json!({"amount": "10.00", "refund_id": "RE-SECRET-1"}));
    assert_eq!(r.status, 200, "{}", r.text());
    let mut ann = join(&s, "ann");
    let page = ann.get(&s, &format!("/portal/conversions/{short}")).text();
    assert!(page.contains("Order <span class=\"mono\">=1+1</span>"), "{page}");
    assert!(page.contains("-$10.00") && page.contains("-$1.00"), "the refund and what it took: {page}");
    assert!(!page.contains("RE-SECRET") && !page.contains("\"api\""), "the merchant's own IDs and actors stay out");
    let list = ann.get(&s, "/portal/conversions?status=pending").text();
    assert!(list.contains(&format!("id=\"conversion-{short}\"")));
    assert!(!list.contains(&format!("id=\"conversion-{}\"", books.ann_conversion)), "approved is filtered out");
    let r = ann.get(&s, "/portal/conversions.csv?status=pending");
    assert_eq!(r.header("Content-Type"), Some("text/csv; charset=utf-8"));
    assert!(r.header("Content-Disposition").unwrap().starts_with("attachment; filename=\"conversions-ann-"));
    let csv = r.text();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("date,offer,type,order_reference_end,currency,amount,refunded_amount,commission,status,conversion")
    );
    let row = lines.next().unwrap();
    assert!(row.contains(",main,sale,'=1+1,USD,40.00,10.00,3.00,pending,"), "{row}");
    assert_eq!(lines.next(), None);
    assert_eq!(ann.get(&s, "/portal/conversions?status=bogus").status, 400);
    assert_eq!(ann.get(&s, "/portal/conversions?from=yesterday").status, 400);
}

#[test]
fn payouts_list_their_entries_and_the_statement_is_the_signed_one() {
    let s = Server::start();
    let books = two_affiliates(&s);
    let mut ann = join(&s, "ann");
    let page = ann.get(&s, &format!("/portal/payouts/{}", books.ann_payout)).text();
    assert!(page.contains("…KJHG") && !page.contains("ANN-ORDER"), "{page}");
    assert!(page.contains("ANN-PAYREF-ABCD") && page.contains("approved"));
    let r = ann.get(&s, "/portal/statement.json");
    assert!(r.header("Content-Disposition").unwrap().contains("filename=\"statement-ann-"));
    let mine = r.json();
    let merchants = s.get("/api/v1/affiliates/ann/statement").json();
    for field in ["referral_code", "entries", "head", "public_key"] {
        assert_eq!(mine[field], merchants[field], "{field}");
    }
    // It verifies with the command affiliates run.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("statement.json");
    std::fs::write(&file, r.text()).unwrap();
    let out = std::process::Command::new(crate::support::bin())
        .arg("verify-statement")
        .arg(&file)
        .args(["--key-url", &s.url("")])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn settings_are_checked_like_the_api_and_can_test_the_postback() {
    let s = Server::start();
    s.seed();
    let mut ann = join(&s, "ann");
    let page = ann.get(&s, "/portal/settings").text();
    assert!(!page.contains("Send a test postback"), "no URL, nothing to test");
    for (url, says) in [
        ("ftp://t.example/pb", "must start with http:// or https://"),
        ("https://t.example/pb?x={nope}", "unknown macro {nope}"),
        ("https://t.example/pb?o={external_id}", "only the merchant can put"),
    ] {
        let r = ann.post(&s, "/portal/settings", &[("postback_url", url)]);
        assert_eq!(r.status, 400, "{url}");
        assert!(r.text().contains(says), "{url}: {}", r.text());
        assert!(r.text().contains(&format!("value=\"{}\"", url.replace('&', "&amp;"))), "the draft is kept");
    }
    assert_eq!(s.get("/api/v1/affiliates/ann").json()["postback_url"], json!(null));
    let r = ann.post(&s, "/portal/settings", &[("postback_url", "https://t.example/pb?c={commission}")]);
    assert_eq!(r.status, 200);
    assert!(r.text().contains("shown only now"), "the new signing secret: {}", r.text());
    let r = ann.post(&s, "/portal/settings/postback-test", &[]);
    assert_eq!(r.header("Location"), Some("/portal/settings?done=test-queued"));
    assert!(ann.get(&s, "/portal/settings?done=test-queued").text().contains("A test postback is queued"));
    let delivery = &s.get("/api/v1/postbacks").json()["data"][0];
    assert_eq!((&delivery["event"], &delivery["referral_code"]), (&json!("test"), &json!("ann")));
    let r = ann.post(&s, "/portal/settings/postback-secret", &[]);
    assert!(r.text().contains("shown only now"));
    // A URL with the order reference set by the merchant survives saving the form unchanged.
    let merchant_url = "https://t.example/pb?o={external_id}";
    let body = json!({"postback_url": merchant_url}).to_string();
    let r = request(s.addr, "PATCH", "/api/v1/affiliates/ann", &[("X-Api-Key", crate::support::KEY)], body.as_bytes());
    assert_eq!(r.status, 200);
    ann.get(&s, "/portal/settings");
    let r = ann.post(&s, "/portal/settings", &[("postback_url", merchant_url), ("payout_details", "IBAN DE89 3704")]);
    assert_eq!(r.status, 303, "{}", r.text());
    assert_eq!(s.get("/api/v1/affiliates/ann").json()["payout_details"], "IBAN DE89 3704");
}

#[test]
fn the_admin_invites_from_the_affiliate_page_and_sees_the_link_once() {
    let s = Server::start_with(&["--admin-token", crate::admin::TOKEN], &[]);
    s.seed();
    let session = Session::start(&s);
    let page = session.get(&s, "/admin/affiliates/ann").text();
    assert!(page.contains("Invite to the portal") && page.contains("Not invited yet"));
    let r = session.post(&s, "/admin/affiliates/ann/invite", &[]);
    assert_eq!(r.status, 201, "{}", r.text());
    let text = r.text();
    let at = text.find(&s.url("/portal/invite/afi_")).expect("the link, shown once");
    let link = text[at..].split('"').next().unwrap().to_string();
    let page = session.get(&s, "/admin/affiliates/ann").text();
    assert!(!page.contains(&link) && page.contains("Invited; the link works until"));
    let mut ann = Visitor::default();
    let r = crate::portal::accept(&s, &mut ann, link.strip_prefix(&s.url("")).unwrap(), crate::portal::PASSWORD);
    assert_eq!(r.status, 303);
    assert!(session.get(&s, "/admin/affiliates/ann").text().contains("They have a portal password."));
    let r = session.post(&s, "/admin/affiliates/nobody/invite", &[]);
    assert_eq!(r.status, 404);

    let off = Server::start_with(&["--admin-token", crate::admin::TOKEN, "--portal", "off"], &[]);
    off.seed();
    let session = Session::start(&off);
    assert!(!session.get(&off, "/admin/affiliates/ann").text().contains("Invite to the portal"));
}

/// The portal's conversions file is streamed like the admin's (#25): chunked, the affiliate's own
/// rows only, newest first.
#[test]
fn the_conversions_file_is_streamed_with_only_their_rows() {
    let s = Server::start();
    let books = two_affiliates(&s);
    let mut ann = join(&s, "ann");
    let r = ann.get(&s, "/portal/conversions.csv");
    assert_eq!((r.status, r.header("Transfer-Encoding")), (200, Some("chunked")));
    let ids: Vec<String> = r.text().lines().skip(1).map(|l| l.rsplit(',').next().unwrap().to_string()).collect();
    assert_eq!(ids, [books.ann_conversion.to_string()]);
}
