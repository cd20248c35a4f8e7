//! Hook events held until what they need arrives (`hooks_held`): a Stripe invoice that came
//! before the checkout tying its customer, a refund that came before its order. The transaction
//! that brings what one waits for takes it ([`take`]) and records it; after
//! `tracking::connectors::HOLD_MS` the sweeper logs it as expired and deletes it ([`expire`]).
//! The same event held twice is held once (UNIQUE on what it is and what it waits for).

use rusqlite::{Connection, params};

use super::connectors::{self, NewHook};
use crate::error::Error;
use crate::store::writer::Tx;
use crate::tracking::connectors::{Action, Connector};

/// What a held event waits for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Wait {
    /// A tie of this customer (namespaced ID) to an affiliate.
    Customer(String),
    /// The conversion with this `external_id`.
    Order(String),
}

impl Wait {
    fn parts(&self) -> (&'static str, &str) {
        match self {
            Wait::Customer(id) => ("customer", id),
            Wait::Order(id) => ("order", id),
        }
    }
}

/// The event a held action came from, as the hook log names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    pub connector: Connector,
    pub event_id: Option<String>,
    pub event_type: String,
    pub test: Option<bool>,
}

/// A held action, taken out of the table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Held {
    pub origin: Origin,
    pub action: Action,
    pub held_at: i64,
}

/// Holds `action` until `wait` is met. `Ok(false)` when it was held already.
pub fn hold(conn: &Tx, wait: &Wait, origin: &Origin, action: &Action, now: i64) -> Result<bool, Error> {
    let (waits_for, awaited) = wait.parts();
    let text = serde_json::to_string(action).map_err(|e| Error::internal(format!("holding an action: {e}")))?;
    let inserted = conn
        .prepare_cached(
            "INSERT INTO hooks_held (connector, waits_for, awaited, reference, event_id, event_type, test, action,
                                     held_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             ON CONFLICT (connector, waits_for, awaited, reference) DO NOTHING",
        )?
        .execute(params![
            origin.connector.name(),
            waits_for,
            awaited,
            action.reference(),
            origin.event_id,
            origin.event_type,
            origin.test,
            text,
            now
        ])?;
    Ok(inserted == 1)
}

/// Takes every action of namespace `test` (from the platform's test mode, or live) waiting for
/// `wait`, oldest first, out of the table (with the other rows of the same action: a refund may
/// wait for one of several orders). A test order or tie never releases a live event, nor the
/// other way round: the event would not find it when replayed.
pub fn take(conn: &Tx, wait: &Wait, test: bool) -> Result<Vec<Held>, Error> {
    let (waits_for, awaited) = wait.parts();
    let rows = select(
        conn,
        "waits_for = ?1 AND awaited = ?2 AND coalesce(test, 0) = ?3 ORDER BY id",
        params![waits_for, awaited, test],
    )?;
    remove(conn, &rows)
}

/// Logs and deletes up to `limit` actions held since before `cutoff`; how many.
pub fn expire(conn: &Tx, cutoff: i64, now: i64, limit: usize) -> Result<usize, Error> {
    let rows = select(conn, "held_at < ?1 ORDER BY held_at LIMIT ?2", params![cutoff, limit as i64])?;
    let expired = remove(conn, &rows)?;
    for held in &expired {
        let (error_code, detail) = match held.action {
            Action::Refund(_) => {
                ("conversion_not_found", "no conversion of this refund's order arrived within 24 hours")
            }
            _ => ("missing_attribution", "its customer was not tied to an affiliate within 24 hours"),
        };
        let entry = NewHook {
            connector: held.origin.connector,
            event_id: held.origin.event_id.as_deref(),
            event_type: &held.origin.event_type,
            test: held.origin.test,
            action: held.action.kind(),
            reference: Some(held.action.reference()),
            outcome: "expired",
            error_code: Some(error_code),
            detail: Some(detail),
            replayed: false,
            conversion_id: None,
        };
        connectors::log(conn, &entry, now)?;
    }
    Ok(expired.len())
}

