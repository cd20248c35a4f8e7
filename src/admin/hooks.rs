//! `/admin/hooks`: the shop connectors (configured or not, and the URL to give each platform)
//! and the webhooks received with what came of them. Read-only: secrets are set through the
//! environment or `PUT /api/v1/connectors/{name}`, never shown.

use crate::admin::PAGE_SIZE;
use crate::error::Error;
use crate::store::connectors as stored;
use crate::tracking::connectors::Connector;
use crate::transport::Req;
use crate::transport::response::Response;
use crate::ui::html::{self, Html, fragment, html};
use crate::ui::layout;
use crate::web::Ctx;

/// A `<select>` of `values` (and "all") named `name`, with the request's value selected.
fn select(req: &Req, name: &str, values: &[&str]) -> Html {
    let current = req.query(name).unwrap_or("");
    let mut out = fragment!("<select name=\"{}\">", name);
    for value in std::iter::once("").chain(values.iter().copied()) {
        let label = if value.is_empty() { format!("every {name}") } else { value.to_string() };
        let selected = if value == current { " selected" } else { "" };
        html!(out, "<option value=\"{}\"{}>{}</option>", value, selected, label);
    }
    html!(out, "</select>");
    out
}

pub fn page(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let connector = req.query("connector").and_then(Connector::parse);
    let outcome = req.query("outcome").filter(|o| stored::OUTCOMES.contains(o));
    let before = req.query("before").and_then(|c| c.parse().ok());
    let rows = stored::list(&ctx.db, connector, outcome, before, PAGE_SIZE)?;
    let secrets = stored::stored(&ctx.db)?;
    let now = crate::clock::now_ms();

    let mut body = fragment!(
        "<h1>Shop hooks</h1><p class=\"sub\">Stripe, Shopify, WooCommerce and Paddle report paid orders and refunds \
         here by signed webhook. See docs/connectors.md.</p><div class=\"table\"><table data-narrow-hide=\"2\"><thead><tr><th>Platform</th>\
         <th>Signing secret</th><th>Webhook URL</th></tr></thead><tbody>"
    );
    for c in Connector::ALL {
        let source = if ctx.config.webhook_secret(c).is_some() {
            "set by the environment"
        } else if secrets.iter().any(|(s, _)| *s == c) {
            "set through the API"
        } else {
            "not configured"
        };
        html!(
            body,
            "<tr><td>{}</td><td>{}</td><td class=\"mono any-break\">{}/hooks/{}</td></tr>",
            c.title(),
            source,
            ctx.config.public_url,
            c.name()
        );
    }
    let names: Vec<&str> = Connector::ALL.iter().map(|c| c.name()).collect();
    html!(
        body,
        "</tbody></table></div><div class=\"spread\"><h2>Received</h2><form class=\"inline\" method=\"get\" \
         action=\"/admin/hooks\">{} {} <button class=\"btn small\" type=\"submit\">Filter</button></form></div>\
         <div class=\"table\"><table data-narrow-hide=\"3 4\"><thead><tr><th>Received</th><th>Platform</th><th>Event</th><th>Action</th>\
         <th>Outcome</th><th>Conversion</th></tr></thead><tbody>",
        select(req, "connector", &names),
        select(req, "outcome", stored::OUTCOMES)
    );
    for h in &rows {
        let mode = match h.test {
            Some(true) => " test",
            _ => "",
        };
        html!(
            body,
            "<tr><td class=\"when\" title=\"{}\">{}</td><td>{}{}</td><td class=\"mono clip\" title=\"{}\">{}</td>\
             <td>{} <span class=\"muted mono\">{}</span></td><td>{} <span class=\"muted mono\">{}</span>{}</td><td>{}</td></tr>",
            html::time(h.received_at),
            html::ago(h.received_at, now),
            h.connector,
            mode,
            h.event_id.as_deref().unwrap_or(""),
            h.event_type,
            h.action,
            h.reference.as_deref().unwrap_or(""),
            html::badge(&h.outcome),
            h.error_code.as_deref().unwrap_or(""),
            if h.replayed { " (held, recorded later)" } else { "" },
            h.conversion_id.map(|id| format!("#{id}")).unwrap_or_default()
        );
    }
    if rows.is_empty() {
        html!(body, "<tr><td colspan=\"6\" class=\"empty\">No webhooks received.</td></tr>");
    }
    let next = crate::web::views::next_cursor(&rows, PAGE_SIZE, |h| h.id.to_string());
    html!(
        body,
        "</tbody></table></div><div class=\"pager\"><span></span>{}</div>",
        super::next_link(req, "/admin/hooks", "before", next)
    );
    Ok(Response::html(200, layout::page(req, "Shop hooks", "/admin/hooks", &super::notice(req), &body)))
}
