//! The e-mail queue (`emails`): one row per message, written in the transaction of the action
//! that causes it (`mailing::queue`), sent by the mail lane (`outbox/mail.rs`), retried
//! with the outboxes' backoff (`deliveries::retry_delay_secs`) and listed by the API and the
//! admin. Also each affiliate's choice of notifications, and unsubscribing through a
//! notification's link.
//!
//! Links in a message carry tokens, so its body (and a notification's unsubscribe URL) is
//! kept only while it is pending: sending it, giving up on it or letting it expire empties
//! them in the same UPDATE (a CHECK constraint holds it). A message whose `expires_at` passed
//! is never sent. Erasure of an affiliate empties the recipient and the subject's details.
//!
//! Architecture Invariant: SQL only; no SMTP, no rendering; the lists never return a body.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::deliveries::{MAX_ATTEMPTS, retry_delay_secs};
use crate::error::Error;
use crate::store::writer::Tx;
use crate::tracking::mail::{Kind, Rendered};

/// A message to queue.
pub struct NewEmail<'a> {
    pub kind: Kind,
    /// The affiliate it is to or about, if any (for erasure).
    pub affiliate_id: Option<i64>,
    pub recipient: &'a str,
    pub message: &'a Rendered,
    /// `Message-ID` without its angle brackets.
    pub message_id: &'a str,
    /// A notification's unsubscribe URL and the SHA-256 of its token.
    pub unsubscribe: Option<(&'a str, [u8; 32])>,
    pub expires_at: i64,
}

/// Queues `new`, due at once. Returns its id.
pub fn insert(conn: &Tx, new: &NewEmail<'_>, now: i64) -> Result<i64, Error> {
    let (url, hash) = match &new.unsubscribe {
        Some((url, hash)) => (Some(*url), Some(&hash[..])),
        None => (None, None),
    };
    conn.prepare_cached(
        "INSERT INTO emails (kind, affiliate_id, recipient, subject, message_id, body_text, body_html, unsubscribe_url,
                             unsubscribe_hash, status, next_attempt_at, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'pending', ?10, ?10, ?11)",
    )?
    .execute(params![
        new.kind.as_str(),
        new.affiliate_id,
        new.recipient,
        new.message.subject,
        new.message_id,
        new.message.text,
        new.message.html,
        url,
        hash,
        now,
        new.expires_at
    ])?;
    Ok(conn.last_insert_rowid())
}

/// A message as the API and the admin list it: never its body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email {
    pub id: i64,
    pub kind: String,
    pub affiliate_id: Option<i64>,
    /// `None` once erased.
    pub recipient: Option<String>,
    pub subject: String,
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_attempt_at: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub sent_at: Option<i64>,
    pub expires_at: i64,
}

const COLUMNS: &str = "id, kind, affiliate_id, recipient, subject, status, attempts, next_attempt_at, last_attempt_at,
                       last_error, created_at, sent_at, expires_at";

fn from_row(r: &Row<'_>) -> rusqlite::Result<Email> {
    Ok(Email {
        id: r.get(0)?,
        kind: r.get(1)?,
        affiliate_id: r.get(2)?,
        recipient: r.get(3)?,
        subject: r.get(4)?,
        status: r.get(5)?,
        attempts: r.get(6)?,
        next_attempt_at: r.get(7)?,
        last_attempt_at: r.get(8)?,
        last_error: r.get(9)?,
        created_at: r.get(10)?,
        sent_at: r.get(11)?,
        expires_at: r.get(12)?,
    })
}

/// The statuses a message goes through.
pub const STATUSES: [&str; 4] = ["pending", "sent", "failed", "expired"];

