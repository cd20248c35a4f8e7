//! The application form against abuse (#24): 5 applications an hour per address (429 with
//! `Retry-After`), a honeypot answered exactly as a success with nothing stored, at most 1,000
//! pending applications (503 with a page that says so), and one pending application per e-mail
//! address, answered like the first so the form never tells who applied.

use serde_json::json;

use crate::applications::{apply, fields, listed, server, visitor};
use crate::support::Server;

fn stored(s: &Server) -> i64 {
    s.sql().query_row("SELECT count(*) FROM applications", [], |r| r.get(0)).unwrap()
}

#[test]
fn five_applications_an_hour_from_one_address_then_429() {
    let s = server("review", &[]);
    for i in 0..5 {
        let r = apply(&s, &mut visitor("203.0.113.5"), &fields(&format!("a{i}@people.example"), "a"));
        assert_eq!(r.status, 200, "application {i}: {}", r.text());
    }
    let r = apply(&s, &mut visitor("203.0.113.5"), &fields("a5@people.example", "a"));
    assert_eq!(r.status, 429, "{}", r.text());
    let wait: u64 = r.header("Retry-After").expect("Retry-After").parse().unwrap();
    assert!((3000..=3600).contains(&wait), "about an hour: {wait}");
    assert!(r.text().contains("Too many applications"), "{}", r.text());
    assert_eq!(stored(&s), 5, "the sixth was not stored");
    // Another address is not held back; one of the same IPv6 /64 is.
    assert_eq!(apply(&s, &mut visitor("203.0.113.6"), &fields("b@people.example", "b")).status, 200);
    for i in 0..5 {
        let ip = format!("2001:db8:1:2::{}", i + 1);
        assert_eq!(apply(&s, &mut visitor(&ip), &fields(&format!("c{i}@people.example"), "c")).status, 200);
    }
    assert_eq!(apply(&s, &mut visitor("2001:db8:1:2::99"), &fields("c9@people.example", "c")).status, 429);
    assert_eq!(stored(&s), 11);
}

#[test]
fn the_honeypot_is_answered_like_a_success_and_stores_nothing() {
    let s = server("review", &[]);
    // A browser sends the hidden field, empty: that is a person.
    let mut person = fields("real@people.example", "real");
    person.push(("homepage", ""));
    let real = apply(&s, &mut visitor("203.0.113.20"), &person);
    assert_eq!((real.status, stored(&s)), (200, 1), "{}", real.text());
    let mut trap = fields("real@people.example", "real");
    trap.push(("homepage", "https://cheap-pills.example"));
    // The same fields as a real application already pending would get the same page: compare
    // with the answer to a second, honest copy, which is not stored either.
    let bot = apply(&s, &mut visitor("203.0.113.21"), &trap);
    let honest_copy = apply(&s, &mut visitor("203.0.113.22"), &fields("real@people.example", "real"));
    assert_eq!((bot.status, bot.text()), (real.status, real.text()), "the bot cannot tell");
    assert_eq!(honest_copy.text(), real.text());
    let mut other_bot = fields("bot@spam.example", "bot");
    other_bot.push(("homepage", "x"));
    let r = apply(&s, &mut visitor("203.0.113.23"), &other_bot);
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), real.text().replace("real@people.example", "bot@spam.example"));
    assert_eq!(stored(&s), 1, "only the real application is stored");
    let form = s.get_public("/portal/apply").text();
    assert!(form.contains("name=\"homepage\"") && form.contains("tabindex=\"-1\""), "{form}");
    assert!(s.log_text().contains("honeypot"), "the log says why");

    // With --signup open, the bot gets a welcome page with a link that leads nowhere.
    let open = server("open", &[]);
    let mut trap = fields("bot@spam.example", "botty");
    trap.push(("homepage", "x"));
    let r = apply(&open, &mut visitor("203.0.113.24"), &trap);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("Welcome") && r.text().contains("/portal/invite/afi_"), "{}", r.text());
    let link = r
        .text()
        .split("href=\"")
        .find_map(|p| p.split('"').next().filter(|l| l.contains("/portal/invite/")).map(String::from))
        .unwrap();
    let path = link.strip_prefix(&open.url("")).unwrap().to_string();
    assert_eq!(open.get_public(&path).status, 410, "an unknown invite, like an expired one");
    assert_eq!(open.get("/api/v1/affiliates/botty").status, 404);
    assert_eq!(stored(&open), 0);
}

#[test]
fn a_thousand_pending_applications_pause_the_form_with_a_503_page() {
    let s = server("review", &[]);
    let sql = s.sql();
    sql.execute_batch(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000)
         INSERT INTO applications (name, email, website, referral_code, created_at)
         SELECT 'Filler', 'filler' || i || '@people.example', 'x', 'filler' || i, 0 FROM n",
    )
    .unwrap();
    let r = apply(&s, &mut visitor("203.0.113.30"), &fields("late@people.example", "late"));
    assert_eq!(r.status, 503, "{}", r.text());
    assert!(r.text().contains("Applications are paused") && r.text().contains("1000"), "{}", r.text());
    assert!(r.header("Retry-After").is_some());
    assert_eq!(stored(&s), 1000);
    // Deciding one makes room for one.
    let first = listed(&s, "?status=pending&limit=1")[0]["id"].as_i64().unwrap();
    assert_eq!(s.post(&format!("/api/v1/applications/{first}/reject"), &json!({})).status, 200);
    let r = apply(&s, &mut visitor("203.0.113.31"), &fields("late@people.example", "late"));
    assert_eq!(r.status, 200, "{}", r.text());
    let r = apply(&s, &mut visitor("203.0.113.32"), &fields("later@people.example", "later"));
    assert_eq!(r.status, 503, "full again");
    assert_eq!(stored(&s), 1001);
}

#[test]
fn one_pending_application_per_address_answered_like_the_first() {
    let s = server("review", &[]);
    let first = apply(&s, &mut visitor("203.0.113.40"), &fields("kim@people.example", "kim"));
    let second = apply(&s, &mut visitor("203.0.113.41"), &fields("KIM@People.Example", "kim2"));
    assert_eq!(first.status, 200);
    assert_eq!(second.status, 200);
    assert_eq!(second.text(), first.text().replace("kim@people.example", "KIM@People.Example"));
    let pending = listed(&s, "?status=pending");
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert_eq!(pending[0]["referral_code"], "kim", "the first stays as it was");
    // The database decides, not a lookup: a second pending row for the address cannot exist.
    let e = s
        .sql()
        .execute(
            "INSERT INTO applications (name, email, website, referral_code, created_at) VALUES ('K', 'Kim@people.example', 'x', 'k', 0)",
            [],
        )
        .unwrap_err();
    assert!(e.to_string().contains("UNIQUE"), "{e}");
}
