//! `/admin/conversions`: the list with filters, and approving or rejecting one or many.

use super::PAGE_SIZE;
use crate::error::Error;
use crate::intake;
use crate::store::affiliates;
use crate::store::conversions::{self, Filter};
use crate::tracking::conversion::{Conversion, Status};
use crate::transport::Req;
use crate::transport::response::Response;
use crate::ui::html::{self, Html, fragment, html};
use crate::ui::layout::{self, Notice};
use crate::web::Ctx;
use crate::web::form::Form;
use crate::web::period::Period;

/// The query parameters of the list that a form post returns to.
const FILTER_KEYS: &[&str] = &["status", "affiliate", "from", "to", "q", "after", "test", "flagged"];
/// Most conversions decided by one bulk action.
const MAX_SELECTED: usize = 500;

/// What the list shows, read from the query string.
pub struct Selection {
    pub filter: Filter,
    /// An exact order ID to look for.
    pub order_id: Option<String>,
    /// Why the selection matches nothing, e.g. an unknown referral code.
    pub problem: Option<String>,
}

pub fn selection(ctx: &Ctx, req: &Req) -> Result<Selection, Error> {
    let mut filter = Filter::default();
    let mut problem = None;
    if let Some(s) = req.query("status") {
        filter.status = Some(
            Status::parse(s)
                .ok_or_else(|| Error::invalid("status", "must be pending, approved, rejected or refunded"))?,
        );
    }
    if let Some(code) = req.query("affiliate") {
        match affiliates::by_code(&ctx.db, code)? {
            Some(a) => filter.affiliate_id = Some(a.id),
            None => problem = Some(format!("No affiliate has referral code “{code}”.")),
        }
    }
    filter.test = req.query("test") == Some("true");
    filter.flagged = match req.query("flagged") {
        Some("true") => Some(true),
        Some("false") => Some(false),
        _ => None,
    };
    if req.query("from").is_some() || req.query("to").is_some() {
        let period = Period::from_query(req, 30)?;
        filter.since = Some(period.start_ms());
        filter.until = Some(period.end_ms());
    }
    Ok(Selection { filter, order_id: req.query("q").map(String::from), problem })
}

fn cursor(req: &Req) -> Option<(i64, i64)> {
    conversions::parse_cursor(req.query("after")?)
}

pub fn page(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let selection = selection(ctx, req)?;
    let rows = match (&selection.problem, &selection.order_id) {
        (Some(_), _) => Vec::new(),
        (None, Some(order_id)) => conversions::with_external_id(&ctx.db, order_id)?,
        (None, None) => conversions::newest(&ctx.db, &selection.filter, cursor(req), PAGE_SIZE)?,
    };
    let next = crate::web::views::next_cursor(&rows, PAGE_SIZE, conversions::cursor_after);
    let notice = match &selection.problem {
        Some(text) => Notice::Error(text.clone()),
        None => super::notice(req),
    };
    let mut body = Html::new();
    let export_query = html::query(&pairs(req, &["status", "affiliate", "from", "to", "test", "flagged"]));
    html!(
        body,
        "<div class=\"spread\"><div><h1>Conversions</h1>\
         <p class=\"sub\">Orders credited to affiliates, newest first. Approve what you will pay for.</p></div>\
         <a class=\"btn\" href=\"/admin/export/conversions.csv?{}\">Download CSV</a></div>",
        export_query
    );
    body.buffer().push_str(filters(ctx, req)?.as_str());
    html!(
        body,
        "<form method=\"post\" action=\"/admin/conversions/decide\">{}<input type=\"hidden\" name=\"back\" value=\"{}\">",
        layout::csrf_field(req),
        html::query(&pairs(req, FILTER_KEYS))
    );
    html!(
        body,
        "<div class=\"row\" style=\"margin-bottom:10px\"><span class=\"muted\">With selected:</span>\
         <button class=\"btn small approve\" type=\"submit\" name=\"action\" value=\"approve\" id=\"approve-selected\">Approve</button>\
         <button class=\"btn small reject\" type=\"submit\" name=\"action\" value=\"reject\" \
         data-confirm=\"Reject the selected conversions? Their commission will not be paid.\">Reject</button></div>"
    );
    html!(
        body,
        "<div class=\"table\"><table data-narrow-hide=\"3 4 7 9\"><thead><tr>\
         <th style=\"width:28px\"><input type=\"checkbox\" data-select-all aria-label=\"Select all\"></th>\
         <th>Order ID</th><th>Affiliate</th><th class=\"num\">Amount</th><th class=\"num\">Commission</th>\
         <th>Status</th><th>Source</th><th>Received</th><th></th></tr></thead><tbody>"
    );
    let now = crate::clock::now_ms();
    for c in &rows {
        body.buffer().push_str(row(c, now).as_str());
    }
    if rows.is_empty() {
        html!(body, "<tr><td colspan=\"9\" class=\"empty\">No conversions match.</td></tr>");
    }
    html!(body, "</tbody></table></div></form>");
    let first = if req.query("after").is_some() {
        fragment!(
            "<a href=\"/admin/conversions?{}\">← Newest</a>",
            html::query(&pairs(req, &["status", "affiliate", "from", "to"]))
        )
    } else {
        Html::new()
    };
    html!(
        body,
        "<div class=\"pager\"><span>{}</span>{}</div>",
        first,
        super::next_link(req, "/admin/conversions", "after", next)
    );
    Ok(Response::html(200, layout::page(req, "Conversions", "/admin/conversions", &notice, &body)))
}

