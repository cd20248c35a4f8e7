//! `/api/v1/customers`: tie a merchant's customer to an affiliate for recurring commissions.

use crate::error::Error;
use crate::intake;
use crate::store::Insert;
use crate::store::customers::{self, Customer};
use crate::tracking::attribution::Keys;
use crate::tracking::customer::NewCustomer;
use crate::transport::Req;
use crate::transport::response::Response;
use crate::web::json::Body;
use crate::web::{Ctx, views};

pub fn create(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let body = Body::parse(&req.body, &["customer_id", "click_id", "coupon", "session_id", "email", "name", "test"])?;
    answer(intake::tie_customer(&ctx.intake(), new_customer(req, &body, true)?)?)
}

/// The customer fields shared by `POST /customers` and registration leads (which attribute by
/// click or session only, so they pass `with_coupon: false`).
pub fn new_customer(req: &Req, body: &Body, with_coupon: bool) -> Result<NewCustomer, Error> {
    Ok(NewCustomer {
        customer_id: body.id_text("customer_id")?.ok_or_else(|| Error::missing("customer_id"))?,
        keys: Keys {
            click_id: body.str("click_id")?.map(String::from),
            coupon: if with_coupon { body.str("coupon")?.map(String::from) } else { None },
            session_id: body.id_text("session_id")?,
            ..Keys::default()
        },
        email: body.str("email")?.map(String::from),
        name: body.str("name")?.map(String::from),
        test: super::is_test(req, body)?,
    })
}

/// 201 with the tied customer, or 409 `duplicate_customer_id` with the existing one.
pub fn answer(outcome: Insert<Customer>) -> Result<Response, Error> {
    match outcome {
        Insert::Created(c) => Ok(Response::json(201, &views::customer(&c))),
        Insert::Duplicate(c) => Err(Error::conflict(
            "duplicate_customer_id",
            format!("customer `{}` already exists and stays with its affiliate", c.customer_id),
        )
        .with_extra("customer", views::customer(&c))),
    }
}

pub fn get(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let id = req.param(0);
    // A test key sees test ties only; a live key both, the live one first.
    let found = if req.test_key { customers::get(&ctx.db, id, true)? } else { customers::any(&ctx.db, id)? };
    let customer = found.ok_or_else(|| Error::not_found("not_found", format!("no customer has id `{id}`")))?;
    Ok(Response::json(200, &views::customer(&customer)))
}

/// `DELETE /api/v1/customers/{customer_id}`: erases the customer's personal data (see
/// `store::retention`): 204, or 404 if there was nothing to erase (the erasure is logged anyway,
/// so a restored backup that still has the customer gets it erased on start).
pub fn erase(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let id = req.param(0).to_string();
    super::erase(ctx, crate::store::retention::Kind::Customer, id)
}
