//! The link builder of `/portal/links`: a plain GET form (offer, `sub1`..`sub5`, and `url`, a
//! page of the shop) that comes back to the page with the tracking link built, a QR code of it
//! drawn inline, and `GET /portal/links/qr.svg` with the same query to download that code.
//!
//! A deep link's `url` is checked here by the redirect's own rule (`tracking::deep_link::check`
//! against the chosen offer), so the builder never hands out a link that the redirect would
//! send elsewhere: a refused address gets its reason and no link. Reads only.

use super::me;
use crate::error::Error;
use crate::store::offers::{self, Offer};
use crate::tracking::{deep_link, link};
use crate::transport::Req;
use crate::transport::response::Response;
use crate::ui::html::{self, Html, fragment, html};
use crate::ui::layout::Notice;
use crate::ui::qr;
use crate::web::{Ctx, views};

/// The sub ID parameters of a tracking link.
const SUBS: [&str; 5] = ["sub1", "sub2", "sub3", "sub4", "sub5"];
/// Offers the builder offers at most (as the links table lists).
const MAX_OFFERS: usize = 200;

/// What the builder's query asks for.
struct Wish<'a> {
    /// The offer named by `offer` among the active ones (`None`: none named, or not active).
    offer: Option<&'a Offer>,
    /// Whether `offer` named something that is not an active offer.
    unknown_offer: bool,
    subs: Vec<(&'static str, &'a str)>,
    /// The page of the shop to link to (trimmed; empty counts as none).
    url: Option<&'a str>,
}

impl<'a> Wish<'a> {
    fn read(req: &'a Req, active: &'a [Offer]) -> Wish<'a> {
        let chosen = req.query("offer").filter(|o| !o.is_empty());
        let offer = chosen.and_then(|id| active.iter().find(|o| o.public_id.eq_ignore_ascii_case(id)));
        Wish {
            offer,
            unknown_offer: chosen.is_some() && offer.is_none(),
            subs: SUBS.iter().filter_map(|n| req.query(n).filter(|v| !v.is_empty()).map(|v| (*n, v))).collect(),
            url: req.query("url").map(str::trim).filter(|u| !u.is_empty()),
        }
    }

    /// Whether the form was sent (anything asked for).
    fn asked(&self) -> bool {
        self.offer.is_some() || self.unknown_offer || !self.subs.is_empty() || self.url.is_some()
    }

    /// The tracking link asked for, or why it cannot be made (a deep link the offer refuses).
    fn build(&self, base: &str, active: &[Offer]) -> Result<String, String> {
        let offer_id = self.offer.filter(|o| !o.is_default).map(|o| o.public_id.as_str());
        let mut pairs: Vec<(&str, &str)> = offer_id.map(|o| ("offer", o)).into_iter().collect();
        pairs.extend_from_slice(&self.subs);
        if let Some(url) = self.url {
            // The visitor lands on the offer's page; without a named offer, the default one's.
            let Some(offer) = self.offer.or_else(|| active.iter().find(|o| o.is_default)) else {
                return Err("There is no active offer to link to.".into());
            };
            if let Err(refusal) = deep_link::check(url, &offer.landing_url, &offer.allowed_hosts) {
                return Err(format!(
                    "That address {}. {} links to pages of {} only.",
                    refusal.reason(),
                    offer.name,
                    hosts_text(offer)
                ));
            }
            pairs.push(("url", url));
        }
        let query = html::query(&pairs);
        Ok(if query.is_empty() { base.to_string() } else { format!("{base}?{query}") })
    }

    /// The builder's query again, for the QR code's download link.
    fn query(&self) -> String {
        let mut pairs: Vec<(&str, &str)> = self.offer.map(|o| ("offer", o.public_id.as_str())).into_iter().collect();
        pairs.extend_from_slice(&self.subs);
        pairs.extend(self.url.map(|u| ("url", u)));
        html::query(&pairs)
    }
}

/// The hosts an offer's deep links may lead to, in words: `shop.example, blog.example and
/// *.cdn.example` (the landing URL's host first).
pub fn hosts_text(offer: &Offer) -> String {
    let home = link::parse_absolute(&offer.landing_url).map(|p| p.host).unwrap_or_default();
    let mut hosts: Vec<&str> = vec![home.as_str()];
    hosts.extend(offer.allowed_hosts.iter().map(String::as_str));
    match hosts.split_last() {
        Some((last, first)) if !first.is_empty() => format!("{} and {last}", first.join(", ")),
        _ => home.clone(),
    }
}

