//! The click snippet in a real browser (headless chromium, see `browser.rs`): a shop's page on
//! an origin of its own includes `/a.js`; the click is stored, the cookie is set, and an order
//! reported with the cookie's value is credited. `snippet_proxy.rs` does the same through the
//! first-party setup of the shipped proxy configurations.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use crate::browser::{Browser, WAIT};
use crate::support::{Server, eventually};

/// A browser's user agent: headless chromium's own says `HeadlessChrome`, which is a bot's.
pub const USER_AGENT: &str =
    "--user-agent=Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36";

type PageList = Arc<Mutex<Vec<(&'static str, &'static str, String)>>>;

/// The shop's web server in these tests: fixed pages by path (the query is ignored), on a port
/// of its own, so that its pages have another origin than the appliance.
pub struct Pages {
    pub addr: SocketAddr,
    pages: PageList,
    stop: Arc<AtomicBool>,
}

impl Pages {
    pub fn start() -> Pages {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (pages, stop): (PageList, _) = (Default::default(), Arc::new(AtomicBool::new(false)));
        let (list, stopping) = (pages.clone(), stop.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(stream) = stream {
                    serve_page(stream, &list.lock().unwrap());
                }
            }
        });
        Pages { addr, pages, stop }
    }

    /// Serves `html` at `path`.
    pub fn set(&self, path: &'static str, html: String) {
        self.set_as(path, "text/html; charset=utf-8", html);
    }

    pub fn set_as(&self, path: &'static str, content_type: &'static str, body: String) {
        self.pages.lock().unwrap().push((path, content_type, body));
    }
}

impl Drop for Pages {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr); // wakes the accept loop, which then sees `stop`
    }
}

fn serve_page(mut stream: TcpStream, pages: &[(&'static str, &'static str, String)]) {
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    // The rest of the head (pages are only fetched with GET, without a body).
    let mut header = String::new();
    while reader.read_line(&mut header).is_ok_and(|n| n > 2) {
        header.clear();
    }
    let path = line.split_whitespace().nth(1).unwrap_or("/").split('?').next().unwrap_or("/");
    let (status, content_type, body) = match pages.iter().find(|(p, _, _)| *p == path) {
        Some((_, content_type, body)) => ("200 OK", *content_type, body.as_str()),
        None => ("404 Not Found", "text/html", "<h1>Not here</h1>"),
    };
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
}

/// A shop page with the snippet's tag(s), and a script after them that must still run.
pub fn page(tags: &str) -> String {
    format!("<!doctype html><title>Shop</title><p>Shoes</p>{tags}<script>window.pageRan = true;</script>")
}

/// Opens `url`, waits until the snippet has done its work (its `ready` promise settled), and
/// returns what the page sees: `window.affiliated.clickId`, `document.cookie`, and whether the
/// page's own script after the snippet ran.
pub fn visit(browser: &Browser, url: &str) -> Value {
    browser.goto(url);
    let loaded = eventually(WAIT, || browser.eval("!!(window.affiliated && window.affiliated.ready)") == json!(true));
    assert!(loaded, "the snippet did not run on {url}: {}", browser.eval("document.documentElement.outerHTML"));
    browser.eval("(window.affiliated.ready.then(function () { window.snippetSettled = true; }), null)");
    let settled = eventually(WAIT, || browser.eval("!!window.snippetSettled") == json!(true));
    assert!(settled, "window.affiliated.ready never settled on {url}");
    browser.eval("{clickId: window.affiliated.clickId, cookie: document.cookie, pageRan: !!window.pageRan}")
}

/// The value of the `affiliated_click_id` cookie in what [`visit`] returned.
pub fn cookie(seen: &Value) -> Option<String> {
    let jar = seen["cookie"].as_str().unwrap_or_default();
    jar.split("; ").find_map(|c| c.strip_prefix("affiliated_click_id=")).map(String::from)
}

pub fn clicks(s: &Server) -> i64 {
    s.sql().query_row("SELECT count(*) FROM clicks", [], |r| r.get(0)).unwrap()
}

