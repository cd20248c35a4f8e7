//! `/admin/offers`: list, create and edit offers (what a tracking link leads to and how its
//! conversions are paid). The field checks are the API's (`api::offers`).

use super::{PAGE_SIZE, see_other};
use crate::error::Error;
use crate::intake;
use crate::store::offers::{self, NewOffer, Offer};
use crate::tracking::commission::Rule;
use crate::tracking::money::Currency;
use crate::tracking::offer::{allowed_hosts, attribution, check_landing_url, click_window_days, rule};
use crate::tracking::validate;
use crate::transport::Req;
use crate::transport::response::Response;
use crate::ui::html::{Html, fragment, html};
use crate::ui::layout::{self, Notice};
use crate::web::Ctx;
use crate::web::form::Form;
use crate::web::json::Fields;

/// Reads an offer from the form. For an edit, `existing` fixes the id and currency, and keeps the
/// offer's rates per conversion type (set through the API; the page shows them).
fn from_form(form: &Form, existing: Option<(&Offer, Vec<(String, Rule)>)>) -> Result<NewOffer, Error> {
    let (existing, event_rates) = match existing {
        Some((o, rates)) => (Some(o), rates),
        None => (None, Vec::new()),
    };
    let public_id = match existing {
        Some(o) => o.public_id.clone(),
        None => {
            let id = form.required_text("id")?;
            validate::code(id).map_err(|e| Error::invalid("id", e))?;
            id.to_string()
        }
    };
    let name = form.required_text("name")?;
    validate::name(name).map_err(|e| Error::invalid("name", e))?;
    let landing_url = form.required_text("landing_url")?;
    check_landing_url(landing_url)?;
    let currency = match (existing, form.get("currency")) {
        (Some(o), _) => o.currency,
        (None, Some(code)) => crate::tracking::money::currency("currency", code)?,
        (None, None) => Currency::from_code("USD").expect("USD is known"),
    };
    let kind = form.get("commission_type").unwrap_or("percent");
    let value = match (form.get("commission_value"), event_rates.is_empty()) {
        (Some(value), _) => value,
        (None, false) => "0",
        (None, true) => return Err(Error::invalid("commission", "needs a value")),
    };
    let days = form
        .get("click_window_days")
        .map(|d| d.parse::<i64>().map_err(|_| Error::invalid("click_window_days", "must be a whole number of days")))
        .transpose()?;
    let limit = |field: &str, range: std::ops::RangeInclusive<i64>| -> Result<Option<i64>, Error> {
        form.get(field)
            .map(|v| {
                v.parse::<i64>()
                    .ok()
                    .filter(|n| range.contains(n))
                    .ok_or_else(|| Error::invalid(field, format!("must be from {} to {}", range.start(), range.end())))
            })
            .transpose()
    };
    let commission = match (existing, event_rates.is_empty()) {
        (Some(o), false) => o.commission,
        _ => rule(kind, value, currency)?,
    };
    Ok(NewOffer {
        public_id,
        name: name.to_string(),
        landing_url: landing_url.to_string(),
        commission,
        event_rates,
        attribution: attribution(form.get("attribution"))?,
        click_window_days: click_window_days(days)?,
        currency,
        make_default: form.get("default").is_some(),
        paused: form.get("paused").is_some(),
        recurring_months: limit("recurring_months", 1..=1200)?,
        max_conversions_per_click: limit("max_conversions_per_click", 1..=1_000_000)?,
        approve_after_days: limit("approve_after_days", 0..=3650)?,
        allowed_hosts: allowed_hosts(
            form.get("allowed_hosts").unwrap_or("").split([' ', ',', '\n', '\r', '\t']).filter(|h| !h.is_empty()),
        )?,
    })
}

/// The commission as the list shows it: one rule, or the rules per conversion type.
fn commission_summary(o: &Offer, rates: &[(String, Rule)]) -> String {
    if rates.is_empty() {
        return describe(o.commission, o.currency);
    }
    rates.iter().map(|(t, r)| format!("{t}: {}", describe(*r, o.currency))).collect::<Vec<_>>().join(", ")
}

fn describe(rule: Rule, currency: Currency) -> String {
    match rule {
        Rule::Percent { .. } => format!("{}%", rule.display_value(currency.minor_digits())),
        Rule::Flat { minor } => format!("{} flat", crate::ui::html::money(currency, minor)),
    }
}

pub fn page(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    list_page(ctx, req, super::notice(req), &Form::default(), 200)
}

