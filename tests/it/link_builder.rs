//! The portal's link builder (#24): `GET /portal/links?url=URL` turns a page of the shop into the
//! affiliate's tracking link (refused with the reason when the offer does not lead there), with
//! a QR code drawn inline and downloadable at `/portal/links/qr.svg`. The QR code is read back
//! with an independent decoder (`rqrr`) from the SVG's own squares.

use serde_json::json;

use crate::portal::{Visitor, join};
use crate::support::{KEY, Server, request};

fn encoded(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// The value of the page's built-link field, unescaped (`&amp;` is the only entity in a link).
fn built_link(page: &str) -> Option<String> {
    let at = page.find("id=\"built-link\"")?;
    let value = &page[at..];
    let start = value.find("value=\"")? + "value=\"".len();
    let end = value[start..].find('"')?;
    Some(value[start..start + end].replace("&amp;", "&"))
}

/// Draws the SVG's dark squares (`M{x} {y}h{w}v{h}H{x}V{y}`, 8 units a module) at 4 pixels a
/// module and decodes the QR code in it.
fn decode(svg: &str) -> String {
    let size: usize = svg.split(" width=\"").nth(1).and_then(|w| w.split('"').next()).unwrap().parse().unwrap();
    let path = svg.split("<path").nth(1).unwrap().split(" d=\"").nth(1).unwrap().split('"').next().unwrap();
    let modules = size / 8;
    let mut dark = vec![false; modules * modules];
    for square in path.split('M').filter(|s| !s.is_empty()) {
        let numbers: Vec<usize> =
            square.split(|c: char| !c.is_ascii_digit()).filter(|n| !n.is_empty()).map(|n| n.parse().unwrap()).collect();
        let (x, y, w, h) = (numbers[0] / 8, numbers[1] / 8, numbers[2] / 8, numbers[3] / 8);
        for row in y..y + h {
            for col in x..x + w {
                dark[row * modules + col] = true;
            }
        }
    }
    let pixels = modules * 4;
    let mut image = rqrr::PreparedImage::prepare_from_greyscale(pixels, pixels, |x, y| {
        if dark[(y / 4) * modules + x / 4] { 0 } else { 255 }
    });
    let grids = image.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code in the drawing");
    grids[0].decode().expect("a readable QR code").1
}

fn shop(s: &Server) -> Visitor {
    s.seed();
    let r = request(
        s.addr,
        "PATCH",
        "/api/v1/offers/main",
        &[("X-Api-Key", KEY)],
        json!({"allowed_hosts": ["blog.shop.example"]}).to_string().as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    join(s, "ann")
}

#[test]
fn a_page_of_the_shop_becomes_a_tracking_link_with_its_qr_code() {
    let s = Server::start();
    let mut ann = shop(&s);
    let page_url = "https://blog.shop.example/2026/tents?ref=x#top";
    let page = ann.get(&s, &format!("/portal/links?url={}&sub1=video", encoded(page_url)));
    assert_eq!(page.status, 200);
    let page = page.text();
    let link = built_link(&page).unwrap_or_else(|| panic!("a link is built: {page}"));
    assert_eq!(link, format!("{}?sub1=video&url={}", s.url("/r/ann"), encoded(page_url)));
    assert!(page.contains("Deep links to shop.example and blog.shop.example"), "{page}");
    assert!(page.contains("<svg class=\"qr\" role=\"img\"") && page.contains("viewBox="), "{page}");
    assert!(!page.contains("<?xml"), "the inline drawing has no XML declaration");
    let download = format!("/portal/links/qr.svg?sub1=video&amp;url={}", encoded(page_url));
    assert!(page.contains(&download), "{download} in {page}");

    // The link works: through a click to that page.
    let path = link.strip_prefix(&s.url("")).unwrap();
    let r = request(s.addr, "GET", path, &[("User-Agent", "Mozilla/5.0")], b"");
    assert_eq!(r.status, 302, "{}", r.text());
    let to = r.header("Location").unwrap();
    assert!(to.starts_with("https://blog.shop.example/2026/tents?ref=x&click_id=") && to.ends_with("#top"), "{to}");

    // The QR code is a file to save, and reads as the very same link.
    let r = ann.get(&s, &download.replace("&amp;", "&"));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("Content-Type"), Some("image/svg+xml"));
    assert_eq!(r.header("Content-Disposition"), Some("attachment; filename=\"link-ann.svg\""));
    let svg = r.text();
    assert!(svg.starts_with("<?xml") && svg.contains("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert_eq!(decode(&svg), link);

    // The plain link has a code too (the form sent with nothing but the offer).
    let page = ann.get(&s, "/portal/links?offer=main").text();
    assert_eq!(built_link(&page).as_deref(), Some(s.url("/r/ann").as_str()));
    assert_eq!(decode(&ann.get(&s, "/portal/links/qr.svg?offer=main").text()), s.url("/r/ann"));
}

#[test]
fn a_page_the_offer_does_not_lead_to_is_refused_with_the_reason() {
    let s = Server::start();
    let mut ann = shop(&s);
    for (url, reason) in [
        ("https://evil.example/", "is not on a site this offer links to"),
        ("https://shop.example@evil.example/", "must not contain a user name or password"),
        ("http://shop.example/p", "must start with https://"),
        ("javascript:alert(1)", "must be a whole address starting with https://"),
        ("shop.example/p", "must be a whole address starting with https://"),
    ] {
        let page = ann.get(&s, &format!("/portal/links?url={}", encoded(url)));
        assert_eq!(page.status, 200);
        let page = page.text();
        assert!(page.contains(&format!("That address {reason}")), "{url}: {page}");
        assert!(page.contains("Main links to pages of shop.example and blog.shop.example only."), "{page}");
        assert_eq!(built_link(&page), None, "no link for {url}");
        assert!(!page.contains("<svg class=\"qr\""), "no QR code for {url}");
        let r = ann.get(&s, &format!("/portal/links/qr.svg?url={}", encoded(url)));
        assert_eq!(r.status, 400, "{url}: {}", r.text());
        assert!(r.text().contains(reason), "{url}: {}", r.text());
    }
    // A host allowed by another offer only is checked against the offer chosen.
    let r = s.post(
        "/api/v1/offers",
        &json!({"id": "news", "name": "News", "landing_url": "https://news.example/",
                "commission": {"type": "percent", "value": "5"}}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let page = ann.get(&s, &format!("/portal/links?offer=news&url={}", encoded("https://blog.shop.example/a"))).text();
    assert!(page.contains("That address is not on a site this offer links to"), "{page}");
    let page = ann.get(&s, &format!("/portal/links?offer=news&url={}", encoded("https://news.example/a"))).text();
    assert_eq!(
        built_link(&page),
        Some(format!("{}?offer=news&url={}", s.url("/r/ann"), encoded("https://news.example/a")))
    );
}

#[test]
fn the_qr_code_is_the_affiliates_own_and_needs_a_session() {
    let s = Server::start();
    let mut ann = shop(&s);
    let mut stranger = Visitor::default();
    let r = stranger.get(&s, "/portal/links/qr.svg?offer=main");
    assert_eq!((r.status, r.header("Location")), (303, Some("/portal/login")));
    // Nothing in the query names the affiliate: the code is always the session's.
    let r = ann.get(&s, "/portal/links/qr.svg?offer=main&code=bob&referral_code=bob");
    assert_eq!(decode(&r.text()), s.url("/r/ann"));
}
