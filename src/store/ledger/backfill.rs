//! The ledger of a database from before it existed: every affiliate's chain written from
//! `conversion_events` in the order they happened, then checked against the books the old
//! `commission_ledger` kept (approvals minus claw-backs per affiliate and currency) and against
//! every conversion's current state, and `commission_ledger` dropped. Runs once, as the Rust
//! step of the migration that creates the ledger, inside its transaction: any mismatch fails
//! the upgrade and leaves the database as it was.
//!
//! It writes through [`super::append_before_rollup`]: today's one writer of entries as it was at
//! this schema version, before the rollup (`ledger_balances`) existed; the migration that added
//! the rollup builds it from these entries. A later migration that changes `ledger_entries` must
//! keep this step working against the table as this version has it.

use std::collections::HashMap;

use rusqlite::Connection;

use super::{NewEntry, Subject, append_before_rollup};
use crate::store::writer::Tx;
use crate::tracking::ledger::Kind;
use crate::tracking::money::Currency;

struct Conversion {
    affiliate_id: i64,
    currency: String,
    external_id: String,
    commission: i64,
    status: String,
    test: bool,
}

/// What the history says a conversion is at a point in time.
#[derive(Clone)]
struct State {
    affiliate_id: i64,
    currency: String,
    commission: i64,
    status: String,
}

struct Event {
    conversion_id: i64,
    at: i64,
    action: String,
    from_status: Option<String>,
    to_status: String,
    commission_delta: i64,
    reason: Option<String>,
}

fn sql(context: &str) -> impl Fn(rusqlite::Error) -> String + '_ {
    move |e| format!("{context}: {e}")
}

pub fn backfill(conn: &Connection) -> Result<(), String> {
    // The migration's own transaction, which `migrate::apply` opened.
    let tx = Tx::within(conn);
    let conversions = read_conversions(conn)?;
    let codes: HashMap<String, i64> = conn
        .prepare("SELECT lower(referral_code), id FROM affiliates")
        .and_then(|mut s| s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect())
        .map_err(sql("reading affiliates"))?;
    let events: Vec<Event> = conn
        .prepare(
            "SELECT conversion_id, at, action, from_status, to_status, commission_delta, reason
             FROM conversion_events ORDER BY id",
        )
        .and_then(|mut s| {
            s.query_map([], |r| {
                Ok(Event {
                    conversion_id: r.get(0)?,
                    at: r.get(1)?,
                    action: r.get(2)?,
                    from_status: r.get(3)?,
                    to_status: r.get(4)?,
                    commission_delta: r.get(5)?,
                    reason: r.get(6)?,
                })
            })?
            .collect()
        })
        .map_err(sql("reading conversion events"))?;
    // Before a server-side report took a pixel conversion over, it may have had another
    // affiliate and currency; only the `replaced` event's reason names them.
    let mut pixel_versions: HashMap<i64, (i64, String)> = HashMap::new();
    for e in events.iter().filter(|e| e.action == "replaced") {
        if let Some((code, currency)) = e.reason.as_deref().and_then(pixel_version)
            && let Some(id) = codes.get(&code.to_lowercase())
        {
            pixel_versions.insert(e.conversion_id, (*id, currency));
        }
    }
    let mut states: HashMap<i64, State> = HashMap::new();
    for e in &events {
        let c = conversions.get(&e.conversion_id).ok_or("a conversion event names no conversion")?;
        if c.test {
            continue;
        }
        let book = |state: &State, kind: Kind, amount: i64| {
            let currency = Currency::from_code(&state.currency).ok_or("a conversion has an unknown currency")?;
            let subject = Subject::Conversion { id: e.conversion_id, order_id: &c.external_id, first: false };
            append_before_rollup(
                &tx,
                &NewEntry { affiliate_id: state.affiliate_id, kind, subject, currency, amount },
                e.at,
            )
            .map(|_| ())
            .map_err(|err| format!("writing the ledger entry of conversion {}: {err}", e.conversion_id))
        };
        let before = states.get(&e.conversion_id).cloned();
        let after = match (e.action.as_str(), before) {
            ("created", None) => {
                let (affiliate_id, currency) = pixel_versions
                    .get(&e.conversion_id)
                    .cloned()
                    .unwrap_or_else(|| (c.affiliate_id, c.currency.clone()));
                let state = State { affiliate_id, currency, commission: e.commission_delta, status: "pending".into() };
                book(&state, Kind::Created, e.commission_delta)?;
                state
            }
            ("approved", Some(state)) => {
                book(&state, Kind::Approved, state.commission)?;
                State { status: "approved".into(), ..state }
            }
            ("rejected", Some(state)) => {
                book(&state, Kind::Rejected, -state.commission)?;
                State { status: "rejected".into(), ..state }
            }
            ("refunded", Some(state)) => {
                let kind = if e.from_status.as_deref() == Some("approved") { Kind::ClawedBack } else { Kind::Refunded };
                book(&state, kind, e.commission_delta)?;
                State { commission: state.commission + e.commission_delta, status: e.to_status.clone(), ..state }
            }
            ("replaced", Some(previous)) => {
                match previous.status.as_str() {
                    "pending" => book(&previous, Kind::Replaced, -previous.commission)?,
                    "approved" => book(&previous, Kind::ReplacedApproved, -previous.commission)?,
                    _ => {}
                }
                let carried = if previous.currency == c.currency { previous.commission } else { 0 };
                let state = State {
                    affiliate_id: c.affiliate_id,
                    currency: c.currency.clone(),
                    commission: e.commission_delta + carried,
                    status: "pending".into(),
                };
                book(&state, Kind::Created, state.commission)?;
                state
            }
            (_, Some(state)) if e.commission_delta == 0 => state,
            (action, _) => {
                return Err(format!(
                    "conversion {} has a `{action}` event this version cannot book in the ledger",
                    e.conversion_id
                ));
            }
        };
        states.insert(e.conversion_id, after);
    }
    for (id, c) in conversions.iter().filter(|(_, c)| !c.test) {
        let state = states.get(id);
        let same = state.is_some_and(|s| {
            s.affiliate_id == c.affiliate_id
                && s.currency == c.currency
                && s.commission == c.commission
                && s.status == c.status
        });
        if !same {
            return Err(format!(
                "conversion {id}'s history does not add up to its stored commission and status; the ledger was not written"
            ));
        }
    }
    check_against_commission_ledger(conn)?;
    conn.execute_batch("DROP TABLE commission_ledger").map_err(sql("dropping commission_ledger"))?;
    let written: i64 = conn
        .query_row("SELECT count(*) FROM ledger_entries", [], |r| r.get(0))
        .map_err(sql("counting ledger entries"))?;
    log::info!("wrote {written} ledger entries from the conversions' history");
    Ok(())
}

