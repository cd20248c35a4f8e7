//! Applications (#24): an applicant's form stored for the merchant (`--signup review`) or
//! approved as it arrives (`--signup open`), and the merchant's decision, approve or reject,
//! from the API and the admin alike.
//!
//! Approving makes the affiliate in the same transaction as the conditional UPDATE that marks
//! the application approved, so of any number of approvals exactly one makes an affiliate; the
//! affiliate gets the applicant's name, e-mail and payout e-mail, the terms they accepted (on
//! their record and as the first entry of their ledger), the merchant's rate on an offer if one
//! was given, and, with the portal on, an invite: the set-password link.
//!
//! Each outcome carries what the people involved are to be told (the application for the
//! merchant's "received", the affiliate and their link for "approved", the application with its
//! reason for "rejected"), so the caller tells them: today its page or answer says what the
//! merchant must do, as nothing sends e-mail.
//!
//! Architecture Invariant: plain values in (a checked `NewApplication`, ids, codes, rates), a
//! domain outcome out; never a request or a response.

use super::Intake;
use super::accounts::{Invite, invite_link};
use crate::error::Error;
use crate::store::affiliates::{self, Affiliate, Changes, NewAffiliate};
use crate::store::applications::{self, Application, Stored};
use crate::store::writer::Tx;
use crate::tracking::application::{NewApplication, Signup, Status, check_reason};
use crate::tracking::commission::Rule;

/// What became of an application sent through the form.
#[derive(Debug)]
pub enum Applied {
    /// Stored, waiting for the merchant (`--signup review`).
    Received(Box<Application>),
    /// Not stored: its e-mail address has a pending application. Its sender is answered as if
    /// it had been received, so the form never tells who applied.
    AlreadyPending,
    /// Not stored: too many applications wait for a decision.
    Full,
    /// Approved at once (`--signup open`).
    Approved(Box<Approval>),
    /// Not stored (`--signup open`): another affiliate has the wished referral code.
    CodeTaken,
}

/// An approval: the application as decided, the affiliate it made, and the link for them to
/// choose their portal password (none with `--portal off`).
#[derive(Debug)]
pub struct Approval {
    pub application: Application,
    pub affiliate: Affiliate,
    pub invite: Option<Invite>,
}

/// What became of a decision (an approval or a rejection).
#[derive(Debug)]
pub enum Decision {
    Approved(Box<Approval>),
    Rejected(Box<Application>),
    /// The referral code (the wished one, or the merchant's choice) is another affiliate's:
    /// nothing changed.
    CodeTaken {
        application: Box<Application>,
        referral_code: String,
    },
    /// It was decided before: nothing changed.
    AlreadyDecided(Box<Application>),
    NotFound,
}

/// The merchant's choices when approving: another referral code than the wished one, and the
/// affiliate's own rate on an offer (rules by conversion type, as `rates::put` stores them).
#[derive(Debug, Default)]
pub struct Choices {
    pub referral_code: Option<String>,
    pub rate: Option<(i64, Vec<(String, Rule)>)>,
}

/// Takes an application from the form: checked, then stored (review) or approved at once
/// (open). 404 while applications are off.
pub fn apply(ix: &Intake<'_>, new: NewApplication) -> Result<Applied, Error> {
    new.check()?;
    let now = crate::clock::now_ms();
    match ix.config.signup {
        Signup::Off => Err(Error::not_found("not_found", "applications are closed")),
        Signup::Review => Ok(match ix.writer.run(move |tx| applications::insert(tx, &new, now))? {
            Stored::Stored(application) => Applied::Received(application),
            Stored::Duplicate => Applied::AlreadyPending,
            Stored::Full => Applied::Full,
        }),
        Signup::Open => {
            let link = ix.config.portal.then(|| invite_link(ix));
            ix.writer.run(move |tx| {
                let Some((affiliate, invite)) = make_affiliate(tx, &new, &new.referral_code, link, now)? else {
                    return Ok(Applied::CodeTaken);
                };
                let application = applications::insert_approved(tx, &new, affiliate.id, now)?;
                Ok(Applied::Approved(Box::new(Approval { application, affiliate, invite })))
            })
        }
    }
}

