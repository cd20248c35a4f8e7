//! Attribution: which affiliate gets the credit for a conversion.
//!
//! A conversion names up to five keys. They are tried in a fixed order, most specific first:
//! `click_id` (this visit's click), the affiliate itself (a network's partner-id postback names
//! it), `coupon` (typed at checkout), `customer_id` (a customer tied to an affiliate earlier:
//! recurring commission) and `session_id` (the merchant's session, whose clicks are weighed by
//! the offer's first- or last-click model). The first key that resolves wins; if none does, the
//! error of the first key given is reported, so an integration bug surfaces instead of a sale
//! silently going to nobody. Pure logic: callers do the lookups.
//!
//! A customer may also be named by the e-mail they registered with (AFFY's payment leads send
//! it): weaker evidence than a visit, so it counts only for a report that names no click and no
//! session ([`Keys::customer_email`]), in the customer's place in the order.

use super::time::MS_PER_DAY;

/// The offer's attribution model for sessions with several clicks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Model {
    FirstClick,
    LastClick,
}

impl Model {
    pub fn parse(text: &str) -> Option<Model> {
        match text {
            "first_click" => Some(Model::FirstClick),
            "last_click" => Some(Model::LastClick),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Model::FirstClick => "first_click",
            Model::LastClick => "last_click",
        }
    }
}

/// The key that attributed a conversion, as stored in `conversions.attributed_by`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Key {
    Click,
    Coupon,
    Customer,
    Session,
    /// A postback naming the affiliate directly (partner-id dialect).
    Affiliate,
}

impl Key {
    /// The order in which a conversion's keys are tried.
    pub const PRECEDENCE: [Key; 5] = [Key::Click, Key::Affiliate, Key::Coupon, Key::Customer, Key::Session];

    pub fn as_str(self) -> &'static str {
        match self {
            Key::Click => "click",
            Key::Coupon => "coupon",
            Key::Customer => "customer",
            Key::Session => "session",
            Key::Affiliate => "affiliate",
        }
    }

    pub fn parse(text: &str) -> Option<Key> {
        Key::PRECEDENCE.into_iter().find(|k| k.as_str() == text)
    }
}

/// The keys a report carries. Empty strings are treated like absent keys by every source.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Keys {
    pub click_id: Option<String>,
    pub coupon: Option<String>,
    pub customer_id: Option<String>,
    pub session_id: Option<String>,
    /// The affiliate named by the report itself (partner-id postbacks), with the offer it names.
    pub referral_code: Option<String>,
    pub offer: Option<String>,
    /// The e-mail of a customer registered earlier, in place of their `customer_id` (see
    /// [`Keys::customer_email`]).
    pub email: Option<String>,
}

impl Keys {
    /// Whether nothing could attribute the report (an offer alone names no affiliate).
    pub fn is_empty(&self) -> bool {
        self.click_id.is_none()
            && self.coupon.is_none()
            && self.customer_id.is_none()
            && self.session_id.is_none()
            && self.referral_code.is_none()
            && self.customer_email().is_none()
    }

    /// The e-mail that names the customer, when it may: only without a `customer_id`, and only for
    /// a report that names no visit (no click, no session). A visit the report names decides,
    /// even when it cannot be credited: its refusal is the answer, not a guess by e-mail.
    pub fn customer_email(&self) -> Option<&str> {
        let visit = self.click_id.is_some() || self.session_id.is_some();
        self.email.as_deref().filter(|_| !visit && self.customer_id.is_none())
    }
}

/// Who gets the credit, and through what (the rows the store found for the key that won).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    pub key: Key,
    pub affiliate_id: i64,
    pub offer_id: i64,
    pub click_id: Option<String>,
    pub coupon_code: Option<String>,
    /// The customers row when the customer key attributed it.
    pub customer_row: Option<i64>,
    /// When the click that attributed it was made.
    pub clicked_at: Option<i64>,
    /// That click is test data.
    pub click_test: bool,
    /// The fraud rules that click tripped.
    pub click_flags: Vec<super::fraud::Flag>,
    /// When the customer that attributed it was tied to the affiliate.
    pub tied_at: Option<i64>,
}

