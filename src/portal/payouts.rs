//! `/portal/payouts` (the affiliate's payouts, newest first), `/portal/payouts/{id}` (one payout
//! with the ledger entries it covers) and `/portal/statement.json` (their signed ledger statement,
//! the same document the merchant's `GET /api/v1/affiliates/{code}/statement` serves: see
//! docs/statements.md). A payout id that is not theirs is the same 404 as an unknown one; order
//! references of the entries show only their last 4 characters.

use super::{PAGE_SIZE, layout, me, not_theirs};
use crate::error::Error;
use crate::store::payouts::{self, Filter};
use crate::tracking::payout::Payout;
use crate::tracking::portal::last_chars;
use crate::transport::Req;
use crate::transport::response::Response;
use crate::ui::html::{self, fragment, html};
use crate::ui::layout::Notice;
use crate::web::{Ctx, views};

pub fn page(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let me = me(ctx, req)?;
    let filter = Filter { affiliate_id: Some(me.id), ..Filter::default() };
    let before = req.query("before").and_then(|b| b.parse().ok());
    let rows = payouts::list(&ctx.db, &filter, before, PAGE_SIZE)?;
    let next = views::next_cursor(&rows, PAGE_SIZE, |p| p.id.to_string());
    let mut body = fragment!(
        "<h1>Your payouts</h1><p class=\"sub\">Each payout holds the approved commission it pays. A refund after a \
         payout is never taken out of it: it lowers your next one.</p>\
         <div class=\"table\"><table data-narrow-hide=\"5 6\"><thead><tr><th>Payout</th><th>Made</th><th class=\"num\">Amount</th>\
         <th>Status</th><th>Paid</th><th>Reference</th></tr></thead><tbody>"
    );
    for p in &rows {
        html!(
            body,
            "<tr id=\"payout-{}\"><td><a href=\"/portal/payouts/{}\">#{}</a></td><td class=\"when\">{}</td><td class=\"num\">{}</td>\
             <td>{}</td><td>{}</td><td class=\"mono\">{}</td></tr>",
            p.id,
            p.id,
            p.id,
            html::time(p.created_at),
            html::money(p.currency, p.amount),
            html::badge(p.status.as_str()),
            p.paid_at.map(html::time).unwrap_or_else(|| "–".into()),
            p.reference.as_deref().unwrap_or("–")
        );
    }
    if rows.is_empty() {
        html!(body, "<tr><td colspan=\"6\" class=\"empty\">No payouts yet.</td></tr>");
    }
    html!(body, "</tbody></table></div><div class=\"pager\"><span></span>");
    if let Some(cursor) = next {
        html!(body, "<a class=\"btn\" href=\"/portal/payouts?{}\">Older →</a>", html::query(&[("before", &cursor)]));
    }
    html!(body, "</div>");
    Ok(Response::html(200, layout::page(req, "Payouts", "/portal/payouts", &Notice::None, &body)))
}

/// A payout of the logged-in affiliate; anything else is a 404.
fn theirs(ctx: &Ctx, req: &Req, affiliate_id: i64) -> Result<Payout, Error> {
    let id: i64 = req.param(0).parse().map_err(|_| not_theirs())?;
    payouts::get(&ctx.db, id)?.filter(|p| p.affiliate_id == affiliate_id).ok_or_else(not_theirs)
}

pub fn detail(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let me = me(ctx, req)?;
    let p = theirs(ctx, req, me.id)?;
    let mut body = fragment!(
        "<p class=\"muted\" style=\"margin:18px 0 0\"><a href=\"/portal/payouts\">Payouts</a> /</p>\
         <h1>Payout #{} {}</h1><p class=\"sub\">Made {}</p>\
         <div class=\"card\"><dl class=\"facts\"><dt>Amount</dt><dd>{}</dd><dt>Paid</dt><dd>{}</dd>\
         <dt>Reference</dt><dd class=\"mono\">{}</dd></dl></div>\
         <h2>What it pays <span class=\"muted\">· {} ledger entries</span></h2><div class=\"table\"><table><thead><tr>\
         <th>Entry</th><th>When</th><th>What</th><th>Order</th><th class=\"num\">Amount</th></tr></thead><tbody>",
        p.id,
        html::badge(p.status.as_str()),
        html::time(p.created_at),
        html::money(p.currency, p.amount),
        p.paid_at.map(html::time).unwrap_or_else(|| "not yet".into()),
        p.reference.as_deref().unwrap_or("–"),
        payouts::items_count(&ctx.db, p.id)?
    );
    let after = req.query("after").and_then(|a| a.parse().ok());
    let items = payouts::items_page(&ctx.db, p.id, after, PAGE_SIZE)?;
    let next = (items.len() == PAGE_SIZE).then(|| items.last().map(|(cursor, _)| *cursor)).flatten();
    for (_, item) in items {
        html!(
            body,
            "<tr><td class=\"mono\">{}</td><td>{}</td><td>{}</td><td class=\"mono\">{}</td><td class=\"num\">{}</td></tr>",
            item.seq,
            html::time(item.at),
            item.kind.as_str().replace('_', " "),
            item.external_id.as_deref().map(last_chars).unwrap_or_else(|| "–".into()),
            html::money(p.currency, item.amount)
        );
    }
    html!(body, "</tbody></table></div><div class=\"pager\"><span></span>");
    if let Some(after) = next {
        html!(body, "<a class=\"btn\" href=\"/portal/payouts/{}?after={}\">Next page →</a>", p.id, after);
    }
    html!(body, "</div>");
    let title = format!("Payout #{}", p.id);
    Ok(Response::html(200, layout::page(req, &title, "/portal/payouts", &Notice::None, &body)))
}

/// `GET /portal/statement.json`: the signed statement of the affiliate's whole ledger, as one
/// file streamed while it downloads (`statements::issue_whole`).
pub fn statement(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let me = me(ctx, req)?;
    let now = crate::clock::now_ms();
    let chunks = crate::statements::issue_whole(&ctx.db, &ctx.config.db, &me.referral_code, now)?;
    let file = format!("statement-{}-{}.json", me.referral_code, crate::clock::day_text(crate::clock::day_of(now)));
    Ok(Response::streamed("application/json", chunks)
        .with_header("Content-Disposition", format!("attachment; filename=\"{file}\"")))
}