/// Asserts that an order reported with `click_id` (as the shop's backend would, from the
/// cookie) is credited to `ann`.
pub fn assert_credited(s: &Server, order: &str, click_id: &str) {
    let r = s.post("/api/v1/conversions", &json!({"external_id": order, "amount": "50.00", "click_id": click_id}));
    assert_eq!(r.status, 201, "{}", r.text());
    let conversion = r.json();
    assert_eq!((&conversion["referral_code"], &conversion["commission"]), (&json!("ann"), &json!("5.00")));
    assert_eq!(conversion["flags"], json!([]), "{conversion}");
}

#[test]
fn a_shop_page_on_another_origin_records_the_click_and_its_cookie_credits_the_order() {
    let pages = Pages::start();
    let shop = format!("http://{}", pages.addr);
    let s = Server::start_with(&["--allowed-origin", &shop, "--min-click-age", "0"], &[]);
    s.seed();
    let tag = format!(r#"<script async src="http://{}/a.js?v=1" data-offer="main"></script>"#, s.addr);
    // Included twice by mistake (a theme and a tag manager): it must still record once.
    pages.set("/landing", page(&format!("{tag}{tag}")));
    pages.set("/later", page(&tag));
    let Some(browser) = Browser::start_with("snippet browser test", 1024, 768, &[USER_AGENT]) else { return };

    let seen = visit(&browser, &format!("{shop}/landing?ref=ann&sub1=browser&aff_sub2=alias&utm_source=x"));
    let id = cookie(&seen).unwrap_or_else(|| panic!("no affiliated_click_id cookie: {seen}"));
    assert_eq!(seen["clickId"], json!(id), "window.affiliated.clickId is the cookie's value");
    assert_eq!(seen["pageRan"], json!(true));
    assert_eq!(clicks(&s), 1, "one click for one page load, however often the tag is included");
    let click = s.get(&format!("/api/v1/clicks/{id}")).json();
    assert_eq!((&click["referral_code"], &click["offer"]), (&json!("ann"), &json!("main")), "{click}");
    assert_eq!(
        (&click["source"], &click["sub1"], &click["sub2"]),
        (&json!("snippet"), &json!("browser"), &json!("alias"))
    );
    assert!(click["user_agent"].as_str().is_some_and(|ua| ua.contains("Chrome/131.0")), "{click}");
    // Cross-origin, the browser tells only the page's origin; a typed-in visit has no referrer.
    assert_eq!((&click["landing_url"], &click["referrer"]), (&json!(format!("{shop}/")), &json!(null)));

    let jar = browser.cookies();
    let stored = jar.iter().find(|c| c["name"] == "affiliated_click_id").expect("the cookie");
    assert_eq!((&stored["path"], &stored["sameSite"], &stored["secure"]), (&json!("/"), &json!("Lax"), &json!(false)));
    assert_eq!(stored["domain"], "127.0.0.1", "a first-party cookie of the page's site: {stored}");
    let days = (stored["expiry"].as_i64().unwrap() - chrono::Utc::now().timestamp()) as f64 / 86_400.0;
    assert!((29.9..=30.0).contains(&days), "the cookie lasts 30 days, not {days}");

    // A later page without a referral code: the ID from the cookie, and no new click.
    let later = visit(&browser, &format!("{shop}/later"));
    assert_eq!((later["clickId"].as_str(), cookie(&later)), (Some(id.as_str()), Some(id.clone())));
    assert_eq!(clicks(&s), 1);

    // The shop's backend reads the cookie at checkout and reports the order with it.
    assert_credited(&s, "browser-order-1", &id);

    // A page of an origin that is not allowed (localhost is another origin than 127.0.0.1):
    // nothing recorded, no cookie, and the page is unharmed.
    let other = visit(&browser, &format!("http://localhost:{}/landing?ref=ann", pages.addr.port()));
    assert_eq!((&other["clickId"], cookie(&other), &other["pageRan"]), (&json!(null), None, &json!(true)), "{other}");
    assert_eq!(clicks(&s), 1);
    assert!(s.log_text().contains("origin is not allowed"), "{}", s.log_text());
}

#[test]
fn the_snippet_never_breaks_a_page_whatever_the_server_answers() {
    let pages = Pages::start();
    let shop = format!("http://{}", pages.addr);
    let s = Server::start_with(&["--allowed-origin", &shop], &[]);
    s.seed();
    let Some(browser) = Browser::start_with("snippet failure test", 1024, 768, &[USER_AGENT]) else { return };
    // data-param replaces the default names.
    pages.set("/own-param", page(&format!(r#"<script src="http://{}/a.js" data-param="partner"></script>"#, s.addr)));
    let ignored = visit(&browser, &format!("{shop}/own-param?ref=ann"));
    assert_eq!((&ignored["clickId"], ignored["pageRan"].as_bool()), (&json!(null), Some(true)));
    assert_eq!(clicks(&s), 0, "with data-param, ?ref= is not a referral code");
    let seen = visit(&browser, &format!("{shop}/own-param?partner=ann"));
    assert!(cookie(&seen).is_some(), "{seen}");
    assert_eq!(clicks(&s), 1);
    browser.eval("(document.cookie = 'affiliated_click_id=; Max-Age=0; Path=/', null)");

    // An unknown code (200 null), and a copy of the script on a host whose /c/ is an HTML 404.
    let script = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/endpoints/snippet.js")).unwrap();
    pages.set_as("/lib/a.js", "text/javascript", script);
    pages.set("/missing", page(r#"<script src="/lib/a.js"></script>"#));
    for url in [format!("{shop}/own-param?partner=nobody"), format!("{shop}/missing?ref=ann")] {
        let seen = visit(&browser, &url);
        assert_eq!((&seen["clickId"], cookie(&seen), &seen["pageRan"]), (&json!(null), None, &json!(true)), "{url}");
    }
    assert_eq!(clicks(&s), 1);
}

/// How many `GET /c/…` requests the server answered 200 (nothing recorded), from /metrics.
fn answered_without_a_click(s: &Server) -> u64 {
    let metrics = s.get_public("/metrics").text();
    let line = r#"affiliated_http_requests_total{method="GET",route="/c/{referral_code}",status="200"} "#;
    metrics.lines().find_map(|l| l.strip_prefix(line)).map_or(0, |n| n.parse().unwrap())
}

/// Issue #21: a page that is not allowed cannot record a click by embedding `/c/` in an
/// element whose request carries no `Origin` (an `<img>`, a `<script src>`, a `no-cors` fetch),
/// and neither can an allowed page that way; the snippet's own fetch from an allowed page does.
#[test]
fn an_embedded_c_request_records_nothing_whatever_the_element() {
    let pages = Pages::start();
    let shop = format!("http://{}", pages.addr);
    let s = Server::start_with(&["--allowed-origin", &shop, "--min-click-age", "0"], &[]);
    s.seed();
    let c = format!("http://{}/c/ann", s.addr);
    let embeds = format!(
        r#"<script>window.finished = 0; function done() {{ window.finished++; }}</script>
        <img src="{c}?sub1=img" onload="done()" onerror="done()">
        <script src="{c}?sub1=script" onload="done()" onerror="done()"></script>
        <script>fetch("{c}?sub1=no-cors", {{mode: "no-cors", credentials: "omit"}}).then(done, done);</script>"#
    );
    pages.set("/embeds", page(&embeds));
    pages.set("/landing", page(&format!(r#"<script async src="http://{}/a.js"></script>"#, s.addr)));
    let Some(browser) = Browser::start_with("embedded click test", 1024, 768, &[USER_AGENT]) else { return };

    // The same page on a disallowed origin (localhost is another origin than 127.0.0.1), then
    // on the allowed one: all three requests reach the server each time, none records a click.
    let mut answered = 0;
    for origin in [format!("http://localhost:{}", pages.addr.port()), shop.clone()] {
        browser.goto(&format!("{origin}/embeds?ref=ann"));
        let finished = eventually(WAIT, || browser.eval("window.finished") == json!(3));
        assert!(finished, "the embeds of {origin} did not all load: {}", browser.eval("window.finished"));
        answered += 3;
        assert!(eventually(WAIT, || answered_without_a_click(&s) == answered), "{}", s.get_public("/metrics").text());
        assert_eq!(clicks(&s), 0, "{origin}");
    }

    // The snippet's own fetch from the allowed page records.
    let seen = visit(&browser, &format!("{shop}/landing?ref=ann"));
    let id = cookie(&seen).unwrap_or_else(|| panic!("no cookie: {seen}"));
    assert_eq!(clicks(&s), 1);
    assert_credited(&s, "embedded-order-1", &id);
}
