//! Domain outcomes as HTTP answers, in one place: every source that records a conversion answers
//! the same 201 or 409, every decision and refund the same 200 or 409, with the conversion's one
//! JSON shape (`views::conversion`).

use super::views;
use crate::error::Error;
use crate::store::conversions::{Decision, Refunded, Stored};
use crate::tracking::conversion::{RefundRefusal, Status};
use crate::transport::response::Response;

/// 201 with the conversion (created, or taken over from the pixel), or 409
/// `duplicate_external_id` with the stored original.
pub fn recorded(outcome: Stored) -> Result<Response, Error> {
    match outcome {
        Stored::Created(c) | Stored::Replaced { conversion: c, .. } => {
            Ok(Response::json(201, &crate::shapes::conversion_view(&c)))
        }
        Stored::Duplicate(c) => Err(Error::conflict(
            "duplicate_external_id",
            format!("order `{}` was already recorded; the stored conversion is included", c.external_id),
        )
        .with_extra("conversion", views::conversion(&c))),
    }
}

/// 200 with the decided conversion; 409 `invalid_status_transition` if it was not pending.
pub fn decided(id: i64, to: Status, decision: Decision) -> Result<Response, Error> {
    match decision {
        Decision::Changed(c) => Ok(Response::json(200, &views::conversion(&c))),
        Decision::Refused(c) => Err(Error::conflict(
            "invalid_status_transition",
            format!("conversion {id} is {}; only pending conversions can be {}", c.status.as_str(), to.as_str()),
        )
        .with_extra("conversion", views::conversion(&c))),
        Decision::NotFound => Err(crate::store::conversions::not_found(id)),
    }
}

/// 200 with the conversion (refunded now, or already: a repeat changes nothing), or the refusal.
pub fn refunded(outcome: Refunded) -> Result<Response, Error> {
    match outcome {
        Refunded::Changed(c) | Refunded::Repeated(c) => Ok(Response::json(200, &views::conversion(&c))),
        Refunded::Refused(c, refusal) => {
            let error = refusal.error(&c);
            Err(match refusal {
                RefundRefusal::Status(_) | RefundRefusal::RefundIdReused(_) | RefundRefusal::Currency(_) => {
                    error.with_extra("conversion", views::conversion(&c))
                }
                RefundRefusal::NotPositive | RefundRefusal::MoreThanLeft(_) => error,
            })
        }
    }
}
