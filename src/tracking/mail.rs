//! The e-mails the appliance sends (#24), as pure values: what each kind says, to whom, and
//! how it reads as plain text and as HTML. Rendering happens when a message is queued, in the
//! transaction of the action that causes it, so a message says what was true then.
//!
//! Kinds: the portal invite, an application received (to the merchant), an application
//! approved (with the set-password link) or rejected (with the reason), a password reset, a
//! payout paid, and a conversion approved. The last two are **notifications**: they carry a
//! `List-Unsubscribe` link, and an affiliate may turn each off (conversions are opt-in,
//! payouts opt-out); the others are answers to something someone did and always go.
//!
//! A link with a token (invite, approval, reset) is the only secret a message holds: the
//! store keeps a message's body only until it is sent, and a message not sent when its link
//! expires is never sent (`expires_at`).
//!
//! Architecture Invariant: pure. No SQL, no SMTP, no clock; every value reaches the HTML part
//! escaped ([`escape`]).

use std::fmt::Write;

/// How long a message without a link of its own may wait for its server: a little longer than
/// the outboxes' day of retries (`store::deliveries::MAX_ATTEMPTS`).
pub const UNSENT_LIFETIME_MS: i64 = 2 * 86_400_000;

/// How long a password-reset link works.
pub const RESET_LIFETIME_MS: i64 = 3_600_000;

/// The kinds of message, by their stored name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Invite,
    ApplicationReceived,
    ApplicationApproved,
    ApplicationRejected,
    PasswordReset,
    PayoutPaid,
    ConversionApproved,
}

impl Kind {
    pub const ALL: [Kind; 7] = [
        Kind::Invite,
        Kind::ApplicationReceived,
        Kind::ApplicationApproved,
        Kind::ApplicationRejected,
        Kind::PasswordReset,
        Kind::PayoutPaid,
        Kind::ConversionApproved,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Invite => "invite",
            Kind::ApplicationReceived => "application_received",
            Kind::ApplicationApproved => "application_approved",
            Kind::ApplicationRejected => "application_rejected",
            Kind::PasswordReset => "password_reset",
            Kind::PayoutPaid => "payout_paid",
            Kind::ConversionApproved => "conversion_approved",
        }
    }

    pub fn parse(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// A notification an affiliate may turn off; it carries `List-Unsubscribe`.
    pub fn is_notification(self) -> bool {
        matches!(self, Kind::PayoutPaid | Kind::ConversionApproved)
    }

    /// The kinds of message whose link this one's stops: a new invite link (an invite, an
    /// approval) stops the earlier ones (`store::portal::invite`), a new reset link the earlier
    /// resets (`store::resets::create`). Such a message, if not sent yet, never is.
    pub fn replaces(self) -> &'static [Kind] {
        match self {
            Kind::Invite | Kind::ApplicationApproved => &[Kind::Invite, Kind::ApplicationApproved],
            Kind::PasswordReset => &[Kind::PasswordReset],
            _ => &[],
        }
    }

    /// The subject erasure leaves on a message: it names no one.
    pub fn plain_subject(self) -> &'static str {
        match self {
            Kind::Invite => "Portal invite",
            Kind::ApplicationReceived => "New affiliate application",
            Kind::ApplicationApproved => "Application approved",
            Kind::ApplicationRejected => "Application not accepted",
            Kind::PasswordReset => "Password reset",
            Kind::PayoutPaid => "Payout paid",
            Kind::ConversionApproved => "Commission approved",
        }
    }
}

