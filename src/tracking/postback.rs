//! Postback dialects: the parameter names networks and shop platforms use when they "fire a
//! postback URL", mapped onto one conversion report. Pure: parameters in, report out.
//!
//! Which dialect a request speaks is read from the parameters it carries:
//! - partner-id (Aspire / HasOffers `aff_lsr` style): `aff_id` or `affiliate_id`, no click;
//! - TUNE / HasOffers: `transaction_id` (the click ID) and `adv_unique1` or `adv_sub` (the order
//!   ID); without an order ID the transaction ID is the conversion's identity, one per goal
//!   (`goal_id`);
//! - FlexOffers: `refid`, `ordernumber`, `orderamount`;
//! - generic: `click_id`, `order_id`/`external_id`, `amount`, …
//!
//! [`conversion`] then turns a report into the `NewConversion` every source records. A value
//! that is still a platform's placeholder (`{order_id}`, `ORDER_ID`, …) is refused, never stored:
//! a literal stored as an order ID would make every later order of that platform a duplicate.

use super::attribution::Keys;
use super::conversion::{Details, NewConversion, Source};
use super::money;
use crate::error::Error;

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

/// What became of a postback received, as its log row says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    Created,
    Duplicate,
    /// Refused: the report is wrong or cannot be attributed.
    Rejected,
    /// The store failed; nothing was recorded (the network may retry).
    Failed,
}

impl Outcome {
    pub const ALL: [Outcome; 4] = [Outcome::Created, Outcome::Duplicate, Outcome::Rejected, Outcome::Failed];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Created => "created",
            Outcome::Duplicate => "duplicate",
            Outcome::Rejected => "rejected",
            Outcome::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<Outcome> {
        Outcome::ALL.into_iter().find(|o| o.as_str() == text)
    }
}

/// A conversion as a postback reports it. Empty parameters count as absent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub external_id: Option<String>,
    pub amount: Option<String>,
    pub currency: Option<String>,
    pub kind: Option<String>,
    /// What attributes it; the partner-id dialect names the affiliate and offer itself.
    pub keys: Keys,
    /// `test=1` (or `true`): a test conversion.
    pub test: bool,
    /// `goal_id`, `geo`, `commissionid`.
    pub details: Details,
}

/// The ready-to-paste postback URL template for an install reached at `public_url`.
pub fn url_template(public_url: &str, token: &str) -> String {
    format!(
        "{public_url}/postback?token={token}&click_id={{click_id}}&order_id={{order_id}}&amount={{amount}}&currency={{currency}}"
    )
}

/// Parameters that are credentials, never stored or echoed.
pub const SECRET_PARAMS: &[&str] = &["token"];

/// Every parameter a dialect reads into a conversion: its identity, money and attribution.
pub const CONVERSION_PARAMS: &[&str] = &[
    "order_id",
    "external_id",
    "ordernumber",
    "adv_unique1",
    "amount",
    "orderamount",
    "currency",
    "type",
    "click_id",
    "refid",
    "transaction_id",
    "coupon",
    "customer_id",
    "session_id",
    "aff_id",
    "affiliate_id",
    "offer_id",
    "test",
    "adv_sub",
    "goal_id",
];

/// Placeholder names platforms use that are no real value when they arrive verbatim in upper
/// case (`adv_unique1=ORDER_ID`), besides the parameters above and the outbound macros. Plain
/// words (`TOTAL`, `VALUE`) are left out: they can be real coupon codes.
const PLACEHOLDER_NAMES: &[&str] = &[
    "orderid",
    "order_number",
    "ordernum",
    "order_amount",
    "order_total",
    "ordertotal",
    "transactionid",
    "sale_amount",
    "saleamount",
    "clickid",
    "sessionid",
    "customerid",
    "affiliateid",
    "affid",
    "offerid",
    "goal_id",
    "adv_sub",
    "commissionid",
];

