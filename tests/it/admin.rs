//! The merchant admin over HTTP: access, login, sessions, CSRF, pages, approving, escaping,
//! CSV exports and reconciliation. (The browser test is in `admin_browser.rs`.)

use serde_json::json;

use crate::support::{Resp, Server, bin, request};

pub const TOKEN: &str = "admin-token-0123456789-abcdef";
pub const FORM: (&str, &str) = ("Content-Type", "application/x-www-form-urlencoded");

pub fn server() -> Server {
    Server::start_with(&["--admin-token", TOKEN], &[])
}

pub fn form_body(pairs: &[(&str, &str)]) -> Vec<u8> {
    let mut body = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        body.append_pair(k, v);
    }
    body.finish().into_bytes()
}

pub fn login_attempt(s: &Server, token: &str, extra: &[(&str, &str)]) -> Resp {
    let mut headers = vec![FORM];
    headers.extend_from_slice(extra);
    request(s.addr, "POST", "/admin/login", &headers, &form_body(&[("token", token)]))
}

/// A logged-in browser: the session cookie and the CSRF token of its forms.
pub struct Session {
    pub cookie: String,
    pub csrf: String,
}

impl Session {
    pub fn start(s: &Server) -> Session {
        Session::login(s, TOKEN)
    }

    /// Logs in with `token` through the form.
    pub fn login(s: &Server, token: &str) -> Session {
        let r = login_attempt(s, token, &[]);
        assert_eq!(r.status, 303, "{}", r.text());
        let set = r.header("Set-Cookie").expect("a session cookie");
        let cookie = set.split(';').next().unwrap().to_string();
        let mut session = Session { cookie, csrf: String::new() };
        let page = session.get(s, "/admin/reconcile");
        session.csrf = csrf_of(&page.text());
        session
    }

    pub fn get(&self, s: &Server, path: &str) -> Resp {
        request(s.addr, "GET", path, &[("Cookie", &self.cookie)], b"")
    }

    pub fn post(&self, s: &Server, path: &str, pairs: &[(&str, &str)]) -> Resp {
        let mut all = vec![("csrf", self.csrf.as_str())];
        all.extend_from_slice(pairs);
        self.post_raw(s, path, &all)
    }

    /// Posts exactly `pairs` (no CSRF token added).
    pub fn post_raw(&self, s: &Server, path: &str, pairs: &[(&str, &str)]) -> Resp {
        request(s.addr, "POST", path, &[FORM, ("Cookie", &self.cookie)], &form_body(pairs))
    }
}

pub fn csrf_of(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a CSRF field") + "name=\"csrf\" value=\"".len();
    html[at..].split('"').next().unwrap().to_string()
}

/// Creates an order for `code` through the API and returns its conversion id.
pub fn order(s: &Server, code: &str, external_id: &str, amount: &str) -> i64 {
    let click = s.click(code, json!({}));
    let r = s.post("/api/v1/conversions", &json!({"external_id": external_id, "amount": amount, "click_id": click}));
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()["id"].as_i64().unwrap()
}

pub fn status_of(s: &Server, id: i64) -> String {
    s.get(&format!("/api/v1/conversions/{id}")).json()["status"].as_str().unwrap().to_string()
}

#[test]
fn with_the_admin_off_it_does_not_exist() {
    for s in [Server::start_with(&["--admin", "off"], &[]), Server::start_with(&[], &[("AFFILIATED_ADMIN", "off")])] {
        for (method, path) in
            [("GET", "/admin"), ("GET", "/admin/login"), ("POST", "/admin/login"), ("DELETE", "/admin/x"), ("GET", "/")]
        {
            let r = request(s.addr, method, path, &[FORM], b"token=x");
            r.assert_error(404, "not_found");
        }
        let token_file = s.dir.path().join("affiliated.db.initial-admin-token");
        assert!(!token_file.exists(), "no token is made for an admin that is off");
    }
}

