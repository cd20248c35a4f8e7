//! Reading JSON request bodies field by field, so that every problem maps to a stable error
//! code: `missing_<field>` when a required field is absent, `invalid_<field>` when it has the wrong
//! type or shape. `null` and `""` count as absent everywhere.

use serde_json::{Map, Value};

use crate::error::Error;
use crate::tracking::money;

pub struct Body(Map<String, Value>);

/// Named text fields of a request, from a JSON body or a submitted form, so the API and the
/// admin read and validate an object with the same code.
pub trait Fields {
    /// An optional text field; `None` when absent or blank.
    fn text(&self, field: &str) -> Result<Option<&str>, Error>;

    fn required_text(&self, field: &str) -> Result<&str, Error> {
        self.text(field)?.ok_or_else(|| Error::missing(field))
    }

    /// Whether the field was sent at all, even empty (to tell "clear" from "keep").
    fn has_field(&self, field: &str) -> bool;
}

impl Fields for Body {
    fn text(&self, field: &str) -> Result<Option<&str>, Error> {
        self.str(field)
    }

    fn has_field(&self, field: &str) -> bool {
        self.has(field)
    }
}

impl Body {
    /// Parses a body that must be a JSON object with no field but `allowed` (400 `unknown_field`
    /// naming the first other one: a misspelt field must not be ignored silently). Every JSON
    /// endpoint reads its body through here with the list of its fields, so none can forget the
    /// check. An empty body is an empty object, so endpoints whose fields are all optional can
    /// be called without one.
    pub fn parse(bytes: &[u8], allowed: &[&str]) -> Result<Body, Error> {
        let body = Body::parse_open(bytes)?;
        body.allow_only(allowed)?;
        Ok(body)
    }

    /// Parses a JSON object whose field names are the sender's own, not ours: the parameters
    /// of an inbound postback, named by each network's dialect. Everything else uses [`Body::parse`].
    pub fn parse_open(bytes: &[u8]) -> Result<Body, Error> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Body(Map::new()));
        }
        match serde_json::from_slice::<Value>(bytes) {
            Ok(Value::Object(map)) => Ok(Body(map)),
            Ok(_) => Err(Error::bad_request("invalid_json", "the body must be a JSON object")),
            Err(e) => Err(Error::bad_request("invalid_json", format!("the body is not valid JSON: {e}"))),
        }
    }

    /// A body from an object already parsed (a nested object).
    pub fn from_map(map: Map<String, Value>) -> Body {
        Body(map)
    }

    /// Whether the field is in the body at all, even as `null` (to tell "clear" from "keep").
    pub fn has(&self, field: &str) -> bool {
        self.0.contains_key(field)
    }

    fn present(&self, field: &str) -> Option<&Value> {
        match self.0.get(field) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.is_empty() => None,
            Some(v) => Some(v),
        }
    }

    /// An optional string.
    pub fn str(&self, field: &str) -> Result<Option<&str>, Error> {
        match self.present(field) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(Error::invalid(field, "must be a string")),
        }
    }

    pub fn required_str(&self, field: &str) -> Result<&str, Error> {
        self.str(field)?.ok_or_else(|| Error::missing(field))
    }

    /// An optional identifier that merchants often send as a number (`"order_id": 1001`).
    pub fn id_text(&self, field: &str) -> Result<Option<String>, Error> {
        match self.present(field) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => whole_number_text(&n.to_string())
                .map(Some)
                .ok_or_else(|| Error::invalid(field, "must be a string or a whole number")),
            Some(_) => Err(Error::invalid(field, "must be a string or a whole number")),
        }
    }

    /// A decimal given as a string or a JSON number, returned as its exact text. The number's
    /// text is kept as written (serde_json's `arbitrary_precision`), so no float is involved.
    pub fn decimal_text(&self, field: &str) -> Result<Option<String>, Error> {
        match self.present(field) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(_) => Err(Error::invalid(field, "must be a decimal string such as \"19.99\" or a number")),
        }
    }

    /// An amount, checked for shape here (plain decimal, not negative, not absurd); the number
    /// of decimals is checked against the currency when it is known.
    pub fn amount(&self, field: &str) -> Result<Option<String>, Error> {
        let Some(text) = self.decimal_text(field)? else {
            return Ok(None);
        };
        money::parse_amount(&text, 4).map_err(|e| match e {
            money::AmountError::TooManyDecimals { .. } => Error::invalid(field, "has too many decimal places"),
            other => Error::invalid(field, other),
        })?;
        Ok(Some(text))
    }

    pub fn bool(&self, field: &str) -> Result<Option<bool>, Error> {
        match self.present(field) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(Error::invalid(field, "must be true or false")),
        }
    }

    /// An optional integer. Any JSON number with a whole value counts (`159`, `159.0`, `1.59e2`),
    /// as in JSON Schema, whose `integer` the API document uses.
    pub fn int(&self, field: &str) -> Result<Option<i64>, Error> {
        match self.present(field) {
            None => Ok(None),
            Some(Value::Number(n)) => whole_number_text(&n.to_string())
                .and_then(|text| text.parse::<i64>().ok())
                .map(Some)
                .ok_or_else(|| Error::invalid(field, "must be a whole number")),
            Some(_) => Err(Error::invalid(field, "must be a whole number")),
        }
    }

    /// Refuses a body with a field not in `allowed` (400 `unknown_field`): a misspelt field in a
    /// change must not be ignored silently.
    pub fn allow_only(&self, allowed: &[&str]) -> Result<(), Error> {
        match self.0.keys().find(|k| !allowed.contains(&k.as_str())) {
            None => Ok(()),
            Some(field) => {
                let shown: String = field.chars().filter(|c| !c.is_control()).take(64).collect();
                let fields = match allowed {
                    [] => "this request takes none".to_string(),
                    _ => format!("the fields are {}", allowed.join(", ")),
                };
                Err(Error::bad_request("unknown_field", format!("`{shown}` is not a field of this object; {fields}")))
            }
        }
    }

    /// The fields of the object, in the order sent.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// An optional array of strings (`["a", "b"]`); an empty array counts as absent.
    pub fn strings(&self, field: &str) -> Result<Option<Vec<&str>>, Error> {
        match self.present(field) {
            None => Ok(None),
            Some(Value::Array(items)) if items.is_empty() => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| v.as_str().ok_or_else(|| Error::invalid(field, "must be an array of strings")))
                .collect::<Result<_, _>>()
                .map(Some),
            Some(_) => Err(Error::invalid(field, "must be an array of strings")),
        }
    }

    pub fn object(&self, field: &str) -> Result<Option<Body>, Error> {
        match self.present(field) {
            None => Ok(None),
            Some(Value::Object(map)) => Ok(Some(Body(map.clone()))),
            Some(_) => Err(Error::invalid(field, "must be an object")),
        }
    }
}

