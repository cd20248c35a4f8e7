//! `/admin/balances`: every affiliate's balances per currency (pending, available, in payouts,
//! paid), and the form that makes a payout run.

use crate::admin::{PAGE_SIZE, next_link};
use crate::error::Error;
use crate::store::{affiliates, ledger};
use crate::transport::Req;
use crate::transport::response::Response;
use crate::ui::html::{Html, fragment, html};
use crate::ui::layout;
use crate::web::{Ctx, views};

pub fn page(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let after = req.query("after").and_then(|a| a.parse::<i64>().ok()).unwrap_or(0);
    let rows = affiliates::list(&ctx.db, after, PAGE_SIZE)?;
    let next = views::next_cursor(&rows, PAGE_SIZE, |a| a.id.to_string());
    let money = crate::ui::html::money;
    let mut body = fragment!(
        "<h1>Balances</h1><p class=\"sub\">What each affiliate is owed, from their ledger. Pending commission becomes \
         available when approved; a payout run moves what is available into payouts.</p>\
         <div class=\"table\"><table data-narrow-hide=\"2 3 5 7\"><thead><tr><th>Affiliate</th><th>Currency</th><th class=\"num\">Pending</th>\
         <th class=\"num\">Available</th><th class=\"num\">In payouts</th><th class=\"num\">Paid</th><th>Payout to</th>\
         </tr></thead><tbody>"
    );
    let mut shown = 0;
    for a in &rows {
        for (currency, b) in ledger::balances(&ctx.db, a.id)? {
            shown += 1;
            html!(
                body,
                "<tr><td><a href=\"/admin/affiliates/{}\">{}</a> <span class=\"muted mono\">{}</span></td><td>{}</td>\
                 <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
                 <td class=\"clip\">{}</td></tr>",
                a.referral_code,
                a.name,
                a.referral_code,
                currency.code(),
                money(currency, b.pending),
                money(currency, b.available),
                money(currency, b.in_payouts),
                money(currency, b.paid),
                a.payout_email.as_deref().unwrap_or("–")
            );
        }
    }
    if shown == 0 {
        html!(body, "<tr><td colspan=\"7\" class=\"empty\">No commission recorded yet.</td></tr>");
    }
    html!(
        body,
        "</tbody></table></div><div class=\"pager\"><span></span>{}</div>{}",
        next_link(req, "/admin/balances", "after", next),
        run_form(ctx, req)?
    );
    Ok(Response::html(200, layout::page(req, "Balances", "/admin/balances", &super::notice(req), &body)))
}

/// The form that makes a payout run (also on the payouts page), after the warning about
/// affiliates PayPal cannot pay.
pub fn run_form(ctx: &Ctx, req: &Req) -> Result<Html, Error> {
    Ok(fragment!(
        "<h2>Pay out</h2>{}<div class=\"card\"><form method=\"post\" action=\"/admin/payouts\">{}<div class=\"form-grid\">\
         <label>Currency<input type=\"text\" name=\"currency\" required maxlength=\"3\" value=\"USD\"></label>\
         <label>Minimum available<input type=\"text\" name=\"minimum\" value=\"50.00\"></label>\
         <div><button class=\"btn primary\" type=\"submit\" data-confirm=\"Make a payout for every affiliate whose available \
         balance reaches the minimum?\">Make payouts</button></div></div></form>\
         <p class=\"muted\" style=\"margin:8px 0 0\">One payout per affiliate whose available balance is at least the minimum. \
         Download them for PayPal or your bank, send the money, then mark each one paid.</p></div>",
        super::warnings::before_run(ctx)?,
        layout::csrf_field(req)
    ))
}