#[test]
fn a_short_admin_token_is_refused_at_start() {
    let out = std::process::Command::new(bin())
        .args(["serve", "--admin-token", "too-short", "--db", "/nonexistent/x.db"])
        .env_clear()
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 16"), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn login_sets_a_hardened_session_cookie_and_a_wrong_token_does_not() {
    let s = server();
    let form = request(s.addr, "GET", "/admin/login", &[], b"");
    assert_eq!(form.status, 200);
    assert!(form.text().contains("name=\"token\""));
    for header in ["Content-Security-Policy", "X-Frame-Options", "Referrer-Policy"] {
        assert!(form.header(header).is_some(), "{header} missing");
    }
    assert_eq!(form.header("Cache-Control"), Some("no-store"));
    assert!(form.header("Content-Security-Policy").unwrap().contains("frame-ancestors 'none'"));

    let wrong = login_attempt(&s, "not-the-token-at-all", &[]);
    assert_eq!(wrong.status, 401);
    assert!(wrong.header("Set-Cookie").is_none());
    assert!(wrong.text().contains("name=\"token\"") && wrong.text().contains("not right"));

    let right = login_attempt(&s, TOKEN, &[]);
    assert_eq!(right.status, 303);
    assert_eq!(right.header("Location"), Some("/admin"));
    let cookie = right.header("Set-Cookie").unwrap();
    assert!(cookie.starts_with("affiliated_admin=afs_"), "{cookie}");
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/admin", "Max-Age=43200"] {
        assert!(cookie.contains(flag), "{flag} missing: {cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");
    let behind_tls = login_attempt(&s, TOKEN, &[("X-Forwarded-Proto", "https")]);
    assert!(behind_tls.header("Set-Cookie").unwrap().contains("; Secure"));

    // The cookie opens the admin; a tampered one does not.
    let session = cookie.split(';').next().unwrap();
    assert_eq!(request(s.addr, "GET", "/admin", &[("Cookie", session)], b"").status, 200);
    // Change the last character to another one (a fixed replacement would sometimes be the same).
    let last = if session.ends_with('0') { '1' } else { '0' };
    let tampered = format!("{}{last}", &session[..session.len() - 1]);
    let r = request(s.addr, "GET", "/admin", &[("Cookie", &tampered)], b"");
    assert_eq!(r.status, 303);
}

#[test]
fn repeated_failures_are_answered_429_until_the_window_passes() {
    let s = server();
    for _ in 0..5 {
        assert_eq!(login_attempt(&s, "wrong-wrong-wrong-wrong", &[]).status, 401);
    }
    let r = login_attempt(&s, "wrong-wrong-wrong-wrong", &[]);
    assert_eq!(r.status, 429);
    let wait: u64 = r.header("Retry-After").unwrap().parse().unwrap();
    assert!((800..=900).contains(&wait), "{wait}");
    let right = login_attempt(&s, TOKEN, &[]);
    assert_eq!(right.status, 429, "even the right token waits");
    assert!(right.header("Set-Cookie").is_none());
}

#[test]
fn every_page_needs_a_session_and_answers_when_logged_in() {
    let s = server();
    s.seed();
    let r = s.post("/api/v1/coupons", &json!({"code": "ANN10", "referral_code": "ann"}));
    assert_eq!(r.status, 201);
    order(&s, "ann", "1001", "50.00");
    let session = Session::start(&s);
    for path in [
        "/admin",
        "/admin?days=7",
        "/admin?from=2026-01-01&to=2026-02-01",
        "/admin/conversions",
        "/admin/conversions?status=pending&affiliate=ann&from=2020-01-01&to=2030-01-01",
        "/admin/conversions?q=1001",
        "/admin/affiliates",
        "/admin/affiliates/ann",
        "/admin/offers",
        "/admin/offers/main",
        "/admin/coupons",
        "/admin/coupons/ANN10",
        "/admin/postbacks",
        "/admin/reconcile",
        "/admin/export/commissions.csv",
        "/admin/export/conversions.csv",
    ] {
        let r = session.get(&s, path);
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        assert_eq!(r.header("Cache-Control"), Some("no-store"), "{path}");
        assert!(r.header("Content-Security-Policy").is_some(), "{path}");
        let anonymous = request(s.addr, "GET", path, &[], b"");
        assert_eq!(anonymous.status, 303, "{path}");
        assert!(anonymous.header("Location").unwrap().starts_with("/admin/login?next=%2Fadmin"), "{path}");
    }
    assert!(session.get(&s, "/admin/conversions?q=1001").text().contains("1001"));
    assert_eq!(session.get(&s, "/admin/affiliates/nobody").status, 404);
    assert_eq!(session.get(&s, "/admin/conversions?status=bogus").status, 400);
    // GET never changes anything: there is no GET route that approves.
    assert_eq!(session.get(&s, "/admin/conversions/1/approve").status, 405);
}