/// Approves pending application `id` with the merchant's `choices`: the affiliate is made and
/// the application marked approved in one transaction, by a conditional UPDATE, so it happens
/// exactly once however many approvals race (the others: 409 `invalid_status_transition`).
pub fn approve(ix: &Intake<'_>, id: i64, choices: Choices) -> Result<Decision, Error> {
    if let Some(code) = &choices.referral_code {
        crate::tracking::validate::code(code).map_err(|e| Error::invalid("referral_code", e))?;
    }
    let link = ix.config.portal.then(|| invite_link(ix));
    let now = crate::clock::now_ms();
    ix.writer.run(move |tx| {
        let Some(application) = applications::get(tx, id)? else { return Ok(Decision::NotFound) };
        if application.status != Status::Pending {
            return Ok(Decision::AlreadyDecided(Box::new(application)));
        }
        let code = choices.referral_code.clone().unwrap_or_else(|| application.referral_code.clone());
        let new = as_new(&application)?;
        let Some((affiliate, invite)) = make_affiliate(tx, &new, &code, link, now)? else {
            return Ok(Decision::CodeTaken { application: Box::new(application), referral_code: code });
        };
        // The conditional UPDATE is what makes it once: a failure here undoes the affiliate.
        if !applications::mark_approved(tx, id, affiliate.id, now)? {
            return Err(applications::refused(&application, Status::Approved));
        }
        if let Some((offer_id, rules)) = &choices.rate {
            crate::store::rates::put(tx, *offer_id, affiliate.id, rules)?;
        }
        let application = applications::get(tx, id)?.ok_or_else(|| Error::internal("the application just approved"))?;
        Ok(Decision::Approved(Box::new(Approval { application, affiliate, invite })))
    })
}

/// Rejects pending application `id`, with the merchant's `reason` if any, by a conditional
/// UPDATE like an approval's.
pub fn reject(ix: &Intake<'_>, id: i64, reason: Option<String>) -> Result<Decision, Error> {
    if let Some(reason) = &reason {
        check_reason(reason)?;
    }
    let now = crate::clock::now_ms();
    ix.writer.run(move |tx| match applications::reject(tx, id, reason.as_deref(), now)? {
        Some(application) => Ok(Decision::Rejected(Box::new(application))),
        None => Ok(match applications::get(tx, id)? {
            Some(application) => Decision::AlreadyDecided(Box::new(application)),
            None => Decision::NotFound,
        }),
    })
}

/// The application as the form sent it, for the affiliate its approval makes.
fn as_new(a: &Application) -> Result<NewApplication, Error> {
    let erased = || Error::internal("a pending application without personal data");
    Ok(NewApplication {
        name: a.name.clone().ok_or_else(erased)?,
        email: a.email.clone().ok_or_else(erased)?,
        website: a.website.clone().ok_or_else(erased)?,
        referral_code: a.referral_code.clone(),
        payout_email: a.payout_email.clone(),
        terms: a.terms.clone(),
    })
}

/// Makes the affiliate `code` from application `new`: their name, e-mail and payout e-mail, the
/// terms they accepted (record and ledger), and an invite when `link` (token, URL) is given.
/// `None` when the code is another affiliate's: nothing was written then.
fn make_affiliate(
    tx: &Tx,
    new: &NewApplication,
    code: &str,
    link: Option<(String, String)>,
    now: i64,
) -> Result<Option<(Affiliate, Option<Invite>)>, Error> {
    let affiliate = NewAffiliate {
        referral_code: code.to_string(),
        name: new.name.clone(),
        email: Some(new.email.clone()),
        postback_url: None,
    };
    let Some((affiliate, _)) = affiliates::insert(tx, &affiliate, now)? else { return Ok(None) };
    if let Some(terms) = &new.terms {
        affiliates::accept_terms(tx, affiliate.id, terms)?;
    }
    if new.payout_email.is_some() {
        let changes = Changes { payout_email: Some(new.payout_email.clone()), ..Changes::default() };
        affiliates::update(tx, &affiliate.referral_code, &changes)?;
    }
    let invite = match link {
        Some((token, url)) => {
            let expires_at = crate::store::portal::invite(tx, affiliate.id, &token, now)?;
            Some(Invite { url, expires_at })
        }
        None => None,
    };
    let affiliate = affiliates::get(tx, affiliate.id)?.ok_or_else(|| Error::internal("the affiliate just made"))?;
    Ok(Some((affiliate, invite)))
}
