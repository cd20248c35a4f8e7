//! Admin sessions live on the server: logout ends them for every copy of the cookie, they
//! survive a restart, a new token ends them, expired ones are swept; the admin is on out of the
//! box with a generated token; and failed logins are logged in a line fail2ban can read.

use std::time::Duration;

use crate::admin::{FORM, Session, TOKEN, login_attempt, order, server, status_of};
use crate::support::{Server, eventually, request};

fn sessions_in_db(s: &Server) -> i64 {
    s.sql().query_row("SELECT count(*) FROM sessions", [], |r| r.get(0)).unwrap()
}

#[test]
fn logout_ends_the_session_on_the_server() {
    let s = server();
    s.seed();
    let id = order(&s, "ann", "1001", "50.00");
    let session = Session::start(&s);
    let other = Session::start(&s);
    assert_eq!(session.get(&s, "/admin").status, 200);

    let r = session.post(&s, "/admin/logout", &[]);
    assert_eq!(r.status, 303);
    assert_eq!(r.header("Location"), Some("/admin/login"));
    assert!(r.header("Set-Cookie").unwrap().contains("Max-Age=0"));

    // The old cookie (a copy the browser did not delete) opens nothing any more...
    let r = session.get(&s, "/admin");
    assert_eq!(r.status, 303);
    assert!(r.header("Location").unwrap().starts_with("/admin/login"));
    assert_eq!(session.get(&s, "/admin/login").status, 200, "the login form, not a redirect into the admin");
    // ...and neither does it with its CSRF token: nothing changes.
    let r = session.post(&s, &format!("/admin/conversions/{id}/approve"), &[]);
    assert_eq!(r.status, 303);
    assert!(r.header("Location").unwrap().starts_with("/admin/login"));
    assert_eq!(status_of(&s, id), "pending");
    // Logging out again is harmless; the other session is untouched.
    assert_eq!(session.post(&s, "/admin/logout", &[]).status, 303);
    assert_eq!(other.get(&s, "/admin").status, 200);
    let r = other.post(&s, &format!("/admin/conversions/{id}/approve"), &[]);
    assert_eq!(r.status, 303);
    assert_eq!(status_of(&s, id), "approved");
}