fn list_page(ctx: &Ctx, req: &Req, notice: Notice, draft: &Form, status: u16) -> Result<Response, Error> {
    let after = req.query("after").and_then(|a| a.parse::<i64>().ok()).unwrap_or(0);
    let rows = offers::list(&ctx.db, after, PAGE_SIZE)?;
    let next = crate::web::views::next_cursor(&rows, PAGE_SIZE, |o| o.id.to_string());
    let mut body = fragment!(
        "<h1>Offers</h1><p class=\"sub\">Where tracking links lead and what conversions pay. Links without \
         <span class=\"mono\">?offer=</span> use the default offer.</p><div class=\"table\"><table data-narrow-hide=\"2 4 5 6\"><thead><tr>\
         <th>Name</th><th>ID</th><th>Commission</th><th>Attribution</th><th class=\"num\">Click window</th>\
         <th>Landing URL</th></tr></thead><tbody>"
    );
    for o in &rows {
        html!(
            body,
            "<tr><td><a href=\"/admin/offers/{}\">{}</a> {}</td><td class=\"mono\">{}</td><td>{}</td><td>{}</td>\
             <td class=\"num\">{} days</td><td class=\"mono clip\">{}</td></tr>",
            o.public_id,
            o.name,
            if o.is_default {
                Html::from_static("<span class=\"tag\">default</span>")
            } else if o.paused {
                Html::from_static("<span class=\"tag\">paused</span>")
            } else {
                Html::new()
            },
            o.public_id,
            commission_summary(o, &offers::event_rates(&ctx.db, o.id)?),
            o.attribution.as_str().replace('_', " "),
            o.click_window_days,
            o.landing_url
        );
    }
    if rows.is_empty() {
        html!(body, "<tr><td colspan=\"6\" class=\"empty\">No offers yet: create the first one below.</td></tr>");
    }
    html!(
        body,
        "</tbody></table></div><div class=\"pager\"><span></span>{}</div><h2>Create an offer</h2><div class=\"card\">\
         <form method=\"post\" action=\"/admin/offers\">{}{}</form></div>",
        super::next_link(req, "/admin/offers", "after", next),
        layout::csrf_field(req),
        fields(draft, None)
    );
    Ok(Response::html(status, layout::page(req, "Offers", "/admin/offers", &notice, &body)))
}

/// The stored offer's value of the form field `field`, as the form shows it (empty for a new
/// offer).
fn stored(existing: Option<&Offer>, field: &str) -> String {
    let Some(o) = existing else { return String::new() };
    match field {
        "name" => o.name.clone(),
        "landing_url" => o.landing_url.clone(),
        "commission_type" => o.commission.kind().to_string(),
        "commission_value" => o.commission.display_value(o.currency.minor_digits()),
        "attribution" => o.attribution.as_str().to_string(),
        "click_window_days" => o.click_window_days.to_string(),
        "recurring_months" => o.recurring_months.map(|n| n.to_string()).unwrap_or_default(),
        "max_conversions_per_click" => o.max_conversions_per_click.map(|n| n.to_string()).unwrap_or_default(),
        "approve_after_days" => o.approve_after_days.map(|d| d.to_string()).unwrap_or_default(),
        "allowed_hosts" => o.allowed_hosts.join(" "),
        _ => String::new(),
    }
}

/// The offer's inputs, filled from `draft` (after a failed post) or the stored offer.
fn fields(draft: &Form, existing: Option<&Offer>) -> Html {
    let value = |field: &str| if draft.has(field) { draft.raw(field).to_string() } else { stored(existing, field) };
    let selected = |field: &str, option: &str| {
        let current = value(field);
        Html::from_static(if current == option { " selected" } else { "" })
    };
    let mut out = Html::from_static("<div class=\"form-grid\">");
    html!(out, "<label>Name<input type=\"text\" name=\"name\" required value=\"{}\"></label>", value("name"));
    if existing.is_none() {
        html!(
            out,
            "<label>ID (in links: ?offer=ID)<input type=\"text\" name=\"id\" required value=\"{}\" placeholder=\"spring-sale\"></label>\
             <label>Currency<input type=\"text\" name=\"currency\" value=\"{}\" placeholder=\"USD\" maxlength=\"3\"></label>",
            draft.raw("id"),
            draft.raw("currency")
        );
    }
    let window = if value("click_window_days").is_empty() { "30".to_string() } else { value("click_window_days") };
    html!(
        out,
        "<label>Commission<select name=\"commission_type\"><option value=\"percent\"{}>percent of the amount</option>\
         <option value=\"flat\"{}>flat amount per conversion</option></select></label>\
         <label>Commission value<input type=\"text\" name=\"commission_value\" required value=\"{}\" placeholder=\"10\"></label>\
         <label>Attribution<select name=\"attribution\"><option value=\"last_click\"{}>last click</option>\
         <option value=\"first_click\"{}>first click</option></select></label>\
         <label>Click window (days)<input type=\"number\" name=\"click_window_days\" min=\"1\" max=\"3650\" value=\"{}\"></label>\
         <label>Approve after (days; empty: the server's default)<input type=\"number\" name=\"approve_after_days\" min=\"0\" max=\"3650\" value=\"{}\"></label></div>\
         <label style=\"margin-top:12px\">Landing URL<input type=\"url\" name=\"landing_url\" required style=\"width:100%\" value=\"{}\" \
         placeholder=\"https://shop.example/?ref={{referral_code}}&amp;cid={{click_id}}\"></label>\
         <label style=\"margin-top:12px\">Deep links may also lead to (host names separated by spaces; \
         <span class=\"mono\">*.shop.example</span> for every subdomain; the landing URL's host always may)\
         <input type=\"text\" name=\"allowed_hosts\" style=\"width:100%\" value=\"{}\" \
         placeholder=\"blog.shop.example *.cdn.shop.example\"></label>",
        selected("commission_type", "percent"),
        selected("commission_type", "flat"),
        value("commission_value"),
        selected("attribution", "last_click"),
        selected("attribution", "first_click"),
        window,
        value("approve_after_days"),
        value("landing_url"),
        value("allowed_hosts")
    );
    html!(
        out,
        "<div class=\"form-grid\" style=\"margin-top:12px\">\
         <label>Recurring commission for (months; empty: always)<input type=\"number\" name=\"recurring_months\" min=\"1\" max=\"1200\" value=\"{}\"></label>\
         <label>Conversions per click before flagging (empty: no limit)<input type=\"number\" name=\"max_conversions_per_click\" min=\"1\" value=\"{}\"></label></div>",
        value("recurring_months"),
        value("max_conversions_per_click")
    );
    let paused = if draft.has("csrf") { draft.has("paused") } else { existing.is_some_and(|o| o.paused) };
    html!(
        out,
        "<label class=\"check\" style=\"margin-top:12px\"><input type=\"checkbox\" name=\"paused\" value=\"1\"{}> Paused \
         (links still redirect, without a click; conversions are recorded as rejected)</label>",
        Html::from_static(if paused { " checked" } else { "" })
    );
    if !existing.is_some_and(|o| o.is_default) {
        html!(
            out,
            "<label class=\"check\" style=\"margin-top:12px\"><input type=\"checkbox\" name=\"default\" value=\"1\"{}> Make this the default offer</label>",
            Html::from_static(if draft.has("default") { " checked" } else { "" })
        );
    }
    html!(
        out,
        "<p style=\"margin:12px 0 0\"><button class=\"btn primary\" type=\"submit\">{}</button></p>",
        if existing.is_some() { "Save" } else { "Create offer" }
    );
    out
}

