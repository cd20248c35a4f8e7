//! The admin in a real browser (headless chromium through chromedriver, see `browser.rs`):
//! logging in and approving a conversion by clicking, and the overview screenshot for the docs:
//!
//! ```text
//! cargo test --test it admin_screenshot -- --ignored   # writes docs/admin-overview.png
//! ```

use serde_json::json;

use crate::browser::Browser;
use crate::support::Server;

pub const TOKEN: &str = "browser-admin-token-0123456789";

#[test]
fn a_merchant_logs_in_and_approves_a_pending_conversion_by_clicking() {
    let s = Server::start_with(&["--admin-token", TOKEN], &[]);
    s.seed();
    let click = s.click("ann", json!({}));
    let r = s.post("/api/v1/conversions", &json!({"external_id": "order-1001", "amount": "120.00", "click_id": click}));
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["id"].as_i64().unwrap();
    let Some(browser) = Browser::start("admin browser test", 1280, 900) else { return };
    let base = s.url("");

    browser.log_in(&base, TOKEN);
    assert!(browser.url().ends_with("/admin"), "after login: {}", browser.url());
    browser.goto(&format!("{base}/admin/conversions?status=pending"));
    let status_cell = format!("#conversion-{id} td.status");
    // Reported a moment after its click, the conversion carries the too_fast flag: a person may
    // still approve it (rules only keep it from automatic approval).
    assert_eq!(browser.wait_for_text(&status_cell, |t| !t.is_empty()), "pending too fast");
    browser.click(&browser.wait_for(&format!("#approve-{id}")));

    // The form posts, the server redirects back to the list, which no longer shows it as pending.
    browser.wait_for_text(".notice.ok", |t| t.contains("Approved 1 conversion"));
    assert!(browser.find(&status_cell).is_none(), "an approved conversion left the pending list");
    browser.goto(&format!("{base}/admin/conversions"));
    assert_eq!(browser.wait_for_text(&status_cell, |t| !t.is_empty()), "approved too fast");
    let api = s.get(&format!("/api/v1/conversions/{id}")).json();
    assert_eq!(api["status"], "approved");
    assert_eq!(api["events"][1]["actor"], "admin");
}

/// A small deterministic random number generator for demo data.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % below
    }
}

