//! Login floods (#21): what failed logins may cost the server and whom they may lock out.
//! Memory stays bounded however many addresses guess; a success never resets a count; a spray
//! on one account locks out new browsers, never the browser its owner logged in from before (a
//! device cookie); the admin login follows the same rules.

use std::time::Duration;

use serde_json::json;

use crate::admin::{TOKEN, login_attempt};
use crate::portal::{PASSWORD, Visitor, join, login};
use crate::support::{Resp, Server, eventually};

/// The resident memory of process `pid`, in KiB (`VmRSS` of /proc/PID/status).
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// A browser at address `ip` behind the trusted proxy.
fn from(ip: &str) -> Visitor {
    Visitor { headers: vec![("X-Forwarded-For".into(), ip.into())], ..Visitor::default() }
}

/// 100 failed logins from 100 addresses (no account needed: unknown codes are checked against a
/// dummy hash), a few at a time as a patient attacker sends them so that none is turned away
/// busy. Each Argon2id check needs 19 MiB; with the default 32 workers they used to stay in
/// whichever worker ran them (RSS grew by hundreds of MiB). Memory is read, not time.
#[test]
fn failed_logins_from_many_addresses_leave_memory_where_it_was() {
    let s = Server::start_with(&["--trusted-proxy", "127.0.0.1", "--workers", "32"], &[]);
    // One login first, so that what any first login allocates once is in the baseline.
    assert_eq!(login(&s, &mut from("198.18.0.1"), "nobody", "wrong password").status, 401);
    let before = rss_kib(s.pid());
    std::thread::scope(|scope| {
        for t in 0..8 {
            let s = &s;
            scope.spawn(move || {
                for i in (t..100).step_by(8) {
                    let mut visitor = from(&format!("198.18.1.{i}"));
                    let r = login(s, &mut visitor, &format!("nobody{i}"), "wrong password");
                    assert_eq!(r.status, 401, "{}", r.text());
                }
            });
        }
    });
    // The allocator may hand memory back a moment after the last answer.
    let mut after = rss_kib(s.pid());
    let settled = eventually(Duration::from_secs(5), || {
        after = rss_kib(s.pid());
        after < before + 100 * 1024
    });
    assert!(settled, "RSS went from {before} KiB to {after} KiB after 100 failed logins");
}

/// The loop of issue #21: nine wrong guesses at someone else's account, a login to one's own,
/// and again. A success never resets a count, so the address has had its 10 after the tenth.
#[test]
fn logging_in_to_ones_own_account_buys_no_more_guesses() {
    let s = Server::start_with(&["--trusted-proxy", "127.0.0.1"], &[]);
    s.seed();
    let r = s.post("/api/v1/affiliates", &json!({"referral_code": "mallory", "name": "Mallory"}));
    assert_eq!(r.status, 201);
    join(&s, "ann");
    join(&s, "mallory");
    let address = "198.51.100.7";
    for _ in 0..9 {
        assert_eq!(login(&s, &mut from(address), "ann", "not the password").status, 401);
    }
    assert_eq!(login(&s, &mut from(address), "mallory", PASSWORD).status, 303);
    assert_eq!(login(&s, &mut from(address), "ann", "not the password").status, 401, "the tenth");
    let r = login(&s, &mut from(address), "ann", "not the password");
    assert_eq!(r.status, 429, "{}", r.text());
    assert!(r.header("Retry-After").is_some_and(|w| w.parse::<u64>().unwrap() > 800));
    assert_eq!(login(&s, &mut from(address), "mallory", PASSWORD).status, 429, "its own account waits too");
    assert_eq!(login(&s, &mut from("198.51.100.8"), "ann", PASSWORD).status, 303, "another address does not");
}

/// Logs out through the form of a logged-in page.
fn logout(s: &Server, visitor: &mut Visitor) {
    assert_eq!(visitor.get(s, "/portal").status, 200);
    assert_eq!(visitor.post(s, "/portal/logout", &[]).status, 303);
}

/// Guesses sent from one address at the same moment are counted as they start, not as they end:
/// 8 browsers at once, 3 guesses each, and exactly 10 are checked.
#[test]
fn guesses_sent_at_once_cannot_slip_past_the_count_together() {
    let s = Server::start_with(&["--trusted-proxy", "127.0.0.1"], &[]);
    let statuses = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for t in 0..8 {
            let (s, statuses) = (&s, &statuses);
            scope.spawn(move || {
                for i in 0..3 {
                    let r = login(s, &mut from("198.51.100.9"), &format!("nobody{t}x{i}"), "not the password");
                    statuses.lock().unwrap().push(r.status);
                }
            });
        }
    });
    let mut statuses = statuses.into_inner().unwrap();
    statuses.sort_unstable();
    let count = |status| statuses.iter().filter(|s| **s == status).count();
    assert_eq!((count(401), count(429)), (10, 14), "{statuses:?}");
}

/// The device cookie a browser got with its last login (`affiliated_portal_device`).
fn device_cookie(visitor: &Visitor) -> Option<String> {
    visitor.cookies.iter().find(|(k, _)| k == "affiliated_portal_device").map(|(_, v)| v.clone())
}

