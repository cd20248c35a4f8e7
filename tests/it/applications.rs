//! Applications (#24): `--signup off|review|open`, the form at `/portal/apply` and what it
//! answers, the API's list and decisions (approve exactly once, even under 32 concurrent
//! approvals; reject with a reason), the terms on the affiliate's record and in their ledger's
//! chain, and the applicant's personal data (erasure, the retention sweep). The abuse controls
//! are in `applications_abuse.rs`, the admin's page in `applications_admin.rs`.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use crate::portal::{PASSWORD, Visitor, accept, login};
use crate::support::{KEY, Resp, Server, bin, eventually, request};

pub const TERMS: &str = "https://shop.example/affiliate-terms-2026";

/// A server taking applications in `mode` with terms to accept, believing `X-Forwarded-For`
/// from the tests (each test sends its own addresses, so the hourly limit is its own).
pub fn server(mode: &str, extra: &[&str]) -> Server {
    let mut args = vec!["--signup", mode, "--terms-url", TERMS, "--trusted-proxy", "127.0.0.1"];
    args.extend_from_slice(extra);
    Server::start_with(&args, &[])
}

/// A browser at client address `ip`.
pub fn visitor(ip: &str) -> Visitor {
    Visitor { headers: vec![("X-Forwarded-For".into(), ip.into())], ..Visitor::default() }
}

/// The fields of a complete application from `email`, wishing for `code`.
pub fn fields<'a>(email: &'a str, code: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("name", "Ann Outdoors"),
        ("email", email),
        ("website", "https://ann.example, a hiking blog with 20k readers"),
        ("referral_code", code),
        ("payout_email", "ann-pay@people.example"),
        ("terms", "accepted"),
    ]
}

/// Opens the form (for its token), then sends `pairs` through it.
pub fn apply(s: &Server, v: &mut Visitor, pairs: &[(&str, &str)]) -> Resp {
    let form = v.get(s, "/portal/apply");
    assert_eq!(form.status, 200, "{}", form.text());
    v.post(s, "/portal/apply", pairs)
}

/// The applications the API lists with `query`.
pub fn listed(s: &Server, query: &str) -> Vec<Value> {
    let r = s.get(&format!("/api/v1/applications{query}"));
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["data"].as_array().unwrap().clone()
}

/// Sends one application from `email` (wishing for `code`) and returns its id.
pub fn applied(s: &Server, ip: &str, email: &str, code: &str) -> i64 {
    let r = apply(s, &mut visitor(ip), &fields(email, code));
    assert_eq!(r.status, 200, "{}", r.text());
    let found = listed(s, "?status=pending&limit=500");
    found.iter().find(|a| a["email"] == email).unwrap_or_else(|| panic!("{email} is not pending"))["id"]
        .as_i64()
        .unwrap()
}

fn count(s: &Server, sql: &str) -> i64 {
    s.sql().query_row(sql, [], |r| r.get(0)).unwrap()
}

#[test]
fn the_form_exists_only_while_applications_are_on() {
    let off = Server::start();
    for (method, path) in [("GET", "/portal/apply"), ("POST", "/portal/apply"), ("GET", "/portal/signup")] {
        let r = request(off.addr, method, path, &[], b"");
        assert_eq!(r.status, 404, "{method} {path} with --signup off: {}", r.text());
    }
    let login = off.get_public("/portal/login").text();
    assert!(!login.contains("/portal/apply"), "no link to a form that does not exist");

    let on = server("review", &[]);
    let signup = on.get_public("/portal/signup");
    assert_eq!((signup.status, signup.header("Location")), (303, Some("/portal/apply")));
    assert!(on.get_public("/portal/login").text().contains("href=\"/portal/apply\""));
    let form = on.get_public("/portal/apply").text();
    for field in ["name", "email", "website", "referral_code", "payout_email", "terms", "csrf"] {
        assert!(form.contains(&format!("name=\"{field}\"")), "the form has no {field}: {form}");
    }
    assert!(form.contains(&format!("href=\"{TERMS}\"")), "the terms are linked: {form}");

    // Applications need the portal: the two settings contradict each other.
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--signup", "review", "--portal", "off", "--db"])
        .arg(dir.path().join("a.db"))
        .env_clear()
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("--signup review or open needs the affiliate portal"), "{text}");
    assert!(!dir.path().join("a.db").exists(), "nothing was created");
}

