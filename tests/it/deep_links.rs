//! Deep links (#24): `GET /r/{code}?url=URL` sends the visitor to a page of the shop, with the
//! click ID and the offer's parameters, when the page's host is the offer's landing host or one
//! of its `allowed_hosts` (set through the API and the admin); any other `url` goes to the
//! landing URL and is counted in `/metrics`. Never an open redirect.

use serde_json::json;

use crate::support::{KEY, Server, request};

const BROWSER: (&str, &str) = ("User-Agent", "Mozilla/5.0 (X11; Linux x86_64)");

fn location(r: &crate::support::Resp) -> String {
    assert_eq!(r.status, 302, "{}", r.text());
    r.header("Location").unwrap_or_else(|| panic!("no Location: {r:?}")).to_string()
}

/// Visits `/r/{code}` with the query `query` as a browser would.
fn visit(s: &Server, code: &str, query: &str) -> String {
    location(&request(s.addr, "GET", &format!("/r/{code}?{query}"), &[BROWSER], b""))
}

fn encoded(url: &str) -> String {
    form_urlencoded::byte_serialize(url.as_bytes()).collect()
}

fn patch(s: &Server, path: &str, body: serde_json::Value) -> crate::support::Resp {
    request(s.addr, "PATCH", path, &[("X-Api-Key", KEY)], body.to_string().as_bytes())
}

