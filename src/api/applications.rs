//! `/api/v1/applications`: the applications would-be affiliates sent through `/portal/apply`
//! (#24), and the merchant's decision on each: approve (which makes the affiliate, exactly once)
//! or reject, and erasing an applicant's personal data. Live keys only.

use serde_json::{Value, json};

use crate::error::Error;
use crate::intake;
use crate::intake::applications::{Approval, Choices, Decision};
use crate::store::applications::{self, Application};
use crate::store::offers;
use crate::store::retention::Kind;
use crate::tracking::application::Status;
use crate::transport::Req;
use crate::transport::response::Response;
use crate::web::json::Body;
use crate::web::{Ctx, views};

/// The fields of an approval's body, and of its `offer` object.
pub const APPROVE_FIELDS: &[&str] = &["referral_code", "offer"];
const OFFER_FIELDS: &[&str] = &["id", "commission"];

/// `GET /api/v1/applications?status=pending|approved|rejected`: oldest first, paged.
pub fn list(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let limit = super::limit(req)?;
    let after = super::cursor(req)?.unwrap_or(0);
    let status = req
        .query("status")
        .map(|s| Status::parse(s).ok_or_else(|| Error::invalid("status", "must be pending, approved or rejected")))
        .transpose()?;
    let rows = applications::list(&ctx.db, status, after, limit)?;
    let next = views::next_cursor(&rows, limit, |a| a.id.to_string());
    Ok(Response::json(200, &views::page(rows.iter().map(views::application).collect(), next)))
}

pub fn get(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let id = req.id(0, applications::not_found)?;
    let application = applications::get(&ctx.db, id)?.ok_or_else(|| applications::not_found(id))?;
    Ok(Response::json(200, &views::application(&application)))
}

/// `POST /api/v1/applications/{id}/approve` `{referral_code?, offer?: {id?, commission}}`: 201
/// with the affiliate it made (and `invite_url`, the link for them to choose a password;
/// `emailed`: whether it was e-mailed to them too).
pub fn approve(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let body = Body::parse(&req.body, APPROVE_FIELDS)?;
    let id = req.id(0, applications::not_found)?;
    let mut choices = Choices { referral_code: body.str("referral_code")?.map(String::from), rate: None };
    if let Some(offer) = body.object("offer")? {
        offer.allow_only(OFFER_FIELDS)?;
        let found = offers::named_or_default(&ctx.db, offer.str("id")?)?;
        let commission = offer.object("commission")?.ok_or_else(|| Error::invalid("offer", "needs a commission"))?;
        let (rule, per_type) = super::offers::commission(&commission, found.currency)?;
        choices.rate = Some((found.id, intake::rates::rules(rule, per_type)));
    }
    answer(ctx, id, Status::Approved, intake::applications::approve(&ctx.intake(), id, choices)?)
}

/// `POST /api/v1/applications/{id}/reject` `{reason?}`: 200 with the application (`emailed`:
/// whether the applicant is told by e-mail).
pub fn reject(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let body = Body::parse(&req.body, &["reason"])?;
    let id = req.id(0, applications::not_found)?;
    let reason = body.str("reason")?.map(String::from);
    answer(ctx, id, Status::Rejected, intake::applications::reject(&ctx.intake(), id, reason)?)
}

/// `DELETE /api/v1/applications/{id}/personal-data`: the applicant's name, e-mail, website and
/// payout e-mail are erased (a pending application is rejected with it); logged like every
/// erasure.
pub fn erase_personal_data(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let id = req.id(0, applications::not_found)?;
    super::erase(ctx, Kind::Application, id.to_string())
}

/// A decision as the API answers it.
fn answer(ctx: &Ctx, id: i64, wanted: Status, decision: Decision) -> Result<Response, Error> {
    match decision {
        Decision::Approved(approval) => Ok(Response::json(201, &approved(ctx, &approval))),
        Decision::Rejected(rejection) => {
            let mut view = views::application(&rejection.application);
            view["emailed"] = json!(rejection.emailed_to.is_some());
            Ok(Response::json(200, &view))
        }
        Decision::CodeTaken { application, referral_code } => Err(code_taken(&application, &referral_code)),
        Decision::AlreadyDecided(application) => {
            Err(applications::refused(&application, wanted).with_extra("application", views::application(&application)))
        }
        Decision::NotFound => Err(applications::not_found(id)),
    }
}

/// The affiliate an approval made, with the link for them to choose their portal password.
pub fn approved(ctx: &Ctx, approval: &Approval) -> Value {
    let mut view = views::affiliate(&approval.affiliate, &ctx.config.public_url);
    let (url, expires) = match &approval.invite {
        Some(invite) => (json!(invite.url), json!(crate::clock::rfc3339(invite.expires_at))),
        None => (Value::Null, Value::Null),
    };
    view["invite_url"] = url;
    view["invite_expires_at"] = expires;
    view["emailed"] = json!(approval.invite.as_ref().is_some_and(|i| i.emailed_to.is_some()));
    view["application_id"] = json!(approval.application.id);
    view
}

fn code_taken(application: &Application, code: &str) -> Error {
    let whose = if code.eq_ignore_ascii_case(&application.referral_code) { "the applicant's wished" } else { "the" };
    Error::conflict(
        "duplicate_referral_code",
        format!(
            "{whose} referral code `{code}` is another affiliate's; approve with a `referral_code` of your choice \
             (nothing was changed)"
        ),
    )
    .with_extra("application", views::application(application))
}
