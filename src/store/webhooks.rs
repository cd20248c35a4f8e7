//! Merchant webhooks: the merchant's own endpoints, the events each one wants and the key that
//! signs what is sent to it; and the queueing of events for them. An event is queued in the
//! transaction of the change it reports, one delivery per subscribed webhook, with its payload
//! rendered then, so a later change never alters what an earlier event said
//! (`webhook_deliveries` keeps the rows from there; `outbox` sends them). The key is kept in
//! clear because it must sign; it leaves this module once, in the answer that creates the
//! webhook, and is never logged.

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde_json::{Value, json};

use super::webhook_deliveries::{self, WebhookDelivery};
use crate::error::Error;
use crate::store::writer::Tx;
use crate::tracking::conversion::Conversion;
use crate::tracking::webhook::{self, Event, MAX_WEBHOOKS};

/// A live webhook, as the API shows it (never with its key).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Webhook {
    pub id: i64,
    pub url: String,
    pub events: Vec<Event>,
    pub created_at: i64,
}

/// What creating a webhook did.
#[derive(Debug)]
pub enum Created {
    /// The new webhook and its signing secret (`whsec_` + base64 of the key), to show once.
    New(Webhook, String),
    /// A live webhook has this URL already; nothing was created.
    Duplicate(Webhook),
}

const SELECT: &str = "SELECT id, url, events, created_at FROM webhooks";

fn from_row(r: &Row<'_>) -> rusqlite::Result<Webhook> {
    let events: String = r.get(2)?;
    Ok(Webhook { id: r.get(0)?, url: r.get(1)?, events: webhook::split(&events), created_at: r.get(3)? })
}

/// The secret as the merchant is shown it, per Standard Webhooks: `whsec_` + base64 of the key.
fn shown_secret(key: &[u8]) -> String {
    format!("whsec_{}", crate::secret::base64(key))
}

/// Creates a webhook for `url` and `events` (both checked by the caller) with a new random key.
/// The partial UNIQUE index on live URLs decides duplicates. Must run on the writer.
pub fn create(conn: &Tx, url: &str, events: &[Event], now: i64) -> Result<Created, Error> {
    let live: i64 =
        conn.prepare_cached("SELECT count(*) FROM webhooks WHERE deleted_at IS NULL")?.query_row([], |r| r.get(0))?;
    if let Some(existing) = by_url(conn, url)? {
        return Ok(Created::Duplicate(existing));
    }
    if live >= MAX_WEBHOOKS as i64 {
        return Err(Error::conflict(
            "too_many_webhooks",
            format!("at most {MAX_WEBHOOKS} webhooks can exist at once; delete one first"),
        ));
    }
    let key = crate::secret::random_key();
    let inserted = conn
        .prepare_cached(
            "INSERT INTO webhooks (url, events, secret, created_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (url) WHERE deleted_at IS NULL DO NOTHING",
        )?
        .execute(params![url, webhook::join(events), &key[..], now])?;
    if inserted == 0 {
        let existing = by_url(conn, url)?.ok_or_else(|| Error::internal("conflicting webhook is missing"))?;
        return Ok(Created::Duplicate(existing));
    }
    let created = get(conn, conn.last_insert_rowid())?.ok_or_else(|| Error::internal("webhook vanished"))?;
    Ok(Created::New(created, shown_secret(&key)))
}

fn by_url(conn: &Connection, url: &str) -> Result<Option<Webhook>, Error> {
    Ok(conn
        .prepare_cached(&format!("{SELECT} WHERE url = ?1 AND deleted_at IS NULL"))?
        .query_row([url], from_row)
        .optional()?)
}

/// A live webhook.
pub fn get(conn: &Connection, id: i64) -> Result<Option<Webhook>, Error> {
    Ok(conn
        .prepare_cached(&format!("{SELECT} WHERE id = ?1 AND deleted_at IS NULL"))?
        .query_row([id], from_row)
        .optional()?)
}

