//! Getting into the portal and out of it: invites (single use, 7 days, hashed, re-invites reset
//! everything, concurrent submissions have one winner), logins and their throttle, sessions
//! (cookie flags, logout, pausing), CSRF on every POST, and `--portal off`.

use std::sync::{Arc, Barrier};

use serde_json::json;

use crate::portal::{PASSWORD, Visitor, accept, invite, join, login};
use crate::support::{Server, request};

const PAGES: &[&str] = &[
    "/portal",
    "/portal/links",
    "/portal/conversions",
    "/portal/conversions/1",
    "/portal/conversions.csv",
    "/portal/payouts",
    "/portal/payouts/1",
    "/portal/settings",
    "/portal/statement.json",
];

#[test]
fn without_a_session_every_page_sends_to_the_login_and_no_post_changes_anything() {
    let s = Server::start_with(&["--admin-token", crate::admin::TOKEN], &[]);
    s.seed();
    let mut stranger = Visitor::default();
    for page in PAGES {
        let r = stranger.get(&s, page);
        assert_eq!((r.status, r.header("Location")), (303, Some("/portal/login")), "{page}");
    }
    for (path, pairs) in [
        ("/portal/settings", &[("payout_email", "x@evil.example")][..]),
        ("/portal/settings/postback-test", &[]),
        ("/portal/settings/postback-secret", &[]),
        ("/portal/logout", &[]),
    ] {
        let r = stranger.post_raw(&s, path, pairs);
        assert_eq!((r.status, r.header("Location")), (303, Some("/portal/login")), "{path}");
    }
    // An admin session is no portal session, even under the portal's cookie name.
    let admin = s.admin_cookie(crate::admin::TOKEN);
    let token = admin.split_once('=').unwrap().1;
    let r = request(s.addr, "GET", "/portal", &[("Cookie", &format!("affiliated_portal={token}"))], b"");
    assert_eq!(r.status, 303);

    // Logged in, a POST without the session's token (or with another) changes nothing.
    let mut ann = join(&s, "ann");
    for csrf in ["", "wrong", "QwHF-2PSSXGK9HV4YF7tZXmgdNEHJX-UUMT2kIbj-eY"] {
        let r = ann.post_raw(&s, "/portal/settings", &[("csrf", csrf), ("payout_email", "x@evil.example")]);
        assert_eq!(r.status, 403, "{}", r.text());
        assert!(r.text().contains("This form has expired"));
    }
    assert_eq!(s.get("/api/v1/affiliates/ann").json()["payout_email"], json!(null));
    let r = ann.post(&s, "/portal/settings", &[("payout_email", "ann@pay.example")]);
    assert_eq!((r.status, r.header("Location")), (303, Some("/portal/settings?done=saved")));
    assert_eq!(s.get("/api/v1/affiliates/ann").json()["payout_email"], "ann@pay.example");
    // Every portal answer carries the admin's protective headers.
    let r = ann.get(&s, "/portal");
    assert_eq!(r.header("Cache-Control"), Some("no-store"));
    assert!(r.header("Content-Security-Policy").unwrap().contains("frame-ancestors 'none'"));
}

