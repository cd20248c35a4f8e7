//! `/admin`: a period's clicks, conversions, revenue and commission, per day and per affiliate.
//! Everything comes from the daily rollups (`daily_clicks`, `daily_conversions`), so the page
//! costs the same with a million conversions as with ten. Conversions are counted on the day
//! they were created, in their current status; rejected ones count for nothing but are shown.
//! The conversion rate is the share of the period's clicks that led to a conversion
//! (`tracking::rate`): conversions without a click (coupons, customers) are not in it.

use std::collections::{BTreeMap, HashMap};

use crate::error::Error;
use crate::store::{affiliates, reports};
use crate::tracking::conversion::{ByStatus, Status};
use crate::tracking::money::Currency;
use crate::transport::Req;
use crate::transport::response::Response;
use crate::ui::chart::{self, Bar};
use crate::ui::dashboard::{Amounts, chart_classes, chart_values, kpi, legend_swatches, rate_kpi, short_day};
use crate::ui::html::{self, Html, fragment, html};
use crate::ui::layout;
use crate::web::Ctx;
use crate::web::period::Period;

/// Affiliates listed at most (by revenue).
const MAX_AFFILIATES: usize = 50;
const PRESETS: &[i64] = &[7, 30, 90, 365];
#[derive(Default)]
struct Totals {
    clicks: i64,
    /// Of those clicks, the ones that led to a conversion (`tracking::rate`).
    converted: i64,
    by_status: ByStatus,
    revenue: Amounts,
    pending: Amounts,
    approved: Amounts,
}

impl Totals {
    fn add(&mut self, row: &reports::DayTotals) {
        self.by_status.add(row.status, row.conversions);
        if row.status.counts() {
            self.revenue.add(row.currency, row.revenue);
        }
        match row.status {
            Status::Pending => self.pending.add(row.currency, row.commission),
            Status::Approved => self.approved.add(row.currency, row.commission),
            _ => {}
        }
    }

    /// Conversions that count ([`Status::counts`]).
    fn conversions(&self) -> i64 {
        self.by_status.counted()
    }

    fn rejected(&self) -> i64 {
        self.by_status.of(Status::Rejected)
    }

    fn add_clicks(&mut self, row: &reports::ClickTotals) {
        self.clicks += row.clicks;
        self.converted += row.converted;
    }
}

fn period(req: &Req) -> Result<Period, Error> {
    if req.query("from").is_none()
        && req.query("to").is_none()
        && let Some(days) = req.query("days").and_then(|d| d.parse::<i64>().ok()).filter(|d| PRESETS.contains(d))
    {
        return Ok(Period::last_days(days, crate::clock::now_ms()));
    }
    Period::from_query(req, 30)
}

pub fn page(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let period = period(req)?;
    let mut total = Totals::default();
    let mut days: Vec<Totals> = (0..period.days()).map(|_| Totals::default()).collect();
    let mut by_affiliate: HashMap<i64, Totals> = HashMap::new();
    for row in reports::conversion_totals(&ctx.db, period.from_day, period.to_day)? {
        total.add(&row);
        days[(row.day - period.from_day) as usize].add(&row);
        by_affiliate.entry(row.affiliate_id).or_default().add(&row);
    }
    for row in reports::click_totals(&ctx.db, period.from_day, period.to_day)? {
        total.add_clicks(&row);
        days[(row.day - period.from_day) as usize].add_clicks(&row);
        by_affiliate.entry(row.affiliate_id).or_default().add_clicks(&row);
    }
    // The chart shows the currency with the most revenue.
    let main_currency = total
        .revenue
        .0
        .iter()
        .max_by_key(|(c, v)| (*v, std::cmp::Reverse(c.code())))
        .map(|(c, _)| *c)
        .unwrap_or_else(|| Currency::from_code("USD").expect("USD is known"));

    let mut body = Html::new();
    html!(
        body,
        "<div class=\"spread\" style=\"margin-bottom:14px\"><div><h1>Overview</h1><p class=\"sub\" style=\"margin:0\">{} to {} (UTC) · {} days</p></div>{}</div>",
        crate::clock::day_text(period.from_day),
        crate::clock::day_text(period.to_day - 1),
        period.days(),
        period_picker(req, period)
    );
    html!(body, "{}{}", cards(&total), charts(&days, period, main_currency));
    body.buffer().push_str(affiliate_table(ctx, &by_affiliate, main_currency)?.as_str());
    body.buffer().push_str(payouts_card(period).as_str());
    Ok(Response::html(200, layout::page(req, "Overview", "/admin", &super::notice(req), &body)))
}