/// What a message of each kind says, as the action that causes it knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Letter {
    /// An invite to the portal: the link sets a password (`/portal/invite/{token}`).
    Invite { link: String, expires_at: i64 },
    /// To the merchant: someone applied. `website` is how they promote.
    ApplicationReceived { name: String, email: String, website: String, referral_code: String },
    /// To the new affiliate: the application was approved; the link sets a password.
    ApplicationApproved { link: String, expires_at: i64 },
    /// To the applicant: not accepted, with the merchant's reason if they gave one.
    ApplicationRejected { reason: Option<String> },
    /// The link sets a new password (`/portal/reset/{token}`).
    PasswordReset { link: String, expires_at: i64 },
    /// A payout was marked paid: its amount (formatted, with its currency) and reference.
    PayoutPaid { amount: String, reference: Option<String> },
    /// A conversion was approved: the commission (formatted, with its currency), the offer's
    /// name and the order reference as affiliates see it (`tracking::portal::last_chars`: `…1002`).
    ConversionApproved { commission: String, offer: String, order: String },
}

impl Letter {
    pub fn kind(&self) -> Kind {
        match self {
            Letter::Invite { .. } => Kind::Invite,
            Letter::ApplicationReceived { .. } => Kind::ApplicationReceived,
            Letter::ApplicationApproved { .. } => Kind::ApplicationApproved,
            Letter::ApplicationRejected { .. } => Kind::ApplicationRejected,
            Letter::PasswordReset { .. } => Kind::PasswordReset,
            Letter::PayoutPaid { .. } => Kind::PayoutPaid,
            Letter::ConversionApproved { .. } => Kind::ConversionApproved,
        }
    }

    /// When a message must be sent by: its link's expiry, or [`UNSENT_LIFETIME_MS`] from `now`.
    pub fn expires_at(&self, now: i64) -> i64 {
        match self {
            Letter::Invite { expires_at, .. }
            | Letter::ApplicationApproved { expires_at, .. }
            | Letter::PasswordReset { expires_at, .. } => *expires_at,
            _ => now.saturating_add(UNSENT_LIFETIME_MS),
        }
    }
}

/// Who a message speaks to, and where the portal is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Addressee<'a> {
    /// How to greet them (the affiliate's or the applicant's name; empty for the merchant).
    pub name: &'a str,
    /// The affiliate's referral code, which they log in with, if they have one.
    pub referral_code: Option<&'a str>,
    /// The server's public URL, for links to the portal and the admin.
    pub public_url: &'a str,
    /// The link that turns this notification off (notifications only).
    pub unsubscribe: Option<&'a str>,
}

/// A message ready to send: subject, plain text and HTML.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// One paragraph of a message: plain words, or words with a link.
enum Part {
    Say(String),
    Link(String, String),
}

