//! `/admin/postbacks`: the inbound postback URL, the postbacks received with their outcome, and
//! the outbound deliveries to affiliates' trackers with a retry button.

use super::{PAGE_SIZE, see_other};
use crate::error::Error;
use crate::intake;
use crate::secret::Redacted;
use crate::store::{deliveries, postbacks};
use crate::tracking::outbound::DeliveryStatus;
use crate::tracking::postback::Outcome;
use crate::transport::Req;
use crate::transport::response::Response;
use crate::ui::html::{self, Html, fragment, html};
use crate::ui::layout;
use crate::web::Ctx;

/// Links that filter one table by a value, keeping the other table's filter.
fn filter_links(req: &Req, name: &str, values: &[&str], keep: &str) -> Html {
    let kept = req.query(keep).unwrap_or("");
    let current = req.query(name).unwrap_or("");
    let mut out = Html::from_static("<span class=\"row\" style=\"gap:4px\">");
    for value in std::iter::once("").chain(values.iter().copied()) {
        html!(
            out,
            "<a class=\"btn small{}\" href=\"/admin/postbacks?{}\">{}</a>",
            if value == current { " primary" } else { "" },
            html::query(&[(name, value), (keep, kept)]),
            if value.is_empty() { "all" } else { value }
        );
    }
    html!(out, "</span>");
    out
}

fn cursor(req: &Req, name: &str) -> Option<i64> {
    req.query(name).and_then(|c| c.parse().ok())
}

pub fn page(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let outcome = req.query("outcome").and_then(Outcome::parse);
    let status = req.query("status").and_then(DeliveryStatus::parse);
    let received = postbacks::list_received(&ctx.db, outcome, cursor(req, "received_before"), PAGE_SIZE)?;
    let sent = deliveries::list(&ctx.db, status, cursor(req, "sent_before"), PAGE_SIZE)?;
    let token = postbacks::current(&ctx.db, &ctx.config.db, ctx.config.postback_token.as_ref().map(Redacted::expose))?;
    let now = crate::clock::now_ms();

    let mut body = fragment!(
        "<h1>Postbacks</h1><p class=\"sub\">Conversions reported to you by URL, and the ones you report to affiliates.</p>"
    );
    html!(
        body,
        "{}{}{}",
        url_card(&ctx.config.public_url, token),
        received_table(req, &received, now),
        sent_table(req, &sent, now)
    );
    Ok(Response::html(200, layout::page(req, "Postbacks", "/admin/postbacks", &super::notice(req), &body)))
}

/// The card with the inbound postback URL, or a notice that its token is lost.
fn url_card(public_url: &str, token: Option<String>) -> Html {
    let mut body = Html::new();
    match token {
        Some(token) => html!(
            body,
            "<div class=\"card\"><h2>Your postback URL</h2><div class=\"copy\"><input id=\"postback-url\" class=\"mono\" type=\"text\" \
             readonly value=\"{}\"><button class=\"btn\" type=\"button\" data-copy=\"postback-url\">Copy</button></div>\
             <p class=\"muted\" style=\"margin:8px 0 0\">Give it to a shop platform or network that can only fire a URL. \
             The token in it can only report conversions; keep it private anyway.</p></div>",
            crate::tracking::postback::url_template(public_url, &token)
        ),
        None => html!(
            body,
            "<div class=\"notice error\">The postback token is not known to this server (its file is missing); rotate it with \
             <span class=\"mono\">affiliated postback-url --rotate</span>.</div>"
        ),
    }
    body
}

