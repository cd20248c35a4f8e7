//! Removing test data: what a test key wrote (or what was marked as test) can be deleted, one
//! conversion or all of it, so that trying an integration leaves nothing behind. Live data is
//! never deleted here: the merchant's books are append-only. Test data is never in the daily
//! totals or the ledger, so nothing there changes.

use rusqlite::params;

use crate::error::Error;
use crate::store::writer::Tx;

/// What deleting one conversion found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deleted {
    Deleted,
    /// It is live data: nothing was deleted.
    Live,
    NotFound,
}

/// Deletes conversion `id` with its history, outbound postbacks and webhook deliveries, if it
/// is test data. Must
/// run on the writer.
pub fn delete_test_conversion(conn: &Tx, id: i64) -> Result<Deleted, Error> {
    let test: Option<bool> = {
        use rusqlite::OptionalExtension;
        conn.prepare_cached("SELECT test FROM conversions WHERE id = ?1")?.query_row([id], |r| r.get(0)).optional()?
    };
    match test {
        None => Ok(Deleted::NotFound),
        Some(false) => Ok(Deleted::Live),
        Some(true) => {
            delete_conversions(conn, "id = ?1", params![id])?;
            Ok(Deleted::Deleted)
        }
    }
}

/// Deletes every test conversion, test customer and test click. Must run on the writer.
pub fn delete_all_test_data(conn: &Tx) -> Result<(), Error> {
    delete_conversions(conn, "test = 1", [])?;
    conn.prepare_cached("DELETE FROM customers WHERE test = 1")?.execute([])?;
    conn.prepare_cached("DELETE FROM clicks WHERE test = 1")?.execute([])?;
    Ok(())
}

/// Deletes the conversions `condition` selects and every row that points at them.
fn delete_conversions(conn: &Tx, condition: &str, values: impl rusqlite::Params + Copy) -> Result<(), Error> {
    let selected = format!("SELECT id FROM conversions WHERE {condition}");
    for statement in [
        format!("DELETE FROM conversion_events WHERE conversion_id IN ({selected})"),
        format!("DELETE FROM postback_deliveries WHERE conversion_id IN ({selected})"),
        format!("DELETE FROM webhook_deliveries WHERE conversion_id IN ({selected})"),
        format!("UPDATE postbacks_received SET conversion_id = NULL WHERE conversion_id IN ({selected})"),
        format!("UPDATE hooks_received SET conversion_id = NULL WHERE conversion_id IN ({selected})"),
        format!("DELETE FROM conversions WHERE {condition}"),
    ] {
        conn.prepare_cached(&statement)?.execute(values)?;
    }
    Ok(())
}