#[test]
fn posts_without_the_right_csrf_token_are_refused_and_change_nothing() {
    let s = server();
    s.seed();
    let id = order(&s, "ann", "1001", "50.00");
    let session = Session::start(&s);
    let other = Session::start(&s);
    let path = format!("/admin/conversions/{id}/approve");
    for pairs in [vec![], vec![("csrf", "0000")], vec![("csrf", other.csrf.as_str())]] {
        let r = session.post_raw(&s, &path, &pairs);
        assert_eq!(r.status, 403, "{pairs:?}");
        assert!(r.text().contains("expired"));
    }
    let r = session.post_raw(&s, "/admin/conversions/decide", &[("action", "approve"), ("id", &id.to_string())]);
    assert_eq!(r.status, 403);
    assert_eq!(status_of(&s, id), "pending");
    // Without a session a post goes to the login form, also changing nothing.
    let r = request(s.addr, "POST", &path, &[FORM], b"csrf=x");
    assert_eq!(r.status, 303);
    assert_eq!(status_of(&s, id), "pending");
}

#[test]
fn approving_one_and_many_through_the_forms() {
    let s = server();
    s.seed();
    let ids: Vec<i64> = (1..=4).map(|n| order(&s, "ann", &format!("order-{n}"), "100.00")).collect();
    let session = Session::start(&s);

    let r = session.post(&s, &format!("/admin/conversions/{}/approve", ids[0]), &[("back", "status=pending")]);
    assert_eq!(r.status, 303);
    assert_eq!(r.header("Location"), Some("/admin/conversions?status=pending&done=approved&n=1&skipped=0"));
    assert_eq!(status_of(&s, ids[0]), "approved");
    let page = session.get(&s, r.header("Location").unwrap());
    assert!(page.text().contains("Approved 1 conversion."), "{}", page.text());

    let (a, b, c) = (ids[0].to_string(), ids[1].to_string(), ids[2].to_string());
    let r = session.post(&s, "/admin/conversions/decide", &[("action", "approve"), ("id", &a), ("id", &b), ("id", &c)]);
    assert_eq!(r.header("Location"), Some("/admin/conversions?done=approved&n=2&skipped=1"));
    assert_eq!(status_of(&s, ids[1]), "approved");
    assert_eq!(status_of(&s, ids[2]), "approved");
    assert_eq!(status_of(&s, ids[3]), "pending", "not selected");

    let r = session.post(&s, &format!("/admin/conversions/{}/reject", ids[3]), &[]);
    assert_eq!(r.status, 303);
    assert_eq!(status_of(&s, ids[3]), "rejected");
    let r = session.post(&s, "/admin/conversions/decide", &[("action", "approve")]);
    assert_eq!(r.header("Location"), Some("/admin/conversions?done=none-selected"));
    // The approvals show in the metrics like the API's.
    assert!(s.get_public("/metrics").text().contains("affiliated_conversions_total{status=\"approved\"} 3"));
}

#[test]
fn every_value_on_a_page_is_escaped() {
    let s = server();
    s.seed();
    let evil = "<script>alert(1)</script>";
    let r = s.post("/api/v1/affiliates", &json!({"referral_code": "evil", "name": evil, "email": "a@b.example"}));
    assert_eq!(r.status, 201);
    order(&s, "evil", "\"><img src=x onerror=alert(2)>", "10.00");
    let session = Session::start(&s);
    for path in ["/admin", "/admin/affiliates", "/admin/affiliates/evil", "/admin/conversions"] {
        let html = session.get(&s, path).text();
        assert!(!html.contains(evil), "{path} shows the name raw");
        assert!(!html.contains("<img src=x"), "{path} shows the order ID raw");
        if path != "/admin/conversions" {
            assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{path} does not show the name");
        }
    }
    let conversions = session.get(&s, "/admin/conversions").text();
    assert!(conversions.contains("&quot;&gt;&lt;img src=x onerror=alert(2)&gt;"));
    // Notices are fixed texts: a link cannot write on the page.
    let page = session.get(&s, "/admin/conversions?done=%3Cb%3Ehi&n=%3Cscript%3E").text();
    assert!(!page.contains("<b>hi") && !page.contains("<script>alert"));
}