/// The postbacks received, with their outcome filter and pager.
fn received_table(req: &Req, received: &[postbacks::Received], now: i64) -> Html {
    let mut body = Html::new();
    html!(
        body,
        "<div class=\"spread\"><h2>Received</h2>{}</div><div class=\"table\"><table data-narrow-hide=\"2 3 4\"><thead><tr><th>Received</th><th>Dialect</th>\
         <th>Parameters</th><th class=\"num\">Answer</th><th>Outcome</th><th>Conversion</th></tr></thead><tbody>",
        filter_links(req, "outcome", &Outcome::ALL.map(Outcome::as_str), "status")
    );
    for r in received {
        let params = match serde_json::from_str::<serde_json::Value>(&r.params) {
            Ok(serde_json::Value::Object(map)) => map
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().map(String::from).unwrap_or_else(|| v.to_string())))
                .collect::<Vec<_>>()
                .join("  "),
            _ => r.params.clone(),
        };
        html!(
            body,
            "<tr><td class=\"when\" title=\"{}\">{}</td><td><span class=\"tag\">{}</span> {}</td><td class=\"mono clip\" title=\"{}\">{}</td>\
             <td class=\"num\">{}</td><td>{} <span class=\"muted mono\">{}</span></td><td>{}</td></tr>",
            html::time(r.received_at),
            html::ago(r.received_at, now),
            r.dialect,
            r.method,
            params,
            params,
            r.status,
            html::badge(r.outcome.as_str()),
            r.error_code.as_deref().unwrap_or(""),
            r.conversion_id.map(|id| format!("#{id}")).unwrap_or_default()
        );
    }
    if received.is_empty() {
        html!(body, "<tr><td colspan=\"6\" class=\"empty\">No postbacks received.</td></tr>");
    }
    let next = crate::web::views::next_cursor(received, PAGE_SIZE, |r| r.id.to_string());
    html!(body, "{}", table_end(req, "received_before", next));
    body
}

/// The deliveries to affiliates' trackers, with their status filter, retry buttons and pager.
fn sent_table(req: &Req, sent: &[deliveries::Delivery], now: i64) -> Html {
    let mut body = Html::new();
    html!(
        body,
        "<div class=\"spread\"><h2>Sent to affiliates</h2>{}</div><div class=\"table\"><table data-narrow-hide=\"3 4 6 7\"><thead><tr><th>Created</th>\
         <th>Affiliate</th><th>Event</th><th>URL</th><th>Status</th><th class=\"num\">Attempts</th><th>Last answer</th><th></th>\
         </tr></thead><tbody>",
        filter_links(req, "status", &DeliveryStatus::ALL.map(DeliveryStatus::as_str), "outcome")
    );
    for d in sent {
        let last = super::last_answer(&d.progress);
        let retry = if d.progress.status == DeliveryStatus::Delivered {
            Html::new()
        } else {
            fragment!(
                "<form class=\"inline\" method=\"post\" action=\"/admin/postbacks/{}/retry\">{}\
                 <button class=\"btn small\" type=\"submit\" id=\"retry-{}\">Retry now</button></form>",
                d.id,
                layout::csrf_field(req),
                d.id
            )
        };
        html!(
            body,
            "<tr><td class=\"when\" title=\"{}\">{}</td><td><a href=\"/admin/affiliates/{}\">{}</a></td><td>{}</td>\
             <td class=\"mono clip\" title=\"{}\">{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"clip\" title=\"{}\">{}</td>\
             <td class=\"num\">{}</td></tr>",
            html::time(d.progress.created_at),
            html::ago(d.progress.created_at, now),
            d.referral_code,
            d.referral_code,
            d.event.as_str(),
            d.url,
            d.url,
            html::badge(d.progress.status.as_str()),
            d.progress.attempts,
            last,
            last,
            retry
        );
    }
    if sent.is_empty() {
        html!(
            body,
            "<tr><td colspan=\"8\" class=\"empty\">Nothing sent yet. Affiliates with a postback URL get one per change.</td></tr>"
        );
    }
    let next = crate::web::views::next_cursor(sent, PAGE_SIZE, |d| d.id.to_string());
    html!(body, "{}", table_end(req, "sent_before", next));
    body
}

/// The end of one of the page's tables, with the link to its next page (`cursor_name`).
fn table_end(req: &Req, cursor_name: &str, next: Option<String>) -> Html {
    fragment!(
        "</tbody></table></div><div class=\"pager\"><span></span>{}</div>",
        super::next_link(req, "/admin/postbacks", cursor_name, next)
    )
}

/// `POST /admin/postbacks/{id}/retry`: queue a delivery for an immediate new attempt.
pub fn retry(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    intake::postbacks::retry(&ctx.intake(), req.id(0, deliveries::not_found)?)?;
    Ok(see_other("/admin/postbacks", &[("done", "retried")]))
}