pub fn create(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let form = Form::parse(req)?;
    let new = match from_form(&form, None) {
        Ok(new) => new,
        Err(e) => return list_page(ctx, req, Notice::Error(e.message), &form, e.status),
    };
    match intake::offers::create(&ctx.intake(), new) {
        Ok(o) => Ok(see_other(&format!("/admin/offers/{}", o.public_id), &[("done", "created")])),
        Err(e) if e.status < 500 => list_page(ctx, req, Notice::Error(e.message), &form, e.status),
        Err(e) => Err(e),
    }
}

fn find(ctx: &Ctx, req: &Req) -> Result<Offer, Error> {
    offers::named_or_default(&ctx.db, Some(req.param(0)))
}

pub fn edit(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let offer = find(ctx, req)?;
    let rates = offers::event_rates(&ctx.db, offer.id)?;
    edit_page(req, &offer, &rates, super::notice(req), &Form::default(), 200)
}

fn edit_page(
    req: &Req,
    o: &Offer,
    rates: &[(String, Rule)],
    notice: Notice,
    draft: &Form,
    status: u16,
) -> Result<Response, Error> {
    let mut per_type = Html::new();
    if !rates.is_empty() {
        let listed: Vec<String> = rates.iter().map(|(t, r)| format!("{t}: {}", describe(*r, o.currency))).collect();
        html!(
            per_type,
            "<p class=\"sub\">Rates per conversion type (set through the API; other types earn nothing): {}</p>",
            listed.join(" · ")
        );
    }
    let body = fragment!(
        "<p class=\"muted\" style=\"margin:18px 0 0\"><a href=\"/admin/offers\">Offers</a> /</p><h1>{} {}{}</h1>\
         <p class=\"sub\"><span class=\"mono\">{}</span> · paid in {} · a changed commission applies to new conversions only</p>{}\
         <div class=\"card\"><form method=\"post\" action=\"/admin/offers/{}\">{}{}</form></div>",
        o.name,
        if o.is_default { Html::from_static("<span class=\"tag\">default</span>") } else { Html::new() },
        if o.paused { Html::from_static(" <span class=\"tag\">paused</span>") } else { Html::new() },
        o.public_id,
        o.currency.code(),
        per_type,
        o.public_id,
        layout::csrf_field(req),
        fields(draft, Some(o))
    );
    Ok(Response::html(status, layout::page(req, &o.name, "/admin/offers", &notice, &body)))
}

pub fn update(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let offer = find(ctx, req)?;
    let rates = offers::event_rates(&ctx.db, offer.id)?;
    let form = Form::parse(req)?;
    let changes = match from_form(&form, Some((&offer, rates.clone()))) {
        Ok(changes) => changes,
        Err(e) => return edit_page(req, &offer, &rates, Notice::Error(e.message), &form, e.status),
    };
    let updated = intake::offers::update(&ctx.intake(), offer.id, changes)?;
    Ok(see_other(&format!("/admin/offers/{}", updated.public_id), &[("done", "saved")]))
}