/// The current value of the query parameters `keys`.
fn pairs<'a>(req: &'a Req, keys: &[&'a str]) -> Vec<(&'a str, &'a str)> {
    keys.iter().filter_map(|k| req.query(k).map(|v| (*k, v))).collect()
}

fn filters(ctx: &Ctx, req: &Req) -> Result<Html, Error> {
    let mut out = Html::new();
    html!(out, "<form class=\"filters\" method=\"get\" action=\"/admin/conversions\">");
    html!(out, "<label>Status<select name=\"status\"><option value=\"\">All</option>");
    for status in Status::ALL {
        let selected = if req.query("status") == Some(status.as_str()) { " selected" } else { "" };
        html!(out, "<option{}>{}</option>", Html::from_static(selected), status.as_str());
    }
    html!(out, "</select></label>");
    let chosen =
        |name: &str, value: &str| Html::from_static(if req.query(name) == Some(value) { " selected" } else { "" });
    html!(
        out,
        "<label>Data<select name=\"test\"><option value=\"\">Live</option><option value=\"true\"{}>Test</option></select></label>\
         <label>Fraud flags<select name=\"flagged\"><option value=\"\">Any</option>\
         <option value=\"true\"{}>Flagged</option><option value=\"false\"{}>Not flagged</option></select></label>",
        chosen("test", "true"),
        chosen("flagged", "true"),
        chosen("flagged", "false")
    );
    html!(
        out,
        "<label>Affiliate<input type=\"text\" name=\"affiliate\" list=\"affiliate-codes\" value=\"{}\" \
         placeholder=\"referral code\" size=\"14\"></label><datalist id=\"affiliate-codes\">",
        req.query("affiliate").unwrap_or("")
    );
    for a in affiliates::list(&ctx.db, 0, 500)? {
        html!(out, "<option value=\"{}\">{}</option>", a.referral_code, a.name);
    }
    html!(
        out,
        "</datalist><label>From<input type=\"date\" name=\"from\" value=\"{}\"></label>\
         <label>Before<input type=\"date\" name=\"to\" value=\"{}\"></label>\
         <label>Order ID<input type=\"search\" name=\"q\" value=\"{}\" placeholder=\"exact order ID\" size=\"16\"></label>\
         <button class=\"btn primary\" type=\"submit\">Filter</button><a class=\"btn link\" href=\"/admin/conversions\">Reset</a></form>",
        req.query("from").unwrap_or(""),
        req.query("to").unwrap_or(""),
        req.query("q").unwrap_or("")
    );
    Ok(out)
}

