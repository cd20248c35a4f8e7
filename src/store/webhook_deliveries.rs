//! The outbox of merchant webhooks: one row per event and webhook, written in the transaction
//! of the change it reports (`store::webhooks` queues them), delivered by `outbox` with the
//! same attempts and backoff as postbacks (`store::deliveries`). The payload is stored as the
//! exact bytes to send; only erasure ever rewrites it.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::deliveries::{self, Outbox, Progress};
use crate::error::Error;
use crate::store::writer::Tx;
use crate::tracking::outbound::DeliveryStatus;
use crate::tracking::webhook::Event;

#[derive(Clone, Debug)]
pub struct WebhookDelivery {
    pub id: i64,
    pub webhook_id: i64,
    /// The `webhook-id` header: the same on every attempt, so receivers can drop repeats.
    pub message_id: String,
    pub event: Event,
    pub conversion_id: Option<i64>,
    pub payload: String,
    pub progress: Progress,
}

/// A delivery due now, with where it goes and the key to sign it with.
pub struct Due {
    pub delivery: WebhookDelivery,
    pub url: String,
    pub key: Vec<u8>,
}

const COLUMNS: &str = "d.id, d.webhook_id, d.message_id, d.event, d.conversion_id, d.payload, d.status, d.attempts,
                       d.next_attempt_at, d.last_attempt_at, d.last_status, d.last_error, d.created_at, d.delivered_at";

fn from_row(r: &Row<'_>) -> rusqlite::Result<WebhookDelivery> {
    Ok(WebhookDelivery {
        id: r.get(0)?,
        webhook_id: r.get(1)?,
        message_id: r.get(2)?,
        event: r.get(3)?,
        conversion_id: r.get(4)?,
        payload: r.get(5)?,
        progress: Progress::from_row(r, 6)?,
    })
}

/// Queues one delivery, due now, with a new random message ID. Returns its id.
pub fn insert(
    conn: &Tx,
    webhook_id: i64,
    event: Event,
    conversion_id: Option<i64>,
    payload: &str,
    now: i64,
) -> Result<i64, Error> {
    conn.prepare_cached(
        "INSERT INTO webhook_deliveries (webhook_id, message_id, event, conversion_id, payload, status, next_attempt_at,
                                         created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6, ?6)",
    )?
    .execute(params![webhook_id, crate::secret::token("msg_"), event.as_str(), conversion_id, payload, now])?;
    Ok(conn.last_insert_rowid())
}

/// A delivery of a live webhook.
pub fn get(conn: &Connection, id: i64) -> Result<Option<WebhookDelivery>, Error> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
             WHERE d.id = ?1 AND w.deleted_at IS NULL"
        ))?
        .query_row([id], from_row)
        .optional()?)
}

pub fn not_found(id: impl std::fmt::Display) -> Error {
    Error::not_found("not_found", format!("no webhook delivery has id {id}"))
}

/// The deliveries of webhook `webhook_id`, newest first, optionally in one `status`, before
/// the cursor `before_id`.
pub fn list(
    conn: &Connection,
    webhook_id: i64,
    status: Option<DeliveryStatus>,
    before_id: Option<i64>,
    limit: usize,
) -> Result<Vec<WebhookDelivery>, Error> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM webhook_deliveries d
         WHERE d.webhook_id = ?1 AND (?2 IS NULL OR d.status = ?2) AND (?3 IS NULL OR d.id < ?3)
         ORDER BY d.id DESC LIMIT ?4"
    ))?;
    let rows = stmt.query_map(params![webhook_id, status, before_id, limit as i64], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The oldest delivery due at `now` of each live webhook that has one (at most `limit`
/// webhooks): what the outbox chooses its next webhook deliveries from.
pub fn due_per_webhook(conn: &Connection, now: i64, limit: usize) -> Result<Vec<Due>, Error> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS}, w.url, w.secret FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
         WHERE d.id IN (SELECT min(id) FROM webhook_deliveries
                        WHERE status = 'pending' AND next_attempt_at <= ?1 GROUP BY webhook_id)
           AND w.deleted_at IS NULL
         ORDER BY d.id LIMIT ?2"
    ))?;
    let rows = stmt.query_map(params![now, limit as i64], |r| {
        Ok(Due { delivery: from_row(r)?, url: r.get(14)?, key: r.get(15)? })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Puts a delivery of a live webhook back in the queue for an immediate attempt, with a fresh
/// budget of attempts and its message ID unchanged. `None` if there is no such delivery.
pub fn retry(conn: &Tx, id: i64, now: i64) -> Result<Option<WebhookDelivery>, Error> {
    if get(conn, id)?.is_none() || !deliveries::retry_in(conn, Outbox::Webhooks, id, now)? {
        return Ok(None);
    }
    get(conn, id)
}

/// Gives up the pending deliveries of webhook `webhook_id`, saying why.
pub fn give_up(conn: &Tx, webhook_id: i64, why: &str) -> Result<(), Error> {
    conn.prepare_cached(
        "UPDATE webhook_deliveries SET status = 'failed', last_error = ?1 WHERE webhook_id = ?2 AND status = 'pending'",
    )?
    .execute(params![why, webhook_id])?;
    Ok(())
}

/// Removes a person from the payloads about conversion `conversion_id` (their customer and
/// click IDs become `null`, as the conversion itself shows them after the erasure). A delivery
/// not sent yet is still sent, redacted: the merchant's own systems keep hearing of the
/// conversion, not of the person.
pub fn redact_conversion(conn: &Tx, conversion_id: i64) -> Result<(), Error> {
    conn.prepare_cached(
        "UPDATE webhook_deliveries SET payload = json_set(payload, '$.data.customer_id', NULL, '$.data.click_id', NULL)
         WHERE conversion_id = ?1",
    )?
    .execute([conversion_id])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_nulls_the_person_and_keeps_the_rest() {
        let conn = Connection::open_in_memory().unwrap();
        crate::store::migrate::run(&conn).unwrap();
        conn.execute_batch(crate::store::TEST_CATALOG).unwrap();
        conn.execute_batch(
            "INSERT INTO webhooks (id, url, events, secret, created_at) VALUES (1, 'https://x.example/', 'conversion.created', x'00', 0);
             INSERT INTO conversions (id, external_id, type, affiliate_id, offer_id, attributed_by, source, currency, amount,
                                      base_commission, commission, status, created_at, updated_at)
             VALUES (9, 'o-9', 'sale', 1, 1, 'click', 'api', 'USD', 100, 10, 10, 'pending', 0, 0);",
        )
        .unwrap();
        let body = r#"{"type":"conversion.created","timestamp":"t","data":{"id":9,"click_id":"P7x","customer_id":"cus-1","amount":"1.00"}}"#;
        let id = insert(&Tx::within(&conn), 1, Event::ConversionCreated, Some(9), body, 0).unwrap();
        redact_conversion(&Tx::within(&conn), 9).unwrap();
        let d = get(&conn, id).unwrap().unwrap();
        assert_eq!(
            d.payload,
            r#"{"type":"conversion.created","timestamp":"t","data":{"id":9,"click_id":null,"customer_id":null,"amount":"1.00"}}"#
        );
        assert_eq!(d.progress.status, "pending");
        assert!(d.message_id.starts_with("msg_") && !d.message_id.contains('.'));
    }
}