#[test]
fn an_application_is_stored_for_review_and_the_page_says_what_happens_next() {
    let s = server("review", &[]);
    let mut v = visitor("198.51.100.10");
    let r = apply(&s, &mut v, &fields("Ann@People.example", "ann-outdoors"));
    assert_eq!(r.status, 200, "{}", r.text());
    let page = r.text();
    assert!(page.contains("Thank you, Ann Outdoors") && page.contains("Ann@People.example"), "{page}");
    assert!(page.contains("reviews each one"), "what happens next: {page}");
    let found = listed(&s, "?status=pending");
    assert_eq!(found.len(), 1, "{found:?}");
    let a = &found[0];
    assert_eq!(
        (&a["name"], &a["email"], &a["referral_code"], &a["payout_email"], &a["status"], &a["terms_url"]),
        (
            &json!("Ann Outdoors"),
            &json!("Ann@People.example"),
            &json!("ann-outdoors"),
            &json!("ann-pay@people.example"),
            &json!("pending"),
            &json!(TERMS)
        )
    );
    assert_eq!(a["website"], "https://ann.example, a hiking blog with 20k readers");
    assert!(a["terms_accepted_at"].is_string() && a["created_at"].is_string(), "{a}");
    assert_eq!(
        (&a["decided_at"], &a["reason"], &a["affiliate_referral_code"]),
        (&Value::Null, &Value::Null, &Value::Null)
    );
    assert!(listed(&s, "?status=approved").is_empty() && listed(&s, "?status=rejected").is_empty());
    let id = a["id"].as_i64().unwrap();
    assert_eq!(s.get(&format!("/api/v1/applications/{id}")).json(), *a);
    s.get("/api/v1/applications?status=maybe").assert_error(400, "invalid_status");

    // Without the terms ticked, without the form's token, or with a field the API would refuse,
    // nothing is stored.
    let mut unticked = fields("bob@people.example", "bob");
    unticked.retain(|(k, _)| *k != "terms");
    let r = apply(&s, &mut visitor("198.51.100.11"), &unticked);
    assert_eq!(r.status, 400);
    assert!(r.text().contains("Accept the program"), "{}", r.text());
    let mut v = visitor("198.51.100.12");
    v.get(&s, "/portal/apply");
    let r = v.post_raw(&s, "/portal/apply", &fields("bob@people.example", "bob"));
    assert_eq!(r.status, 403, "no token: {}", r.text());
    for (field, value, says) in [
        ("email", "bob-at-people", "`email` must be an e-mail address"),
        ("referral_code", "bob smith", "`referral_code` may only contain letters"),
        ("referral_code", "", "`referral_code` must be 1 to 64 characters"),
        ("payout_email", "pay@", "`payout_email` must be an e-mail address"),
        ("website", "", "`website` must not be empty"),
    ] {
        let mut pairs = fields("bob@people.example", "bob");
        pairs.retain(|(k, _)| *k != field);
        pairs.push((field, value));
        let r = apply(&s, &mut visitor("198.51.100.13"), &pairs);
        assert_eq!(r.status, 400, "{field}={value:?}: {}", r.text());
        assert!(r.text().contains(says), "{field}={value:?}: {}", r.text());
        assert!(r.text().contains("bob@people.example") || field == "email", "the form keeps what was typed");
    }
    assert_eq!(listed(&s, "").len(), 1, "only Ann's application is stored");
}

