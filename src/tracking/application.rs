//! Applications to join the program (#24): who may apply (`--signup`), what an application must
//! hold, its statuses, and the limits that keep the form from being abused. Pure: no SQL, no
//! HTTP, no clock; the form's fields are checked with the same value checks as the API's
//! (`validate`), so an applicant cannot send what the merchant could not.
//!
//! Architecture Invariant: values and rules only; where an application is stored and how the
//! form and the API read it live in `store/applications.rs`, `intake/applications.rs` and the
//! web areas.

use super::validate;
use crate::error::Error;

/// Whether and how would-be affiliates can apply (`--signup`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signup {
    /// No application form: `/portal/apply` is a 404, affiliates exist only when the merchant
    /// creates them.
    Off,
    /// Applications wait for the merchant's decision.
    Review,
    /// Every application is approved as it arrives: anyone may become an affiliate.
    Open,
}

impl Signup {
    pub fn parse(text: &str) -> Option<Signup> {
        match text {
            "off" => Some(Signup::Off),
            "review" => Some(Signup::Review),
            "open" => Some(Signup::Open),
            _ => None,
        }
    }

    pub fn is_on(self) -> bool {
        self != Signup::Off
    }
}

/// Where an application stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Pending,
    Approved,
    Rejected,
}

impl Status {
    pub const ALL: [Status; 3] = [Status::Pending, Status::Approved, Status::Rejected];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Approved => "approved",
            Status::Rejected => "rejected",
        }
    }

    pub fn parse(text: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// Applications one client address may send in [`WINDOW_SECS`] (IPv6: one /64).
pub const PER_ADDRESS: u32 = 5;
/// The window of [`PER_ADDRESS`]: an hour.
pub const WINDOW_SECS: u64 = 3600;
/// Pending applications at most; beyond, the form answers 503 until the merchant decides some.
pub const MAX_PENDING: i64 = 1000;
/// The longest `website` (or how they promote) and rejection `reason`, in characters.
pub const MAX_TEXT_CHARS: usize = 500;

/// The terms an applicant accepted: the URL of `--terms-url` when they applied, and when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Terms {
    pub url: String,
    pub accepted_at: i64,
}

/// An application as the form sends it, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewApplication {
    pub name: String,
    pub email: String,
    /// Their website, or how they promote.
    pub website: String,
    /// The referral code they wish for.
    pub referral_code: String,
    pub payout_email: Option<String>,
    pub terms: Option<Terms>,
}

impl NewApplication {
    /// Checks every field as the API checks an affiliate's (`invalid_<field>` and what to send
    /// instead): the name, e-mail, wished referral code and payout e-mail with `validate`, the
    /// website as free text of at most [`MAX_TEXT_CHARS`] characters.
    pub fn check(&self) -> Result<(), Error> {
        validate::name(&self.name).map_err(|e| Error::invalid("name", e))?;
        validate::email(&self.email).map_err(|e| Error::invalid("email", e))?;
        check_text(&self.website).map_err(|e| Error::invalid("website", e))?;
        validate::code(&self.referral_code).map_err(|e| Error::invalid("referral_code", e))?;
        if let Some(email) = &self.payout_email {
            validate::email(email).map_err(|e| Error::invalid("payout_email", e))?;
        }
        Ok(())
    }
}

/// A rejection's reason, as the merchant writes it: at most [`MAX_TEXT_CHARS`] characters on
/// one line.
pub fn check_reason(reason: &str) -> Result<(), Error> {
    check_text(reason).map_err(|e| Error::invalid("reason", e))
}

/// Free text on one line: not blank, at most [`MAX_TEXT_CHARS`] characters, no control characters.
fn check_text(text: &str) -> Result<(), String> {
    if text.trim().is_empty() {
        return Err("must not be empty".into());
    }
    if text.chars().count() > MAX_TEXT_CHARS {
        return Err(format!("must be at most {MAX_TEXT_CHARS} characters"));
    }
    if text.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    Ok(())
}

/// The answer to an application that is no longer pending: it was decided once, and that stands.
pub fn already_decided(id: i64, status: Status, wanted: Status) -> Error {
    let verb = if wanted == Status::Approved { "approved" } else { "rejected" };
    Error::conflict(
        "invalid_status_transition",
        format!("application {id} is {} already; only pending applications can be {verb}", status.as_str()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn application() -> NewApplication {
        NewApplication {
            name: "Ann Example".into(),
            email: "ann@example.com".into(),
            website: "https://ann.example, a hiking blog".into(),
            referral_code: "ann".into(),
            payout_email: None,
            terms: None,
        }
    }

    #[test]
    fn an_application_is_checked_like_the_apis_affiliate() {
        assert!(application().check().is_ok());
        let code = |a: NewApplication| a.check().unwrap_err().code.to_string();
        assert_eq!(code(NewApplication { email: "ann".into(), ..application() }), "invalid_email");
        assert_eq!(code(NewApplication { email: "a b@example.com".into(), ..application() }), "invalid_email");
        assert_eq!(code(NewApplication { referral_code: "ann b".into(), ..application() }), "invalid_referral_code");
        assert_eq!(code(NewApplication { referral_code: "a".repeat(65), ..application() }), "invalid_referral_code");
        assert_eq!(code(NewApplication { name: " ".into(), ..application() }), "invalid_name");
        assert_eq!(code(NewApplication { website: "".into(), ..application() }), "invalid_website");
        assert_eq!(code(NewApplication { website: "x\ny".into(), ..application() }), "invalid_website");
        assert_eq!(code(NewApplication { website: "x".repeat(501), ..application() }), "invalid_website");
        assert!(NewApplication { website: "é".repeat(500), ..application() }.check().is_ok(), "characters, not bytes");
        let payout = NewApplication { payout_email: Some("pay@".into()), ..application() };
        assert_eq!(code(payout), "invalid_payout_email");
        assert!(check_reason("Not a fit for our shop").is_ok());
        assert_eq!(check_reason("two\nlines").unwrap_err().code, "invalid_reason");
    }

    #[test]
    fn names_round_trip() {
        for s in Status::ALL {
            assert_eq!(Status::parse(s.as_str()), Some(s));
        }
        assert_eq!(Status::parse("Pending"), None);
        assert_eq!(Signup::parse("review"), Some(Signup::Review));
        assert_eq!(Signup::parse("on"), None);
        assert!(Signup::Open.is_on() && !Signup::Off.is_on());
        let e = already_decided(7, Status::Rejected, Status::Approved);
        assert_eq!((e.status, e.code.as_ref()), (409, "invalid_status_transition"));
        assert!(e.message.contains("application 7 is rejected already"), "{}", e.message);
    }
}
