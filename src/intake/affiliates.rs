//! Affiliates: adding one, changing one (the API's and the admin's every field, the portal's
//! own settings), and a new signing secret for their outbound postbacks. One function per
//! action, behind the API, the admin and the portal alike; what each area lets a caller change
//! is its own business (the portal cuts the changes down before it calls [`update`]).
//!
//! Architecture Invariant: plain values in (`NewAffiliate`, `Changes`, a referral code), a
//! domain outcome out; never a request or a response.

use super::Intake;
use crate::error::Error;
use crate::store::affiliates::{self, Affiliate, Changes, NewAffiliate};

/// An affiliate as a change left it, and the postback signing secret the change made (a new
/// postback URL on an affiliate without one): shown once, never stored in clear anywhere else.
#[derive(Debug)]
pub struct Saved {
    pub affiliate: Affiliate,
    pub postback_secret: Option<String>,
}

/// Adds an affiliate: 409 `duplicate_referral_code` if the code exists in any letter case.
pub fn create(ix: &Intake<'_>, new: NewAffiliate) -> Result<Saved, Error> {
    let now = crate::clock::now_ms();
    let (affiliate, postback_secret) = ix.writer.run(move |tx| affiliates::create(tx, &new, now))?;
    Ok(Saved { affiliate, postback_secret })
}

/// Applies `changes` to the affiliate `referral_code` (404 `unknown_referral_code`). Pausing
/// ends their portal sessions in the same transaction.
pub fn update(ix: &Intake<'_>, referral_code: &str, changes: Changes) -> Result<Saved, Error> {
    let code = referral_code.to_string();
    let (affiliate, postback_secret) = ix.writer.run(move |tx| affiliates::update(tx, &code, &changes))?;
    Ok(Saved { affiliate, postback_secret })
}

/// A new signing secret for the postbacks of affiliate `referral_code`; the old one stops
/// working at once.
pub fn rotate_postback_secret(ix: &Intake<'_>, referral_code: &str) -> Result<String, Error> {
    let code = referral_code.to_string();
    ix.writer.run(move |tx| {
        let id = affiliates::require_id(tx, &code)?;
        affiliates::rotate_postback_secret(tx, id)
    })
}
