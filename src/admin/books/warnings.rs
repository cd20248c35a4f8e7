//! What the books warn about before money is due to move: affiliates that a PayPal payout file
//! cannot pay because they have no payout e-mail. Shown on the payout run form (before a run),
//! above the payouts a run made (after it), and as the admin's answer when a PayPal file is
//! refused; each names the affiliates with a link to the field that fixes it. Reads only.

use crate::error::Error;
use crate::store::payouts;
use crate::tracking::payout::{Payout, Status};
use crate::transport::Req;
use crate::transport::response::Response;
use crate::ui::html::{self, Html, fragment, html};
use crate::ui::layout;
use crate::web::Ctx;

/// Where an affiliate's payout e-mail is set.
fn edit_link(referral_code: &str, name: &str) -> Html {
    fragment!(
        "<a href=\"/admin/affiliates/{}#payout_email\">{}</a> <span class=\"mono\">{}</span>",
        referral_code,
        name,
        referral_code
    )
}

/// Before a run: the affiliates with an available balance and no payout e-mail. Empty when
/// there is none.
pub fn before_run(ctx: &Ctx) -> Result<Html, Error> {
    let rows = payouts::without_payout_email(&ctx.db)?;
    if rows.is_empty() {
        return Ok(Html::new());
    }
    let mut affiliates: Vec<&str> = rows.iter().map(|r| r.referral_code.as_str()).collect();
    affiliates.dedup();
    let mut out = fragment!(
        "<div class=\"notice warn\" role=\"status\" id=\"no-payout-email\"><strong>PayPal cannot pay {}:</strong> \
         {} an available balance but no payout e-mail, so a PayPal file with {} payout would be refused.<ul>",
        plural(affiliates.len(), "affiliate"),
        if affiliates.len() == 1 { "it has" } else { "they have" },
        if affiliates.len() == 1 { "its" } else { "their" }
    );
    for r in &rows {
        html!(
            out,
            "<li>{}: {} available, <a href=\"/admin/affiliates/{}#payout_email\">set the payout e-mail</a></li>",
            edit_link(&r.referral_code, &r.name),
            html::money(r.currency, r.available),
            r.referral_code
        );
    }
    html!(
        out,
        "</ul>Set it on each affiliate's page before the run, or pay them another way: the CSV file of a payout \
         has their bank details.</div>"
    );
    Ok(out)
}

/// The pending payouts among `rows` that PayPal cannot pay, after a run: each with its
/// affiliate and the link that fixes it. Empty when there is none.
pub fn after_run(rows: &[Payout]) -> Html {
    let unpaid: Vec<&Payout> = rows.iter().filter(|p| p.status == Status::Pending).collect();
    let missing = crate::shapes::payout_files::missing_payout_email(&unpaid);
    if missing.is_empty() {
        return Html::new();
    }
    fragment!(
        "<div class=\"notice warn\" role=\"status\" id=\"no-payout-email\"><strong>PayPal cannot pay {}:</strong> \
         {} no payout e-mail.{}Set it, then download the PayPal file again; or pay {} another way (the CSV file has \
         the bank details).</div>",
        plural(missing.len(), "payout"),
        if missing.len() == 1 { "its affiliate has" } else { "their affiliates have" },
        payout_list(&missing),
        if missing.len() == 1 { "it" } else { "them" }
    )
}

/// `GET /admin/payouts/{id}/export?format=paypal` (or a run's) when some payouts have no payout
/// e-mail: what to do in the admin, and the way back to `back` (href, label). The API answers
/// the same refusal in its own words (`files::render`).
pub fn paypal_refused(req: &Req, missing: &[&Payout], back: (&str, &str)) -> Response {
    let body = fragment!(
        "<h1>The PayPal file needs a payout e-mail</h1><p class=\"sub\">PayPal pays to an e-mail address, and {} \
         no payout e-mail.</p><div class=\"notice warn\" role=\"alert\">{}Set the payout e-mail on {} (the links lead to \
         the field), then export again.</div><p><a class=\"btn primary\" href=\"{}\">{}</a></p>",
        if missing.len() == 1 { "this payout's affiliate has" } else { "these payouts' affiliates have" },
        payout_list(missing),
        if missing.len() == 1 { "this affiliate" } else { "these affiliates" },
        back.0,
        back.1
    );
    Response::html(409, layout::page(req, "PayPal file", "/admin/payouts", &layout::Notice::None, &body))
}

fn payout_list(payouts: &[&Payout]) -> Html {
    let mut out = Html::from_static("<ul>");
    for p in payouts {
        html!(
            out,
            "<li><a href=\"/admin/payouts/{}\">Payout #{}</a>, {} to {}: \
             <a href=\"/admin/affiliates/{}#payout_email\">set the payout e-mail</a></li>",
            p.id,
            p.id,
            html::money(p.currency, p.amount),
            edit_link(&p.referral_code, &p.name),
            p.referral_code
        );
    }
    html!(out, "</ul>");
    out
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 { format!("1 {word}") } else { format!("{n} {word}s") }
}
