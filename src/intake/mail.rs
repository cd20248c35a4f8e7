//! E-mail (#24): queuing a message in the transaction of the action that causes it, and the
//! writes that are about e-mail itself (unsubscribing, an affiliate's choice of
//! notifications). Delivery is never here: the mail lane (`outbox/mail.rs`) sends what is
//! queued, on its own threads.
//!
//! How another action sends a message: inside its writer job, with the [`Context`] of the
//! server's configuration,
//!
//! ```ignore
//! let cx = mail::context(ix.config);
//! ix.writer.run(move |tx| {
//!     // … the action's own writes …
//!     mail::queue(tx, &cx, Recipient::Merchant, Letter::ApplicationReceived { … }, now)?;
//!     Ok(…)
//! })
//! ```
//!
//! [`queue`] renders the message (`tracking::mail`) and stores it (`store::emails`) in that same
//! transaction, so it is sent if and only if the action committed. Without `--smtp-url` it
//! queues nothing and answers `None`: the caller's page then says what the merchant must do by
//! hand (show the link to copy, say to ask the merchant).
//!
//! Architecture Invariant: plain values in, an id or nothing out; no SMTP, no HTTP. Tokens in
//! links are made by the caller's action (invites, resets) and reach only the stored body.

use super::Intake;
use crate::error::Error;
use crate::store::emails;
pub use crate::store::mailing::{Context, Recipient, UNSUBSCRIBE_PREFIX, queue};
use crate::tracking::mail::Kind;
pub use crate::tracking::mail::Letter;

/// What queuing needs from the server's configuration (see `store::mailing::Context`).
pub fn context(config: &crate::config::Serve) -> Context {
    let mail = config.mail();
    let mail = mail.as_ref();
    Context::new(
        mail.is_some(),
        config.portal,
        &config.public_url,
        mail.map(|m| m.merchant.clone()),
        mail.map_or("", |m| m.from.as_str()),
    )
}

/// Turns off the notifications of the kind the unsubscribe link with `token` came in. Returns
/// the kind, or `None` for an unknown link (which changes nothing).
pub fn unsubscribe(ix: &Intake<'_>, token: &str) -> Result<Option<Kind>, Error> {
    if !token.starts_with(UNSUBSCRIBE_PREFIX) {
        return Ok(None);
    }
    let hash = crate::secret::sha256(token.as_bytes());
    ix.writer.run(move |tx| emails::unsubscribe(tx, &hash))
}

/// Sets which notifications affiliate `affiliate_id` wants (the portal's settings).
pub fn set_notifications(ix: &Intake<'_>, affiliate_id: i64, conversions: bool, payouts: bool) -> Result<(), Error> {
    ix.writer.run(move |tx| emails::set_wants(tx, affiliate_id, conversions, payouts))
}

#[cfg(test)]
mod tests {
    #[test]
    fn e_mail_is_on_with_a_server_only() {
        let mut config = crate::config::Serve::from_args(&crate::config::Args::default()).unwrap();
        assert!(!super::context(&config).on());
        config.mail_from = Some("partners@shop.example".into());
        assert!(!super::context(&config).on(), "a sender is not a server");
        config.smtp_url = Some(crate::config::smtp::parse("smtp://127.0.0.1:25").unwrap());
        assert!(super::context(&config).on());
        let mail = config.mail().unwrap();
        assert_eq!((mail.from.as_str(), mail.merchant.as_str()), ("partners@shop.example", "partners@shop.example"));
        config.mail_from = None;
        config.public_url = "https://track.shop.example:8443/base".into();
        assert_eq!(config.mail().unwrap().from, "affiliated@track.shop.example");
    }
}
