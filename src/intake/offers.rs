//! Offers: adding one and changing one, from the API and the admin alike. Each caller reads
//! the offer from its own input (a JSON body, a form) over the stored one; this is where it is
//! written.
//!
//! Architecture Invariant: plain values in (`NewOffer`, an offer's id), a domain outcome out;
//! never a request or a response.

use super::Intake;
use crate::error::Error;
use crate::store::offers::{self, NewOffer, Offer};

/// Adds an offer: 409 `duplicate_offer_id` if its id exists. Made the default offer when asked, or
/// when there is none yet.
pub fn create(ix: &Intake<'_>, new: NewOffer) -> Result<Offer, Error> {
    let now = crate::clock::now_ms();
    ix.writer.run(move |tx| offers::create(tx, &new, now))
}

/// Replaces offer `id`'s settings with `changes` (its id and currency never change).
/// Conversions already recorded keep their commission.
pub fn update(ix: &Intake<'_>, id: i64, changes: NewOffer) -> Result<Offer, Error> {
    ix.writer.run(move |tx| offers::update(tx, id, &changes))
}
