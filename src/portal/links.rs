//! `/portal/links`: the affiliate's tracking link for every active offer with what it pays them
//! (their own rate where the merchant set one) and the hosts its deep links may lead to, the link
//! builder (`link_builder.rs`), and their coupon codes. Reads only.

use super::{layout, link_builder, me};
use crate::error::Error;
use crate::store::{coupons, offers, rates};
use crate::tracking::commission::Rule;
use crate::tracking::money::Currency;
use crate::transport::Req;
use crate::transport::response::Response;
use crate::ui::html::{self, Html, fragment, html};
use crate::web::{Ctx, views};

/// Offers listed at most.
const MAX_OFFERS: usize = 200;
/// Coupons listed at most.
const MAX_COUPONS: usize = 200;

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
         <div class=\"table\"><table data-narrow-hide=\"2\"><thead><tr><th>Offer</th><th>Your commission</th><th>Tracking link</th></tr></thead><tbody>"
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
            "<tr><td>{}{}<div class=\"muted mono\">{}</div><div class=\"muted any-break\">Deep links to {}</div></td><td>{}</td>\
             <td><div class=\"copy\">\
             <input id=\"link-{}\" class=\"mono\" type=\"text\" readonly value=\"{}\">\
             <button class=\"btn\" type=\"button\" data-copy=\"link-{}\">Copy</button></div></td></tr>",
            o.name,
            if o.is_default { Html::from_static(" <span class=\"tag\">default</span>") } else { Html::new() },
            o.public_id,
            link_builder::hosts_text(o),
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
    let (built, notice) = link_builder::builder(req, &base, &active);
    body.buffer().push_str(built.as_str());
    body.buffer().push_str(coupon_list(ctx, me.id)?.as_str());
    Ok(Response::html(200, layout::page(req, "Links", "/portal/links", &notice, &body)))
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
