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
//! Each action queues its e-mail in its own transaction (`mail::queue`; nothing without
//! `--smtp-url`): "application received" to the merchant, "approved" with the set-password link
//! to the new affiliate, "rejected" with the reason to the applicant. Each outcome says whether
//! it was e-mailed, so the caller's page or answer says what the merchant must do by hand when
//! it was not.
//!
//! Architecture Invariant: plain values in (a checked `NewApplication`, ids, codes, rates), a
//! domain outcome out; never a request or a response.

use super::Intake;
use super::accounts::Invite;
use super::mail::{self, Context, Letter, Recipient};
use crate::error::Error;
use crate::store::affiliates::{self, Affiliate, Changes, NewAffiliate};
use crate::store::applications::{self, Application, Stored};
use crate::store::portal;
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
/// choose their portal password (none with `--portal off`; `emailed_to` when it was e-mailed).
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
    Rejected(Box<Rejection>),
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

/// A rejection: the application as decided, and the address the "rejected" e-mail was queued
/// to (`None`: e-mail is off, so the merchant tells them if they wish).
#[derive(Debug)]
pub struct Rejection {
    pub application: Application,
    pub emailed_to: Option<String>,
}

/// The merchant's choices when approving: another referral code than the wished one, and the
/// affiliate's own rate on an offer (rules by conversion type, as `rates::put` stores them).
#[derive(Debug, Default)]
pub struct Choices {
    pub referral_code: Option<String>,
    pub rate: Option<(i64, Vec<(String, Rule)>)>,
}

/// Takes an application from the form: checked, then stored (review; the merchant is told by
/// e-mail) or approved at once (open; the new affiliate gets their link by e-mail). 404 while
/// applications are off.
pub fn apply(ix: &Intake<'_>, new: NewApplication) -> Result<Applied, Error> {
    new.check()?;
    let (now, cx) = (crate::clock::now_ms(), mail::context(ix.config));
    match ix.config.signup {
        Signup::Off => Err(Error::not_found("not_found", "applications are closed")),
        Signup::Review => ix.writer.run(move |tx| {
            Ok(match applications::insert(tx, &new, now)? {
                Stored::Stored(application) => {
                    let letter = Letter::ApplicationReceived {
                        name: new.name.clone(),
                        email: new.email.clone(),
                        website: new.website.clone(),
                        referral_code: new.referral_code.clone(),
                    };
                    mail::queue(tx, &cx, Recipient::Merchant, letter, now)?;
                    Applied::Received(application)
                }
                Stored::Duplicate => Applied::AlreadyPending,
                Stored::Full => Applied::Full,
            })
        }),
        Signup::Open => ix.writer.run(move |tx| {
            let Some((affiliate, invite)) = make_affiliate(tx, &cx, &new, &new.referral_code, now)? else {
                return Ok(Applied::CodeTaken);
            };
            let application = applications::insert_approved(tx, &new, affiliate.id, now)?;
            Ok(Applied::Approved(Box::new(Approval { application, affiliate, invite })))
        }),
    }
}

/// Approves pending application `id` with the merchant's `choices`: the affiliate is made and
/// the application marked approved in one transaction, by a conditional UPDATE, so it happens
/// exactly once however many approvals race (the others: 409 `invalid_status_transition`).
pub fn approve(ix: &Intake<'_>, id: i64, choices: Choices) -> Result<Decision, Error> {
    if let Some(code) = &choices.referral_code {
        crate::tracking::validate::code(code).map_err(|e| Error::invalid("referral_code", e))?;
    }
    let (now, cx) = (crate::clock::now_ms(), mail::context(ix.config));
    ix.writer.run(move |tx| {
        let Some(application) = applications::get(tx, id)? else { return Ok(Decision::NotFound) };
        if application.status != Status::Pending {
            return Ok(Decision::AlreadyDecided(Box::new(application)));
        }
        let code = choices.referral_code.clone().unwrap_or_else(|| application.referral_code.clone());
        let new = as_new(&application)?;
        let Some((affiliate, invite)) = make_affiliate(tx, &cx, &new, &code, now)? else {
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
/// UPDATE like an approval's; the applicant is told by e-mail, with the reason.
pub fn reject(ix: &Intake<'_>, id: i64, reason: Option<String>) -> Result<Decision, Error> {
    if let Some(reason) = &reason {
        check_reason(reason)?;
    }
    let (now, cx) = (crate::clock::now_ms(), mail::context(ix.config));
    ix.writer.run(move |tx| match applications::reject(tx, id, reason.as_deref(), now)? {
        Some(application) => {
            let emailed_to = match (&application.email, &application.name) {
                (Some(email), Some(name)) => {
                    let to = Recipient::Address { email: email.clone(), name: name.clone() };
                    let letter = Letter::ApplicationRejected { reason: reason.clone() };
                    mail::queue(tx, &cx, to, letter, now)?.map(|_| email.clone())
                }
                _ => None,
            };
            Ok(Decision::Rejected(Box::new(Rejection { application, emailed_to })))
        }
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
/// terms they accepted (record and ledger), and with the portal on an invite, e-mailed to them
/// ("approved") when e-mail is on. `None` when the code is another affiliate's: nothing was
/// written then.
fn make_affiliate(
    tx: &Tx,
    cx: &Context,
    new: &NewApplication,
    code: &str,
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
    let invite = match cx.portal() {
        true => {
            let (url, expires_at) = portal::invite_link(tx, cx.public_url(), affiliate.id, now)?;
            let letter = Letter::ApplicationApproved { link: url.clone(), expires_at };
            let queued = mail::queue(tx, cx, Recipient::Affiliate(affiliate.id), letter, now)?;
            Some(Invite { url, expires_at, emailed_to: queued.map(|_| new.email.clone()) })
        }
        false => None,
    };
    let affiliate = affiliates::get(tx, affiliate.id)?.ok_or_else(|| Error::internal("the affiliate just made"))?;
    Ok(Some((affiliate, invite)))
}
