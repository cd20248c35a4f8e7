//! Sends the e-mail queue (`store::emails`) through the SMTP server of `--smtp-url`, on a lane of
//! its own (`lane.rs`): one SMTP server is one destination, so one message is in flight at a
//! time, and a slow or unreachable server holds this lane only, never a postback or a webhook.
//! The lane runs only when e-mail is on, whatever `--outbound` says.
//!
//! Each message goes as `multipart/alternative` (the plain text, then the HTML), with `From`,
//! `To`, `Subject`, `Date`, its own `Message-ID` (the same on every attempt), and on a
//! notification `List-Unsubscribe` with `List-Unsubscribe-Post: List-Unsubscribe=One-Click`
//! (RFC 8058). The client is lettre's synchronous SMTP transport: implicit TLS (`smtps://`),
//! STARTTLS required (`smtp://`: a server that does not offer it, or whose certificate does not
//! verify against the Mozilla roots, gets neither the password nor a message), or plain to a
//! loopback host. A failed attempt is retried with the outboxes' backoff
//! (`store::emails::record_attempt`), but a message that cannot be written (an address lettre
//! refuses) is given up at once; a message whose link expired first is never sent.
//!
//! Never logs a recipient, a body, a link or the password: log lines name the message's id and
//! kind, and errors are lettre's (the server's reply, or what failed in the connection).

use std::time::Duration;

use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{Message, SmtpTransport, Transport};
use rusqlite::Connection;

use super::lane::{self, Due as Turn};
use crate::clock::now_ms;
use crate::config::Mail;
use crate::config::smtp::Security;
use crate::error::Error;
use crate::store::emails::{self, Due, Outcome};
use crate::store::writer::Writer;

/// One attempt may take this long for each step (connect, each command, the message).
const TIMEOUT: Duration = Duration::from_secs(20);
/// Messages read from the queue at a time (they are sent one by one).
const BATCH: usize = 50;
/// Every message's destination, for the lane's one-per-destination rule.
const DESTINATION: &str = "smtp";

/// The mail lane: each message is its own party, all go to the one SMTP server.
pub struct Mailer {
    transport: SmtpTransport,
    from: Mailbox,
    writer: Writer,
}

/// The transport for `mail`'s server, introducing itself as `public_url`'s host.
pub fn transport(mail: &Mail, public_url: &str) -> Result<SmtpTransport, String> {
    let smtp = &mail.smtp;
    let tls = |host: &str| TlsParameters::new(host.to_string()).map_err(|e| format!("TLS for {host}: {e}"));
    let tls = match smtp.security {
        Security::Implicit => Tls::Wrapper(tls(&smtp.host)?),
        Security::StartTls => Tls::Required(tls(&smtp.host)?),
        Security::Plain => Tls::None,
    };
    let name = public_url.split("://").nth(1).and_then(|h| h.split(['/', ':']).next()).unwrap_or("localhost");
    let mut builder = SmtpTransport::builder_dangerous(smtp.host.as_str())
        .port(smtp.port)
        .tls(tls)
        .timeout(Some(TIMEOUT))
        .hello_name(ClientId::Domain(name.to_string()));
    if let Some(user) = &smtp.user {
        let password = smtp.password.as_ref().map(|p| p.expose().to_string()).unwrap_or_default();
        builder = builder.credentials(Credentials::new(user.clone(), password));
    }
    Ok(builder.build())
}

impl Mailer {
    pub fn new(mail: &Mail, public_url: &str, writer: Writer) -> Result<Mailer, String> {
        let from = mail.from.parse::<Mailbox>().map_err(|e| format!("--mail-from {:?}: {e}", mail.from))?;
        Ok(Mailer { transport: transport(mail, public_url)?, from, writer })
    }
}

