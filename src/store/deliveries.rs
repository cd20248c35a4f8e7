//! The outbox of postbacks to affiliates' own trackers. A row is written in the same transaction
//! as the conversion change it reports, so a committed change is never left unreported and an
//! uncommitted one is never reported. `outbox.rs` delivers the rows, each affiliate's oldest due
//! one at a time ([`due_per_affiliate`]). A test postback (event `test`) is queued at most
//! `tracking::outbound::TEST_POSTBACKS_PER_HOUR` times an hour per affiliate ([`queue_test`])
//! and gets one attempt, never retried on its own.

use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::error::Error;
use crate::store::writer::Tx;
use crate::tracking::conversion::{Change, Conversion, Status};
use crate::tracking::outbound::{self, DeliveryStatus, MacroValues, PostbackEvent};

/// Gives up on a delivery after this many attempts: about a day with [`retry_delay_secs`].
pub const MAX_ATTEMPTS: i64 = 18;

#[derive(Clone, Debug)]
pub struct Delivery {
    pub id: i64,
    pub affiliate_id: i64,
    pub referral_code: String,
    pub conversion_id: Option<i64>,
    pub event: PostbackEvent,
    pub url: String,
    pub progress: Progress,
    /// About test data.
    pub test: bool,
}

/// How a delivery of either outbox is going: the columns both tables share.
#[derive(Clone, Debug)]
pub struct Progress {
    pub status: DeliveryStatus,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_attempt_at: Option<i64>,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub delivered_at: Option<i64>,
}

impl Progress {
    /// Reads `status, attempts, next_attempt_at, last_attempt_at, last_status, last_error,
    /// created_at, delivered_at` from `r`, starting at column `first`.
    pub fn from_row(r: &Row<'_>, first: usize) -> rusqlite::Result<Progress> {
        Ok(Progress {
            status: r.get(first)?,
            attempts: r.get(first + 1)?,
            next_attempt_at: r.get(first + 2)?,
            last_attempt_at: r.get(first + 3)?,
            last_status: r.get(first + 4)?,
            last_error: r.get(first + 5)?,
            created_at: r.get(first + 6)?,
            delivered_at: r.get(first + 7)?,
        })
    }
}

const SELECT: &str = "SELECT d.id, d.affiliate_id, a.referral_code, d.conversion_id, d.event, d.url,
                             d.status, d.attempts, d.next_attempt_at, d.last_attempt_at, d.last_status, d.last_error,
                             d.created_at, d.delivered_at, d.test
                      FROM postback_deliveries d JOIN affiliates a ON a.id = d.affiliate_id";

fn from_row(r: &Row<'_>) -> rusqlite::Result<Delivery> {
    Ok(Delivery {
        id: r.get(0)?,
        affiliate_id: r.get(1)?,
        referral_code: r.get(2)?,
        conversion_id: r.get(3)?,
        event: r.get(4)?,
        url: r.get(5)?,
        progress: Progress::from_row(r, 6)?,
        test: r.get(14)?,
    })
}

/// Queues a postback for `event` on `c` if its affiliate has a postback URL. `status` is what
/// the `{status}` macro says: the conversion's own, except when an affiliate is told that an
/// order it was credited with went to someone else (`rejected`).
pub fn enqueue(conn: &Tx, c: &Conversion, event: Change, status: Status, now: i64) -> Result<(), Error> {
    let template: Option<String> = conn
        .prepare_cached("SELECT postback_url FROM affiliates WHERE id = ?1")?
        .query_row([c.affiliate_id], |r| r.get(0))?;
    let Some(template) = template else { return Ok(()) };
    let subs = match &c.click_id {
        Some(click) => conn
            .prepare_cached("SELECT sub1, sub2, sub3, sub4, sub5 FROM clicks WHERE id = ?1")?
            .query_row([click], |r| {
                let s = |i| r.get::<_, Option<String>>(i).map(Option::unwrap_or_default);
                Ok([s(0)?, s(1)?, s(2)?, s(3)?, s(4)?])
            })
            .optional()?
            .unwrap_or_default(),
        None => Default::default(),
    };
    let url = MacroValues::of(c, event, status.as_str(), subs).fill(&template);
    insert(conn, c.affiliate_id, Some(c.id), PostbackEvent::Change(event), &url, c.test, now)?;
    Ok(())
}