/// Whether a click made at `clicked_at` may still be credited at `now` under a window of
/// `window_days`. The window is inclusive: a click exactly `window_days` old still counts.
pub fn within_window(clicked_at: i64, now: i64, window_days: i64) -> bool {
    now.saturating_sub(clicked_at) <= window_days.saturating_mul(MS_PER_DAY)
}

/// A click of a session, as far as the choice between them is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionClick {
    pub created_at: i64,
    pub window_days: i64,
}

/// Picks the click of a session that gets the credit: among the clicks still inside their
/// offer's window, the earliest (first click) or the latest (last click). Ties go to the click
/// listed first (callers list clicks in creation order). `None` when no click qualifies.
pub fn choose_session_click(clicks: &[SessionClick], model: Model, now: i64) -> Option<usize> {
    let eligible = clicks.iter().enumerate().filter(|(_, c)| within_window(c.created_at, now, c.window_days));
    match model {
        Model::FirstClick => eligible.min_by_key(|(i, c)| (c.created_at, *i)).map(|(i, _)| i),
        Model::LastClick => eligible.max_by_key(|(i, c)| (c.created_at, std::cmp::Reverse(*i))).map(|(i, _)| i),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = MS_PER_DAY;

    fn click(created_at: i64) -> SessionClick {
        SessionClick { created_at, window_days: 30 }
    }

    #[test]
    fn an_email_names_the_customer_only_when_no_visit_or_customer_id_is_named() {
        let by_email = Keys { email: Some("c@shop.example".into()), ..Keys::default() };
        assert_eq!(by_email.customer_email(), Some("c@shop.example"));
        assert!(!by_email.is_empty());
        for other in [
            Keys { click_id: Some("k".into()), ..by_email.clone() },
            Keys { session_id: Some("s".into()), ..by_email.clone() },
            Keys { customer_id: Some("cus_1".into()), ..by_email.clone() },
        ] {
            assert_eq!(other.customer_email(), None, "{other:?}");
            assert!(!other.is_empty());
        }
        assert!(Keys::default().is_empty());
    }

    #[test]
    fn window_is_inclusive() {
        assert!(within_window(0, 30 * DAY, 30));
        assert!(!within_window(0, 30 * DAY + 1, 30));
        assert!(within_window(10, 5, 30), "a click from the future still counts");
    }

    #[test]
    fn first_and_last_click() {
        let now = 40 * DAY;
        let clicks = [click(15 * DAY), click(20 * DAY), click(35 * DAY)];
        assert_eq!(choose_session_click(&clicks, Model::FirstClick, now), Some(0));
        assert_eq!(choose_session_click(&clicks, Model::LastClick, now), Some(2));
    }

    #[test]
    fn clicks_outside_the_window_do_not_count() {
        let now = 40 * DAY;
        // The first click is 35 days old: first-click falls back to the oldest click in window.
        let clicks = [click(5 * DAY), click(20 * DAY), click(35 * DAY)];
        assert_eq!(choose_session_click(&clicks, Model::FirstClick, now), Some(1));
        let all_old = [click(0), click(DAY)];
        assert_eq!(choose_session_click(&all_old, Model::LastClick, now), None);
        assert_eq!(choose_session_click(&[], Model::LastClick, now), None);
    }

    #[test]
    fn order_of_the_list_does_not_matter_only_times() {
        let now = 40 * DAY;
        let clicks = [click(35 * DAY), click(15 * DAY), click(20 * DAY)];
        assert_eq!(choose_session_click(&clicks, Model::FirstClick, now), Some(1));
        assert_eq!(choose_session_click(&clicks, Model::LastClick, now), Some(0));
    }

    #[test]
    fn ties_go_to_the_earlier_listed_click() {
        let now = 40 * DAY;
        let clicks = [click(20 * DAY), click(20 * DAY)];
        assert_eq!(choose_session_click(&clicks, Model::FirstClick, now), Some(0));
        assert_eq!(choose_session_click(&clicks, Model::LastClick, now), Some(0));
    }

    #[test]
    fn each_click_uses_its_own_offers_window() {
        let now = 40 * DAY;
        let short = SessionClick { created_at: 30 * DAY, window_days: 7 };
        let long = SessionClick { created_at: 10 * DAY, window_days: 60 };
        assert_eq!(choose_session_click(&[long, short], Model::LastClick, now), Some(0));
    }
}
