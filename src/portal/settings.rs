//! `/portal/settings`: the affiliate's outbound postback URL (checked like the API's, except
//! that the full order reference `{external_id}` is the merchant's to give:
//! `tracking::portal::check_own_postback_url`), a test postback, a new signing secret, and
//! where to pay them (PayPal e-mail, free-text bank details: personal data, erased with
//! `DELETE /api/v1/affiliates/{code}/personal-data`), and with e-mail on, which notifications
//! they get (`update_emails`: each approved conversion, each payout paid). Only these fields can change here: the
//! posted form is cut down to them before the API's reader sees it, so no field of the form can
//! rename, unpause or re-address the affiliate.

use super::{layout, me};
use crate::error::Error;
use crate::intake;
use crate::store::affiliates::{Affiliate, Changes};
use crate::store::deliveries::TestPostback;
use crate::store::emails;
use crate::tracking::outbound::POSTBACK_MACROS;
use crate::tracking::portal::{MERCHANT_ONLY_MACROS, check_own_postback_url};
use crate::transport::Req;
use crate::transport::response::Response;
use crate::ui::html::{Html, fragment, html};
use crate::ui::layout::{Notice, csrf_field};
use crate::web::Ctx;
use crate::web::form::Form;
use crate::web::input::affiliate_changes;

/// The fields an affiliate may change about themselves.
const FIELDS: &[&str] = &["postback_url", "payout_email", "payout_details"];

pub fn page(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let me = me(ctx, req)?;
    let notice = match req.query("done") {
        Some("saved") => Notice::Ok("Saved.".into()),
        Some("test-queued") => {
            Notice::Ok("A test postback is queued; your tracker should receive it within a few seconds.".into())
        }
        _ => Notice::None,
    };
    Ok(settings_page(req, &me, notice, None, 200, &mail_section(ctx, req, &me)?))
}

/// The e-mails section: which notifications the affiliate wants, when e-mail is on.
fn mail_section(ctx: &Ctx, req: &Req, me: &Affiliate) -> Result<Html, Error> {
    if !intake::mail::context(&ctx.config).on() {
        return Ok(fragment!(
            "<h2>E-mails</h2><div class=\"card\"><p class=\"muted\" style=\"margin:0\">This program sends no \
             e-mail; your numbers are here in the portal.</p></div>"
        ));
    }
    let (conversions, payouts) = emails::wants(&ctx.db, me.id)?;
    let checked = |on: bool| if on { " checked" } else { "" };
    let to = match &me.email {
        Some(address) => fragment!("They go to {}, the address the merchant has for you.", address.as_str()),
        None => fragment!("The merchant has no e-mail address for you, so none are sent; ask them to add it."),
    };
    Ok(fragment!(
        "<h2>E-mails</h2><form method=\"post\" action=\"/portal/settings/emails\">{}<div class=\"card\">\
         <label class=\"check\"><input type=\"checkbox\" name=\"conversions\" value=\"on\"{}> An e-mail for each \
         approved conversion</label><label class=\"check\"><input type=\"checkbox\" name=\"payouts\" value=\"on\"{}> \
         An e-mail when a payout is paid</label><p class=\"muted\">{} Password resets and invites always \
         come.</p><button class=\"btn\" type=\"submit\">Save e-mails</button></div></form>",
        csrf_field(req),
        checked(conversions),
        checked(payouts),
        to
    ))
}

/// `POST /portal/settings/emails`: the notifications the affiliate wants (checkboxes
/// `conversions`, `payouts`).
pub fn update_emails(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let me = me(ctx, req)?;
    let form = Form::parse(req)?;
    let on = |field: &str| form.get(field).is_some_and(|v| v == "on");
    intake::mail::set_notifications(&ctx.intake(), me.id, on("conversions"), on("payouts"))?;
    Ok(Response::see_other("/portal/settings?done=saved".into()))
}

