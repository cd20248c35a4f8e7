//! The shop connectors' storage: signing secrets set through the API, and the log of webhooks
//! received (`hooks_received`), one row per thing a hook did, written in the transaction that
//! did it. The log holds identifiers and outcomes only, never a body: bodies carry customers'
//! names, e-mails and addresses. Secrets are kept in clear because an HMAC can only be checked
//! with the secret itself; nothing here logs them.

use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::error::Error;
use crate::store::writer::Tx;
use crate::tracking::connectors::Connector;

/// Every outcome a logged hook can have (the table's CHECK constraint lists the same).
pub const OUTCOMES: &[&str] =
    &["created", "duplicate", "refunded", "tied", "held", "expired", "ignored", "unattributed", "rejected"];

/// The secret set through the API for `connector`, if any.
pub fn secret(conn: &Connection, connector: Connector) -> Result<Option<String>, Error> {
    Ok(conn
        .prepare_cached("SELECT secret FROM connector_secrets WHERE connector = ?1")?
        .query_row([connector.name()], |r| r.get(0))
        .optional()?)
}

pub fn set_secret(conn: &Tx, connector: Connector, secret: &str, now: i64) -> Result<(), Error> {
    conn.prepare_cached(
        "INSERT INTO connector_secrets (connector, secret, updated_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (connector) DO UPDATE SET secret = ?2, updated_at = ?3",
    )?
    .execute(params![connector.name(), secret, now])?;
    Ok(())
}

/// Forgets the stored secret; whether there was one.
pub fn delete_secret(conn: &Tx, connector: Connector) -> Result<bool, Error> {
    Ok(conn.prepare_cached("DELETE FROM connector_secrets WHERE connector = ?1")?.execute([connector.name()])? == 1)
}

/// When each connector's stored secret was last set (connectors without one are absent).
pub fn stored(conn: &Connection) -> Result<Vec<(Connector, i64)>, Error> {
    let mut stmt = conn.prepare_cached("SELECT connector, updated_at FROM connector_secrets ORDER BY connector")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
    let mut out = Vec::new();
    for row in rows {
        let (name, at) = row?;
        out.extend(Connector::parse(&name).map(|c| (c, at)));
    }
    Ok(out)
}

/// One row of the hook log, to write.
#[derive(Clone, Debug)]
pub struct NewHook<'a> {
    pub connector: Connector,
    pub event_id: Option<&'a str>,
    pub event_type: &'a str,
    pub test: Option<bool>,
    /// `conversion`, `refund`, `tie`, or `none` for a hook that did nothing.
    pub action: &'a str,
    pub reference: Option<&'a str>,
    pub outcome: &'a str,
    pub error_code: Option<&'a str>,
    pub detail: Option<&'a str>,
    pub replayed: bool,
    pub conversion_id: Option<i64>,
}

