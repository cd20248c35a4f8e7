//! `/admin/export/commissions.csv` (what to pay each affiliate) and
//! `/admin/export/conversions.csv` (one row per conversion, streamed: `web::download`). Both
//! take `from` and `to` (`YYYY-MM-DD`, UTC, `to` not included), defaulting to the last 30 days.

use crate::clock::day_text;
use crate::error::Error;
use crate::shapes::csv::{Cell, write_row};
use crate::store::conversions;
use crate::store::reports;
use crate::tracking::conversion::{Conversion, Status};
use crate::transport::Req;
use crate::transport::response::Response;
use crate::web::period::Period;
use crate::web::{Ctx, download};

fn file_name(name: &str, period: Period) -> String {
    format!("{name}-{}-to-{}.csv", day_text(period.from_day), day_text(period.to_day - 1))
}

/// One row per (affiliate, currency). `status=approved` (the default) sums the commission
/// ledger booked in the period: approvals minus claw-backs, the amount to pay out. Any other
/// status sums the current commission of conversions with that status created in the period.
pub fn commissions(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let period = Period::from_query(req, 30)?;
    let status = match req.query("status") {
        None => Status::Approved,
        Some(s) => Status::parse(s)
            .ok_or_else(|| Error::invalid("status", "must be approved, pending, rejected or refunded"))?,
    };
    let payouts = if status == Status::Approved {
        reports::approved_payouts(&ctx.db, period.start_ms(), period.end_ms())?
    } else {
        reports::status_payouts(&ctx.db, status, period.from_day, period.to_day)?
    };
    let mut out = String::with_capacity(128 + payouts.len() * 96);
    write_row(&mut out, &["referral_code", "name", "email", "currency", "conversions", "commission"].map(Cell::Text));
    for p in &payouts {
        write_row(
            &mut out,
            &[
                Cell::Text(&p.referral_code),
                Cell::Text(&p.name),
                Cell::Text(p.email.as_deref().unwrap_or("")),
                Cell::Text(p.currency.code()),
                Cell::Number(p.conversions.to_string()),
                Cell::Number(p.currency.format(p.commission)),
            ],
        );
    }
    Ok(Response::csv(&file_name(&format!("commissions-{}", status.as_str()), period), out))
}

const CONVERSION_COLUMNS: [&str; 23] = [
    "id",
    "order_id",
    "created_at",
    "referral_code",
    "offer",
    "type",
    "status",
    "source",
    "attributed_by",
    "currency",
    "amount",
    "refunded_amount",
    "commission",
    "click_id",
    "customer_id",
    "coupon",
    "goal",
    "geo",
    "commission_id",
    "rate_source",
    "flags",
    "test",
    "commission_credited",
];

/// The conversions the list page shows (same `status`, `affiliate` and `q` filters), newest first:
/// every one of the period, streamed a page at a time as it is sent (no cap: a merchant's
/// books are theirs whole).
pub fn conversions(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let period = Period::from_query(req, 30)?;
    let mut selection = super::conversions::selection(ctx, req)?;
    if let Some(problem) = selection.problem {
        return Err(Error::not_found("not_found", problem));
    }
    selection.filter.since = Some(period.start_ms());
    selection.filter.until = Some(period.end_ms());
    let pages: Box<dyn Iterator<Item = Result<Vec<Conversion>, Error>> + Send> = match &selection.order_id {
        Some(id) => Box::new(std::iter::once(conversions::with_external_id(&ctx.db, id))),
        None => Box::new(conversions::Pages::open(&ctx.config.db, selection.filter, download::PAGE_ROWS)?),
    };
    let mut header = String::new();
    write_row(&mut header, &CONVERSION_COLUMNS.map(Cell::Text));
    Ok(download::csv(&file_name("conversions", period), header, pages, conversion_row))
}

fn conversion_row(out: &mut String, c: &Conversion) {
    write_row(
        out,
        &[
            Cell::Number(c.id.to_string()),
            Cell::Text(&c.external_id),
            Cell::Text(&crate::clock::rfc3339(c.created_at)),
            Cell::Text(&c.referral_code),
            Cell::Text(&c.offer),
            Cell::Text(&c.kind),
            Cell::Text(c.status.as_str()),
            Cell::Text(c.source.as_str()),
            Cell::Text(c.attributed_by.as_str()),
            Cell::Text(c.currency.code()),
            Cell::Number(c.currency.format(c.amount)),
            Cell::Number(c.currency.format(c.refunded_amount)),
            Cell::Number(c.currency.format(c.commission)),
            Cell::Text(c.click_id.as_deref().unwrap_or("")),
            Cell::Text(c.customer_id.as_deref().unwrap_or("")),
            Cell::Text(c.coupon.as_deref().unwrap_or("")),
            Cell::Text(c.details.goal.as_deref().unwrap_or("")),
            Cell::Text(c.details.geo.as_deref().unwrap_or("")),
            Cell::Text(c.details.commission_id.as_deref().unwrap_or("")),
            Cell::Text(c.rate_source.as_str()),
            Cell::Text(&c.flags.iter().map(|f| f.as_str()).collect::<Vec<_>>().join(" ")),
            Cell::Text(if c.test { "true" } else { "false" }),
            Cell::Number(c.currency.format(c.credited_commission())),
        ],
    );
}
