//! `/portal/conversions` (the affiliate's conversions, newest first, in pages), one conversion's
//! history at `/portal/conversions/{id}`, and `/portal/conversions.csv` (the same list as a
//! file, with the admin's CSV formula guard).
//!
//! What an affiliate sees of a conversion: date, offer, type, amount, refunds, commission and
//! status (`paid`, with a link to the payout, once the payout holding its approved commission
//! is paid; derived from the ledger, `store::payouts::holding`), and the order reference as its
//! last 4 characters. Never the customer (ID, e-mail,
//! name), the click's IP or user agent, coupon, fraud flags, who decided or why; never test
//! conversions. Every query is filtered by the logged-in affiliate's id; a conversion id that is
//! not theirs is the same 404 as one that does not exist.

use super::{PAGE_SIZE, layout, me, not_theirs};
use crate::error::Error;
use crate::shapes::csv::{Cell, write_row};
use crate::store::{conversions, events, payouts};
use crate::tracking::conversion::{Conversion, Status};
use crate::tracking::payout::Status as PayoutStatus;
use crate::tracking::portal::last_chars;
use crate::transport::Req;
use crate::transport::response::Response;
use crate::ui::html::{self, Html, fragment, html};
use crate::ui::layout::Notice;
use crate::web::period::Period;
use crate::web::{Ctx, download, views};

/// The list's filters from the query (`status`, `from`, `to`), always for `affiliate_id` and
/// never test data. Other parameters are ignored.
fn filter(req: &Req, affiliate_id: i64) -> Result<conversions::Filter, Error> {
    let mut filter = conversions::Filter { affiliate_id: Some(affiliate_id), test: false, ..Default::default() };
    if let Some(s) = req.query("status") {
        filter.status = Some(
            Status::parse(s)
                .ok_or_else(|| Error::invalid("status", "must be pending, approved, rejected or refunded"))?,
        );
    }
    if req.query("from").is_some() || req.query("to").is_some() {
        let period = Period::from_query(req, 30)?;
        filter.since = Some(period.start_ms());
        filter.until = Some(period.end_ms());
    }
    Ok(filter)
}

/// The query parameters the list and its file share.
fn kept(req: &Req) -> String {
    let pairs: Vec<(&str, &str)> =
        ["status", "from", "to"].iter().filter_map(|k| req.query(k).map(|v| (*k, v))).collect();
    html::query(&pairs)
}

pub fn page(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let me = me(ctx, req)?;
    let filter = filter(req, me.id)?;
    let after = req.query("after").and_then(conversions::parse_cursor);
    let rows = conversions::newest(&ctx.db, &filter, after, PAGE_SIZE)?;
    let next = views::next_cursor(&rows, PAGE_SIZE, conversions::cursor_after);
    let ids: Vec<i64> = rows.iter().map(|c| c.id).collect();
    let payouts = payouts::holding(&ctx.db, me.id, &ids)?;
    let mut body = fragment!(
        "<div class=\"spread\"><div><h1>Your conversions</h1><p class=\"sub\">Sales and leads credited to you, newest \
         first. Order references show only their last 4 characters.</p></div>\
         <a class=\"btn\" href=\"/portal/conversions.csv?{}\">Download CSV</a></div>",
        kept(req)
    );
    html!(body, "<form class=\"filters\" method=\"get\" action=\"/portal/conversions\">");
    html!(body, "<label>Status<select name=\"status\"><option value=\"\">All</option>");
    for status in Status::ALL {
        let selected = if req.query("status") == Some(status.as_str()) { " selected" } else { "" };
        html!(body, "<option{}>{}</option>", Html::from_static(selected), status.as_str());
    }
    html!(
        body,
        "</select></label><label>From<input type=\"date\" name=\"from\" value=\"{}\"></label>\
         <label>Before<input type=\"date\" name=\"to\" value=\"{}\"></label>\
         <button class=\"btn primary\" type=\"submit\">Filter</button>\
         <a class=\"btn link\" href=\"/portal/conversions\">Reset</a></form>",
        req.query("from").unwrap_or(""),
        req.query("to").unwrap_or("")
    );
    html!(
        body,
        "<div class=\"table\"><table data-narrow-hide=\"2 3 4 6\"><thead><tr><th>Date</th><th>Offer</th><th>Type</th><th>Order</th>\
         <th class=\"num\">Amount</th><th class=\"num\">Refunded</th><th class=\"num\">Commission</th><th>Status</th>\
         </tr></thead><tbody>"
    );
    for c in &rows {
        html!(
            body,
            "<tr id=\"conversion-{}\"><td class=\"when\"><a href=\"/portal/conversions/{}\">{}</a></td><td>{}</td><td>{}</td>\
             <td class=\"mono\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"status\">{}</td></tr>",
            c.id,
            c.id,
            html::time(c.created_at),
            c.offer,
            c.kind,
            last_chars(&c.external_id),
            html::money(c.currency, c.amount),
            refunded(c),
            html::money(c.currency, c.commission),
            status(c, payouts.get(&c.id))
        );
    }
    if rows.is_empty() {
        html!(body, "<tr><td colspan=\"8\" class=\"empty\">No conversions match.</td></tr>");
    }
    let first = if after.is_some() {
        fragment!("<a href=\"/portal/conversions?{}\">← Newest</a>", kept(req))
    } else {
        Html::new()
    };
    html!(body, "</tbody></table></div><div class=\"pager\"><span>{}</span>{}</div>", first, next_link(req, next));
    Ok(Response::html(200, layout::page(req, "Conversions", "/portal/conversions", &Notice::None, &body)))
}