/// Whether `affiliate_id` was sent (or is being sent) a postback about conversion `conversion_id`.
pub fn was_told(conn: &Connection, conversion_id: i64, affiliate_id: i64) -> Result<bool, Error> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM postback_deliveries WHERE conversion_id = ?1 AND affiliate_id = ?2 LIMIT 1")?
        .query_row(params![conversion_id, affiliate_id], |_| Ok(()))
        .optional()?
        .is_some())
}

pub fn insert(
    conn: &Tx,
    affiliate_id: i64,
    conversion_id: Option<i64>,
    event: PostbackEvent,
    url: &str,
    test: bool,
    now: i64,
) -> Result<i64, Error> {
    conn.prepare_cached(
        "INSERT INTO postback_deliveries (affiliate_id, conversion_id, event, url, status, next_attempt_at, created_at,
                                          test)
         VALUES (?1, ?2, ?3, ?4, 'pending', ?5, ?5, ?6)",
    )?
    .execute(params![affiliate_id, conversion_id, event, url, now, test])?;
    Ok(conn.last_insert_rowid())
}

pub fn not_found(id: impl std::fmt::Display) -> Error {
    Error::not_found("not_found", format!("no postback delivery has id {id}"))
}

/// What [`queue_test`] did.
#[derive(Debug)]
pub enum TestPostback {
    Queued(Box<Delivery>),
    /// The affiliate had its test postbacks of the hour; another may be queued in this many
    /// seconds.
    TooMany {
        retry_after: u64,
    },
}

/// Queues a sample postback (event `test`) to the postback URL of affiliate `code`, so both
/// sides can check the wiring and the signature, unless the affiliate had
/// `tracking::outbound::TEST_POSTBACKS_PER_HOUR` within the hour. Must run on the writer: the
/// count and the insert are one transaction.
pub fn queue_test(conn: &Tx, code: &str, now: i64) -> Result<TestPostback, Error> {
    let affiliate = super::affiliates::by_code(conn, code)?.ok_or_else(|| super::affiliates::unknown(code))?;
    let template = affiliate.postback_url.ok_or_else(|| {
        Error::conflict("no_postback_url", format!("affiliate `{code}` has no postback_url; set one with PATCH first"))
    })?;
    let recent: Vec<i64> = conn
        .prepare_cached(
            "SELECT created_at FROM postback_deliveries WHERE affiliate_id = ?1 AND event = 'test' AND created_at > ?2",
        )?
        .query_map(params![affiliate.id, now - outbound::TEST_WINDOW_MS], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    if let Some(retry_after) = outbound::test_postback_wait(&recent, now) {
        return Ok(TestPostback::TooMany { retry_after });
    }
    let id = insert(conn, affiliate.id, None, PostbackEvent::Test, &MacroValues::sample().fill(&template), true, now)?;
    let delivery = get(conn, id)?.ok_or_else(|| Error::internal("delivery vanished"))?;
    Ok(TestPostback::Queued(Box::new(delivery)))
}

pub fn get(conn: &Connection, id: i64) -> Result<Option<Delivery>, Error> {
    Ok(conn.prepare_cached(&format!("{SELECT} WHERE d.id = ?1"))?.query_row([id], from_row).optional()?)
}

/// The oldest delivery due at `now` of each affiliate that has one (at most `limit`
/// affiliates): what the outbox chooses its next deliveries from.
pub fn due_per_affiliate(conn: &Connection, now: i64, limit: usize) -> Result<Vec<Delivery>, Error> {
    let mut stmt = conn.prepare_cached(&format!(
        "{SELECT} WHERE d.id IN (SELECT min(id) FROM postback_deliveries
                                 WHERE status = 'pending' AND next_attempt_at <= ?1 GROUP BY affiliate_id)
         ORDER BY d.id LIMIT ?2"
    ))?;
    let rows = stmt.query_map(params![now, limit as i64], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// When the next pending delivery is due, if any.
pub fn next_due_at(conn: &Connection) -> Result<Option<i64>, Error> {
    Ok(conn
        .prepare_cached("SELECT min(next_attempt_at) FROM postback_deliveries WHERE status = 'pending'")?
        .query_row([], |r| r.get(0))?)
}

pub fn pending_count(conn: &Connection) -> Result<i64, Error> {
    pending_in(conn, Outbox::Postbacks)
}

/// How many rows of `outbox` wait to be delivered.
pub fn pending_in(conn: &Connection, outbox: Outbox) -> Result<i64, Error> {
    Ok(conn
        .prepare_cached(&format!("SELECT count(*) FROM {} WHERE status = 'pending'", outbox.table()))?
        .query_row([], |r| r.get(0))?)
}

/// Seconds to wait before attempt number `attempts + 1`: 5 s, then doubling, capped at 4 h.
/// [`MAX_ATTEMPTS`] attempts span a little over a day.
pub fn retry_delay_secs(attempts: i64) -> i64 {
    let doubling = 5i64.saturating_mul(1 << attempts.clamp(0, 20));
    doubling.min(4 * 3600)
}

/// The two outboxes: postbacks to affiliates' trackers (this module) and webhooks to the
/// merchant's own systems (`webhook_deliveries`). Their rows share the delivery columns, and
/// attempts and retries follow the same rules in both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outbox {
    Postbacks,
    Webhooks,
}

impl Outbox {
    fn table(self) -> &'static str {
        match self {
            Outbox::Postbacks => "postback_deliveries",
            Outbox::Webhooks => "webhook_deliveries",
        }
    }
}

