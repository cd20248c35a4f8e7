//! `/admin/coupons`: codes shoppers type at checkout that credit an affiliate without a click.
//! List, create, and move a coupon to another affiliate or offer.

use super::{PAGE_SIZE, see_other};
use crate::error::Error;
use crate::intake::{self, coupons::Owner};
use crate::store::coupons::{self, Coupon};
use crate::transport::Req;
use crate::transport::response::Response;
use crate::ui::html::{Html, fragment, html};
use crate::ui::layout::{self, Notice};
use crate::web::Ctx;
use crate::web::form::Form;
use crate::web::json::Fields;

pub fn page(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    list_page(ctx, req, super::notice(req), &Form::default(), 200)
}

fn list_page(ctx: &Ctx, req: &Req, notice: Notice, draft: &Form, status: u16) -> Result<Response, Error> {
    let rows = coupons::list(&ctx.db, req.query("after").unwrap_or(""), PAGE_SIZE)?;
    let next = crate::web::views::next_cursor(&rows, PAGE_SIZE, |c| c.code.clone());
    let mut body = fragment!(
        "<h1>Coupons</h1><p class=\"sub\">A conversion reported with a coupon code is credited to the coupon's affiliate.</p>\
         <div class=\"table\"><table><thead><tr><th>Code</th><th>Affiliate</th><th>Offer</th><th>Since</th></tr></thead><tbody>"
    );
    for c in &rows {
        html!(
            body,
            "<tr><td class=\"mono\"><a href=\"/admin/coupons/{}\">{}</a></td><td><a href=\"/admin/affiliates/{}\">{}</a></td>\
             <td>{}</td><td>{}</td></tr>",
            c.code,
            c.code,
            c.referral_code,
            c.referral_code,
            c.offer_public_id.as_deref().unwrap_or("default offer"),
            crate::clock::day_text(crate::clock::day_of(c.created_at))
        );
    }
    if rows.is_empty() {
        html!(body, "<tr><td colspan=\"4\" class=\"empty\">No coupons yet.</td></tr>");
    }
    html!(
        body,
        "</tbody></table></div><div class=\"pager\"><span></span>{}</div><h2>Add a coupon</h2><div class=\"card\">\
         <form method=\"post\" action=\"/admin/coupons\">{}<div class=\"form-grid\">\
         <label>Code<input type=\"text\" name=\"code\" required value=\"{}\" placeholder=\"ANN10\"></label>{}</div></form></div>",
        super::next_link(req, "/admin/coupons", "after", next),
        layout::csrf_field(req),
        draft.raw("code"),
        owner_fields(draft.raw("referral_code"), draft.raw("offer"), "Add coupon")
    );
    Ok(Response::html(status, layout::page(req, "Coupons", "/admin/coupons", &notice, &body)))
}

fn owner_fields(referral_code: &str, offer: &str, button: &str) -> Html {
    fragment!(
        "<label>Affiliate (referral code)<input type=\"text\" name=\"referral_code\" required value=\"{}\"></label>\
         <label>Offer ID (empty: the default offer)<input type=\"text\" name=\"offer\" value=\"{}\"></label>\
         <div><button class=\"btn primary\" type=\"submit\">{}</button></div>",
        referral_code,
        offer,
        button
    )
}

pub fn create(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let form = Form::parse(req)?;
    let checked =
        form.required_text("code").and_then(|code| Ok((code, form.required_text("referral_code")?.to_string())));
    let (code, referral_code) = match checked {
        Ok(values) => values,
        Err(e) => return list_page(ctx, req, Notice::Error(e.message), &form, e.status),
    };
    let owner = Owner { referral_code, offer: form.get("offer").map(String::from) };
    match intake::coupons::create(&ctx.intake(), code, owner) {
        Ok(c) => Ok(see_other(&format!("/admin/coupons/{}", c.code), &[("done", "created")])),
        Err(e) if e.status < 500 => list_page(ctx, req, Notice::Error(e.message), &form, e.status),
        Err(e) => Err(e),
    }
}

fn find(ctx: &Ctx, req: &Req) -> Result<Coupon, Error> {
    let code = req.param(0);
    coupons::get(&ctx.db, code)?.ok_or_else(|| Error::not_found("not_found", format!("no coupon has code `{code}`")))
}

pub fn edit(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let coupon = find(ctx, req)?;
    edit_page(req, &coupon, super::notice(req), None, 200)
}

fn edit_page(req: &Req, c: &Coupon, notice: Notice, draft: Option<&Form>, status: u16) -> Result<Response, Error> {
    let (referral_code, offer) = match draft {
        Some(form) => (form.raw("referral_code"), form.raw("offer")),
        None => (c.referral_code.as_str(), c.offer_public_id.as_deref().unwrap_or("")),
    };
    let active = match draft {
        Some(form) => form.get("active").is_some(),
        None => c.active,
    };
    let switch = if active {
        fragment!(
            "<label><input type=\"checkbox\" name=\"active\" value=\"1\" checked> Active (off: it credits nobody)</label>"
        )
    } else {
        fragment!(
            "<label><input type=\"checkbox\" name=\"active\" value=\"1\"> Active (off: it credits nobody)</label>"
        )
    };
    let body = fragment!(
        "<p class=\"muted\" style=\"margin:18px 0 0\"><a href=\"/admin/coupons\">Coupons</a> /</p><h1 class=\"mono\">{}</h1>\
         <p class=\"sub\">Changes apply to conversions reported from now on.</p><div class=\"card\">\
         <form method=\"post\" action=\"/admin/coupons/{}\">{}<div class=\"form-grid\">{}{}</div></form></div>",
        c.code,
        c.code,
        layout::csrf_field(req),
        switch,
        owner_fields(referral_code, offer, "Save")
    );
    Ok(Response::html(status, layout::page(req, &c.code, "/admin/coupons", &notice, &body)))
}

pub fn update(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let coupon = find(ctx, req)?;
    let form = Form::parse(req)?;
    let referral_code = match form.required_text("referral_code") {
        Ok(code) => code.to_string(),
        Err(e) => return edit_page(req, &coupon, Notice::Error(e.message), Some(&form), e.status),
    };
    let owner = Owner { referral_code, offer: form.get("offer").map(String::from) };
    match intake::coupons::update(&ctx.intake(), &coupon.code, owner, form.get("active").is_some()) {
        Ok(c) => Ok(see_other(&format!("/admin/coupons/{}", c.code), &[("done", "saved")])),
        Err(e) if e.status < 500 => edit_page(req, &coupon, Notice::Error(e.message), Some(&form), e.status),
        Err(e) => Err(e),
    }
}