#[test]
fn the_payout_csv_sums_approved_commission_per_affiliate_and_currency() {
    let s = server();
    s.seed();
    let names = [
        ("quote", "Doe, \"Jane\""),
        ("eq", "=HYPERLINK(\"http://evil.example\",\"x\")"),
        ("plus", "+1 555 0100"),
        ("minus", "-2+3"),
        ("at", "@SUM(A1)"),
    ];
    for (code, name) in names {
        let r = s.post("/api/v1/affiliates", &json!({"referral_code": code, "name": name}));
        assert_eq!(r.status, 201, "{}", r.text());
    }
    let approve = |code: &str, id: &str, amount: &str, currency: &str| {
        let click = s.click(code, json!({}));
        let r = s.post(
            "/api/v1/conversions",
            &json!({"external_id": id, "amount": amount, "currency": currency, "click_id": click}),
        );
        assert_eq!(r.status, 201, "{}", r.text());
        let id = r.json()["id"].as_i64().unwrap();
        assert_eq!(s.post(&format!("/api/v1/conversions/{id}/approve"), &json!({})).status, 200);
        id
    };
    approve("ann", "a1", "100.00", "USD");
    let refunded = approve("ann", "a2", "50.00", "USD");
    approve("ann", "a3", "80.00", "EUR");
    for (code, _) in names {
        approve(code, &format!("{code}-1"), "10.00", "USD");
    }
    assert_eq!(
        s.post(&format!("/api/v1/conversions/{refunded}/refund"), &json!({"amount": "20.00", "refund_id": "re-1"}))
            .status,
        200
    );
    s.click("ann", json!({}));
    let pending = order(&s, "ann", "p1", "30.00");

    let session = Session::start(&s);
    let r = session.get(&s, "/admin/export/commissions.csv");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Type"), Some("text/csv; charset=utf-8"));
    assert!(r.header("Content-Disposition").unwrap().starts_with("attachment; filename=\"commissions-approved-"));
    let csv = r.text();
    let expected = "referral_code,name,email,currency,conversions,commission\r\n\
        ann,Ann,,EUR,1,8.00\r\n\
        ann,Ann,,USD,2,13.00\r\n\
        at,'@SUM(A1),,USD,1,1.00\r\n\
        eq,\"'=HYPERLINK(\"\"http://evil.example\"\",\"\"x\"\")\",,USD,1,1.00\r\n\
        minus,'-2+3,,USD,1,1.00\r\n\
        plus,'+1 555 0100,,USD,1,1.00\r\n\
        quote,\"Doe, \"\"Jane\"\"\",,USD,1,1.00\r\n";
    assert_eq!(csv, expected, "ann: 10.00 + 5.00 approved, minus the 2.00 claw-back");

    let csv = session.get(&s, "/admin/export/commissions.csv?status=pending").text();
    assert_eq!(csv, "referral_code,name,email,currency,conversions,commission\r\nann,Ann,,USD,1,3.00\r\n");
    let future = session.get(&s, "/admin/export/commissions.csv?from=2099-01-01&to=2099-02-01").text();
    assert_eq!(future.lines().count(), 1, "only the header: {future}");
    assert_eq!(session.get(&s, "/admin/export/commissions.csv?from=yesterday").status, 400);

    let csv = session.get(&s, "/admin/export/conversions.csv").text();
    let lines: Vec<&str> = csv.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 1 + 9, "{csv}");
    assert!(lines[0].starts_with("id,order_id,created_at,referral_code,offer,type,status,source"));
    assert!(lines[1].starts_with(&format!("{pending},p1,")), "newest first: {}", lines[1]);
    assert!(lines[1].contains(",pending,api,click,USD,30.00,0.00,3.00,"), "{}", lines[1]);
    let only_ann = session.get(&s, "/admin/export/conversions.csv?affiliate=ann&status=approved").text();
    assert_eq!(only_ann.split("\r\n").filter(|l| !l.is_empty()).count(), 1 + 3);
}

