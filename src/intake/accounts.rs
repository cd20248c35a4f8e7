//! Accounts and their sessions: the invite link that lets an affiliate choose a password (made
//! by the merchant through the API or the admin; a new one is also how a forgotten password is
//! reset), accepting it, and the server-side sessions of logged-in browsers (the admin's and
//! the portal's), opened at a login and ended at a logout.
//!
//! Who may log in is checked before these run (the admin token, the password, the throttles:
//! `web::session` and the areas' login pages); what is decided here is what must hold on the
//! writer, in the transaction that stores the session: an invite used once, a portal login
//! only for the password that was checked on an account that is still active.
//!
//! Architecture Invariant: plain values in (referral codes, tokens, password hashes), a domain
//! outcome out; never a request or a response. Invite and session tokens are stored as SHA-256
//! only and never logged.

use std::time::Duration;

use super::Intake;
use crate::error::Error;
use crate::store::affiliates;
use crate::store::portal::{self, Acceptance};
use crate::store::sessions::{self, Principal};

/// Prefix of invite tokens, so a leaked link is recognisable.
const TOKEN_PREFIX: &str = "afi_";

/// Prefix of session tokens, so a leaked one is recognisable.
pub const SESSION_TOKEN_PREFIX: &str = "afs_";

/// A session made but not stored yet: its random token (for the browser's cookie, handed out
/// only once the session committed), its CSRF token and its lifetime.
pub struct NewSession {
    token: String,
    csrf: String,
    created_at: i64,
    expires_at: i64,
}

impl NewSession {
    /// A session that lasts `lifetime` from now.
    pub fn new(lifetime: Duration) -> NewSession {
        let created_at = crate::clock::now_ms();
        let lifetime = i64::try_from(lifetime.as_millis()).unwrap_or(i64::MAX);
        NewSession {
            token: crate::secret::token(SESSION_TOKEN_PREFIX),
            csrf: crate::secret::token(""),
            created_at,
            expires_at: created_at.saturating_add(lifetime),
        }
    }

    /// The token the browser's cookie carries.
    pub fn token(&self) -> &str {
        &self.token
    }

    fn store(&self, tx: &crate::store::writer::Tx, principal: Principal) -> Result<i64, Error> {
        sessions::create(tx, &self.token, principal, &self.csrf, self.created_at, self.expires_at)
    }
}

/// Opens `session` for `principal` (the admin's login, once its token was checked).
pub fn open_session(ix: &Intake<'_>, session: NewSession, principal: Principal) -> Result<(), Error> {
    ix.writer.run(move |tx| session.store(tx, principal).map(drop))
}

/// Whether a portal login opened its session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogIn {
    Opened,
    /// The account changed between the password check and the writer (a new invite reset the
    /// password, or it was paused): no session.
    AccountChanged,
}

/// Opens `session` for affiliate `affiliate_id`, whose password was checked against
/// `checked_hash` on the worker, only if the writer still finds that hash on an active
/// affiliate: a re-invite or a pause that lands in between wins.
pub fn log_in_affiliate(
    ix: &Intake<'_>,
    affiliate_id: i64,
    checked_hash: String,
    session: NewSession,
) -> Result<LogIn, Error> {
    ix.writer.run(move |tx| {
        if !portal::still_valid(tx, affiliate_id, &checked_hash)? {
            return Ok(LogIn::AccountChanged);
        }
        session.store(tx, Principal::Affiliate(affiliate_id))?;
        Ok(LogIn::Opened)
    })
}

/// Accepts the invite of `token`: uses it up, sets `password_hash` (made by
/// `crate::password::hash`) and opens `session` for the affiliate, in one transaction, so of
/// two submissions of one link exactly one wins.
pub fn accept_invite(
    ix: &Intake<'_>,
    token: &str,
    password_hash: String,
    session: NewSession,
) -> Result<Acceptance, Error> {
    let (token, now) = (token.to_string(), crate::clock::now_ms());
    ix.writer.run(move |tx| {
        let outcome = portal::accept(tx, &token, &password_hash, now)?;
        if let Acceptance::Accepted(id) = outcome {
            session.store(tx, Principal::Affiliate(id))?;
        }
        Ok(outcome)
    })
}

/// Ends the session of `token` (a logout), for every copy of its cookie at once.
pub fn end_session(ix: &Intake<'_>, token: &str) -> Result<(), Error> {
    let (token, now) = (token.to_string(), crate::clock::now_ms());
    ix.writer.run(move |tx| sessions::end(tx, &token, now).map(drop))
}

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
    let (token, url) = invite_link(ix);
    let (code, now) = (referral_code.to_string(), crate::clock::now_ms());
    let expires_at = ix.writer.run(move |tx| {
        let id = affiliates::require_id(tx, &code)?;
        portal::invite(tx, id, &token, now)
    })?;
    Ok(Invite { url, expires_at })
}

/// A new invite token and the link that carries it (`{public url}/portal/invite/{token}`).
pub(super) fn invite_link(ix: &Intake<'_>) -> (String, String) {
    let token = crate::secret::token(TOKEN_PREFIX);
    let url = format!("{}/portal/invite/{token}", ix.config.public_url);
    (token, url)
}
