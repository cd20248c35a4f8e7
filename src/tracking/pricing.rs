//! What a conversion earns: which rate applies (the affiliate's own, the offer's for this type of
//! conversion, or the offer's), its currency, its amount in minor units and the commission,
//! including the end of recurring commission. Pure; the store looks the offer and the rates up
//! and calls this once per conversion, on the reader that attributes it.

use super::commission::Rule;
use super::conversion::{NewConversion, RateSource};
use super::money::Currency;
use crate::error::Error;

/// The rate chosen for one conversion, and why it pays nothing when it does not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rate {
    pub rule: Rule,
    pub source: RateSource,
    pub note: Option<String>,
}

/// The `event_type` of an affiliate's rate that applies to every conversion type.
pub const EVERY_TYPE: &str = "*";

/// Chooses the rate of a conversion of type `kind`: the affiliate's own rate for this type, else
/// the affiliate's rate for every type, else the offer's rate for this type; an offer that pays
/// per type pays nothing for a type it does not list (and says so); else the offer's rate —
/// unless `type_rate_only`, when nothing but a rate for this type applies.
pub fn choose_rate(
    kind: &str,
    affiliate_rates: &[(String, Rule)],
    offer_rates: &[(String, Rule)],
    offer_rule: Rule,
    offer: &str,
    type_rate_only: bool,
) -> Rate {
    let find = |rates: &[(String, Rule)], wanted: &str| rates.iter().find(|(t, _)| t == wanted).map(|(_, r)| *r);
    if let Some(rule) = find(affiliate_rates, kind).or_else(|| find(affiliate_rates, EVERY_TYPE)) {
        return Rate { rule, source: RateSource::AffiliateOverride, note: None };
    }
    if let Some(rule) = find(offer_rates, kind) {
        return Rate { rule, source: RateSource::EventType, note: None };
    }
    if !offer_rates.is_empty() || type_rate_only {
        return Rate {
            rule: Rule::Flat { minor: 0 },
            source: RateSource::EventType,
            note: Some(format!("offer `{offer}` has no rate for conversions of type `{kind}`: it earns nothing")),
        };
    }
    Rate { rule: offer_rule, source: RateSource::Offer, note: None }
}

/// A customer tie that earns only for some months (the offer's `recurring_months`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Recurring {
    /// When the customer was tied to the affiliate (ms).
    pub tied_at: i64,
    pub months: i64,
}

impl Recurring {
    /// The moment the recurring commission ends: the same day and time, `months` calendar
    /// months after the tie (the last day of the month when that day does not exist).
    pub fn ends_at(self) -> i64 {
        let tied = chrono::DateTime::from_timestamp_millis(self.tied_at).unwrap_or_default();
        let months = chrono::Months::new(u32::try_from(self.months.max(0)).unwrap_or(u32::MAX));
        tied.checked_add_months(months).map_or(i64::MAX, |end| end.timestamp_millis())
    }
}

/// The terms a conversion is priced under.
#[derive(Clone, Debug)]
pub struct Terms<'a> {
    /// The offer's public id, for messages.
    pub offer: &'a str,
    pub currency: Currency,
    pub rate: Rate,
    /// Set when the conversion is attributed by a customer tie on an offer that limits
    /// recurring commission.
    pub recurring: Option<Recurring>,
    pub now: i64,
}

/// A priced conversion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Price {
    pub currency: Currency,
    pub amount: i64,
    pub commission: i64,
    pub rate_source: RateSource,
    /// Why it earns nothing, when a rule decided so (recorded in its history).
    pub note: Option<String>,
}

