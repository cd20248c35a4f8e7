//! The first-party click snippet, for shops whose backend cannot record clicks itself:
//! `GET /a.js`, a small dependency-free script (`snippet.js`, served as written), and
//! `GET /c/{referral_code}?offer=&sub1..sub5=&referrer=`, the public endpoint it calls.
//!
//! The script reads the referral code from the page's URL, calls `/c/` beside its own address
//! and keeps the click ID in a cookie of the shop's domain; the server never sets or reads a
//! cookie here. `/c/` follows the rules of tracking links (`redirect.rs`): HEAD, bots, unknown
//! codes and paused affiliates or offers record nothing, and a flood from one address is flagged
//! by `intake::record_click`. A browser lets a page read the answer only when this server names
//! the page's origin (CORS): those given with `--allowed-origin`.
//!
//! A click is recorded only when the request proves it comes from an allowed page, in one of
//! the two ways a page cannot fake in a browser: an `Origin` given with `--allowed-origin` (the
//! script's cross-origin `fetch`), or `Sec-Fetch-Site: same-origin` (the script served
//! first-party, through the shop's proxy, calling `/c/` on the shop's own domain). Anything else
//! records nothing, whatever the element: browsers send no `Origin` for an `<img>`, a
//! `<script src>` or a `fetch(…, {mode: "no-cors"})` on another site's page, and say
//! `cross-site` there; a program sends neither. This module never answers with an error page
//! where the script expects JSON.

use std::sync::OnceLock;
use std::sync::atomic::Ordering;

use serde_json::json;

use crate::error::Error;
use crate::intake;
use crate::store::clicks::NewClick;
use crate::tracking::validate::{MAX_URL, MAX_USER_AGENT};
use crate::tracking::{fraud, validate};
use crate::transport::Req;
use crate::transport::request::Method;
use crate::transport::response::Response;
use crate::web::Ctx;

/// The script, byte for byte as served.
pub const SCRIPT: &str = include_str!("snippet.js");
pub const CONTENT_TYPE: &str = "text/javascript; charset=utf-8";
/// Browsers and shared caches keep the script for a day, then revalidate it with its ETag (a
/// 304 costs a few bytes). An upgrade of the appliance reaches every page within that day.
pub const CACHE_CONTROL: &str = "public, max-age=86400";
/// What clicks recorded through the snippet carry as their `source`.
pub const SOURCE: &str = "snippet";

/// `GET /a.js`: the script, cacheable, with a 304 for a copy that is still current.
pub fn script(_: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let etag = etag();
    let current = req.headers.if_none_match.as_deref().is_some_and(|header| etag_matches(header, etag));
    let response =
        if current { Response::empty(304) } else { Response::bytes(200, CONTENT_TYPE, SCRIPT.as_bytes().to_vec()) };
    Ok(response.with_header("Cache-Control", CACHE_CONTROL).with_header("ETag", etag))
}

/// The script's entity tag: the start of its SHA-256, so it changes exactly when the script does.
pub fn etag() -> &'static str {
    static ETAG: OnceLock<String> = OnceLock::new();
    ETAG.get_or_init(|| format!("\"{}\"", &crate::secret::hex(&crate::secret::sha256(SCRIPT.as_bytes()))[..20]))
}

/// Whether an `If-None-Match` header names `etag` (weak comparison, as RFC 9110 asks for it).
pub fn etag_matches(header: &str, etag: &str) -> bool {
    header.split(',').map(str::trim).any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
}

/// `GET /c/{referral_code}`: records a click for the snippet and answers
/// `201 {"click_id": "…"}`, or `200 {"click_id": null}` when nothing was recorded.
pub fn click(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    // Browsers send `Origin` with cross-origin requests; a page served by the same host as this
    // endpoint (the shop's domain, when its proxy serves the snippet first-party) needs no CORS,
    // and proves where it is with `Sec-Fetch-Site: same-origin`.
    let origin = req.headers.origin.as_deref().filter(|o| Some(*o) != own_origin(req).as_deref());
    let allowed = origin.filter(|o| ctx.config.allowed_origins.iter().any(|a| a == o));
    let same_origin =
        req.headers.sec_fetch_site.as_deref().is_some_and(|s| s.trim().eq_ignore_ascii_case("same-origin"));
    let recorded = match (origin, allowed) {
        (_, Some(_)) => record(ctx, req),
        (Some(origin), None) => {
            log::warn!(
                "a page of {} asked /c/ for a click; its origin is not allowed (--allowed-origin), so nothing was \
                 recorded",
                validate::metadata(origin, 100)
            );
            Ok(None)
        }
        (None, _) if same_origin => record(ctx, req),
        (None, _) => {
            unproven(req);
            Ok(None)
        }
    };
    let response = match recorded {
        Ok(Some(id)) => Response::json(201, &json!({ "click_id": id })),
        Ok(None) => Response::json(200, &json!({ "click_id": null })),
        Err(e) => {
            if e.status >= 500 {
                log::error!("could not record a snippet click: {e}");
            }
            Response::error(&e)
        }
    };
    Ok(with_cors(response, allowed))
}

