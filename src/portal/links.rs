//! `/portal/links`: the affiliate's tracking link for every active offer with what it pays them
//! (their own rate where the merchant set one), a sub-ID builder (a plain GET form that comes
//! back to this page with the built link), and their coupon codes. Reads only.

use super::{layout, me};
use crate::error::Error;
use crate::store::{coupons, offers, rates};
use crate::tracking::commission::Rule;
use crate::tracking::money::Currency;
use crate::transport::Req;
use crate::transport::response::Response;
use crate::ui::html::{self, Html, fragment, html};
use crate::ui::layout::Notice;
use crate::web::{Ctx, views};

/// Offers listed at most.
const MAX_OFFERS: usize = 200;
/// Coupons listed at most.
const MAX_COUPONS: usize = 200;
/// The sub ID parameters of a tracking link.
const SUBS: [&str; 5] = ["sub1", "sub2", "sub3", "sub4", "sub5"];

/// A commission rule in words: `10% of the amount`, `$15.00 per conversion`.
fn rule_text(rule: Rule, currency: Currency) -> String {
    match rule {
        Rule::Percent { .. } => format!("{}% of the amount", rule.display_value(currency.minor_digits())),
        Rule::Flat { minor } => format!("{} per conversion", html::money(currency, minor)),
    }
}

/// Rules by conversion type in words; a rule for every type as itself.
fn rules_text(by_type: &[(String, Rule)], currency: Currency) -> String {
    match by_type {
        [(every, rule)] if every == rates::EVERY_TYPE => rule_text(*rule, currency),
        _ => by_type.iter().map(|(t, r)| format!("{t}: {}", rule_text(*r, currency))).collect::<Vec<_>>().join(" · "),
    }
}

/// The tracking link for `offer` (none: the default offer) with the sub IDs in `subs`.
fn link(base: &str, offer: Option<&str>, subs: &[(&str, &str)]) -> String {
    let mut pairs: Vec<(&str, &str)> = offer.map(|o| ("offer", o)).into_iter().collect();
    pairs.extend_from_slice(subs);
    let query = html::query(&pairs);
    if query.is_empty() { base.to_string() } else { format!("{base}?{query}") }
}

pub fn page(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let me = me(ctx, req)?;
    let base = views::tracking_link(&ctx.config.public_url, &me.referral_code);
    let active: Vec<offers::Offer> = offers::list(&ctx.db, 0, MAX_OFFERS)?.into_iter().filter(|o| !o.paused).collect();
    let mut body = fragment!(
        "<h1>Your links</h1><p class=\"sub\">Share these links. Every visit through them is a click credited to you; \
         a sale after it earns your commission.</p>\
         <div class=\"table\"><table><thead><tr><th>Offer</th><th>Your commission</th><th>Tracking link</th></tr></thead><tbody>"
    );
    for (i, o) in active.iter().enumerate() {
        let own = rates::of_affiliate(&ctx.db, o.id, me.id)?;
        let commission = if own.is_empty() {
            let by_type = offers::event_rates(&ctx.db, o.id)?;
            if by_type.is_empty() { rule_text(o.commission, o.currency) } else { rules_text(&by_type, o.currency) }
        } else {
            rules_text(&own, o.currency)
        };
        let url = link(&base, (!o.is_default).then_some(o.public_id.as_str()), &[]);
        html!(
            body,
            "<tr><td>{}{}<div class=\"muted mono\">{}</div></td><td>{}</td><td><div class=\"copy\">\
             <input id=\"link-{}\" class=\"mono\" type=\"text\" readonly value=\"{}\">\
             <button class=\"btn\" type=\"button\" data-copy=\"link-{}\">Copy</button></div></td></tr>",
            o.name,
            if o.is_default { Html::from_static(" <span class=\"tag\">default</span>") } else { Html::new() },
            o.public_id,
            commission,
            i,
            url,
            i
        );
    }
    if active.is_empty() {
        html!(body, "<tr><td colspan=\"3\" class=\"empty\">There are no active offers right now.</td></tr>");
    }
    html!(body, "</tbody></table></div>");
    let (built, notice) = builder(req, &base, &active);
    body.buffer().push_str(built.as_str());
    body.buffer().push_str(coupon_list(ctx, me.id)?.as_str());
    Ok(Response::html(200, layout::page(req, "Links", "/portal/links", &notice, &body)))
}

