//! `/admin/login` and `/admin/logout`.

use std::time::Instant;

use super::form::Form;
use super::html::{Html, fragment};
use super::{is_https, layout, session};
use crate::error::Error;
use crate::http::response::Response;
use crate::http::{Ctx, Req};

fn admin(ctx: &Ctx) -> Result<&session::Admin, Error> {
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
         <p class=\"sub\">Use the admin token set in <span class=\"mono\">AFFILIATED_ADMIN_TOKEN</span>.</p>{}\
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
    let admin = admin(ctx)?;
    let next = next_path(req.query("next"));
    let now = crate::clock::now_ms() / 1000;
    if session::cookie(req.headers.cookie.as_deref(), session::COOKIE).is_some_and(|v| admin.is_valid(v, now)) {
        return Ok(Response::see_other(next));
    }
    Ok(form_page(200, &next, None))
}

pub fn submit(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let admin = admin(ctx)?;
    let now = Instant::now();
    let form = Form::parse(req)?;
    let next = next_path(form.get("next"));
    if let Err(wait) = admin.check_throttle(req.client_ip, now) {
        let minutes = wait.div_ceil(60);
        let text =
            format!("Too many failed attempts. Try again in {minutes} minute{}.", if minutes == 1 { "" } else { "s" });
        return Ok(form_page(429, &next, Some(&text)).with_header("Retry-After", wait.to_string()));
    }
    if !admin.is_token(form.raw("token")) {
        admin.record_failure(req.client_ip, now);
        log::warn!("admin login failed from {:?}", req.client_ip);
        return Ok(form_page(401, &next, Some("That token is not right.")));
    }
    admin.clear_failures(req.client_ip);
    let cookie = admin.issue(crate::clock::now_ms() / 1000);
    log::info!("admin login from {:?}", req.client_ip);
    Ok(Response::see_other(next).with_header("Set-Cookie", session::set_cookie(Some(&cookie), is_https(ctx, req))))
}

pub fn logout(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    Ok(Response::see_other("/admin/login".into())
        .with_header("Set-Cookie", session::set_cookie(None, is_https(ctx, req))))
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
