//! Money: currencies, exact decimal parsing and formatting of amounts in integer minor units.
//!
//! Amounts never pass through a float. A decimal string such as `"19.99"` is read digit by digit
//! into minor units (1999 cents); formatting goes the other way. This module owns the rules for
//! what an acceptable amount looks like and must stay free of I/O.

use std::fmt;

/// The largest amount accepted, in major units (just under one trillion). Anything above is a
/// bug or an attack, not an order.
pub const MAX_MAJOR_DIGITS: usize = 12;

/// An ISO 4217 currency we know the minor-unit exponent of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Currency {
    code: &'static str,
    minor_digits: u8,
}

impl Currency {
    /// Looks a code up (upper case, three letters). Unknown codes are refused rather than guessed:
    /// a wrong exponent would scale every amount by a power of ten.
    pub fn from_code(code: &str) -> Option<Currency> {
        // The table is in code order (a test keeps it so): a binary search, since every conversion
        // looks codes up several times (a linear scan was 1.3% of a conversion's instructions).
        let i = CURRENCIES.binary_search_by(|(c, _)| (*c).cmp(code)).ok()?;
        let (code, minor_digits) = CURRENCIES[i];
        Some(Currency { code, minor_digits })
    }

    pub fn code(self) -> &'static str {
        self.code
    }

    pub fn minor_digits(self) -> u8 {
        self.minor_digits
    }

    /// Parses an amount in this currency; see [`parse_amount`].
    pub fn parse(self, text: &str) -> Result<i64, AmountError> {
        parse_amount(text, self.minor_digits)
    }

    /// Formats minor units as a decimal string with exactly the currency's minor digits.
    pub fn format(self, minor: i64) -> String {
        format_amount(minor, self.minor_digits)
    }
}

/// Currencies travel as their code (`"USD"`).
impl serde::Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.code)
    }
}

impl<'de> serde::Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Currency, D::Error> {
        let code = String::deserialize(deserializer)?;
        Currency::from_code(&code).ok_or_else(|| serde::de::Error::custom(format!("unknown currency {code:?}")))
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code)
    }
}

/// Why an amount was refused. The HTTP layer turns every variant into `invalid_amount` and uses
/// the text as the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AmountError {
    Empty,
    Negative,
    NotDecimal,
    TooManyDecimals { allowed: u8 },
    TooLarge,
}

impl fmt::Display for AmountError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AmountError::Empty => f.write_str("is empty"),
            AmountError::Negative => f.write_str("must not be negative"),
            AmountError::NotDecimal => f.write_str(
                "must be a plain decimal number such as 19.99 (no exponent, sign, spaces or thousands separators)",
            ),
            AmountError::TooManyDecimals { allowed: 0 } => {
                f.write_str("must be a whole number in this currency (it has no minor unit)")
            }
            AmountError::TooManyDecimals { allowed } => {
                write!(f, "has more than the currency's {allowed} decimal places")
            }
            AmountError::TooLarge => write!(f, "has more than {MAX_MAJOR_DIGITS} integer digits"),
        }
    }
}

/// Parses a non-negative decimal (`"19.99"`, `"20"`, `"0.5"`) into minor units with `digits`
/// decimal places. Trailing zeros beyond `digits` are accepted (`"19.990"`); any other extra
/// precision is refused instead of rounded, because silently rounding money hides bugs.
pub fn parse_amount(text: &str, digits: u8) -> Result<i64, AmountError> {
    if text.is_empty() {
        return Err(AmountError::Empty);
    }
    if text.starts_with('-') {
        return Err(AmountError::Negative);
    }
    let (int_part, frac_part) = match text.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (text, None),
    };
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(int_part) || frac_part.is_some_and(|f| !all_digits(f)) {
        return Err(AmountError::NotDecimal);
    }
    let int_part = int_part.trim_start_matches('0');
    if int_part.len() > MAX_MAJOR_DIGITS {
        return Err(AmountError::TooLarge);
    }
    let frac = frac_part.unwrap_or("");
    let (kept, extra) = frac.split_at(frac.len().min(digits as usize));
    if extra.bytes().any(|b| b != b'0') {
        return Err(AmountError::TooManyDecimals { allowed: digits });
    }
    let mut minor: i64 = 0;
    for b in int_part.bytes().chain(kept.bytes()) {
        minor = minor * 10 + i64::from(b - b'0');
    }
    for _ in kept.len()..digits as usize {
        minor *= 10;
    }
    Ok(minor)
}

/// The most decimal places any currency has (ISO 4217: CLF and UYW have 4).
pub const MAX_MINOR_DIGITS: u8 = 4;

/// Checks that `text` is an amount in some currency, before the currency is known (it may come
/// from the offer); the exact number of decimals is checked once it is.
pub fn check_shape(text: &str) -> Result<(), AmountError> {
    parse_amount(text, MAX_MINOR_DIGITS).map(|_| ())
}

/// A currency code as sent (upper or lower case) in `field`; `invalid_<field>` unless known.
pub fn currency(field: &str, code: &str) -> Result<Currency, crate::error::Error> {
    Currency::from_code(&code.to_ascii_uppercase()).ok_or_else(|| {
        crate::error::Error::invalid(field, format!("`{code}` is not an ISO 4217 currency code this server knows"))
    })
}