/// Whether `value` is a macro that was never replaced: `{order_id}`, `{{order}}`, `#order#`,
/// `[ORDER_ID]`, `%ORDER_ID%`, `$ORDER`, `${order}`, or an all-capitals placeholder name such
/// as `ORDER_ID`, `TRANSACTION_ID` or `AMOUNT`.
pub fn is_unreplaced_macro(value: &str) -> bool {
    let v = value.trim();
    let word = |s: &str| {
        !s.is_empty()
            && s.bytes().next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-')
    };
    // `{name}` anywhere, also doubled or with spaces inside.
    let mut rest = v;
    while let Some(open) = rest.find('{') {
        let after = rest[open..].trim_start_matches('{');
        if let Some(close) = after.find('}')
            && word(after[..close].trim())
        {
            return true;
        }
        rest = &rest[open + 1..];
    }
    let wrapped =
        |open: char, close: char| v.len() > 2 && v.starts_with(open) && v.ends_with(close) && word(&v[1..v.len() - 1]);
    if wrapped('#', '#') || wrapped('[', ']') || wrapped('%', '%') || wrapped('<', '>') {
        return true;
    }
    if let Some(name) = v.strip_prefix('$')
        && word(name)
    {
        return true;
    }
    let capitals = v.bytes().any(|b| b.is_ascii_uppercase())
        && v.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    capitals && {
        let lower = v.to_ascii_lowercase();
        CONVERSION_PARAMS.contains(&lower.as_str())
            || PLACEHOLDER_NAMES.contains(&lower.as_str())
            || super::outbound::POSTBACK_MACROS.contains(&lower.as_str())
    }
}

/// The first conversion parameter whose value is an unreplaced macro, as a refusal naming it.
pub fn check_macros(params: &[(String, String)]) -> Result<(), Error> {
    match params.iter().find(|(k, v)| CONVERSION_PARAMS.contains(&k.as_str()) && is_unreplaced_macro(v)) {
        Some((name, value)) => Err(unreplaced(name, value)),
        None => Ok(()),
    }
}

/// The refusal for parameter `name` holding the placeholder `value`.
pub fn unreplaced(name: &str, value: &str) -> Error {
    let shown: String = value.chars().filter(|c| !c.is_control()).take(64).collect();
    Error::bad_request(
        "unreplaced_macro",
        format!(
            "`{name}` is `{shown}`, a placeholder the sending platform did not fill in; \
             fix the postback URL template there (nothing was recorded)"
        ),
    )
}

/// Turns a report into the conversion every source records (`source` and `actor` say who sent
/// it). A missing amount stays missing: a flat commission needs none, a percentage does.
pub fn conversion(report: Report, source: Source, actor: &str) -> Result<NewConversion, Error> {
    let external_id = report.external_id.ok_or_else(|| Error::missing("external_id"))?;
    if let Some(amount) = &report.amount {
        money::check_shape(amount).map_err(|e| Error::invalid("amount", e))?;
    }
    let currency = report.currency.as_deref().map(|c| money::currency("currency", c)).transpose()?;
    Ok(NewConversion {
        external_id,
        kind: report.kind.unwrap_or_else(|| "sale".into()),
        amount: report.amount,
        currency,
        keys: report.keys,
        source,
        actor: actor.to_string(),
        test: report.test,
        customer_email: None,
        details: report.details,
        type_rate_only: false,
    })
}

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

/// A reported detail as kept: without control characters, at most `Details::MAX_LEN` bytes.
fn clip(text: &str) -> String {
    super::validate::metadata(text, Details::MAX_LEN)
}