fn row(c: &Conversion, now: i64) -> Html {
    let mut out = Html::new();
    html!(
        out,
        "<tr id=\"conversion-{}\"><td><input type=\"checkbox\" name=\"id\" value=\"{}\" aria-label=\"Select {}\"></td>\
         <td class=\"mono\">{}</td><td><a href=\"/admin/conversions?affiliate={}\">{}</a></td>\
         <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"status\">{}{}</td><td><span class=\"tag\">{}</span></td>\
         <td class=\"when\" title=\"{}\">{}</td><td class=\"num\">",
        c.id,
        c.id,
        c.external_id,
        c.external_id,
        c.referral_code,
        c.referral_code,
        html::money(c.currency, c.remaining()),
        commission(c),
        html::badge(c.status.as_str()),
        marks(c),
        c.source.as_str(),
        html::time(c.created_at),
        html::ago(c.created_at, now)
    );
    if c.status == Status::Pending {
        html!(
            out,
            "<button class=\"btn small approve\" id=\"approve-{}\" type=\"submit\" formaction=\"/admin/conversions/{}/approve\">Approve</button> \
             <button class=\"btn small reject\" id=\"reject-{}\" type=\"submit\" formaction=\"/admin/conversions/{}/reject\" \
             data-confirm=\"Reject order {}? Its commission will not be paid.\">Reject</button>",
            c.id,
            c.id,
            c.id,
            c.id,
            c.external_id
        );
    }
    html!(out, "</td></tr>");
    out
}

/// The commission cell: struck through once rejected, when nobody is owed it.
fn commission(c: &Conversion) -> Html {
    let money = html::money(c.currency, c.commission);
    if c.credited_commission() == c.commission {
        return fragment!("{}", money);
    }
    fragment!("<s title=\"Rejected: this commission is not owed\">{}</s>", money)
}

/// The test badge, a partial refund, what the network reported besides the money (goal,
/// country, commission ID) and the fraud flags of a conversion, beside its status.
fn marks(c: &Conversion) -> Html {
    let mut out = Html::new();
    if c.test {
        html!(out, " <span class=\"tag test\">test</span>");
    }
    if c.refunded_amount > 0 && c.status != Status::Refunded {
        html!(
            out,
            " <span class=\"tag refund\" title=\"{} of the {} order refunded; the amount shown is what is left\">refunded {}</span>",
            html::money(c.currency, c.refunded_amount),
            html::money(c.currency, c.amount),
            html::money(c.currency, c.refunded_amount)
        );
    }
    for detail in [&c.details.goal, &c.details.geo, &c.details.commission_id].into_iter().flatten() {
        html!(out, " <span class=\"tag\">{}</span>", detail);
    }
    for flag in &c.flags {
        html!(
            out,
            " <span class=\"tag flag\" title=\"fraud rule: held for review\">{}</span>",
            flag.as_str().replace('_', " ")
        );
    }
    out
}

/// `POST /admin/conversions/decide`: approve or reject every selected conversion.
pub fn decide_selected(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let form = Form::parse(req)?;
    let to = match form.get("action") {
        Some("approve") => Status::Approved,
        Some("reject") => Status::Rejected,
        _ => return Err(Error::invalid("action", "must be approve or reject")),
    };
    let ids: Vec<i64> = form.all("id").filter_map(|id| id.parse().ok()).take(MAX_SELECTED).collect();
    decide(ctx, &form, ids, to)
}

pub fn approve(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    decide_one(ctx, req, Status::Approved)
}

pub fn reject(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    decide_one(ctx, req, Status::Rejected)
}

fn decide_one(ctx: &Ctx, req: &Req, to: Status) -> Result<Response, Error> {
    let id = req.param(0).parse::<i64>().map_err(|_| conversions::not_found(req.param(0)))?;
    decide(ctx, &Form::parse(req)?, vec![id], to)
}

/// Decides `ids` in one transaction and goes back to the list the form came from.
fn decide(ctx: &Ctx, form: &Form, ids: Vec<i64>, to: Status) -> Result<Response, Error> {
    let back: Vec<(String, String)> = form_urlencoded::parse(form.raw("back").as_bytes())
        .into_owned()
        .filter(|(k, _)| FILTER_KEYS.contains(&k.as_str()))
        .collect();
    let mut params: Vec<(&str, &str)> = back.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    if ids.is_empty() {
        params.push(("done", "none-selected"));
        return Ok(super::see_other("/admin/conversions", &params));
    }
    let (changed, refused) = intake::decide_many(&ctx.intake(), ids, to, "admin")?;
    let (changed, refused) = (changed.to_string(), refused.to_string());
    params.extend([("done", to.as_str()), ("n", &changed), ("skipped", &refused)]);
    Ok(super::see_other("/admin/conversions", &params))
}
