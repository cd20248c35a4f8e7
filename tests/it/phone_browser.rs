//! The admin and the portal at a phone's width (390 px) and a laptop's (1280 px), in a real
//! browser (headless chromium through chromedriver, see `browser.rs`). For every main page at
//! both widths the test measures what a person would see: the navigation is one row or a
//! collapsed menu, nothing scrolls sideways (neither the page nor a table), chart text is drawn
//! at 11 px or more, and a date cell takes at most two lines. Each page's screenshot is saved
//! under `target/screenshots/` for people to look at.

use serde_json::Value;

use crate::admin_browser::{TOKEN, seed_demo};
use crate::browser::Browser;
use crate::portal::{PASSWORD, join};
use crate::support::Server;

/// The widths every page is checked at: a phone and a laptop.
const WIDTHS: [u32; 2] = [390, 1280];

const ADMIN_PAGES: &[&str] = &[
    "/admin",
    "/admin/conversions",
    "/admin/affiliates",
    "/admin/offers",
    "/admin/balances",
    "/admin/payouts",
    "/admin/postbacks",
    "/admin/coupons",
    "/admin/hooks",
    "/admin/webhooks",
    "/admin/emails",
    "/admin/reconcile",
    "/admin/affiliates/trailsummit",
    "/admin/offers/storewide",
];
const PORTAL_PAGES: &[&str] = &[
    "/portal",
    "/portal/links",
    "/portal/links?sub1=phone",
    "/portal/conversions",
    "/portal/payouts",
    "/portal/settings",
];

/// What a page measures in the browser (one script, read as JSON).
const MEASURE: &str = r#"(function(){
  var width = window.innerWidth;
  var header = document.querySelector('header.top');
  var shown = function(el){ return !!el && getComputedStyle(el).display !== 'none' && el.getClientRects().length > 0; };
  var bar = document.querySelector('header.top nav.bar');
  var menu = document.querySelector('header.top details.menu');
  var rows = 0;
  if (shown(bar)) {
    var tops = {};
    bar.querySelectorAll(':scope > a, :scope > details > summary').forEach(function(a){ tops[Math.round(a.getBoundingClientRect().top)] = 1; });
    rows = Object.keys(tops).length;
  }
  var smallest = 1000;
  document.querySelectorAll('.chart-axis span, svg.chart text').forEach(function(t){
    var size = parseFloat(getComputedStyle(t).fontSize);
    var scale = t.getScreenCTM ? t.getScreenCTM().a : 1;
    if (t.getClientRects().length > 0) smallest = Math.min(smallest, size * scale);
  });
  var tables = [];
  document.querySelectorAll('.table').forEach(function(t){ tables.push([t.scrollWidth, t.clientWidth]); });
  var dates = [];
  document.querySelectorAll('td.when').forEach(function(td){
    if (td.getClientRects().length === 0) return;
    var range = document.createRange();
    range.selectNodeContents(td);
    var tops = Array.from(range.getClientRects()).map(function(r){ return r.top; }).sort(function(a, b){ return a - b; });
    var lines = 0, last = -1000;
    tops.forEach(function(top){ if (top - last > 4) { lines += 1; last = top; } });
    dates.push(lines);
  });
  return {
    width: width,
    scroll_width: document.documentElement.scrollWidth, client_width: document.documentElement.clientWidth,
    header_height: header ? header.getBoundingClientRect().height : 0,
    bar_shown: shown(bar), menu_shown: shown(menu), bar_rows: rows,
    smallest_chart_text: smallest, tables: tables, date_lines: dates,
    charts: document.querySelectorAll('svg.chart').length
  };
})()"#;