/// Prices `new` under `terms`. The report's currency wins over the offer's, except that a flat
/// commission is a sum in the offer's currency and cannot be paid on an order in another one.
/// A percentage needs an amount; a flat commission does not (a missing amount is zero).
pub fn price(terms: &Terms<'_>, new: &NewConversion) -> Result<Price, Error> {
    let rule = terms.rate.rule;
    let currency = new.currency.unwrap_or(terms.currency);
    if matches!(rule, Rule::Flat { minor } if minor > 0) && currency != terms.currency {
        return Err(Error::bad_request(
            "currency_mismatch",
            format!(
                "offer `{}` pays a flat commission in {}; report its conversions in {} (or omit currency)",
                terms.offer, terms.currency, terms.currency
            ),
        ));
    }
    let amount = new.amount_in(currency, matches!(rule, Rule::Percent { .. }))?;
    let mut commission = rule.commission_on(amount);
    let mut note = terms.rate.note.clone();
    if let Some(recurring) = terms.recurring
        && terms.now > recurring.ends_at()
    {
        commission = 0;
        note = Some(format!(
            "the customer was tied on {}; offer `{}` pays recurring commission for {} months: it earns nothing",
            super::time::rfc3339(recurring.tied_at),
            terms.offer,
            recurring.months
        ));
    }
    Ok(Price { currency, amount, commission, rate_source: terms.rate.source, note })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tracking::attribution::Keys;
    use crate::tracking::conversion::Source;

    const TEN: Rule = Rule::Percent { ppm: 100_000 };

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
            customer_email: None,
            details: Default::default(),
            type_rate_only: false,
        }
    }

    fn terms(rule: Rule) -> Terms<'static> {
        Terms {
            offer: "main",
            currency: Currency::from_code("USD").unwrap(),
            rate: Rate { rule, source: RateSource::Offer, note: None },
            recurring: None,
            now: 0,
        }
    }

    #[test]
    fn percent_offers_need_an_amount_and_flat_ones_do_not() {
        let usd = Currency::from_code("USD").unwrap();
        assert_eq!(price(&terms(TEN), &report(Some("19.99"), None)).unwrap().commission, 200);
        assert_eq!(price(&terms(TEN), &report(None, None)).unwrap_err().code, "missing_amount");
        assert_eq!(price(&terms(TEN), &report(Some("0"), None)).unwrap().commission, 0);
        let flat = price(&terms(Rule::Flat { minor: 250 }), &report(None, None)).unwrap();
        assert_eq!((flat.currency, flat.amount, flat.commission), (usd, 0, 250));
    }

    #[test]
    fn the_reports_currency_wins_unless_the_commission_is_flat() {
        let jpy = Currency::from_code("JPY").unwrap();
        let p = price(&terms(TEN), &report(Some("1500"), Some("JPY"))).unwrap();
        assert_eq!((p.currency, p.amount, p.commission), (jpy, 1500, 150));
        assert_eq!(price(&terms(TEN), &report(Some("15.5"), Some("JPY"))).unwrap_err().code, "invalid_amount");
        let flat = terms(Rule::Flat { minor: 250 });
        assert_eq!(price(&flat, &report(Some("1"), Some("JPY"))).unwrap_err().code, "currency_mismatch");
    }

    #[test]
    fn the_affiliates_rate_wins_then_the_types_then_the_offers() {
        let five = Rule::Percent { ppm: 50_000 };
        let lead = Rule::Flat { minor: 300 };
        let special = Rule::Percent { ppm: 200_000 };
        let offer_rates = vec![("lead".to_string(), lead), ("sale".to_string(), five)];
        let chosen = choose_rate("sale", &[], &offer_rates, TEN, "main", false);
        assert_eq!((chosen.rule, chosen.source), (five, RateSource::EventType));
        let none = choose_rate("install", &[], &offer_rates, TEN, "main", false);
        assert_eq!((none.rule, none.source), (Rule::Flat { minor: 0 }, RateSource::EventType));
        assert!(none.note.unwrap().contains("`install`"));
        let every = vec![(EVERY_TYPE.to_string(), special)];
        let mine = choose_rate("lead", &every, &offer_rates, TEN, "main", false);
        assert_eq!((mine.rule, mine.source), (special, RateSource::AffiliateOverride));
        let per_type = vec![("sale".to_string(), special)];
        assert_eq!(
            choose_rate("lead", &per_type, &offer_rates, TEN, "main", false).rule,
            lead,
            "falls back to the offer's"
        );
        assert_eq!(
            choose_rate("sale", &[], &[], TEN, "main", false),
            Rate { rule: TEN, source: RateSource::Offer, note: None }
        );
        let only = choose_rate("lead", &[], &[], Rule::Flat { minor: 500 }, "main", true);
        assert_eq!(only.rule, Rule::Flat { minor: 0 }, "a registration lead earns no general rate");
        assert_eq!(choose_rate("lead", &[], &offer_rates, TEN, "main", true).rule, lead);
    }

    #[test]
    fn recurring_commission_ends_after_its_calendar_months() {
        let day = 86_400_000;
        // Tied on 2026-01-31T12:00Z; one month later is the last day of February.
        let tied = chrono::DateTime::parse_from_rfc3339("2026-01-31T12:00:00Z").unwrap().timestamp_millis();
        let r = Recurring { tied_at: tied, months: 1 };
        let end = chrono::DateTime::parse_from_rfc3339("2026-02-28T12:00:00Z").unwrap().timestamp_millis();
        assert_eq!(r.ends_at(), end);
        let mut t = terms(TEN);
        t.recurring = Some(r);
        t.now = end;
        assert_eq!(price(&t, &report(Some("100"), None)).unwrap().commission, 1000, "the last moment still earns");
        t.now = end + day;
        let ended = price(&t, &report(Some("100"), None)).unwrap();
        assert_eq!(ended.commission, 0);
        assert!(ended.note.unwrap().contains("1 months"));
    }
}
