//! `/api/v1/payouts`: payout runs, the payouts they make, marking them paid or cancelling them,
//! and their files (PayPal bulk CSV or a generic CSV). Rules live in `tracking::payout`, the
//! writes in `store::payouts`.

use crate::error::Error;
use crate::intake;
use crate::shapes::payout_files::{self, Format};
use crate::store::affiliates;
use crate::store::payout_runs::Outcome;
use crate::store::payouts::{self, Filter, Transition};
use crate::tracking::money;
use crate::tracking::payout::{self as rules, Payout, Run, Status};
use crate::transport::Req;
use crate::transport::response::Response;
use crate::web::json::Body;
use crate::web::{Ctx, views};

/// A payout with the first entries it holds (the rest are paged: [`items`]), as the API shows
/// it.
pub fn view(conn: &rusqlite::Connection, p: &Payout) -> Result<serde_json::Value, Error> {
    Ok(views::payout(p, &payouts::items_shown(conn, p.id)?))
}

fn page(conn: &rusqlite::Connection, rows: &[Payout]) -> Result<Vec<serde_json::Value>, Error> {
    rows.iter().map(|p| view(conn, p)).collect()
}

/// `POST /api/v1/payouts` `{currency, minimum?, run_id?}`: 201 with the run (`run`: where it
/// stands, how many payouts, how much) and the first page of its payouts, newest first, as
/// `GET /api/v1/payouts?run=` pages them (`next_cursor` continues there). The same `run_id`
/// again answers with that run and makes nothing.
pub fn create(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let body = Body::parse(&req.body, &["currency", "minimum", "run_id"])?;
    let minimum = body.amount("minimum")?;
    let run = Run::read(body.str("currency")?, minimum.as_deref(), body.id_text("run_id")?.as_deref())?;
    let (Outcome::Created(id) | Outcome::Repeated(id)) = intake::payouts::make_run(&ctx.intake(), run)?;
    let summary = payouts::run(&ctx.db, id)?.ok_or_else(|| Error::internal("the run just made is missing"))?;
    let limit = super::DEFAULT_LIMIT;
    let made = payouts::list(&ctx.db, &Filter { run: Some(id), ..Filter::default() }, None, limit)?;
    let next = views::next_cursor(&made, limit, |p| p.id.to_string());
    let mut answer = views::page(page(&ctx.db, &made)?, next);
    answer["run"] = views::payout_run(&summary);
    Ok(Response::json(201, &answer))
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
    let id = req.id(0, payouts::not_found)?;
    payouts::get(&ctx.db, id)?.ok_or_else(|| payouts::not_found(id))
}

pub fn get(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let payout = find(ctx, req)?;
    Ok(Response::json(200, &view(&ctx.db, &payout)?))
}

/// `GET /api/v1/payouts/{id}/items?cursor=&limit=`: the ledger entries a payout holds, in
/// ledger order, a page at a time.
pub fn items(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let payout = find(ctx, req)?;
    let limit = super::limit(req)?;
    let rows = payouts::items_page(&ctx.db, payout.id, super::cursor(req)?, limit)?;
    let next = views::next_cursor(&rows, limit, |(cursor, _)| cursor.to_string());
    let data = rows.iter().map(|(_, i)| crate::shapes::payout_item(payout.currency, i)).collect();
    Ok(Response::json(200, &views::page(data, next)))
}

/// `POST /api/v1/payouts/{id}/mark-paid` `{reference?}`.
pub fn mark_paid(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let body = Body::parse(&req.body, &["reference"])?;
    let id = req.id(0, payouts::not_found)?;
    let outcome = intake::payouts::mark_paid(&ctx.intake(), id, body.str("reference")?)?;
    answer(ctx, id, Status::Paid, outcome)
}

/// `POST /api/v1/payouts/{id}/cancel`.
pub fn cancel(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    super::no_fields(req)?;
    let id = req.id(0, payouts::not_found)?;
    let outcome = intake::payouts::cancel(&ctx.intake(), id)?;
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
    let file = payout_files::render(format, &[&payout], &format!("payout-{}", payout.id))?;
    Ok(Response::csv(&file.name, file.csv))
}