#[test]
fn an_invite_works_once_for_seven_days_and_only_its_hash_is_kept() {
    let s = Server::start();
    s.seed();
    let r = s.post("/api/v1/affiliates/nobody/invite", &json!({}));
    r.assert_error(404, "unknown_referral_code");
    let r = s.post("/api/v1/affiliates/ann/invite", &json!({}));
    assert_eq!(r.status, 201, "{}", r.text());
    let body = r.json();
    let url = body["invite_url"].as_str().unwrap();
    let token = url.rsplit('/').next().unwrap();
    assert!(url.starts_with(&s.url("/portal/invite/afi_")) && token.len() > 40, "{url}");
    let expires =
        chrono::DateTime::parse_from_rfc3339(body["expires_at"].as_str().unwrap()).unwrap().timestamp_millis();
    let week = 7 * 86_400_000;
    let now = chrono::Utc::now().timestamp_millis();
    assert!((now + week - 60_000..=now + week).contains(&expires), "{body}");
    let stored: Vec<u8> = s.sql().query_row("SELECT token_hash FROM portal_invites", [], |r| r.get(0)).unwrap();
    use sha2::{Digest, Sha256};
    assert_eq!(stored, Sha256::digest(token.as_bytes()).to_vec());
    let path = format!("/portal/invite/{token}");

    // A password too short is refused, and the invite stays usable.
    let mut visitor = Visitor::default();
    let r = accept(&s, &mut visitor, &path, "elevenchars");
    assert_eq!(r.status, 400);
    assert!(r.text().contains("at least 12 characters"), "{}", r.text());
    let r = visitor.post(&s, &path, &[("password", PASSWORD), ("password_again", "something else")]);
    assert_eq!(r.status, 400);
    assert!(r.text().contains("differ"));
    // Without the form's token nothing happens either.
    let r = visitor.post_raw(&s, &path, &[("password", PASSWORD)]);
    assert_eq!(r.status, 403);

    let r = accept(&s, &mut visitor, &path, PASSWORD);
    assert_eq!((r.status, r.header("Location")), (303, Some("/portal")), "{}", r.text());
    let cookie = r.headers.iter().find(|(k, v)| k == "Set-Cookie" && v.starts_with("affiliated_portal=")).unwrap();
    for flag in ["Path=/portal", "HttpOnly", "SameSite=Strict", "Max-Age=86400"] {
        assert!(cookie.1.contains(flag), "{flag} missing: {}", cookie.1);
    }
    assert!(!cookie.1.contains("Secure"), "plain HTTP: {}", cookie.1);
    assert_eq!(visitor.get(&s, "/portal").status, 200);
    let hash: String = s.sql().query_row("SELECT password_hash FROM affiliates", [], |r| r.get(0)).unwrap();
    assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");

    // Used: the link is gone for everyone, and the password stays as chosen.
    let mut again = Visitor::default();
    assert_eq!(again.get(&s, &path).status, 410);
    let r = again.post_raw(&s, &path, &[("password", "another password here")]);
    assert!(r.status == 403 || r.status == 410, "{}", r.status);
    assert_eq!(login(&s, &mut again, "ann", PASSWORD).status, 303);
    assert_eq!(Visitor::default().get(&s, "/portal/invite/afi_unknown").status, 410);

    // Expired: 410 too.
    let expired = invite(&s, "ann");
    s.sql().execute("UPDATE portal_invites SET expires_at = 0 WHERE used_at IS NULL", []).unwrap();
    let mut late = Visitor::default();
    assert_eq!(late.get(&s, &expired).status, 410);
}

#[test]
fn a_new_invite_ends_the_old_sessions_password_and_links() {
    let s = Server::start();
    s.seed();
    let mut ann = join(&s, "ann");
    let mut elsewhere = Visitor::default();
    assert_eq!(login(&s, &mut elsewhere, "ann", PASSWORD).status, 303);
    let unused = invite(&s, "ann");
    let newest = invite(&s, "ann");
    for visitor in [&mut ann, &mut elsewhere] {
        let r = visitor.get(&s, "/portal");
        assert_eq!((r.status, r.header("Location")), (303, Some("/portal/login")));
    }
    let mut fresh = Visitor::default();
    assert_eq!(login(&s, &mut fresh, "ann", PASSWORD).status, 401, "the password was reset");
    assert_eq!(Visitor::default().get(&s, &unused).status, 410, "only the newest invite works");
    let r = accept(&s, &mut Visitor::default(), &newest, "a brand new password");
    assert_eq!(r.status, 303);
    assert_eq!(login(&s, &mut Visitor::default(), "ann", "a brand new password").status, 303);
}

