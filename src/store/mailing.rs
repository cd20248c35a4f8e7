//! Queuing an e-mail (#24) in the caller's transaction: the message is rendered for its
//! recipient (`tracking::mail`) and stored in the queue (`emails`) by the same transaction as
//! the action that causes it, so it is sent if and only if that action committed; like
//! `webhooks::announce`, which renders a webhook's payload in the transaction of its change.
//! Every action that tells someone calls [`queue`] from its writer job (the intake functions,
//! and the sweeper's approvals): invites, password resets, applications and their decisions,
//! payouts paid and conversions approved ([`payout_paid`], [`conversion_approved`]).
//!
//! How an action sends a message (in intake, with the configuration at hand):
//!
//! ```ignore
//! let cx = intake::mail::context(ix.config);
//! ix.writer.run(move |tx| {
//!     // … the action's own writes …
//!     mailing::queue(tx, &cx, Recipient::Merchant, Letter::ApplicationReceived { … }, now)?;
//!     Ok(…)
//! })
//! ```
//!
//! Without `--smtp-url` nothing is queued ([`queue`] answers `None`): the caller's page then says
//! what must be done by hand (show the link to copy, say to ask the merchant).
//!
//! Architecture Invariant: no SMTP and no configuration here; tokens in links are made by the
//! caller's action (invites, resets) and reach only the stored body.

use super::{affiliates, emails};
use crate::error::Error;
use crate::store::writer::Tx;
use crate::tracking::conversion::Conversion;
use crate::tracking::mail::{Addressee, Kind, Letter, render};
use crate::tracking::payout::Payout;
use crate::tracking::portal::last_chars;

/// Prefix of unsubscribe tokens.
pub const UNSUBSCRIBE_PREFIX: &str = "afu_";

/// What queuing needs from the configuration: whether e-mail is on, where the server is, who
/// the merchant is. Cheap to clone into a writer job.
#[derive(Clone, Debug)]
pub struct Context {
    on: bool,
    portal: bool,
    public_url: String,
    merchant: Option<String>,
    /// The domain of `Message-ID`s: the sender's.
    domain: String,
}

impl Context {
    /// E-mail `on` or not (`--smtp-url`), the portal on or not, the server's public URL, the
    /// merchant's address and the sender (`--mail-from`, whose domain the `Message-ID`s take).
    /// `intake::mail::context` makes it from the configuration.
    pub fn new(on: bool, portal: bool, public_url: &str, merchant: Option<String>, from: &str) -> Context {
        let address = from.rsplit_once('<').map_or(from, |(_, a)| a.trim_end_matches('>'));
        Context {
            on,
            portal,
            public_url: public_url.to_string(),
            merchant,
            domain: address.rsplit_once('@').map_or("localhost", |(_, d)| d).trim().to_string(),
        }
    }

    /// Whether e-mail is on (`--smtp-url` set): pages say what happens by e-mail, or what to
    /// do by hand.
    pub fn on(&self) -> bool {
        self.on
    }

    /// Whether the portal is on (`--portal`): invites and resets need it.
    pub fn portal(&self) -> bool {
        self.portal
    }

    /// The server's public URL, the base of every link.
    pub fn public_url(&self) -> &str {
        &self.public_url
    }
}

/// Who a message goes to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recipient {
    /// The merchant (`--merchant-email`, else `--mail-from`).
    Merchant,
    /// An affiliate, at the e-mail address stored for them now (none: nothing is queued).
    Affiliate(i64),
    /// Someone who is not an affiliate (yet): an applicant.
    Address { email: String, name: String },
}

