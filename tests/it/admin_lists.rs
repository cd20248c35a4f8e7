//! What the admin's lists say about each row: when it happened, in words that read as they
//! stand ("just now", "5 minutes ago"), on every page that shows it.

use serde_json::json;

use crate::admin::{Session, TOKEN};
use crate::support::Server;

/// A server with an admin token and every connector's secret, seeded (`ann`, offer `main`).
fn server() -> Server {
    crate::hooks::server(&["--admin-token", TOKEN])
}

#[test]
fn the_log_pages_say_when_in_words() {
    let s = server();
    // One row on each page: a shop webhook, an inbound postback, a merchant webhook delivery.
    let click = s.click("ann", json!({}));
    let event = crate::hooks::fixture_json("stripe/checkout.session.completed.payment.json", &click);
    let hook = crate::hooks::post_stripe(&s, &event);
    assert_eq!(hook.status, 200, "{}", hook.text());
    let token = crate::postbacks::token(&s);
    let postback = crate::postbacks::fire(&s, &format!("token={token}&click_id={click}&order_id=pb-1&amount=10.00"));
    assert_eq!(postback.status, 201, "{}", postback.text());
    crate::webhooks::create(&s, "https://hooks.shop.example/affiliated", &["conversion.created"]);
    crate::admin::order(&s, "ann", "order-1", "20.00");

    let admin = Session::start(&s);
    for page in ["/admin/hooks", "/admin/postbacks", "/admin/webhooks", "/admin/conversions"] {
        let r = admin.get(&s, page);
        assert_eq!(r.status, 200, "{page}");
        let text = r.text();
        assert!(text.contains(">just now</td>"), "{page} says when: {text}");
        assert!(!text.contains(" ago ago") && !text.contains("now ago"), "{page}: {text}");
    }
}

/// The conversion `id`'s row in the admin's list.
fn row_of(page: &str, id: i64) -> &str {
    let start = page.find(&format!("<tr id=\"conversion-{id}\">")).unwrap_or_else(|| panic!("no row {id}: {page}"));
    &page[start..start + page[start..].find("</tr>").unwrap()]
}

#[test]
fn the_conversion_list_marks_refunds_and_strikes_a_rejected_commission() {
    let s = server();
    let partly = crate::admin::order(&s, "ann", "partly-refunded", "99.00");
    let r = s.post(&format!("/api/v1/conversions/{partly}/refund"), &json!({"amount": "9.00", "refund_id": "re-1"}));
    assert_eq!(r.status, 200, "{}", r.text());
    let rejected = crate::admin::order(&s, "ann", "rejected", "20.00");
    assert_eq!(s.post(&format!("/api/v1/conversions/{rejected}/reject"), &json!({})).status, 200);
    let whole = crate::admin::order(&s, "ann", "fully-refunded", "30.00");
    assert_eq!(s.post(&format!("/api/v1/conversions/{whole}/refund"), &json!({})).status, 200);
    let kept = crate::admin::order(&s, "ann", "kept", "40.00");

    let admin = Session::start(&s);
    let page = admin.get(&s, "/admin/conversions").text();
    let row = row_of(&page, partly);
    assert!(row.contains("<td class=\"num\">$90.00</td>"), "what is left: {row}");
    assert!(row.contains(">refunded $9.00</span>") && row.contains("$9.00 of the $99.00 order refunded"), "{row}");
    assert!(row.contains("<td class=\"num\">$9.00</td>"), "the commission after the refund: {row}");
    let row = row_of(&page, rejected);
    assert!(row.contains("<s title=\"Rejected: this commission is not owed\">$2.00</s>"), "{row}");
    let row = row_of(&page, whole);
    assert!(row.contains(">refunded</span>") && !row.contains(">refunded $"), "the status says it all: {row}");
    let row = row_of(&page, kept);
    assert!(
        row.contains("<td class=\"num\">$4.00</td>") && !row.contains("<s ") && !row.contains("tag refund"),
        "{row}"
    );

    let csv = admin.get(&s, "/admin/export/conversions.csv").text();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let column = |name: &str| header.iter().position(|h| *h == name).unwrap_or_else(|| panic!("{name}: {header:?}"));
    let (amount, refunded, commission, credited) =
        (column("amount"), column("refunded_amount"), column("commission"), column("commission_credited"));
    let cells = |order: &str| -> Vec<String> {
        let line = csv.lines().find(|l| l.contains(&format!(",{order},"))).unwrap_or_else(|| panic!("{order}: {csv}"));
        let cells: Vec<&str> = line.split(',').collect();
        [amount, refunded, commission, credited].iter().map(|&i| cells[i].to_string()).collect()
    };
    assert_eq!(cells("partly-refunded"), ["99.00", "9.00", "9.00", "9.00"]);
    assert_eq!(cells("rejected"), ["20.00", "0.00", "2.00", "0.00"], "what it would have earned, and what it does");
    assert_eq!(cells("fully-refunded"), ["30.00", "30.00", "0.00", "0.00"]);
    assert_eq!(cells("kept"), ["40.00", "0.00", "4.00", "4.00"]);
}