#[test]
fn two_submissions_of_one_invite_at_once_have_exactly_one_winner() {
    let s = Arc::new(Server::start());
    s.seed();
    let path = invite(&s, "ann");
    const N: usize = 6;
    let barrier = Arc::new(Barrier::new(N));
    let handles: Vec<_> = (0..N)
        .map(|i| {
            let (s, path, barrier) = (s.clone(), path.clone(), barrier.clone());
            std::thread::spawn(move || {
                let mut visitor = Visitor::default();
                assert_eq!(visitor.get(&s, &path).status, 200);
                barrier.wait();
                let password = format!("password number {i}");
                (visitor.post(&s, &path, &[("password", &password)]).status, password)
            })
        })
        .collect();
    let outcomes: Vec<(u16, String)> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let winners: Vec<&String> = outcomes.iter().filter(|(status, _)| *status == 303).map(|(_, p)| p).collect();
    assert_eq!(winners.len(), 1, "{outcomes:?}");
    assert!(outcomes.iter().all(|(status, _)| *status == 303 || *status == 410), "{outcomes:?}");
    let sessions: i64 = s.sql().query_row("SELECT count(*) FROM sessions", [], |r| r.get(0)).unwrap();
    assert_eq!(sessions, 1);
    assert_eq!(login(&s, &mut Visitor::default(), "ann", winners[0]).status, 303, "the winner's password holds");
}

#[test]
fn pausing_an_affiliate_ends_their_sessions_at_once_and_keeps_them_out() {
    let s = Server::start();
    s.seed();
    let mut ann = join(&s, "ann");
    let patch = |status: &str| {
        let body = json!({"status": status}).to_string();
        let r =
            request(s.addr, "PATCH", "/api/v1/affiliates/ann", &[("X-Api-Key", crate::support::KEY)], body.as_bytes());
        assert_eq!(r.status, 200, "{}", r.text());
    };
    patch("paused");
    assert_eq!(ann.get(&s, "/portal").status, 303);
    let ended: i64 =
        s.sql().query_row("SELECT count(*) FROM sessions WHERE ended_at IS NOT NULL", [], |r| r.get(0)).unwrap();
    assert_eq!(ended, 1, "ended on the server, not only refused");
    let r = login(&s, &mut Visitor::default(), "ann", PASSWORD);
    assert_eq!(r.status, 403);
    assert!(r.text().contains("paused"));
    let paused_invite = invite(&s, "ann");
    assert_eq!(Visitor::default().get(&s, &paused_invite).status, 403);
    patch("active");
    assert_eq!(ann.get(&s, "/portal").status, 303, "an ended session stays ended");
    let r = accept(&s, &mut Visitor::default(), &paused_invite, PASSWORD);
    assert_eq!(r.status, 303, "the invite waited for the account: {}", r.text());
}

#[test]
fn logging_out_is_a_post_that_ends_the_session_on_the_server() {
    let s = Server::start();
    s.seed();
    let mut ann = join(&s, "ann");
    let copy = ann.cookie_header();
    assert_eq!(ann.get(&s, "/portal/logout").status, 405);
    assert_eq!(ann.post_raw(&s, "/portal/logout", &[]).status, 403, "without the token");
    let r = ann.post(&s, "/portal/logout", &[]);
    assert_eq!((r.status, r.header("Location")), (303, Some("/portal/login")));
    assert!(r.header("Set-Cookie").unwrap().contains("Max-Age=0"));
    let r = request(s.addr, "GET", "/portal", &[("Cookie", &copy)], b"");
    assert_eq!(r.status, 303, "a copy of the cookie opens nothing");
}

