//! `/admin/webhooks`: the merchant's own webhooks (their CRM, Slack, accounting, an automation
//! service) from the admin: add one (its signing secret shown once), send it a test event,
//! delete it, and see its recent deliveries with a retry button. The rules are the API's
//! (`tracking::webhook`, `store::webhooks`); this page only reads forms and renders.

use super::see_other;
use crate::error::Error;
use crate::intake;
use crate::store::webhook_deliveries::{self, WebhookDelivery};
use crate::store::webhooks::{self, Created, Webhook};
use crate::tracking::outbound::DeliveryStatus;
use crate::tracking::webhook::{self, Event, NewWebhook};
use crate::transport::Req;
use crate::transport::response::Response;
use crate::ui::html::{self, Html, fragment, html};
use crate::ui::layout::{self, Notice};
use crate::web::Ctx;
use crate::web::form::Form;

/// Deliveries shown under each webhook (the API pages through all of them).
const RECENT: usize = 10;

/// Where a webhook's signing secret goes.
const RECEIVER: &str = "give it to the receiving system to check the webhook-signature header (Standard Webhooks).";

pub fn page(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    render(ctx, req, super::notice(req), None, 200)
}

/// `POST /admin/webhooks` (`url`, one `events` field per event): 201 with the secret shown
/// once; a refusal shows the form again with what was typed.
pub fn create(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let form = Form::parse(req)?;
    let new = match NewWebhook::read(form.get("url").unwrap_or(""), Some(form.all("events"))) {
        Ok(new) => new,
        Err(e) => return render(ctx, req, Notice::Error(e.message.to_string()), Some(&form), 400),
    };
    match intake::webhooks::create(&ctx.intake(), new) {
        Ok(Created::New(hook, secret)) => {
            let what = format!("The webhook to {} was added. This is its signing secret.", hook.url);
            render(ctx, req, Notice::Secret { what, use_it: RECEIVER, value: secret }, None, 201)
        }
        Ok(Created::Duplicate(_)) => {
            let text = "A webhook with this URL exists already; delete it first to make a new secret.";
            render(ctx, req, Notice::Error(text.into()), Some(&form), 409)
        }
        Err(e) if e.status < 500 => render(ctx, req, Notice::Error(e.message.to_string()), Some(&form), e.status),
        Err(e) => Err(e),
    }
}

/// `POST /admin/webhooks/{id}/delete`: gives up its pending deliveries too.
pub fn delete(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    intake::webhooks::delete(&ctx.intake(), req.id(0, webhooks::not_found)?)?;
    Ok(see_other("/admin/webhooks", &[("done", "webhook-deleted")]))
}

/// `POST /admin/webhooks/{id}/test`: queues a `webhook.test` event to it.
pub fn test(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    intake::webhooks::test(&ctx.intake(), req.id(0, webhooks::not_found)?)?;
    Ok(see_other("/admin/webhooks", &[("done", "webhook-test-queued")]))
}

/// `POST /admin/webhook-deliveries/{id}/retry`: sends a delivery again now.
pub fn retry(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    intake::webhooks::retry_delivery(&ctx.intake(), req.id(0, webhook_deliveries::not_found)?)?;
    Ok(see_other("/admin/webhooks", &[("done", "webhook-retried")]))
}

fn render(ctx: &Ctx, req: &Req, notice: Notice, draft: Option<&Form>, status: u16) -> Result<Response, Error> {
    let hooks = webhooks::list(&ctx.db)?;
    let now = crate::clock::now_ms();
    let mut body = fragment!(
        "<h1>Webhooks</h1><p class=\"sub\">Your own systems (a CRM, an accounting tool, an automation service) are \
         sent each event you choose as a signed JSON POST (Standard Webhooks), retried until they answer 2xx. \
         See docs/controls.md.</p>"
    );
    html!(body, "{}", add_form(req, draft, hooks.len()));
    for hook in &hooks {
        let recent = webhook_deliveries::list(&ctx.db, hook.id, None, None, RECENT)?;
        html!(body, "{}", card(req, hook, &recent, now));
    }
    if hooks.is_empty() {
        html!(body, "<p class=\"muted\">No webhooks yet.</p>");
    }
    Ok(Response::html(status, layout::page(req, "Webhooks", "/admin/webhooks", &notice, &body)))
}

