//! A conversion on its way into the store: the row `insert.rs` writes ([`NewRow`]), what storing
//! did ([`Stored`]), and the helpers both a new row and a pixel takeover (`takeover.rs`) use.

use crate::error::Error;
use crate::store::WriteError;
use crate::store::writer::Tx;
use crate::tracking::attribution::Resolved;
use crate::tracking::conversion::{Conversion, NewConversion, Refusal, Status};
use crate::tracking::fraud::Flag;
use crate::tracking::pricing::Price;

/// A conversion attributed and priced, ready to be stored.
#[derive(Clone, Debug)]
pub struct NewRow {
    pub new: NewConversion,
    pub resolved: Resolved,
    pub price: Price,
    /// The fraud rules it trips (more may be found on the writer: `click_reused`).
    pub flags: Vec<Flag>,
    /// Test data: reported as test, or attributed by a test click.
    pub test: bool,
    /// Recorded, but rejected at once: its affiliate or offer is paused.
    pub rejection: Option<&'static str>,
    /// The offer's limit of conversions per click (`click_reused`).
    pub max_per_click: Option<i64>,
    /// The affiliate's referral code and the offer's public ID, as the stored conversion shows
    /// them (neither ever changes).
    pub referral_code: String,
    pub offer: String,
}

/// What storing did.
#[derive(Clone, Debug)]
pub enum Stored {
    Created(Conversion),
    /// The order was stored already; this is the stored conversion, unchanged.
    Duplicate(Conversion),
    /// The order was stored from the pixel only; the server-side report took it over.
    Replaced {
        conversion: Conversion,
        previous: Box<Conversion>,
    },
}

/// A conversion of a paused affiliate or offer is recorded (the shop's order is known) and
/// rejected at once, with the reason in its history: nobody earns on it.
pub(super) fn reject_if_paused(conn: &Tx, c: Conversion, row: &NewRow, now: i64) -> Result<Conversion, Error> {
    let Some(reason) = row.rejection else { return Ok(c) };
    match super::decide(conn, c.id, Status::Rejected, "rules", Some(reason), now)? {
        super::Decision::Changed(rejected) => Ok(rejected),
        _ => Err(Error::internal("a conversion just created could not be rejected")),
    }
}

/// The coupon of the sale: the one that attributed it, else the one the report named (kept even
/// when a click won the attribution, as the shop's own record of the sale).
pub(super) fn coupon_of(row: &NewRow) -> Option<String> {
    row.resolved.coupon_code.clone().or_else(|| {
        row.new.keys.coupon.as_deref().map(|c| crate::tracking::validate::metadata(c, 64)).filter(|c| !c.is_empty())
    })
}

/// A click (or customer) can be swept or erased between reading and writing.
pub(super) fn vanished_click(e: rusqlite::Error) -> WriteError {
    if crate::store::is_foreign_key_violation(&e) {
        WriteError::Refused(Refusal::unattributed(Error::bad_request(
            "invalid_click_id",
            "the click (or customer) of this conversion no longer exists",
        )))
    } else {
        e.into()
    }
}
