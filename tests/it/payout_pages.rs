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