/// The subject and the paragraphs of `letter` for `to`.
fn compose(letter: &Letter, to: &Addressee<'_>) -> (String, Vec<Part>) {
    use Part::{Link, Say};
    let portal = format!("{}/portal", to.public_url);
    let code = to.referral_code.map(|c| format!(" You log in with your referral code {c}.")).unwrap_or_default();
    match letter {
        Letter::Invite { link, expires_at } => (
            "Your invite to the affiliate portal".into(),
            vec![
                Say(format!(
                    "You are invited to the affiliate portal, where you see your clicks, conversions and payouts.{code}"
                )),
                Link("Choose your password:".into(), link.clone()),
                Say(format!("The link works once, until {}.", crate::tracking::time::rfc3339(*expires_at))),
            ],
        ),
        // The subject names the referral code, never the person: it stays in the e-mails list
        // after the message is sent, and a code is what erasure leaves of an affiliate too.
        Letter::ApplicationReceived { name, email, website, referral_code } => (
            match referral_code.trim() {
                "" => "New affiliate application".to_string(),
                code => format!("New affiliate application: {code}"),
            },
            vec![
                Say(format!("{name} <{email}> applied to your affiliate program.")),
                Say(format!("How they promote: {website}")),
                Say(format!("Referral code they asked for: {referral_code}")),
                Link("Approve or reject it in the admin:".into(), format!("{}/admin/applications", to.public_url)),
            ],
        ),
        Letter::ApplicationApproved { link, expires_at } => (
            "Your affiliate application was approved".into(),
            vec![
                Say(format!("Welcome to the affiliate program: your application was approved.{code}")),
                Link("Choose your password for the portal:".into(), link.clone()),
                Say(format!("The link works once, until {}.", crate::tracking::time::rfc3339(*expires_at))),
            ],
        ),
        Letter::ApplicationRejected { reason } => (
            "Your affiliate application".into(),
            vec![Say("Thank you for applying to the affiliate program. Your application was not accepted.".into())]
                .into_iter()
                .chain(reason.iter().map(|r| Say(format!("The merchant's reason: {r}"))))
                .collect(),
        ),
        Letter::PasswordReset { link, expires_at } => (
            "Reset your affiliate portal password".into(),
            vec![
                Say(format!("Someone asked to reset the password of your affiliate portal account.{code}")),
                Link("Choose a new password:".into(), link.clone()),
                Say(format!(
                    "The link works once, until {}. Setting a new password logs out every browser. If you did not ask \
                     for this, ignore this message: your password stays as it is.",
                    crate::tracking::time::rfc3339(*expires_at)
                )),
            ],
        ),
        Letter::PayoutPaid { amount, reference } => (
            format!("Your payout of {amount} was paid"),
            vec![
                Say(format!("Your payout of {amount} was paid.")),
                Say(match reference {
                    Some(r) => format!("Payment reference: {r}"),
                    None => "The merchant gave no payment reference.".into(),
                }),
                Link("Your payouts and statement:".into(), format!("{portal}/payouts")),
            ],
        ),
        Letter::ConversionApproved { commission, offer, order } => (
            format!("Commission approved: {commission}"),
            vec![
                Say(format!("A conversion of yours was approved: {commission} for {offer} (order {order}).")),
                Link("Your conversions:".into(), format!("{portal}/conversions")),
            ],
        ),
    }
}

/// The message `letter` for `to`, as plain text and as HTML (every value escaped).
pub fn render(letter: &Letter, to: &Addressee<'_>) -> Rendered {
    let (subject, parts) = compose(letter, to);
    let greeting = if to.name.is_empty() { "Hello,".to_string() } else { format!("Hello {},", to.name) };
    let mut text = format!("{greeting}\n\n");
    let mut html = String::from("<!DOCTYPE html><html><body style=\"font-family:sans-serif;line-height:1.5\">");
    let _ = write!(html, "<p>{}</p>", escape(&greeting));
    for part in &parts {
        match part {
            Part::Say(words) => {
                let _ = write!(text, "{words}\n\n");
                let _ = write!(html, "<p>{}</p>", escape(words));
            }
            Part::Link(words, url) => {
                let _ = write!(text, "{words}\n{url}\n\n");
                let _ = write!(html, "<p>{}<br><a href=\"{}\">{}</a></p>", escape(words), escape(url), escape(url));
            }
        }
    }
    text.push_str("-- \naffiliated\n");
    if let Some(url) = to.unsubscribe {
        let _ = writeln!(text, "Stop these e-mails: {url}");
        let _ = write!(
            html,
            "<p style=\"color:#666;font-size:small\">Stop these e-mails: <a href=\"{}\">unsubscribe</a></p>",
            escape(url)
        );
    }
    html.push_str("</body></html>");
    Rendered { subject: one_line(&subject), text, html }
}

