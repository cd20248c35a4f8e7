//! Merchant webhooks as the product's rules see them: which events exist, which of them a
//! merchant may subscribe to, which events a change of a conversion announces, and what a
//! webhook URL may look like. Pure: the store queues deliveries, `outbox` signs and sends them.

use super::conversion::Status;
use super::fraud::Flag;
use super::link;
use crate::error::Error;

/// An event a webhook can be sent. Names follow the Standard Webhooks advice: `noun.verb`,
/// lower case, full-stop delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Event {
    ConversionCreated,
    ConversionApproved,
    ConversionRejected,
    ConversionRefunded,
    /// Recorded (created, or taken over from the pixel) with fraud flags.
    ConversionFlagged,
    /// A server-side report took over the pixel's version of the order (new attribution,
    /// amount and commission, back to `pending`).
    ConversionReplaced,
    PayoutPaid,
    /// A sample sent on request to one webhook, never subscribed to.
    WebhookTest,
}

impl Event {
    /// The events a merchant can subscribe to, in the order the documentation lists them.
    pub const SUBSCRIBABLE: [Event; 7] = [
        Event::ConversionCreated,
        Event::ConversionApproved,
        Event::ConversionRejected,
        Event::ConversionRefunded,
        Event::ConversionFlagged,
        Event::ConversionReplaced,
        Event::PayoutPaid,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Event::ConversionCreated => "conversion.created",
            Event::ConversionApproved => "conversion.approved",
            Event::ConversionRejected => "conversion.rejected",
            Event::ConversionRefunded => "conversion.refunded",
            Event::ConversionFlagged => "conversion.flagged",
            Event::ConversionReplaced => "conversion.replaced",
            Event::PayoutPaid => "payout.paid",
            Event::WebhookTest => "webhook.test",
        }
    }

    /// A subscribable event by name (`webhook.test` is not one).
    pub fn parse(text: &str) -> Option<Event> {
        Event::SUBSCRIBABLE.into_iter().find(|e| e.as_str() == text)
    }

    /// Any event by name, `webhook.test` included: what a stored delivery may carry.
    pub fn stored(text: &str) -> Option<Event> {
        Event::parse(text).or((text == Event::WebhookTest.as_str()).then_some(Event::WebhookTest))
    }

    /// The event of a decision on a pending conversion.
    pub fn of_decision(to: Status) -> Event {
        if to == Status::Approved { Event::ConversionApproved } else { Event::ConversionRejected }
    }

    /// The events that announce `change` of a conversion that now carries `flags`: the change
    /// itself, and `conversion.flagged` when it was just recorded with fraud flags.
    pub fn announcing(change: Event, flags: &[Flag]) -> Vec<Event> {
        let recorded = matches!(change, Event::ConversionCreated | Event::ConversionReplaced);
        let mut events = vec![change];
        if recorded && !flags.is_empty() {
            events.push(Event::ConversionFlagged);
        }
        events
    }
}

/// At most this many live webhooks: every conversion change is fanned out to them inside its
/// write transaction, so their number is bounded.
pub const MAX_WEBHOOKS: usize = 20;

/// Reads a list of event names: not empty, each one subscribable, duplicates dropped.
/// The error names the first unknown one.
pub fn parse_events<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Vec<Event>, String> {
    let mut events = Vec::new();
    for name in names {
        let event = Event::parse(name).ok_or_else(|| {
            let shown: String = name.chars().filter(|c| !c.is_control()).take(64).collect();
            let known: Vec<&str> = Event::SUBSCRIBABLE.iter().map(|e| e.as_str()).collect();
            format!("names the unknown event `{shown}`; the events are {}", known.join(", "))
        })?;
        if !events.contains(&event) {
            events.push(event);
        }
    }
    if events.is_empty() {
        return Err("must name at least one event".into());
    }
    Ok(events)
}

/// Stored form of a subscription: names joined by commas.
pub fn join(events: &[Event]) -> String {
    events.iter().map(|e| e.as_str()).collect::<Vec<_>>().join(",")
}

/// The stored subscription read back; names this binary does not know are skipped.
pub fn split(text: &str) -> Vec<Event> {
    text.split(',').filter_map(Event::parse).collect()
}