/// Formats minor units with exactly `digits` decimal places: `format_amount(1999, 2) == "19.99"`.
pub fn format_amount(minor: i64, digits: u8) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    if digits == 0 {
        return format!("{sign}{abs}");
    }
    let scale = 10u64.pow(u32::from(digits));
    format!("{sign}{}.{:0width$}", abs / scale, abs % scale, width = digits as usize)
}

/// ISO 4217 active codes with their minor-unit exponents.
const CURRENCIES: &[(&str, u8)] = &[
    ("AED", 2),
    ("AFN", 2),
    ("ALL", 2),
    ("AMD", 2),
    ("ANG", 2),
    ("AOA", 2),
    ("ARS", 2),
    ("AUD", 2),
    ("AWG", 2),
    ("AZN", 2),
    ("BAM", 2),
    ("BBD", 2),
    ("BDT", 2),
    ("BGN", 2),
    ("BHD", 3),
    ("BIF", 0),
    ("BMD", 2),
    ("BND", 2),
    ("BOB", 2),
    ("BRL", 2),
    ("BSD", 2),
    ("BTN", 2),
    ("BWP", 2),
    ("BYN", 2),
    ("BZD", 2),
    ("CAD", 2),
    ("CDF", 2),
    ("CHF", 2),
    ("CLF", 4),
    ("CLP", 0),
    ("CNY", 2),
    ("COP", 2),
    ("CRC", 2),
    ("CUP", 2),
    ("CVE", 2),
    ("CZK", 2),
    ("DJF", 0),
    ("DKK", 2),
    ("DOP", 2),
    ("DZD", 2),
    ("EGP", 2),
    ("ERN", 2),
    ("ETB", 2),
    ("EUR", 2),
    ("FJD", 2),
    ("FKP", 2),
    ("GBP", 2),
    ("GEL", 2),
    ("GHS", 2),
    ("GIP", 2),
    ("GMD", 2),
    ("GNF", 0),
    ("GTQ", 2),
    ("GYD", 2),
    ("HKD", 2),
    ("HNL", 2),
    ("HTG", 2),
    ("HUF", 2),
    ("IDR", 2),
    ("ILS", 2),
    ("INR", 2),
    ("IQD", 3),
    ("IRR", 2),
    ("ISK", 0),
    ("JMD", 2),
    ("JOD", 3),
    ("JPY", 0),
    ("KES", 2),
    ("KGS", 2),
    ("KHR", 2),
    ("KMF", 0),
    ("KPW", 2),
    ("KRW", 0),
    ("KWD", 3),
    ("KYD", 2),
    ("KZT", 2),
    ("LAK", 2),
    ("LBP", 2),
    ("LKR", 2),
    ("LRD", 2),
    ("LSL", 2),
    ("LYD", 3),
    ("MAD", 2),
    ("MDL", 2),
    ("MGA", 2),
    ("MKD", 2),
    ("MMK", 2),
    ("MNT", 2),
    ("MOP", 2),
    ("MRU", 2),
    ("MUR", 2),
    ("MVR", 2),
    ("MWK", 2),
    ("MXN", 2),
    ("MYR", 2),
    ("MZN", 2),
    ("NAD", 2),
    ("NGN", 2),
    ("NIO", 2),
    ("NOK", 2),
    ("NPR", 2),
    ("NZD", 2),
    ("OMR", 3),
    ("PAB", 2),
    ("PEN", 2),
    ("PGK", 2),
    ("PHP", 2),
    ("PKR", 2),
    ("PLN", 2),
    ("PYG", 0),
    ("QAR", 2),
    ("RON", 2),
    ("RSD", 2),
    ("RUB", 2),
    ("RWF", 0),
    ("SAR", 2),
    ("SBD", 2),
    ("SCR", 2),
    ("SDG", 2),
    ("SEK", 2),
    ("SGD", 2),
    ("SHP", 2),
    ("SLE", 2),
    ("SOS", 2),
    ("SRD", 2),
    ("SSP", 2),
    ("STN", 2),
    ("SVC", 2),
    ("SYP", 2),
    ("SZL", 2),
    ("THB", 2),
    ("TJS", 2),
    ("TMT", 2),
    ("TND", 3),
    ("TOP", 2),
    ("TRY", 2),
    ("TTD", 2),
    ("TWD", 2),
    ("TZS", 2),
    ("UAH", 2),
    ("UGX", 0),
    ("USD", 2),
    ("UYU", 2),
    ("UYW", 4),
    ("UZS", 2),
    ("VES", 2),
    ("VND", 0),
    ("VUV", 0),
    ("WST", 2),
    ("XAF", 0),
    ("XCD", 2),
    ("XOF", 0),
    ("XPF", 0),
    ("YER", 2),
    ("ZAR", 2),
    ("ZMW", 2),
    ("ZWL", 2),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shape_check_allows_the_most_decimals_any_currency_has() {
        assert_eq!(CURRENCIES.iter().map(|(_, d)| *d).max(), Some(MAX_MINOR_DIGITS));
        assert!(check_shape("1.2345").is_ok());
        assert_eq!(check_shape("1.23456"), Err(AmountError::TooManyDecimals { allowed: MAX_MINOR_DIGITS }));
        assert_eq!(currency("currency", "eur").unwrap().code(), "EUR");
        assert_eq!(currency("currency", "XXQ").unwrap_err().code, "invalid_currency");
    }

    #[test]
    fn parses_exact_decimals() {
        assert_eq!(parse_amount("19.99", 2), Ok(1999));
        assert_eq!(parse_amount("20", 2), Ok(2000));
        assert_eq!(parse_amount("0.5", 2), Ok(50));
        assert_eq!(parse_amount("0", 2), Ok(0));
        assert_eq!(parse_amount("007.10", 2), Ok(710));
        assert_eq!(parse_amount("19.990", 2), Ok(1999));
        assert_eq!(parse_amount("1500", 0), Ok(1500));
        assert_eq!(parse_amount("1.234", 3), Ok(1234));
        // 0.1 + 0.2 style values that floats get wrong stay exact.
        assert_eq!(parse_amount("0.29", 2), Ok(29));
        assert_eq!(parse_amount("1.15", 2), Ok(115));
    }

    #[test]
    fn refuses_everything_that_is_not_a_plain_decimal() {
        for bad in ["1e3", "1E3", "+5", " 5", "5 ", "5.", ".5", "1,000", "NaN", "inf", "0x10", "１"] {
            assert_eq!(parse_amount(bad, 2), Err(AmountError::NotDecimal), "{bad:?}");
        }
        assert_eq!(parse_amount("", 2), Err(AmountError::Empty));
        assert_eq!(parse_amount("-1", 2), Err(AmountError::Negative));
        assert_eq!(parse_amount("-0", 2), Err(AmountError::Negative));
        assert_eq!(parse_amount("1.001", 2), Err(AmountError::TooManyDecimals { allowed: 2 }));
        assert_eq!(parse_amount("100.5", 0), Err(AmountError::TooManyDecimals { allowed: 0 }));
    }

    #[test]
    fn refuses_absurd_sizes_without_overflow() {
        assert_eq!(parse_amount("999999999999.99", 2), Ok(99_999_999_999_999));
        assert_eq!(parse_amount("1000000000000", 2), Err(AmountError::TooLarge));
        assert_eq!(parse_amount(&"9".repeat(400), 2), Err(AmountError::TooLarge));
        // Leading zeros do not count towards the size.
        assert_eq!(parse_amount(&format!("{}1", "0".repeat(50)), 2), Ok(100));
        // The largest value in the currency with the most digits still fits an i64.
        assert_eq!(parse_amount("999999999999.9999", 4), Ok(9_999_999_999_999_999));
    }

    #[test]
    fn formats_with_the_currency_digits() {
        assert_eq!(format_amount(1999, 2), "19.99");
        assert_eq!(format_amount(5, 2), "0.05");
        assert_eq!(format_amount(0, 2), "0.00");
        assert_eq!(format_amount(1500, 0), "1500");
        assert_eq!(format_amount(1234, 3), "1.234");
        assert_eq!(format_amount(-600, 2), "-6.00");
    }

    #[test]
    fn round_trips() {
        for minor in [0, 1, 9, 10, 99, 100, 101, 123_456, 99_999_999_999_999] {
            for digits in [0u8, 2, 3, 4] {
                let text = format_amount(minor, digits);
                if text.split('.').next().unwrap().len() > MAX_MAJOR_DIGITS {
                    assert_eq!(parse_amount(&text, digits), Err(AmountError::TooLarge));
                    continue;
                }
                assert_eq!(parse_amount(&text, digits), Ok(minor));
            }
        }
    }

    /// `from_code` searches the table by halves: it must stay in code order, each code once, and
    /// then finds every code (first and last included) and nothing else.
    #[test]
    fn the_currency_table_is_in_code_order_and_every_code_is_found() {
        assert!(CURRENCIES.windows(2).all(|w| w[0].0 < w[1].0), "sorted, each code once");
        for &(code, digits) in CURRENCIES {
            assert_eq!(Currency::from_code(code).map(|c| (c.code(), c.minor_digits())), Some((code, digits)));
        }
        for unknown in ["", "A", "AAA", "ZZZ", "ZWLX", "usd"] {
            assert_eq!(Currency::from_code(unknown), None, "{unknown}");
        }
    }

    #[test]
    fn knows_currency_exponents() {
        assert_eq!(Currency::from_code("USD").map(Currency::minor_digits), Some(2));
        assert_eq!(Currency::from_code("JPY").map(Currency::minor_digits), Some(0));
        assert_eq!(Currency::from_code("KWD").map(Currency::minor_digits), Some(3));
        assert_eq!(Currency::from_code("usd"), None);
        assert_eq!(Currency::from_code("XXX"), None);
        let mut codes: Vec<_> = CURRENCIES.iter().map(|(c, _)| *c).collect();
        let len = codes.len();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), len, "duplicate currency code");
    }
}
