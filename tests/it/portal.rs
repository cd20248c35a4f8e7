//! The affiliate portal, first of all its isolation: an affiliate sees only their own numbers,
//! links, conversions, payouts and settings, and any id of another affiliate's, in a path or in
//! any query parameter, is the same 404 as an id that does not exist. Also the helpers the
//! other portal tests use: a visitor with its cookies, invites, logins.
//! (Sessions, invites and throttling: `portal_access.rs`; pages and actions: `portal_pages.rs`;
//! a real browser: `portal_browser.rs`.)

use serde_json::{Value, json};

use crate::admin::{FORM, csrf_of, form_body};
use crate::support::{Resp, Server, request};

pub const PASSWORD: &str = "correct horse battery staple";

/// A browser without a browser: the cookies it holds and the CSRF token of its last page.
#[derive(Default)]
pub struct Visitor {
    pub cookies: Vec<(String, String)>,
    pub csrf: String,
    /// Extra headers sent with every request (`X-Forwarded-For`, `Origin`).
    pub headers: Vec<(String, String)>,
}

impl Visitor {
    pub fn cookie_header(&self) -> String {
        self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    /// Keeps the cookies a response sets (and drops the ones it removes), and the page's token.
    fn take(&mut self, r: &Resp) {
        for (name, value) in &r.headers {
            if !name.eq_ignore_ascii_case("set-cookie") {
                continue;
            }
            let (k, v) = value.split(';').next().unwrap().split_once('=').unwrap();
            self.cookies.retain(|(name, _)| name != k);
            if !value.contains("Max-Age=0") {
                self.cookies.push((k.to_string(), v.to_string()));
            }
        }
        let text = r.text();
        if text.contains("name=\"csrf\" value=\"") {
            self.csrf = csrf_of(&text);
        }
    }

    fn send(&mut self, s: &Server, method: &str, path: &str, body: &[u8]) -> Resp {
        let cookie = self.cookie_header();
        let mut headers: Vec<(&str, &str)> = self.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        if !cookie.is_empty() {
            headers.push(("Cookie", &cookie));
        }
        if method == "POST" {
            headers.push(FORM);
        }
        let r = request(s.addr, method, path, &headers, body);
        self.take(&r);
        r
    }

    pub fn get(&mut self, s: &Server, path: &str) -> Resp {
        self.send(s, "GET", path, b"")
    }

    /// Posts `pairs` with the CSRF token of the last page.
    pub fn post(&mut self, s: &Server, path: &str, pairs: &[(&str, &str)]) -> Resp {
        let csrf = self.csrf.clone();
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(pairs);
        self.post_raw(s, path, &all)
    }

    /// Posts exactly `pairs`.
    pub fn post_raw(&mut self, s: &Server, path: &str, pairs: &[(&str, &str)]) -> Resp {
        self.send(s, "POST", path, &form_body(pairs))
    }

    pub fn session(&self) -> Option<&str> {
        self.cookies.iter().find(|(k, _)| k == "affiliated_portal").map(|(_, v)| v.as_str())
    }
}

/// `POST /api/v1/affiliates/{code}/invite`; returns the invite link's path.
pub fn invite(s: &Server, code: &str) -> String {
    let r = s.post(&format!("/api/v1/affiliates/{code}/invite"), &json!({}));
    assert_eq!(r.status, 201, "{}", r.text());
    let url = r.json()["invite_url"].as_str().unwrap().to_string();
    let path = url.strip_prefix(&s.url("")).unwrap_or_else(|| panic!("{url} is not on this server")).to_string();
    assert!(path.starts_with("/portal/invite/afi_"), "{path}");
    path
}

/// Opens the invite link and chooses `password` through its form.
pub fn accept(s: &Server, visitor: &mut Visitor, invite_path: &str, password: &str) -> Resp {
    let form = visitor.get(s, invite_path);
    assert_eq!(form.status, 200, "{}", form.text());
    visitor.post(s, invite_path, &[("password", password), ("password_again", password)])
}

/// Invites affiliate `code` and accepts the invite with [`PASSWORD`]: a logged-in visitor.
pub fn join(s: &Server, code: &str) -> Visitor {
    let mut visitor = Visitor::default();
    let r = accept(s, &mut visitor, &invite(s, code), PASSWORD);
    assert_eq!((r.status, r.header("Location")), (303, Some("/portal")), "{}", r.text());
    assert!(visitor.session().is_some());
    assert_eq!(visitor.get(s, "/portal/settings").status, 200);
    visitor
}

/// Logs in through the form; the visitor keeps whatever cookies it gets.
pub fn login(s: &Server, visitor: &mut Visitor, code: &str, password: &str) -> Resp {
    let form = visitor.get(s, "/portal/login");
    if form.status == 303 {
        return form;
    }
    visitor.post(s, "/portal/login", &[("referral_code", code), ("password", password)])
}

/// Records a conversion through the API and returns its id.
pub fn convert(s: &Server, body: Value) -> i64 {
    let r = s.post("/api/v1/conversions", &body);
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()["id"].as_i64().unwrap()
}

/// Two affiliates with distinctive figures: `ann` and `rival_b7`, each with an approved, paid
/// conversion, a coupon and payout details; ann also has a test conversion and a customer.
pub struct Books {
    pub ann_conversion: i64,
    pub ann_test_conversion: i64,
    pub ann_payout: i64,
    pub rival_id: i64,
    pub rival_conversion: i64,
    pub rival_payout: i64,
}

pub fn two_affiliates(s: &Server) -> Books {
    s.seed();
    let r = s.post("/api/v1/affiliates", &json!({"referral_code": "rival_b7", "name": "Rival Partner"}));
    assert_eq!(r.status, 201, "{}", r.text());
    let ann_click = s.click("ann", json!({"user_agent": "SecretAgent/7.1", "ip": "203.0.113.77"}));
    let ann_conversion = convert(
        s,
        json!({"external_id": "ANN-ORDER-KJHG", "amount": "123.45", "click_id": ann_click,
               "customer_id": "CUST-SECRET-ID", "customer_email": "secret.customer@example.com"}),
    );
    let test_click = s.click("ann", json!({}));
    let ann_test_conversion =
        convert(s, json!({"external_id": "ANN-TEST-MNOP", "amount": "555.55", "click_id": test_click, "test": true}));
    let rival_click = s.click("rival_b7", json!({"user_agent": "RivalAgent/9.9"}));
    let rival_conversion =
        convert(s, json!({"external_id": "RIVAL-ORDER-QXZW", "amount": "987.65", "click_id": rival_click}));
    for id in [ann_conversion, rival_conversion] {
        assert_eq!(s.post(&format!("/api/v1/conversions/{id}/approve"), &json!({})).status, 200);
    }
    let run = s.post("/api/v1/payouts", &json!({"currency": "USD", "minimum": "1.00"}));
    assert_eq!(run.status, 201, "{}", run.text());
    let payout_of = |code: &str| -> i64 {
        run.json()["data"].as_array().unwrap().iter().find(|p| p["referral_code"] == code).unwrap()["id"]
            .as_i64()
            .unwrap()
    };
    let (ann_payout, rival_payout) = (payout_of("ann"), payout_of("rival_b7"));
    for (id, reference) in [(ann_payout, "ANN-PAYREF-ABCD"), (rival_payout, "RIVAL-PAYREF-WXYZ")] {
        let paid = s.post(&format!("/api/v1/payouts/{id}/mark-paid"), &json!({"reference": reference}));
        assert_eq!(paid.status, 200, "{}", paid.text());
    }
    for (code, coupon) in [("ann", "ANNCOUPON"), ("rival_b7", "RIVALCOUPON")] {
        let r = s.post("/api/v1/coupons", &json!({"code": coupon, "referral_code": code}));
        assert_eq!(r.status, 201, "{}", r.text());
    }
    let r = request(
        s.addr,
        "PATCH",
        "/api/v1/affiliates/rival_b7",
        &[("X-Api-Key", crate::support::KEY)],
        json!({"payout_email": "rival@pay.example", "payout_details": "RIVAL-IBAN-DE0012",
               "postback_url": "https://rival.example/pb?c={commission}"})
        .to_string()
        .as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let rival_id =
        s.sql().query_row("SELECT id FROM affiliates WHERE referral_code = 'rival_b7'", [], |r| r.get(0)).unwrap();
    Books { ann_conversion, ann_test_conversion, ann_payout, rival_id, rival_conversion, rival_payout }
}

/// What of the rival (and of customers, and of test data) must never reach ann, lower case.
/// (Order references are looked for with the ellipsis the portal puts before their last
/// characters: four letters alone turn up in random tokens once in a while.)
const NOT_FOR_ANN: &[&str] = &[
    "rival",
    "…qxzw",
    "987.65",
    "98.77",
    "rival@pay.example",
    "iban-de0012",
    "payref-wxyz",
    "cust-secret",
    "secret.customer",
    "secretagent",
    "203.0.113",
    "ann-test",
    "…mnop",
    "555.55",
    "ann-order",
    "/admin",
];
/// What of ann must never reach the rival, lower case.
const NOT_FOR_RIVAL: &[&str] = &["…kjhg", "123.45", "12.35", "anncoupon", "ann-payref", "ann-order", "/admin"];

fn assert_absent(page: &str, r: &Resp, forbidden: &[&str]) {
    let text = r.text().to_lowercase();
    for word in forbidden {
        assert!(!text.contains(word), "{page} shows {word:?}:\n{}", r.text());
    }
}

#[test]
fn an_affiliate_sees_only_their_own_data_on_every_page_file_and_action() {
    let s = Server::start();
    let books = two_affiliates(&s);
    let mut ann = join(&s, "ann");
    let mut rival = join(&s, "rival_b7");
    let (rid, rc, rp) =
        (books.rival_id.to_string(), books.rival_conversion.to_string(), books.rival_payout.to_string());
    let pages = [
        "/portal".to_string(),
        "/portal/links".into(),
        "/portal/links?offer=main&sub1=x".into(),
        "/portal/conversions".into(),
        "/portal/conversions?status=approved".into(),
        format!("/portal/conversions/{}", books.ann_conversion),
        "/portal/conversions.csv".into(),
        "/portal/payouts".into(),
        format!("/portal/payouts/{}", books.ann_payout),
        "/portal/settings".into(),
        "/portal/statement.json".into(),
        // Another affiliate's code or ids in any query parameter change nothing.
        format!("/portal?affiliate=rival_b7&affiliate_id={rid}&referral_code=rival_b7"),
        format!("/portal/conversions?affiliate=rival_b7&affiliate_id={rid}&id={rc}&q=RIVAL-ORDER-QXZW"),
        format!("/portal/conversions.csv?affiliate=rival_b7&affiliate_id={rid}&referral_code=rival_b7"),
        format!("/portal/payouts?affiliate_id={rid}&id={rp}&run=1"),
        format!("/portal/statement.json?referral_code=rival_b7&affiliate_id={rid}"),
        format!("/portal/settings?referral_code=rival_b7&affiliate_id={rid}"),
    ];
    for page in &pages {
        let r = ann.get(&s, page);
        assert_eq!(r.status, 200, "{page}: {}", r.text());
        assert_absent(page, &r, NOT_FOR_ANN);
    }
    // What ann does see of her own: her figures, her order by its last 4 characters only.
    let conversions = ann.get(&s, "/portal/conversions").text();
    assert!(conversions.contains("…KJHG") && conversions.contains("$123.45") && conversions.contains("$12.35"));
    let csv = ann.get(&s, "/portal/conversions.csv").text();
    assert_eq!(csv.lines().count(), 2, "a header and ann's one live conversion: {csv}");
    assert!(csv.contains("…KJHG") && csv.contains("123.45"), "{csv}");
    assert_eq!(ann.get(&s, "/portal/statement.json").json()["referral_code"], "ann");
    let payouts = ann.get(&s, "/portal/payouts").text();
    assert!(payouts.contains("ANN-PAYREF-ABCD") && payouts.contains("$12.35"), "{payouts}");
    assert!(ann.get(&s, "/portal/links").text().contains("ANNCOUPON"));

    // Ids that are not ann's: the same 404 as ids that do not exist, page for page.
    let missing = ann.get(&s, "/portal/conversions/99999999");
    assert_eq!(missing.status, 404);
    for path in [
        format!("/portal/conversions/{}", books.rival_conversion),
        format!("/portal/conversions/{}", books.ann_test_conversion),
        "/portal/conversions/not-a-number".to_string(),
    ] {
        let r = ann.get(&s, &path);
        assert_eq!((r.status, r.text()), (404, missing.text()), "{path}");
    }
    let missing = ann.get(&s, "/portal/payouts/99999999");
    let r = ann.get(&s, &format!("/portal/payouts/{}", books.rival_payout));
    assert_eq!((r.status, r.text()), (404, missing.text()));

    // Actions change only ann, whatever the form names.
    ann.get(&s, "/portal/settings");
    let r = ann.post(
        &s,
        "/portal/settings",
        &[
            ("referral_code", "rival_b7"),
            ("affiliate_id", &rid),
            ("name", "Mallory"),
            ("status", "paused"),
            ("email", "mallory@evil.example"),
            ("payout_email", "ann@pay.example"),
            ("postback_url", "https://ann.example/pb?c={commission}"),
        ],
    );
    assert_eq!(r.status, 200, "a new postback URL shows its signing secret once: {}", r.text());
    assert_absent("settings after saving", &r, NOT_FOR_ANN);
    let ann_now = s.get("/api/v1/affiliates/ann").json();
    assert_eq!(
        (&ann_now["name"], &ann_now["status"], &ann_now["email"]),
        (&json!("Ann"), &json!("active"), &Value::Null)
    );
    assert_eq!(ann_now["payout_email"], "ann@pay.example");
    let rival_now = s.get("/api/v1/affiliates/rival_b7").json();
    assert_eq!(
        (&rival_now["payout_email"], &rival_now["name"]),
        (&json!("rival@pay.example"), &json!("Rival Partner"))
    );
    let r = ann.post(&s, "/portal/settings/postback-test", &[("referral_code", "rival_b7")]);
    assert_eq!(r.status, 303, "{}", r.text());
    let deliveries = s.get("/api/v1/postbacks").json();
    let tests: Vec<&Value> = deliveries["data"].as_array().unwrap().iter().filter(|d| d["event"] == "test").collect();
    assert_eq!(tests.len(), 1, "{deliveries}");
    assert_eq!(tests[0]["referral_code"], "ann");

    // And the other way round.
    let own = [format!("/portal/conversions/{rc}"), format!("/portal/payouts/{rp}")];
    for page in pages[..11].iter().filter(|p| !p.contains("s/")).chain(&own) {
        let r = rival.get(&s, page);
        assert_eq!(r.status, 200, "{page}: {}", r.text());
        assert_absent(page, &r, NOT_FOR_RIVAL);
    }
    for path in
        [format!("/portal/conversions/{}", books.ann_conversion), format!("/portal/payouts/{}", books.ann_payout)]
    {
        assert_eq!(rival.get(&s, &path).status, 404, "{path}");
    }
}

/// The set-password form an invite shares with reset links (`portal/set_password.rs`): two
/// different passwords are sent back with the reason and the link still works; an invite form
/// without the second field (clients from before it) still sets the password.
#[test]
fn an_invite_with_two_different_passwords_is_sent_back_and_one_without_the_second_is_taken() {
    let s = Server::start();
    s.seed();
    let path = invite(&s, "ann");
    let mut visitor = Visitor::default();
    assert_eq!(visitor.get(&s, &path).status, 200);
    let r = visitor.post(&s, &path, &[("password", PASSWORD), ("password_again", "another password entirely")]);
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("The two passwords differ"), "{}", r.text());
    assert!(visitor.session().is_none(), "not logged in");
    let r = visitor.post(&s, &path, &[("password", PASSWORD)]);
    assert_eq!((r.status, r.header("Location")), (303, Some("/portal")), "{}", r.text());
    assert!(visitor.session().is_some());
    assert_eq!(visitor.get(&s, &path).status, 410, "used up");
}
