//! What a conversion earns: its currency, its amount in minor units and the commission, from the
//! offer's terms and what the report says. Pure; the store looks the offer up and calls this once
//! per conversion, on the reader that attributes it.

use super::commission::Rule;
use super::conversion::NewConversion;
use super::money::Currency;
use crate::error::Error;

/// The terms a conversion is priced under.
#[derive(Clone, Copy, Debug)]
pub struct Terms<'a> {
    /// The offer's public id, for messages.
    pub offer: &'a str,
    pub rule: Rule,
    pub currency: Currency,
}

/// A priced conversion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Price {
    pub currency: Currency,
    pub amount: i64,
    pub commission: i64,
}

/// Prices `new` under `terms`. The report's currency wins over the offer's, except that a flat
/// commission is a sum in the offer's currency and cannot be paid on an order in another one.
/// A percentage needs an amount; a flat commission does not (a missing amount is zero).
pub fn price(terms: &Terms<'_>, new: &NewConversion) -> Result<Price, Error> {
    let currency = new.currency.unwrap_or(terms.currency);
    if matches!(terms.rule, Rule::Flat { .. }) && currency != terms.currency {
        return Err(Error::bad_request(
            "currency_mismatch",
            format!(
                "offer `{}` pays a flat commission in {}; report its conversions in {} (or omit currency)",
                terms.offer, terms.currency, terms.currency
            ),
        ));
    }
    let amount = new.amount_in(currency, matches!(terms.rule, Rule::Percent { .. }))?;
    Ok(Price { currency, amount, commission: terms.rule.commission_on(amount) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tracking::attribution::Keys;
    use crate::tracking::conversion::Source;

    fn report(amount: Option<&str>, currency: Option<&str>) -> NewConversion {
        NewConversion {
            external_id: "o".into(),
            kind: "sale".into(),
            amount: amount.map(String::from),
            currency: currency.and_then(Currency::from_code),
            keys: Keys { coupon: Some("C".into()), ..Keys::default() },
            source: Source::Postback,
            actor: "t".into(),
            test: false,
        }
    }

    #[test]
    fn percent_offers_need_an_amount_and_flat_ones_do_not() {
        let usd = Currency::from_code("USD").unwrap();
        let percent = Terms { offer: "main", rule: Rule::Percent { ppm: 100_000 }, currency: usd };
        assert_eq!(price(&percent, &report(Some("19.99"), None)).unwrap().commission, 200);
        assert_eq!(price(&percent, &report(None, None)).unwrap_err().code, "missing_amount");
        assert_eq!(price(&percent, &report(Some("0"), None)).unwrap().commission, 0);
        let flat = Terms { offer: "cpl", rule: Rule::Flat { minor: 250 }, currency: usd };
        assert_eq!(price(&flat, &report(None, None)).unwrap(), Price { currency: usd, amount: 0, commission: 250 });
    }

    #[test]
    fn the_reports_currency_wins_unless_the_commission_is_flat() {
        let usd = Currency::from_code("USD").unwrap();
        let jpy = Currency::from_code("JPY").unwrap();
        let percent = Terms { offer: "main", rule: Rule::Percent { ppm: 100_000 }, currency: usd };
        let p = price(&percent, &report(Some("1500"), Some("JPY"))).unwrap();
        assert_eq!((p.currency, p.amount, p.commission), (jpy, 1500, 150));
        assert_eq!(price(&percent, &report(Some("15.5"), Some("JPY"))).unwrap_err().code, "invalid_amount");
        let flat = Terms { offer: "cpl", rule: Rule::Flat { minor: 250 }, currency: usd };
        assert_eq!(price(&flat, &report(Some("1"), Some("JPY"))).unwrap_err().code, "currency_mismatch");
    }
}
