//! `/admin/payouts`: payout runs and their payouts; making a run, marking a payout paid (with
//! a payment reference), cancelling it, and downloading one payout or a whole run for PayPal
//! or as a generic CSV.

use crate::admin::{PAGE_SIZE, next_link, see_other};
use crate::error::Error;
use crate::intake;
use crate::shapes::payout_files::{self, Format};
use crate::store::payout_runs::Outcome;
use crate::store::payouts::{self, Filter, Transition};
use crate::tracking::payout::{self as rules, Payout, Run, Status};
use crate::transport::Req;
use crate::transport::response::Response;
use crate::ui::html::{self, Html, fragment, html};
use crate::ui::layout::{self, Notice};
use crate::web::form::Form;
use crate::web::{Ctx, views};

pub fn page(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let mut filter = Filter::default();
    if let Some(s) = req.query("status") {
        filter.status = Status::parse(s);
    }
    filter.run = req.query("run").and_then(|r| r.parse().ok());
    let before = req.query("before").and_then(|b| b.parse().ok());
    let rows = payouts::list(&ctx.db, &filter, before, PAGE_SIZE)?;
    let next = views::next_cursor(&rows, PAGE_SIZE, |p| p.id.to_string());
    let runs = payouts::runs(&ctx.db, None, 10)?;
    let mut body = fragment!(
        "<h1>Payouts</h1><p class=\"sub\">Each run pays every affiliate whose available balance reached its minimum. \
         Send the money, then mark the payout paid; a cancelled payout's commission is available again.</p>"
    );
    html!(body, "{}", runs_table(&runs));
    let title = match filter.run {
        Some(run) => format!("Payouts of run #{run}"),
        None => "All payouts".to_string(),
    };
    // Every pending payout of the run (or of all runs), not only this page's.
    let pending = Filter { status: Some(Status::Pending), ..filter.clone() };
    body.buffer().push_str(
        super::warnings::after_run(&payouts::list(&ctx.db, &pending, None, payout_files::PAYPAL_MAX_ROWS)?).as_str(),
    );
    html!(body, "<div class=\"spread\"><h2>{}</h2><span class=\"row\" style=\"gap:4px\">", title);
    html!(body, "{}", status_links(req, filter.run));
    html!(
        body,
        "</span></div><div class=\"table\"><table data-narrow-hide=\"5 6\"><thead><tr><th>Payout</th><th>Affiliate</th><th class=\"num\">Amount</th>\
         <th>Status</th><th>Made</th><th>Reference</th><th></th></tr></thead><tbody>"
    );
    for p in &rows {
        html!(
            body,
            "<tr><td><a href=\"/admin/payouts/{}\">#{}</a></td><td><a href=\"/admin/affiliates/{}\">{}</a></td>\
             <td class=\"num\">{}</td><td>{}</td><td class=\"when\">{}</td><td class=\"mono clip\">{}</td><td class=\"num\">{}</td></tr>",
            p.id,
            p.id,
            p.referral_code,
            p.referral_code,
            html::money(p.currency, p.amount),
            html::badge(p.status.as_str()),
            html::time(p.created_at),
            p.reference.as_deref().unwrap_or(""),
            actions(req, p)
        );
    }
    if rows.is_empty() {
        html!(body, "<tr><td colspan=\"7\" class=\"empty\">No payouts.</td></tr>");
    }
    html!(
        body,
        "</tbody></table></div><div class=\"pager\"><span></span>{}</div>{}",
        next_link(req, "/admin/payouts", "before", next),
        super::balances::run_form(ctx, req)?
    );
    Ok(Response::html(200, layout::page(req, "Payouts", "/admin/payouts", &super::notice(req), &body)))
}

/// The last runs, with their downloads.
fn runs_table(runs: &[payouts::RunRow]) -> Html {
    let mut body = Html::new();
    html!(
        body,
        "<h2>Recent runs</h2><div class=\"table\"><table data-narrow-hide=\"3 4 7\"><thead><tr><th>Run</th><th>Made</th><th>Currency</th>\
         <th class=\"num\">Minimum</th><th class=\"num\">Payouts</th><th class=\"num\">Amount</th><th>Download</th>\
         </tr></thead><tbody>"
    );
    for r in runs {
        html!(
            body,
            "<tr><td><a href=\"/admin/payouts?run={}\">#{}</a> <span class=\"muted mono\">{}</span>{}</td><td>{}</td><td>{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td><a href=\"/admin/payout-runs/{}/export?format=paypal\">PayPal</a> · \
             <a href=\"/admin/payout-runs/{}/export?format=csv\">CSV</a></td></tr>",
            r.id,
            r.id,
            r.run_id.as_deref().unwrap_or(""),
            if r.complete { Html::new() } else { fragment!(" {}", html::badge("building")) },
            html::time(r.created_at),
            r.currency.code(),
            html::money(r.currency, r.minimum),
            r.payouts,
            html::money(r.currency, r.amount),
            r.id,
            r.id
        );
    }
    if runs.is_empty() {
        html!(body, "<tr><td colspan=\"7\" class=\"empty\">No payout run yet.</td></tr>");
    }
    html!(body, "</tbody></table></div>");
    body
}

