//! Postbacks: the inbound postback token (a new one, the old one still working for a day) and
//! sending an outbound postback to an affiliate's tracker again now. From the API and the
//! admin alike.
//!
//! Architecture Invariant: plain values in (a delivery id), a domain outcome out; never a
//! request or a response. The token is never logged.

use super::Intake;
use crate::error::Error;
use crate::store::deliveries::{self, Delivery};
use crate::store::postbacks;

/// Makes a new postback token and returns it; the previous one keeps working for 24 hours. 409
/// `postback_token_configured` when the environment sets the token.
pub fn rotate_token(ix: &Intake<'_>) -> Result<String, Error> {
    if ix.config.postback_token.is_some() {
        return Err(Error::conflict(
            "postback_token_configured",
            "the postback token is set by AFFILIATED_POSTBACK_TOKEN; change it there and restart",
        ));
    }
    let (db, now) = (ix.config.db.clone(), crate::clock::now_ms());
    ix.writer.run(move |tx| postbacks::rotate(tx, &db, now))
}

/// Queues outbound postback `id` for an immediate new attempt, with a fresh budget of
/// attempts; 404 if there is none.
pub fn retry(ix: &Intake<'_>, id: i64) -> Result<Delivery, Error> {
    let now = crate::clock::now_ms();
    ix.writer.run(move |tx| {
        if !deliveries::retry(tx, id, now)? {
            return Err(deliveries::not_found(id));
        }
        deliveries::get(tx, id)?.ok_or_else(|| deliveries::not_found(id))
    })
}
