//! The portal in a real browser (headless chromium through chromedriver, see `browser.rs`): the
//! merchant invites an affiliate from the admin, the affiliate opens the link, chooses a
//! password, lands on their overview and finds their conversion.

use serde_json::json;

use crate::admin_browser::TOKEN;
use crate::browser::Browser;
use crate::portal::PASSWORD;
use crate::support::Server;

#[test]
fn an_invited_affiliate_sets_a_password_and_sees_their_conversion() {
    let s = Server::start_with(&["--admin-token", TOKEN], &[]);
    s.seed();
    let click = s.click("ann", json!({}));
    let r =
        s.post("/api/v1/conversions", &json!({"external_id": "order-2026-1001", "amount": "80.00", "click_id": click}));
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["id"].as_i64().unwrap();
    let Some(browser) = Browser::start("portal browser test", 1280, 900) else { return };
    let base = s.url("");

    // The merchant invites Ann from her page in the admin; the link is shown once.
    browser.log_in(&base, TOKEN);
    browser.goto(&format!("{base}/admin/affiliates/ann"));
    browser.click(&browser.wait_for("form[action='/admin/affiliates/ann/invite'] button"));
    let link = browser.property(&browser.wait_for(".notice.secret input#secret"), "value");
    assert!(link.starts_with(&format!("{base}/portal/invite/afi_")), "{link}");

    // Ann opens it, chooses a password and is logged in.
    browser.goto(&link);
    browser.type_into(&browser.wait_for("input#password"), PASSWORD);
    browser.type_into(&browser.wait_for("input#password_again"), PASSWORD);
    browser.click(&browser.wait_for("form[action^='/portal/invite/'] button[type=submit]"));
    browser.wait_for_text("main h1", |t| t == "Hello, Ann");
    assert!(browser.url().ends_with("/portal"), "after choosing a password: {}", browser.url());
    assert!(browser.find("svg.chart").is_some(), "the overview's charts");

    // Her conversions: the order by its last 4 characters, its amount and commission.
    browser.click(&browser.wait_for("header nav a[href='/portal/conversions']"));
    let row = browser.wait_for_text(&format!("#conversion-{id}"), |t| !t.is_empty());
    assert!(
        row.contains("…1001") && row.contains("$80.00") && row.contains("$8.00") && row.contains("pending"),
        "{row}"
    );
    assert!(!row.contains("order-2026"), "{row}");

    // Logging out ends it; the overview asks for the login again.
    browser.click(&browser.wait_for("form[action='/portal/logout'] button"));
    browser.wait_for("input[name=referral_code]");
    browser.goto(&format!("{base}/portal"));
    browser.wait_for("input[name=referral_code]");
}
