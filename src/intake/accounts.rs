//! Accounts and their sessions: the invite link that lets an affiliate choose a password (made
//! by the merchant through the API or the admin, and e-mailed to the affiliate when e-mail is
//! on), accepting it, the password-reset link an affiliate asks for by e-mail (`/portal/forgot`)
//! and using it, and the server-side sessions of logged-in browsers (the admin's and
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
use super::mail::{self, Recipient};
use crate::error::Error;
use crate::store::portal::{self, Acceptance};
use crate::store::sessions::{self, Principal};
use crate::store::{affiliates, resets};
use crate::tracking::mail::Letter;

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
    /// The address the link was queued to by e-mail, in the same transaction (`None`: e-mail
    /// is off or the affiliate has no address, so the link must be handed over by hand).
    pub emailed_to: Option<String>,
}

/// A new invite for the affiliate `referral_code`, valid for 7 days. Revokes their earlier
/// invites, resets their password and ends their portal sessions, in one transaction; with
/// e-mail on and an address on record, the link is e-mailed to them from the same
/// transaction. 404 for an unknown code; 409 `portal_off` with `--portal off`.
pub fn invite(ix: &Intake<'_>, referral_code: &str) -> Result<Invite, Error> {
    let (code, now, cx) = (referral_code.to_string(), crate::clock::now_ms(), mail::context(ix.config));
    if !cx.portal() {
        return Err(Error::conflict(
            "portal_off",
            "the affiliate portal is off (--portal off / AFFILIATED_PORTAL=off); turn it on to invite affiliates",
        ));
    }
    ix.writer.run(move |tx| {
        let id = affiliates::require_id(tx, &code)?;
        let (url, expires_at) = portal::invite_link(tx, cx.public_url(), id, now)?;
        let letter = Letter::Invite { link: url.clone(), expires_at };
        let emailed_to = match mail::queue(tx, &cx, Recipient::Affiliate(id), letter, now)? {
            Some(_) => affiliates::get(tx, id)?.and_then(|a| a.email),
            None => None,
        };
        Ok(Invite { url, expires_at, emailed_to })
    })
}

/// Prefix of password-reset tokens.
const RESET_PREFIX: &str = "afr_";

/// Asks for a password reset for whoever has the e-mail address `email`: each active affiliate
/// with it gets a new reset link by e-mail (valid an hour; earlier ones stop working). Nothing
/// says whether anyone has the address: the same work is done on the writer either way, and the
/// caller answers the same page. Does nothing with e-mail off.
pub fn request_reset(ix: &Intake<'_>, email: &str) -> Result<(), Error> {
    let cx = mail::context(ix.config);
    if !cx.on() || !cx.portal() {
        return Ok(());
    }
    let (email, now, public_url) = (email.trim().to_string(), crate::clock::now_ms(), cx.public_url().to_string());
    ix.writer.run(move |tx| {
        for holder in resets::holders(tx, &email)? {
            let token = crate::secret::token(RESET_PREFIX);
            let expires_at = resets::create(tx, holder.affiliate_id, &token, now)?;
            let link = format!("{public_url}/portal/reset/{token}");
            let letter = Letter::PasswordReset { link, expires_at };
            mail::queue(tx, &cx, Recipient::Affiliate(holder.affiliate_id), letter, now)?;
        }
        Ok(())
    })
}

/// Uses the reset link of `token`: sets `password_hash` (made by `crate::password::hash`), ends
/// every portal session of the affiliate and opens `session` for this browser, in one
/// transaction; of two submissions of one link exactly one wins.
pub fn reset_password(
    ix: &Intake<'_>,
    token: &str,
    password_hash: String,
    session: NewSession,
) -> Result<Acceptance, Error> {
    let (token, now) = (token.to_string(), crate::clock::now_ms());
    ix.writer.run(move |tx| {
        let outcome = resets::accept(tx, &token, &password_hash, now)?;
        if let Acceptance::Accepted(id) = outcome {
            session.store(tx, Principal::Affiliate(id))?;
        }
        Ok(outcome)
    })
}