#[test]
fn reconcile_counts_recorded_and_missing_orders() {
    let s = server();
    s.seed();
    order(&s, "ann", "1001", "10.00");
    order(&s, "ann", "1002", "10.00");
    let session = Session::start(&s);
    let r = session.post(&s, "/admin/reconcile", &[("orders", "order_id\n1001\n1002\n1003\n1001\n#1004\n")]);
    assert_eq!(r.status, 200, "{}", r.text());
    let html = r.text();
    for (id, value) in [("total", "4"), ("recorded", "2"), ("missing", "2"), ("rate", "50.00%")] {
        assert!(html.contains(&format!("id=\"{id}\">{value}<")), "{id} should be {value}");
    }
    assert!(html.contains("<td class=\"mono\">1003</td>") && html.contains("<td class=\"mono\">#1004</td>"));
    assert!(!html.contains("<td class=\"mono\">1001</td>"));

    // The same as an uploaded CSV file (multipart), with the IDs in a named column.
    let boundary = "----affiliated-test-boundary";
    let csrf = session.csrf.clone();
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"orders\"\r\n\r\n\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"orders.csv\"\r\nContent-Type: text/csv\r\n\r\n\
         Name,Order ID,Total\r\n\"Doe, Jane\",1001,10.00\r\nBob,1005,5.00\r\n\r\n--{boundary}--\r\n"
    );
    let content_type = format!("multipart/form-data; boundary={boundary}");
    let r = request(
        s.addr,
        "POST",
        "/admin/reconcile",
        &[("Content-Type", &content_type), ("Cookie", &session.cookie)],
        body.as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let html = r.text();
    for (id, value) in [("total", "2"), ("recorded", "1"), ("missing", "1"), ("rate", "50.00%")] {
        assert!(html.contains(&format!("id=\"{id}\">{value}<")), "upload: {id} should be {value}");
    }

    let csv = session.post(&s, "/admin/reconcile/missing.csv", &[("orders", "1001\n1003\n=cmd\n")]);
    assert_eq!(csv.text(), "order_id\r\n1003\r\n'=cmd\r\n");
    // RFC 4180 both ways: a quoted ID with a line break, a comma and quotes comes back quoted.
    let tricky = "order_id\n\"A\nB\"\n\"x,\"\"y\"\"\"\n1002\n";
    let page = session.post(&s, "/admin/reconcile", &[("orders", tricky)]).text();
    assert!(page.contains("id=\"missing\">2<"), "{page}");
    let hidden = page.split("<textarea name=\"orders\" hidden>").nth(1).unwrap().split("</textarea>").next().unwrap();
    let resubmitted = hidden.replace("&quot;", "\"");
    let csv = session.post(&s, "/admin/reconcile/missing.csv", &[("orders", &resubmitted)]);
    assert_eq!(csv.text(), "order_id\r\n\"A\nB\"\r\n\"x,\"\"y\"\"\"\r\n");
    assert_eq!(session.post(&s, "/admin/reconcile", &[("orders", "  \n")]).status, 400);
}

