//! `/api/v1/payouts`: payout runs, the payouts they make, marking them paid or cancelling them,
//! and their files (PayPal bulk CSV or a generic CSV). Rules live in `tracking::payout`, the
//! writes in `store::payouts`.

use crate::error::Error;
use crate::http::books::files::{self, Format};
use crate::http::json::Body;
use crate::http::response::Response;
use crate::http::{Ctx, Req, views};
use crate::store::affiliates;
use crate::store::payouts::{self, Filter, Run, RunOutcome, Transition};
use crate::tracking::money;
use crate::tracking::payout::Payout;
use crate::tracking::payout::{self as rules, Status};

/// A payout with the entries it holds, as the API shows it.
pub fn view(conn: &rusqlite::Connection, p: &Payout) -> Result<serde_json::Value, Error> {
    Ok(views::payout(p, &payouts::items(conn, p.id)?))
}

fn page(conn: &rusqlite::Connection, rows: &[Payout]) -> Result<Vec<serde_json::Value>, Error> {
    rows.iter().map(|p| view(conn, p)).collect()
}

/// Reads a run request (API body or admin form values).
pub fn run_request(currency: Option<&str>, minimum: Option<&str>, run_id: Option<&str>) -> Result<Run, Error> {
    let currency = money::currency("currency", currency.ok_or_else(|| Error::missing("currency"))?)?;
    let minimum = match minimum {
        Some(text) => currency.parse(text).map_err(|e| Error::invalid("minimum", e))?,
        None => 0,
    };
    if let Some(id) = run_id {
        rules::check_run_id(id)?;
    }
    Ok(Run { currency, minimum, run_id: run_id.map(String::from) })
}

/// Makes a run: candidates are read on this worker's connection, then decided again one by one
/// on the writer (reading before writing never decides).
pub fn make_run(ctx: &Ctx, run: Run) -> Result<RunOutcome, Error> {
    let candidates = payouts::candidates(&ctx.db, run.currency, run.minimum)?;
    let now = crate::clock::now_ms();
    ctx.writer.run(move |conn| payouts::create_run(conn, &run, &candidates, now))
}

/// `POST /api/v1/payouts` `{currency, minimum?, run_id?}`: 201 with the payouts the run made.
/// The same `run_id` again answers with that run's payouts and makes nothing.
pub fn create(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let body = Body::parse(&req.body, &["currency", "minimum", "run_id"])?;
    let minimum = body.amount("minimum")?;
    let run = run_request(body.str("currency")?, minimum.as_deref(), body.id_text("run_id")?.as_deref())?;
    let made = match make_run(ctx, run)? {
        RunOutcome::Created(made) | RunOutcome::Repeated(made) => made,
    };
    Ok(Response::json(201, &views::page(page(&ctx.db, &made)?, None)))
}

pub fn list(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let limit = super::limit(req)?;
    let before = super::cursor(req)?;
    let mut filter = Filter::default();
    if let Some(s) = req.query("status") {
        filter.status =
            Some(Status::parse(s).ok_or_else(|| Error::invalid("status", "must be pending, paid or cancelled"))?);
    }
    if let Some(code) = req.query("referral_code") {
        filter.affiliate_id = Some(affiliates::require_id(&ctx.db, code)?);
    }
    if let Some(code) = req.query("currency") {
        filter.currency = Some(money::currency("currency", code)?);
    }
    if let Some(run) = req.query("run") {
        filter.run = Some(run.parse().map_err(|_| Error::invalid("run", "must be a run number"))?);
    }
    let rows = payouts::list(&ctx.db, &filter, before, limit)?;
    let next = views::next_cursor(&rows, limit, |p| p.id.to_string());
    Ok(Response::json(200, &views::page(page(&ctx.db, &rows)?, next)))
}

fn find(ctx: &Ctx, req: &Req) -> Result<Payout, Error> {
    let id: i64 = req.param(0).parse().map_err(|_| payouts::not_found(req.param(0)))?;
    payouts::get(&ctx.db, id)?.ok_or_else(|| payouts::not_found(id))
}

pub fn get(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let payout = find(ctx, req)?;
    Ok(Response::json(200, &view(&ctx.db, &payout)?))
}

/// `POST /api/v1/payouts/{id}/mark-paid` `{reference?}`.
pub fn mark_paid(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let body = Body::parse(&req.body, &["reference"])?;
    let reference = body.str("reference")?.map(String::from);
    if let Some(r) = &reference {
        rules::check_reference(r)?;
    }
    let id = find(ctx, req)?.id;
    let now = crate::clock::now_ms();
    let outcome = ctx.writer.run(move |conn| payouts::mark_paid(conn, id, reference.as_deref(), now))?;
    answer(ctx, id, Status::Paid, outcome)
}

/// `POST /api/v1/payouts/{id}/cancel`.
pub fn cancel(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    super::no_fields(req)?;
    let id = find(ctx, req)?.id;
    let now = crate::clock::now_ms();
    let outcome = ctx.writer.run(move |conn| payouts::cancel(conn, id, now))?;
    answer(ctx, id, Status::Cancelled, outcome)
}

/// 200 with the payout; 409 `invalid_status_transition` with it if it was not pending.
pub fn answer(ctx: &Ctx, id: i64, to: Status, outcome: Transition) -> Result<Response, Error> {
    match outcome {
        Transition::Changed(p) => Ok(Response::json(200, &view(&ctx.db, &p)?)),
        Transition::Refused(p) => Err(rules::refused(id, p.status, to).with_extra("payout", view(&ctx.db, &p)?)),
        Transition::NotFound => Err(payouts::not_found(id)),
    }
}

/// `GET /api/v1/payouts/{id}/export?format=paypal|csv`.
pub fn export(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let format = Format::parse(req.query("format"))?;
    let payout = find(ctx, req)?;
    files::render(format, &[&payout], &format!("payout-{}", payout.id))
}
