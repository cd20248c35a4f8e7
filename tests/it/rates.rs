//! The conversion rate on the admin's and the portal's overviews: the share of the period's
//! clicks that led to a conversion. Conversions without a click (coupons, known customers)
//! are not in it, a click counts once however many orders it brought, and a rejected order
//! converts nothing: the rate never exceeds 100% (it showed 150% overall and 300% for a
//! coupon affiliate when it divided every conversion by the clicks).

use serde_json::json;

use crate::admin::{Session, TOKEN};
use crate::support::Server;

fn convert(s: &Server, body: serde_json::Value) -> i64 {
    let r = s.post("/api/v1/conversions", &body);
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()["id"].as_i64().unwrap()
}

/// Every percentage on a page, in hundredths of a percent.
fn percentages(page: &str) -> Vec<i64> {
    page.split('%')
        .filter_map(|before| {
            let number = before.rsplit(|c: char| !(c.is_ascii_digit() || c == '.')).next()?;
            let (whole, hundredths) = number.split_once('.')?;
            Some(whole.parse::<i64>().ok()? * 100 + hundredths.parse::<i64>().ok()?)
        })
        .collect()
}

/// The row of the admin overview's affiliate table for `code`.
fn affiliate_row<'a>(page: &'a str, code: &str) -> &'a str {
    let start = page.find(&format!("<a href=\"/admin/affiliates/{code}\">")).unwrap_or_else(|| panic!("{page}"));
    &page[start..start + page[start..].find("</tr>").unwrap()]
}

/// `ann`: two clicks, one of which converted twice (a repeat order), plus a coupon order.
/// `cat`: one click that never converted and three coupon orders. `dan`: one click whose only
/// order was rejected.
fn books(s: &Server) {
    s.seed();
    for code in ["cat", "dan"] {
        let r = s.post("/api/v1/affiliates", &json!({"referral_code": code, "name": code.to_uppercase()}));
        assert_eq!(r.status, 201, "{}", r.text());
    }
    for (code, owner) in [("ANN10", "ann"), ("CAT10", "cat")] {
        let r = s.post("/api/v1/coupons", &json!({"code": code, "referral_code": owner}));
        assert_eq!(r.status, 201, "{}", r.text());
    }
    let ann = s.click("ann", json!({}));
    s.click("ann", json!({}));
    convert(s, json!({"external_id": "ann-1", "amount": "10.00", "click_id": ann}));
    convert(s, json!({"external_id": "ann-2", "amount": "10.00", "click_id": ann}));
    convert(s, json!({"external_id": "ann-3", "amount": "10.00", "coupon": "ANN10"}));
    s.click("cat", json!({}));
    for n in 0..3 {
        convert(s, json!({"external_id": format!("cat-{n}"), "amount": "10.00", "coupon": "CAT10"}));
    }
    let dan = s.click("dan", json!({}));
    let rejected = convert(s, json!({"external_id": "dan-1", "amount": "10.00", "click_id": dan}));
    let r = s.post(&format!("/api/v1/conversions/{rejected}/reject"), &json!({}));
    assert_eq!(r.status, 200, "{}", r.text());
}

#[test]
fn the_admin_overview_counts_clicks_that_converted_and_stays_within_100_percent() {
    let s = Server::start_with(&["--admin-token", TOKEN], &[]);
    books(&s);
    let page = Session::start(&s).get(&s, "/admin").text();
    // 4 clicks, of which one (ann's first) converted; 6 conversions count (the rejected one does not).
    assert!(page.contains(">25.00%<"), "{page}");
    assert!(page.contains("1 of 4 clicks led to a conversion"), "{page}");
    assert!(affiliate_row(&page, "ann").contains(">50.00%<"), "{}", affiliate_row(&page, "ann"));
    assert!(affiliate_row(&page, "cat").contains(">0.00%<"), "coupons: {}", affiliate_row(&page, "cat"));
    assert!(affiliate_row(&page, "dan").contains(">0.00%<"), "rejected: {}", affiliate_row(&page, "dan"));
    let shown = percentages(&page);
    assert!(shown.len() >= 4 && shown.iter().all(|p| *p <= 10_000), "{shown:?}");
}

#[test]
fn an_affiliate_without_clicks_has_no_rate_rather_than_a_made_up_one() {
    let s = Server::start_with(&["--admin-token", TOKEN], &[]);
    s.seed();
    let r = s.post("/api/v1/coupons", &json!({"code": "ANN10", "referral_code": "ann"}));
    assert_eq!(r.status, 201, "{}", r.text());
    convert(&s, json!({"external_id": "c-1", "amount": "10.00", "coupon": "ANN10"}));
    let page = Session::start(&s).get(&s, "/admin").text();
    assert!(affiliate_row(&page, "ann").contains(">–<"), "{}", affiliate_row(&page, "ann"));
    assert!(page.contains("no clicks: coupon and customer conversions have none"), "{page}");
    assert!(percentages(&page).is_empty(), "{:?}", percentages(&page));
}

#[test]
fn the_portal_overview_uses_the_same_rate() {
    let s = Server::start();
    books(&s);
    let page = crate::portal::join(&s, "cat").get(&s, "/portal").text();
    assert!(page.contains(">0.00%<") && page.contains("0 of 1 clicks led to a conversion"), "{page}");
    let page = crate::portal::join(&s, "ann").get(&s, "/portal").text();
    assert!(page.contains(">50.00%<") && page.contains("1 of 2 clicks led to a conversion"), "{page}");
    assert!(percentages(&page).iter().all(|p| *p <= 10_000));
}