#[test]
fn affiliates_offers_and_coupons_are_created_and_edited_through_forms() {
    let s = server();
    s.seed();
    let session = Session::start(&s);
    let r = session.post(&s, "/admin/affiliates", &[("name", "Bob's Blog"), ("referral_code", "bob")]);
    assert_eq!(r.header("Location"), Some("/admin/affiliates/bob?done=created"));
    let page = session.get(&s, "/admin/affiliates/bob").text();
    assert!(page.contains("/r/bob\""), "the tracking link to copy");

    let bad = session.post(&s, "/admin/affiliates", &[("name", "Carl"), ("referral_code", "no spaces")]);
    assert_eq!(bad.status, 400);
    assert!(bad.text().contains("may only contain") && bad.text().contains("value=\"Carl\""), "kept the input");
    let dup = session.post(&s, "/admin/affiliates", &[("name", "Bob again"), ("referral_code", "BOB")]);
    assert_eq!(dup.status, 409);

    // Setting a postback URL shows the new signing secret once.
    let r = session.post(
        &s,
        "/admin/affiliates/bob",
        &[("name", "Bob's Blog"), ("email", "bob@example.com"), ("postback_url", "https://t.example/pb?c={click_id}")],
    );
    assert_eq!(r.status, 200);
    assert!(r.text().contains("whsec_"));
    let api = s.get("/api/v1/affiliates/bob").json();
    assert_eq!(api["email"], "bob@example.com");
    assert_eq!(api["postback_url"], "https://t.example/pb?c={click_id}");
    let r = session.post(&s, "/admin/affiliates/bob", &[("name", "Bob"), ("email", ""), ("postback_url", "")]);
    assert_eq!(r.header("Location"), Some("/admin/affiliates/bob?done=saved"));
    assert_eq!(s.get("/api/v1/affiliates/bob").json()["email"], serde_json::Value::Null);
    let bad_macro =
        session.post(&s, "/admin/affiliates/bob", &[("name", "Bob"), ("postback_url", "https://t.example/?x={nope}")]);
    assert_eq!(bad_macro.status, 400);

    let offer = [
        ("id", "bundles"),
        ("name", "Bundles"),
        ("landing_url", "https://shop.example/b"),
        ("currency", "eur"),
        ("commission_type", "flat"),
        ("commission_value", "15"),
        ("attribution", "first_click"),
        ("click_window_days", "60"),
    ];
    let r = session.post(&s, "/admin/offers", &offer);
    assert_eq!(r.header("Location"), Some("/admin/offers/bundles?done=created"), "{}", r.text());
    let api = s.get("/api/v1/offers/bundles").json();
    assert_eq!((api["currency"].as_str(), api["commission"]["value"].as_str()), (Some("EUR"), Some("15.00")));
    assert_eq!(api["attribution"], "first_click");
    let r = session.post(
        &s,
        "/admin/offers/bundles",
        &[
            ("name", "Bundles"),
            ("landing_url", "https://shop.example/b2"),
            ("commission_type", "percent"),
            ("commission_value", "12.5"),
            ("attribution", "last_click"),
            ("click_window_days", "7"),
            ("default", "1"),
        ],
    );
    assert_eq!(r.header("Location"), Some("/admin/offers/bundles?done=saved"), "{}", r.text());
    let api = s.get("/api/v1/offers/bundles").json();
    assert_eq!(
        (api["commission"]["type"].as_str(), api["commission"]["value"].as_str()),
        (Some("percent"), Some("12.5"))
    );
    assert_eq!((api["default"].as_bool(), api["click_window_days"].as_i64()), (Some(true), Some(7)));
    assert_eq!(s.get("/api/v1/offers/main").json()["default"], false, "one default");
    let bad = session.post(
        &s,
        "/admin/offers",
        &[("id", "x"), ("name", "X"), ("landing_url", "https://x.example"), ("commission_value", "abc")],
    );
    assert_eq!(bad.status, 400);

    let r = session.post(&s, "/admin/coupons", &[("code", "BOB10"), ("referral_code", "bob")]);
    assert_eq!(r.header("Location"), Some("/admin/coupons/BOB10?done=created"));
    let r = session.post(&s, "/admin/coupons/BOB10", &[("referral_code", "ann"), ("offer", "bundles")]);
    assert_eq!(r.header("Location"), Some("/admin/coupons/BOB10?done=saved"));
    let api = s.get("/api/v1/coupons/BOB10").json();
    assert_eq!((api["referral_code"].as_str(), api["offer"].as_str()), (Some("ann"), Some("bundles")));
    assert_eq!(session.post(&s, "/admin/coupons", &[("code", "X1"), ("referral_code", "nobody")]).status, 404);
}

#[test]
fn outbound_postbacks_can_be_retried_and_logout_ends_the_session_in_the_browser() {
    let s = server();
    s.seed();
    let r = s.post(
        "/api/v1/affiliates",
        &json!({"referral_code": "tr", "name": "Tr", "postback_url": "https://127.0.0.1:9/pb"}),
    );
    assert_eq!(r.status, 201);
    let session = Session::start(&s);
    let r = session.post(&s, "/admin/affiliates/tr/postback-test", &[]);
    assert_eq!(r.header("Location"), Some("/admin/affiliates/tr?done=test-queued"));
    let deliveries = s.get("/api/v1/postbacks").json();
    let id = deliveries["data"][0]["id"].as_i64().unwrap();
    // The target is a private address, so the delivery cannot succeed and keeps its retry button.
    assert!(session.get(&s, "/admin/postbacks").text().contains(&format!("id=\"retry-{id}\"")));
    let r = session.post(&s, &format!("/admin/postbacks/{id}/retry"), &[]);
    assert_eq!(r.header("Location"), Some("/admin/postbacks?done=retried"));
    assert_eq!(session.post(&s, "/admin/postbacks/999999/retry", &[]).status, 404);

    let r = session.post(&s, "/admin/logout", &[]);
    assert_eq!(r.status, 303);
    assert_eq!(r.header("Location"), Some("/admin/login"));
    assert!(r.header("Set-Cookie").unwrap().contains("Max-Age=0"));
}

