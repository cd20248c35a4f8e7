use rusqlite::Connection;

use super::*;
use crate::tracking::mail::{Kind, Rendered};

fn db() -> Connection {
    let conn = crate::store::testing::memory();
    conn.execute_batch(crate::store::TEST_CATALOG).unwrap();
    conn
}

fn message() -> Rendered {
    Rendered { subject: "Reset for Ann".into(), text: "link afr_x".into(), html: "<p>link afr_x</p>".into() }
}

fn queue(conn: &Connection, kind: Kind, expires_at: i64, unsubscribe: Option<(&str, [u8; 32])>) -> i64 {
    let m = message();
    let new = NewEmail {
        kind,
        affiliate_id: Some(1),
        recipient: "ann@example.com",
        message: &m,
        message_id: &crate::secret::token("m"),
        unsubscribe,
        expires_at,
    };
    insert(&Tx::within(conn), &new, 0).unwrap()
}

fn body(conn: &Connection, id: i64) -> (Option<String>, Option<String>, Option<String>) {
    conn.query_row("SELECT body_text, body_html, unsubscribe_url FROM emails WHERE id = ?1", [id], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
    })
    .unwrap()
}

fn one(conn: &Connection, id: i64) -> Email {
    list(conn, None, None, 100).unwrap().into_iter().find(|e| e.id == id).unwrap()
}

#[test]
fn a_sent_message_keeps_no_body() {
    let conn = db();
    let id = queue(&conn, Kind::PasswordReset, 10_000_000, None);
    assert_eq!(due(&conn, 0, 10).unwrap()[0].text, "link afr_x");
    record_attempt(&Tx::within(&conn), id, &Outcome::Sent, 5).unwrap();
    assert_eq!(body(&conn, id), (None, None, None));
    let e = one(&conn, id);
    assert_eq!((e.status.as_str(), e.attempts, e.sent_at), ("sent", 1, Some(5)));
    assert_eq!(e.subject, "Reset for Ann");
    assert!(due(&conn, 100, 10).unwrap().is_empty());
}

#[test]
fn failures_are_retried_with_backoff_then_given_up() {
    let conn = db();
    let id = queue(&conn, Kind::PayoutPaid, i64::MAX, None);
    record_attempt(&Tx::within(&conn), id, &Outcome::Failed("connection refused".into()), 1_000).unwrap();
    let e = one(&conn, id);
    assert_eq!((e.status.as_str(), e.attempts, e.next_attempt_at), ("pending", 1, 1_000 + 5_000));
    assert_eq!(e.last_error.as_deref(), Some("connection refused"));
    assert!(due(&conn, 5_999, 10).unwrap().is_empty(), "not before its back-off");
    record_attempt(&Tx::within(&conn), id, &Outcome::Failed("again".into()), 6_000).unwrap();
    assert_eq!(one(&conn, id).next_attempt_at, 6_000 + 10_000, "the wait doubles");
    for n in 2..MAX_ATTEMPTS {
        record_attempt(&Tx::within(&conn), id, &Outcome::Failed(format!("try {n}")), 7_000).unwrap();
    }
    let e = one(&conn, id);
    assert_eq!((e.status.as_str(), e.attempts), ("failed", MAX_ATTEMPTS));
    assert_eq!(body(&conn, id), (None, None, None), "given up: its body goes");
}

#[test]
fn a_message_is_not_retried_past_its_link() {
    let conn = db();
    let id = queue(&conn, Kind::PasswordReset, 3_000, None);
    record_attempt(&Tx::within(&conn), id, &Outcome::Failed("down".into()), 1_000).unwrap();
    assert_eq!(one(&conn, id).status, "failed", "the retry would come after the link expired");
    let id = queue(&conn, Kind::Invite, 4_000, None);
    record_attempt(&Tx::within(&conn), id, &Outcome::Expired, 4_000).unwrap();
    let e = one(&conn, id);
    assert_eq!((e.status.as_str(), e.attempts), ("expired", 0));
    assert_eq!(body(&conn, id), (None, None, None));
    let id = queue(&conn, Kind::Invite, 5_000, None);
    assert_eq!(expire(&Tx::within(&conn), 4_999, 10).unwrap(), 0);
    assert_eq!(expire(&Tx::within(&conn), 5_000, 10).unwrap(), 1);
    assert_eq!((one(&conn, id).status.as_str(), body(&conn, id)), ("expired", (None, None, None)));
}

