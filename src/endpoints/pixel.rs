//! `GET /pixel.gif?click_id=&order_id=&amount=&currency=`: a conversion pixel for the thank-you
//! page, off unless the merchant turns it on (`--pixel on`). It always answers a 1x1 GIF,
//! whatever happens, so it can never break the page. A valid pixel records a conversion with
//! source `pixel` through the same intake as every other source; the order ID dedups it against
//! the postback or API call for the same order.
//!
//! The pixel runs in visitors' browsers: anyone can fire it with any order ID and their own click
//! ID. So a pixel conversion is never approved automatically, and a server-side report of the
//! same order takes it over (`store::conversions::insert`): the pixel can add a sale the shop
//! never reports, never keep one from the affiliate the shop credits.

use crate::error::Error;
use crate::intake;
use crate::store::conversions::Stored;
use crate::tracking::attribution::Keys;
use crate::tracking::conversion::{NewConversion, Source};
use crate::tracking::{click_id, money, postback};
use crate::transport::Req;
use crate::transport::response::Response;
use crate::web::Ctx;

/// A transparent 1x1 GIF.
pub const GIF: [u8; 43] = [
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff,
    0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x02,
    0x02, 0x44, 0x01, 0x00, 0x3b,
];

pub fn pixel(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    if !ctx.config.pixel {
        return Err(Error::not_found(
            "not_found",
            "the conversion pixel is off; the merchant turns it on with --pixel on (AFFILIATED_PIXEL=on)",
        ));
    }
    if req.method != crate::transport::request::Method::Head {
        match reported(req).map(|new| new.map(|new| intake::record(&ctx.intake(), new))) {
            Ok(Some(Ok(Stored::Created(c)))) => log::info!("pixel recorded conversion {}", c.id),
            Ok(Some(Ok(_))) | Ok(None) => {}
            Ok(Some(Err(e))) | Err(e) if e.status >= 500 => log::error!("pixel conversion failed: {e}"),
            Ok(Some(Err(e))) | Err(e) => log::info!("pixel ignored: {}", e.message),
        }
    }
    Ok(Response::bytes(200, "image/gif", GIF.to_vec())
        .with_header("Cache-Control", "no-store, max-age=0")
        .with_header("Access-Control-Allow-Origin", "*"))
}

/// The conversion a pixel reports, if its input is complete; `None` when there is nothing to
/// record (no click or order, or a malformed click ID).
fn reported(req: &Req) -> Result<Option<NewConversion>, Error> {
    let (Some(click), Some(order)) = (req.query("click_id"), req.query("order_id")) else { return Ok(None) };
    if !click_id::is_well_formed(click) {
        return Ok(None);
    }
    for name in ["order_id", "amount", "currency"] {
        if let Some(value) = req.query(name).filter(|v| postback::is_unreplaced_macro(v)) {
            return Err(postback::unreplaced(name, value));
        }
    }
    let amount = req.query("amount").map(String::from);
    if let Some(amount) = &amount {
        money::check_shape(amount).map_err(|e| Error::invalid("amount", e))?;
    }
    Ok(Some(NewConversion {
        external_id: order.to_string(),
        kind: "sale".into(),
        amount,
        currency: req.query("currency").map(|c| money::currency("currency", c)).transpose()?,
        keys: Keys { click_id: Some(click.to_string()), ..Keys::default() },
        source: Source::Pixel,
        actor: "pixel".into(),
        test: false,
        customer_email: None,
        details: Default::default(),
        type_rate_only: false,
    }))
}