fn read_conversions(conn: &Connection) -> Result<HashMap<i64, Conversion>, String> {
    conn.prepare("SELECT id, affiliate_id, currency, external_id, commission, status, test FROM conversions")
        .and_then(|mut s| {
            s.query_map([], |r| {
                Ok((
                    r.get(0)?,
                    Conversion {
                        affiliate_id: r.get(1)?,
                        currency: r.get(2)?,
                        external_id: r.get(3)?,
                        commission: r.get(4)?,
                        status: r.get(5)?,
                        test: r.get(6)?,
                    },
                ))
            })?
            .collect()
        })
        .map_err(sql("reading conversions"))
}

/// Approvals minus claw-backs per affiliate and currency, in the old ledger and in the new one
/// (what is available, as nothing has been paid out yet), for conversions that are not test data.
fn check_against_commission_ledger(conn: &Connection) -> Result<(), String> {
    let totals = |query: &str| -> Result<Vec<(i64, String, i64)>, String> {
        conn.prepare(query)
            .and_then(|mut s| s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?.collect())
            .map_err(sql("comparing the ledgers"))
    };
    let old = totals(
        "SELECT l.affiliate_id, l.currency, sum(l.amount) FROM commission_ledger l
         JOIN conversions v ON v.id = l.conversion_id WHERE v.test = 0
         GROUP BY 1, 2 HAVING sum(l.amount) != 0 ORDER BY 1, 2",
    )?;
    let new = totals(&format!(
        "SELECT affiliate_id, currency, sum(amount) FROM ledger_entries WHERE kind IN {}
         GROUP BY 1, 2 HAVING sum(amount) != 0 ORDER BY 1, 2",
        super::payable_kinds_sql()
    ))?;
    if old != new {
        return Err(format!(
            "the new ledger's approved commission ({new:?}) differs from the old commission_ledger's ({old:?}) \
             per (affiliate, currency, minor units); the database was left unchanged"
        ));
    }
    Ok(())
}

/// The affiliate's referral code and the currency of a pixel conversion from the reason of the
/// event that replaced it: `replaced the pixel's report (affiliate ann, offer main, amount 5.00
/// USD, commission 0.50, pending) by the api's`.
fn pixel_version(reason: &str) -> Option<(String, String)> {
    let inside = reason.strip_prefix("replaced the pixel's report (")?.split(')').next()?;
    let mut code = None;
    let mut currency = None;
    for part in inside.split(", ") {
        if let Some(c) = part.strip_prefix("affiliate ") {
            code = Some(c.to_string());
        } else if let Some(amount) = part.strip_prefix("amount ") {
            currency = amount.split(' ').nth(1).map(String::from);
        }
    }
    Some((code?, currency?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_pixel_version_from_the_replacement_reason() {
        let reason = "replaced the pixel's report (affiliate ann-b, offer main, amount 5.00 USD, commission 0.50, approved) by the api's";
        assert_eq!(pixel_version(reason), Some(("ann-b".into(), "USD".into())));
        assert_eq!(pixel_version("manual"), None);
    }
}
