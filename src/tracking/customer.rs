//! Customers tied to an affiliate: the value every source that ties one (the API, registration
//! leads, a subscription checkout) maps its input to, and its checks. Once tied, a customer's
//! later orders earn that affiliate a commission (recurring attribution).

use sha2::Digest;

use super::attribution::Keys;
use super::conversion::Refusal;
use super::validate;
use crate::error::Error;

/// A customer to tie to the affiliate one of `keys` names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewCustomer {
    /// The merchant's own customer ID.
    pub customer_id: String,
    /// What names the affiliate: a click, a coupon or a session (never a customer).
    pub keys: Keys,
    pub email: Option<String>,
    pub name: Option<String>,
    /// Test data (a test key, or marked as test).
    pub test: bool,
}

/// The order ID of the lead a registration records: `registration:<customer ID>`, or, when that
/// would be longer than an order ID may be (a customer ID over 242 bytes),
/// `registration:sha256:<hex of the customer ID>`, so that every customer ID the API accepts can
/// register, and registers once.
pub fn registration_external_id(customer_id: &str) -> String {
    let plain = format!("registration:{customer_id}");
    if validate::external_id(&plain).is_ok() {
        return plain;
    }
    let digest: [u8; 32] = sha2::Sha256::digest(customer_id.as_bytes()).into();
    format!("registration:sha256:{}", super::ledger::hex(&digest))
}

impl NewCustomer {
    pub fn check(&self) -> Result<(), Refusal> {
        let invalid = |field: &str, e: String| Refusal::rejected(Error::invalid(field, e));
        validate::external_id(&self.customer_id).map_err(|e| invalid("customer_id", e))?;
        if let Some(email) = &self.email {
            validate::email(email).map_err(|m| invalid("email", m))?;
        }
        if let Some(name) = &self.name {
            validate::name(name).map_err(|m| invalid("name", m))?;
        }
        if let Some(session) = &self.keys.session_id {
            validate::external_id(session).map_err(|e| invalid("session_id", e))?;
        }
        let k = &self.keys;
        if k.click_id.is_none() && k.coupon.is_none() && k.session_id.is_none() && k.referral_code.is_none() {
            return Err(Refusal::unattributed(Error::bad_request(
                "missing_attribution",
                "send click_id, coupon or session_id: the affiliate the customer is tied to comes from it",
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_customer_id_gives_a_registration_id_that_fits() {
        assert_eq!(registration_external_id("cus_1"), "registration:cus_1");
        let fits = "x".repeat(242);
        assert_eq!(registration_external_id(&fits), format!("registration:{fits}"));
        let long = registration_external_id(&"x".repeat(243));
        assert!(long.starts_with("registration:sha256:") && long.len() == 84, "{long}");
        assert_ne!(long, registration_external_id(&"x".repeat(244)));
        assert_eq!(long, registration_external_id(&"x".repeat(243)));
    }

    #[test]
    fn a_customer_needs_an_id_and_something_naming_the_affiliate() {
        let mut c = NewCustomer {
            customer_id: "cus_1".into(),
            keys: Keys { click_id: Some("c".into()), ..Keys::default() },
            email: Some("a@b.example".into()),
            name: None,
            test: false,
        };
        assert!(c.check().is_ok());
        c.email = Some("nope".into());
        assert_eq!(c.check().unwrap_err().code, "invalid_email");
        c.email = None;
        c.keys = Keys { customer_id: Some("other".into()), ..Keys::default() };
        assert_eq!(c.check().unwrap_err().code, "missing_attribution", "a customer cannot name another customer");
        c.keys.coupon = Some("X".into());
        c.customer_id = String::new();
        assert_eq!(c.check().unwrap_err().code, "invalid_customer_id");
    }
}