/// Guesses sprayed at ann's code from many addresses lock out every browser new to her account,
/// not the one she logged in from before: it holds a device cookie the server signed. That
/// browser has its own count of wrong guesses.
#[test]
fn a_spray_on_one_account_locks_out_new_browsers_but_not_its_owners() {
    let s = Server::start_with(&["--trusted-proxy", "127.0.0.1"], &[]);
    s.seed();
    let mut ann = join(&s, "ann");
    let from_invite = device_cookie(&ann).expect("accepting the invite is a login");
    logout(&s, &mut ann);
    ann.headers = vec![("X-Forwarded-For".into(), "192.0.2.10".into())];
    assert_eq!(login(&s, &mut ann, "ann", PASSWORD).status, 303);
    let cookie = device_cookie(&ann).unwrap();
    assert_ne!(cookie, from_invite, "every login issues a new one");
    logout(&s, &mut ann);
    assert_eq!(device_cookie(&ann), Some(cookie.clone()), "logging out keeps it");

    for i in 0..20 {
        let r = login(&s, &mut from(&format!("203.0.113.{}", 10 + i)), "ann", "not the password");
        assert_eq!(r.status, 401, "{}", r.text());
    }
    assert_eq!(login(&s, &mut from("192.0.2.99"), "ann", PASSWORD).status, 429, "a new browser");
    // A device cookie altered in any way is a new browser's.
    let mut forger = from("192.0.2.98");
    let last = if cookie.ends_with('A') { 'B' } else { 'A' };
    let forged = format!("{}{last}", &cookie[..cookie.len() - 1]);
    forger.cookies.push(("affiliated_portal_device".into(), forged));
    assert_eq!(login(&s, &mut forger, "ann", PASSWORD).status, 429, "a forged device cookie");
    // Ann's own browser logs in.
    let r = login(&s, &mut ann, "ann", PASSWORD);
    assert_eq!((r.status, r.header("Location")), (303, Some("/portal")), "{}", r.text());
    // Her device cookie speaks for ann only: it does not get its browser past bea's lockout.
    let r = s.post("/api/v1/affiliates", &json!({"referral_code": "bea", "name": "Bea"}));
    assert_eq!(r.status, 201);
    join(&s, "bea");
    for i in 0..20 {
        assert_eq!(login(&s, &mut from(&format!("203.0.114.{i}")), "bea", "not the password").status, 401);
    }
    logout(&s, &mut ann);
    assert_eq!(login(&s, &mut ann, "bea", PASSWORD).status, 429);

    // The browser's own count: ten wrong guesses, each from another address (a phone on the
    // move), and it waits like anyone else.
    for i in 0..10 {
        ann.headers = vec![("X-Forwarded-For".into(), format!("198.18.0.{i}"))];
        assert_eq!(login(&s, &mut ann, "ann", "not the password").status, 401);
    }
    ann.headers = vec![("X-Forwarded-For".into(), "198.18.1.1".into())];
    assert_eq!(login(&s, &mut ann, "ann", PASSWORD).status, 429);
}

fn admin_server() -> Server {
    Server::start_with(&["--admin-token", TOKEN, "--trusted-proxy", "127.0.0.1"], &[])
}

/// An admin login with `token` from `address`, with the device cookie `device` if given.
fn admin_login(s: &Server, token: &str, address: &str, device: Option<&str>) -> Resp {
    let cookie = device.map(|d| format!("affiliated_admin_device={d}"));
    let mut headers = vec![("X-Forwarded-For", address)];
    if let Some(cookie) = &cookie {
        headers.push(("Cookie", cookie));
    }
    login_attempt(s, token, &headers)
}

#[test]
fn the_admin_login_counts_failures_like_the_portals() {
    let s = admin_server();
    for _ in 0..4 {
        assert_eq!(admin_login(&s, "wrong-wrong-wrong", "198.51.100.7", None).status, 401);
    }
    assert_eq!(admin_login(&s, TOKEN, "198.51.100.7", None).status, 303);
    assert_eq!(admin_login(&s, "wrong-wrong-wrong", "198.51.100.7", None).status, 401, "the fifth");
    let r = admin_login(&s, TOKEN, "198.51.100.7", None);
    assert_eq!(r.status, 429, "a success reset nothing");
    assert!(r.header("Retry-After").is_some_and(|w| w.parse::<u64>().unwrap() > 800));
}

#[test]
fn a_spray_on_the_admin_locks_out_new_browsers_but_not_the_merchants() {
    let s = admin_server();
    let r = admin_login(&s, TOKEN, "192.0.2.10", None);
    assert_eq!(r.status, 303);
    let set = r
        .headers
        .iter()
        .find(|(k, v)| k.eq_ignore_ascii_case("set-cookie") && v.starts_with("affiliated_admin_device="))
        .map(|(_, v)| v.clone())
        .expect("a device cookie");
    assert!(set.ends_with("; Path=/admin/login; Max-Age=7776000; HttpOnly; SameSite=Strict"), "{set}");
    let device = set.split(';').next().unwrap().split_once('=').unwrap().1.to_string();
    for i in 0..20 {
        assert_eq!(admin_login(&s, "wrong-wrong-wrong", &format!("203.0.113.{i}"), None).status, 401);
    }
    assert_eq!(admin_login(&s, TOKEN, "192.0.2.99", None).status, 429, "a new browser");
    assert_eq!(admin_login(&s, TOKEN, "192.0.2.99", Some("admin.x.1.y")).status, 429, "a made-up cookie");
    assert_eq!(admin_login(&s, TOKEN, "192.0.2.11", Some(&device)).status, 303, "the merchant's browser");
}
