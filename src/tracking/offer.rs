//! Offers: what makes a valid landing URL template, commission rule, attribution model and click
//! window. Shared by every place that creates or changes an offer (the API, the admin).

use super::attribution::Model;
use super::commission::{self, Rule};
use super::money::Currency;
use super::{deep_link, link};
use crate::error::Error;

/// A landing URL template may use only `link::LANDING_MACROS`.
pub fn check_landing_url(url: &str) -> Result<(), Error> {
    link::check_template(url, link::LANDING_MACROS).map(|_| ()).map_err(|e| Error::invalid("landing_url", e))
}

/// The hosts deep links may lead to besides the landing URL's (`deep_link::check_allowed_hosts`).
pub fn allowed_hosts<'a>(hosts: impl IntoIterator<Item = &'a str>) -> Result<Vec<String>, Error> {
    deep_link::check_allowed_hosts(hosts).map_err(|e| Error::invalid("allowed_hosts", e))
}

/// The attribution model; last click when not given.
pub fn attribution(text: Option<&str>) -> Result<Model, Error> {
    match text {
        None => Ok(Model::LastClick),
        Some(text) => {
            Model::parse(text).ok_or_else(|| Error::invalid("attribution", "must be last_click or first_click"))
        }
    }
}

/// How long a click may lead to a conversion; 30 days when not given.
pub fn click_window_days(days: Option<i64>) -> Result<i64, Error> {
    match days {
        None => Ok(30),
        Some(days) if (1..=3650).contains(&days) => Ok(days),
        Some(_) => Err(Error::invalid("click_window_days", "must be from 1 to 3650")),
    }
}

/// A commission rule: `percent` of the amount (`value` like "10" or "7.5") or a `flat` amount
/// in the offer's currency.
pub fn rule(kind: &str, value: &str, currency: Currency) -> Result<Rule, Error> {
    match kind {
        "percent" => commission::parse_percent(value)
            .map(|ppm| Rule::Percent { ppm })
            .map_err(|e| Error::invalid("commission", e)),
        "flat" => currency
            .parse(value)
            .map(|minor| Rule::Flat { minor })
            .map_err(|e| Error::invalid("commission", format!("value: {e}"))),
        _ => Err(Error::invalid("commission", "type must be percent or flat")),
    }
}
