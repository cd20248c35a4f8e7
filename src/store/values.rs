//! How the domain's enums are stored and read back: each as its name (`as_str`, which renders
//! it everywhere), parsed from the database in one place per enum, here (`FromSql`). A row
//! therefore carries the enum, never a status or kind as a `String`, and a value this binary does
//! not know is an error of the row that has it, not a string passed on.
//!
//! Architecture Invariant: no SQL here; only the conversion between a column's text and an enum
//! of `tracking`.

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};

use crate::tracking::conversion::{Change, Status};
use crate::tracking::ledger::Kind;
use crate::tracking::outbound::{DeliveryStatus, PostbackEvent};
use crate::tracking::payout::Status as PayoutStatus;
use crate::tracking::postback::Outcome as PostbackOutcome;
use crate::tracking::webhook::Event;

/// Stores `$t` as its name (`as_str`) and reads it back with `$parse`.
macro_rules! stored_by_name {
    ($t:ty, $what:literal, $parse:expr) => {
        impl FromSql for $t {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                let text = value.as_str()?;
                ($parse)(text).ok_or_else(|| FromSqlError::Other(format!("unknown {} {text:?} stored", $what).into()))
            }
        }

        impl ToSql for $t {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(self.as_str()))
            }
        }
    };
}

stored_by_name!(Status, "conversion status", Status::parse);
stored_by_name!(Change, "conversion change", Change::parse);
stored_by_name!(PayoutStatus, "payout status", PayoutStatus::parse);
stored_by_name!(Kind, "ledger entry kind", Kind::parse);
stored_by_name!(DeliveryStatus, "delivery status", DeliveryStatus::parse);
stored_by_name!(PostbackEvent, "postback event", PostbackEvent::parse);
stored_by_name!(Event, "webhook event", Event::stored);
stored_by_name!(PostbackOutcome, "postback outcome", PostbackOutcome::parse);

#[cfg(test)]
mod tests {
    use rusqlite::Connection;

    use super::*;

    #[test]
    fn every_enum_reads_back_what_it_stored_and_refuses_what_it_does_not_know() {
        let conn = Connection::open_in_memory().unwrap();
        let round = |value: &dyn ToSql| -> String { conn.query_row("SELECT ?1", [value], |r| r.get(0)).unwrap() };
        for s in Status::ALL {
            assert_eq!(round(&s), s.as_str());
            assert_eq!(conn.query_row("SELECT ?1", [s], |r| r.get::<_, Status>(0)).unwrap(), s);
        }
        let event: Event = conn.query_row("SELECT 'webhook.test'", [], |r| r.get(0)).unwrap();
        assert_eq!(event, Event::WebhookTest, "a test delivery reads back, though nobody subscribes to it");
        let unknown = conn.query_row("SELECT 'paused'", [], |r| r.get::<_, Status>(0)).unwrap_err();
        assert!(unknown.to_string().contains("unknown conversion status \"paused\""), "{unknown}");
    }
}
