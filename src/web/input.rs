//! Reading objects from named fields, shared by the JSON API (bodies) and the admin (forms), so
//! both validate an object with the same code: the admin adds screens, not rules.

use crate::error::Error;
use crate::store::affiliates::{Changes, NewAffiliate};
use crate::tracking::{outbound, validate};
use crate::web::json::Fields;

/// The fields of a new affiliate in the API.
pub const NEW_AFFILIATE_FIELDS: &[&str] = &["referral_code", "name", "email", "postback_url"];

/// Reads and validates a new affiliate (API body or admin form).
pub fn new_affiliate(fields: &impl Fields) -> Result<NewAffiliate, Error> {
    let referral_code = fields.required_text("referral_code")?;
    validate::code(referral_code).map_err(|e| Error::invalid("referral_code", e))?;
    let name = fields.required_text("name")?;
    validate::name(name).map_err(|e| Error::invalid("name", e))?;
    let email = fields.text("email")?;
    if let Some(email) = email {
        validate::email(email).map_err(|e| Error::invalid("email", e))?;
    }
    Ok(NewAffiliate {
        referral_code: referral_code.to_string(),
        name: name.to_string(),
        email: email.map(String::from),
        postback_url: postback_url(fields)?.map(String::from),
    })
}

/// The fields of an affiliate a change may name.
pub const AFFILIATE_FIELDS: &[&str] = &["name", "email", "postback_url", "status", "payout_email", "payout_details"];

/// Reads and validates changes to an affiliate (API body or admin form): a name replaces the
/// old one; email, postback URL and payout details change when sent, and an empty one clears
/// them; `status` pauses (`paused`) or resumes (`active`) them.
pub fn affiliate_changes(fields: &impl Fields) -> Result<Changes, Error> {
    let mut changes = Changes::default();
    if let Some(name) = fields.text("name")? {
        validate::name(name).map_err(|e| Error::invalid("name", e))?;
        changes.name = Some(name.to_string());
    }
    if fields.has_field("email") {
        let email = fields.text("email")?;
        if let Some(e) = email {
            validate::email(e).map_err(|m| Error::invalid("email", m))?;
        }
        changes.email = Some(email.map(String::from));
    }
    match fields.text("status")? {
        None => {}
        Some("active") => changes.paused = Some(false),
        Some("paused") => changes.paused = Some(true),
        Some(_) => return Err(Error::invalid("status", "must be active or paused")),
    }
    if fields.has_field("postback_url") {
        changes.postback_url = Some(postback_url(fields)?.map(String::from));
    }
    if fields.has_field("payout_email") {
        let email = fields.text("payout_email")?;
        if let Some(e) = email {
            validate::email(e).map_err(|m| Error::invalid("payout_email", m))?;
        }
        changes.payout_email = Some(email.map(String::from));
    }
    if fields.has_field("payout_details") {
        let details = fields.text("payout_details")?;
        if let Some(d) = details {
            validate::payout_details(d).map_err(|m| Error::invalid("payout_details", m))?;
        }
        changes.payout_details = Some(details.map(String::from));
    }
    Ok(changes)
}

fn postback_url(body: &impl Fields) -> Result<Option<&str>, Error> {
    let url = body.text("postback_url")?;
    if let Some(url) = url {
        check_postback_url(url)?;
    }
    Ok(url)
}

/// A postback URL template may use only `tracking::outbound::POSTBACK_MACROS`.
pub fn check_postback_url(url: &str) -> Result<(), Error> {
    outbound::check_template(url).map_err(|e| Error::invalid("postback_url", e))
}
