//! `/admin/emails`: whether e-mail is on (the SMTP server, password masked, the sender and the
//! merchant's address) and the messages queued and sent, newest first, with their status,
//! attempts and last error. Read-only, and never a body: links in messages carry tokens.

use crate::admin::PAGE_SIZE;
use crate::error::Error;
use crate::store::emails;
use crate::transport::Req;
use crate::transport::response::Response;
use crate::ui::html::{self, Html, fragment, html};
use crate::ui::layout;
use crate::web::Ctx;

/// What the page says about e-mail being on or off.
fn setup(ctx: &Ctx) -> Html {
    match ctx.config.mail() {
        Some(m) => fragment!(
            "<p class=\"sub\">E-mail goes through <span class=\"mono\">{}</span> ({}), from {}; your own \
             e-mails (new applications) go to {}. Messages are sent in the background and retried for about a \
             day; one whose link expires first is never sent. See docs/operations.md, E-mail.</p>",
            m.smtp.masked(),
            m.smtp.describe(),
            m.from,
            m.merchant
        ),
        None => fragment!(
            "<p class=\"sub\">E-mail is off: no SMTP server is set (<span class=\"mono\">--smtp-url</span> / \
             <span class=\"mono\">AFFILIATED_SMTP_URL</span>). Nothing is sent, so hand invite links to \
             affiliates yourself (the affiliate's page shows them once), and make a new invite for an affiliate \
             who forgot their password. See docs/operations.md, E-mail.</p>"
        ),
    }
}

/// The status filter: every status, or one.
fn filter(req: &Req) -> Html {
    let current = req.query("status").unwrap_or("");
    let mut out = fragment!("<select name=\"status\">");
    for value in std::iter::once("").chain(emails::STATUSES) {
        let label = if value.is_empty() { "every status" } else { value };
        let selected = if value == current { " selected" } else { "" };
        html!(out, "<option value=\"{}\"{}>{}</option>", value, selected, label);
    }
    html!(out, "</select>");
    out
}

pub fn page(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let status = req.query("status").filter(|s| emails::STATUSES.contains(s));
    let before = req.query("before").and_then(|c| c.parse().ok());
    let rows = emails::list(&ctx.db, status, before, PAGE_SIZE)?;
    let now = crate::clock::now_ms();
    let mut body = fragment!("<h1>E-mails</h1>{}", setup(ctx));
    html!(
        body,
        "<div class=\"spread\"><h2>Messages</h2><form class=\"inline\" method=\"get\" action=\"/admin/emails\">{} \
         <button class=\"btn small\" type=\"submit\">Filter</button></form></div><div class=\"table\"><table><thead>\
         <tr><th>Queued</th><th>To</th><th>Subject</th><th>Status</th><th>Attempts</th><th>Last error</th></tr>\
         </thead><tbody>",
        filter(req)
    );
    for e in &rows {
        html!(
            body,
            "<tr><td title=\"{}\">{}</td><td class=\"clip\">{}</td><td class=\"clip\" title=\"{}\">{}</td><td>{}</td>\
             <td class=\"num\">{}</td><td class=\"clip\" title=\"{}\">{}</td></tr>",
            html::time(e.created_at),
            html::ago(e.created_at, now),
            e.recipient.as_deref().unwrap_or("(erased)"),
            e.kind,
            e.subject,
            html::badge(&e.status),
            e.attempts,
            e.last_error.as_deref().unwrap_or(""),
            e.last_error.as_deref().unwrap_or("")
        );
    }
    if rows.is_empty() {
        html!(body, "<tr><td colspan=\"6\" class=\"empty\">No e-mails.</td></tr>");
    }
    let next = crate::web::views::next_cursor(&rows, PAGE_SIZE, |e| e.id.to_string());
    html!(
        body,
        "</tbody></table></div><div class=\"pager\"><span></span>{}</div>",
        super::next_link(req, "/admin/emails", "before", next)
    );
    Ok(Response::html(200, layout::page(req, "E-mails", "/admin/emails", &super::notice(req), &body)))
}
