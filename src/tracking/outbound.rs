//! Outbound postbacks to affiliates' own trackers: which macros a postback URL template may use
//! and how they are filled from a conversion. Pure: the store reads the values, `outbox.rs`
//! sends the request.

use super::conversion::Conversion;
use super::link;

/// Macros an affiliate's postback URL may use.
pub const POSTBACK_MACROS: &[&str] = &[
    "click_id",
    "external_id",
    "amount",
    "commission",
    "currency",
    "status",
    "conversion_id",
    "offer",
    "sub1",
    "sub2",
    "sub3",
    "sub4",
    "sub5",
    "aff_sub",
    "aff_sub2",
    "aff_sub3",
    "aff_sub4",
    "aff_sub5",
    "event",
    "test",
];

/// Checks a postback URL template: absolute http(s), only [`POSTBACK_MACROS`].
pub fn check_template(url: &str) -> Result<(), String> {
    link::check_template(url, POSTBACK_MACROS).map(|_| ())
}

/// The values a postback URL's macros are filled with.
#[derive(Clone, Debug, Default)]
pub struct MacroValues {
    pub click_id: String,
    pub external_id: String,
    pub amount: String,
    pub commission: String,
    pub currency: String,
    pub status: String,
    pub conversion_id: String,
    pub offer: String,
    pub subs: [String; 5],
    pub event: String,
    /// `1` for test data, `0` otherwise.
    pub test: String,
}

impl MacroValues {
    /// The values for `event` on conversion `c`, whose click carried `subs`. The amount is what is
    /// left after refunds; the status is `status` (the conversion's own unless the event says
    /// otherwise, e.g. `rejected` for an affiliate who lost an order to another report).
    pub fn of(c: &Conversion, event: &str, status: &str, subs: [String; 5]) -> MacroValues {
        MacroValues {
            click_id: c.click_id.clone().unwrap_or_default(),
            external_id: c.external_id.clone(),
            amount: c.currency.format(c.remaining()),
            commission: c.currency.format(c.commission),
            currency: c.currency.code().to_string(),
            status: status.to_string(),
            conversion_id: c.id.to_string(),
            offer: c.offer.clone(),
            subs,
            event: event.to_string(),
            test: if c.test { "1" } else { "0" }.to_string(),
        }
    }

    /// The values of a test postback: plainly fake, every macro filled.
    pub fn sample() -> MacroValues {
        MacroValues {
            click_id: "test-click-id".into(),
            external_id: "test-order".into(),
            amount: "100.00".into(),
            commission: "10.00".into(),
            currency: "USD".into(),
            status: "pending".into(),
            conversion_id: "0".into(),
            offer: "test".into(),
            subs: ["sub1".into(), "sub2".into(), "sub3".into(), "sub4".into(), "sub5".into()],
            event: "test".into(),
            test: "1".into(),
        }
    }

    pub fn fill(&self, template: &str) -> String {
        link::fill(template, |name| {
            Some(match name {
                "click_id" => &self.click_id,
                "external_id" => &self.external_id,
                "amount" => &self.amount,
                "commission" => &self.commission,
                "currency" => &self.currency,
                "status" => &self.status,
                "conversion_id" => &self.conversion_id,
                "offer" => &self.offer,
                "event" => &self.event,
                "test" => &self.test,
                other => &self.subs[link::sub_index(other)?],
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macros_are_filled_and_encoded() {
        let v = MacroValues {
            click_id: "P7abc".into(),
            external_id: "order 1&2".into(),
            amount: "60.00".into(),
            commission: "6.00".into(),
            currency: "USD".into(),
            status: "approved".into(),
            conversion_id: "42".into(),
            offer: "main".into(),
            subs: ["s1".into(), String::new(), String::new(), String::new(), "s5".into()],
            event: "approved".into(),
            test: "0".into(),
        };
        let url =
            v.fill("https://t.example/pb?cid={click_id}&oid={external_id}&p={commission}&s={sub1}{sub2}&e={event}");
        assert_eq!(url, "https://t.example/pb?cid=P7abc&oid=order%201%262&p=6.00&s=s1&e=approved");
        assert_eq!(v.fill("https://t.example/?a={aff_sub}&b={aff_sub5}"), "https://t.example/?a=s1&b=s5");
    }

    #[test]
    fn every_listed_macro_is_filled() {
        let v = MacroValues { event: "e".into(), ..MacroValues::default() };
        for name in POSTBACK_MACROS {
            let filled = v.fill(&format!("https://t.example/?x={{{name}}}"));
            assert!(!filled.contains('{'), "{name}: {filled}");
        }
        assert!(check_template("https://t.example/?x={nope}").is_err());
        assert!(check_template("https://t.example/?x={status}").is_ok());
    }
}
