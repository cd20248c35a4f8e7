//! Payouts as the pages show them: the portal marks a conversion whose commission was paid out
//! (with a link to the payout), the admin warns before and after a payout run about affiliates
//! PayPal cannot pay, and the PayPal file's refusal in the admin says what to do in the admin.

use serde_json::json;

use crate::portal::{convert, join};
use crate::support::Server;

fn approve(s: &Server, id: i64) {
    let r = s.post(&format!("/api/v1/conversions/{id}/approve"), &json!({}));
    assert_eq!(r.status, 200, "{}", r.text());
}

/// Runs payouts in USD; returns the id of `code`'s payout.
fn run(s: &Server, code: &str) -> i64 {
    let r = s.post("/api/v1/payouts", &json!({"currency": "USD", "minimum": "1.00"}));
    assert_eq!(r.status, 201, "{}", r.text());
    let data = r.json()["data"].as_array().unwrap().clone();
    data.iter().find(|p| p["referral_code"] == code).unwrap_or_else(|| panic!("{data:?}"))["id"].as_i64().unwrap()
}

/// The conversion `id`'s row on a portal page.
fn row_of(page: &str, id: i64) -> &str {
    let start = page.find(&format!("<tr id=\"conversion-{id}\">")).unwrap_or_else(|| panic!("no row {id}: {page}"));
    &page[start..start + page[start..].find("</tr>").unwrap()]
}

#[test]
fn the_portal_marks_paid_conversions_with_their_payout() {
    let s = Server::start();
    s.seed();
    let order = |id: &str, amount: &str| {
        let click = s.click("ann", json!({}));
        convert(&s, json!({"external_id": id, "amount": amount, "click_id": click}))
    };
    let (paid, refunded_after) = (order("paid-1", "100.00"), order("paid-2", "10.00"));
    approve(&s, paid);
    approve(&s, refunded_after);
    let first = run(&s, "ann");
    let r = s.post(&format!("/api/v1/payouts/{first}/mark-paid"), &json!({"reference": "BANK-1"}));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(s.post(&format!("/api/v1/conversions/{refunded_after}/refund"), &json!({})).status, 200);
    let waiting = order("waiting", "50.00");
    approve(&s, waiting);
    let second = run(&s, "ann");
    let pending = order("pending", "5.00");

    let mut ann = join(&s, "ann");
    let page = ann.get(&s, "/portal/conversions").text();
    let row = row_of(&page, paid);
    assert!(
        row.contains(&format!(
            "<span class=\"badge good\">paid</span> <a href=\"/portal/payouts/{first}\">payout #{first}</a>"
        )),
        "{row}"
    );
    assert!(!row.contains(">approved<"), "{row}");
    let row = row_of(&page, refunded_after);
    assert!(row.contains(">refunded</span>"), "{row}");
    assert!(row.contains(&format!("<a href=\"/portal/payouts/{first}\">paid in payout #{first}</a>")), "{row}");
    let row = row_of(&page, waiting);
    assert!(row.contains(">approved</span>"), "{row}");
    assert!(row.contains(&format!("<a href=\"/portal/payouts/{second}\">in payout #{second}</a>")), "{row}");
    let row = row_of(&page, pending);
    assert!(row.contains(">pending</span>") && !row.contains("payout"), "{row}");

    let detail = ann.get(&s, &format!("/portal/conversions/{paid}")).text();
    assert!(detail.contains(&format!("<a href=\"/portal/payouts/{first}\">payout #{first}</a>")), "{detail}");
    assert_eq!(ann.get(&s, &format!("/portal/payouts/{first}")).status, 200, "the link leads to the payout");
}