fn settings_page(
    req: &Req,
    me: &Affiliate,
    notice: Notice,
    draft: Option<&Form>,
    status: u16,
    mail: &Html,
) -> Response {
    let value = |field: &str, stored: Option<&str>| match draft {
        Some(form) => form.raw(field).to_string(),
        None => stored.unwrap_or("").to_string(),
    };
    let macros: Vec<String> =
        POSTBACK_MACROS.iter().filter(|m| !MERCHANT_ONLY_MACROS.contains(m)).map(|m| format!("{{{m}}}")).collect();
    let mut body = fragment!(
        "<h1>Settings</h1><p class=\"sub\">Referral code <span class=\"mono\">{}</span></p>\
         <form method=\"post\" action=\"/portal/settings\">{}\
         <h2>Postback</h2><div class=\"card\"><label>Your postback URL (called on every new, approved, rejected or \
         refunded conversion)<input type=\"url\" name=\"postback_url\" style=\"width:100%\" value=\"{}\" \
         placeholder=\"https://tracker.example/pb?cid={{click_id}}&amp;payout={{commission}}\"></label>\
         <p class=\"muted\">Macros: <span class=\"mono\">{}</span>. Leave it empty to receive no postbacks. Each \
         postback carries <span class=\"mono\">X-Affiliated-Signature</span>, an HMAC of the URL with your signing \
         secret, and <span class=\"mono\">X-Affiliated-Ledger-Head</span>.</p></div>\
         <h2>Payout details</h2><div class=\"card\"><div class=\"form-grid\">\
         <label>PayPal e-mail<input type=\"email\" name=\"payout_email\" value=\"{}\"></label></div>\
         <label style=\"margin-top:12px\">Bank details or other payout instructions\
         <textarea name=\"payout_details\" rows=\"3\">{}</textarea></label>\
         <p class=\"muted\">Used only to pay you. This is personal data: the merchant erases it on request.</p></div>\
         <p><button class=\"btn primary\" type=\"submit\">Save</button></p></form>",
        me.referral_code,
        csrf_field(req),
        value("postback_url", me.postback_url.as_deref()),
        macros.join(" "),
        value("payout_email", me.payout_email.as_deref()),
        value("payout_details", me.payout_details.as_deref())
    );
    if me.postback_url.is_some() {
        html!(
            body,
            "<h2>Check your postbacks</h2><div class=\"card row\"><span class=\"muted\" style=\"flex:1\">A test \
             postback has event <span class=\"mono\">test</span> and sample values.</span>\
             <form class=\"inline\" method=\"post\" action=\"/portal/settings/postback-test\">{}\
             <button class=\"btn\" type=\"submit\">Send a test postback</button></form>\
             <form class=\"inline\" method=\"post\" action=\"/portal/settings/postback-secret\">{}\
             <button class=\"btn\" type=\"submit\" data-confirm=\"Make a new secret? The old one stops working at once.\">\
             New signing secret</button></form></div>",
            csrf_field(req),
            csrf_field(req)
        );
    }
    html!(body, "{}", mail.clone());
    Response::html(status, layout::page(req, "Settings", "/portal/settings", &notice, &body))
}

fn secret_notice(secret: String) -> Notice {
    Notice::Once {
        text: "Your postback signing secret. It is shown only now: put it in your tracker to verify the \
               X-Affiliated-Signature header of each postback."
            .into(),
        value: secret,
    }
}

/// The changes the form asks for, checked; only [`FIELDS`] are read.
fn changes(form: &Form, me: &Affiliate) -> Result<Changes, Error> {
    let own = form.only(FIELDS);
    let changes = affiliate_changes(&own)?;
    if let Some(Some(url)) = &changes.postback_url
        && me.postback_url.as_deref() != Some(url.as_str())
    {
        check_own_postback_url(url).map_err(|e| Error::invalid("postback_url", e))?;
    }
    Ok(Changes {
        postback_url: changes.postback_url,
        payout_email: changes.payout_email,
        payout_details: changes.payout_details,
        ..Changes::default()
    })
}

