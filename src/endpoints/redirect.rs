//! Tracking links: `GET /r/{referral_code}?offer=&sub1..sub5=&url=` records a click and sends
//! the visitor on to the offer's landing URL with the click ID, or with `url` (a deep link) to
//! that page of the shop.
//!
//! The destination's host comes only from the stored offer: the landing URL's (`tracking::link`),
//! or for a deep link one the offer allows (`tracking::deep_link`); a `url` on any other host is
//! refused, counted and replaced by the landing URL, never followed. The visitor is never lost: an unknown code, an unknown offer or a failed click
//! write all still redirect (to the default offer, without a click ID), and are logged. Visits
//! that must earn nothing redirect without a click too: crawlers, previewers and clients without
//! a user agent (counted as bot visits), and links of paused affiliates or offers.

use std::sync::atomic::Ordering;

use crate::error::Error;
use crate::intake;
use crate::store::clicks::NewClick;
use crate::store::offers::Offer;
use crate::tracking::link::Visit;
use crate::tracking::validate::{MAX_SOURCE, MAX_SUB, MAX_URL, MAX_USER_AGENT};
use crate::tracking::{deep_link, fraud, link, validate};
use crate::transport::Req;
use crate::transport::response::Response;
use crate::web::Ctx;

/// The sub ID parameters of a tracking link, and their HasOffers names.
const SUBS: [(&str, &str); 5] =
    [("sub1", "aff_sub"), ("sub2", "aff_sub2"), ("sub3", "aff_sub3"), ("sub4", "aff_sub4"), ("sub5", "aff_sub5")];

pub fn tracking_link(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let code = req.param(0);
    let named_offer = req.query("offer");
    let offer = match named_offer.map(|id| ctx.catalog.offer(&ctx.db, id)).transpose()?.flatten() {
        Some(offer) => offer,
        None => {
            if let Some(id) = named_offer {
                log::warn!(
                    "tracking link /r/{} names unknown offer {:?}; using the default offer",
                    printable(code),
                    printable(id)
                );
            }
            match ctx.catalog.default_offer(&ctx.db)? {
                Some(offer) => offer,
                None => return Ok(no_destination()),
            }
        }
    };
    let subs = sub_ids(req);
    let deep = req.query("url").and_then(|url| deep_url(ctx, code, url, &offer));
    let destination = |click_id: Option<&str>, code: &str| {
        let visit = Visit {
            click_id,
            referral_code: code_or_empty(code),
            offer_id: &offer.public_id,
            subs: subs.each_ref().map(|s| s.as_deref()),
        };
        Response::redirect(match deep {
            Some(url) => deep_link::destination(url, &offer.landing_url, &visit),
            None => link::landing_url(&offer.landing_url, &visit),
        })
    };
    if req.method == crate::transport::request::Method::Head {
        // Link checkers and prefetchers are not visitors: show where the link goes, record nothing.
        return Ok(destination(None, code));
    }
    if fraud::is_bot(req.headers.user_agent.as_deref()) {
        // Crawlers, link previewers and clients without a user agent are not visitors.
        ctx.metrics.bot_visits.fetch_add(1, Ordering::Relaxed);
        return Ok(destination(None, code));
    }
    let Some(affiliate) = ctx.catalog.affiliate(&ctx.db, code)? else {
        log::warn!("tracking link for unknown referral code {:?}; redirecting without a click", printable(code));
        ctx.metrics.redirects_without_click.fetch_add(1, Ordering::Relaxed);
        return Ok(destination(None, code));
    };
    if affiliate.paused || offer.paused {
        // Paused: the visitor still reaches the shop, but nobody gets a click to earn on.
        ctx.metrics.redirects_without_click.fetch_add(1, Ordering::Relaxed);
        return Ok(destination(None, &affiliate.referral_code));
    }
    let click = NewClick {
        affiliate_id: affiliate.id,
        offer_id: offer.id,
        session_id: None,
        landing_url: None,
        referrer: req.headers.referer.as_deref().map(|r| validate::metadata(r, MAX_URL)),
        user_agent: req.headers.user_agent.as_deref().map(|u| validate::metadata(u, MAX_USER_AGENT)),
        ip: req.client_ip.and_then(|ip| ctx.config.store_ip.apply(ip)),
        source: Some(req.query("source").map_or_else(|| "link".to_string(), |s| validate::metadata(s, MAX_SOURCE))),
        subs: subs.clone(),
        test: false,
        flags: Vec::new(),
        alias: None,
    };
    match intake::record_click(&ctx.intake(), click, req.client_ip) {
        Ok(recorded) => Ok(destination(Some(&recorded.id), &affiliate.referral_code)),
        Err(e) => {
            log::error!(
                "could not record a click for {}: {e}; redirecting without a click ID",
                affiliate.referral_code
            );
            ctx.metrics.redirects_without_click.fetch_add(1, Ordering::Relaxed);
            Ok(destination(None, &affiliate.referral_code))
        }
    }
}

/// A deep link's `url` if the offer may lead there; otherwise `None` (the landing URL), counted
/// by the reason and logged.
fn deep_url<'u>(ctx: &Ctx, code: &str, url: &'u str, offer: &Offer) -> Option<&'u str> {
    match deep_link::check(url, &offer.landing_url, &offer.allowed_hosts) {
        Ok(()) => {
            ctx.metrics.deep_links.fetch_add(1, Ordering::Relaxed);
            Some(url)
        }
        Err(refusal) => {
            ctx.metrics.deep_link_refused(refusal.label());
            log::warn!(
                "tracking link /r/{} asks for {:?}, which {}; sending the visitor to the landing URL of offer {}",
                printable(code),
                printable(url),
                refusal.reason(),
                offer.public_id
            );
            None
        }
    }
}

/// The code for an `{affiliate_id}` macro: only a well-formed code (it is encoded either way).
fn code_or_empty(code: &str) -> &str {
    if validate::code(code).is_ok() { code } else { "" }
}

/// The five sub IDs a visit carries (`sub1`..`sub5`, or HasOffers' `aff_sub`..`aff_sub5`), made
/// safe to store. The click snippet's endpoint reads them the same way.
pub fn sub_ids(req: &Req) -> [Option<String>; 5] {
    SUBS.map(|(name, alias)| req.query(name).or_else(|| req.query(alias)).map(|v| validate::metadata(v, MAX_SUB)))
}

fn no_destination() -> Response {
    log::warn!("a tracking link was used but no offer exists yet; answering 404");
    Response::bytes(404, "text/plain; charset=utf-8", b"This link is not active.\n".to_vec())
}

/// A visitor-supplied value made safe for one log line.
fn printable(text: &str) -> String {
    validate::metadata(text, 100)
}
