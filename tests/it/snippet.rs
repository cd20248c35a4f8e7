//! The click snippet over HTTP: `GET /a.js` (small, cacheable JavaScript) and `GET /c/{code}`
//! (a click with source `snippet` under the rules of tracking links, JSON whatever happens,
//! CORS only for `--allowed-origin`). The snippet in a real browser is `snippet_browser.rs`.

use serde_json::{Value, json};

use crate::support::{BROWSER, KEY, Resp, Server, bin, request};

const SHOP: &str = "https://shop.example";

/// `GET /c/{path}` as the snippet sends it, with these extra headers. Like a browser, it says
/// `Sec-Fetch-Site: same-origin` (the snippet served first-party) unless it names an `Origin`
/// (a page of another origin: `cross-site`) or a `Sec-Fetch-Site` of its own.
fn c(s: &Server, path: &str, headers: &[(&str, &str)]) -> Resp {
    let named = |name: &str| headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(name));
    let mut all = headers.to_vec();
    if !named("Sec-Fetch-Site") {
        all.push(("Sec-Fetch-Site", if named("Origin") { "cross-site" } else { "same-origin" }));
    }
    request(s.addr, "GET", &format!("/c/{path}"), &all, b"")
}

fn clicks(s: &Server) -> i64 {
    s.sql().query_row("SELECT count(*) FROM clicks", [], |r| r.get(0)).unwrap()
}