/// Six affiliates, two offers and about 320 conversions over 30 days in every status.
pub fn seed_demo(s: &Server) {
    let affiliates = [
        ("trailsummit", "Trail & Summit Blog", 9),
        ("gearlab", "GearLab Reviews", 7),
        ("miachen", "Mia Chen (YouTube)", 5),
        ("wildcoast", "Wild Coast Deals", 4),
        ("peakpoint", "PeakPoint Newsletter", 3),
        ("basecamp", "Basecamp Forum", 2),
    ];
    for (code, name, _) in affiliates {
        let r = s.post(
            "/api/v1/affiliates",
            &json!({"referral_code": code, "name": name, "email": format!("partners@{code}.example")}),
        );
        assert_eq!(r.status, 201, "{}", r.text());
    }
    for offer in [
        json!({"id": "storewide", "name": "Storewide 10%", "landing_url": "https://northwind-outdoor.example/",
               "commission": {"type": "percent", "value": "10"}, "default": true}),
        json!({"id": "bundles", "name": "Tent bundles", "landing_url": "https://northwind-outdoor.example/bundles",
               "commission": {"type": "flat", "value": "15.00"}}),
    ] {
        let r = s.post("/api/v1/offers", &offer);
        assert_eq!(r.status, 201, "{}", r.text());
    }
    let weights: Vec<u64> = affiliates.iter().map(|a| a.2).collect();
    let total_weight: u64 = weights.iter().sum();
    let mut rng = Lcg(7);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let day_ms = 86_400_000i64;
    let mut planned = Vec::new();
    for days_ago in 0..30i64 {
        // Growing volume, busier weekends.
        let weekday = (now / day_ms - days_ago + 4).rem_euclid(7);
        let base = 7 + (30 - days_ago) / 4 + if weekday >= 5 { 4 } else { 0 };
        for _ in 0..base + rng.next(5) as i64 {
            let mut pick = rng.next(total_weight);
            let mut who = 0;
            while pick >= weights[who] {
                pick -= weights[who];
                who += 1;
            }
            let at = (now / day_ms - days_ago) * day_ms + rng.next(day_ms as u64) as i64;
            planned.push((who, days_ago, at.min(now - 60_000)));
        }
    }
    let conn = s.sql();
    for (n, (who, days_ago, at)) in planned.iter().enumerate() {
        let code = affiliates[*who].0;
        let offer = if rng.next(6) == 0 { "bundles" } else { "storewide" };
        let click = s.click(code, json!({"offer": offer, "sub1": "spring"}));
        let amount = format!("{}.{:02}", 24 + rng.next(310), [0, 50, 95, 99][rng.next(4) as usize]);
        let r = s.post(
            "/api/v1/conversions",
            &json!({"external_id": format!("NW-{}", 48_210 + n), "amount": amount, "click_id": click}),
        );
        assert_eq!(r.status, 201, "{}", r.text());
        let id = r.json()["id"].as_i64().unwrap();
        let roll = rng.next(100);
        let path = |action: &str| format!("/api/v1/conversions/{id}/{action}");
        if *days_ago >= 12 {
            let action = match roll {
                0..6 => "reject",
                _ => "approve",
            };
            assert_eq!(s.post(&path(action), &json!({})).status, 200);
            if (6..10).contains(&roll) {
                assert_eq!(s.post(&path("refund"), &json!({})).status, 200);
            }
        } else if *days_ago >= 5 && roll < 30 {
            assert_eq!(s.post(&path("approve"), &json!({})).status, 200);
        }
        conn.execute("UPDATE conversions SET created_at = ?1, updated_at = ?1 WHERE id = ?2", (at, id)).unwrap();
    }
    // The daily totals follow the back-dated conversions; clicks get a realistic daily count.
    conn.execute_batch(
        "DELETE FROM daily_conversions;
         INSERT INTO daily_conversions (day, affiliate_id, status, currency, conversions, revenue, commission)
         SELECT created_at / 86400000, affiliate_id, status, currency, count(*), sum(amount - refunded_amount), sum(commission)
         FROM conversions GROUP BY 1, 2, 3, 4;
         DELETE FROM daily_clicks;",
    )
    .unwrap();
    let offer_id: i64 =
        conn.query_row("SELECT id FROM offers WHERE public_id = 'storewide'", [], |r| r.get(0)).unwrap();
    // Each conversion came through a click of its own day; a rejected one converted nothing.
    let per_day: Vec<(i64, i64, i64, i64)> = {
        let mut stmt = conn
            .prepare(
                "SELECT created_at / 86400000, affiliate_id, count(*), sum(status != 'rejected') FROM conversions
                 GROUP BY 1, 2",
            )
            .unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))).unwrap().map(Result::unwrap).collect()
    };
    for (day, affiliate_id, conversions, converted) in per_day {
        let clicks = conversions * (28 + rng.next(18) as i64) + rng.next(40) as i64;
        conn.execute(
            "INSERT INTO daily_clicks (day, affiliate_id, offer_id, clicks, converted) VALUES (?1, ?2, ?3, ?4, ?5)",
            (day, affiliate_id, offer_id, clicks, converted),
        )
        .unwrap();
    }
}

#[test]
#[ignore = "writes docs/admin-overview.png; run on purpose"]
fn admin_screenshot() {
    let s = Server::start_with(&["--admin-token", TOKEN], &[]);
    seed_demo(&s);
    let Some(browser) = Browser::start("admin screenshot", 1280, 900) else { return };
    let base = s.url("");
    browser.log_in(&base, TOKEN);
    let page = std::env::var("AFFILIATED_SCREENSHOT_PAGE").unwrap_or_else(|_| "/admin".into());
    browser.goto(&format!("{base}{page}"));
    browser.wait_for("main h1");
    browser.fit_page(1280);
    let png = browser.screenshot();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    let out = std::env::var("AFFILIATED_SCREENSHOT_OUT")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/docs/admin-overview.png").into());
    std::fs::write(&out, &png).unwrap();
    println!("wrote {out} ({} bytes)", png.len());
}