type Row = (i64, String, String, Option<String>, String, Option<bool>, String, i64);

fn select(conn: &Connection, condition: &str, values: impl rusqlite::Params) -> Result<Vec<Row>, Error> {
    let sql = format!(
        "SELECT id, connector, reference, event_id, event_type, test, action, held_at FROM hooks_held WHERE {condition}"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(values, |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Deletes `rows` and every other row of the same action; returns each action once, in order.
fn remove(conn: &Tx, rows: &[Row]) -> Result<Vec<Held>, Error> {
    let mut out: Vec<Held> = Vec::new();
    for (id, connector, reference, event_id, event_type, test, action, held_at) in rows {
        conn.prepare_cached("DELETE FROM hooks_held WHERE id = ?1")?.execute([id])?;
        let deleted = conn
            .prepare_cached("DELETE FROM hooks_held WHERE connector = ?1 AND reference = ?2 AND action = ?3")?
            .execute(params![connector, reference, action])?;
        let connector = Connector::parse(connector).ok_or_else(|| Error::internal("a held event of no connector"))?;
        let action: Action =
            serde_json::from_str(action).map_err(|e| Error::internal(format!("a held action is unreadable: {e}")))?;
        let origin = Origin { connector, event_id: event_id.clone(), event_type: event_type.clone(), test: *test };
        if deleted > 0 || !out.iter().any(|h| h.origin == origin && h.action == action) {
            out.push(Held { origin, action, held_at: *held_at });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tracking::connectors::{Order, Refund};
    use crate::tracking::conversion::RefundAmount;
    use crate::tracking::money::Currency;

    use crate::store::testing::memory as db;

    fn origin() -> Origin {
        Origin {
            connector: Connector::Stripe,
            event_id: Some("evt_1".into()),
            event_type: "invoice.paid".into(),
            test: Some(false),
        }
    }

    fn invoice() -> Action {
        Action::Order(Order {
            external_id: "in_1".into(),
            amount: 2000,
            currency: Currency::from_code("USD").unwrap(),
            click_id: None,
            coupons: vec![],
            customer_id: Some("stripe:cus_1".into()),
            waits_for_customer: true,
        })
    }

    fn refund() -> Action {
        Action::Refund(Refund {
            orders: vec!["pi_1".into(), "in_1".into()],
            refund_id: None,
            amount: RefundAmount::All,
            reference: "ch_1".into(),
        })
    }

    fn log_outcomes(conn: &Connection) -> Vec<(String, String)> {
        connectors::list(conn, None, None, None, 50).unwrap().into_iter().map(|h| (h.outcome, h.action)).collect()
    }

    #[test]
    fn an_event_is_held_once_and_taken_once() {
        let conn = db();
        let wait = Wait::Customer("stripe:cus_1".into());
        assert!(hold(&Tx::within(&conn), &wait, &origin(), &invoice(), 10).unwrap());
        assert!(!hold(&Tx::within(&conn), &wait, &origin(), &invoice(), 11).unwrap(), "a retry is held once");
        assert_eq!(take(&Tx::within(&conn), &Wait::Customer("stripe:cus_2".into()), false).unwrap(), []);
        let taken = take(&Tx::within(&conn), &wait, false).unwrap();
        assert_eq!(taken, [Held { origin: origin(), action: invoice(), held_at: 10 }]);
        assert_eq!(take(&Tx::within(&conn), &wait, false).unwrap(), [], "taken means gone");
    }

    #[test]
    fn a_refund_waiting_for_either_order_is_taken_by_the_first_and_only_once() {
        let conn = db();
        for order in ["pi_1", "in_1"] {
            hold(&Tx::within(&conn), &Wait::Order(order.into()), &origin(), &refund(), 5).unwrap();
        }
        assert_eq!(take(&Tx::within(&conn), &Wait::Order("in_1".into()), false).unwrap().len(), 1);
        assert_eq!(
            take(&Tx::within(&conn), &Wait::Order("pi_1".into()), false).unwrap(),
            [],
            "its other row went with it"
        );
    }

    #[test]
    fn a_test_mode_event_is_released_only_by_test_data_and_a_live_one_by_live_data() {
        let conn = db();
        let test_mode = Origin { test: Some(true), ..origin() };
        let no_flag = Origin { test: None, ..origin() };
        hold(&Tx::within(&conn), &Wait::Order("pi_1".into()), &test_mode, &refund(), 5).unwrap();
        assert_eq!(
            take(&Tx::within(&conn), &Wait::Order("pi_1".into()), false).unwrap(),
            [],
            "a live order of that id"
        );
        assert_eq!(take(&Tx::within(&conn), &Wait::Order("pi_1".into()), true).unwrap().len(), 1);
        let tie = Wait::Customer("woocommerce:7".into());
        hold(&Tx::within(&conn), &tie, &no_flag, &invoice(), 5).unwrap();
        assert_eq!(take(&Tx::within(&conn), &tie, true).unwrap(), [], "a platform without a test mode is live");
        assert_eq!(take(&Tx::within(&conn), &tie, false).unwrap().len(), 1);
    }

    #[test]
    fn erasing_a_customer_drops_what_waits_for_them() {
        let conn = db();
        hold(&Tx::within(&conn), &Wait::Customer("stripe:cus_1".into()), &origin(), &invoice(), 10).unwrap();
        assert!(crate::store::retention::erase_customer(&Tx::within(&conn), "stripe:cus_1", 20).unwrap());
        assert_eq!(take(&Tx::within(&conn), &Wait::Customer("stripe:cus_1".into()), false).unwrap(), []);
    }

    #[test]
    fn the_hook_log_is_pruned_with_the_other_logs() {
        let conn = db();
        let entry = |outcome| NewHook {
            connector: Connector::Paddle,
            event_id: None,
            event_type: "transaction.completed",
            test: None,
            action: "none",
            reference: None,
            outcome,
            error_code: None,
            detail: None,
            replayed: false,
            conversion_id: None,
        };
        connectors::log(&Tx::within(&conn), &entry("ignored"), 100).unwrap();
        connectors::log(&Tx::within(&conn), &entry("rejected"), 300).unwrap();
        assert_eq!(crate::store::retention::prune_logs(&Tx::within(&conn), 200, 10).unwrap(), 1);
        let left = connectors::list(&conn, None, None, None, 10).unwrap();
        assert_eq!(left.iter().map(|h| h.outcome.as_str()).collect::<Vec<_>>(), ["rejected"]);
    }

    #[test]
    fn the_sweeper_logs_what_expired_and_keeps_what_is_recent() {
        let conn = db();
        hold(&Tx::within(&conn), &Wait::Customer("stripe:cus_1".into()), &origin(), &invoice(), 100).unwrap();
        for order in ["pi_1", "in_1"] {
            hold(&Tx::within(&conn), &Wait::Order(order.into()), &origin(), &refund(), 100).unwrap();
        }
        hold(
            &Tx::within(&conn),
            &Wait::Customer("stripe:cus_9".into()),
            &origin(),
            &Action::Order(Order {
                external_id: "in_9".into(),
                ..match invoice() {
                    Action::Order(o) => o,
                    _ => unreachable!(),
                }
            }),
            500,
        )
        .unwrap();
        assert_eq!(expire(&Tx::within(&conn), 200, 1_000, 10).unwrap(), 2);
        assert_eq!(
            log_outcomes(&conn),
            [("expired".to_string(), "refund".to_string()), ("expired".to_string(), "conversion".to_string())]
        );
        assert_eq!(expire(&Tx::within(&conn), 200, 1_000, 10).unwrap(), 0);
        assert_eq!(
            take(&Tx::within(&conn), &Wait::Customer("stripe:cus_9".into()), false).unwrap().len(),
            1,
            "the recent one stayed"
        );
    }
}
