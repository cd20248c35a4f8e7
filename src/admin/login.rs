//! `/admin/login` and `/admin/logout`. Sessions and their cookie are the shared mechanism of
//! `web::session`, failed logins are counted by `web::throttle` (per address, for browsers
//! new to the admin, per device cookie) and a login hands the browser a device cookie
//! (`web::device`); this file holds the admin's form and its log lines. The log target of
//! failed logins is fixed (`affiliated::admin`) because fail2ban filters match it
//! (docs/operations.md).

use std::time::Instant;

use super::session::REALM;
use crate::error::Error;
use crate::store::sessions::Principal;
use crate::transport::Req;
use crate::transport::response::Response;
use crate::ui::html::{Html, fragment};
use crate::ui::layout;
use crate::web::Ctx;
use crate::web::admin_account::Admin;
use crate::web::device;
use crate::web::form::Form;
use crate::web::session::is_https;
use crate::web::session::{current, end, start};
use crate::web::throttle::address_key;

/// The log target of login lines.
pub const LOG_TARGET: &str = "affiliated::admin";

fn admin(ctx: &Ctx) -> Result<&Admin, Error> {
    ctx.admin.as_deref().ok_or_else(|| Error::not_found("not_found", "the admin is not enabled"))
}

/// Where to go after logging in: a path inside the admin, or the overview.
fn next_path(next: Option<&str>) -> String {
    next.filter(|n| super::is_admin_path(n.split('?').next().unwrap_or("")) && !n.contains(['\\', '\r', '\n']))
        .unwrap_or("/admin")
        .to_string()
}

fn form_page(status: u16, next: &str, error: Option<&str>) -> Response {
    let error = match error {
        Some(text) => fragment!("<div class=\"notice error\" role=\"alert\">{}</div>", text),
        None => Html::new(),
    };
    let body = fragment!(
        "<div class=\"login\"><p class=\"brand\" style=\"justify-content:center;margin-bottom:18px\"><i></i>affiliated</p>\
         <div class=\"card\"><h1 style=\"margin-top:0\">Log in to the admin</h1>\
         <p class=\"sub\">Use the admin token: the one in <span class=\"mono\">AFFILIATED_ADMIN_TOKEN</span>, or the \
         one the server wrote on its first start to <span class=\"mono\">&lt;database&gt;.initial-admin-token</span>.</p>{}\
         <form method=\"post\" action=\"/admin/login\"><input type=\"hidden\" name=\"next\" value=\"{}\">\
         <label for=\"token\">Admin token</label>\
         <input id=\"token\" type=\"password\" name=\"token\" autocomplete=\"current-password\" required autofocus>\
         <button class=\"btn primary\" type=\"submit\" style=\"width:100%\">Log in</button></form></div></div>",
        error,
        next
    );
    Response::html(status, layout::bare_page("Log in", &body))
}

pub fn form(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    admin(ctx)?;
    let next = next_path(req.query("next"));
    if current(ctx, &REALM, req)?.is_some() {
        return Ok(Response::see_other(next));
    }
    Ok(form_page(200, &next, None))
}

/// The admin's name in its device cookies.
const ACCOUNT: &str = "admin";

/// The client's address as log lines show it (fail2ban reads it from there).
fn client_address(req: &Req) -> String {
    req.client_ip.map_or_else(|| "an unknown address".to_string(), |ip| ip.to_string())
}

pub fn submit(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let admin = admin(ctx)?;
    let now = Instant::now();
    let form = Form::parse(req)?;
    let next = next_path(form.get("next"));
    let address = address_key(req.client_ip);
    let now_ms = crate::clock::now_ms();
    let key = ctx.config.device_key.as_ref();
    let client = device::client(key, &REALM, req.headers.cookie.as_deref(), ACCOUNT, admin.device_binding(), now_ms);
    let guess = match admin.limits.begin(address, Some(()), client, now) {
        Ok(guess) => guess,
        Err(wait) => {
            let minutes = wait.div_ceil(60);
            let text = format!(
                "Too many failed attempts. Try again in {minutes} minute{}.",
                if minutes == 1 { "" } else { "s" }
            );
            return Ok(form_page(429, &next, Some(&text)).with_header("Retry-After", wait.to_string()));
        }
    };
    if !admin.is_token(form.raw("token")) {
        // The guess stays counted.
        log::warn!(target: LOG_TARGET, "admin login failed from {}", client_address(req));
        return Ok(form_page(401, &next, Some("That token is not right.")));
    }
    admin.limits.take_back(guess);
    let secure = is_https(ctx, req);
    let cookie = start(ctx, &REALM, Principal::Admin, secure)?;
    log::info!(target: LOG_TARGET, "admin login from {}", client_address(req));
    let mut response = Response::see_other(next).with_header("Set-Cookie", cookie);
    if let Some(key) = key {
        let trust = device::issue(key, &REALM, ACCOUNT, admin.device_binding(), secure, now_ms);
        response = response.with_header("Set-Cookie", trust);
    }
    Ok(response)
}

/// Ends the session on the server, then removes the cookie.
pub fn logout(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let cookie = end(ctx, &REALM, req, is_https(ctx, req))?;
    Ok(Response::see_other("/admin/login".into()).with_header("Set-Cookie", cookie))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_admin_paths_are_followed_after_login() {
        assert_eq!(next_path(Some("/admin/conversions?status=pending")), "/admin/conversions?status=pending");
        for evil in ["https://evil.example/admin", "//evil.example/admin", "/administrator", "/admin\\..", "/r/x"] {
            assert_eq!(next_path(Some(evil)), "/admin", "{evil}");
        }
        assert_eq!(next_path(None), "/admin");
    }
}
