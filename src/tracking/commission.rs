//! Commission rules and arithmetic: what an affiliate earns on an amount, and what is left of it
//! after a refund. Integer arithmetic only; rounding is half-up to the minor unit.

use super::money::{self, AmountError};

/// Parts per million in 100%.
pub const PPM_PER_HUNDRED_PERCENT: i64 = 1_000_000;

/// How an offer pays: a share of the amount or a fixed sum per conversion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    /// Share of the amount in parts per million (10% = 100_000).
    Percent { ppm: i64 },
    /// Fixed minor units of the offer's currency.
    Flat { minor: i64 },
}

impl Rule {
    pub fn kind(self) -> &'static str {
        match self {
            Rule::Percent { .. } => "percent",
            Rule::Flat { .. } => "flat",
        }
    }

    /// The stored integer (ppm or minor units).
    pub fn stored_value(self) -> i64 {
        match self {
            Rule::Percent { ppm } => ppm,
            Rule::Flat { minor } => minor,
        }
    }

    pub fn from_stored(kind: &str, value: i64) -> Option<Rule> {
        match kind {
            "percent" => Some(Rule::Percent { ppm: value }),
            "flat" => Some(Rule::Flat { minor: value }),
            _ => None,
        }
    }

    /// The value as the API shows it: `"12.5"` for percent, `"5.00"` for flat.
    pub fn display_value(self, currency_digits: u8) -> String {
        match self {
            Rule::Percent { ppm } => {
                let s = money::format_amount(ppm, 4);
                let s = s.trim_end_matches('0');
                s.trim_end_matches('.').to_string()
            }
            Rule::Flat { minor } => money::format_amount(minor, currency_digits),
        }
    }

    /// What the affiliate earns on `amount` (minor units).
    pub fn commission_on(self, amount: i64) -> i64 {
        match self {
            Rule::Percent { ppm } => mul_div_round_half_up(amount, ppm, PPM_PER_HUNDRED_PERCENT),
            Rule::Flat { minor } => minor,
        }
    }
}

/// Parses a percentage such as `"10"`, `"12.5"` or `"7.125"` (at most four decimals, 0 to 100).
pub fn parse_percent(text: &str) -> Result<i64, String> {
    let ppm = money::parse_amount(text, 4).map_err(|e| match e {
        AmountError::TooManyDecimals { .. } => "a percentage has at most 4 decimal places".into(),
        AmountError::Negative => "a percentage must not be negative".into(),
        _ => "a percentage must be a plain decimal such as 10 or 12.5".to_string(),
    })?;
    if ppm > PPM_PER_HUNDRED_PERCENT {
        return Err("a percentage must be at most 100".into());
    }
    Ok(ppm)
}

/// The commission left after part of an order was refunded, in proportion to what remains:
/// 10.00 on 100.00, with 40.00 refunded, leaves 6.00. Flat commissions shrink the same way.
pub fn after_refund(original_commission: i64, amount: i64, remaining_amount: i64) -> i64 {
    if amount <= 0 || remaining_amount <= 0 {
        return 0;
    }
    mul_div_round_half_up(original_commission, remaining_amount, amount)
}

/// `value * numerator / denominator`, rounded half-up, without overflow for any i64 inputs the
/// rest of the program produces (the product is taken in i128). Inputs are non-negative.
pub fn mul_div_round_half_up(value: i64, numerator: i64, denominator: i64) -> i64 {
    debug_assert!(value >= 0 && numerator >= 0 && denominator > 0);
    let product = i128::from(value) * i128::from(numerator);
    let d = i128::from(denominator);
    let rounded = (product + d / 2) / d;
    i64::try_from(rounded).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_commission_rounds_half_up_to_the_minor_unit() {
        let ten = Rule::Percent { ppm: 100_000 };
        assert_eq!(ten.commission_on(10_000), 1_000); // 10% of 100.00
        assert_eq!(ten.commission_on(5), 1); // 0.05 -> 0.005 -> 0.01
        assert_eq!(ten.commission_on(4), 0); // 0.04 -> 0.004 -> 0.00
        let tiny = Rule::Percent { ppm: 125_000 }; // 12.5%
        assert_eq!(tiny.commission_on(1), 0); // 0.125 of a cent
        assert_eq!(tiny.commission_on(4), 1); // exactly 0.5 of a cent rounds up
        assert_eq!(tiny.commission_on(1999), 250); // 249.875 -> 250
        assert_eq!(Rule::Percent { ppm: 0 }.commission_on(1999), 0);
        assert_eq!(Rule::Percent { ppm: 1_000_000 }.commission_on(1999), 1999);
    }

    #[test]
    fn percent_commission_does_not_overflow_on_the_largest_amount() {
        let all = Rule::Percent { ppm: 1_000_000 };
        assert_eq!(all.commission_on(9_999_999_999_999_999), 9_999_999_999_999_999);
    }

    #[test]
    fn flat_commission_ignores_the_amount() {
        let five = Rule::Flat { minor: 500 };
        assert_eq!(five.commission_on(0), 500);
        assert_eq!(five.commission_on(123_456), 500);
    }

    #[test]
    fn parses_percentages() {
        assert_eq!(parse_percent("10"), Ok(100_000));
        assert_eq!(parse_percent("12.5"), Ok(125_000));
        assert_eq!(parse_percent("7.1255"), Ok(71_255));
        assert_eq!(parse_percent("100"), Ok(1_000_000));
        assert!(parse_percent("100.0001").is_err());
        assert!(parse_percent("7.12555").is_err());
        assert!(parse_percent("-1").is_err());
        assert!(parse_percent("1e1").is_err());
    }

    #[test]
    fn displays_values() {
        assert_eq!(Rule::Percent { ppm: 100_000 }.display_value(2), "10");
        assert_eq!(Rule::Percent { ppm: 125_000 }.display_value(2), "12.5");
        assert_eq!(Rule::Percent { ppm: 0 }.display_value(2), "0");
        assert_eq!(Rule::Flat { minor: 500 }.display_value(2), "5.00");
        assert_eq!(Rule::Flat { minor: 500 }.display_value(0), "500");
    }

    #[test]
    fn refunds_shrink_the_commission_in_proportion() {
        // The example from the refunds contract: 100.00 at 10%, 40.00 refunded -> 6.00.
        assert_eq!(after_refund(1_000, 10_000, 6_000), 600);
        assert_eq!(after_refund(1_000, 10_000, 0), 0);
        assert_eq!(after_refund(1_000, 10_000, 10_000), 1_000);
        // Flat 5.00 on 30.00 with 10.00 refunded: 3.333.. -> 3.33.
        assert_eq!(after_refund(500, 3_000, 2_000), 333);
        // Zero-amount leads have nothing to refund proportionally.
        assert_eq!(after_refund(500, 0, 0), 0);
    }
}