#[test]
fn offers_take_allowed_hosts_on_create_and_patch_and_check_them() {
    let s = Server::start();
    s.seed();
    let r = s.post(
        "/api/v1/offers",
        &json!({"id": "blog", "name": "Blog", "landing_url": "https://shop.example/",
                "commission": {"type": "percent", "value": "5"}, "allowed_hosts": ["Blog.Shop.Example", "*.cdn.example"]}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["allowed_hosts"], json!(["blog.shop.example", "*.cdn.example"]));
    assert_eq!(s.get("/api/v1/offers/main").json()["allowed_hosts"], json!([]), "none unless set");

    let r = patch(&s, "/api/v1/offers/blog", json!({"name": "Blog posts"}));
    assert_eq!(r.json()["allowed_hosts"], json!(["blog.shop.example", "*.cdn.example"]), "kept when not sent");
    for bad in
        [json!(["*"]), json!(["https://evil.example/"]), json!(["*.com"]), json!(["10.0.0.1"]), json!("x.example")]
    {
        let r = patch(&s, "/api/v1/offers/blog", json!({ "allowed_hosts": bad }));
        assert_eq!(r.status, 400, "{bad}: {}", r.text());
        assert_eq!(r.json()["error"]["code"], "invalid_allowed_hosts", "{bad}");
    }
    let r = patch(&s, "/api/v1/offers/blog", json!({"allowed_hosts": ["news.example"]}));
    assert_eq!(r.json()["allowed_hosts"], json!(["news.example"]));
    let r = patch(&s, "/api/v1/offers/blog", json!({"allowed_hosts": []}));
    assert_eq!(r.json()["allowed_hosts"], json!([]), "an empty list clears them");
}

#[test]
fn a_deep_link_leads_to_the_page_with_a_committed_click_and_the_offers_parameters() {
    let s = Server::start();
    s.seed();
    let to =
        visit(&s, "ann", &format!("url={}&sub1=review", encoded("https://shop.example/product/1?colour=red#specs")));
    let prefix = "https://shop.example/product/1?colour=red&click_id=";
    assert!(to.starts_with(prefix) && to.ends_with("#specs"), "{to}");
    let id = &to[prefix.len()..to.len() - "#specs".len()];
    let click = s.get(&format!("/api/v1/clicks/{id}"));
    assert_eq!(click.status, 200, "the click is committed before the redirect: {}", click.text());
    assert_eq!(click.json()["sub1"], "review");

    // An offer whose landing URL names its own parameters: they come along, filled in, and a
    // visitor's own copies of them are dropped.
    let r = s.post(
        "/api/v1/offers",
        &json!({"id": "spring", "name": "Spring", "commission": {"type": "percent", "value": "5"},
                "landing_url": "https://shop.example/spring?aff={affiliate_id}&cid={click_id}&utm_source=affiliates"}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let url = encoded("https://shop.example/p/2?cid=FORGED&aff=bob&size=m");
    let to = visit(&s, "ann", &format!("offer=spring&url={url}"));
    let (page, cid) = to.split_once("&cid=").unwrap_or_else(|| panic!("{to}"));
    assert_eq!(page, "https://shop.example/p/2?size=m&aff=ann");
    assert!(cid.ends_with("&utm_source=affiliates") && !to.contains("FORGED") && !to.contains("bob"), "{to}");
    let id = cid.trim_end_matches("&utm_source=affiliates");
    assert_eq!(s.get(&format!("/api/v1/clicks/{id}")).json()["offer"], "spring");
}

#[test]
fn any_other_url_goes_to_the_landing_page_and_is_counted() {
    let s = Server::start();
    s.seed();
    let attacks = [
        "https://evil.example/",
        "https://shop.example@evil.example/",
        "https://shop.example.evil.example/",
        "https://evil.example\\@shop.example/",
        "//evil.example/",
        "/\\evil.example",
        "https:evil.example",
        "https:///evil.example",
        "https://evil%2Eexample/",
        "https://shop.example:8443/",
        "http://shop.example/",
        "https://[::1]/",
        "https://shöp.example/",
        "javascript:alert(1)",
        "https://shop.example/\r\nSet-Cookie: x=1",
    ];
    for attack in attacks {
        let to = visit(&s, "ann", &format!("url={}", encoded(attack)));
        assert!(to.starts_with("https://shop.example/landing?click_id="), "{attack:?} led to {to}");
    }
    let long = format!("https://shop.example/{}", "x".repeat(3000));
    let to = visit(&s, "ann", &format!("url={}", encoded(&long)));
    assert!(to.starts_with("https://shop.example/landing?click_id="), "a very long url: {to}");
    let metrics = s.get_public("/metrics").text();
    let refused: u64 = metrics
        .lines()
        .filter(|l| l.starts_with("affiliated_deep_links_refused_total{"))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(refused, attacks.len() as u64 + 1, "{metrics}");
    assert!(metrics.contains("affiliated_deep_links_refused_total{reason=\"not_allowed\"} 3"), "{metrics}");
    assert!(metrics.contains("affiliated_deep_links_refused_total{reason=\"user_info\"} 1"), "{metrics}");
    assert!(metrics.contains("affiliated_deep_links_total 0"), "{metrics}");
    visit(&s, "ann", &format!("url={}", encoded("https://shop.example/ok")));
    assert!(s.get_public("/metrics").text().contains("affiliated_deep_links_total 1"));
}

#[test]
fn allowed_hosts_open_other_sites_of_the_shop_only() {
    let s = Server::start();
    s.seed();
    let blog = format!("url={}", encoded("https://blog.shop.example/review"));
    assert!(visit(&s, "ann", &blog).starts_with("https://shop.example/landing?"), "not allowed yet");
    let r = patch(&s, "/api/v1/offers/main", json!({"allowed_hosts": ["blog.shop.example", "*.cdn.example"]}));
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(visit(&s, "ann", &blog).starts_with("https://blog.shop.example/review?click_id="), "the new host at once");
    let wild = format!("url={}", encoded("https://img.eu.cdn.example/x.png"));
    assert!(visit(&s, "ann", &wild).starts_with("https://img.eu.cdn.example/x.png?click_id="));
    for other in ["https://cdn.example/", "https://evilcdn.example/", "https://blog.shop.example.evil.example/"] {
        let to = visit(&s, "ann", &format!("url={}", encoded(other)));
        assert!(to.starts_with("https://shop.example/landing?"), "{other}: {to}");
    }
}

#[test]
fn visits_without_a_click_still_reach_the_page() {
    let s = Server::start();
    s.seed();
    let query = format!("/r/ann?url={}", encoded("https://shop.example/p/9"));
    for r in [
        request(s.addr, "HEAD", &query, &[BROWSER], b""),
        request(s.addr, "GET", &query, &[("User-Agent", "Googlebot/2.1")], b""),
        request(s.addr, "GET", &query.replace("/r/ann", "/r/nobody"), &[BROWSER], b""),
    ] {
        assert_eq!(location(&r), "https://shop.example/p/9");
    }
}

#[test]
fn the_admin_sets_an_offers_allowed_hosts() {
    let s = Server::start_with(&["--admin-token", crate::admin::TOKEN], &[]);
    s.seed();
    let admin = crate::admin::Session::start(&s);
    let form = admin.get(&s, "/admin/offers/main").text();
    assert!(form.contains("name=\"allowed_hosts\""), "{form}");
    let fields = [
        ("name", "Main"),
        ("landing_url", "https://shop.example/landing"),
        ("commission_type", "percent"),
        ("commission_value", "10"),
        ("allowed_hosts", "blog.shop.example, *.cdn.example"),
    ];
    let r = admin.post(&s, "/admin/offers/main", &fields);
    assert_eq!(r.status, 303, "{}", r.text());
    assert_eq!(s.get("/api/v1/offers/main").json()["allowed_hosts"], json!(["blog.shop.example", "*.cdn.example"]));
    assert!(admin.get(&s, "/admin/offers/main").text().contains("value=\"blog.shop.example *.cdn.example\""));
    let mut bad = fields;
    bad[4] = ("allowed_hosts", "https://evil.example/");
    let r = admin.post(&s, "/admin/offers/main", &bad);
    assert_eq!(r.status, 400);
    assert!(r.text().contains("must be a host name only"), "{}", r.text());
}

#[test]
fn an_empty_url_is_no_deep_link_and_no_refusal() {
    let s = Server::start();
    s.seed();
    let to = visit(&s, "ann", "url=&sub1=x");
    assert!(to.starts_with("https://shop.example/landing?click_id="), "{to}");
    let metrics = s.get_public("/metrics").text();
    assert!(!metrics.contains("affiliated_deep_links_refused_total{"), "{metrics}");
    assert!(metrics.contains("affiliated_deep_links_total 0"), "{metrics}");
}
