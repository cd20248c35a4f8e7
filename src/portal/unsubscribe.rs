//! `/portal/unsubscribe/{token}`: the link in a notification e-mail's footer and its
//! `List-Unsubscribe` header. `GET` shows what it turns off and a button; `POST` turns it off.
//! The `POST` is also RFC 8058's one-click unsubscribe, which mail providers send without a
//! cookie or a form token: the token in the link is what allows it, and all it can do is turn
//! off one kind of notification of the affiliate it was sent to. An unknown link is a 404
//! page that changes nothing. Logged-in affiliates turn notifications back on in their settings.

use super::layout;
use crate::error::Error;
use crate::intake::mail;
use crate::store::emails;
use crate::tracking::mail::Kind;
use crate::transport::Req;
use crate::transport::response::Response;
use crate::ui::html::fragment;
use crate::web::Ctx;

fn what(kind: Kind) -> &'static str {
    if kind == Kind::ConversionApproved {
        "an e-mail for each approved conversion"
    } else {
        "an e-mail for each payout paid"
    }
}

fn unknown() -> Response {
    let body = fragment!(
        "<div class=\"login\"><div class=\"card\"><h1 style=\"margin-top:0\">Unknown link</h1>\
         <p class=\"sub\">This unsubscribe link is not known (it may be too old). Log in to the portal and choose \
         your e-mails under Settings.</p><a class=\"btn\" href=\"/portal/settings\">Settings</a></div></div>"
    );
    Response::html(404, layout::bare_page("Unknown link", &body))
}

pub fn form(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let token = req.param(0);
    let known = token
        .starts_with(mail::UNSUBSCRIBE_PREFIX)
        .then(|| emails::by_unsubscribe(&ctx.db, &crate::secret::sha256(token.as_bytes())))
        .transpose()?
        .flatten();
    let Some((_, kind)) = known else { return Ok(unknown()) };
    let body = fragment!(
        "<div class=\"login\"><div class=\"card\"><h1 style=\"margin-top:0\">Stop these e-mails?</h1>\
         <p class=\"sub\">You get {} from this affiliate program. You can turn them back on in the portal's \
         settings.</p><form method=\"post\" action=\"/portal/unsubscribe/{}\">\
         <button class=\"btn primary\" type=\"submit\" style=\"width:100%\">Unsubscribe</button></form></div></div>",
        what(kind),
        token
    );
    Ok(Response::html(200, layout::bare_page("Unsubscribe", &body)))
}

pub fn submit(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let Some(kind) = mail::unsubscribe(&ctx.intake(), req.param(0))? else { return Ok(unknown()) };
    let body = fragment!(
        "<div class=\"login\"><div class=\"card\"><h1 style=\"margin-top:0\">Unsubscribed</h1>\
         <p class=\"sub\">You no longer get {}. Turn them back on under Settings in the portal.</p>\
         <a class=\"btn\" href=\"/portal/settings\">Settings</a></div></div>",
        what(kind)
    );
    Ok(Response::html(200, layout::bare_page("Unsubscribed", &body)))
}
