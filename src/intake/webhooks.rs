//! The merchant's own webhooks: adding one, deleting one (its pending deliveries are given up),
//! a test event, and sending a delivery again now, from the API and the admin alike.
//!
//! Architecture Invariant: plain values in (a checked `NewWebhook`, row ids), a domain outcome
//! out; never a request or a response.

use super::Intake;
use crate::error::Error;
use crate::store::webhook_deliveries::{self, WebhookDelivery};
use crate::store::webhooks::{self, Created};
use crate::tracking::webhook::NewWebhook;

/// Adds a webhook: `Created::New` with its signing secret (shown once), or `Created::Duplicate`
/// with the live webhook that has this URL already (a second one would double every event).
pub fn create(ix: &Intake<'_>, new: NewWebhook) -> Result<Created, Error> {
    let now = crate::clock::now_ms();
    ix.writer.run(move |tx| webhooks::create(tx, new.url(), new.events(), now))
}

/// Deletes webhook `id`, giving up its pending deliveries; 404 if there is no live one.
pub fn delete(ix: &Intake<'_>, id: i64) -> Result<(), Error> {
    let now = crate::clock::now_ms();
    if ix.writer.run(move |tx| webhooks::delete(tx, id, now))? { Ok(()) } else { Err(webhooks::not_found(id)) }
}

/// Queues a `webhook.test` event to webhook `id`; 404 if there is no live one.
pub fn test(ix: &Intake<'_>, id: i64) -> Result<WebhookDelivery, Error> {
    let now = crate::clock::now_ms();
    ix.writer.run(move |tx| webhooks::queue_test(tx, id, now))?.ok_or_else(|| webhooks::not_found(id))
}

/// Sends delivery `id` again now, with the same `webhook-id` and a fresh budget of attempts;
/// 404 if there is none.
pub fn retry_delivery(ix: &Intake<'_>, id: i64) -> Result<WebhookDelivery, Error> {
    let now = crate::clock::now_ms();
    ix.writer.run(move |tx| webhook_deliveries::retry(tx, id, now))?.ok_or_else(|| webhook_deliveries::not_found(id))
}
