//! The deep-link rule against the ways a browser can be made to read a URL differently from a
//! naive check: each attack of the kind is one case here.

use super::*;

const LANDING: &str = "https://shop.example/landing?ref={affiliate_id}";
const ID: &str = "0abcdefgHIJKLMNOPQRSTUVWXYZ_-9";

fn allowed(hosts: &[&str]) -> Vec<String> {
    check_allowed_hosts(hosts.iter().copied()).unwrap()
}

fn verdict(url: &str) -> Result<(), Refusal> {
    check(url, LANDING, &allowed(&["blog.example", "*.cdn-shop.example", "xn--shp-sna.example"]))
}

fn visit(click_id: Option<&str>) -> Visit<'_> {
    Visit { click_id, referral_code: "ann", offer_id: "main", subs: [Some("news letter"), None, None, None, None] }
}

#[test]
fn pages_of_the_shop_and_of_allowed_hosts_are_accepted() {
    for url in [
        "https://shop.example/",
        "https://shop.example",
        "https://shop.example/product/1?colour=red#reviews",
        "HTTPS://SHOP.EXAMPLE/Product/1",
        "https://shop.example:443/p",
        "https://shop.example./p",
        "https://blog.example/review",
        "https://img.cdn-shop.example/x",
        "https://a.b.cdn-shop.example/x",
        "https://xn--shp-sna.example/",
        "https://shop.example/men's-shoes?q=a+b&x=%C3%A9",
        "https://shop.example/p?next=https://evil.example/",
        "https://shop.example#@evil.example",
    ] {
        assert_eq!(verdict(url), Ok(()), "{url}");
    }
    let long = format!("https://shop.example/{}", "x".repeat(MAX_URL_LEN - "https://shop.example/".len()));
    assert_eq!(long.len(), MAX_URL_LEN);
    assert_eq!(verdict(&long), Ok(()));
}

#[test]
fn other_hosts_are_refused() {
    for url in [
        "https://evil.example/",
        "https://shop.example.evil.example/",
        "https://evilshop.example/",
        "https://cdn-shop.example/",
        "https://evil-cdn-shop.example/",
        "https://blog.example.evil.example/",
        "https://shop.example.evil.example./",
        "https://evil.example./",
    ] {
        assert_eq!(verdict(url), Err(Refusal::NotAllowed), "{url}");
    }
}

#[test]
fn user_info_is_refused_whichever_side_names_the_shop() {
    for url in [
        "https://shop.example@evil.example/",
        "https://evil.example@shop.example/",
        "https://shop.example:443@evil.example/",
        "https://user:pass@shop.example/",
        "https://@shop.example/",
    ] {
        assert_eq!(verdict(url), Err(Refusal::UserInfo), "{url}");
    }
}

#[test]
fn backslashes_and_characters_browsers_strip_or_rewrite_are_refused() {
    for url in [
        "https://evil.example\\@shop.example/",
        "https://shop.example\\.evil.example/",
        "https:\\\\evil.example/",
        "https://shop.example/\r\nLocation: https://evil.example/",
        "https://shop.example/\nx",
        "https://sho\tp.example/",
        " https://evil.example/",
        "https://shop.example/ ",
        "https://shop.example/\u{0}",
        "https://shop.example/\u{7f}",
        "https://shöp.example/",
        "https://shop.exаmple/",
        "https://shop.example/ünïcode",
        "https://shop.example/{click_id}",
        "https://shop.example/\"onmouseover=\"x",
        "https://shop.example/<script>",
        "https://shop.example/|",
    ] {
        assert_eq!(verdict(url), Err(Refusal::Characters), "{url:?}");
    }
}

#[test]
fn relative_and_scheme_tricks_are_refused() {
    for url in [
        "//evil.example/",
        "/\\evil.example/",
        "/path",
        "shop.example/p",
        "https:evil.example",
        "https:/evil.example/",
        "https:///evil.example/",
        "https://",
        "https://?x",
        "https://#x",
        "javascript:alert(1)//https://shop.example/",
        "data:text/html,<b>https://shop.example/</b>",
        "ftp://shop.example/",
        "file://shop.example/etc/passwd",
        "httpx://shop.example/",
        "",
    ] {
        let refused = verdict(url);
        assert!(matches!(refused, Err(Refusal::NotAbsolute | Refusal::Characters)), "{url:?} gave {refused:?}");
    }
}

#[test]
fn percent_encoded_and_numeric_hosts_are_refused() {
    for url in [
        "https://evil%2Eexample/",
        "https://shop%2eexample/",
        "https://%73hop.example/",
        "https://shop.example%2F.evil.example/",
        "https://127.0.0.1/",
        "https://0x7f.1/",
        "https://2130706433/",
        "https://[::1]/",
        "https://[::ffff:127.0.0.1]/",
        "https://shop..example/",
        "https://-shop.example/",
        "https://shop.example:/",
        "https://shop.example:99999/",
    ] {
        let refused = verdict(url);
        assert!(
            matches!(refused, Err(Refusal::Host | Refusal::NotAllowed | Refusal::Port)),
            "{url:?} gave {refused:?}"
        );
    }
    assert_eq!(verdict("https://evil%2Eexample/"), Err(Refusal::Host));
}

#[test]
fn ports_other_than_the_shops_are_refused() {
    assert_eq!(verdict("https://shop.example:8443/p"), Err(Refusal::Port));
    assert_eq!(verdict("https://blog.example:8080/p"), Err(Refusal::Port));
    assert_eq!(verdict("https://blog.example:443/p"), Ok(()));
    let own_port = "https://shop.example:8443/landing";
    assert_eq!(check("https://shop.example:8443/p", own_port, &[]), Ok(()));
    assert_eq!(check("https://shop.example:9443/p", own_port, &[]), Err(Refusal::Port));
    assert_eq!(check("https://blog.example:8443/p", own_port, &allowed(&["blog.example"])), Err(Refusal::Port));
}

