//! Helpers for the store's unit tests: record, decide and refund conversions on one connection,
//! the way the intake does across a reader and the writer.

use crate::store::writer::Tx;
use rusqlite::Connection;

use super::conversions::{self, Prepared, Stored};
use crate::tracking::attribution::Keys;
use crate::tracking::conversion::{NewConversion, RefundAmount, RefundRequest, Source};
use crate::tracking::money::Currency;

/// A fresh in-memory database with the current schema.
pub fn memory() -> Connection {
    let conn = Connection::open_in_memory().unwrap();
    super::migrate::run(&conn).unwrap();
    conn
}

/// A sale of `amount` in `currency` credited to affiliate `code` by name (as a partner-id
/// postback does), from `source`.
pub fn sale(external_id: &str, code: &str, amount: &str, currency: &str, source: Source) -> NewConversion {
    NewConversion {
        external_id: external_id.into(),
        kind: "sale".into(),
        amount: Some(amount.into()),
        currency: Currency::from_code(currency),
        keys: Keys { referral_code: Some(code.into()), ..Keys::default() },
        source,
        actor: "test".into(),
        test: false,
        customer_email: None,
        details: Default::default(),
        type_rate_only: false,
    }
}

/// Records a sale through the API (see [`sale`]); returns its id.
pub fn convert(conn: &Connection, external_id: &str, code: &str, amount: &str, currency: &str, now: i64) -> i64 {
    match record(conn, sale(external_id, code, amount, currency, Source::Api), now) {
        Stored::Created(c) => c.id,
        other => panic!("not created: {other:?}"),
    }
}

/// Prepares and stores `new` on `conn`.
pub fn record(conn: &Connection, new: NewConversion, now: i64) -> Stored {
    new.check().unwrap();
    match conversions::prepare(conn, new, &Default::default(), now).unwrap() {
        Prepared::Row(row) => conversions::insert(&Tx::within(conn), &row, now).unwrap(),
        Prepared::Known(c) => Stored::Duplicate(*c),
        Prepared::Refused(e) => panic!("refused: {e}"),
    }
}

/// Refunds `amount` (or everything) of conversion `id`, under a refund ID of its own.
pub fn refund(conn: &Connection, id: i64, amount: Option<&str>, now: i64) -> conversions::Refunded {
    let request = RefundRequest {
        amount: amount.map_or(RefundAmount::All, |a| RefundAmount::Part(a.into())),
        refund_id: Some(format!("refund-{id}-{now}")),
    };
    conversions::refund(&Tx::within(conn), id, &request, "test", now).unwrap()
}