/// Every live webhook, oldest first (there are at most [`MAX_WEBHOOKS`]).
pub fn list(conn: &Connection) -> Result<Vec<Webhook>, Error> {
    let mut stmt = conn.prepare_cached(&format!("{SELECT} WHERE deleted_at IS NULL ORDER BY id"))?;
    let rows = stmt.query_map([], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn not_found(id: impl std::fmt::Display) -> Error {
    Error::not_found("not_found", format!("no webhook has id {id}"))
}

/// Deletes a live webhook: its key is dropped and its pending deliveries are given up. Returns
/// whether it existed. Must run on the writer.
pub fn delete(conn: &Tx, id: i64, now: i64) -> Result<bool, Error> {
    let changed = conn
        .prepare_cached("UPDATE webhooks SET deleted_at = ?1, secret = NULL WHERE id = ?2 AND deleted_at IS NULL")?
        .execute(params![now, id])?;
    if changed == 1 {
        webhook_deliveries::give_up(conn, id, "not sent: the webhook was deleted")?;
    }
    Ok(changed == 1)
}

/// Queues the webhook events that announce `change` of conversion `c` (as it is after the
/// change), with the conversion as the API shows it. The one call every change of a conversion
/// makes, in its own transaction. Test data is announced too: its `data.test` is `true`.
pub fn announce(conn: &Tx, c: &Conversion, change: Event, now: i64) -> Result<(), Error> {
    for event in Event::announcing(change, &c.flags) {
        queue(conn, event, Some(c.id), || crate::shapes::conversion(c), now)?;
    }
    Ok(())
}

/// Queues `event` with `data` for every live webhook subscribed to it, in the caller's
/// transaction; returns how many deliveries were queued. For events that are not about one
/// conversion: `payout.paid`, whose `data` is the payout as the API shows it.
pub fn enqueue(conn: &Tx, event: Event, data: &Value, now: i64) -> Result<usize, Error> {
    queue(conn, event, None, || data.clone(), now)
}

/// The body of a delivery: `{"type", "timestamp", "data"}` (Standard Webhooks' payload
/// structure), `timestamp` being when the event happened.
pub fn payload(event: Event, data: Value, now: i64) -> String {
    json!({"type": event.as_str(), "timestamp": crate::clock::rfc3339(now), "data": data}).to_string()
}

fn queue(
    conn: &Tx,
    event: Event,
    conversion_id: Option<i64>,
    data: impl FnOnce() -> Value,
    now: i64,
) -> Result<usize, Error> {
    // Stored subscriptions are comma-separated names; a name matches with its commas around it.
    let subscribers: Vec<i64> = conn
        .prepare_cached(
            "SELECT id FROM webhooks WHERE deleted_at IS NULL AND instr(',' || events || ',', ?1) > 0 ORDER BY id",
        )?
        .query_map([format!(",{},", event.as_str())], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    if subscribers.is_empty() {
        return Ok(0);
    }
    let body = payload(event, data(), now);
    for webhook_id in &subscribers {
        webhook_deliveries::insert(conn, *webhook_id, event, conversion_id, &body, now)?;
    }
    Ok(subscribers.len())
}

/// Queues a `webhook.test` event to webhook `id`, so the merchant can check their endpoint and
/// their signature check. `None` if there is no such live webhook. Must run on the writer.
pub fn queue_test(conn: &Tx, id: i64, now: i64) -> Result<Option<WebhookDelivery>, Error> {
    let Some(hook) = get(conn, id)? else { return Ok(None) };
    let data = json!({
        "webhook_id": hook.id,
        "message": "A test event from affiliated: your endpoint answered and can check the signature.",
        "test": true,
    });
    let body = payload(Event::WebhookTest, data, now);
    let delivery = webhook_deliveries::insert(conn, hook.id, Event::WebhookTest, None, &body, now)?;
    webhook_deliveries::get(conn, delivery)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        crate::store::migrate::run(&conn).unwrap();
        conn.pragma_update(None, "foreign_keys", true).unwrap();
        conn
    }

    #[test]
    fn secrets_are_standard_webhooks_keys_shown_once() {
        let conn = db();
        let Created::New(hook, secret) =
            create(&Tx::within(&conn), "https://crm.example/in", &[Event::PayoutPaid], 5).unwrap()
        else {
            panic!("not created")
        };
        // `whsec_` + standard base64 (with padding) of 32 bytes.
        assert_eq!(secret.len(), 6 + 44, "{secret}");
        assert!(secret.starts_with("whsec_") && secret.ends_with('='));
        let stored: Vec<u8> = conn.query_row("SELECT secret FROM webhooks", [], |r| r.get(0)).unwrap();
        assert_eq!(shown_secret(&stored), secret);
        assert!(
            matches!(create(&Tx::within(&conn), "https://crm.example/in", &[], 6).unwrap(), Created::Duplicate(h) if h == hook)
        );
        assert!(delete(&Tx::within(&conn), hook.id, 7).unwrap());
        assert!(!delete(&Tx::within(&conn), hook.id, 8).unwrap());
        assert!(matches!(
            create(&Tx::within(&conn), "https://crm.example/in", &[Event::PayoutPaid], 9).unwrap(),
            Created::New(..)
        ));
    }

    #[test]
    fn events_reach_only_their_subscribers() {
        let conn = db();
        create(&Tx::within(&conn), "https://a.example/", &[Event::PayoutPaid], 1).unwrap();
        create(&Tx::within(&conn), "https://b.example/", &[Event::ConversionCreated, Event::PayoutPaid], 1).unwrap();
        assert_eq!(enqueue(&Tx::within(&conn), Event::PayoutPaid, &json!({"id": 1}), 2).unwrap(), 2);
        assert_eq!(enqueue(&Tx::within(&conn), Event::ConversionCreated, &json!({}), 2).unwrap(), 1);
        assert_eq!(enqueue(&Tx::within(&conn), Event::ConversionApproved, &json!({}), 2).unwrap(), 0);
        let body: String =
            conn.query_row("SELECT payload FROM webhook_deliveries WHERE id = 1", [], |r| r.get(0)).unwrap();
        assert_eq!(body, r#"{"type":"payout.paid","timestamp":"1970-01-01T00:00:00.002Z","data":{"id":1}}"#);
    }

    #[test]
    fn there_is_a_limit() {
        let conn = db();
        for i in 0..MAX_WEBHOOKS {
            create(&Tx::within(&conn), &format!("https://h{i}.example/"), &[Event::PayoutPaid], 1).unwrap();
        }
        let e = create(&Tx::within(&conn), "https://one-more.example/", &[Event::PayoutPaid], 1).unwrap_err();
        assert_eq!(e.code, "too_many_webhooks");
    }
}