#[test]
fn an_https_shop_is_never_linked_over_http() {
    assert_eq!(verdict("http://shop.example/p"), Err(Refusal::Insecure));
    assert_eq!(check("http://shop.example/p", "http://shop.example/", &[]), Ok(()));
    assert_eq!(check("https://shop.example/p", "http://shop.example/", &[]), Ok(()));
    assert_eq!(check("http://shop.example:80/p", "http://shop.example/", &[]), Ok(()));
}

#[test]
fn very_long_urls_are_refused() {
    let long = format!("https://shop.example/{}", "x".repeat(MAX_URL_LEN));
    assert_eq!(verdict(&long), Err(Refusal::TooLong));
    assert_eq!(verdict(&"https://shop.example/".repeat(10_000)), Err(Refusal::TooLong));
}

#[test]
fn allowed_hosts_are_plain_names_or_one_leading_wildcard() {
    assert_eq!(
        allowed(&["Blog.Example", "*.CDN.shop.example", "blog.example", "shop.example."]),
        vec!["blog.example", "*.cdn.shop.example", "shop.example"]
    );
    for bad in [
        "*",
        "*.com",
        "*.",
        "shop.*.example",
        "*shop.example",
        "**.shop.example",
        "https://shop.example",
        "shop.example/path",
        "shop.example:443",
        "user@shop.example",
        "192.168.0.1",
        "0x7f.1",
        "[::1]",
        "localhost",
        "-bad.example",
        "shop..example",
        "exämple.com",
        "shop_1.example",
        "",
    ] {
        assert!(check_allowed_host(bad).is_err(), "{bad:?} was accepted");
    }
    let many: Vec<String> = (0..=MAX_ALLOWED_HOSTS).map(|i| format!("h{i}.example")).collect();
    assert!(check_allowed_hosts(many.iter().map(String::as_str)).is_err());
}

#[test]
fn a_wildcard_covers_subdomains_only() {
    assert!(matches("*.shop.example", "a.shop.example"));
    assert!(matches("*.shop.example", "a.b.shop.example"));
    assert!(!matches("*.shop.example", "shop.example"));
    assert!(!matches("*.shop.example", "evilshop.example"));
    assert!(!matches("*.shop.example", ".shop.example"));
    assert!(!matches("shop.example", "a.shop.example"));
}

#[test]
fn the_destination_carries_the_offers_parameters_and_the_click() {
    let v = visit(Some(ID));
    assert_eq!(
        destination("https://shop.example/p/1", LANDING, &v),
        format!("https://shop.example/p/1?ref=ann&click_id={ID}")
    );
    assert_eq!(
        destination("https://shop.example/p/1?colour=red#reviews", LANDING, &v),
        format!("https://shop.example/p/1?colour=red&ref=ann&click_id={ID}#reviews")
    );
    let own = "https://shop.example/?cid={click_id}&s={sub1}&utm_source=affiliates#top";
    assert_eq!(
        destination("https://shop.example/p?a=1&", own, &v),
        format!("https://shop.example/p?a=1&cid={ID}&s=news%20letter&utm_source=affiliates")
    );
    assert_eq!(
        destination("https://shop.example/p", "https://shop.example/", &v),
        format!("https://shop.example/p?click_id={ID}")
    );
}

#[test]
fn the_visitor_cannot_bring_tracking_parameters_of_their_own() {
    let v = visit(Some(ID));
    let url = "https://shop.example/p?click_id=FAKE&c%6Cick_id=FAKE2&ref=bob&keep=1&ref%3D=x";
    assert_eq!(destination(url, LANDING, &v), format!("https://shop.example/p?keep=1&ref%3D=x&ref=ann&click_id={ID}"));
}

#[test]
fn without_a_click_nothing_is_added_but_the_offers_parameters() {
    let v = visit(None);
    assert_eq!(destination("https://shop.example/p?click_id=FAKE", LANDING, &v), "https://shop.example/p?ref=ann");
    assert_eq!(destination("https://shop.example/p", "https://shop.example/", &v), "https://shop.example/p");
}

#[test]
fn a_destination_keeps_its_host() {
    let allowed = allowed(&["blog.example"]);
    for url in ["https://shop.example/p", "https://blog.example/x?y=1#z", "HTTPS://Shop.Example./p"] {
        assert_eq!(check(url, LANDING, &allowed), Ok(()));
        for code in ["x@evil.example", "//evil.example", "\r\nLocation: https://evil.example"] {
            let v = Visit { referral_code: code, ..visit(Some(ID)) };
            let out = destination(url, LANDING, &v);
            assert_eq!(check(&out, LANDING, &allowed), Ok(()), "{out}");
            let want = link::parse_absolute(url).unwrap().host;
            assert_eq!(link::parse_absolute(&out).unwrap().host, want);
        }
    }
}

#[test]
fn names_are_compared_decoded() {
    assert!(name_is("click_id", "click_id"));
    assert!(name_is("c%6Cick_id", "click_id"));
    assert!(name_is("click%5Fid", "click_id"));
    assert!(name_is("a+b", "a b"));
    assert!(!name_is("click_id2", "click_id"));
    assert!(!name_is("click_i", "click_id"));
    assert!(!name_is("click_id%", "click_id"));
    assert!(name_is("%", "%") && name_is("%4", "%4") && !name_is("%zz", "z"));
}
