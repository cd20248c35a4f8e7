//! Coupons: codes a shopper types at checkout that credit an affiliate without a click. Adding
//! one, moving it to another affiliate or offer or switching it off, and removing it, from the
//! API and the admin alike. The affiliate and offer a coupon points to are looked up on the
//! writer, in the transaction that stores it.
//!
//! Architecture Invariant: plain values in (codes, referral codes, offer ids), a domain
//! outcome out; never a request or a response.

use super::Intake;
use crate::error::Error;
use crate::store::coupons::{self, Coupon};
use crate::tracking::validate;

/// Who a coupon credits and under which offer (`None`: the default offer at conversion time).
#[derive(Clone, Debug)]
pub struct Owner {
    pub referral_code: String,
    pub offer: Option<String>,
}

/// Adds coupon `code` for `owner`: 400 `invalid_code` for a code that cannot be one, 409
/// `duplicate_coupon` if it exists, 404 for an unknown affiliate or offer.
pub fn create(ix: &Intake<'_>, code: &str, owner: Owner) -> Result<Coupon, Error> {
    validate::code(code).map_err(|e| Error::invalid("code", e))?;
    let (code, now) = (code.to_string(), crate::clock::now_ms());
    ix.writer.run(move |tx| coupons::create_for(tx, &code, &owner.referral_code, owner.offer.as_deref(), now))
}

/// Gives coupon `code` to `owner` and switches it on or off (`active`); 404 for an unknown
/// coupon, affiliate or offer.
pub fn update(ix: &Intake<'_>, code: &str, owner: Owner, active: bool) -> Result<Coupon, Error> {
    let code = code.to_string();
    ix.writer.run(move |tx| {
        let (affiliate_id, offer_id) = coupons::owners(tx, &owner.referral_code, owner.offer.as_deref())?;
        coupons::update(tx, &code, affiliate_id, offer_id, active)
    })
}

/// Removes coupon `code` for good (conversions it credited keep it); 404 if there is none.
pub fn delete(ix: &Intake<'_>, code: &str) -> Result<(), Error> {
    let stored = code.to_string();
    if ix.writer.run(move |tx| coupons::delete(tx, &stored))? { Ok(()) } else { Err(coupons::not_found(code)) }
}
