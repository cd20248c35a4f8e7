//! `/portal/forgot`: an affiliate who forgot their password types their e-mail address and gets
//! a reset link by e-mail (`intake::accounts::request_reset`; the link is `/portal/reset/{token}`,
//! `reset.rs`). The answer is the same page whoever has the address or nobody does, after the
//! same work on the writer, so the form tells no one which addresses have accounts.
//!
//! Asking is throttled like the login (`web::throttle`): per client address, and per e-mail
//! address typed (so nobody floods an affiliate's mailbox from many addresses); a request is
//! counted whatever its outcome. Without e-mail (`--smtp-url` unset) the page says to ask the
//! merchant for a new invite link, as before e-mail existed.

use std::sync::LazyLock;
use std::time::{Duration, Instant};

use super::{REALM, form_expired, layout, with_form_token};
use crate::error::Error;
use crate::intake::accounts;
use crate::transport::Req;
use crate::transport::response::Response;
use crate::ui::html::{Html, fragment};
use crate::web::Ctx;
use crate::web::form::Form;
use crate::web::session;
use crate::web::throttle::{Throttle, address_key};

/// Requests from one client address within [`WINDOW`], at most.
pub const PER_ADDRESS: u32 = 10;
/// Requests for one e-mail address within [`WINDOW`], at most (each may send a message).
pub const PER_EMAIL: u32 = 3;
pub const WINDOW: Duration = Duration::from_secs(15 * 60);

static BY_CLIENT: LazyLock<Throttle<std::net::IpAddr>> = LazyLock::new(|| Throttle::new(PER_ADDRESS, WINDOW));
static BY_EMAIL: LazyLock<Throttle<[u8; 32]>> = LazyLock::new(|| Throttle::new(PER_EMAIL, WINDOW));

/// The card of every forgot page: `inside` under the heading.
fn card(status: u16, inside: Html) -> Response {
    let body = fragment!(
        "<div class=\"login\"><p class=\"brand\" style=\"justify-content:center;margin-bottom:18px\"><i></i>affiliated</p>\
         <div class=\"card\"><h1 style=\"margin-top:0\">Forgot your password?</h1>{}\
         <p class=\"sub\" style=\"margin-top:14px\"><a href=\"/portal/login\">Back to the login</a></p></div></div>",
        inside
    );
    Response::html(status, layout::bare_page("Forgot your password", &body))
}

/// Without e-mail: what to do instead.
fn by_hand() -> Response {
    card(
        200,
        fragment!(
            "<p class=\"sub\">This program does not send e-mail. Ask the merchant for a new invite link: it lets you \
             choose a new password.</p>"
        ),
    )
}

fn form_page(status: u16, csrf: &str, error: Option<&str>) -> Response {
    let error = match error {
        Some(text) => fragment!("<div class=\"notice error\" role=\"alert\">{}</div>", text),
        None => Html::new(),
    };
    card(
        status,
        fragment!(
            "<p class=\"sub\">Type the e-mail address the merchant has for you. We send a link that lets you choose a \
             new password; it works for an hour.</p>{}\
             <form method=\"post\" action=\"/portal/forgot\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">\
             <label for=\"email\">E-mail address</label>\
             <input id=\"email\" type=\"email\" name=\"email\" autocomplete=\"email\" required autofocus \
             style=\"width:100%;margin:6px 0 14px\">\
             <button class=\"btn primary\" type=\"submit\" style=\"width:100%\">Send the link</button></form>",
            error,
            csrf
        ),
    )
}

/// The answer to every request that was taken: the same words, whoever has the address.
fn sent() -> Response {
    card(
        200,
        fragment!(
            "<div class=\"notice ok\" role=\"status\">If an affiliate account has this address, a link to choose a new \
             password is on its way to it. It works once, for an hour.</div>\
             <p class=\"sub\">Nothing arrived after a few minutes? Check the spam folder, or ask the merchant which \
             address they have for you.</p>"
        ),
    )
}

pub fn form(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    if !crate::intake::mail::context(&ctx.config).on() {
        return Ok(by_hand());
    }
    Ok(with_form_token(ctx, req, |csrf| form_page(200, csrf, None)))
}

pub fn submit(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    if !crate::intake::mail::context(&ctx.config).on() {
        return Ok(by_hand());
    }
    let form = Form::parse(req)?;
    if !session::form_token_matches(&REALM, req, &form) {
        return Ok(form_expired());
    }
    let email = form.get("email").unwrap_or("").trim().to_string();
    if crate::tracking::validate::email(&email).is_err() {
        let text = "That is not an e-mail address. Type the one the merchant has for you.";
        return Ok(with_form_token(ctx, req, |csrf| form_page(400, csrf, Some(text))));
    }
    let now = Instant::now();
    let client = address_key(req.client_ip);
    let typed = crate::secret::sha256(email.to_lowercase().as_bytes());
    let taken = BY_CLIENT
        .take(client, now)
        .and_then(|()| BY_EMAIL.take(typed, now).inspect_err(|_| BY_CLIENT.give_back(client, now)));
    if let Err(wait) = taken {
        let minutes = wait.div_ceil(60);
        let text = format!("Too many requests. Try again in {minutes} minute{}.", if minutes == 1 { "" } else { "s" });
        return Ok(with_form_token(ctx, req, |csrf| form_page(429, csrf, Some(&text)))
            .with_header("Retry-After", wait.to_string()));
    }
    accounts::request_reset(&ctx.intake(), &email)?;
    log::info!(target: super::login::LOG_TARGET, "password reset asked for from {}", client);
    Ok(sent())
}
