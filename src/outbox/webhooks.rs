//! Sends merchant webhooks (`webhook_deliveries` rows) from the outbox thread: one POST per
//! delivery, its body the payload stored when the event was queued, signed per the Standard
//! Webhooks specification with the `webhook-id`, `webhook-timestamp` and `webhook-signature`
//! headers. The connection goes through the postbacks' agent: the same SSRF-guarded resolver,
//! redirects never followed; a 2xx answer delivers, anything else is retried with the postbacks'
//! backoff (`store::deliveries`). Never logs a key, a payload or a URL's path.

use std::thread;
use std::time::Duration;

use rusqlite::Connection;

use super::{Attempt, finish, outcome};
use crate::clock::now_ms;
use crate::store::deliveries::Outbox;
use crate::store::webhook_deliveries::{self, Due};
use crate::store::writer::Writer;

/// One delivery may take this long in total. Receivers should answer at once and do slow work
/// afterwards; a slower answer counts as a failed attempt and is retried.
const TIMEOUT: Duration = Duration::from_secs(5);
/// Deliveries attempted at once.
const BATCH: usize = 16;
const USER_AGENT: &str = concat!("affiliated/", env!("CARGO_PKG_VERSION"), " (webhook)");

/// The `webhook-signature` value: `v1,` and the base64 HMAC-SHA256 of `id.timestamp.body`,
/// keyed with the secret's decoded bytes.
pub fn signature(key: &[u8], message_id: &str, unix_seconds: i64, body: &str) -> String {
    let mac = crate::secret::hmac_sha256(key, format!("{message_id}.{unix_seconds}.{body}").as_bytes());
    format!("v1,{}", crate::secret::base64(&mac))
}

/// One attempt to deliver `due`, signed for this moment.
fn attempt(agent: &ureq::Agent, due: &Due) -> Attempt {
    let d = &due.delivery;
    let now = now_ms() / 1000;
    let result = agent
        .post(&due.url)
        .timeout(TIMEOUT)
        .set("User-Agent", USER_AGENT)
        .set("Content-Type", "application/json")
        .set("webhook-id", &d.message_id)
        .set("webhook-timestamp", &now.to_string())
        .set("webhook-signature", &signature(&due.key, &d.message_id, now, &d.payload))
        .send_string(&d.payload);
    let mut attempt = outcome(result);
    attempt.error = attempt.error.map(|e| without_path(&e));
    attempt
}

/// A network error starts with the whole URL, which for some receivers (chat services'
/// incoming webhooks) is itself a secret: only its origin is kept.
fn without_path(error: &str) -> String {
    match error.split_once(": ") {
        Some((url, rest)) if url.starts_with("http://") || url.starts_with("https://") => {
            let origin: Vec<&str> = url.splitn(4, '/').take(3).collect();
            format!("{}/…: {rest}", origin.join("/"))
        }
        _ => error.to_string(),
    }
}

/// Delivers the webhooks due now, at most [`BATCH`] at once, and records each outcome.
/// Returns whether any were due.
pub fn deliver_due(db: &Connection, agent: &ureq::Agent, writer: &Writer) -> bool {
    let due = match webhook_deliveries::due(db, now_ms(), BATCH) {
        Ok(due) => due,
        Err(e) => {
            log::error!("reading due webhooks: {e}");
            return false;
        }
    };
    thread::scope(|scope| {
        for d in &due {
            scope.spawn(move || deliver(agent, writer, d));
        }
    });
    !due.is_empty()
}

fn deliver(agent: &ureq::Agent, writer: &Writer, due: &Due) {
    let outcome = attempt(agent, due);
    let d = &due.delivery;
    let what = format!("webhook delivery {} ({} to webhook {})", d.id, d.event, d.webhook_id);
    finish(writer, Outbox::Webhooks, d.id, &what, d.progress.attempts + 1, outcome);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_base64_hmac_of_id_dot_time_dot_body() {
        // Reference value computed independently with Python's hmac and base64 modules:
        // key = b"0123456789abcdef0123456789abcdef", message "msg_1.1700000000.{\"a\":1}".
        let sig = signature(b"0123456789abcdef0123456789abcdef", "msg_1", 1_700_000_000, r#"{"a":1}"#);
        assert_eq!(sig, "v1,rkwp5YuvdrMkcu0ZhuMsXoTg44mHAr1Q0+FFgFpXsjY=");
    }

    #[test]
    fn network_errors_keep_only_the_origin() {
        assert_eq!(
            without_path("https://hooks.chat.example/services/T0/B0/XYZ: Connection Failed: refused"),
            "https://hooks.chat.example/…: Connection Failed: refused"
        );
        assert_eq!(without_path("answered 500"), "answered 500");
    }
}