#[test]
fn failed_logins_are_throttled_per_address_and_per_affiliate() {
    let s = Server::start_with(&["--trusted-proxy", "127.0.0.1"], &[]);
    s.seed();
    join(&s, "ann");
    let from = |ip: &str| Visitor { headers: vec![("X-Forwarded-For".into(), ip.into())], ..Visitor::default() };
    // One address: ten failures, then even the right password waits.
    let mut guesser = from("198.51.100.1");
    for _ in 0..10 {
        assert_eq!(login(&s, &mut guesser, "ann", "not the password").status, 401);
    }
    let r = login(&s, &mut guesser, "nobody", PASSWORD);
    assert_eq!(r.status, 429);
    assert!(r.header("Retry-After").is_some_and(|w| w.parse::<u64>().unwrap() > 0));
    // The affiliate from elsewhere is not locked out by one address...
    assert_eq!(login(&s, &mut from("198.51.100.2"), "ann", PASSWORD).status, 303);
    // ...but guesses spread over many addresses lock the affiliate, not the addresses. (The
    // first address's 10 count too: since #21 a success resets no count, so 10 more reach 20.)
    for i in 10..20 {
        let r = login(&s, &mut from(&format!("203.0.113.{}", 10 + i)), "ann", "not the password");
        assert_eq!(r.status, 401);
    }
    assert_eq!(login(&s, &mut from("192.0.2.1"), "ann", PASSWORD).status, 429);
    let r = s.post("/api/v1/affiliates", &json!({"referral_code": "bea", "name": "Bea"}));
    assert_eq!(r.status, 201);
    join(&s, "bea");
    assert_eq!(login(&s, &mut from("192.0.2.1"), "bea", PASSWORD).status, 303, "another affiliate is fine");
    // Each failure is a line the fail2ban filter of docs/operations.md reads, with the address.
    let regex = crate::admin_sessions::expand_host(&crate::admin_sessions::fail2ban_failregex());
    let log = s.log_text();
    let line = log.lines().find(|l| l.ends_with("portal login failed from 203.0.113.29")).expect("a failure line");
    let found = regex.captures(line.split_once(' ').unwrap().1).expect("the filter matches it");
    assert_eq!(&found["host"], "203.0.113.29");
}

#[test]
fn forms_before_login_need_their_token_and_a_page_of_this_site() {
    let s = Server::start();
    s.seed();
    join(&s, "ann");
    let mut visitor = Visitor::default();
    assert_eq!(visitor.get(&s, "/portal/login").status, 200);
    let r = visitor.post_raw(&s, "/portal/login", &[("referral_code", "ann"), ("password", PASSWORD)]);
    assert_eq!(r.status, 403, "no token");
    visitor.headers.push(("Origin".into(), "https://evil.example".into()));
    let r = visitor.post(&s, "/portal/login", &[("referral_code", "ann"), ("password", PASSWORD)]);
    assert_eq!(r.status, 403, "another site's page");
    visitor.headers = vec![("Origin".into(), s.url(""))];
    let r = visitor.post(&s, "/portal/login", &[("referral_code", "ann"), ("password", PASSWORD)]);
    assert_eq!(r.status, 303, "{}", r.text());
    // Logged in, the login page sends to the overview.
    assert_eq!(visitor.get(&s, "/portal/login").header("Location"), Some("/portal"));
}

#[test]
fn cookies_are_secure_behind_https() {
    let s = Server::start_with(&["--trusted-proxy", "127.0.0.1"], &[]);
    s.seed();
    let path = invite(&s, "ann");
    let mut visitor = Visitor { headers: vec![("X-Forwarded-Proto".into(), "https".into())], ..Visitor::default() };
    let form = visitor.get(&s, &path);
    assert!(form.header("Set-Cookie").unwrap().contains("; Secure"), "the form token's cookie");
    let r = visitor.post(&s, &path, &[("password", PASSWORD)]);
    assert_eq!(r.status, 303);
    assert!(r.header("Set-Cookie").unwrap().ends_with("; Secure"), "{:?}", r.header("Set-Cookie"));
}

#[test]
fn with_the_portal_off_no_portal_path_exists() {
    for s in [Server::start_with(&["--portal", "off"], &[]), Server::start_with(&[], &[("AFFILIATED_PORTAL", "off")])] {
        s.seed();
        for (method, path) in [
            ("GET", "/portal"),
            ("GET", "/portal/login"),
            ("POST", "/portal/login"),
            ("GET", "/portal/invite/afi_x"),
            ("POST", "/portal/logout"),
            ("GET", "/portal/nope"),
            ("DELETE", "/portal/settings"),
        ] {
            let r = request(s.addr, method, path, &[], b"");
            r.assert_error(404, "not_found");
        }
        s.post("/api/v1/affiliates/ann/invite", &json!({})).assert_error(409, "portal_off");
    }
}