/// Whole numbers longer than this are refused (an exponent could otherwise ask for millions of
/// digits).
const MAX_WHOLE_DIGITS: usize = 128;

/// The integer a JSON number's text stands for, as its decimal digits with a minus sign if
/// negative (`1001`, `-7`, `125.0` -> `125`, `1e2` -> `100`, `1.5e1` -> `15`); `None` when the
/// value has a fraction or more than [`MAX_WHOLE_DIGITS`] digits. Exact: no float is involved.
fn whole_number_text(text: &str) -> Option<String> {
    let (negative, rest) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (mantissa, exponent) = match rest.split_once(['e', 'E']) {
        Some((m, e)) => (m, e.strip_prefix('+').unwrap_or(e).parse::<i64>().ok()?),
        None => (rest, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int.is_empty() || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    if exponent.unsigned_abs() > 2 * MAX_WHOLE_DIGITS as u64 {
        return None;
    }
    // The value is all_digits × 10^shift.
    let all_digits = format!("{int}{frac}");
    let shift = exponent - frac.len() as i64;
    let digits = if shift >= 0 {
        format!("{all_digits}{}", "0".repeat(shift as usize))
    } else {
        let cut = all_digits.len().saturating_sub(shift.unsigned_abs() as usize);
        let (kept, dropped) = all_digits.split_at(cut);
        if dropped.bytes().any(|b| b != b'0') {
            return None;
        }
        kept.to_string()
    };
    let digits = digits.trim_start_matches('0');
    if digits.len() > MAX_WHOLE_DIGITS {
        return None;
    }
    Some(match (digits.is_empty(), negative) {
        (true, _) => "0".to_string(),
        (false, true) => format!("-{digits}"),
        (false, false) => digits.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(text: &str) -> Body {
        Body::parse_open(text.as_bytes()).unwrap()
    }

    #[test]
    fn parsing_refuses_fields_not_listed() {
        assert!(Body::parse(br#"{"name": "x"}"#, &["name", "email"]).is_ok());
        let e = Body::parse(br#"{"name": "x", "emial": "a@b.c"}"#, &["name", "email"]).err().unwrap();
        assert_eq!(e.code, "unknown_field");
        assert!(e.message.contains("`emial`"), "{}", e.message);
        assert!(Body::parse_open(br#"{"anything": 1}"#).is_ok());
    }

    #[test]
    fn unknown_fields_are_named() {
        let b = body(r#"{"name": "x", "activ": false}"#);
        assert!(b.allow_only(&["name", "activ"]).is_ok());
        let e = b.allow_only(&["name", "active"]).unwrap_err();
        assert_eq!(e.code, "unknown_field");
        assert!(e.message.contains("`activ`") && e.message.contains("active"), "{}", e.message);
    }

    #[test]
    fn malformed_bodies_are_invalid_json() {
        for bad in ["{", "[1]", "\"x\"", "{\"a\":}", "nul"] {
            assert_eq!(Body::parse(bad.as_bytes(), &[]).err().unwrap().code, "invalid_json", "{bad}");
        }
        assert!(Body::parse(b"  ", &[]).is_ok());
    }

    #[test]
    fn null_and_empty_are_absent() {
        let b = body(r#"{"a": null, "b": "", "c": "x"}"#);
        assert_eq!(b.str("a").unwrap(), None);
        assert_eq!(b.str("b").unwrap(), None);
        assert_eq!(b.str("c").unwrap(), Some("x"));
        assert_eq!(b.required_str("a").unwrap_err().code, "missing_a");
    }

    #[test]
    fn wrong_types_are_invalid_fields() {
        let b = body(r#"{"a": 1, "n": 1.5, "o": {}}"#);
        assert_eq!(b.str("a").unwrap_err().code, "invalid_a");
        assert_eq!(b.id_text("n").unwrap_err().code, "invalid_n");
        assert_eq!(b.bool("a").unwrap_err().code, "invalid_a");
        assert_eq!(b.decimal_text("o").unwrap_err().code, "invalid_o");
    }

    #[test]
    fn string_arrays() {
        let b = body(r#"{"e": ["a", "b"], "none": [], "mixed": ["a", 1], "s": "a"}"#);
        assert_eq!(b.strings("e").unwrap(), Some(vec!["a", "b"]));
        assert_eq!(b.strings("none").unwrap(), None);
        assert_eq!(b.strings("absent").unwrap(), None);
        assert_eq!(b.strings("mixed").unwrap_err().code, "invalid_mixed");
        assert_eq!(b.strings("s").unwrap_err().code, "invalid_s");
    }

    #[test]
    fn whole_valued_numbers_are_integers_whatever_their_spelling() {
        for (text, want) in [
            ("159", Some("159")),
            ("159.0", Some("159")),
            ("159.000", Some("159")),
            ("1.59e2", Some("159")),
            ("1590e-1", Some("159")),
            ("1e2", Some("100")),
            ("1E+2", Some("100")),
            ("-7.0", Some("-7")),
            ("-0.0", Some("0")),
            ("0", Some("0")),
            ("0e-5", Some("0")),
            ("100e-2", Some("1")),
            ("159.5", None),
            ("1.25e1", None),
            ("1e-1", None),
            ("5e-300", None),
            ("1e400", None),
        ] {
            assert_eq!(whole_number_text(text).as_deref(), want, "{text}");
        }
        let b = body(r#"{"a": 159.0, "b": 1e2, "c": 159.5, "d": 9223372036854775808, "e": "159"}"#);
        assert_eq!(b.int("a").unwrap(), Some(159));
        assert_eq!(b.int("b").unwrap(), Some(100));
        assert_eq!(b.int("c").unwrap_err().code, "invalid_c");
        assert_eq!(b.int("d").unwrap_err().code, "invalid_d");
        assert_eq!(b.int("e").unwrap_err().code, "invalid_e");
    }

    #[test]
    fn numbers_keep_their_exact_text() {
        let b = body(r#"{"amount": 19.99, "big": 0.1, "id": 1001, "exp": 1e3, "neg": -5}"#);
        assert_eq!(b.amount("amount").unwrap().as_deref(), Some("19.99"));
        assert_eq!(b.amount("big").unwrap().as_deref(), Some("0.1"));
        assert_eq!(b.id_text("id").unwrap().as_deref(), Some("1001"));
        let whole = body(r#"{"a": 125.0, "b": -7, "c": 1e2, "d": 1.5}"#);
        assert_eq!(whole.id_text("a").unwrap().as_deref(), Some("125"));
        assert_eq!(whole.id_text("b").unwrap().as_deref(), Some("-7"));
        assert_eq!(whole.id_text("c").unwrap().as_deref(), Some("100"));
        assert_eq!(whole.id_text("d").unwrap_err().code, "invalid_d");
        assert_eq!(b.amount("exp").unwrap_err().code, "invalid_exp");
        assert_eq!(b.amount("neg").unwrap_err().code, "invalid_neg");
    }
}