/// Checks a webhook URL: absolute http(s), no user info, nothing unencoded, no macros. Where
/// it leads is checked at delivery, after resolution (the same guard as postbacks).
pub fn check_url(url: &str) -> Result<(), String> {
    if url.contains(['{', '}']) {
        return Err("must not contain braces: a webhook URL has no macros".into());
    }
    link::check_template(url, &[]).map(|_| ())
}

/// A webhook to add, as every source of one (the API, the admin) reads it: a URL that passed
/// [`check_url`] and the events it subscribes to (at least one, each once). Made only by
/// [`NewWebhook::read`], so one that exists is valid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewWebhook {
    url: String,
    events: Vec<Event>,
}

impl NewWebhook {
    /// Checks `url`, then the event names (`None`: none were sent, 400 `missing_events`).
    pub fn read<'a>(url: &str, names: Option<impl IntoIterator<Item = &'a str>>) -> Result<NewWebhook, Error> {
        check_url(url).map_err(|e| Error::invalid("url", e))?;
        let names = names.ok_or_else(|| Error::missing("events"))?;
        let events = parse_events(names).map_err(|e| Error::invalid("events", e))?;
        Ok(NewWebhook { url: url.to_string(), events })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn events(&self) -> &[Event] {
        &self.events
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_test_is_not_subscribable() {
        for e in Event::SUBSCRIBABLE {
            assert_eq!(Event::parse(e.as_str()), Some(e));
        }
        assert_eq!(Event::parse("webhook.test"), None);
        assert_eq!(split(&join(&Event::SUBSCRIBABLE)), Event::SUBSCRIBABLE.to_vec());
        assert_eq!(split("conversion.created,gone.event"), vec![Event::ConversionCreated]);
    }

    #[test]
    fn event_lists_name_the_unknown_one() {
        let ok = parse_events(["conversion.created", "payout.paid", "conversion.created"]).unwrap();
        assert_eq!(ok, vec![Event::ConversionCreated, Event::PayoutPaid]);
        let err = parse_events(["conversion.created", "conversion.deleted"]).unwrap_err();
        assert!(err.contains("`conversion.deleted`") && err.contains("conversion.flagged"), "{err}");
        assert!(parse_events([]).unwrap_err().contains("at least one"));
        assert!(parse_events(["webhook.test"]).is_err());
    }

    #[test]
    fn a_new_webhook_is_checked_url_first_then_its_events() {
        let ok = NewWebhook::read("https://crm.example/hook", Some(["payout.paid", "payout.paid"])).unwrap();
        assert_eq!((ok.url(), ok.events()), ("https://crm.example/hook", &[Event::PayoutPaid][..]));
        let code = |url: &str, names: Option<Vec<&'static str>>| NewWebhook::read(url, names).unwrap_err().code;
        assert_eq!(code("https://crm.example/{id}", None), "invalid_url", "the URL is checked first");
        assert_eq!(code("ftp://crm.example/", Some(vec!["payout.paid"])), "invalid_url");
        assert_eq!(code("https://crm.example/", None), "missing_events");
        assert_eq!(code("https://crm.example/", Some(vec![])), "invalid_events");
        assert_eq!(code("https://crm.example/", Some(vec!["webhook.test"])), "invalid_events");
    }

    #[test]
    fn a_flagged_conversion_announces_itself_when_recorded_only() {
        assert_eq!(Event::announcing(Event::ConversionCreated, &[]), vec![Event::ConversionCreated]);
        let flags = [Flag::TooFast];
        assert_eq!(
            Event::announcing(Event::ConversionCreated, &flags),
            vec![Event::ConversionCreated, Event::ConversionFlagged]
        );
        assert_eq!(
            Event::announcing(Event::ConversionReplaced, &flags),
            vec![Event::ConversionReplaced, Event::ConversionFlagged]
        );
        assert_eq!(Event::announcing(Event::ConversionApproved, &flags), vec![Event::ConversionApproved]);
        assert_eq!(Event::of_decision(Status::Rejected), Event::ConversionRejected);
    }

    #[test]
    fn urls_are_absolute_http_without_macros() {
        assert!(check_url("https://crm.example/hooks/affiliated?k=1").is_ok());
        assert!(check_url("http://10.0.0.5:8080/in").is_ok(), "the address is checked at delivery");
        for bad in
            ["ftp://x.example/", "/relative", "https://u:p@x.example/", "https://x.example/{event}", "https://x y"]
        {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }
}
