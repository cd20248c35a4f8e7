//! Affiliates' portal accounts: the invite link that lets an affiliate choose a password (made
//! by the merchant through the API or the admin; a new one is also how a forgotten password is
//! reset).
//!
//! Architecture Invariant: plain values in (a referral code), a domain outcome out; never a
//! request or a response. Invite tokens are stored as SHA-256 only and never logged.

use super::Intake;
use crate::error::Error;
use crate::store::{affiliates, portal};

/// Prefix of invite tokens, so a leaked link is recognisable.
const TOKEN_PREFIX: &str = "afi_";

/// An invite just made: the link to hand to the affiliate (shown once) and when it expires.
#[derive(Debug)]
pub struct Invite {
    /// `{public url}/portal/invite/{token}`.
    pub url: String,
    pub expires_at: i64,
}

/// A new invite for the affiliate `referral_code`, valid for 7 days. Revokes their earlier
/// invites, resets their password and ends their portal sessions, in one transaction. 404 for
/// an unknown code; 409 `portal_off` with `--portal off`.
pub fn invite(ix: &Intake<'_>, referral_code: &str) -> Result<Invite, Error> {
    if !ix.config.portal {
        return Err(Error::conflict(
            "portal_off",
            "the affiliate portal is off (--portal off / AFFILIATED_PORTAL=off); turn it on to invite affiliates",
        ));
    }
    let token = crate::secret::token(TOKEN_PREFIX);
    let url = format!("{}/portal/invite/{token}", ix.config.public_url);
    let (code, now) = (referral_code.to_string(), crate::clock::now_ms());
    let expires_at = ix.writer.run(move |tx| {
        let id = affiliates::require_id(tx, &code)?;
        portal::invite(tx, id, &token, now)
    })?;
    Ok(Invite { url, expires_at })
}
