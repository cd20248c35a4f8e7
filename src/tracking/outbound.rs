//! Outbound postbacks to affiliates' own trackers: which macros a postback URL template may use
//! and how they are filled from a conversion, how many test postbacks an affiliate may have
//! sent, and which destination (host) a delivery goes to. Pure: the store reads the values,
//! `outbox.rs` sends the request.

use super::conversion::{Change, Conversion};
use super::link;

/// Where a delivery stands, in either outbox (postbacks, merchant webhooks).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeliveryStatus {
    /// Waiting for its next attempt.
    Pending,
    Delivered,
    /// Given up (its attempts ran out, or it was a test postback's one attempt).
    Failed,
}

impl DeliveryStatus {
    pub const ALL: [DeliveryStatus; 3] = [DeliveryStatus::Pending, DeliveryStatus::Delivered, DeliveryStatus::Failed];

    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<DeliveryStatus> {
        DeliveryStatus::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// A status reads as its name in tests (`assert_eq!(d.status, "pending")`); the program compares
/// enums.
#[cfg(test)]
impl PartialEq<&str> for DeliveryStatus {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// What a postback tells an affiliate's tracker (`{event}`): a change of one of their
/// conversions, or a test.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PostbackEvent {
    Change(Change),
    Test,
}

impl PostbackEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            PostbackEvent::Change(change) => change.as_str(),
            PostbackEvent::Test => "test",
        }
    }

    pub fn parse(text: &str) -> Option<PostbackEvent> {
        if text == "test" { Some(PostbackEvent::Test) } else { Change::parse(text).map(PostbackEvent::Change) }
    }
}

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
    pub fn of(c: &Conversion, event: Change, status: &str, subs: [String; 5]) -> MacroValues {
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
            event: event.as_str().to_string(),
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
            event: PostbackEvent::Test.as_str().into(),
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

/// Test postbacks (event `test`) an affiliate may have sent within [`TEST_WINDOW_MS`], from
/// every source together (the portal, the admin and the API): each one is a request this
/// server sends to a URL the affiliate chose, so they must not make it a request reflector.
pub const TEST_POSTBACKS_PER_HOUR: usize = 5;
pub const TEST_WINDOW_MS: i64 = 3_600_000;

/// Seconds until another test postback may be queued, given when the affiliate's recent ones
/// were queued (any order), or `None` if one may be queued now.
pub fn test_postback_wait(queued_at: &[i64], now: i64) -> Option<u64> {
    let mut recent: Vec<i64> = queued_at.iter().copied().filter(|t| now - t < TEST_WINDOW_MS).collect();
    if recent.len() < TEST_POSTBACKS_PER_HOUR {
        return None;
    }
    recent.sort_unstable();
    // The oldest of the last five frees a slot when it leaves the window.
    let freed = recent[recent.len() - TEST_POSTBACKS_PER_HOUR] + TEST_WINDOW_MS;
    Some(u64::try_from(freed - now).unwrap_or(0).div_ceil(1000).max(1))
}

/// The destination a delivery to `url` goes to, as outbound fairness counts them: its host and
/// port, lower case (`t.example:443`), without user information. A URL without a host is its
/// own destination.
pub fn destination(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_ascii_lowercase() };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h).to_ascii_lowercase();
    let has_port = match host_port.rfind(':') {
        Some(at) => !host_port[at..].contains(']'),
        None => false,
    };
    if has_port {
        return host_port;
    }
    let port = if scheme.eq_ignore_ascii_case("https") { 443 } else { 80 };
    format!("{host_port}:{port}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_test_postbacks_an_hour_then_a_wait_until_the_oldest_is_an_hour_old() {
        let now = 10 * TEST_WINDOW_MS;
        assert_eq!(test_postback_wait(&[], now), None);
        let four: Vec<i64> = (1..=4).map(|m| now - m * 60_000).collect();
        assert_eq!(test_postback_wait(&four, now), None);
        let mut five = four.clone();
        five.push(now - 30 * 60_000);
        // The oldest of the five was queued 30 minutes ago: 30 minutes to wait.
        assert_eq!(test_postback_wait(&five, now), Some(1800));
        let mut with_old = five.clone();
        with_old[4] = now - TEST_WINDOW_MS;
        assert_eq!(test_postback_wait(&with_old, now), None, "an hour old no longer counts");
        let six: Vec<i64> = (0..6).map(|m| now - m * 1000).collect();
        assert_eq!(test_postback_wait(&six, now), Some(3596), "the oldest of the last five");
        assert_eq!(test_postback_wait(&[now; 5], now), Some(3600));
    }

    #[test]
    fn a_destination_is_a_host_and_port() {
        assert_eq!(destination("https://T.example/pb?x=1"), "t.example:443");
        assert_eq!(destination("http://t.example/pb"), "t.example:80");
        assert_eq!(destination("http://t.example:8080"), "t.example:8080");
        assert_eq!(destination("https://user:pw@t.example:8443/p#f"), "t.example:8443");
        assert_eq!(destination("http://[2001:db8::1]/p"), "[2001:db8::1]:80");
        assert_eq!(destination("http://[2001:db8::1]:81?x"), "[2001:db8::1]:81");
        assert_eq!(destination("no scheme"), "no scheme");
    }

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