/// The affiliate an approval made, the link for them, and the terms on their record and as the
/// first entry of a chain that `verify-statement` and the docs' Python both accept.
#[test]
fn approving_makes_the_affiliate_with_the_wished_code_the_terms_and_a_set_password_link() {
    let s = server("review", &[]);
    let id = applied(&s, "198.51.100.20", "ann@people.example", "ann-outdoors");
    let r = s.post(&format!("/api/v1/applications/{id}/approve"), &json!({}));
    assert_eq!(r.status, 201, "{}", r.text());
    let a = r.json();
    assert_eq!(
        (&a["referral_code"], &a["name"], &a["email"], &a["payout_email"], &a["terms_url"], &a["application_id"]),
        (
            &json!("ann-outdoors"),
            &json!("Ann Outdoors"),
            &json!("ann@people.example"),
            &json!("ann-pay@people.example"),
            &json!(TERMS),
            &json!(id)
        )
    );
    let application = s.get(&format!("/api/v1/applications/{id}")).json();
    assert_eq!(application["status"], "approved");
    assert_eq!(application["affiliate_referral_code"], "ann-outdoors");
    assert!(application["decided_at"].is_string());
    assert_eq!(a["terms_accepted_at"], application["terms_accepted_at"], "the time they accepted");
    let stored = s.get("/api/v1/affiliates/ann-outdoors").json();
    assert_eq!((&stored["terms_url"], &stored["terms_accepted_at"]), (&a["terms_url"], &a["terms_accepted_at"]));

    // The link lets them choose a password and use the portal.
    let invite = a["invite_url"].as_str().unwrap().strip_prefix(&s.url("")).unwrap().to_string();
    let mut browser = Visitor::default();
    let r = accept(&s, &mut browser, &invite, PASSWORD);
    assert_eq!((r.status, r.header("Location")), (303, Some("/portal")), "{}", r.text());
    assert_eq!(browser.get(&s, "/portal").status, 200);
    let mut again = Visitor::default();
    assert_eq!(login(&s, &mut again, "ann-outdoors", PASSWORD).status, 303);

    // Decided once: approving or rejecting again changes nothing.
    let r = s.post(&format!("/api/v1/applications/{id}/approve"), &json!({"referral_code": "other"}));
    r.assert_error(409, "invalid_status_transition");
    assert_eq!(r.json()["application"]["status"], "approved");
    s.post(&format!("/api/v1/applications/{id}/reject"), &json!({})).assert_error(409, "invalid_status_transition");
    assert_eq!(count(&s, "SELECT count(*) FROM affiliates"), 1);

    // The terms are the first entry of the chain, and the chain verifies.
    let statement = s.get("/api/v1/affiliates/ann-outdoors/statement");
    let entry = statement.json()["entries"][0].clone();
    assert_eq!(
        (&entry["seq"], &entry["kind"], &entry["currency"], &entry["amount"], &entry["terms_url"], &entry["at"]),
        (&json!(1), &json!("terms_accepted"), &json!("XXX"), &json!("0"), &json!(TERMS), &a["terms_accepted_at"])
    );
    let sha = affiliated::tracking::ledger::hex(&affiliated::tracking::ledger::terms_hash(TERMS));
    assert_eq!(entry["order_hash"], json!(sha));
    let balance = s.get("/api/v1/affiliates/ann-outdoors/balance").json();
    assert_eq!(balance["balances"], json!([]), "the terms move no money");
    let file = s.dir.path().join("ann.json");
    std::fs::write(&file, &statement.body).unwrap();
    let key = statement.json()["public_key"].as_str().unwrap().to_string();
    let out = Command::new(bin()).arg("verify-statement").arg(&file).args(["--public-key", &key]).output().unwrap();
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    // Another URL in the statement than the one whose hash the chain covers is caught.
    let mut swapped = statement.json();
    swapped["entries"][0]["terms_url"] = json!("https://shop.example/laxer-terms");
    std::fs::write(&file, swapped.to_string()).unwrap();
    let out = Command::new(bin()).arg("verify-statement").arg(&file).args(["--public-key", &key]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("terms_url was changed"), "{out:?}");
    python_checks(&statement.body, &key);
}