/// Records the outcome of one attempt of a row of `outbox`: delivered, retried after
/// [`retry_delay_secs`], or given up after [`MAX_ATTEMPTS`] (a test postback after its one
/// attempt: it is never retried on its own).
pub fn record_attempt_in(
    conn: &Tx,
    outbox: Outbox,
    id: i64,
    ok: bool,
    status: Option<u16>,
    error: Option<&str>,
    now: i64,
) -> Result<(), Error> {
    let table = outbox.table();
    let (attempts, event): (i64, String) = conn
        .prepare_cached(&format!("SELECT attempts, event FROM {table} WHERE id = ?1"))?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let attempts = attempts + 1;
    let once = outbox == Outbox::Postbacks && event == PostbackEvent::Test.as_str();
    let (new_status, next) = if ok {
        (DeliveryStatus::Delivered, now)
    } else if attempts >= MAX_ATTEMPTS || once {
        (DeliveryStatus::Failed, now)
    } else {
        (DeliveryStatus::Pending, now + retry_delay_secs(attempts - 1) * 1000)
    };
    conn.prepare_cached(&format!(
        "UPDATE {table}
         SET status = ?1, attempts = ?2, next_attempt_at = ?3, last_attempt_at = ?4, last_status = ?5, last_error = ?6,
             delivered_at = CASE WHEN ?1 = 'delivered' THEN ?4 ELSE delivered_at END
         WHERE id = ?7 AND status = 'pending'"
    ))?
    .execute(params![new_status, attempts, next, now, status, error, id])?;
    Ok(())
}

/// Puts a delivery back in the queue for an immediate attempt. `false` if there is no such row.
pub fn retry(conn: &Tx, id: i64, now: i64) -> Result<bool, Error> {
    retry_in(conn, Outbox::Postbacks, id, now)
}

/// [`retry`] for a row of `outbox`, with a fresh budget of attempts.
pub fn retry_in(conn: &Tx, outbox: Outbox, id: i64, now: i64) -> Result<bool, Error> {
    let changed = conn
        .prepare_cached(&format!(
            "UPDATE {} SET status = 'pending', next_attempt_at = ?1, attempts = 0 WHERE id = ?2",
            outbox.table()
        ))?
        .execute(params![now, id])?;
    Ok(changed == 1)
}

pub fn list(
    conn: &Connection,
    status: Option<DeliveryStatus>,
    before_id: Option<i64>,
    limit: usize,
) -> Result<Vec<Delivery>, Error> {
    let mut stmt = conn.prepare_cached(&format!(
        "{SELECT} WHERE (?1 IS NULL OR d.status = ?1) AND (?2 IS NULL OR d.id < ?2) ORDER BY d.id DESC LIMIT ?3"
    ))?;
    let rows = stmt.query_map(params![status, before_id, limit as i64], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_start_fast_and_give_up_after_about_a_day() {
        assert_eq!(retry_delay_secs(0), 5);
        assert_eq!(retry_delay_secs(1), 10);
        assert_eq!(retry_delay_secs(50), 4 * 3600);
        let total: i64 = (0..MAX_ATTEMPTS - 1).map(retry_delay_secs).sum();
        assert!((20 * 3600..=36 * 3600).contains(&total), "{total} s");
    }
}