#[test]
fn the_conversion_list_marks_and_filters_test_data_and_fraud_flags() {
    let s = Server::start_with(&["--admin-token", TOKEN, "--max-clicks-per-ip", "0"], &[]);
    s.seed();
    let session = Session::start(&s);
    let click = s.click("ann", json!({}));
    let post = |body: serde_json::Value| assert_eq!(s.post("/api/v1/conversions", &body).status, 201);
    // Moments after its click: flagged too_fast.
    post(json!({"external_id": "live-flagged", "amount": "10", "click_id": click}));
    s.sql().execute("UPDATE clicks SET created_at = created_at - 60000", []).unwrap();
    post(json!({"external_id": "live-clean", "amount": "10", "coupon": null, "click_id": click}));
    post(json!({"external_id": "a-test-order", "amount": "10", "click_id": click, "test": true}));

    let live = session.get(&s, "/admin/conversions").text();
    assert!(live.contains("live-flagged") && live.contains("live-clean"), "{live}");
    assert!(!live.contains("a-test-order"), "test data stays out of the default list");
    assert!(live.contains("<span class=\"tag flag\""), "the flag shows");
    let tests = session.get(&s, "/admin/conversions?test=true").text();
    assert!(tests.contains("a-test-order") && !tests.contains("live-clean"));
    assert!(tests.contains("<span class=\"tag test\">test</span>"));
    let flagged = session.get(&s, "/admin/conversions?flagged=true").text();
    assert!(flagged.contains("live-flagged") && !flagged.contains("live-clean"));
    let clean = session.get(&s, "/admin/conversions?flagged=false").text();
    assert!(clean.contains("live-clean") && !clean.contains("live-flagged"));
    // The CSV export follows the same filter.
    let csv = session.get(&s, "/admin/export/conversions.csv?test=true").text();
    assert!(csv.contains("a-test-order") && !csv.contains("live-clean"), "{csv}");
}

#[test]
fn an_affiliate_is_paused_and_resumed_from_its_page() {
    let s = server();
    s.seed();
    let session = Session::start(&s);
    let r = session.post(&s, "/admin/affiliates/ann", &[("name", "Ann"), ("status", "paused")]);
    assert_eq!(r.status, 303, "{}", r.text());
    assert_eq!(s.get("/api/v1/affiliates/ann").json()["status"], "paused");
    let page = session.get(&s, "/admin/affiliates/ann").text();
    assert!(page.contains("<option value=\"paused\" selected>"), "{page}");
    assert!(!s.get_public("/r/ann").header("Location").unwrap().contains("click_id"));
    let r = session.post(&s, "/admin/affiliates/ann", &[("name", "Ann"), ("status", "active")]);
    assert_eq!(r.status, 303);
    assert_eq!(s.get("/api/v1/affiliates/ann").json()["status"], "active");
}

/// The conversions export is streamed (#25): chunked, made page by page while it is sent, with
/// no cap on the rows; an HTTP/1.0 client, which cannot read chunks, gets the same file with a
/// length.
#[test]
fn the_conversions_export_is_streamed_in_chunks() {
    let s = server();
    s.seed();
    for i in 0..3 {
        order(&s, "ann", &format!("s-{i}"), "10.00");
    }
    let session = Session::start(&s);
    let r = session.get(&s, "/admin/export/conversions.csv");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!((r.header("transfer-encoding"), r.header("content-length")), (Some("chunked"), None));
    let csv = r.text();
    let orders: Vec<&str> = csv.lines().skip(1).map(|l| l.split(',').nth(1).unwrap()).collect();
    assert_eq!(orders, ["s-2", "s-1", "s-0"], "{csv}");

    let mut old = std::net::TcpStream::connect(s.addr).unwrap();
    std::io::Write::write_all(
        &mut old,
        format!("GET /admin/export/conversions.csv HTTP/1.0\r\nCookie: {}\r\n\r\n", session.cookie).as_bytes(),
    )
    .unwrap();
    let whole = crate::support::read_response(&mut old);
    assert_eq!((whole.status, whole.header("transfer-encoding")), (200, None));
    assert_eq!(whole.header("content-length"), Some(csv.len().to_string().as_str()));
    assert_eq!(whole.text(), csv);
}