/// Requests to `/c/` that did not show they come from an allowed page, summed up in a line a
/// minute (an `<img>` on a busy page of another site would otherwise write one line a visit).
static UNPROVEN: crate::logging::Summary = crate::logging::Summary::new(std::time::Duration::from_secs(60));

fn unproven(req: &Req) {
    if req.method == Method::Head {
        return;
    }
    if let Some(count) = UNPROVEN.record(std::time::Instant::now()) {
        log::info!(
            "{count} request(s) to /c/ recorded nothing: they did not show they come from an allowed page (no \
             --allowed-origin Origin, no Sec-Fetch-Site: same-origin; e.g. an <img> or <script src> on another \
             site, or a program); the latest said Sec-Fetch-Site {:?}",
            req.headers.sec_fetch_site.as_deref().map(|s| validate::metadata(s, 40)).unwrap_or_default()
        );
    }
}

/// The CORS headers of a `/c/` answer: the page's origin when it is allowed, nothing otherwise.
/// The answer depends on `Origin` either way, which `Vary` tells caches. No credentials are
/// allowed: the endpoint needs none (the cookie belongs to the shop's domain, not to this server).
fn with_cors(response: Response, allowed: Option<&str>) -> Response {
    let response = response.with_header("Vary", "Origin");
    match allowed {
        Some(origin) => response.with_header("Access-Control-Allow-Origin", origin),
        None => response,
    }
}

/// The origin the request was addressed to, as its `Host` and `X-Forwarded-Proto` say.
fn own_origin(req: &Req) -> Option<String> {
    let host = req.headers.host.as_deref()?;
    Some(format!("{}://{host}", req.headers.forwarded_proto.as_deref().unwrap_or("http")).to_ascii_lowercase())
}

/// Records the click the request describes and returns its ID, or `None` when this visit must
/// not earn anything.
fn record(ctx: &mut Ctx, req: &Req) -> Result<Option<String>, Error> {
    if req.method == Method::Head {
        return Ok(None);
    }
    let user_agent = req.headers.user_agent.as_deref();
    if fraud::is_bot(user_agent) {
        ctx.metrics.bot_visits.fetch_add(1, Ordering::Relaxed);
        return Ok(None);
    }
    let code = req.param(0);
    let Some(affiliate) = ctx.catalog.affiliate(&ctx.db, code)? else {
        // A shop's own links may use `ref` for something else: not worth a warning.
        log::info!("snippet click for unknown referral code {:?}; nothing recorded", validate::metadata(code, 100));
        return Ok(None);
    };
    let named = req.query("offer").map(|id| ctx.catalog.offer(&ctx.db, id)).transpose()?.flatten();
    let Some(offer) = named.map_or_else(|| ctx.catalog.default_offer(&ctx.db), |o| Ok(Some(o)))? else {
        log::warn!("a snippet click came in but no offer exists yet; nothing recorded");
        return Ok(None);
    };
    if affiliate.paused || offer.paused {
        return Ok(None);
    }
    let url = |value: &str| validate::metadata(value, MAX_URL);
    // The script calls from the landing page, so `Referer` is that page (as much of it as the
    // browser's referrer policy shows); where the visitor came from is the script's `referrer`.
    let landing_url = req.headers.referer.as_deref().map(url);
    let referrer = if req.query.iter().any(|(name, _)| name == "referrer") {
        req.query("referrer").map(url)
    } else {
        landing_url.clone()
    };
    let click = NewClick {
        affiliate_id: affiliate.id,
        offer_id: offer.id,
        session_id: None,
        landing_url,
        referrer,
        user_agent: user_agent.map(|u| validate::metadata(u, MAX_USER_AGENT)),
        ip: req.client_ip.and_then(|ip| ctx.config.store_ip.apply(ip)),
        source: Some(SOURCE.to_string()),
        subs: super::redirect::sub_ids(req),
        test: false,
        flags: Vec::new(),
        alias: None,
    };
    Ok(Some(intake::record_click(&ctx.intake(), click, req.client_ip)?.id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_is_small_and_has_a_stable_entity_tag() {
        assert!(SCRIPT.len() < 2048, "a.js is {} bytes; the limit is 2 KiB", SCRIPT.len());
        assert!(SCRIPT.is_ascii());
        let tag = etag();
        assert_eq!(tag.len(), 22);
        assert!(tag.starts_with('"') && tag.ends_with('"'));
        assert_eq!(tag, etag());
    }

    #[test]
    fn if_none_match_is_compared_weakly_and_in_lists() {
        let tag = "\"abc\"";
        for header in ["\"abc\"", "W/\"abc\"", "\"x\", \"abc\"", "\"x\",W/\"abc\"", "*"] {
            assert!(etag_matches(header, tag), "{header}");
        }
        for header in ["\"abcd\"", "abc", "\"ab\"", "", "W/\"x\""] {
            assert!(!etag_matches(header, tag), "{header}");
        }
    }
}