/// `ann` (no payout e-mail) and `bob` (with one), each with approved commission.
fn two_payees(s: &Server) {
    s.seed();
    let r = s.post("/api/v1/affiliates", &json!({"referral_code": "bob", "name": "Bob Builder"}));
    assert_eq!(r.status, 201, "{}", r.text());
    let r = crate::support::request(
        s.addr,
        "PATCH",
        "/api/v1/affiliates/bob",
        &[("X-Api-Key", crate::support::KEY)],
        json!({"payout_email": "bob@pay.example"}).to_string().as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    for (code, order) in [("ann", "a-1"), ("bob", "b-1")] {
        let click = s.click(code, json!({}));
        approve(s, convert(s, json!({"external_id": order, "amount": "120.00", "click_id": click})));
    }
}

/// The `no-payout-email` warning on a page, if any.
fn warning(page: &str) -> Option<&str> {
    let start = page.find("id=\"no-payout-email\"")?;
    Some(&page[start..start + page[start..].find("</div>").unwrap()])
}

#[test]
fn a_payout_run_warns_before_and_after_about_affiliates_paypal_cannot_pay() {
    let s = Server::start_with(&["--admin-token", crate::admin::TOKEN], &[]);
    two_payees(&s);
    let admin = crate::admin::Session::start(&s);
    for page in ["/admin/balances", "/admin/payouts"] {
        let text = admin.get(&s, page).text();
        let warning = warning(&text).unwrap_or_else(|| panic!("{page} warns before the run: {text}"));
        assert!(warning.contains("PayPal cannot pay 1 affiliate:"), "{warning}");
        assert!(warning.contains("<a href=\"/admin/affiliates/ann#payout_email\">Ann</a>"), "{warning}");
        assert!(warning.contains("$12.00 available"), "{warning}");
        assert!(!warning.contains("bob"), "bob has a payout e-mail: {warning}");
    }
    let made = admin.post(&s, "/admin/payouts", &[("currency", "USD"), ("minimum", "1.00")]);
    assert_eq!(made.status, 303, "{}", made.text());
    let after = admin.get(&s, made.header("Location").unwrap()).text();
    assert!(after.contains("Made 2 payouts."), "{after}");
    let warning = warning(&after).unwrap_or_else(|| panic!("the run's page warns: {after}"));
    assert!(warning.contains("PayPal cannot pay 1 payout:"), "{warning}");
    assert!(warning.contains("$12.00 to <a href=\"/admin/affiliates/ann#payout_email\">Ann</a>"), "{warning}");
    assert!(!warning.contains("bob"), "{warning}");
    assert!(warning.contains("download the PayPal file again"), "{warning}");
    // Nothing left to pay: the form's own warning is gone, the run's stays until fixed.
    assert_eq!(after.matches("id=\"no-payout-email\"").count(), 1, "{after}");
    let edit = admin.get(&s, "/admin/affiliates/ann").text();
    assert!(edit.contains("id=\"payout_email\" name=\"payout_email\""), "the links lead to the field: {edit}");
}

#[test]
fn the_admin_s_paypal_refusal_says_what_to_do_in_the_admin_and_the_api_keeps_its_own() {
    let s = Server::start_with(&["--admin-token", crate::admin::TOKEN], &[]);
    two_payees(&s);
    let run = s.post("/api/v1/payouts", &json!({"currency": "USD", "minimum": "1.00"}));
    assert_eq!(run.status, 201, "{}", run.text());
    let data = run.json()["data"].as_array().unwrap().clone();
    let ann = data.iter().find(|p| p["referral_code"] == "ann").unwrap()["id"].as_i64().unwrap();
    let run_id = 1;
    let admin = crate::admin::Session::start(&s);
    for (path, back) in [
        (format!("/admin/payout-runs/{run_id}/export?format=paypal"), format!("/admin/payouts?run={run_id}")),
        (format!("/admin/payouts/{ann}/export?format=paypal"), format!("/admin/payouts/{ann}")),
    ] {
        let r = admin.get(&s, &path);
        assert_eq!(r.status, 409, "{path}");
        let page = r.text();
        assert!(page.contains("The PayPal file needs a payout e-mail"), "{page}");
        assert!(page.contains("<a href=\"/admin/affiliates/ann#payout_email\">set the payout e-mail</a>"), "{page}");
        assert!(page.contains("then export again"), "{page}");
        assert!(page.contains(&format!("<a class=\"btn primary\" href=\"{back}\">Back to ")), "{path}: {page}");
        assert!(
            !page.contains("/api/v1") && !page.contains("PATCH") && !page.contains("Back to the overview"),
            "{page}"
        );
        assert!(!page.contains("bob"), "{page}");
    }
    // The API answers in its own words, as before.
    let api = s.get(&format!("/api/v1/payouts/{ann}/export?format=paypal"));
    api.assert_error(409, "missing_payout_email");
    assert!(api.json()["error"]["message"].as_str().unwrap().contains("PATCH /api/v1/affiliates/{code}"));

    // Set in the admin, the same file downloads and every warning is gone.
    let saved = admin.post(
        &s,
        "/admin/affiliates/ann",
        &[("name", "Ann"), ("status", "active"), ("payout_email", "ann@pay.example")],
    );
    assert_eq!(saved.status, 303, "{}", saved.text());
    let file = admin.get(&s, &format!("/admin/payout-runs/{run_id}/export?format=paypal"));
    assert_eq!(file.status, 200, "{}", file.text());
    assert!(file.text().contains("ann@pay.example,12.00,USD,"), "{}", file.text());
    assert!(warning(&admin.get(&s, "/admin/payouts").text()).is_none());
}