#[test]
fn erasure_leaves_no_name_and_sends_nothing_more() {
    let conn = db();
    let sent = queue(&conn, Kind::PayoutPaid, i64::MAX, None);
    record_attempt(&Tx::within(&conn), sent, &Outcome::Sent, 1).unwrap();
    let pending = queue(&conn, Kind::Invite, i64::MAX, None);
    // What they got as an applicant, before they were an affiliate: by their address.
    let m = message();
    let applicant = NewEmail {
        kind: Kind::ApplicationRejected,
        affiliate_id: None,
        recipient: "ANN@example.com",
        message: &m,
        message_id: "m1@shop.example",
        unsubscribe: None,
        expires_at: i64::MAX,
    };
    let applicant = insert(&Tx::within(&conn), &applicant, 0).unwrap();
    assert_eq!(erase_affiliate(&Tx::within(&conn), 1, Some("ann@example.com")).unwrap(), 3);
    for id in [sent, pending, applicant] {
        let e = one(&conn, id);
        assert_eq!(e.recipient, None);
        assert!(!e.subject.contains("Ann"), "{}", e.subject);
        assert_eq!(body(&conn, id), (None, None, None));
    }
    assert_eq!(one(&conn, pending).status, "failed");
    assert_eq!(one(&conn, sent).status, "sent");
    assert!(due(&conn, 10, 10).unwrap().is_empty());
}

#[test]
fn an_unsubscribe_link_turns_off_its_kind_and_outlives_the_body() {
    let conn = db();
    set_wants(&Tx::within(&conn), 1, true, true).unwrap();
    let hash = crate::secret::sha256(b"afu_1");
    let id =
        queue(&conn, Kind::ConversionApproved, i64::MAX, Some(("https://t.example/portal/unsubscribe/afu_1", hash)));
    assert_eq!(
        due(&conn, 0, 1).unwrap()[0].unsubscribe_url.as_deref(),
        Some("https://t.example/portal/unsubscribe/afu_1")
    );
    record_attempt(&Tx::within(&conn), id, &Outcome::Sent, 1).unwrap();
    assert_eq!(unsubscribe(&Tx::within(&conn), &crate::secret::sha256(b"other")).unwrap(), None);
    assert_eq!(unsubscribe(&Tx::within(&conn), &hash).unwrap(), Some(Kind::ConversionApproved));
    assert_eq!(wants(&conn, 1).unwrap(), (false, true), "payout e-mails stay on");
}

#[test]
fn lists_filter_by_status_and_page_by_id() {
    let conn = db();
    let ids: Vec<i64> = (0..3).map(|i| queue(&conn, Kind::Invite, 1_000 + i, None)).collect();
    record_attempt(&Tx::within(&conn), ids[1], &Outcome::Sent, 1).unwrap();
    assert_eq!(list(&conn, Some("sent"), None, 10).unwrap().len(), 1);
    let page: Vec<i64> = list(&conn, None, Some(ids[2]), 10).unwrap().iter().map(|e| e.id).collect();
    assert_eq!(page, [ids[1], ids[0]]);
    assert_eq!(pending_count(&conn).unwrap(), 2);
}

#[test]
fn a_newer_link_replaces_the_unsent_message_of_an_older_one() {
    let conn = db();
    let old = queue(&conn, Kind::PasswordReset, 10_000_000, None);
    let paid = queue(&conn, Kind::PayoutPaid, 10_000_000, None);
    assert_eq!(supersede(&Tx::within(&conn), 1, Kind::PasswordReset).unwrap(), 1);
    let e = one(&conn, old);
    assert_eq!((e.status.as_str(), e.last_error.as_deref()), ("expired", Some("not sent: a newer link replaced it")));
    assert_eq!(body(&conn, old), (None, None, None), "the dead link's body goes");
    assert_eq!(one(&conn, paid).status, "pending", "other kinds stay");
    let new = queue(&conn, Kind::PasswordReset, 10_000_000, None);
    record_attempt(&Tx::within(&conn), new, &Outcome::Sent, 5).unwrap();
    assert_eq!(supersede(&Tx::within(&conn), 1, Kind::PasswordReset).unwrap(), 0, "a sent one stays sent");
}

#[test]
fn a_message_that_cannot_be_sent_is_given_up_at_once() {
    let conn = db();
    let id = queue(&conn, Kind::PayoutPaid, i64::MAX, None);
    let outcome = Outcome::Unsendable("the recipient's address is not usable".into());
    record_attempt(&Tx::within(&conn), id, &outcome, 1_000).unwrap();
    let e = one(&conn, id);
    assert_eq!((e.status.as_str(), e.attempts), ("failed", 1), "no retry can fix it");
    assert_eq!(e.last_error.as_deref(), Some("the recipient's address is not usable"));
    assert_eq!(body(&conn, id), (None, None, None));
}