/// The builder's form, with the link built and its QR code when the form was sent.
pub fn builder(req: &Req, base: &str, active: &[Offer]) -> (Html, Notice) {
    let wish = Wish::read(req, active);
    let mut notice = Notice::None;
    if wish.unknown_offer {
        notice = Notice::Error("That offer is not active; the link below uses the default offer.".into());
    }
    let mut out = fragment!(
        "<h2>Build a link</h2><div class=\"card\"><p class=\"muted\" style=\"margin-top:0\">Paste the address of \
         any page of the shop (a product, a post) to send your visitors straight there. Sub IDs \
         (<span class=\"mono\">sub1</span> to <span class=\"mono\">sub5</span>) come back with every conversion \
         in your postbacks, so you can tell where a sale came from: a campaign, a page, a placement.</p>\
         <form class=\"filters\" method=\"get\" action=\"/portal/links\"><label class=\"grow\">Page of the shop \
         <input type=\"url\" name=\"url\" value=\"{}\" maxlength=\"2048\" placeholder=\"https://…\"></label>\
         <label>Offer<select name=\"offer\">",
        wish.url.unwrap_or("")
    );
    for o in active {
        let selected = wish.offer.is_some_and(|c| c.id == o.id) || (wish.offer.is_none() && o.is_default);
        let selected = Html::from_static(if selected { " selected" } else { "" });
        html!(out, "<option value=\"{}\"{}>{}</option>", o.public_id, selected, o.name);
    }
    html!(out, "</select></label>");
    for name in SUBS {
        html!(
            out,
            "<label>{}<input type=\"text\" name=\"{}\" value=\"{}\" size=\"12\" maxlength=\"255\"></label>",
            name,
            name,
            req.query(name).unwrap_or("")
        );
    }
    html!(out, "<button class=\"btn primary\" type=\"submit\">Build link</button></form>");
    if wish.asked() {
        match wish.build(base, active) {
            Ok(built) => built_link(&mut out, &built, &wish.query()),
            Err(reason) => notice = Notice::Error(reason),
        }
    }
    html!(out, "</div>");
    (out, notice)
}

/// The built link to copy, its QR code and the code's download.
fn built_link(out: &mut Html, built: &str, query: &str) {
    html!(
        out,
        "<div class=\"copy\"><input id=\"built-link\" class=\"mono\" type=\"text\" readonly value=\"{}\">\
         <button class=\"btn\" type=\"button\" data-copy=\"built-link\">Copy</button></div>",
        built
    );
    match qr::svg_inline(built, "QR code of the link above") {
        Some(code) => html!(
            out,
            "<div class=\"qr-box\">{}<p><a class=\"btn\" href=\"/portal/links/qr.svg?{}\" download>Download the QR \
             code (SVG)</a><br><span class=\"muted\">Scanning it opens the link above.</span></p></div>",
            code,
            query
        ),
        None => html!(out, "<p class=\"muted\">This link is too long for a QR code.</p>"),
    }
}

/// `GET /portal/links/qr.svg?offer=&sub1..5=&url=`: the QR code of the link the builder makes
/// for that query, as a file to save (400 with the reason when the link cannot be made).
pub fn qr_svg(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let me = me(ctx, req)?;
    let base = views::tracking_link(&ctx.config.public_url, &me.referral_code);
    let active: Vec<Offer> = offers::list(&ctx.db, 0, MAX_OFFERS)?.into_iter().filter(|o| !o.paused).collect();
    let built = Wish::read(req, &active).build(&base, &active).map_err(|r| Error::bad_request("invalid_url", r))?;
    let svg = qr::svg_document(&built)
        .ok_or_else(|| Error::bad_request("invalid_url", "This link is too long for a QR code."))?;
    let code: String = me.referral_code.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').collect();
    Ok(Response::bytes(200, "image/svg+xml", svg.into_bytes())
        .with_header("Content-Disposition", format!("attachment; filename=\"link-{code}.svg\"")))
}
