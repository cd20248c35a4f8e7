//! The outbound postback worker: delivers `postback_deliveries` rows to affiliates' trackers.
//!
//! Runs on threads of its own, never on a request thread: a lane for postbacks and one for
//! merchant webhooks (`outbox/webhooks.rs`), each with its scheduler and senders (`lane.rs`:
//! one delivery in flight per affiliate and per destination host, affiliates taking turns, at
//! most [`SENDERS`] at once), so one tracker's backlog or hang never holds up another's, and
//! postbacks and webhooks never wait on each other. Each delivery is one GET with a short
//! timeout, signed with `X-Affiliated-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "t.<url>">`,
//! and carrying the affiliate's ledger head as it is when sent
//! (`X-Affiliated-Ledger-Head: <seq>:<hash>`, see docs/statements.md); a delivery about test
//! data also carries `X-Affiliated-Test: 1`.
//! A 2xx answer is delivered; anything else (3xx included: redirects are never followed) or a
//! network error is a failed attempt, retried with exponential backoff for about a day
//! (`store::deliveries`; a test postback gets one attempt only). Before connecting, the host is resolved and refused if any of its
//! addresses is loopback, private, link-local or otherwise not public (`tracking::net`), unless
//! the operator allowed private targets; the connection then goes to exactly the vetted address.
//! Merchant webhooks go through the same kind of agent.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::clock::now_ms;
use crate::error::Error;
use crate::store::deliveries::{self, Delivery, Outbox};
use crate::store::writer::Writer;
use crate::store::{self, affiliates, ledger};
use crate::tracking::{net, outbound};

pub mod lane;
pub mod mail;
mod webhooks;

use lane::Due;

/// One delivery may take this long in total (connect, send, answer).
const TIMEOUT: Duration = Duration::from_secs(3);
/// Postbacks in flight at once, at most (each to another affiliate and another host).
pub const SENDERS: usize = 8;

/// The signature header value for a request to `url` at `unix_seconds`.
pub fn signature(secret: &str, unix_seconds: i64, url: &str) -> String {
    let mac = crate::secret::hmac_sha256(secret.as_bytes(), format!("{unix_seconds}.{url}").as_bytes());
    format!("t={unix_seconds},v1={}", crate::secret::hex(&mac))
}

struct GuardedResolver {
    allow_private: bool,
}

impl ureq::Resolver for GuardedResolver {
    fn resolve(&self, netloc: &str) -> io::Result<Vec<SocketAddr>> {
        let addrs: Vec<SocketAddr> = netloc.to_socket_addrs()?.collect();
        if !self.allow_private
            && let Some(bad) = addrs.iter().find(|a| !net::is_public(a.ip()))
        {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!(
                    "{netloc} resolves to {}, which is not a public address (serve --allow-private-postbacks allows it)",
                    bad.ip()
                ),
            ));
        }
        Ok(addrs)
    }
}

pub fn agent(allow_private: bool) -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout(TIMEOUT)
        .timeout_connect(TIMEOUT)
        .redirects(0)
        .user_agent(concat!("affiliated/", env!("CARGO_PKG_VERSION"), " (postback)"))
        .resolver(GuardedResolver { allow_private })
        .build()
}

/// The outcome of one attempt: delivered, and what to record.
pub struct Attempt {
    pub delivered: bool,
    pub status: Option<u16>,
    pub error: Option<String>,
}

pub fn attempt(agent: &ureq::Agent, url: &str, secret: Option<&str>, ledger_head: Option<&str>, test: bool) -> Attempt {
    let mut request = agent.get(url);
    if let Some(head) = ledger_head {
        request = request.set("X-Affiliated-Ledger-Head", head);
    }
    if let Some(secret) = secret {
        request = request.set("X-Affiliated-Signature", &signature(secret, now_ms() / 1000, url));
    }
    if test {
        // About test data: the affiliate's tracker can tell it from a real conversion.
        request = request.set("X-Affiliated-Test", "1");
    }
    outcome(request.call())
}

/// What an answer (or its absence) means for a delivery: only a 2xx delivers.
fn outcome(result: Result<ureq::Response, ureq::Error>) -> Attempt {
    match result {
        Ok(response) if (200..300).contains(&response.status()) => {
            Attempt { delivered: true, status: Some(response.status()), error: None }
        }
        Ok(response) => Attempt {
            delivered: false,
            status: Some(response.status()),
            error: Some(format!("answered {} (only 2xx counts; redirects are not followed)", response.status())),
        },
        Err(ureq::Error::Status(code, _)) => {
            Attempt { delivered: false, status: Some(code), error: Some(format!("answered {code}")) }
        }
        Err(ureq::Error::Transport(t)) => {
            let text = t.to_string();
            Attempt { delivered: false, status: None, error: Some(text.chars().take(300).collect()) }
        }
    }
}