/// Where the screenshots go: `target/screenshots/`.
fn screenshot_dir() -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Opens `path` at `width`, saves its screenshot and checks what a person would see.
fn check_page(browser: &Browser, base: &str, path: &str, width: u32) -> Value {
    browser.resize(width, 900);
    browser.goto(&format!("{base}{path}"));
    browser.wait_for("main h1");
    let m = browser.eval(MEASURE);
    let name: String =
        path.trim_start_matches('/').chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
    let name = format!("{name}-{width}.png");
    browser.fit_page(width);
    std::fs::write(screenshot_dir().join(&name), browser.screenshot()).unwrap();
    let at = format!("{path} at {width} px: {m}");
    let number = |key: &str| m[key].as_f64().unwrap_or_else(|| panic!("{key} missing: {at}"));
    assert!(number("scroll_width") <= number("client_width"), "the page scrolls sideways: {at}");
    if width < 720 {
        assert!(m["menu_shown"] == true && m["bar_shown"] == false, "a phone gets the menu: {at}");
    } else {
        assert!(m["bar_shown"] == true && m["menu_shown"] == false, "a laptop gets the bar: {at}");
        assert_eq!(number("bar_rows"), 1.0, "the navigation is one row: {at}");
    }
    assert!(number("header_height") <= 64.0, "the header is one row high: {at}");
    if number("charts") > 0.0 {
        assert!(number("smallest_chart_text") >= 11.0, "chart text is legible: {at}");
    }
    for table in m["tables"].as_array().unwrap() {
        let (scroll, client) = (table[0].as_f64().unwrap(), table[1].as_f64().unwrap());
        assert!(scroll <= client + 1.0, "a table scrolls sideways ({scroll} > {client}): {at}");
    }
    if path.ends_with("/conversions") {
        assert!(!m["date_lines"].as_array().unwrap().is_empty(), "the conversions' dates are measured: {at}");
    }
    for lines in m["date_lines"].as_array().unwrap() {
        assert!(lines.as_f64().unwrap() <= 2.0, "a date takes {lines} lines: {at}");
    }
    m
}

#[test]
fn the_admin_and_the_portal_read_well_on_a_phone_and_a_laptop() {
    let s = Server::start_with(&["--admin-token", TOKEN], &[]);
    seed_demo(&s);
    let _ = join(&s, "trailsummit");
    let Some(browser) = Browser::start("phone and laptop browser test", 1280, 900) else { return };
    let base = s.url("");
    browser.log_in(&base, TOKEN);
    for path in ADMIN_PAGES {
        for width in WIDTHS {
            check_page(&browser, &base, path, width);
        }
    }
    browser.goto(&format!("{base}/portal/login"));
    browser.type_into(&browser.wait_for("input[name=referral_code]"), "trailsummit");
    browser.type_into(&browser.wait_for("input[name=password]"), PASSWORD);
    browser.click(&browser.wait_for("form[action='/portal/login'] button[type=submit]"));
    browser.wait_for("header.top nav");
    menu_opens(&browser, &base, "/admin/payouts");
    for path in PORTAL_PAGES {
        for width in WIDTHS {
            check_page(&browser, &base, path, width);
        }
    }
}

/// On a phone, the Menu button opens every page of the navigation, grouped, the page shown
/// marked, without the page growing sideways.
fn menu_opens(browser: &Browser, base: &str, path: &str) {
    browser.resize(390, 900);
    browser.goto(&format!("{base}{path}"));
    browser.click(&browser.wait_for("header.top details.menu > summary"));
    let m = browser.eval(
        "(function(){var links=Array.from(document.querySelectorAll('header.top details.menu nav a'));\
         return {shown: links.filter(function(a){return a.getClientRects().length>0;}).length, total: links.length,\
         on: links.filter(function(a){return a.classList.contains('on');}).map(function(a){return a.getAttribute('href');}),\
         groups: document.querySelectorAll('header.top details.menu .group-label').length,\
         scroll_width: document.documentElement.scrollWidth, client_width: document.documentElement.clientWidth};})()",
    );
    assert!(m["total"].as_u64().unwrap() >= 10 && m["shown"] == m["total"], "every page is in the open menu: {m}");
    assert_eq!(m["on"], serde_json::json!([path]), "{m}");
    assert!(m["groups"].as_u64().unwrap() >= 3, "{m}");
    assert!(m["scroll_width"].as_f64() <= m["client_width"].as_f64(), "{m}");
    std::fs::write(screenshot_dir().join("admin-menu-390.png"), browser.screenshot()).unwrap();
}