fn add_form(req: &Req, draft: Option<&Form>, live: usize) -> Html {
    if live >= webhook::MAX_WEBHOOKS {
        return fragment!(
            "<p class=\"muted\">{} webhooks exist, the most there can be; delete one to add another.</p>",
            live
        );
    }
    let chosen: Vec<&str> = draft.map(|f| f.all("events").collect()).unwrap_or_default();
    let mut boxes = Html::new();
    for event in Event::SUBSCRIBABLE {
        let name = event.as_str();
        let checked = if chosen.contains(&name) { " checked" } else { "" };
        html!(
            boxes,
            "<label class=\"check\"><input type=\"checkbox\" name=\"events\" value=\"{}\"{}> <span class=\"mono\">{}</span></label>",
            name,
            Html::from_static(checked),
            name
        );
    }
    fragment!(
        "<h2>Add a webhook</h2><div class=\"card\"><form method=\"post\" action=\"/admin/webhooks\">{}\
         <label>URL (https)<input type=\"url\" name=\"url\" required style=\"width:100%\" value=\"{}\" \
         placeholder=\"https://crm.example/hooks/affiliated\"></label>\
         <p class=\"muted\" style=\"margin:12px 0 4px\">Events</p><div class=\"row\" style=\"flex-wrap:wrap;gap:12px\">{}</div>\
         <button class=\"btn primary\" type=\"submit\" style=\"margin-top:12px\">Add webhook</button></form></div>",
        layout::csrf_field(req),
        draft.map(|f| f.raw("url")).unwrap_or(""),
        boxes
    )
}

fn card(req: &Req, hook: &Webhook, recent: &[WebhookDelivery], now: i64) -> Html {
    let events: Vec<&str> = hook.events.iter().map(|e| e.as_str()).collect();
    let mut out = fragment!(
        "<div class=\"spread\"><h2 class=\"mono clip\" title=\"{}\">{}</h2><div>\
         <form class=\"inline\" method=\"post\" action=\"/admin/webhooks/{}/test\">{}\
         <button class=\"btn small\" type=\"submit\">Send a test event</button></form> \
         <form class=\"inline\" method=\"post\" action=\"/admin/webhooks/{}/delete\">{}\
         <button class=\"btn small\" type=\"submit\" data-confirm=\"Delete this webhook? Its pending deliveries are given up.\">Delete</button>\
         </form></div></div><p class=\"muted\">Events: <span class=\"mono\">{}</span> · added {}</p>\
         <div class=\"table\"><table><thead><tr><th>Created</th><th>Event</th><th>Message ID</th><th>Status</th>\
         <th class=\"num\">Attempts</th><th>Last answer</th><th></th></tr></thead><tbody>",
        hook.url,
        hook.url,
        hook.id,
        layout::csrf_field(req),
        hook.id,
        layout::csrf_field(req),
        events.join(" "),
        html::time(hook.created_at)
    );
    for d in recent {
        let last = super::last_answer(&d.progress);
        let retry = if d.progress.status == DeliveryStatus::Delivered {
            Html::new()
        } else {
            fragment!(
                "<form class=\"inline\" method=\"post\" action=\"/admin/webhook-deliveries/{}/retry\">{}\
                 <button class=\"btn small\" type=\"submit\">Retry now</button></form>",
                d.id,
                layout::csrf_field(req)
            )
        };
        html!(
            out,
            "<tr><td title=\"{}\">{}</td><td class=\"mono\">{}</td><td class=\"mono clip\">{}</td><td>{}</td>\
             <td class=\"num\">{}</td><td class=\"clip\" title=\"{}\">{}</td><td class=\"num\">{}</td></tr>",
            html::time(d.progress.created_at),
            html::ago(d.progress.created_at, now),
            d.event.as_str(),
            d.message_id,
            html::badge(d.progress.status.as_str()),
            d.progress.attempts,
            last,
            last,
            retry
        );
    }
    if recent.is_empty() {
        html!(out, "<tr><td colspan=\"7\" class=\"empty\">Nothing sent yet.</td></tr>");
    }
    html!(out, "</tbody></table></div>");
    out
}