/// The period's figures, one card each.
fn cards(total: &Totals) -> Html {
    let mut body = Html::new();
    html!(
        body,
        "<div class=\"cards\">{}{}{}{}{}{}</div>",
        kpi("Clicks", &fragment!("{}", html::count(total.clicks)), ""),
        kpi(
            "Conversions",
            &fragment!("{}", html::count(total.conversions())),
            &if total.rejected() > 0 { format!("{} rejected", html::count(total.rejected())) } else { String::new() }
        ),
        rate_kpi(total.converted, total.clicks),
        kpi("Revenue", &total.revenue.html(), "net of refunds"),
        kpi("Commission pending", &total.pending.html(), "to review"),
        kpi("Commission approved", &total.approved.html(), "of this period's conversions"),
    );
    body
}

/// The revenue chart (in the main currency) and the conversions-by-status chart, a bar a day.
fn charts(days: &[Totals], period: Period, main_currency: Currency) -> Html {
    let mut body = Html::new();
    let revenue_bars: Vec<Bar> = days
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let day = period.from_day + i as i64;
            let revenue = d.revenue.of(main_currency);
            Bar {
                label: short_day(day),
                title: format!(
                    "{}: {} revenue, {} conversions, {} clicks",
                    crate::clock::day_text(day),
                    html::money(main_currency, revenue),
                    html::count(d.conversions()),
                    html::count(d.clicks)
                ),
                values: vec![revenue],
            }
        })
        .collect();
    let axis_money = |v: i64| html::money(main_currency, v).trim_end_matches(".00").to_string();
    html!(
        body,
        "<div class=\"card\"><div class=\"spread\"><h2>Revenue per day ({})</h2></div>{}</div>",
        main_currency.code(),
        chart::stacked_bars("Revenue per day", &["bar-revenue"], &revenue_bars, &axis_money)
    );
    let conversion_bars: Vec<Bar> = days
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let day = period.from_day + i as i64;
            let (values, title) = chart_values(&d.by_status);
            Bar { label: short_day(day), title: format!("{}: {title}", crate::clock::day_text(day)), values }
        })
        .collect();
    html!(
        body,
        "<div class=\"card\" style=\"margin-top:12px\"><div class=\"spread\"><h2>Conversions per day</h2>\
         <div class=\"legend\">{}</div></div>{}</div>",
        legend_swatches(),
        chart::stacked_bars(
            "Conversions per day by status",
            &chart_classes().iter().map(String::as_str).collect::<Vec<_>>(),
            &conversion_bars,
            &|v| html::count(v)
        )
    );
    body
}

fn period_picker(req: &Req, period: Period) -> Html {
    let mut out = Html::from_static("<form class=\"filters\" method=\"get\" action=\"/admin\" style=\"margin:0\">");
    for days in PRESETS {
        let on = req.query("from").is_none() && period == Period::last_days(*days, crate::clock::now_ms());
        html!(
            out,
            "<a class=\"btn{}\" href=\"/admin?days={}\">{} days</a>",
            if on { " primary" } else { "" },
            *days,
            *days
        );
    }
    html!(
        out,
        "<label>From<input type=\"date\" name=\"from\" value=\"{}\"></label><label>Before<input type=\"date\" name=\"to\" value=\"{}\"></label>\
         <button class=\"btn\" type=\"submit\">Show</button></form>",
        crate::clock::day_text(period.from_day),
        crate::clock::day_text(period.to_day)
    );
    out
}

