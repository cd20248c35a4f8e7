//! The sweeper's automatic approvals: pending conversions whose hold period has passed (rules in
//! `tracking::hold`), in small batches walking `(created_at, id)`, each approved through
//! [`decide`] so the event (`approved after hold period`, actor `hold_period`), the daily
//! totals, the ledger and the affiliate's postback follow as for any approval.

use rusqlite::params;

use super::change::{Decision, decide};
use crate::error::Error;
use crate::store::writer::Tx;
use crate::tracking::conversion::{Conversion, Source, Status};
use crate::tracking::hold::{self, Waiting};

pub const ACTOR: &str = "hold_period";
pub const REASON: &str = "approved after hold period";

/// Where a sweep of approvals has got to: the last `(created_at, id)` looked at.
pub type Cursor = (i64, i64);

/// One batch: looks at up to `limit` pending conversions after `after` that could be past some
/// hold, approves those that are. Returns how many were approved, and the cursor to continue
/// from (`None` when nothing is left). Must run on the writer.
pub fn approve_batch(
    conn: &Tx,
    after: Cursor,
    default_hold_ms: Option<i64>,
    now: i64,
    limit: usize,
) -> Result<(usize, Option<Cursor>), Error> {
    approve_batch_then(conn, after, default_hold_ms, now, limit, |_, _| Ok(()))
}

/// [`approve_batch`], calling `then` in the same transaction with each conversion it approved
/// (the sweeper queues the affiliate's e-mail there).
pub fn approve_batch_then(
    conn: &Tx,
    after: Cursor,
    default_hold_ms: Option<i64>,
    now: i64,
    limit: usize,
    then: impl Fn(&Tx, &Conversion) -> Result<(), Error>,
) -> Result<(usize, Option<Cursor>), Error> {
    let shortest_offer: Option<i64> =
        conn.prepare_cached("SELECT min(approve_after_days) FROM offers")?.query_row([], |r| r.get(0))?;
    let shortest = match (shortest_offer.and_then(|d| hold::hold_ms(Some(d), None)), default_hold_ms) {
        (Some(a), Some(b)) => a.min(b),
        (a, b) => match a.or(b) {
            Some(h) => h,
            None => return Ok((0, None)),
        },
    };
    let rows: Vec<(i64, Waiting, Option<i64>)> = conn
        .prepare_cached(
            "SELECT v.id, v.created_at, v.source, v.test, v.flags IS NOT NULL, v.refunded_amount, o.approve_after_days
             FROM conversions v JOIN offers o ON o.id = v.offer_id
             WHERE v.status = 'pending' AND (v.created_at, v.id) > (?1, ?2) AND v.created_at <= ?3
             ORDER BY v.created_at, v.id LIMIT ?4",
        )?
        .query_map(params![after.0, after.1, now.saturating_sub(shortest), limit as i64], |r| {
            let source: String = r.get(2)?;
            let waiting = Waiting {
                // An unknown source is treated as the least trusted one.
                source: Source::parse(&source).unwrap_or(Source::Pixel),
                test: r.get(3)?,
                flagged: r.get(4)?,
                refunded_amount: r.get(5)?,
                created_at: r.get(1)?,
            };
            Ok((r.get(0)?, waiting, r.get(6)?))
        })?
        .collect::<Result<_, _>>()?;
    let mut approved = 0;
    for (id, waiting, offer_days) in &rows {
        if !hold::approvable(waiting, hold::hold_ms(*offer_days, default_hold_ms), now) {
            continue;
        }
        if let Decision::Changed(c) = decide(conn, *id, Status::Approved, ACTOR, Some(REASON), now)? {
            then(conn, &c)?;
            approved += 1;
        }
    }
    let next = (rows.len() == limit).then(|| rows.last().map(|(id, w, _)| (w.created_at, *id))).flatten();
    Ok((approved, next))
}

#[cfg(test)]
mod tests {
    use rusqlite::Connection;

    use super::*;
    use crate::store::testing::{convert, refund};

    const DAY: i64 = 86_400_000;