/// Maps the parameters of any dialect onto a [`Report`].
pub fn map(params: &[(String, String)]) -> (Dialect, Report) {
    let get = |names: &[&str]| first(params, names).map(String::from);
    let dialect = detect(params);
    let (external_id, amount, click_id) = match dialect {
        Dialect::Generic => (&["order_id", "external_id"][..], "amount", Some("click_id")),
        Dialect::FlexOffers => (&["ordernumber"][..], "orderamount", Some("refid")),
        Dialect::Tune => (&["adv_unique1", "adv_sub", "order_id"][..], "amount", Some("transaction_id")),
        Dialect::PartnerId => (&["adv_unique1", "adv_sub", "order_id"][..], "amount", None),
    };
    let named = dialect == Dialect::PartnerId;
    let goal = get(&["goal_id"]).map(|g| clip(&g));
    // HasOffers: without an order ID, the transaction ID is the conversion, once per goal.
    let external_id = get(external_id).or_else(|| match (dialect, get(&["transaction_id"])) {
        (Dialect::Tune, Some(transaction)) => Some(format!("{transaction}:{}", goal.as_deref().unwrap_or("0"))),
        _ => None,
    });
    let report = Report {
        external_id,
        amount: get(&[amount]),
        currency: get(&["currency"]),
        kind: get(&["type"]),
        test: matches!(get(&["test"]).as_deref(), Some("1" | "true")),
        details: Details {
            goal,
            geo: get(&["geo"]).map(|g| clip(&g)),
            commission_id: get(&["commissionid", "commission_id"]).map(|c| clip(&c)),
        },
        keys: Keys {
            click_id: click_id.and_then(|name| get(&[name])),
            coupon: get(&["coupon"]),
            customer_id: get(&["customer_id"]),
            session_id: get(&["session_id"]),
            referral_code: if named { get(&["aff_id", "affiliate_id"]) } else { None },
            offer: if named { get(&["offer_id"]) } else { None },
            email: None,
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
        assert_eq!(r.keys.click_id.as_deref(), Some("C1"));
        assert_eq!(r.external_id.as_deref(), Some("O1"));
        assert_eq!(r.amount.as_deref(), Some("19.99"));
        assert_eq!(r.currency.as_deref(), Some("EUR"));
        assert_eq!(r.keys.coupon, None, "empty values are absent");
        assert_eq!(r.keys.customer_id.as_deref(), Some("u9"));
        let (_, r) = map(&params("external_id=E2&click_id=C"));
        assert_eq!(r.external_id.as_deref(), Some("E2"));
    }

    #[test]
    fn flexoffers_including_cpl_with_zero_amount() {
        let (d, r) = map(&params("refid=C2&orderamount=0&ordernumber=LEAD-7&coupon=&currency=&geo=US&commissionid="));
        assert_eq!(d, Dialect::FlexOffers);
        assert_eq!(r.keys.click_id.as_deref(), Some("C2"));
        assert_eq!(r.amount.as_deref(), Some("0"));
        assert_eq!(r.external_id.as_deref(), Some("LEAD-7"));
        assert_eq!(r.currency, None);
    }

    #[test]
    fn tune() {
        let (d, r) = map(&params("transaction_id=C3&amount=50&adv_unique1=T-1&adv_sub=x&adv_sub2=y"));
        assert_eq!(d, Dialect::Tune);
        assert_eq!(r.keys.click_id.as_deref(), Some("C3"));
        assert_eq!(r.external_id.as_deref(), Some("T-1"));
    }

    #[test]
    fn a_tune_transaction_alone_is_one_conversion_per_goal() {
        let (d, r) = map(&params("transaction_id=C9"));
        assert_eq!(d, Dialect::Tune);
        assert_eq!(r.external_id.as_deref(), Some("C9:0"));
        let (_, r) = map(&params("transaction_id=C9&goal_id=12"));
        assert_eq!((r.external_id.as_deref(), r.details.goal.as_deref()), (Some("C9:12"), Some("12")));
        let (_, r) = map(&params("transaction_id=C9&adv_sub=ORD-7&goal_id=12"));
        assert_eq!(r.external_id.as_deref(), Some("ORD-7"), "adv_sub is the order ID when sent");
    }

    #[test]
    fn flexoffers_details_are_kept() {
        let (_, r) = map(&params("refid=C2&orderamount=10&ordernumber=F-1&geo=US&commissionid=77&coupon=SAVE"));
        assert_eq!(r.details, Details { goal: None, geo: Some("US".into()), commission_id: Some("77".into()) });
        assert_eq!(r.keys.coupon.as_deref(), Some("SAVE"));
    }

    #[test]
    fn partner_id_has_no_click() {
        let (d, r) = map(&params("aff_id=ann&offer_id=main&amount=12.50&adv_unique1=P-1"));
        assert_eq!(d, Dialect::PartnerId);
        assert_eq!(r.keys.referral_code.as_deref(), Some("ann"));
        assert_eq!(r.keys.offer.as_deref(), Some("main"));
        assert_eq!(r.external_id.as_deref(), Some("P-1"));
        assert_eq!(r.keys.click_id, None);
        let (d, _) = map(&params("affiliate_id=ann&adv_unique1=P-2"));
        assert_eq!(d, Dialect::PartnerId);
        // A click ID makes it a click-attributed postback even if an affiliate is named.
        let (d, r) = map(&params("aff_id=ann&transaction_id=C&adv_unique1=P-3"));
        assert_eq!(d, Dialect::Tune);
        assert_eq!(r.keys.click_id.as_deref(), Some("C"));
    }

    #[test]
    fn unreplaced_macros_are_recognised_and_real_values_are_not() {
        for placeholder in [
            "{order_id}",
            "{{order}}",
            "{ order_id }",
            "ORD-{order_id}",
            "#order#",
            "[ORDER_ID]",
            "%ORDER_ID%",
            "$ORDER",
            "${order}",
            "ORDER_ID",
            "TRANSACTION_ID",
            "AMOUNT",
            "ADV_UNIQUE1",
            "CLICK_ID",
            "<order_id>",
        ] {
            assert!(is_unreplaced_macro(placeholder), "{placeholder}");
        }
        for real in [
            "1001",
            "order-5001",
            "#1002",
            "A1B2C3",
            "ORDER",
            "SALE-2026-11",
            "19.99",
            "0",
            "{}",
            "a{b",
            "ann",
            "P7R_DLsOlqdNn7TttU51WeLi74SzQb",
            "50%",
            "$5",
            "USD",
            "SUMMER25",
        ] {
            assert!(!is_unreplaced_macro(real), "{real}");
        }
    }

    #[test]
    fn a_placeholder_in_a_conversion_parameter_is_refused_by_name() {
        let err = check_macros(&params("transaction_id=C1&adv_unique1=ORDER_ID&amount=5")).unwrap_err();
        assert_eq!(err.code, "unreplaced_macro");
        assert!(err.message.contains("`adv_unique1`"), "{}", err.message);
        assert!(
            check_macros(&params("click_id=C1&order_id=1001&amount=5&sub1={sub1}")).is_ok(),
            "sub IDs are not money"
        );
        let err = check_macros(&params("refid={click_id}&ordernumber=7&orderamount=1")).unwrap_err();
        assert!(err.message.contains("`refid`"));
    }

    #[test]
    fn reports_become_conversions_with_their_amount_left_missing_when_absent() {
        let (_, r) = map(&params("click_id=C1&order_id=O1&currency=eur"));
        let new = conversion(r, Source::Postback, "postback").unwrap();
        assert_eq!(new.amount, None);
        assert_eq!(new.currency.map(|c| c.code()), Some("EUR"));
        assert_eq!(new.keys.click_id.as_deref(), Some("C1"));
        let (_, r) = map(&params("click_id=C1&amount=1"));
        assert_eq!(conversion(r, Source::Postback, "p").unwrap_err().code, "missing_external_id");
        let (_, r) = map(&params("click_id=C1&order_id=O&amount=1,5"));
        assert_eq!(conversion(r, Source::Postback, "p").unwrap_err().code, "invalid_amount");
        let (_, r) = map(&params("aff_id=ann&offer_id=main&adv_unique1=P-1"));
        let new = conversion(r, Source::Postback, "p").unwrap();
        assert_eq!((new.keys.referral_code.as_deref(), new.keys.offer.as_deref()), (Some("ann"), Some("main")));
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
