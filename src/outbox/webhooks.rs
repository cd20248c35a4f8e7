//! Sends merchant webhooks (`webhook_deliveries` rows) on a lane of their own (`lane.rs`: the
//! webhooks are the parties, one delivery in flight per webhook and per host, at most
//! [`SENDERS`] at once), so a slow merchant endpoint never holds up a postback, nor a postback
//! a webhook: one POST per delivery, its body the payload stored when the event was queued,
//! signed per the Standard Webhooks specification with the `webhook-id`, `webhook-timestamp`
//! and `webhook-signature` headers. The connection goes through an agent like the postbacks':
//! the same SSRF-guarded resolver, redirects never followed; a 2xx answer delivers, anything
//! else is retried with the postbacks' backoff (`store::deliveries`). Never logs a key, a
//! payload or a URL's path.

use std::time::Duration;

use rusqlite::Connection;

use super::lane::{self, Due as Turn};
use super::{Attempt, finish, outcome};
use crate::clock::now_ms;
use crate::error::Error;
use crate::store::deliveries::Outbox;
use crate::store::webhook_deliveries::{self, Due};
use crate::store::writer::Writer;
use crate::tracking::outbound;

/// One delivery may take this long in total. Receivers should answer at once and do slow work
/// afterwards; a slower answer counts as a failed attempt and is retried.
const TIMEOUT: Duration = Duration::from_secs(5);
/// Webhook deliveries in flight at once, at most (each to another webhook and another host).
pub const SENDERS: usize = 4;
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

/// The webhooks' lane: each webhook (one URL of the merchant's) is a party.
pub struct Webhooks {
    pub agent: ureq::Agent,
    pub writer: Writer,
}

impl lane::Source for Webhooks {
    type Item = Due;
    type Ready = Due;
    const NAME: &'static str = "webhooks";

    fn due(&self, db: &Connection, now: i64) -> Result<Vec<Turn<Due>>, Error> {
        let due = webhook_deliveries::due_per_webhook(db, now, lane::PARTIES)?;
        Ok(due
            .into_iter()
            .map(|d| Turn {
                id: d.delivery.id,
                party: d.delivery.webhook_id,
                destination: outbound::destination(&d.url),
                item: d,
            })
            .collect())
    }

    fn ready(&self, _: &Connection, due: Due) -> Due {
        due
    }

    fn send(&self, due: Due) {
        let outcome = attempt(&self.agent, &due);
        let d = &due.delivery;
        let what = format!("webhook delivery {} ({} to webhook {})", d.id, d.event.as_str(), d.webhook_id);
        finish(&self.writer, Outbox::Webhooks, d.id, &what, d.progress.attempts + 1, outcome);
    }
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