pub fn log(conn: &Tx, h: &NewHook<'_>, now: i64) -> Result<(), Error> {
    conn.prepare_cached(
        "INSERT INTO hooks_received (received_at, connector, event_id, event_type, test, action, reference, outcome,
                                     error_code, detail, replayed, conversion_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?
    .execute(params![
        now,
        h.connector.name(),
        h.event_id,
        h.event_type,
        h.test,
        h.action,
        h.reference,
        h.outcome,
        h.error_code,
        h.detail,
        h.replayed,
        h.conversion_id
    ])?;
    Ok(())
}

/// A logged hook.
#[derive(Clone, Debug)]
pub struct ReceivedHook {
    pub id: i64,
    pub received_at: i64,
    pub connector: String,
    pub event_id: Option<String>,
    pub event_type: String,
    pub test: Option<bool>,
    pub action: String,
    pub reference: Option<String>,
    pub outcome: String,
    pub error_code: Option<String>,
    pub detail: Option<String>,
    pub replayed: bool,
    pub conversion_id: Option<i64>,
}

fn from_row(r: &Row<'_>) -> rusqlite::Result<ReceivedHook> {
    Ok(ReceivedHook {
        id: r.get(0)?,
        received_at: r.get(1)?,
        connector: r.get(2)?,
        event_id: r.get(3)?,
        event_type: r.get(4)?,
        test: r.get(5)?,
        action: r.get(6)?,
        reference: r.get(7)?,
        outcome: r.get(8)?,
        error_code: r.get(9)?,
        detail: r.get(10)?,
        replayed: r.get(11)?,
        conversion_id: r.get(12)?,
    })
}

/// The log, newest first, optionally of one connector and one outcome, before `before_id`.
pub fn list(
    conn: &Connection,
    connector: Option<Connector>,
    outcome: Option<&str>,
    before_id: Option<i64>,
    limit: usize,
) -> Result<Vec<ReceivedHook>, Error> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, received_at, connector, event_id, event_type, test, action, reference, outcome, error_code, detail,
                replayed, conversion_id
         FROM hooks_received
         WHERE (?1 IS NULL OR connector = ?1) AND (?2 IS NULL OR outcome = ?2) AND (?3 IS NULL OR id < ?3)
         ORDER BY id DESC LIMIT ?4",
    )?;
    let rows = stmt.query_map(params![connector.map(Connector::name), outcome, before_id, limit as i64], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::store::testing::memory as db;

    #[test]
    fn secrets_are_set_replaced_listed_and_deleted() {
        let conn = db();
        assert_eq!(secret(&conn, Connector::Stripe).unwrap(), None);
        set_secret(&Tx::within(&conn), Connector::Stripe, "whsec_a", 1).unwrap();
        set_secret(&Tx::within(&conn), Connector::Stripe, "whsec_b", 2).unwrap();
        set_secret(&Tx::within(&conn), Connector::Paddle, "pdl_ntfset_x", 3).unwrap();
        assert_eq!(secret(&conn, Connector::Stripe).unwrap().as_deref(), Some("whsec_b"));
        assert_eq!(stored(&conn).unwrap(), [(Connector::Paddle, 3), (Connector::Stripe, 2)]);
        assert!(delete_secret(&Tx::within(&conn), Connector::Stripe).unwrap());
        assert!(!delete_secret(&Tx::within(&conn), Connector::Stripe).unwrap());
        assert_eq!(secret(&conn, Connector::Stripe).unwrap(), None);
    }

    #[test]
    fn the_log_filters_by_connector_and_outcome_newest_first() {
        let conn = db();
        let entry = |connector, outcome| NewHook {
            connector,
            event_id: Some("evt_1"),
            event_type: "invoice.paid",
            test: Some(true),
            action: "conversion",
            reference: Some("in_1"),
            outcome,
            error_code: None,
            detail: None,
            replayed: false,
            conversion_id: None,
        };
        log(&Tx::within(&conn), &entry(Connector::Stripe, "held"), 1).unwrap();
        log(&Tx::within(&conn), &entry(Connector::Stripe, "created"), 2).unwrap();
        log(&Tx::within(&conn), &entry(Connector::Shopify, "created"), 3).unwrap();
        let all = list(&conn, None, None, None, 10).unwrap();
        assert_eq!(all.iter().map(|h| h.id).collect::<Vec<_>>(), [3, 2, 1]);
        assert_eq!(all[2].test, Some(true));
        assert_eq!(list(&conn, Some(Connector::Stripe), None, None, 10).unwrap().len(), 2);
        assert_eq!(list(&conn, Some(Connector::Stripe), Some("created"), None, 10).unwrap()[0].id, 2);
        assert_eq!(list(&conn, None, None, Some(2), 10).unwrap()[0].id, 1);
        let bad = NewHook { outcome: "nonsense", ..entry(Connector::Stripe, "held") };
        assert!(log(&Tx::within(&conn), &bad, 4).is_err(), "the CHECK constraint refuses unknown outcomes");
    }
}
