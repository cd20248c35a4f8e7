//! Affiliates' own rates on an offer (`PUT`/`DELETE /api/v1/offers/{id}/rates/{code}`): set
//! one, replacing what was there, or go back to the offer's rates.
//!
//! Architecture Invariant: plain values in (row ids, commission rules), a domain outcome out;
//! never a request or a response.

use super::Intake;
use crate::error::Error;
use crate::store::rates::{self, AffiliateRate};
use crate::tracking::commission::Rule;

/// Gives affiliate `affiliate_id` its own rate on offer `offer_id`: `rule` for every conversion
/// type, or, when `per_type` lists any, those rates per type (other types earn nothing).
pub fn put(
    ix: &Intake<'_>,
    offer_id: i64,
    affiliate_id: i64,
    rule: Rule,
    per_type: Vec<(String, Rule)>,
) -> Result<AffiliateRate, Error> {
    let rules = rules(rule, per_type);
    ix.writer.run(move |tx| rates::put(tx, offer_id, affiliate_id, &rules))
}

/// The rules an affiliate's rate stores: `rule` for every conversion type, or the rules per type.
pub fn rules(rule: Rule, per_type: Vec<(String, Rule)>) -> Vec<(String, Rule)> {
    if per_type.is_empty() { vec![(rates::EVERY_TYPE.to_string(), rule)] } else { per_type }
}

/// Removes the affiliate's own rate on the offer; `false` when there was none.
pub fn delete(ix: &Intake<'_>, offer_id: i64, affiliate_id: i64) -> Result<bool, Error> {
    ix.writer.run(move |tx| rates::delete(tx, offer_id, affiliate_id))
}