/// The sub-ID builder, with the link built from the query when the form was sent.
fn builder(req: &Req, base: &str, active: &[offers::Offer]) -> (Html, Notice) {
    let chosen = req.query("offer");
    let offer = chosen.and_then(|id| active.iter().find(|o| o.public_id.eq_ignore_ascii_case(id)));
    let mut notice = Notice::None;
    if chosen.is_some() && offer.is_none() {
        notice = Notice::Error("That offer is not active; the link below uses the default offer.".into());
    }
    let mut out = fragment!(
        "<h2>Build a link with sub IDs</h2><div class=\"card\"><p class=\"muted\" style=\"margin-top:0\">Sub IDs \
         (<span class=\"mono\">sub1</span> to <span class=\"mono\">sub5</span>) come back with every conversion \
         in your postbacks, so you can tell where a sale came from: a campaign, a page, a placement.</p>\
         <form class=\"filters\" method=\"get\" action=\"/portal/links\"><label>Offer<select name=\"offer\">"
    );
    for o in active {
        let selected = offer.is_some_and(|c| c.id == o.id) || (offer.is_none() && o.is_default);
        html!(
            out,
            "<option value=\"{}\"{}>{}</option>",
            o.public_id,
            Html::from_static(if selected { " selected" } else { "" }),
            o.name
        );
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
    let subs: Vec<(&str, &str)> = SUBS.iter().filter_map(|n| req.query(n).map(|v| (*n, v))).collect();
    if chosen.is_some() || !subs.is_empty() {
        let offer_id = offer.filter(|o| !o.is_default).map(|o| o.public_id.as_str());
        html!(
            out,
            "<div class=\"copy\"><input id=\"built-link\" class=\"mono\" type=\"text\" readonly value=\"{}\">\
             <button class=\"btn\" type=\"button\" data-copy=\"built-link\">Copy</button></div>",
            link(base, offer_id, &subs)
        );
    }
    html!(out, "</div>");
    (out, notice)
}

fn coupon_list(ctx: &Ctx, affiliate_id: i64) -> Result<Html, Error> {
    let rows = coupons::of_affiliate(&ctx.db, affiliate_id, MAX_COUPONS)?;
    let mut out = Html::from_static(
        "<h2>Your coupon codes</h2><p class=\"sub\">A customer who enters one of these at checkout is credited to \
         you, with or without a click.</p><div class=\"table\"><table><thead><tr><th>Code</th><th>Offer</th>\
         <th>Status</th></tr></thead><tbody>",
    );
    for c in &rows {
        html!(
            out,
            "<tr><td class=\"mono\">{}</td><td>{}</td><td>{}</td></tr>",
            c.code,
            c.offer_public_id.as_deref().unwrap_or("the default offer"),
            html::badge(if c.active { "active" } else { "inactive" })
        );
    }
    if rows.is_empty() {
        html!(out, "<tr><td colspan=\"3\" class=\"empty\">You have no coupon codes.</td></tr>");
    }
    html!(out, "</tbody></table></div>");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_carry_the_offer_and_sub_ids_encoded() {
        let base = "https://t.example/r/ann";
        assert_eq!(link(base, None, &[]), base);
        assert_eq!(link(base, Some("bundles"), &[]), "https://t.example/r/ann?offer=bundles");
        assert_eq!(
            link(base, None, &[("sub1", "spring sale"), ("sub3", "a&b=c")]),
            "https://t.example/r/ann?sub1=spring+sale&sub3=a%26b%3Dc"
        );
        let usd = Currency::from_code("USD").unwrap();
        assert_eq!(rule_text(Rule::Percent { ppm: 125_000 }, usd), "12.5% of the amount");
        assert_eq!(rule_text(Rule::Flat { minor: 1500 }, usd), "$15.00 per conversion");
        let by_type =
            [("lead".to_string(), Rule::Flat { minor: 200 }), ("sale".into(), Rule::Percent { ppm: 100_000 })];
        assert_eq!(rules_text(&by_type, usd), "lead: $2.00 per conversion · sale: 10% of the amount");
    }
}