/// The message `due` as it goes out.
pub fn message(from: &Mailbox, due: &Due) -> Result<Message, String> {
    let to = due.recipient.parse::<Mailbox>().map_err(|e| format!("the recipient's address is not usable: {e}"))?;
    let mut builder = Message::builder()
        .from(from.clone())
        .to(to)
        .subject(due.subject.as_str())
        .date_now()
        .message_id(Some(format!("<{}>", due.message_id)));
    if let Some(url) = &due.unsubscribe_url {
        let header = |name: &'static str, value: String| HeaderValue::new(HeaderName::new_from_ascii_str(name), value);
        builder = builder
            .raw_header(header("List-Unsubscribe", format!("<{url}>")))
            .raw_header(header("List-Unsubscribe-Post", "List-Unsubscribe=One-Click".into()));
    }
    let parts = MultiPart::alternative()
        .singlepart(SinglePart::builder().header(ContentType::TEXT_PLAIN).body(due.text.clone()))
        .singlepart(SinglePart::builder().header(ContentType::TEXT_HTML).body(due.html.clone()));
    builder.multipart(parts).map_err(|e| format!("the message could not be built: {e}"))
}

impl lane::Source for Mailer {
    type Item = Due;
    type Ready = Due;
    const NAME: &'static str = "e-mails";

    fn due(&self, db: &Connection, now: i64) -> Result<Vec<Turn<Due>>, Error> {
        let due = emails::due(db, now, BATCH)?;
        Ok(due.into_iter().map(|d| Turn { id: d.id, party: d.id, destination: DESTINATION.into(), item: d }).collect())
    }

    fn ready(&self, _: &Connection, due: Due) -> Due {
        due
    }

    fn send(&self, due: Due) {
        let outcome = if now_ms() >= due.expires_at {
            Outcome::Expired
        } else {
            match message(&self.from, &due) {
                Err(e) => Outcome::Unsendable(e),
                Ok(m) => match self.transport.send(&m) {
                    Ok(_) => Outcome::Sent,
                    Err(e) => Outcome::Failed(e.to_string().chars().take(300).collect()),
                },
            }
        };
        let what = format!("e-mail {} ({})", due.id, due.kind.as_str());
        match &outcome {
            Outcome::Sent => log::info!("{what} sent"),
            Outcome::Expired => log::warn!("{what} not sent: its link expired before the SMTP server took it"),
            Outcome::Failed(e) => log::warn!("{what} attempt {} failed: {e}", due.attempts + 1),
            Outcome::Unsendable(e) => log::warn!("{what} given up: {e}"),
        }
        let id = due.id;
        if let Err(e) = self.writer.run(move |tx| emails::record_attempt(tx, id, &outcome, now_ms())) {
            log::error!("could not record the outcome of {what}: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tracking::mail::Kind;

    fn due(unsubscribe: Option<&str>) -> Due {
        Due {
            id: 7,
            kind: Kind::PayoutPaid,
            recipient: "ann@example.com".into(),
            subject: "Your payout of 1.00 USD was paid".into(),
            message_id: "mABC@shop.example".into(),
            text: "Hello Ann,\n\nplain".into(),
            html: "<p>Hello Ann,</p>".into(),
            unsubscribe_url: unsubscribe.map(String::from),
            attempts: 0,
            created_at: 0,
            expires_at: i64::MAX,
        }
    }

    #[test]
    fn a_message_has_both_parts_its_id_a_date_and_on_notifications_an_unsubscribe() {
        let from: Mailbox = "Shop Partners <partners@shop.example>".parse().unwrap();
        let bytes = message(&from, &due(Some("https://t.example/portal/unsubscribe/afu_x"))).unwrap().formatted();
        let text = String::from_utf8(bytes).unwrap();
        for header in [
            "From: \"Shop Partners\" <partners@shop.example>",
            "To: ann@example.com",
            "Message-ID: <mABC@shop.example>",
            "Date: ",
            "List-Unsubscribe: <https://t.example/portal/unsubscribe/afu_x>",
            "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
            "Content-Type: multipart/alternative",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Type: text/html; charset=utf-8",
        ] {
            assert!(text.contains(header), "{header:?} missing in\n{text}");
        }
        let plain = String::from_utf8(message(&from, &due(None)).unwrap().formatted()).unwrap();
        assert!(!plain.contains("List-Unsubscribe"), "{plain}");
    }

    #[test]
    fn an_unusable_address_is_a_failed_attempt_not_a_crash() {
        let from: Mailbox = "a@shop.example".parse().unwrap();
        let mut d = due(None);
        d.recipient = "not an address".into();
        assert!(message(&from, &d).unwrap_err().contains("not usable"));
    }
}