/// `text` with HTML's special characters escaped, for text and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A subject is one line: control characters become spaces, and it stays under 200 characters.
fn one_line(subject: &str) -> String {
    let line: String = subject.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    match line.char_indices().nth(200) {
        Some((at, _)) => format!("{}…", &line[..at]),
        None => line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ann() -> Addressee<'static> {
        Addressee { name: "Ann", referral_code: Some("ann"), public_url: "https://t.example", unsubscribe: None }
    }

    #[test]
    fn every_kind_has_a_stored_name_and_back() {
        for kind in Kind::ALL {
            assert_eq!(Kind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(Kind::parse("spam"), None);
        assert!(Kind::PayoutPaid.is_notification() && Kind::ConversionApproved.is_notification());
        assert!(!Kind::PasswordReset.is_notification() && !Kind::Invite.is_notification());
    }

    #[test]
    fn values_are_escaped_in_html_and_kept_in_text() {
        let letter = Letter::ApplicationReceived {
            name: "<b>Eve</b>".into(),
            email: "eve@x.example".into(),
            website: "https://x.example/?a=1&b=\"2\"".into(),
            referral_code: "eve".into(),
        };
        let to = Addressee { name: "", referral_code: None, public_url: "https://t.example", unsubscribe: None };
        let m = render(&letter, &to);
        assert_eq!(m.subject, "New affiliate application: eve", "a code, never the person's name");
        assert!(m.text.contains("<b>Eve</b> <eve@x.example> applied"), "{}", m.text);
        assert!(m.html.contains("&lt;b&gt;Eve&lt;/b&gt; &lt;eve@x.example&gt;"), "{}", m.html);
        assert!(m.html.contains("a=1&amp;b=&quot;2&quot;"), "{}", m.html);
        assert!(!m.html.contains("<b>"));
        assert!(m.text.contains("https://t.example/admin/applications"));
    }

    #[test]
    fn a_link_is_in_both_parts_with_its_expiry() {
        let link = "https://t.example/portal/reset/afr_x".to_string();
        let m = render(&Letter::PasswordReset { link: link.clone(), expires_at: 3_600_000 }, &ann());
        assert!(m.text.starts_with("Hello Ann,\n\n"));
        assert!(m.text.contains(&format!("\n{link}\n")), "{}", m.text);
        assert!(m.html.contains(&format!("<a href=\"{link}\">")), "{}", m.html);
        assert!(m.text.contains("1970-01-01T01:00:00.000Z") && m.text.contains("referral code ann"));
        assert!(!m.text.contains("Stop these e-mails"), "no unsubscribe on a reset");
    }

    #[test]
    fn notifications_say_how_to_stop_them() {
        let to = Addressee { unsubscribe: Some("https://t.example/portal/unsubscribe/u1"), ..ann() };
        let letter = Letter::PayoutPaid { amount: "12.50 USD".into(), reference: Some("PP-1".into()) };
        let m = render(&letter, &to);
        assert_eq!(m.subject, "Your payout of 12.50 USD was paid");
        assert!(m.text.contains("Payment reference: PP-1"));
        assert!(m.text.contains("Stop these e-mails: https://t.example/portal/unsubscribe/u1"));
        assert!(m.html.contains("href=\"https://t.example/portal/unsubscribe/u1\""));
    }

    #[test]
    fn a_subject_is_one_line() {
        let letter = Letter::ApplicationReceived {
            name: "Eve".into(),
            email: "e@x.example".into(),
            website: String::new(),
            referral_code: "eve\r\nBcc: x@y.example".into(),
        };
        let m = render(&letter, &ann());
        assert!(!m.subject.contains('\n') && !m.subject.contains('\r'), "{:?}", m.subject);
        assert_eq!(one_line(&"x".repeat(300)).chars().count(), 201);
    }

    #[test]
    fn rejections_carry_the_reason_when_given() {
        let m = render(&Letter::ApplicationRejected { reason: Some("No coupon sites".into()) }, &ann());
        assert!(m.text.contains("The merchant's reason: No coupon sites"));
        let m = render(&Letter::ApplicationRejected { reason: None }, &ann());
        assert!(!m.text.contains("reason"));
    }

    #[test]
    fn expiry_follows_the_link_or_the_retries() {
        assert_eq!(Letter::Invite { link: String::new(), expires_at: 77 }.expires_at(5), 77);
        assert_eq!(Letter::ApplicationRejected { reason: None }.expires_at(5), 5 + UNSENT_LIFETIME_MS);
    }
}