fn affiliate_table(ctx: &Ctx, by_affiliate: &HashMap<i64, Totals>, main: Currency) -> Result<Html, Error> {
    let mut rows: Vec<(&i64, &Totals)> = by_affiliate.iter().collect();
    rows.sort_by_key(|(id, t)| (-t.revenue.of(main), -t.conversions(), -t.clicks, **id));
    let mut out = fragment!(
        "<h2>By affiliate</h2><div class=\"table\"><table data-narrow-hide=\"2 4 6 7\"><thead><tr><th>Affiliate</th><th class=\"num\">Clicks</th>\
         <th class=\"num\">Conversions</th>\
         <th class=\"num\" title=\"Share of the clicks that led to a conversion\">Conv. rate</th><th class=\"num\">Revenue</th>\
         <th class=\"num\">Commission pending</th><th class=\"num\">Commission approved</th></tr></thead><tbody>"
    );
    let names: BTreeMap<i64, affiliates::Affiliate> = rows
        .iter()
        .take(MAX_AFFILIATES)
        .filter_map(|(id, _)| affiliates::get(&ctx.db, **id).transpose())
        .map(|a| a.map(|a| (a.id, a)))
        .collect::<Result<_, _>>()?;
    for (id, t) in rows.iter().take(MAX_AFFILIATES) {
        let Some(a) = names.get(id) else { continue };
        html!(
            out,
            "<tr><td><a href=\"/admin/affiliates/{}\">{}</a> <span class=\"muted mono\">{}</span></td>\
             <td class=\"num\">{}</td><td class=\"num\"><a href=\"/admin/conversions?affiliate={}\">{}</a></td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            a.referral_code,
            a.name,
            a.referral_code,
            html::count(t.clicks),
            a.referral_code,
            html::count(t.conversions()),
            html::conversion_rate(t.converted, t.clicks),
            t.revenue.html(),
            t.pending.html(),
            t.approved.html()
        );
    }
    if rows.is_empty() {
        html!(out, "<tr><td colspan=\"7\" class=\"empty\">No clicks or conversions in this period.</td></tr>");
    }
    html!(out, "</tbody></table></div>");
    if rows.len() > MAX_AFFILIATES {
        html!(
            out,
            "<p class=\"muted\">Showing the top {} of {} affiliates by revenue.</p>",
            MAX_AFFILIATES,
            rows.len()
        );
    }
    Ok(out)
}

fn payouts_card(period: Period) -> Html {
    let [(_, from), (_, to)] = period.params();
    fragment!(
        "<h2>Payouts</h2><div class=\"card\"><form class=\"filters\" method=\"get\" action=\"/admin/export/commissions.csv\" style=\"margin:0\">\
         <label>Commission<select name=\"status\"><option value=\"approved\">approved (booked in the period)</option>\
         <option value=\"pending\">pending</option><option value=\"rejected\">rejected</option><option value=\"refunded\">refunded</option></select></label>\
         <label>From<input type=\"date\" name=\"from\" value=\"{}\"></label><label>Before<input type=\"date\" name=\"to\" value=\"{}\"></label>\
         <button class=\"btn primary\" type=\"submit\">Download payouts CSV</button></form>\
         <p class=\"muted\" style=\"margin:8px 0 0\">One row per affiliate and currency. Approved commission is counted when it was \
         approved, minus claw-backs of refunded orders; other statuses by the day of the order. \
         <a href=\"/admin/export/conversions.csv?{}\">All conversions of the period as CSV</a>.</p></div>",
        from,
        to,
        html::query(&[("from", &from), ("to", &to)])
    )
}