fn click(s: &Server, id: &Value) -> Value {
    let r = s.get(&format!("/api/v1/clicks/{}", id.as_str().unwrap()));
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

/// Asserts an answer that recorded nothing: 200 `{"click_id": null}`.
fn assert_nothing(r: &Resp, why: &str) {
    assert_eq!((r.status, r.json()), (200, json!({"click_id": null})), "{why}: {}", r.text());
}

#[test]
fn a_js_is_small_cacheable_javascript_with_an_etag() {
    let s = Server::start();
    let r = s.get_public("/a.js");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Type"), Some("text/javascript; charset=utf-8"));
    assert!(r.body.len() < 2048, "a.js is {} bytes on the wire", r.body.len());
    let source = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/src/endpoints/snippet.js")).unwrap();
    assert_eq!(r.body, source, "served as written");
    assert_eq!(r.header("Cache-Control"), Some("public, max-age=86400"));
    let etag = r.header("ETag").expect("an ETag").to_string();
    assert!(etag.starts_with('"') && etag.ends_with('"') && etag.len() > 10, "{etag}");
    assert!(r.header("Set-Cookie").is_none());

    // A cached copy that is still current: 304, no body, the same validators.
    for header in [etag.clone(), format!("W/{etag}"), format!("\"old\", {etag}")] {
        let again = request(s.addr, "GET", "/a.js", &[("If-None-Match", &header)], b"");
        assert_eq!(again.status, 304, "{header}: {}", again.text());
        assert!(again.body.is_empty() && again.header("Content-Length").is_none(), "{again:?}");
        assert_eq!(again.header("ETag"), Some(etag.as_str()));
        assert_eq!(again.header("Cache-Control"), Some("public, max-age=86400"));
    }
    let stale = request(s.addr, "GET", "/a.js", &[("If-None-Match", "\"old\"")], b"");
    assert_eq!((stale.status, stale.body.len()), (200, source.len()));
    let head = request(s.addr, "HEAD", "/a.js", &[], b"");
    assert_eq!(head.status, 200);
    assert_eq!(head.header("Content-Length"), Some(source.len().to_string().as_str()));
    assert_eq!(head.header("ETag"), Some(etag.as_str()));
    request(s.addr, "POST", "/a.js", &[], b"").assert_error(405, "method_not_allowed");
}

#[test]
fn a_snippet_click_is_recorded_like_a_tracking_link_visit_with_source_snippet() {
    let s = Server::start_with(&["--trusted-proxy", "127.0.0.1", "--store-ip", "full"], &[]);
    s.seed();
    let landing = format!("{SHOP}/shoes?ref=ann&sub1=spring");
    let headers = [("Referer", landing.as_str()), ("X-Forwarded-For", "203.0.113.9")];
    let r = c(&s, "ann?offer=main&sub1=spring&sub5=e&referrer=https%3A%2F%2Fblog.example%2Freview", &headers);
    assert_eq!(r.status, 201, "{}", r.text());
    let body = r.json();
    assert_eq!(body.as_object().unwrap().len(), 1, "{body}");
    assert_eq!(r.header("Cache-Control"), Some("no-store"));
    assert!(r.header("Set-Cookie").is_none(), "the server sets no cookie");
    assert!(r.header("Access-Control-Allow-Origin").is_none(), "no Origin, no CORS");
    let stored = click(&s, &body["click_id"]);
    assert_eq!(stored["referral_code"], "ann");
    assert_eq!(stored["offer"], "main");
    assert_eq!(stored["source"], "snippet");
    assert_eq!(stored["landing_url"], landing.as_str());
    assert_eq!(stored["referrer"], "https://blog.example/review");
    assert_eq!(stored["ip"], "203.0.113.9", "the visitor's address through the trusted proxy");
    assert_eq!(stored["user_agent"], BROWSER);
    assert_eq!((&stored["sub1"], &stored["sub2"], &stored["sub5"]), (&json!("spring"), &json!(null), &json!("e")));

    // An empty `referrer` is a direct visit; without the parameter, `Referer` is the referrer.
    let direct = c(&s, "ann?referrer=", &[("Referer", SHOP)]).json();
    assert_eq!(click(&s, &direct["click_id"])["referrer"], json!(null));
    let plain = c(&s, "ann", &[("Referer", "https://other.example/page")]).json();
    let plain = click(&s, &plain["click_id"]);
    assert_eq!(
        (&plain["referrer"], &plain["landing_url"]),
        (&plain["landing_url"], &json!("https://other.example/page"))
    );
    assert_eq!(plain["source"], "snippet", "the source cannot be chosen by the page");
    // HasOffers' names of the sub IDs work as on tracking links.
    let aliased = c(&s, "ann?aff_sub=a&aff_sub3=c&sub3=wins", &[]).json();
    let aliased = click(&s, &aliased["click_id"]);
    assert_eq!((&aliased["sub1"], &aliased["sub3"]), (&json!("a"), &json!("wins")));

    // The click credits a conversion like any other.
    let r = s.post(
        "/api/v1/conversions",
        &json!({"external_id": "snip-1", "amount": "80.00", "click_id": body["click_id"]}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!((&r.json()["referral_code"], &r.json()["commission"]), (&json!("ann"), &json!("8.00")));
}

#[test]
fn nothing_is_recorded_for_heads_bots_unknown_codes_or_paused_programs() {
    let s = Server::start();
    s.seed();
    let head = request(s.addr, "HEAD", "/c/ann", &[], b"");
    assert_eq!(head.status, 200, "HEAD shows the answer's headers and records nothing");
    assert_nothing(&c(&s, "ann", &[("User-Agent", "curl/8.5.0")]), "curl");
    assert_nothing(&c(&s, "ann", &[("User-Agent", "Mozilla/5.0 (compatible; Googlebot/2.1)")]), "a crawler");
    assert_nothing(&c(&s, "ann", &[("User-Agent", "")]), "no user agent");
    assert_nothing(&c(&s, "nobody", &[]), "an unknown code");
    assert_eq!(clicks(&s), 0);
    let metrics = s.get_public("/metrics").text();
    assert!(metrics.contains("affiliated_bot_visits_total 3"), "{metrics}");

    // An unknown offer falls back to the default offer, as tracking links do.
    let r = c(&s, "ann?offer=nope", &[]);
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(click(&s, &r.json()["click_id"])["offer"], "main");

    let patch =
        |path: &str, body: Value| request(s.addr, "PATCH", path, &[("X-Api-Key", KEY)], body.to_string().as_bytes());
    assert_eq!(patch("/api/v1/affiliates/ann", json!({"status": "paused"})).status, 200);
    assert_nothing(&c(&s, "ann", &[]), "a paused affiliate");
    assert_eq!(patch("/api/v1/affiliates/ann", json!({"status": "active"})).status, 200);
    assert_eq!(patch("/api/v1/offers/main", json!({"status": "paused"})).status, 200);
    assert_nothing(&c(&s, "ann", &[]), "a paused offer");
    assert_eq!(clicks(&s), 1);
    assert_eq!(patch("/api/v1/offers/main", json!({"status": "active"})).status, 200);
    assert_eq!(c(&s, "ann", &[]).status, 201);
}

#[test]
fn a_flood_from_one_address_is_flagged_like_tracking_link_clicks() {
    let s = Server::start_with(&["--max-clicks-per-ip", "2"], &[]);
    s.seed();
    let ids: Vec<Value> = (0..3).map(|_| c(&s, "ann", &[]).json()["click_id"].clone()).collect();
    assert_eq!(click(&s, &ids[1])["flags"], json!([]));
    assert_eq!(click(&s, &ids[2])["flags"], json!(["click_flood"]));
}

#[test]
fn cors_names_only_allowed_origins_and_other_origins_record_nothing() {
    let s = Server::start_with(&["--allowed-origin", SHOP, "--allowed-origin", "http://127.0.0.1:8081"], &[]);
    s.seed();
    for origin in [SHOP, "http://127.0.0.1:8081"] {
        let r = c(&s, "ann", &[("Origin", origin)]);
        assert_eq!(r.status, 201, "{origin}: {}", r.text());
        assert_eq!(r.header("Access-Control-Allow-Origin"), Some(origin));
        assert_eq!(r.header("Vary"), Some("Origin"));
        assert!(r.header("Access-Control-Allow-Credentials").is_none(), "no credentials");
    }
    // Other origins: no CORS headers, and nothing recorded (their pages could not keep the ID).
    for origin in ["https://evil.example", "https://shop.example.evil.example", "null", "https://SHOP.example"] {
        let r = c(&s, "ann", &[("Origin", origin)]);
        assert_nothing(&r, origin);
        assert!(r.headers.iter().all(|(k, _)| !k.to_ascii_lowercase().starts_with("access-control-")), "{r:?}");
        assert_eq!(r.header("Vary"), Some("Origin"));
    }
    // A same-origin call (the snippet served through the shop's proxy, whose Host it keeps).
    let own = format!("http://{}", s.addr);
    let r = c(&s, "ann", &[("Origin", &own), ("Sec-Fetch-Site", "same-origin")]);
    assert_eq!(r.status, 201, "{}", r.text());
    assert!(r.header("Access-Control-Allow-Origin").is_none());
    assert_eq!(clicks(&s), 3);
    assert!(s.log_text().contains("origin is not allowed (--allowed-origin)"), "{}", s.log_text());

    // The snippet's request is a simple GET, which browsers send without a preflight: there is
    // no OPTIONS route to answer one.
    let r = request(s.addr, "OPTIONS", "/c/ann", &[("Origin", SHOP)], b"");
    assert_eq!(r.status, 405, "{}", r.text());

    // The variable holds a comma-separated list.
    let env = Server::start_with(&[], &[("AFFILIATED_ALLOWED_ORIGINS", "https://a.example, https://b.example:8443")]);
    env.seed();
    let r = c(&env, "ann", &[("Origin", "https://b.example:8443")]);
    assert_eq!(r.header("Access-Control-Allow-Origin"), Some("https://b.example:8443"), "{}", r.text());
}

/// Issue #21: a click is recorded only when the request proves it comes from an allowed page,
/// with an allowed `Origin` or `Sec-Fetch-Site: same-origin`. What an `<img>`, a `<script src>`
/// or a `no-cors` fetch on another site's page sends (no `Origin`, `cross-site`), what a
/// program sends (nothing), and every other combination record nothing.
#[test]
fn a_click_is_recorded_only_for_a_request_that_proves_its_page() {
    let s = Server::start_with(&["--allowed-origin", SHOP], &[]);
    s.seed();
    let own = format!("http://{}", s.addr);
    for (headers, why) in [
        (&[][..], "no Origin, no Sec-Fetch-Site: a program, or a browser too old to say"),
        (&[("Sec-Fetch-Site", "cross-site")][..], "an <img>, <script src> or no-cors fetch on another site"),
        (&[("Sec-Fetch-Site", "same-site")][..], "a page of a sibling subdomain, without CORS"),
        (&[("Sec-Fetch-Site", "none")][..], "typed into the address bar"),
        (&[("Origin", own.as_str())][..], "its own origin without Sec-Fetch-Site"),
        (&[("Origin", "https://evil.example"), ("Sec-Fetch-Site", "same-origin")][..], "another origin"),
    ] {
        let r = request(s.addr, "GET", "/c/ann", headers, b"");
        assert_nothing(&r, why);
        assert!(r.header("Access-Control-Allow-Origin").is_none(), "{why}");
    }
    assert_eq!(clicks(&s), 0);
    let first_party = request(s.addr, "GET", "/c/ann", &[("Sec-Fetch-Site", "same-origin")], b"");
    assert_eq!(first_party.status, 201, "{}", first_party.text());
    let cors = request(s.addr, "GET", "/c/ann", &[("Origin", SHOP), ("Sec-Fetch-Site", "cross-site")], b"");
    assert_eq!((cors.status, cors.header("Access-Control-Allow-Origin")), (201, Some(SHOP)), "{}", cors.text());
    assert_eq!(clicks(&s), 2);
    assert!(
        s.log_text().contains("request(s) to /c/ recorded nothing: they did not show they come from an allowed page"),
        "{}",
        s.log_text()
    );
}

#[test]
fn a_malformed_allowed_origin_stops_serve_with_exit_2_and_a_suggestion() {
    let dir = tempfile::tempdir().unwrap();
    for (args, env, says) in [
        (&["--allowed-origin", "https://shop.example/"][..], None, "write \"https://shop.example\""),
        (&["--allowed-origin", "shop.example"][..], None, "scheme://host[:port]"),
        (&[][..], Some("https://a.example,https://b.example/checkout"), "without a path"),
    ] {
        let mut cmd = std::process::Command::new(bin());
        cmd.arg("serve").args(["--db", "x.db", "--listen", "127.0.0.1:0"]).args(args).current_dir(dir.path());
        cmd.env_clear().env("AFFILIATED_API_KEY", KEY);
        if let Some(list) = env {
            cmd.env("AFFILIATED_ALLOWED_ORIGINS", list);
        }
        let out = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?} {env:?}: {stderr}");
        assert!(stderr.contains("--allowed-origin") && stderr.contains(says), "{stderr}");
    }
    assert!(!dir.path().join("x.db").exists(), "a usage error creates no database");
}
