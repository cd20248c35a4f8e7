//! Reading platforms' JSON the way they write it: IDs as strings or numbers (kept as their exact
//! text), amounts as integers or strings of minor units, or as decimals in a currency, and one
//! error (`invalid_payload`) for a body that is not what the platform documents.

use serde_json::Value;

use super::Delivery;
use crate::error::Error;
use crate::tracking::money::Currency;

/// The one error for a body that is not what the platform documents.
pub fn unreadable(message: impl Into<String>) -> Error {
    Error::bad_request("invalid_payload", message)
}

/// Parses the body as a JSON object.
pub(super) fn json_body(delivery: &Delivery<'_>) -> Result<Value, Error> {
    match serde_json::from_slice::<Value>(delivery.body) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(_) => Err(unreadable("the body is not a JSON object")),
        Err(e) => Err(unreadable(format!("the body is not JSON: {e}"))),
    }
}

/// A field that platforms send as a string or as a number (IDs), as text; `None` when absent,
/// null or empty. Numbers keep their exact text (no float ever holds them).
pub(super) fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A required text field.
pub(super) fn required(v: &Value, field: &str) -> Result<String, Error> {
    text(v).ok_or_else(|| unreadable(format!("`{field}` is missing")))
}

/// An object's ID where platforms send either the ID or the expanded object.
pub(super) fn id_of(v: &Value) -> Option<String> {
    text(v).or_else(|| text(&v["id"]))
}

/// A currency code in any case.
pub(super) fn currency(v: &Value, field: &str) -> Result<Currency, Error> {
    let code = required(v, field)?;
    Currency::from_code(&code.to_ascii_uppercase())
        .ok_or_else(|| unreadable(format!("`{field}` {code:?} is not an ISO 4217 currency this server knows")))
}

/// An amount in minor units, sent as an integer (Stripe) or a string of digits (Paddle).
pub(super) fn minor(v: &Value, field: &str) -> Result<i64, Error> {
    let text = required(v, field)?;
    let negative = text.starts_with('-');
    let digits = text.trim_start_matches('-');
    let value = crate::tracking::money::parse_amount(digits, 0)
        .map_err(|e| unreadable(format!("`{field}` {e} (minor units)")))?;
    Ok(if negative { -value } else { value })
}

/// An amount written as a decimal in `currency` (`"10.00"`, Shopify and WooCommerce), sign
/// allowed (WooCommerce writes refunds as `"-5.00"`).
pub(super) fn decimal(v: &Value, currency: Currency, field: &str) -> Result<i64, Error> {
    let text = required(v, field)?;
    let negative = text.starts_with('-');
    let value = currency.parse(text.trim_start_matches('-')).map_err(|e| unreadable(format!("`{field}` {e}")))?;
    Ok(if negative { -value } else { value })
}

/// The entries of a JSON array (none when absent).
pub(super) fn items(v: &Value) -> &[Value] {
    v.as_array().map(Vec::as_slice).unwrap_or(&[])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd() -> Currency {
        Currency::from_code("USD").unwrap()
    }

    #[test]
    fn numbers_keep_their_text_and_amounts_are_exact() {
        let v: Value =
            serde_json::from_str(r#"{"id": 820982911946154508, "a": "10.10", "m": "-1999", "n": 150}"#).unwrap();
        assert_eq!(text(&v["id"]).as_deref(), Some("820982911946154508"), "past 2^53: no float");
        assert_eq!(decimal(&v["a"], usd(), "a").unwrap(), 1010);
        assert_eq!(minor(&v["m"], "m").unwrap(), -1999);
        assert_eq!(minor(&v["n"], "n").unwrap(), 150);
        assert_eq!(minor(&v["a"], "a").unwrap_err().code, "invalid_payload");
        assert_eq!(required(&v["nope"], "nope").unwrap_err().code, "invalid_payload");
        assert_eq!(currency(&serde_json::json!("usd"), "currency").unwrap(), usd());
    }
}