/// Starts the outbound lanes (postbacks and merchant webhooks, each on threads of its own)
/// under one thread whose end means both have stopped. With `enabled` false (`--outbound off`)
/// it only waits for the stop: deliveries stay queued, and no host name is resolved and nothing
/// sent.
pub fn spawn(
    db_path: std::path::PathBuf,
    writer: Writer,
    allow_private: bool,
    enabled: bool,
    stopping: Arc<AtomicBool>,
) -> io::Result<JoinHandle<()>> {
    thread::Builder::new().name("outbox".into()).spawn(move || {
        if !enabled {
            log::info!(
                "outbound postbacks are off (--outbound off): deliveries (postbacks and merchant webhooks) are \
                 queued, never sent"
            );
            while !stopping.load(Ordering::SeqCst) {
                thread::sleep(lane::IDLE_POLL);
            }
            return;
        }
        let open = |what: &str| match store::open_reader(&db_path) {
            Ok(db) => Some(db),
            Err(e) => {
                log::error!("outbound {what} are disabled: {e}");
                None
            }
        };
        let (Some(postback_db), Some(webhook_db)) = (open("postbacks"), open("webhooks")) else { return };
        let postbacks = Arc::new(Postbacks { agent: agent(allow_private), writer: writer.clone() });
        let hooks = Arc::new(webhooks::Webhooks { agent: agent(allow_private), writer });
        let webhook_lane = {
            let stopping = stopping.clone();
            thread::Builder::new()
                .name("outbox-webhooks".into())
                .spawn(move || lane::run(hooks, webhook_db, webhooks::SENDERS, &stopping))
        };
        match webhook_lane {
            Ok(webhook_lane) => {
                lane::run(postbacks, postback_db, SENDERS, &stopping);
                let _ = webhook_lane.join();
            }
            Err(e) => log::error!("outbound deliveries are disabled: could not start the webhooks' thread: {e}"),
        }
    })
}

/// Starts the mail lane (`mail.rs`) when e-mail is on: its own scheduler, read connection and
/// sender, so an SMTP server that hangs delays only e-mail. `None` with e-mail off.
pub fn spawn_mail(
    db_path: std::path::PathBuf,
    config: &crate::config::Serve,
    writer: Writer,
    stopping: Arc<AtomicBool>,
) -> Result<Option<JoinHandle<()>>, String> {
    let Some(mail) = config.mail() else { return Ok(None) };
    let mailer = Arc::new(mail::Mailer::new(&mail, &config.public_url, writer)?);
    let db = store::open_reader(&db_path).map_err(|e| format!("while opening the mail lane's connection: {e}"))?;
    thread::Builder::new()
        .name("outbox-mail".into())
        .spawn(move || lane::run(mailer, db, 1, &stopping))
        .map(Some)
        .map_err(|e| format!("while starting the mail lane: {e}"))
}

/// The postbacks' lane: affiliates are the parties.
struct Postbacks {
    agent: ureq::Agent,
    writer: Writer,
}

/// A postback due now, with its signing secret and the affiliate's ledger head as they are now.
struct Outgoing {
    delivery: Delivery,
    secret: Option<String>,
    head: Option<String>,
}

impl lane::Source for Postbacks {
    type Item = Delivery;
    type Ready = Outgoing;
    const NAME: &'static str = "postbacks";

    fn due(&self, db: &rusqlite::Connection, now: i64) -> Result<Vec<Due<Delivery>>, Error> {
        let due = deliveries::due_per_affiliate(db, now, lane::PARTIES)?;
        Ok(due
            .into_iter()
            .map(|d| Due { id: d.id, party: d.affiliate_id, destination: outbound::destination(&d.url), item: d })
            .collect())
    }

    fn ready(&self, db: &rusqlite::Connection, d: Delivery) -> Outgoing {
        Outgoing {
            secret: affiliates::postback_secret(db, d.affiliate_id).ok().flatten(),
            head: ledger::head(db, d.affiliate_id).ok().map(|h| h.header_value()),
            delivery: d,
        }
    }

    fn send(&self, o: Outgoing) {
        let d = &o.delivery;
        let outcome = attempt(&self.agent, &d.url, o.secret.as_deref(), o.head.as_deref(), d.test);
        let what = format!("postback {} ({} for {})", d.id, d.event.as_str(), d.referral_code);
        finish(&self.writer, Outbox::Postbacks, d.id, &what, d.progress.attempts + 1, outcome);
    }
}

/// Logs the outcome of attempt number `number` at `what` (e.g. `postback 7 (created for ann)`;
/// never a secret or a URL's path) and records it on row `id` of `outbox`.
fn finish(writer: &Writer, outbox: Outbox, id: i64, what: &str, number: i64, outcome: Attempt) {
    if outcome.delivered {
        log::info!("{what} delivered");
    } else {
        log::warn!("{what} attempt {number} failed: {}", outcome.error.as_deref().unwrap_or(""));
    }
    let recorded = writer.run(move |conn| {
        let error = outcome.error.as_deref();
        deliveries::record_attempt_in(conn, outbox, id, outcome.delivered, outcome.status, error, now_ms())
    });
    if let Err(e) = recorded {
        log::error!("could not record the outcome of {what}: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_sha256_of_time_dot_url() {
        // Reference value computed independently: printf '1700000000.https://t.example/p?a=1' |
        // openssl dgst -sha256 -hmac whsec_test
        let sig = signature("whsec_test", 1_700_000_000, "https://t.example/p?a=1");
        assert_eq!(sig, "t=1700000000,v1=d0a5b64d1c379d61adeb38d68388b58f9b1ebb81af550aaacc14edfd680aa0ef");
    }

    #[test]
    fn the_resolver_refuses_private_targets() {
        let guarded = GuardedResolver { allow_private: false };
        let e = ureq::Resolver::resolve(&guarded, "127.0.0.1:80").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::PermissionDenied);
        assert!(ureq::Resolver::resolve(&guarded, "[::ffff:10.0.0.1]:80").is_err());
        let open = GuardedResolver { allow_private: true };
        assert_eq!(ureq::Resolver::resolve(&open, "127.0.0.1:80").unwrap().len(), 1);
    }
}