/// docs/statements.md's Python, as written, on a statement that starts with the terms.
fn python_checks(statement: &[u8], key: &str) {
    let Some(python) = crate::statements::python_with_cryptography() else { return };
    let docs = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/statements.md")).unwrap();
    let code = docs.split("```python\n").nth(1).unwrap().split("```").next().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (script, file) = (dir.path().join("verify.py"), dir.path().join("s.json"));
    std::fs::write(&script, code).unwrap();
    std::fs::write(&file, statement).unwrap();
    let out = Command::new(python).arg(&script).arg(&file).args(["--public-key", key]).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && text.contains("valid"), "{text}");
}

#[test]
fn a_taken_code_is_refused_until_the_merchant_chooses_another_and_a_rate_can_come_with_it() {
    let s = server("review", &[]);
    s.seed();
    let id = applied(&s, "198.51.100.30", "ann@people.example", "ANN");
    let r = s.post(&format!("/api/v1/applications/{id}/approve"), &json!({}));
    r.assert_error(409, "duplicate_referral_code");
    assert!(r.json()["error"]["message"].as_str().unwrap().contains("`ANN`"), "{}", r.text());
    assert_eq!(r.json()["application"]["status"], "pending", "nothing changed");
    assert_eq!(count(&s, "SELECT count(*) FROM affiliates"), 1);
    s.post(&format!("/api/v1/applications/{id}/approve"), &json!({"referral_code": "ann b"}))
        .assert_error(400, "invalid_referral_code");
    let body =
        json!({"referral_code": "ann2", "offer": {"id": "main", "commission": {"type": "percent", "value": "15"}}});
    let r = s.post(&format!("/api/v1/applications/{id}/approve"), &body);
    assert_eq!((r.status, &r.json()["referral_code"]), (201, &json!("ann2")), "{}", r.text());
    let rates = s.get("/api/v1/offers/main/rates").json();
    assert_eq!(rates["data"][0]["referral_code"], "ann2", "{rates}");
    assert_eq!(rates["data"][0]["commission"], json!({"type": "percent", "value": "15"}), "{rates}");
    assert_eq!(listed(&s, "?status=approved")[0]["affiliate_referral_code"], "ann2");

    // A rate that cannot be read refuses the whole approval.
    let other = applied(&s, "198.51.100.31", "cho@people.example", "cho");
    for (body, code) in [
        (json!({"offer": {"id": "nope", "commission": {"type": "flat", "value": "1"}}}), "unknown_offer"),
        (json!({"offer": {"id": "main"}}), "invalid_offer"),
        (json!({"offer": {"commission": {"type": "flat", "value": "1"}, "currency": "EUR"}}), "unknown_field"),
    ] {
        let status = if code == "unknown_offer" { 404 } else { 400 };
        s.post(&format!("/api/v1/applications/{other}/approve"), &body).assert_error(status, code);
    }
    assert_eq!(listed(&s, "?status=pending").len(), 1);
}

#[test]
fn rejecting_keeps_the_reason_once_and_unknown_ids_are_404() {
    let s = server("review", &[]);
    let id = applied(&s, "198.51.100.40", "dan@people.example", "dan");
    s.post(&format!("/api/v1/applications/{id}/reject"), &json!({"reason": "two\nlines"}))
        .assert_error(400, "invalid_reason");
    let r = s.post(&format!("/api/v1/applications/{id}/reject"), &json!({"reason": "Not our market"}));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!((&r.json()["status"], &r.json()["reason"]), (&json!("rejected"), &json!("Not our market")));
    assert!(r.json()["decided_at"].is_string());
    assert_eq!(listed(&s, "?status=rejected").len(), 1);
    s.post(&format!("/api/v1/applications/{id}/reject"), &json!({})).assert_error(409, "invalid_status_transition");
    let r = s.post(&format!("/api/v1/applications/{id}/approve"), &json!({}));
    r.assert_error(409, "invalid_status_transition");
    assert_eq!(r.json()["application"]["reason"], "Not our market");
    assert_eq!(count(&s, "SELECT count(*) FROM affiliates"), 0);
    for path in ["/api/v1/applications/999/approve", "/api/v1/applications/abc/reject"] {
        s.post(path, &json!({})).assert_error(404, "not_found");
    }
    s.get("/api/v1/applications/999").assert_error(404, "not_found");
    // A rejected applicant may apply again: only one *pending* application per address.
    let again = applied(&s, "198.51.100.41", "dan@people.example", "dan");
    assert_ne!(again, id);
}

