//! Postbacks: recording one received (a network's conversion, with its log row), the inbound
//! postback token (a new one, the old one still working for a day) and sending an outbound
//! postback to an affiliate's tracker again now. From the API and the admin alike.
//!
//! Architecture Invariant: plain values in (a delivery id), a domain outcome out; never a
//! request or a response. The token is never logged.

use super::Intake;
use crate::error::Error;
use crate::store::conversions::{self, Prepared, Stored};
use crate::store::deliveries::{self, Delivery};
use crate::store::{WriteError, postbacks};
use crate::tracking::conversion::{NewConversion, Refusal};
use crate::tracking::postback::Outcome as PostbackOutcome;

/// What the log of an inbound postback keeps besides its outcome: the dialect it spoke, its
/// method and its parameters (secrets left out by the caller).
#[derive(Clone, Debug)]
pub struct Received {
    pub dialect: &'static str,
    pub method: &'static str,
    pub params: String,
}

/// [`record`] for an inbound postback, with its log row written in the same transaction
/// whatever the outcome, including a report that could not be read (`new` is then that
/// refusal). A failed conversion is undone on its own; the log row stays, `rejected` for a
/// refusal, `failed` for a failure of the store.
pub fn record(ix: &Intake<'_>, new: Result<NewConversion, Error>, received: Received) -> Result<Stored, Error> {
    let now = crate::clock::now_ms();
    let prepared = new.map_err(|e| WriteError::Refused(Refusal::rejected(e))).and_then(|new| {
        new.check()?;
        Ok(conversions::prepare(ix.db, new, ix.rules, now)?)
    });
    let outcome = ix
        .writer
        .run(move |tx| {
            let result = match prepared {
                Ok(Prepared::Row(row)) => crate::store::nested(tx, |c| conversions::insert(c, &row, now)),
                Ok(Prepared::Known(stored)) => Ok(Stored::Duplicate(*stored)),
                Ok(Prepared::Refused(refusal)) => Err(WriteError::Refused(refusal)),
                Err(e) => Err(e),
            };
            let (status, outcome, code, conversion_id) = match &result {
                Ok(Stored::Created(c) | Stored::Replaced { conversion: c, .. }) => {
                    (201, PostbackOutcome::Created, None, Some(c.id))
                }
                Ok(Stored::Duplicate(c)) => {
                    (409, PostbackOutcome::Duplicate, Some("duplicate_external_id"), Some(c.id))
                }
                Err(WriteError::Refused(r)) => (r.status, PostbackOutcome::Rejected, Some(r.code.as_ref()), None),
                Err(WriteError::Failed(e)) => (e.status, PostbackOutcome::Failed, Some(e.code.as_ref()), None),
            };
            let entry = postbacks::NewReceived {
                dialect: received.dialect,
                method: received.method,
                params: &received.params,
                status,
                outcome,
                error_code: code,
                conversion_id,
            };
            postbacks::record(tx, &entry, now)?;
            Ok(result.map_err(Error::from))
        })
        .and_then(|result| result);
    super::count(ix.metrics, &outcome);
    outcome
}

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