/// Links that filter the payouts by status, keeping the run.
fn status_links(req: &Req, run: Option<i64>) -> Html {
    let mut body = Html::new();
    for status in std::iter::once("").chain(Status::ALL.map(Status::as_str)) {
        let run = run.map(|r| r.to_string()).unwrap_or_default();
        html!(
            body,
            "<a class=\"btn small{}\" href=\"/admin/payouts?{}\">{}</a>",
            if req.query("status").unwrap_or("") == status { " primary" } else { "" },
            html::query(&[("status", status), ("run", &run)]),
            if status.is_empty() { "all" } else { status }
        );
    }
    body
}

/// Mark paid (with a reference) and cancel, for a pending payout; downloads for any.
fn actions(req: &Req, p: &Payout) -> Html {
    let mut out = fragment!(
        "<a class=\"btn small\" href=\"/admin/payouts/{}/export?format=paypal\">PayPal</a> \
         <a class=\"btn small\" href=\"/admin/payouts/{}/export?format=csv\">CSV</a> ",
        p.id,
        p.id
    );
    if p.status == Status::Pending {
        html!(
            out,
            "<form class=\"inline\" method=\"post\" action=\"/admin/payouts/{}/mark-paid\">{}\
             <input type=\"text\" name=\"reference\" placeholder=\"payment reference\" size=\"14\">\
             <button class=\"btn small approve\" type=\"submit\" id=\"paid-{}\">Mark paid</button></form> \
             <form class=\"inline\" method=\"post\" action=\"/admin/payouts/{}/cancel\">{}\
             <button class=\"btn small reject\" type=\"submit\" id=\"cancel-{}\" \
             data-confirm=\"Cancel this payout? Its commission becomes available again.\">Cancel</button></form>",
            p.id,
            layout::csrf_field(req),
            p.id,
            p.id,
            layout::csrf_field(req),
            p.id
        );
    }
    out
}

/// Where a payout goes: the payout e-mail, or a link to set it.
fn payee(p: &Payout) -> Html {
    match &p.payout_email {
        Some(email) => fragment!("{}", email),
        None => fragment!(
            "– no payout e-mail, so no PayPal file: <a href=\"/admin/affiliates/{}#payout_email\">set it</a>",
            p.referral_code
        ),
    }
}

fn find(ctx: &Ctx, req: &Req) -> Result<Payout, Error> {
    let id = req.id(0, payouts::not_found)?;
    payouts::get(&ctx.db, id)?.ok_or_else(|| payouts::not_found(id))
}

/// One payout with the ledger entries it holds.
pub fn detail(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    detail_page(ctx, req, super::notice(req), 200)
}

fn detail_page(ctx: &Ctx, req: &Req, notice: Notice, status: u16) -> Result<Response, Error> {
    let p = find(ctx, req)?;
    let after = req.query("after").and_then(|a| a.parse().ok());
    let items = payouts::items_page(&ctx.db, p.id, after, PAGE_SIZE)?;
    let next = views::next_cursor(&items, PAGE_SIZE, |(cursor, _)| cursor.to_string());
    let mut body = fragment!(
        "<p class=\"muted\" style=\"margin:18px 0 0\"><a href=\"/admin/payouts\">Payouts</a> /</p>\
         <div class=\"spread\"><div><h1>Payout #{} {}</h1><p class=\"sub\">{} to <a href=\"/admin/affiliates/{}\">{}</a> · \
         run #{} · made {}</p></div><div>{}</div></div><div class=\"card\"><dl class=\"facts\">\
         <dt>Pay to</dt><dd>{}</dd><dt>Bank details</dt><dd style=\"white-space:pre-line\">{}</dd>\
         <dt>Reference</dt><dd class=\"mono\">{}</dd></dl></div>",
        p.id,
        html::badge(p.status.as_str()),
        html::money(p.currency, p.amount),
        p.referral_code,
        p.name,
        p.run,
        html::time(p.created_at),
        actions(req, &p),
        payee(&p),
        p.payout_details.as_deref().unwrap_or("–"),
        p.reference.as_deref().unwrap_or("–")
    );
    html!(
        body,
        "<h2>What it pays <span class=\"muted\">· {} ledger entries</span></h2><div class=\"table\"><table><thead><tr>\
         <th class=\"num\">Ledger entry</th><th>Kind</th><th>Order</th><th>When</th><th class=\"num\">Amount</th></tr>\
         </thead><tbody>",
        payouts::items_count(&ctx.db, p.id)?
    );
    for (_, i) in &items {
        html!(
            body,
            "<tr><td class=\"num\">{}</td><td>{}</td><td class=\"mono\">{}</td><td>{}</td><td class=\"num\">{}</td></tr>",
            i.seq,
            i.kind.as_str().replace('_', " "),
            i.external_id.as_deref().unwrap_or(""),
            html::time(i.at),
            html::money(p.currency, i.amount)
        );
    }
    html!(
        body,
        "</tbody></table></div><div class=\"pager\"><span></span>{}</div>",
        next_link(req, &format!("/admin/payouts/{}", p.id), "after", next)
    );
    let title = format!("Payout #{}", p.id);
    Ok(Response::html(status, layout::page(req, &title, "/admin/payouts", &notice, &body)))
}