/// Queues `letter` to `to` in the caller's transaction `tx`: rendered now, sent by the mail
/// lane. `None` when nothing was queued: e-mail is off, the affiliate has no address, or it is
/// a notification they turned off or the portal is off (its links and unsubscribe are there).
/// Returns the message's id otherwise.
pub fn queue(tx: &Tx, cx: &Context, to: Recipient, letter: Letter, now: i64) -> Result<Option<i64>, Error> {
    let kind = letter.kind();
    // A notification's links (its page, its unsubscribe) are portal pages.
    if !cx.on || (kind.is_notification() && !cx.portal) {
        return Ok(None);
    }
    let (affiliate_id, email, name, code) = match to {
        Recipient::Merchant => match &cx.merchant {
            Some(m) => (None, m.clone(), String::new(), None),
            None => return Ok(None),
        },
        Recipient::Address { email, name } => (None, email, name, None),
        Recipient::Affiliate(id) => {
            let Some(a) = affiliates::get(tx, id)? else { return Ok(None) };
            let Some(email) = a.email else { return Ok(None) };
            let (conversions, payouts) = emails::wants(tx, id)?;
            let off = match kind {
                Kind::ConversionApproved => !conversions,
                Kind::PayoutPaid => !payouts,
                _ => false,
            };
            if off {
                return Ok(None);
            }
            (Some(id), email, a.name, Some(a.referral_code))
        }
    };
    if let Some(id) = affiliate_id {
        for older in kind.replaces() {
            emails::supersede(tx, id, *older)?;
        }
    }
    let unsubscribe = (kind.is_notification() && affiliate_id.is_some()).then(|| {
        let token = crate::secret::token(UNSUBSCRIBE_PREFIX);
        (format!("{}/portal/unsubscribe/{token}", cx.public_url), crate::secret::sha256(token.as_bytes()))
    });
    let addressee = Addressee {
        name: &name,
        referral_code: code.as_deref(),
        public_url: &cx.public_url,
        unsubscribe: unsubscribe.as_ref().map(|(url, _)| url.as_str()),
    };
    let message = render(&letter, &addressee);
    let message_id = format!("{}@{}", crate::secret::token("m"), cx.domain);
    let new = emails::NewEmail {
        kind,
        affiliate_id,
        recipient: &email,
        message: &message,
        message_id: &message_id,
        unsubscribe: unsubscribe.as_ref().map(|(url, hash)| (url.as_str(), *hash)),
        expires_at: letter.expires_at(now),
    };
    emails::insert(tx, &new, now).map(Some)
}

/// Queues the "conversion approved" notification for `c` (just approved), if its affiliate
/// opted in. Test conversions tell no one.
pub fn conversion_approved(tx: &Tx, cx: &Context, c: &Conversion, now: i64) -> Result<(), Error> {
    if c.test || !cx.on {
        return Ok(());
    }
    let letter = Letter::ConversionApproved {
        commission: format!("{} {}", c.currency.format(c.commission), c.currency.code()),
        offer: c.offer.clone(),
        order: last_chars(&c.external_id),
    };
    queue(tx, cx, Recipient::Affiliate(c.affiliate_id), letter, now).map(drop)
}

/// Queues the "payout paid" notification for `p` (just marked paid), unless its affiliate
/// turned it off.
pub fn payout_paid(tx: &Tx, cx: &Context, p: &Payout, now: i64) -> Result<(), Error> {
    let letter = Letter::PayoutPaid {
        amount: format!("{} {}", p.currency.format(p.amount), p.currency.code()),
        reference: p.reference.clone(),
    };
    queue(tx, cx, Recipient::Affiliate(p.affiliate_id), letter, now).map(drop)
}

#[cfg(test)]
mod tests {
    use rusqlite::Connection;

    use super::*;

    fn db() -> Connection {
        let conn = super::super::testing::memory();
        conn.execute_batch(super::super::TEST_CATALOG).unwrap();
        conn
    }

    fn cx(on: bool) -> Context {
        Context {
            on,
            portal: true,
            public_url: "https://t.example".into(),
            merchant: on.then(|| "owner@shop.example".into()),
            domain: "shop.example".into(),
        }
    }

    /// kind, affiliate, recipient, unsubscribe URL, message ID.
    type Row = (String, Option<i64>, String, Option<String>, String);