fn next_link(req: &Req, cursor: Option<String>) -> Html {
    let Some(cursor) = cursor else { return Html::new() };
    let mut pairs: Vec<(&str, &str)> =
        ["status", "from", "to"].iter().filter_map(|k| req.query(k).map(|v| (*k, v))).collect();
    pairs.push(("after", &cursor));
    fragment!("<a class=\"btn\" href=\"/portal/conversions?{}\">Next page →</a>", html::query(&pairs))
}

/// The status badge, and the payout that holds the conversion's approved commission: `paid`
/// with a link once that payout is paid (for a conversion refunded afterwards, its status and
/// "paid in payout #N"), "in payout #N" while it is not.
fn status(c: &Conversion, payout: Option<&(i64, PayoutStatus)>) -> Html {
    let Some(&(id, payout_status)) = payout else { return html::badge(c.status.as_str()) };
    match payout_status {
        PayoutStatus::Paid if c.status == Status::Approved => {
            fragment!("{} <a href=\"/portal/payouts/{}\">payout #{}</a>", html::badge("paid"), id, id)
        }
        PayoutStatus::Paid => {
            fragment!(
                "{} <a href=\"/portal/payouts/{}\">paid in payout #{}</a>",
                html::badge(c.status.as_str()),
                id,
                id
            )
        }
        _ => fragment!("{} <a href=\"/portal/payouts/{}\">in payout #{}</a>", html::badge(c.status.as_str()), id, id),
    }
}

fn refunded(c: &Conversion) -> String {
    if c.refunded_amount == 0 { "–".into() } else { html::money(c.currency, c.refunded_amount) }
}

/// A conversion of the logged-in affiliate, live data only; anything else is a 404.
fn theirs(ctx: &Ctx, req: &Req, affiliate_id: i64) -> Result<Conversion, Error> {
    let id: i64 = req.param(0).parse().map_err(|_| not_theirs())?;
    conversions::get(&ctx.db, id)?.filter(|c| c.affiliate_id == affiliate_id && !c.test).ok_or_else(not_theirs)
}

pub fn detail(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let me = me(ctx, req)?;
    let c = theirs(ctx, req, me.id)?;
    let payout = payouts::holding(&ctx.db, me.id, &[c.id])?.remove(&c.id);
    let mut body = fragment!(
        "<p class=\"muted\" style=\"margin:18px 0 0\"><a href=\"/portal/conversions\">Conversions</a> /</p>\
         <h1>Order <span class=\"mono\">{}</span></h1><p class=\"sub\">{} · {}</p>\
         <div class=\"card\"><dl class=\"facts\"><dt>Offer</dt><dd>{}</dd><dt>Type</dt><dd>{}</dd>\
         <dt>Amount</dt><dd>{}</dd><dt>Refunded</dt><dd>{}</dd><dt>Commission</dt><dd>{}</dd></dl></div>\
         <h2>History</h2><div class=\"table\"><table><thead><tr><th>When</th><th>What</th><th>Status</th>\
         <th class=\"num\">Amount change</th><th class=\"num\">Commission change</th></tr></thead><tbody>",
        last_chars(&c.external_id),
        html::time(c.created_at),
        status(&c, payout.as_ref()),
        c.offer,
        c.kind,
        html::money(c.currency, c.amount),
        refunded(&c),
        html::money(c.currency, c.commission)
    );
    for e in events::of_conversion(&ctx.db, c.id)? {
        let delta = |minor: i64| if minor == 0 { "–".to_string() } else { html::money(c.currency, minor) };
        html!(
            body,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            html::time(e.at),
            e.action.as_str(),
            html::badge(e.to_status.as_str()),
            delta(e.amount_delta),
            delta(e.commission_delta)
        );
    }
    html!(body, "</tbody></table></div>");
    Ok(Response::html(200, layout::page(req, "Conversion", "/portal/conversions", &Notice::None, &body)))
}

const CSV_COLUMNS: [&str; 10] = [
    "date",
    "offer",
    "type",
    "order_reference_end",
    "currency",
    "amount",
    "refunded_amount",
    "commission",
    "status",
    "conversion",
];

/// The list as a CSV file: the same filters (`status`, `from`, `to`), every page, streamed as it
/// is sent.
pub fn csv(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let me = me(ctx, req)?;
    let filter = filter(req, me.id)?;
    let pages = conversions::Pages::open(&ctx.config.db, filter, download::PAGE_ROWS)?;
    let mut header = String::new();
    write_row(&mut header, &CSV_COLUMNS.map(Cell::Text));
    let file = format!(
        "conversions-{}-{}.csv",
        me.referral_code,
        crate::clock::day_text(crate::clock::day_of(crate::clock::now_ms()))
    );
    Ok(download::csv(&file, header, pages, csv_row))
}

fn csv_row(out: &mut String, c: &Conversion) {
    write_row(
        out,
        &[
            Cell::Text(&crate::clock::rfc3339(c.created_at)),
            Cell::Text(&c.offer),
            Cell::Text(&c.kind),
            Cell::Text(&last_chars(&c.external_id)),
            Cell::Text(c.currency.code()),
            Cell::Number(c.currency.format(c.amount)),
            Cell::Number(c.currency.format(c.refunded_amount)),
            Cell::Number(c.currency.format(c.commission)),
            Cell::Text(c.status.as_str()),
            Cell::Number(c.id.to_string()),
        ],
    );
}
