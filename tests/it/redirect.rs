//! Tracking links: the click is committed before the 302, the destination only ever comes
//! from the stored offer, and nothing a visitor sends reaches a header.

use std::io::{Read, Write};
use std::net::TcpStream;

use serde_json::json;

use crate::support::{Server, request};

fn location(r: &crate::support::Resp) -> &str {
    r.header("Location").unwrap_or_else(|| panic!("no Location: {r:?}"))
}

fn click_id_of(url: &str) -> String {
    url.split("click_id=").nth(1).unwrap().split(['&', '#']).next().unwrap().to_string()
}

#[test]
fn redirects_with_a_committed_click() {
    let s = Server::start();
    s.seed();
    let r = request(
        s.addr,
        "GET",
        "/r/ann?sub1=spring&sub2=b%20c",
        &[("User-Agent", "Mozilla/5.0 (X11)"), ("Referer", "https://blog.example/post")],
        b"",
    );
    assert_eq!(r.status, 302, "{}", r.text());
    assert_eq!(r.header("Cache-Control"), Some("no-store"));
    let to = location(&r);
    assert!(to.starts_with("https://shop.example/landing?click_id="), "{to}");
    let id = click_id_of(to);
    // The 302 is only sent after the click is committed: it is readable at once.
    let click = s.get(&format!("/api/v1/clicks/{id}"));
    assert_eq!(click.status, 200, "{}", click.text());
    let c = click.json();
    assert_eq!(c["referral_code"], "ann");
    assert_eq!(c["sub1"], "spring");
    assert_eq!(c["sub2"], "b c");
    assert_eq!(c["user_agent"], "Mozilla/5.0 (X11)");
    assert_eq!(c["referrer"], "https://blog.example/post");
    assert_eq!(c["ip"], "127.0.0.0");
    // A conversion can use it.
    let conv = s.post("/api/v1/conversions", &json!({"external_id": "o", "amount": "5", "click_id": id}));
    assert_eq!(conv.status, 201, "{}", conv.text());
}

#[test]
fn macros_are_filled_and_offers_chosen() {
    let s = Server::start();
    s.seed();
    s.post(
        "/api/v1/offers",
        &json!({
            "id": "spring", "name": "Spring", "commission": {"type": "percent", "value": 5},
            "landing_url": "https://shop.example/spring?aff={affiliate_id}&cid={click_id}#top"
        }),
    );
    let r = s.get_public("/r/ann?offer=spring");
    let to = location(&r);
    let id = to.split("cid=").nth(1).unwrap().split('#').next().unwrap().to_string();
    assert_eq!(to, format!("https://shop.example/spring?aff=ann&cid={id}#top"));
    assert_eq!(s.get(&format!("/api/v1/clicks/{id}")).json()["offer"], "spring");
    // Unknown offer names fall back to the default offer.
    let r = s.get_public("/r/ann?offer=nope");
    assert!(location(&r).starts_with("https://shop.example/landing?click_id="));
}

#[test]
fn unknown_codes_still_reach_the_shop_without_a_click() {
    let s = Server::start();
    s.seed();
    let r = s.get_public("/r/nobody");
    assert_eq!(r.status, 302);
    assert_eq!(location(&r), "https://shop.example/landing");
    let clicks: i64 = s.sql().query_row("SELECT count(*) FROM clicks", [], |r| r.get(0)).unwrap();
    assert_eq!(clicks, 0);
    assert!(crate::support::eventually(std::time::Duration::from_secs(5), || s
        .log_text()
        .contains("unknown referral code")));
}

#[test]
fn no_offer_means_no_destination() {
    let s = Server::start();
    s.post("/api/v1/affiliates", &json!({"referral_code": "ann", "name": "Ann"}));
    let r = s.get_public("/r/ann");
    assert_eq!(r.status, 404);
}

#[test]
fn visitors_cannot_redirect_elsewhere_or_inject_headers() {
    let s = Server::start();
    s.seed();
    for path in [
        "/r/ann?url=https://evil.example/",
        "/r/ann?offer=https://evil.example/",
        "/r/ann?offer=//evil.example",
        "/r/ann?sub1=%0d%0aLocation:%20https://evil.example/",
        "/r/ann?sub1=%0d%0aSet-Cookie:%20a=b&sub2=%00%1b",
        "/r/ann%0d%0aX-Evil:%201",
        "/r/%2F%2Fevil.example",
        "/r/ann?source=%0aX-Evil:1",
    ] {
        let r = s.get_public(path);
        assert_eq!(r.status, 302, "{path}: {}", r.text());
        let to = location(&r);
        assert!(to.starts_with("https://shop.example/"), "{path} -> {to}");
        for (name, value) in &r.headers {
            assert!(!name.eq_ignore_ascii_case("Set-Cookie") && !name.eq_ignore_ascii_case("X-Evil"), "{path}: {name}");
            assert!(!value.contains("evil.example"), "{path}: {name}: {value}");
        }
    }
    // Raw bytes on the wire: the only line breaks are the header separators we wrote.
    let mut stream = TcpStream::connect(s.addr).unwrap();
    stream
        .write_all(b"GET /r/ann?sub1=%0D%0AX-Injected:%20yes HTTP/1.1\r\nHost: x\r\nUser-Agent: a\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw);
    assert!(!text.to_ascii_lowercase().contains("\nx-injected"), "{text}");
    // Stored data lost its control characters too.
    let stored: Vec<String> = s
        .sql()
        .prepare("SELECT coalesce(sub1, '') || coalesce(sub2, '') || coalesce(source, '') FROM clicks")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(stored.iter().all(|v| !v.chars().any(char::is_control)), "{stored:?}");
}

#[test]
fn head_requests_do_not_record_clicks() {
    let s = Server::start();
    s.seed();
    let r = request(s.addr, "HEAD", "/r/ann", &[], b"");
    assert_eq!(r.status, 302);
    assert_eq!(location(&r), "https://shop.example/landing");
    let clicks: i64 = s.sql().query_row("SELECT count(*) FROM clicks", [], |r| r.get(0)).unwrap();
    assert_eq!(clicks, 0);
}

#[test]
fn catalog_changes_apply_to_the_next_visitor() {
    let s = Server::start();
    s.seed();
    // Warm every worker's cache with the current default offer.
    for _ in 0..20 {
        assert!(location(&s.get_public("/r/ann")).starts_with("https://shop.example/landing?"));
    }
    let r = s.post(
        "/api/v1/offers",
        &json!({
            "id": "winter", "name": "Winter", "landing_url": "https://shop.example/winter",
            "commission": {"type": "percent", "value": 5}, "default": true
        }),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    for _ in 0..20 {
        let to = location(&s.get_public("/r/ann")).to_string();
        assert!(to.starts_with("https://shop.example/winter?click_id="), "stale default offer: {to}");
    }
    // A new affiliate works at once too (unknown codes are never cached).
    assert_eq!(location(&s.get_public("/r/bob")), "https://shop.example/winter");
    s.post("/api/v1/affiliates", &json!({"referral_code": "bob", "name": "Bob"}));
    assert!(location(&s.get_public("/r/bob")).contains("click_id="));
}
