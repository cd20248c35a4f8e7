//! Removing test data (`DELETE /api/v1/conversions/{id}`, `DELETE /api/v1/test-data`), so that
//! trying an integration leaves nothing behind. Live data is never deleted: the merchant's
//! books are append-only.
//!
//! Architecture Invariant: plain values in (a conversion id), a domain outcome out; never a
//! request or a response.

use super::Intake;
use crate::error::Error;
use crate::store::conversions::{self, Deleted};

/// Deletes test conversion `id` with its history and deliveries: 409 `not_test_data` for a
/// live one (nothing is deleted), 404 for an unknown one.
pub fn delete_conversion(ix: &Intake<'_>, id: i64) -> Result<(), Error> {
    match ix.writer.run(move |tx| conversions::delete_test_conversion(tx, id))? {
        Deleted::Deleted => Ok(()),
        Deleted::Live => Err(Error::conflict(
            "not_test_data",
            format!("conversion {id} is live data; only test data can be deleted (reject or refund it instead)"),
        )),
        Deleted::NotFound => Err(conversions::not_found(id)),
    }
}

/// Deletes every test conversion, test customer and test click.
pub fn delete_all(ix: &Intake<'_>) -> Result<(), Error> {
    ix.writer.run(conversions::delete_all_test_data)
}