    #[test]
    fn approves_what_waited_long_enough_through_the_decide_path_in_batches() {
        let conn = Connection::open_in_memory().unwrap();
        crate::store::migrate::run(&conn).unwrap();
        conn.execute_batch(crate::store::TEST_CATALOG).unwrap();
        let old: Vec<i64> = (0..5).map(|i| convert(&conn, &format!("o{i}"), "ann", "10.00", "USD", i)).collect();
        let young = convert(&conn, "young", "ann", "10.00", "USD", 10 * DAY);
        let refunded = convert(&conn, "part", "ann", "10.00", "USD", 1);
        refund(&conn, refunded, Some("0.01"), 2);
        let flagged = convert(&conn, "flagged", "ann", "10.00", "USD", 1);
        conn.execute("UPDATE conversions SET flags = 'too_fast' WHERE id = ?1", [flagged]).unwrap();
        let now = 10 * DAY;
        assert_eq!(
            approve_batch(&Tx::within(&conn), (i64::MIN, i64::MIN), None, now, 100).unwrap(),
            (0, None),
            "no hold: nothing"
        );
        let (first, next) = approve_batch(&Tx::within(&conn), (i64::MIN, i64::MIN), Some(7 * DAY), now, 3).unwrap();
        assert_eq!(first, 2, "o0, o1 and the refunded one were looked at");
        let (rest, end) = approve_batch(&Tx::within(&conn), next.unwrap(), Some(7 * DAY), now, 100).unwrap();
        assert_eq!((rest, end), (3, None), "the refunded and the flagged ones wait for a person");
        let status = |id: i64| super::super::get(&conn, id).unwrap().unwrap().status;
        assert!(old.iter().all(|id| status(*id) == Status::Approved));
        for id in [young, refunded, flagged] {
            assert_eq!(status(id), Status::Pending);
        }
        let events = crate::store::events::of_conversion(&conn, old[0]).unwrap();
        let last = events.last().unwrap();
        assert_eq!((last.actor.as_str(), last.reason.as_deref()), (ACTOR, Some(REASON)));
        let ledger = crate::store::ledger::entries(&conn, 1).unwrap();
        assert_eq!(ledger.iter().filter(|e| e.kind == "approved").count(), 5);
        // An offer's own hold wins: 20 days keeps everything pending even with a server default of 1.
        conn.execute("UPDATE offers SET approve_after_days = 20", []).unwrap();
        assert_eq!(approve_batch(&Tx::within(&conn), (i64::MIN, i64::MIN), Some(DAY), 20 * DAY, 100).unwrap().0, 0);
        assert_eq!(approve_batch(&Tx::within(&conn), (i64::MIN, i64::MIN), None, 30 * DAY, 100).unwrap().0, 1, "young");
    }

    #[test]
    fn an_approval_after_the_hold_tells_the_affiliate_like_any_other() {
        let conn = Connection::open_in_memory().unwrap();
        crate::store::migrate::run(&conn).unwrap();
        conn.execute_batch(crate::store::TEST_CATALOG).unwrap();
        conn.execute("UPDATE affiliates SET email = 'ann@example.com', mail_conversions = 1 WHERE id = 1", []).unwrap();
        let id = convert(&conn, "o-4711", "ann", "10.00", "USD", 0);
        let cx = crate::store::mailing::Context::new(true, true, "https://t.example", None, "p@shop.example");
        let tell = |tx: &Tx<'_>, c: &Conversion| crate::store::mailing::conversion_approved(tx, &cx, c, 8 * DAY);
        let (n, _) =
            approve_batch_then(&Tx::within(&conn), (i64::MIN, i64::MIN), Some(7 * DAY), 8 * DAY, 100, tell).unwrap();
        assert_eq!(n, 1);
        assert_eq!(super::super::get(&conn, id).unwrap().unwrap().status, Status::Approved);
        let (kind, subject): (String, String) =
            conn.query_row("SELECT kind, subject FROM emails", [], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
        assert_eq!((kind.as_str(), subject.as_str()), ("conversion_approved", "Commission approved: 1.00 USD"));
    }
}
