//! Customers tied to an affiliate: the value every source that ties one (the API, registration
//! leads, a subscription checkout) maps its input to, and its checks. Once tied, a customer's
//! later orders earn that affiliate a commission (recurring attribution).

use super::attribution::Keys;
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
}

impl NewCustomer {
    pub fn check(&self) -> Result<(), Error> {
        validate::external_id(&self.customer_id).map_err(|e| Error::invalid("customer_id", e))?;
        if let Some(email) = &self.email {
            validate::email(email).map_err(|m| Error::invalid("email", m))?;
        }
        if let Some(name) = &self.name {
            validate::name(name).map_err(|m| Error::invalid("name", m))?;
        }
        if let Some(session) = &self.keys.session_id {
            validate::external_id(session).map_err(|e| Error::invalid("session_id", e))?;
        }
        let k = &self.keys;
        if k.click_id.is_none() && k.coupon.is_none() && k.session_id.is_none() && k.referral_code.is_none() {
            return Err(Error::bad_request(
                "missing_attribution",
                "send click_id, coupon or session_id: the affiliate the customer is tied to comes from it",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_customer_needs_an_id_and_something_naming_the_affiliate() {
        let mut c = NewCustomer {
            customer_id: "cus_1".into(),
            keys: Keys { click_id: Some("c".into()), ..Keys::default() },
            email: Some("a@b.example".into()),
            name: None,
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