#[test]
fn lists_are_paged_with_a_cursor_oldest_first() {
    let s = server("review", &[]);
    let ids: Vec<i64> =
        (0..3).map(|i| applied(&s, &format!("198.51.100.5{i}"), &format!("p{i}@people.example"), "p")).collect();
    let first = s.get("/api/v1/applications?limit=2").json();
    let page: Vec<i64> = first["data"].as_array().unwrap().iter().map(|a| a["id"].as_i64().unwrap()).collect();
    assert_eq!(page, ids[..2]);
    let cursor = first["next_cursor"].as_str().unwrap();
    let rest = s.get(&format!("/api/v1/applications?limit=2&cursor={cursor}")).json();
    assert_eq!(rest["data"][0]["id"], json!(ids[2]));
    assert_eq!(rest["next_cursor"], Value::Null);
}

/// 32 approvals of one application at once, each naming a code of its own (so that a second
/// affiliate, if one were made, would not be stopped by the referral code's uniqueness): one
/// makes the affiliate, the other 31 are told it was decided.
#[test]
fn thirty_two_concurrent_approvals_make_exactly_one_affiliate() {
    let s = server("review", &["--workers", "32"]);
    let id = applied(&s, "198.51.100.60", "race@people.example", "racer");
    let barrier = std::sync::Barrier::new(32);
    let statuses: Vec<(u16, String)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..32)
            .map(|i| {
                let (s, barrier) = (&s, &barrier);
                scope.spawn(move || {
                    let body = json!({"referral_code": format!("racer-{i}")}).to_string();
                    barrier.wait();
                    let path = format!("/api/v1/applications/{id}/approve");
                    let r = request(s.addr, "POST", &path, &[("X-Api-Key", KEY)], body.as_bytes());
                    let code = if r.status == 201 { String::new() } else { r.json()["error"]["code"].to_string() };
                    (r.status, code)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let won = statuses.iter().filter(|(status, _)| *status == 201).count();
    let lost =
        statuses.iter().filter(|(status, code)| *status == 409 && code == "\"invalid_status_transition\"").count();
    assert_eq!((won, lost), (1, 31), "{statuses:?}");
    assert_eq!(count(&s, "SELECT count(*) FROM affiliates"), 1);
    assert_eq!(count(&s, "SELECT count(*) FROM ledger_entries WHERE kind = 'terms_accepted'"), 1);
    assert_eq!(count(&s, "SELECT count(*) FROM portal_invites"), 1);
}

#[test]
fn with_signup_open_an_application_is_an_affiliate_at_once_with_its_link_on_the_page() {
    let s = server("open", &[]);
    let r = apply(&s, &mut visitor("198.51.100.70"), &fields("eve@people.example", "eve"));
    assert_eq!(r.status, 200, "{}", r.text());
    let page = r.text();
    assert!(page.contains("Welcome, Ann Outdoors") && page.contains(">eve<"), "{page}");
    let link =
        page.split("href=\"").find_map(|p| p.split('"').next().filter(|l| l.contains("/portal/invite/"))).unwrap();
    let path = link.strip_prefix(&s.url("")).unwrap().to_string();
    let mut browser = Visitor::default();
    let r = accept(&s, &mut browser, &path, PASSWORD);
    assert_eq!(r.status, 303, "{}", r.text());
    assert_eq!(browser.get(&s, "/portal/links").status, 200);
    let affiliate = s.get("/api/v1/affiliates/eve").json();
    assert_eq!((&affiliate["email"], &affiliate["terms_url"]), (&json!("eve@people.example"), &json!(TERMS)));
    let approved = listed(&s, "?status=approved");
    assert_eq!((approved.len(), &approved[0]["affiliate_referral_code"]), (1, &json!("eve")));
    assert!(listed(&s, "?status=pending").is_empty());

    // A wished code another affiliate has: the form says so, and nothing is stored.
    let r = apply(&s, &mut visitor("198.51.100.71"), &fields("eve2@people.example", "EVE"));
    assert_eq!(r.status, 409, "{}", r.text());
    assert!(r.text().contains("The referral code EVE is taken"), "{}", r.text());
    assert_eq!(listed(&s, "").len(), 1);
    assert_eq!(count(&s, "SELECT count(*) FROM affiliates"), 1);
}

#[test]
fn an_applicants_personal_data_is_erased_on_request_and_with_their_affiliates() {
    let s = server("review", &[]);
    let pending = applied(&s, "198.51.100.80", "fay@people.example", "fay");
    let r = s.delete(&format!("/api/v1/applications/{pending}/personal-data"));
    assert_eq!(r.status, 204, "{}", r.text());
    let a = s.get(&format!("/api/v1/applications/{pending}")).json();
    for field in ["name", "email", "website", "payout_email"] {
        assert_eq!(a[field], Value::Null, "{field}: {a}");
    }
    assert_eq!((&a["status"], &a["reason"]), (&json!("rejected"), &json!("personal data erased on request")));
    assert!(a["erased_at"].is_string());
    s.post(&format!("/api/v1/applications/{pending}/approve"), &json!({}))
        .assert_error(409, "invalid_status_transition");
    let log = std::fs::read_to_string(format!("{}.erasure-log", s.db_path().display())).unwrap_or_default();
    assert!(log.lines().any(|l| l.starts_with("application ")) && !log.contains("fay"), "{log}");
    s.delete("/api/v1/applications/999/personal-data").assert_error(404, "not_found");

    // The affiliate's erasure takes their application's copy too.
    let id = applied(&s, "198.51.100.81", "gus@people.example", "gus");
    assert_eq!(s.post(&format!("/api/v1/applications/{id}/approve"), &json!({})).status, 201);
    assert_eq!(s.delete("/api/v1/affiliates/gus/personal-data").status, 204);
    let a = s.get(&format!("/api/v1/applications/{id}")).json();
    assert_eq!((&a["name"], &a["email"], &a["status"]), (&Value::Null, &Value::Null, &json!("approved")));
    let text = s.get("/api/v1/applications").text();
    assert!(!text.contains("people.example"), "{text}");
}

#[test]
fn rejected_applications_are_swept_with_the_logs_and_approved_ones_stay() {
    let s = server("review", &["--click-retention", "2s", "--sweep-interval", "1s"]);
    let rejected = applied(&s, "198.51.100.90", "hal@people.example", "hal");
    let approved = applied(&s, "198.51.100.91", "ida@people.example", "ida");
    let waiting = applied(&s, "198.51.100.92", "jo@people.example", "jo");
    assert_eq!(s.post(&format!("/api/v1/applications/{rejected}/reject"), &json!({})).status, 200);
    assert_eq!(s.post(&format!("/api/v1/applications/{approved}/approve"), &json!({})).status, 201);
    let gone = eventually(Duration::from_secs(20), || s.get(&format!("/api/v1/applications/{rejected}")).status == 404);
    assert!(gone, "the rejected application was not swept; log:\n{}", s.log_text());
    for id in [approved, waiting] {
        assert_eq!(s.get(&format!("/api/v1/applications/{id}")).status, 200, "application {id} stays");
    }
}
