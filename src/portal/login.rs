//! `/portal/login` and `/portal/logout`. A login is the referral code and the password the
//! affiliate chose on their invite. The password is checked on the password gate's threads
//! (Argon2id, `crate::password`); the session is stored on the writer only if the account still has the
//! password that was checked and is not paused, so a re-invite or a pause that lands in between
//! wins. Failed logins are counted per address, per affiliate for browsers new to the account
//! and per device cookie (`web::throttle`); a success never resets a count, and hands the
//! browser a device cookie for the account (`web::device`). The log target of their lines is
//! fixed (`affiliated::portal`) so fail2ban can match it, like the admin's.

use std::time::Instant;

use super::{LIMITS, REALM, device_cookie, form_expired, layout, with_form_token};
use crate::error::Error;
use crate::intake::accounts::{self, LogIn};
use crate::password;
use crate::store::portal::{self, Account};
use crate::store::sessions::Principal;
use crate::transport::Req;
use crate::transport::response::Response;
use crate::ui::html::{Html, fragment};
use crate::web::Ctx;
use crate::web::device;
use crate::web::form::Form;
use crate::web::session;
use crate::web::session::is_https;
use crate::web::throttle::{Client, address_key};

/// The log target of login lines.
pub const LOG_TARGET: &str = "affiliated::portal";

/// The login form, with `error` above it and the referral code typed before, and a link to the
/// application form while applications are on.
fn form_page(status: u16, csrf: &str, code: &str, error: Option<&str>, apply: bool) -> Response {
    let error = match error {
        Some(text) => fragment!("<div class=\"notice error\" role=\"alert\">{}</div>", text),
        None => Html::new(),
    };
    let body = fragment!(
        "<div class=\"login\"><p class=\"brand\" style=\"justify-content:center;margin-bottom:18px\"><i></i>affiliated</p>\
         <div class=\"card\"><h1 style=\"margin-top:0\">Affiliate login</h1>\
         <p class=\"sub\">Your referral code, and the password you chose with your invite link. \
         <a href=\"/portal/forgot\">Forgot your password?</a></p>{}\
         <form method=\"post\" action=\"/portal/login\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">\
         <label for=\"referral_code\">Referral code</label>\
         <input id=\"referral_code\" type=\"text\" name=\"referral_code\" value=\"{}\" autocomplete=\"username\" \
         required autofocus style=\"width:100%;margin:6px 0 14px\">\
         <label for=\"password\">Password</label>\
         <input id=\"password\" type=\"password\" name=\"password\" autocomplete=\"current-password\" required>\
         <button class=\"btn primary\" type=\"submit\" style=\"width:100%\">Log in</button></form>{}</div></div>",
        error,
        csrf,
        code,
        if apply {
            Html::from_static(
                "<p class=\"muted\" style=\"margin:14px 0 0\">Not an affiliate yet? \
                 <a href=\"/portal/apply\">Apply to join</a>.</p>",
            )
        } else {
            Html::new()
        }
    );
    Response::html(status, layout::bare_page("Log in", &body))
}

pub fn form(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    if let Some(s) = session::current(ctx, &REALM, req)?
        && let Principal::Affiliate(id) = s.principal
        && portal::may_use_portal(&ctx.db, id)?
    {
        return Ok(Response::see_other("/portal".into()));
    }
    Ok(with_form_token(ctx, req, |csrf| form_page(200, csrf, "", None, ctx.config.signup.is_on())))
}

/// The client's address as log lines show it.
fn client_address(req: &Req) -> String {
    req.client_ip.map_or_else(|| "an unknown address".to_string(), |ip| ip.to_string())
}

fn too_many(ctx: &Ctx, req: &Req, code: &str, wait: u64) -> Response {
    let minutes = wait.div_ceil(60);
    let text =
        format!("Too many failed attempts. Try again in {minutes} minute{}.", if minutes == 1 { "" } else { "s" });
    with_form_token(ctx, req, |csrf| form_page(429, csrf, code, Some(&text), ctx.config.signup.is_on()))
        .with_header("Retry-After", wait.to_string())
}

pub fn submit(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let form = Form::parse(req)?;
    if !session::form_token_matches(&REALM, req, &form) {
        log::warn!(target: LOG_TARGET, "portal login from {} refused: missing or wrong form token", client_address(req));
        return Ok(form_expired());
    }
    let code = form.get("referral_code").unwrap_or("");
    let now = Instant::now();
    let address = address_key(req.client_ip);
    let account = if code.is_empty() { None } else { portal::account(&ctx.db, code)? };
    let affiliate = account.as_ref().map(|a| a.affiliate_id);
    let hash = account.as_ref().and_then(|a| a.password_hash.clone());
    let client = match (affiliate, &hash) {
        (Some(id), Some(hash)) => device::client(
            ctx.config.device_key.as_ref(),
            &REALM,
            req.headers.cookie.as_deref(),
            &id.to_string(),
            hash.as_bytes(),
            crate::clock::now_ms(),
        ),
        _ => Client::Untrusted,
    };
    let guess = match LIMITS.begin(address, affiliate, client, now) {
        Ok(guess) => guess,
        Err(wait) => return Ok(too_many(ctx, req, code, wait)),
    };
    let password = form.raw("password").to_string();
    let matches = match password::verify(&password, hash.as_deref()) {
        Ok(matches) => matches,
        Err(e) => {
            LIMITS.take_back(guess);
            return Err(e);
        }
    };
    let Some(&Account { affiliate_id, paused, .. }) = account.as_ref().filter(|_| matches) else {
        // The guess stays counted.
        log::warn!(target: LOG_TARGET, "portal login failed from {}", client_address(req));
        let text = "That referral code and password do not match.";
        return Ok(with_form_token(ctx, req, |csrf| form_page(401, csrf, code, Some(text), ctx.config.signup.is_on())));
    };
    LIMITS.take_back(guess);
    if paused {
        let text = "Your account is paused, so the portal is closed to it. Ask the merchant about it.";
        return Ok(with_form_token(ctx, req, |csrf| form_page(403, csrf, code, Some(text), ctx.config.signup.is_on())));
    }
    let checked = hash.unwrap_or_default();
    let trust = device_cookie(ctx, req, affiliate_id, &checked);
    let new = REALM.new_session();
    let cookie = session::cookie_of(&REALM, &new, is_https(ctx, req));
    if accounts::log_in_affiliate(&ctx.intake(), affiliate_id, checked, new)? == LogIn::AccountChanged {
        let text = "Your account changed while you were logging in (a new invite, or it was paused). Try again.";
        return Ok(with_form_token(ctx, req, |csrf| form_page(409, csrf, code, Some(text), ctx.config.signup.is_on())));
    }
    log::info!(target: LOG_TARGET, "portal login of affiliate {affiliate_id} from {}", client_address(req));
    let response = Response::see_other("/portal".into()).with_header("Set-Cookie", cookie);
    Ok(match trust {
        Some(trust) => response.with_header("Set-Cookie", trust),
        None => response,
    })
}

/// Ends the session on the server, then removes the cookie.
pub fn logout(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let cookie = session::end(ctx, &REALM, req, is_https(ctx, req))?;
    Ok(Response::see_other("/portal/login".into()).with_header("Set-Cookie", cookie))
}
