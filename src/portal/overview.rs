//! `/portal`: the affiliate's last 30 days (clicks, conversions and commission per day, as inline
//! SVG charts drawn on the server) and their balance per currency from the ledger (pending,
//! available, in payouts, paid). Days come from the daily rollups, looked up by primary key for
//! this one affiliate (`store::reports::affiliate_*_totals`), so the page costs the same however
//! many affiliates and conversions there are. Test data is never in the rollups.

use super::{layout, me};
use crate::error::Error;
use crate::store::{ledger, reports};
use crate::tracking::conversion::{ByStatus, Status};
use crate::tracking::money::Currency;
use crate::transport::Req;
use crate::transport::response::Response;
use crate::ui::chart::{self, Bar};
use crate::ui::dashboard::{Amounts, chart_classes, chart_values, kpi, legend_swatches, rate_kpi, short_day};
use crate::ui::html::{self, Html, fragment, html};
use crate::ui::layout::Notice;
use crate::web::Ctx;
use crate::web::period::Period;

/// Days the overview shows.
pub const DAYS: i64 = 30;

/// One day's figures.
#[derive(Default)]
struct Day {
    clicks: i64,
    /// Of those clicks, the ones that led to a conversion (`tracking::rate`).
    converted: i64,
    by_status: ByStatus,
    /// Commission of approved (first) and pending (second) conversions, per currency.
    approved: Amounts,
    pending: Amounts,
}

impl Day {
    fn add(&mut self, row: &reports::DayTotals) {
        self.by_status.add(row.status, row.conversions);
        match row.status {
            Status::Approved => self.approved.add(row.currency, row.commission),
            Status::Pending => self.pending.add(row.currency, row.commission),
            _ => {}
        }
    }

    /// Conversions that count ([`Status::counts`]).
    fn conversions(&self) -> i64 {
        self.by_status.counted()
    }
}

pub fn page(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let me = me(ctx, req)?;
    let period = Period::last_days(DAYS, crate::clock::now_ms());
    let mut days: Vec<Day> = (0..period.days()).map(|_| Day::default()).collect();
    let mut total = Day::default();
    for row in reports::affiliate_conversion_totals(&ctx.db, me.id, period.from_day, period.to_day)? {
        days[(row.day - period.from_day) as usize].add(&row);
        total.add(&row);
    }
    for row in reports::affiliate_click_totals(&ctx.db, me.id, period.from_day, period.to_day)? {
        for d in [&mut days[(row.day - period.from_day) as usize], &mut total] {
            d.clicks += row.clicks;
            d.converted += row.converted;
        }
    }
    let mut earned = total.approved.clone();
    for (currency, minor) in &total.pending.0 {
        earned.add(*currency, *minor);
    }
    // The chart shows the currency with the most commission.
    let main = earned
        .0
        .iter()
        .max_by_key(|(c, v)| (*v, std::cmp::Reverse(c.code())))
        .map(|(c, _)| *c)
        .unwrap_or_else(|| Currency::from_code("USD").expect("USD is known"));

    let mut body = fragment!(
        "<h1>Hello, {}</h1><p class=\"sub\">Your last {} days, {} to {} (UTC). Referral code <span class=\"mono\">{}</span>.</p>",
        me.name,
        DAYS,
        crate::clock::day_text(period.from_day),
        crate::clock::day_text(period.to_day - 1),
        me.referral_code
    );
    html!(
        body,
        "<div class=\"cards\">{}{}{}{}</div>",
        kpi("Clicks", &fragment!("{}", html::count(total.clicks)), ""),
        kpi("Conversions", &fragment!("{}", html::count(total.conversions())), "not counting rejected ones"),
        rate_kpi(total.converted, total.clicks),
        kpi("Commission", &earned.html(), "approved and pending"),
    );
    body.buffer().push_str(charts(&days, period, main).as_str());
    body.buffer().push_str(balances(ctx, me.id)?.as_str());
    Ok(Response::html(200, layout::page(req, "Overview", "/portal", &Notice::None, &body)))
}

fn charts(days: &[Day], period: Period, main: Currency) -> Html {
    let title = |day: i64, d: &Day| {
        format!(
            "{}: {} clicks, {} conversions, {} commission",
            crate::clock::day_text(day),
            html::count(d.clicks),
            html::count(d.conversions()),
            html::money(main, d.approved.of(main) + d.pending.of(main))
        )
    };
    let bars = |values: &dyn Fn(&Day) -> Vec<i64>| -> Vec<Bar> {
        days.iter()
            .enumerate()
            .map(|(i, d)| {
                let day = period.from_day + i as i64;
                Bar { label: short_day(day), title: title(day, d), values: values(d) }
            })
            .collect()
    };
    let money_axis = |v: i64| html::money(main, v).trim_end_matches(".00").to_string();
    let count_axis = |v: i64| html::count(v);
    fragment!(
        "<div class=\"card\"><div class=\"spread\"><h2>Commission per day ({})</h2><div class=\"legend\">\
         <span><i style=\"background:#22a35a\"></i>approved</span><span><i style=\"background:#f0a53a\"></i>pending</span>\
         </div></div>{}</div>\
         <div class=\"card\" style=\"margin-top:12px\"><div class=\"spread\"><h2>Conversions per day</h2>\
         <div class=\"legend\">{}</div></div>{}</div>\
         <div class=\"card\" style=\"margin-top:12px\"><h2>Clicks per day</h2>{}</div>",
        main.code(),
        chart::stacked_bars(
            "Commission per day",
            &["s-approved", "s-pending"],
            &bars(&|d| vec![d.approved.of(main), d.pending.of(main)]),
            &money_axis
        ),
        legend_swatches(),
        chart::stacked_bars(
            "Conversions per day by status",
            &chart_classes().iter().map(String::as_str).collect::<Vec<_>>(),
            &bars(&|d| chart_values(&d.by_status).0),
            &count_axis
        ),
        chart::stacked_bars("Clicks per day", &["bar-revenue"], &bars(&|d| vec![d.clicks]), &count_axis)
    )
}

fn balances(ctx: &Ctx, affiliate_id: i64) -> Result<Html, Error> {
    let rows = ledger::balances(&ctx.db, affiliate_id)?;
    let mut out = Html::from_static(
        "<div class=\"spread\"><h2>Your balance</h2><a class=\"btn small\" href=\"/portal/statement.json\" \
         download>Download signed statement</a></div>\
         <div class=\"table\"><table data-narrow-hide=\"4\"><thead><tr><th>Currency</th><th class=\"num\">Pending</th>\
         <th class=\"num\">Available</th><th class=\"num\">In payouts</th><th class=\"num\">Paid</th></tr></thead><tbody>",
    );
    for (currency, b) in &rows {
        html!(
            out,
            "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\"><strong>{}</strong></td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td></tr>",
            currency.code(),
            html::money(*currency, b.pending),
            html::money(*currency, b.available),
            html::money(*currency, b.in_payouts),
            html::money(*currency, b.paid)
        );
    }
    if rows.is_empty() {
        html!(out, "<tr><td colspan=\"5\" class=\"empty\">No commission yet.</td></tr>");
    }
    html!(
        out,
        "</tbody></table></div><p class=\"muted\">Pending: commission on conversions not approved yet. Available: \
         approved and not in a payout yet (refunds after a payout are taken off here). In payouts: in a payout \
         that is not paid yet. Paid: paid out. The signed statement lists every entry behind these figures; \
         keep it to check later that none was removed or changed.</p>"
    );
    Ok(out)
}