/// Messages newest first, optionally in one `status`, before the cursor `before_id`.
pub fn list(
    conn: &Connection,
    status: Option<&str>,
    before_id: Option<i64>,
    limit: usize,
) -> Result<Vec<Email>, Error> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM emails WHERE (?1 IS NULL OR status = ?1) AND (?2 IS NULL OR id < ?2)
         ORDER BY id DESC LIMIT ?3"
    ))?;
    let rows = stmt.query_map(params![status, before_id, limit as i64], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// How many messages wait to be sent.
pub fn pending_count(conn: &Connection) -> Result<i64, Error> {
    Ok(conn.prepare_cached("SELECT count(*) FROM emails WHERE status = 'pending'")?.query_row([], |r| r.get(0))?)
}

/// A message due now, with what sending it takes.
#[derive(Clone, Debug)]
pub struct Due {
    pub id: i64,
    pub kind: Kind,
    pub recipient: String,
    pub subject: String,
    pub message_id: String,
    pub text: String,
    pub html: String,
    pub unsubscribe_url: Option<String>,
    pub attempts: i64,
    pub created_at: i64,
    pub expires_at: i64,
}

/// The oldest pending messages due at `now` (expired ones too: the lane marks them).
pub fn due(conn: &Connection, now: i64, limit: usize) -> Result<Vec<Due>, Error> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, kind, recipient, subject, message_id, body_text, body_html, unsubscribe_url, attempts, created_at,
                expires_at
         FROM emails WHERE status = 'pending' AND next_attempt_at <= ?1 ORDER BY id LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![now, limit as i64], |r| {
        let kind: String = r.get(1)?;
        Ok(Due {
            id: r.get(0)?,
            kind: Kind::parse(&kind).unwrap_or(Kind::Invite),
            recipient: r.get::<_, Option<String>>(2)?.unwrap_or_default(),
            subject: r.get(3)?,
            message_id: r.get(4)?,
            text: r.get::<_, Option<String>>(5)?.unwrap_or_default(),
            html: r.get::<_, Option<String>>(6)?.unwrap_or_default(),
            unsubscribe_url: r.get(7)?,
            attempts: r.get(8)?,
            created_at: r.get(9)?,
            expires_at: r.get(10)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// What became of one attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Sent,
    /// Failed with this error (never a password or a body); retried.
    Failed(String),
    /// Cannot be sent however often it is tried (the recipient's address cannot be written in
    /// a message): given up at once, with this error.
    Unsendable(String),
    /// Its link expired before it could be sent: it never will be.
    Expired,
}

/// The status a pending message takes after an attempt: sent; expired; retried after
/// [`retry_delay_secs`] (`None`: still pending, due at the time given); or failed for good
/// after [`MAX_ATTEMPTS`], or when the next try would come after it expires.
fn next(outcome: &Outcome, attempts: i64, expires_at: i64, now: i64) -> (&'static str, i64) {
    match outcome {
        Outcome::Sent => ("sent", now),
        Outcome::Expired => ("expired", now),
        Outcome::Unsendable(_) => ("failed", now),
        Outcome::Failed(_) => {
            let at = now + retry_delay_secs(attempts - 1) * 1000;
            if attempts >= MAX_ATTEMPTS || at >= expires_at { ("failed", now) } else { ("pending", at) }
        }
    }
}

/// Records the outcome of an attempt at message `id`; a message that leaves `pending` loses its
/// body in the same UPDATE.
pub fn record_attempt(conn: &Tx, id: i64, outcome: &Outcome, now: i64) -> Result<(), Error> {
    let Some((attempts, expires_at)) = conn
        .prepare_cached("SELECT attempts, expires_at FROM emails WHERE id = ?1 AND status = 'pending'")?
        .query_row([id], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))
        .optional()?
    else {
        return Ok(());
    };
    let attempts = if *outcome == Outcome::Expired { attempts } else { attempts + 1 };
    let (status, next_at) = next(outcome, attempts, expires_at, now);
    let error = match outcome {
        Outcome::Failed(e) | Outcome::Unsendable(e) => Some(e.as_str()),
        Outcome::Expired => Some("not sent: its link expired first"),
        Outcome::Sent => None,
    };
    conn.prepare_cached(
        "UPDATE emails SET status = ?2, attempts = ?3, next_attempt_at = ?4,
             last_attempt_at = CASE WHEN ?2 = 'expired' THEN last_attempt_at ELSE ?5 END,
             last_error = coalesce(?6, last_error), sent_at = CASE WHEN ?2 = 'sent' THEN ?5 END,
             body_text = CASE WHEN ?2 = 'pending' THEN body_text END,
             body_html = CASE WHEN ?2 = 'pending' THEN body_html END,
             unsubscribe_url = CASE WHEN ?2 = 'pending' THEN unsubscribe_url END
         WHERE id = ?1 AND status = 'pending'",
    )?
    .execute(params![id, status, attempts, next_at, now, error])?;
    Ok(())
}

/// Marks at most `limit` pending messages whose link expired before `now` as expired, dropping
/// their bodies (for messages queued while e-mail was on and never sent). Returns how many.
pub fn expire(conn: &Tx, now: i64, limit: usize) -> Result<usize, Error> {
    Ok(conn
        .prepare_cached(
            "UPDATE emails SET status = 'expired', last_error = 'not sent: its link expired first',
                 body_text = NULL, body_html = NULL, unsubscribe_url = NULL
             WHERE id IN (SELECT id FROM emails WHERE status = 'pending' AND expires_at <= ?1 ORDER BY id LIMIT ?2)",
        )?
        .execute(params![now, limit as i64])?)
}

/// Gives up the messages of `kind` to affiliate `affiliate_id` not sent yet, because a newer
/// link replaces theirs (an invite or a reset stops the earlier ones): a message with a dead
/// link would only confuse. Returns how many.
pub fn supersede(conn: &Tx, affiliate_id: i64, kind: Kind) -> Result<usize, Error> {
    Ok(conn
        .prepare_cached(
            "UPDATE emails SET status = 'expired', last_error = 'not sent: a newer link replaced it',
                 body_text = NULL, body_html = NULL, unsubscribe_url = NULL
             WHERE affiliate_id = ?1 AND kind = ?2 AND status = 'pending'",
        )?
        .execute(params![affiliate_id, kind.as_str()])?)
}

/// Deletes at most `limit` messages that left the queue before `cutoff` (the other logs'
/// retention), except those whose unsubscribe link must keep working: a notification's row
/// goes once its link is 90 days old.
pub fn prune(conn: &Tx, cutoff: i64, limit: usize) -> Result<usize, Error> {
    Ok(conn
        .prepare_cached(
            "DELETE FROM emails WHERE id IN
               (SELECT id FROM emails WHERE status != 'pending' AND created_at < ?1
                  AND (unsubscribe_hash IS NULL OR created_at < ?1 - 60 * 86400000) ORDER BY id LIMIT ?2)",
        )?
        .execute(params![cutoff, limit as i64])?)
}

/// Removes affiliate `affiliate_id` from every message to or about them, and from those sent to
/// their `address` before they were an affiliate (an applicant's answer): the recipient goes,
/// the subject becomes the kind's plain one, and a message not sent yet never will be.
pub fn erase_affiliate(conn: &Tx, affiliate_id: i64, address: Option<&str>) -> Result<usize, Error> {
    let mut changed = 0;
    for kind in Kind::ALL {
        changed += conn
            .prepare_cached(
                "UPDATE emails SET recipient = NULL, subject = ?3, body_text = NULL, body_html = NULL,
                     unsubscribe_url = NULL,
                     last_error = CASE WHEN status = 'pending' THEN 'not sent: erased' ELSE last_error END,
                     status = CASE WHEN status = 'pending' THEN 'failed' ELSE status END
                 WHERE kind = ?2 AND (affiliate_id = ?1 OR (?4 IS NOT NULL AND recipient = ?4 COLLATE NOCASE))",
            )?
            .execute(params![affiliate_id, kind.as_str(), kind.plain_subject(), address])?;
    }
    Ok(changed)
}

/// The notifications affiliate `affiliate_id` wants: (each approved conversion, each payout paid).
pub fn wants(conn: &Connection, affiliate_id: i64) -> Result<(bool, bool), Error> {
    Ok(conn
        .prepare_cached("SELECT mail_conversions, mail_payouts FROM affiliates WHERE id = ?1")?
        .query_row([affiliate_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?
        .unwrap_or((false, false)))
}

/// Sets which notifications affiliate `affiliate_id` wants.
pub fn set_wants(conn: &Tx, affiliate_id: i64, conversions: bool, payouts: bool) -> Result<(), Error> {
    conn.prepare_cached("UPDATE affiliates SET mail_conversions = ?2, mail_payouts = ?3 WHERE id = ?1")?
        .execute(params![affiliate_id, conversions, payouts])?;
    Ok(())
}

/// The notification whose unsubscribe token hashes to `hash`: its affiliate and kind.
pub fn by_unsubscribe(conn: &Connection, hash: &[u8; 32]) -> Result<Option<(i64, Kind)>, Error> {
    Ok(conn
        .prepare_cached(
            "SELECT affiliate_id, kind FROM emails WHERE unsubscribe_hash = ?1 AND affiliate_id IS NOT NULL",
        )?
        .query_row([&hash[..]], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))
        .optional()?
        .and_then(|(id, kind)| Kind::parse(&kind).map(|k| (id, k))))
}

/// Turns off the notifications of the kind whose unsubscribe token hashes to `hash`, for their
/// affiliate. Returns the kind, or `None` for an unknown link.
pub fn unsubscribe(conn: &Tx, hash: &[u8; 32]) -> Result<Option<Kind>, Error> {
    let Some((affiliate_id, kind)) = by_unsubscribe(conn, hash)? else { return Ok(None) };
    let column = if kind == Kind::ConversionApproved { "mail_conversions" } else { "mail_payouts" };
    conn.prepare_cached(&format!("UPDATE affiliates SET {column} = 0 WHERE id = ?1"))?.execute([affiliate_id])?;
    Ok(Some(kind))
}

/// What undoes the e-mail migration (`migrations/0014-emails.sql`), for tests that make a
/// database of an earlier version out of a current one.
#[cfg(test)]
pub const UNDO_MIGRATION: &str = "DROP TABLE emails; DROP TABLE password_resets;
    ALTER TABLE affiliates DROP COLUMN mail_conversions; ALTER TABLE affiliates DROP COLUMN mail_payouts;";

#[cfg(test)]
mod tests;