/// `POST /admin/payouts` (currency, minimum): a run, then its payouts.
pub fn create(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let form = Form::parse(req)?;
    let run = Run::read(form.get("currency"), form.get("minimum"), None)?;
    let (Outcome::Created(id) | Outcome::Repeated(id)) = intake::payouts::make_run(&ctx.intake(), run)?;
    let made = payouts::run(&ctx.db, id)?.map_or(0, |r| r.payouts);
    let run = if made > 0 { id.to_string() } else { String::new() };
    Ok(see_other("/admin/payouts", &[("run", &run), ("done", "run"), ("n", &made.to_string())]))
}

pub fn mark_paid(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let form = Form::parse(req)?;
    let id = req.id(0, payouts::not_found)?;
    let outcome = intake::payouts::mark_paid(&ctx.intake(), id, form.get("reference"))?;
    after(ctx, req, id, Status::Paid, outcome)
}

pub fn cancel(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let id = req.id(0, payouts::not_found)?;
    let outcome = intake::payouts::cancel(&ctx.intake(), id)?;
    after(ctx, req, id, Status::Cancelled, outcome)
}

fn after(ctx: &mut Ctx, req: &Req, id: i64, to: Status, outcome: Transition) -> Result<Response, Error> {
    match outcome {
        Transition::Changed(_) => Ok(see_other(&format!("/admin/payouts/{id}"), &[("done", to.as_str())])),
        Transition::Refused(p) => {
            let e = rules::refused(id, p.status, to);
            detail_page(ctx, req, Notice::Error(e.message), e.status)
        }
        Transition::NotFound => Err(payouts::not_found(id)),
    }
}

/// `GET /admin/payouts/{id}/export?format=paypal|csv`.
pub fn export(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let format = Format::parse(req.query("format"))?;
    let p = find(ctx, req)?;
    let missing = payout_files::missing_payout_email(&[&p]);
    if format == Format::PayPal && !missing.is_empty() {
        let back = format!("/admin/payouts/{}", p.id);
        return Ok(super::warnings::paypal_refused(req, &missing, (&back, &format!("Back to payout #{}", p.id))));
    }
    let file = payout_files::render(format, &[&p], &format!("payout-{}", p.id))?;
    Ok(Response::csv(&file.name, file.csv))
}

/// `GET /admin/payout-runs/{id}/export?format=paypal|csv`: every payout of a run that is not
/// cancelled, in one file.
pub fn export_run(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let format = Format::parse(req.query("format"))?;
    let run: i64 = req.param(0).parse().map_err(|_| Error::not_found("not_found", "no such payout run"))?;
    let rows = payouts::list(
        &ctx.db,
        &Filter { run: Some(run), ..Filter::default() },
        None,
        payout_files::PAYPAL_MAX_ROWS + 1,
    )?;
    if rows.is_empty() {
        return Err(Error::not_found("not_found", format!("payout run {run} has no payouts")));
    }
    let refs: Vec<&Payout> = rows.iter().collect();
    let missing = payout_files::missing_payout_email(&refs);
    if format == Format::PayPal && !missing.is_empty() {
        let back = format!("/admin/payouts?run={run}");
        return Ok(super::warnings::paypal_refused(req, &missing, (&back, &format!("Back to run #{run}"))));
    }
    let file = payout_files::render(format, &refs, &format!("payout-run-{run}"))?;
    Ok(Response::csv(&file.name, file.csv))
}