#[test]
fn only_a_hash_of_the_session_token_is_stored() {
    use sha2::{Digest, Sha256};
    let s = server();
    let session = Session::start(&s);
    let token = session.cookie.split_once('=').unwrap().1;
    assert!(token.len() >= 40, "{token}");
    let (hash, csrf): (Vec<u8>, String) =
        s.sql().query_row("SELECT token_hash, csrf_token FROM sessions", [], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
    assert_eq!(hash, Sha256::digest(token.as_bytes()).to_vec());
    assert_eq!(csrf, session.csrf);
    let stored: Vec<u8> = std::fs::read(s.db_path()).unwrap().into_iter().chain(wal(&s)).collect();
    assert!(!contains(&stored, token.as_bytes()), "the token itself is in the database files");
}

fn wal(s: &Server) -> Vec<u8> {
    std::fs::read(s.dir.path().join("affiliated.db-wal")).unwrap_or_default()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn sessions_survive_a_restart_and_a_new_token_ends_them() {
    let mut s = server();
    let session = Session::start(&s);
    s.restart();
    assert_eq!(session.get(&s, "/admin").status, 200, "a restart keeps sessions");
    s.extra_args = vec!["--admin-token".into(), "another-admin-token-0123456789".into()];
    s.restart();
    assert_eq!(session.get(&s, "/admin").status, 303, "a new token ends the old sessions");
    assert_eq!(login_attempt(&s, TOKEN, &[]).status, 401);
    assert_eq!(Session::login(&s, "another-admin-token-0123456789").get(&s, "/admin").status, 200);
}

#[test]
fn expired_and_ended_sessions_are_swept() {
    let s = Server::start_with(&["--admin-token", TOKEN, "--sweep-interval", "1s"], &[]);
    let ended = Session::start(&s);
    let expired = Session::start(&s);
    assert_eq!(ended.post(&s, "/admin/logout", &[]).status, 303);
    s.sql().execute("UPDATE sessions SET expires_at = 1 WHERE ended_at IS NULL", []).unwrap();
    assert_eq!(expired.get(&s, "/admin").status, 303, "an expired session opens nothing");
    let live = Session::start(&s);
    assert!(eventually(Duration::from_secs(20), || sessions_in_db(&s) == 1), "{} sessions left", sessions_in_db(&s));
    assert_eq!(live.get(&s, "/admin").status, 200);
}

#[test]
fn the_admin_is_on_out_of_the_box_with_a_generated_token() {
    use std::os::unix::fs::PermissionsExt;
    let mut s = Server::start();
    let file = s.dir.path().join("affiliated.db.initial-admin-token");
    let token = std::fs::read_to_string(&file).expect("the initial admin token file").trim().to_string();
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(token.len() >= 40, "{token}");
    assert!(!s.log_text().contains(&token), "the token reached the log");
    assert!(s.log_text().contains(&format!("cat {}", file.display())), "{}", s.log_text());

    let r = request(s.addr, "GET", "/", &[], b"");
    assert_eq!(r.status, 303);
    assert_eq!(r.header("Location"), Some("/admin"));
    assert_eq!(request(s.addr, "HEAD", "/", &[], b"").status, 303);
    let session = Session::login(&s, &token);
    assert_eq!(session.get(&s, "/admin").status, 200);

    // Deleting the file once the token is stored safely changes nothing: the token stays, and
    // so do the sessions opened with it.
    std::fs::remove_file(&file).unwrap();
    s.restart();
    assert!(!file.exists(), "no new token is made while one exists");
    assert_eq!(session.get(&s, "/admin").status, 200);
    assert_eq!(login_attempt(&s, &token, &[]).status, 303);
    assert!(!s.log_text().contains(&token));
}

#[test]
fn a_configured_token_replaces_the_generated_one() {
    let mut s = Server::start();
    let file = s.dir.path().join("affiliated.db.initial-admin-token");
    let generated = std::fs::read_to_string(&file).unwrap().trim().to_string();
    s.extra_args = vec!["--admin-token".into(), TOKEN.into()];
    s.restart();
    assert_eq!(login_attempt(&s, &generated, &[]).status, 401);
    assert_eq!(login_attempt(&s, TOKEN, &[]).status, 303);
    // Back without a configured token: a new one is generated, not the configured one kept.
    s.extra_args.clear();
    s.restart();
    let fresh = std::fs::read_to_string(&file).unwrap().trim().to_string();
    assert_ne!(fresh, generated);
    assert_eq!(login_attempt(&s, TOKEN, &[]).status, 401);
    assert_eq!(login_attempt(&s, &fresh, &[]).status, 303);
}

/// The filter docs/operations.md gives for fail2ban, read from the document itself.
pub fn fail2ban_failregex() -> String {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/operations.md")).unwrap();
    let line = doc.lines().find(|l| l.starts_with("failregex")).expect("a failregex line in docs/operations.md");
    line.split_once('=').unwrap().1.trim().to_string()
}

/// fail2ban's `<HOST>` tag, as a regex the `regex` crate reads (an IPv4 or IPv6 address).
pub fn expand_host(failregex: &str) -> regex::Regex {
    let host = r"(?:::f{4,6}:)?(?P<host>[0-9A-Fa-f:.]+)";
    regex::Regex::new(&failregex.replace("<HOST>", host)).expect("the failregex compiles")
}

#[test]
fn failed_logins_are_logged_in_a_line_the_documented_fail2ban_filter_reads() {
    let failregex = fail2ban_failregex();
    let regex = expand_host(&failregex);
    for journald in [false, true] {
        let env: &[(&str, &str)] = if journald { &[("JOURNAL_STREAM", "8:1")] } else { &[] };
        let s = Server::start_with(&["--admin-token", TOKEN], env);
        assert_eq!(login_attempt(&s, "not-the-admin-token", &[]).status, 401);
        assert_eq!(login_attempt(&s, TOKEN, &[]).status, 303);
        let logged = || s.log_text().contains("admin login failed") && s.log_text().contains("admin login from");
        assert!(eventually(Duration::from_secs(5), logged), "{}", s.log_text());
        let log = s.log_text();
        let line = log.lines().find(|l| l.contains("admin login failed")).unwrap();
        assert!(line.ends_with("admin login failed from 127.0.0.1"), "{line}");
        // What fail2ban matches: after the time stamp it cuts off (a file), or the message
        // journald stores (its `<N>` priority prefix is journald's, not part of the message).
        let message = if journald {
            line.strip_prefix("<4>").expect("a warning priority")
        } else {
            line.split_once(' ').unwrap().1
        };
        let found = regex.captures(message).unwrap_or_else(|| panic!("{failregex} does not match {message:?}"));
        assert_eq!(&found["host"], "127.0.0.1");
        let success = log.lines().find(|l| l.contains("admin login from")).unwrap();
        assert!(regex.captures(success).is_none(), "a successful login must not count: {success}");
    }
    // A forged line elsewhere in a request cannot be mistaken for one.
    assert!(regex.captures("INFO  affiliated::access: GET /r/admin login failed from 203.0.113.9").is_none());
}

#[test]
fn posts_to_the_login_form_need_no_session_but_logout_needs_its_csrf_token() {
    let s = server();
    let session = Session::start(&s);
    let r = session.post_raw(&s, "/admin/logout", &[]);
    assert_eq!(r.status, 403, "a cross-site logout is refused");
    assert_eq!(session.get(&s, "/admin").status, 200);
    let anonymous = request(s.addr, "POST", "/admin/logout", &[FORM], b"");
    assert_eq!(anonymous.status, 303);
}
