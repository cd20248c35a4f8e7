//! `GET /pixel.gif?click_id=&order_id=&amount=&currency=`: a conversion pixel for the thank-you
//! page, for dual tracking next to the server-to-server call. It always answers a 1x1 GIF, whatever
//! happens, so it can never break the page. A valid pixel records a conversion with source
//! `pixel`; the order ID dedups it against the postback or API call for the same order.

use std::sync::atomic::Ordering;

use super::response::Response;
use super::{Ctx, Req};
use crate::error::Error;
use crate::store::Insert;
use crate::store::attribute::Keys;
use crate::store::conversions::{self, NewConversion, Source};
use crate::tracking::{click_id, money};

/// A transparent 1x1 GIF.
pub const GIF: [u8; 43] = [
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff,
    0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x02,
    0x02, 0x44, 0x01, 0x00, 0x3b,
];

pub fn pixel(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    if req.method != super::request::Method::Head {
        match record(ctx, req) {
            Ok(Some(Insert::Created(_))) => {
                ctx.metrics.conversions_created.fetch_add(1, Ordering::Relaxed);
            }
            Ok(Some(Insert::Duplicate(_))) => {
                ctx.metrics.conversions_duplicate.fetch_add(1, Ordering::Relaxed);
            }
            Ok(None) => {}
            Err(e) if e.status >= 500 => log::error!("pixel conversion failed: {e}"),
            Err(e) => log::info!("pixel ignored: {}", e.message),
        }
    }
    Ok(Response::bytes(200, "image/gif", GIF.to_vec())
        .with_header("Cache-Control", "no-store, max-age=0")
        .with_header("Access-Control-Allow-Origin", "*"))
}

/// Records the pixel's conversion if its input is complete and valid; `None` when there was
/// nothing to record.
fn record(ctx: &Ctx, req: &Req) -> Result<Option<Insert<conversions::Conversion>>, Error> {
    let (Some(click), Some(order)) = (req.query("click_id"), req.query("order_id")) else { return Ok(None) };
    if !click_id::is_well_formed(click) {
        return Ok(None);
    }
    let amount = req.query("amount").unwrap_or("0").to_string();
    money::parse_amount(&amount, 4).map_err(|e| Error::invalid("amount", e))?;
    let currency = req.query("currency").map(|c| super::api::currency("currency", c)).transpose()?;
    let new = NewConversion {
        external_id: order.to_string(),
        kind: "sale".into(),
        amount,
        currency,
        keys: Keys { click_id: Some(click.to_string()), ..Keys::default() },
        source: Source::Pixel,
        actor: "pixel".into(),
    };
    super::api::conversions::check(&new)?;
    let now = crate::clock::now_ms();
    ctx.writer.run(move |conn| conversions::create(conn, &new, now)).map(Some)
}