pub fn update(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let me = me(ctx, req)?;
    let form = Form::parse(req)?;
    let changes = match changes(&form, &me) {
        Ok(changes) => changes,
        Err(e) => {
            let mail = mail_section(ctx, req, &me)?;
            return Ok(settings_page(req, &me, Notice::Error(e.message), Some(&form), e.status, &mail));
        }
    };
    let updated = intake::affiliates::update(&ctx.intake(), &me.referral_code, changes)?;
    Ok(match updated.postback_secret {
        Some(secret) => {
            let mail = mail_section(ctx, req, &updated.affiliate)?;
            settings_page(req, &updated.affiliate, secret_notice(secret), None, 200, &mail)
        }
        None => Response::see_other("/portal/settings?done=saved".into()),
    })
}

pub fn test_postback(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let me = me(ctx, req)?;
    let mail = mail_section(ctx, req, &me)?;
    match crate::intake::test_postback(&ctx.intake(), &me.referral_code) {
        Ok(TestPostback::Queued(_)) => Ok(Response::see_other("/portal/settings?done=test-queued".into())),
        Ok(TestPostback::TooMany { retry_after }) => {
            let e = crate::intake::postback_test::too_many(retry_after);
            Ok(settings_page(req, &me, Notice::Error(e.message), None, e.status, &mail)
                .with_header("Retry-After", retry_after.to_string()))
        }
        Err(e) if e.status < 500 => Ok(settings_page(req, &me, Notice::Error(e.message), None, e.status, &mail)),
        Err(e) => Err(e),
    }
}

pub fn rotate_secret(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let me = me(ctx, req)?;
    let secret = intake::affiliates::rotate_postback_secret(&ctx.intake(), &me.referral_code)?;
    let mail = mail_section(ctx, req, &me)?;
    Ok(settings_page(req, &me, secret_notice(secret), None, 200, &mail))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn affiliate(postback_url: Option<&str>) -> Affiliate {
        Affiliate {
            id: 1,
            referral_code: "ann".into(),
            name: "Ann".into(),
            email: None,
            postback_url: postback_url.map(String::from),
            created_at: 0,
            paused: true,
            payout_email: None,
            payout_details: None,
            terms: None,
        }
    }

    fn form(pairs: &[(&str, &str)]) -> Form {
        Form::from_pairs(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    }

    #[test]
    fn only_the_postback_and_payout_fields_change() {
        let posted = form(&[
            ("name", "Mallory"),
            ("email", "m@evil.example"),
            ("status", "active"),
            ("payout_email", "ann@pay.example"),
            ("postback_url", "https://t.example/pb?c={commission}"),
        ]);
        let c = changes(&posted, &affiliate(None)).unwrap();
        assert_eq!((c.name, c.email, c.paused), (None, None, None));
        assert_eq!(c.payout_email, Some(Some("ann@pay.example".into())));
        assert_eq!(c.postback_url, Some(Some("https://t.example/pb?c={commission}".into())));
        assert_eq!(c.payout_details, None, "not posted, not changed");
        let bad = changes(&form(&[("payout_email", "not an e-mail")]), &affiliate(None)).unwrap_err();
        assert_eq!(bad.code, "invalid_payout_email");
    }

    #[test]
    fn an_order_reference_macro_is_refused_unless_the_merchant_set_it() {
        let url = "https://t.example/pb?o={external_id}";
        let refused = changes(&form(&[("postback_url", url)]), &affiliate(None)).unwrap_err();
        assert_eq!(refused.code, "invalid_postback_url");
        let kept = changes(&form(&[("postback_url", url)]), &affiliate(Some(url))).unwrap();
        assert_eq!(kept.postback_url, Some(Some(url.to_string())), "saving the merchant's URL unchanged works");
        let cleared = changes(&form(&[("postback_url", "")]), &affiliate(Some(url))).unwrap();
        assert_eq!(cleared.postback_url, Some(None));
    }
}