    fn rows(conn: &Connection) -> Vec<Row> {
        let mut stmt = conn
            .prepare("SELECT kind, affiliate_id, recipient, unsubscribe_url, message_id FROM emails ORDER BY id")
            .unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn nothing_is_queued_without_a_server() {
        let conn = db();
        let letter = Letter::ApplicationRejected { reason: None };
        let to = Recipient::Address { email: "x@y.example".into(), name: "X".into() };
        let queued = queue(&Tx::within(&conn), &cx(false), to, letter, 0).unwrap();
        assert_eq!(queued, None);
        assert!(rows(&conn).is_empty());
    }

    #[test]
    fn each_recipient_is_found_and_notifications_follow_the_choice() {
        let conn = db();
        notifications(&conn, &Tx::within(&conn));
    }

    fn notifications(conn: &Connection, tx: &Tx<'_>) {
        let on = cx(true);
        let paid = || Letter::PayoutPaid { amount: "1.00 USD".into(), reference: None };
        assert_eq!(queue(tx, &on, Recipient::Affiliate(1), paid(), 0).unwrap(), None, "ann has no address yet");
        conn.execute("UPDATE affiliates SET email = 'ann@example.com' WHERE id = 1", []).unwrap();
        assert!(queue(tx, &on, Recipient::Affiliate(1), paid(), 0).unwrap().is_some());
        let approved =
            || Letter::ConversionApproved { commission: "1.00 USD".into(), offer: "main".into(), order: "1234".into() };
        assert_eq!(queue(tx, &on, Recipient::Affiliate(1), approved(), 0).unwrap(), None, "opt-in only");
        emails::set_wants(tx, 1, true, false).unwrap();
        assert!(queue(tx, &on, Recipient::Affiliate(1), approved(), 0).unwrap().is_some());
        assert_eq!(queue(tx, &on, Recipient::Affiliate(1), paid(), 0).unwrap(), None, "payouts turned off");
        let received = Letter::ApplicationReceived {
            name: "Bo".into(),
            email: "bo@x.example".into(),
            website: "blog".into(),
            referral_code: "bo".into(),
        };
        assert!(queue(tx, &on, Recipient::Merchant, received, 0).unwrap().is_some());
        let rows = rows(conn);
        let kinds: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
        assert_eq!(kinds, ["payout_paid", "conversion_approved", "application_received"]);
        assert_eq!((rows[0].1, rows[0].2.as_str()), (Some(1), "ann@example.com"));
        assert!(rows[0].3.as_deref().unwrap().starts_with("https://t.example/portal/unsubscribe/afu_"));
        assert_eq!((rows[2].1, rows[2].2.as_str(), rows[2].3.as_deref()), (None, "owner@shop.example", None));
        assert!(rows[2].4.ends_with("@shop.example") && rows[0].4 != rows[1].4);
    }

    #[test]
    fn without_the_portal_no_notification_is_queued() {
        let conn = db();
        conn.execute("UPDATE affiliates SET email = 'ann@example.com' WHERE id = 1", []).unwrap();
        let off = Context { portal: false, ..cx(true) };
        let paid = Letter::PayoutPaid { amount: "1.00 USD".into(), reference: None };
        let queued = queue(&Tx::within(&conn), &off, Recipient::Affiliate(1), paid, 0).unwrap();
        assert_eq!(queued, None, "its links and its unsubscribe are portal pages");
        let rejected = Letter::ApplicationRejected { reason: None };
        let to = Recipient::Address { email: "x@y.example".into(), name: "X".into() };
        assert!(queue(&Tx::within(&conn), &off, to, rejected, 0).unwrap().is_some());
    }

    #[test]
    fn a_new_link_leaves_no_older_link_pending() {
        let conn = db();
        conn.execute("UPDATE affiliates SET email = 'ann@example.com' WHERE id = 1", []).unwrap();
        let tx = Tx::within(&conn);
        let reset =
            |n: i64| Letter::PasswordReset { link: format!("https://t.example/portal/reset/afr_{n}"), expires_at: 9 };
        let first = queue(&tx, &cx(true), Recipient::Affiliate(1), reset(1), 0).unwrap().unwrap();
        let paid = Letter::PayoutPaid { amount: "1.00 USD".into(), reference: None };
        let notification = queue(&tx, &cx(true), Recipient::Affiliate(1), paid, 0).unwrap().unwrap();
        let second = queue(&tx, &cx(true), Recipient::Affiliate(1), reset(2), 0).unwrap().unwrap();
        let status = |id: i64| -> String {
            conn.query_row("SELECT status FROM emails WHERE id = ?1", [id], |r| r.get(0)).unwrap()
        };
        assert_eq!(
            (status(first), status(notification), status(second)),
            ("expired".into(), "pending".into(), "pending".into())
        );
    }

    #[test]
    fn the_message_id_domain_is_the_senders() {
        let cx = Context::new(true, true, "https://t.example", None, "Shop Partners <partners@shop.example>");
        assert_eq!(cx.domain, "shop.example");
        assert_eq!(Context::new(true, true, "https://t.example", None, "a@b.example").domain, "b.example");
    }
}
