//! Postback dialects: the parameter names networks and shop platforms use when they "fire a
//! postback URL", mapped onto one conversion report. Pure: parameters in, report out.
//!
//! Which dialect a request speaks is read from the parameters it carries:
//! - partner-id (Aspire / HasOffers `aff_lsr` style): `aff_id` or `affiliate_id`, no click;
//! - TUNE / HasOffers: `transaction_id` (the click ID) and `adv_unique1` (the order ID);
//! - FlexOffers: `refid`, `ordernumber`, `orderamount`;
//! - generic: `click_id`, `order_id`/`external_id`, `amount`, …

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Generic,
    FlexOffers,
    Tune,
    PartnerId,
}

impl Dialect {
    pub fn as_str(self) -> &'static str {
        match self {
            Dialect::Generic => "generic",
            Dialect::FlexOffers => "flexoffers",
            Dialect::Tune => "tune",
            Dialect::PartnerId => "partner_id",
        }
    }
}

/// A conversion as a postback reports it. Empty parameters count as absent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub external_id: Option<String>,
    pub amount: Option<String>,
    pub currency: Option<String>,
    pub kind: Option<String>,
    pub click_id: Option<String>,
    pub coupon: Option<String>,
    pub customer_id: Option<String>,
    pub session_id: Option<String>,
    /// Partner-id dialect: the affiliate's referral code and the offer.
    pub referral_code: Option<String>,
    pub offer: Option<String>,
}

/// Parameters that are credentials, never stored or echoed.
pub const SECRET_PARAMS: &[&str] = &["token"];

fn first<'a>(params: &'a [(String, String)], names: &[&str]) -> Option<&'a str> {
    names.iter().find_map(|name| params.iter().find(|(k, v)| k == name && !v.trim().is_empty()).map(|(_, v)| v.trim()))
}

fn has(params: &[(String, String)], names: &[&str]) -> bool {
    first(params, names).is_some()
}

pub fn detect(params: &[(String, String)]) -> Dialect {
    let clicky = has(params, &["transaction_id", "click_id", "refid"]);
    if has(params, &["aff_id", "affiliate_id"]) && !clicky {
        Dialect::PartnerId
    } else if has(params, &["transaction_id", "adv_unique1"]) {
        Dialect::Tune
    } else if has(params, &["refid", "ordernumber", "orderamount"]) {
        Dialect::FlexOffers
    } else {
        Dialect::Generic
    }
}

/// Maps the parameters of any dialect onto a [`Report`].
pub fn map(params: &[(String, String)]) -> (Dialect, Report) {
    let get = |names: &[&str]| first(params, names).map(String::from);
    let dialect = detect(params);
    let common = Report {
        currency: get(&["currency"]),
        kind: get(&["type"]),
        coupon: get(&["coupon"]),
        customer_id: get(&["customer_id"]),
        session_id: get(&["session_id"]),
        ..Report::default()
    };
    let report = match dialect {
        Dialect::Generic => Report {
            external_id: get(&["order_id", "external_id"]),
            amount: get(&["amount"]),
            click_id: get(&["click_id"]),
            ..common
        },
        Dialect::FlexOffers => Report {
            external_id: get(&["ordernumber"]),
            amount: get(&["orderamount"]),
            click_id: get(&["refid"]),
            ..common
        },
        Dialect::Tune => Report {
            external_id: get(&["adv_unique1", "order_id"]),
            amount: get(&["amount"]),
            click_id: get(&["transaction_id"]),
            ..common
        },
        Dialect::PartnerId => Report {
            external_id: get(&["adv_unique1", "order_id"]),
            amount: get(&["amount"]),
            referral_code: get(&["aff_id", "affiliate_id"]),
            offer: get(&["offer_id"]),
            ..common
        },
    };
    (dialect, report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(text: &str) -> Vec<(String, String)> {
        form_urlencoded::parse(text.as_bytes()).into_owned().collect()
    }

    #[test]
    fn generic() {
        let (d, r) = map(&params("token=t&click_id=C1&amount=19.99&order_id=O1&currency=EUR&coupon=&customer_id=u9"));
        assert_eq!(d, Dialect::Generic);
        assert_eq!(r.click_id.as_deref(), Some("C1"));
        assert_eq!(r.external_id.as_deref(), Some("O1"));
        assert_eq!(r.amount.as_deref(), Some("19.99"));
        assert_eq!(r.currency.as_deref(), Some("EUR"));
        assert_eq!(r.coupon, None, "empty values are absent");
        assert_eq!(r.customer_id.as_deref(), Some("u9"));
        let (_, r) = map(&params("external_id=E2&click_id=C"));
        assert_eq!(r.external_id.as_deref(), Some("E2"));
    }

    #[test]
    fn flexoffers_including_cpl_with_zero_amount() {
        let (d, r) = map(&params("refid=C2&orderamount=0&ordernumber=LEAD-7&coupon=&currency=&geo=US&commissionid="));
        assert_eq!(d, Dialect::FlexOffers);
        assert_eq!(r.click_id.as_deref(), Some("C2"));
        assert_eq!(r.amount.as_deref(), Some("0"));
        assert_eq!(r.external_id.as_deref(), Some("LEAD-7"));
        assert_eq!(r.currency, None);
    }

    #[test]
    fn tune() {
        let (d, r) = map(&params("transaction_id=C3&amount=50&adv_unique1=T-1&adv_sub=x&adv_sub2=y"));
        assert_eq!(d, Dialect::Tune);
        assert_eq!(r.click_id.as_deref(), Some("C3"));
        assert_eq!(r.external_id.as_deref(), Some("T-1"));
    }

    #[test]
    fn partner_id_has_no_click() {
        let (d, r) = map(&params("aff_id=ann&offer_id=main&amount=12.50&adv_unique1=P-1"));
        assert_eq!(d, Dialect::PartnerId);
        assert_eq!(r.referral_code.as_deref(), Some("ann"));
        assert_eq!(r.offer.as_deref(), Some("main"));
        assert_eq!(r.external_id.as_deref(), Some("P-1"));
        assert_eq!(r.click_id, None);
        let (d, _) = map(&params("affiliate_id=ann&adv_unique1=P-2"));
        assert_eq!(d, Dialect::PartnerId);
        // A click ID makes it a click-attributed postback even if an affiliate is named.
        let (d, r) = map(&params("aff_id=ann&transaction_id=C&adv_unique1=P-3"));
        assert_eq!(d, Dialect::Tune);
        assert_eq!(r.click_id.as_deref(), Some("C"));
    }

    #[test]
    fn never_panics_on_odd_input() {
        for text in ["", "=", "&&&", "a", "aff_id=", "refid=%FF%FE", "amount=1&amount=2", "click_id=%00"] {
            let _ = map(&params(text));
        }
        let (_, r) = map(&params("amount=1&amount=2&click_id=c"));
        assert_eq!(r.amount.as_deref(), Some("1"), "the first value wins");
    }
}
