//! Reports for the merchant admin: daily totals, payouts and reconciliation against the shop's
//! order list. All reads, plus the one write that keeps `daily_conversions` and the converted
//! clicks of `daily_clicks` in step with `conversions` ([`count_change`], called by
//! `conversions/` inside the transaction of every change).
//!
//! Why a rollup: the overview sums a period's conversions by day, affiliate and status. Scanning
//! a million conversions for that took over a second even through a covering index; the rollup
//! holds at most days x affiliates x statuses x currencies rows and answers in milliseconds.
//! The conversion rate (`tracking::rate`) reads the same way: clicks and converted clicks per day
//! of the click, from `daily_clicks`.

use std::sync::LazyLock;

use rusqlite::{Connection, Row, params};

use crate::error::Error;
use crate::store::writer::Tx;
use crate::tracking::conversion::{Conversion, Status};
use crate::tracking::money::Currency;
use crate::tracking::rate;

/// Keeps the daily totals in step with one change of a conversion: `before` as it was (`None`
/// for a new one), `after` as it is now, which the database already holds. The conversion
/// totals lose the old state and gain the new one; a click counts as converted while at least
/// one conversion converts it (`tracking::rate::converted_click`). Test data is never counted.
/// Must run on the writer, in the transaction of the change.
pub fn count_change(conn: &Tx, before: Option<&Conversion>, after: &Conversion) -> Result<(), Error> {
    if let Some(before) = before {
        count_conversion(conn, before, -1)?;
    }
    count_conversion(conn, after, 1)?;
    let (was, is) = (before.and_then(rate::converted_click), rate::converted_click(after));
    if was == is {
        return Ok(());
    }
    for (click, delta) in [(was, -1), (is, 1)] {
        if let Some(click) = click
            && !converted_by_another(conn, click, after.id)?
        {
            conn.prepare_cached(
                "UPDATE daily_clicks SET converted = converted + ?2
                 WHERE (day, affiliate_id, offer_id) =
                       (SELECT created_at / 86400000, affiliate_id, offer_id FROM clicks WHERE id = ?1 AND test = 0)",
            )?
            .execute(params![click, delta])?;
        }
    }
    Ok(())
}

/// Whether a conversion other than `conversion_id` converts `click` ([`rate::converted_click`]
/// in SQL, on the `conversions_by_click` index).
fn converted_by_another(conn: &Connection, click: &str, conversion_id: i64) -> Result<bool, Error> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        let keys: Vec<String> = rate::THROUGH_A_CLICK.iter().map(|k| format!("'{}'", k.as_str())).collect();
        format!(
            "SELECT EXISTS (SELECT 1 FROM conversions WHERE click_id = ?1 AND id != ?2 AND test = 0
                            AND status != '{}' AND attributed_by IN ({}))",
            Status::Rejected.as_str(),
            keys.join(", ")
        )
    });
    Ok(conn.prepare_cached(&SQL)?.query_row(params![click, conversion_id], |r| r.get(0))?)
}

/// Adds (`sign` = 1) or removes (`sign` = -1) a conversion, as it is now, from the daily totals.
fn count_conversion(conn: &Tx, c: &Conversion, sign: i64) -> Result<(), Error> {
    if c.test {
        return Ok(());
    }
    conn.prepare_cached(
        "INSERT INTO daily_conversions (day, affiliate_id, status, currency, conversions, revenue, commission)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (day, affiliate_id, status, currency) DO UPDATE SET
             conversions = conversions + excluded.conversions,
             revenue = revenue + excluded.revenue,
             commission = commission + excluded.commission",
    )?
    .execute(params![
        crate::clock::day_of(c.created_at),
        c.affiliate_id,
        c.status.as_str(),
        c.currency.code(),
        sign,
        sign * (c.amount - c.refunded_amount),
        sign * c.commission
    ])?;
    Ok(())
}

fn currency_at(r: &Row<'_>, index: usize) -> rusqlite::Result<Currency> {
    let code: String = r.get(index)?;
    Currency::from_code(&code).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(index, rusqlite::types::Type::Text, "unknown currency".into())
    })
}

/// Conversions of one day, affiliate, status and currency.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DayTotals {
    pub day: i64,
    pub affiliate_id: i64,
    pub status: Status,
    pub currency: Currency,
    pub conversions: i64,
    /// Amounts minus refunds, in minor units.
    pub revenue: i64,
    pub commission: i64,
}

/// A row of `day, affiliate_id, status, currency, conversions, revenue, commission`.
fn day_totals(r: &Row<'_>) -> rusqlite::Result<DayTotals> {
    Ok(DayTotals {
        day: r.get(0)?,
        affiliate_id: r.get(1)?,
        status: r.get(2)?,
        currency: currency_at(r, 3)?,
        conversions: r.get(4)?,
        revenue: r.get(5)?,
        commission: r.get(6)?,
    })
}

/// Daily conversion totals for the days `[from_day, to_day)`.
pub fn conversion_totals(conn: &Connection, from_day: i64, to_day: i64) -> Result<Vec<DayTotals>, Error> {
    let mut stmt = conn.prepare_cached(
        "SELECT day, affiliate_id, status, currency, conversions, revenue, commission FROM daily_conversions
         WHERE day >= ?1 AND day < ?2 AND conversions != 0",
    )?;
    let rows = stmt.query_map(params![from_day, to_day], day_totals)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The clicks of one day and affiliate, and how many of them converted (`tracking::rate`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClickTotals {
    pub day: i64,
    pub affiliate_id: i64,
    pub clicks: i64,
    pub converted: i64,
}

/// A row of `day, affiliate_id, clicks, converted`.
fn click_totals_row(r: &Row<'_>) -> rusqlite::Result<ClickTotals> {
    Ok(ClickTotals { day: r.get(0)?, affiliate_id: r.get(1)?, clicks: r.get(2)?, converted: r.get(3)? })
}

/// Clicks per day and affiliate for the days `[from_day, to_day)`, from the `daily_clicks` rollup.
pub fn click_totals(conn: &Connection, from_day: i64, to_day: i64) -> Result<Vec<ClickTotals>, Error> {
    let mut stmt = conn.prepare_cached(
        "SELECT day, affiliate_id, sum(clicks), sum(converted) FROM daily_clicks WHERE day >= ?1 AND day < ?2
         GROUP BY day, affiliate_id",
    )?;
    let rows = stmt.query_map(params![from_day, to_day], click_totals_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The days `[?1, ?2)` as rows, for looking each day up in a rollup by its primary key: the
/// rollups lead with `day`, so a plain range over days would read every affiliate's rows.
const DAYS: &str =
    "WITH RECURSIVE days(day) AS (SELECT ?1 WHERE ?1 < ?2 UNION ALL SELECT day + 1 FROM days WHERE day + 1 < ?2)";

/// One affiliate's daily conversion totals for the days `[from_day, to_day)` (the portal's
/// chart). Costs one primary-key lookup per day, whatever the number of affiliates.
pub fn affiliate_conversion_totals(
    conn: &Connection,
    affiliate_id: i64,
    from_day: i64,
    to_day: i64,
) -> Result<Vec<DayTotals>, Error> {
    let mut stmt = conn.prepare_cached(&format!(
        "{DAYS} SELECT d.day, d.affiliate_id, d.status, d.currency, d.conversions, d.revenue, d.commission
         FROM days CROSS JOIN daily_conversions d ON d.day = days.day AND d.affiliate_id = ?3
         WHERE d.conversions != 0"
    ))?;
    let rows = stmt.query_map(params![from_day, to_day, affiliate_id], day_totals)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// One affiliate's clicks per day for the days `[from_day, to_day)`.
pub fn affiliate_click_totals(
    conn: &Connection,
    affiliate_id: i64,
    from_day: i64,
    to_day: i64,
) -> Result<Vec<ClickTotals>, Error> {
    let mut stmt = conn.prepare_cached(&format!(
        "{DAYS} SELECT d.day, d.affiliate_id, sum(d.clicks), sum(d.converted)
         FROM days CROSS JOIN daily_clicks d ON d.day = days.day AND d.affiliate_id = ?3
         GROUP BY d.day"
    ))?;
    let rows = stmt.query_map(params![from_day, to_day, affiliate_id], click_totals_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// What one affiliate earned in one currency over a period.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Payout {
    pub referral_code: String,
    pub name: String,
    pub email: Option<String>,
    pub currency: Currency,
    pub conversions: i64,
    pub commission: i64,
}

fn payout_from_row(r: &Row<'_>) -> rusqlite::Result<Payout> {
    Ok(Payout {
        referral_code: r.get(0)?,
        name: r.get(1)?,
        email: r.get(2)?,
        currency: currency_at(r, 3)?,
        conversions: r.get(4)?,
        commission: r.get(5)?,
    })
}

/// Commission earned in `[from_ms, to_ms)` from the affiliate ledger: approvals minus
/// claw-backs (the payable entries), so a conversion approved last month and refunded this month
/// lowers this month's figure. `conversions` counts the distinct conversions with an entry in
/// the period. (What is actually owed now, after payouts, is the balance: `store::ledger`.)
pub fn approved_payouts(conn: &Connection, from_ms: i64, to_ms: i64) -> Result<Vec<Payout>, Error> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT a.referral_code, a.name, a.email, l.currency, count(DISTINCT l.conversion_id), sum(l.amount)
         FROM ledger_entries l JOIN affiliates a ON a.id = l.affiliate_id
         WHERE l.at >= ?1 AND l.at < ?2 AND l.kind IN {}
         GROUP BY l.affiliate_id, l.currency ORDER BY a.referral_code, l.currency",
        crate::store::ledger::payable_kinds_sql()
    ))?;
    let rows = stmt.query_map(params![from_ms, to_ms], payout_from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The current commission of conversions with `status` created on the days `[from_day, to_day)`.
pub fn status_payouts(conn: &Connection, status: Status, from_day: i64, to_day: i64) -> Result<Vec<Payout>, Error> {
    let mut stmt = conn.prepare_cached(
        "SELECT a.referral_code, a.name, a.email, d.currency, sum(d.conversions), sum(d.commission)
         FROM daily_conversions d JOIN affiliates a ON a.id = d.affiliate_id
         WHERE d.day >= ?1 AND d.day < ?2 AND d.status = ?3
         GROUP BY d.affiliate_id, d.currency HAVING sum(d.conversions) != 0
         ORDER BY a.referral_code, d.currency",
    )?;
    let rows = stmt.query_map(params![from_day, to_day, status], payout_from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// An order ID from the shop that affiliated has recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recorded {
    pub external_id: String,
    pub status: Status,
    pub referral_code: String,
}

/// Which of `external_ids` were recorded as live conversions (one indexed lookup each, in one
/// query); test data does not count.
pub fn recorded(conn: &Connection, external_ids: &[String]) -> Result<Vec<Recorded>, Error> {
    let list = serde_json::to_string(external_ids).map_err(|e| Error::internal(format!("order list: {e}")))?;
    let mut stmt = conn.prepare_cached(
        "SELECT v.external_id, v.status, a.referral_code
         FROM json_each(?1) j JOIN conversions v ON v.external_id = j.value JOIN affiliates a ON a.id = v.affiliate_id
         WHERE v.test = 0",
    )?;
    let rows = stmt
        .query_map([list], |r| Ok(Recorded { external_id: r.get(0)?, status: r.get(1)?, referral_code: r.get(2)? }))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::affiliates::{self, NewAffiliate};
    use crate::store::conversions;
    use crate::store::offers::{self, NewOffer};
    use std::collections::BTreeMap;

    use crate::store::conversions::Stored;
    use crate::store::testing::{convert, record, refund, sale};
    use crate::tracking::attribution::{Keys, Model};
    use crate::tracking::commission::Rule;
    use crate::tracking::conversion::{NewConversion, Source, Status};

    fn db() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        crate::store::migrate::run(&conn).unwrap();
        for code in ["ann", "bob"] {
            let new =
                NewAffiliate { referral_code: code.into(), name: code.to_uppercase(), email: None, postback_url: None };
            affiliates::create(&Tx::within(&conn), &new, 0).unwrap();
        }
        let offer = NewOffer {
            public_id: "main".into(),
            name: "Main".into(),
            landing_url: "https://shop.example/".into(),
            commission: Rule::Percent { ppm: 100_000 },
            attribution: Model::LastClick,
            click_window_days: 30,
            currency: Currency::from_code("USD").unwrap(),
            make_default: true,
            event_rates: Vec::new(),
            paused: false,
            recurring_months: None,
            max_conversions_per_click: None,
            approve_after_days: None,
            allowed_hosts: Vec::new(),
        };
        offers::create(&Tx::within(&conn), &offer, 0).unwrap();
        conn
    }

    fn from_scratch(conn: &Connection) -> Vec<(i64, i64, String, String, i64, i64, i64)> {
        let mut stmt = conn
            .prepare(
                "SELECT created_at / 86400000, affiliate_id, status, currency, count(*), sum(amount - refunded_amount),
                        sum(commission)
                 FROM conversions GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4",
            )
            .unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    fn rollup(conn: &Connection) -> Vec<(i64, i64, String, String, i64, i64, i64)> {
        let mut rows: Vec<_> = conversion_totals(conn, i64::MIN, i64::MAX)
            .unwrap()
            .into_iter()
            .map(|t| {
                let status = t.status.as_str().to_string();
                (t.day, t.affiliate_id, status, t.currency.code().to_string(), t.conversions, t.revenue, t.commission)
            })
            .collect();
        rows.sort();
        rows
    }

    #[test]
    fn the_rollup_matches_the_conversions_after_every_kind_of_change() {
        let conn = db();
        let day = 86_400_000;
        let a = convert(&conn, "o1", "ann", "100.00", "USD", 5 * day + 10);
        let b = convert(&conn, "o2", "ann", "50.00", "USD", 5 * day + 20);
        let c = convert(&conn, "o3", "bob", "80.00", "EUR", 6 * day);
        let d = convert(&conn, "o4", "bob", "20.00", "USD", 6 * day + 1);
        convert(&conn, "o5", "bob", "10.00", "USD", 7 * day);
        assert_eq!(rollup(&conn), from_scratch(&conn));
        conversions::decide(&Tx::within(&conn), a, Status::Approved, "t", None, 8 * day).unwrap();
        conversions::decide(&Tx::within(&conn), b, Status::Rejected, "t", None, 8 * day).unwrap();
        refund(&conn, c, Some("30.00"), 8 * day);
        refund(&conn, a, Some("25.00"), 9 * day);
        refund(&conn, d, None, 9 * day);
        // A refused decision changes nothing.
        conversions::decide(&Tx::within(&conn), d, Status::Approved, "t", None, 9 * day).unwrap();
        assert_eq!(rollup(&conn), from_scratch(&conn));
        assert_eq!(conversion_totals(&conn, 6, 7).unwrap().len(), 2, "EUR partly refunded, USD fully refunded");
    }

    /// A click of `code`'s at `at`, on the default offer.
    fn click(conn: &Connection, code: &str, session: Option<&str>, test: bool, at: i64) -> String {
        let affiliate = affiliates::by_code(conn, code).unwrap().unwrap().id;
        let offer: i64 = conn.query_row("SELECT id FROM offers", [], |r| r.get(0)).unwrap();
        let id = crate::store::clicks::new_id(at);
        let new = crate::store::clicks::NewClick {
            affiliate_id: affiliate,
            offer_id: offer,
            session_id: session.map(String::from),
            test,
            ..Default::default()
        };
        crate::store::clicks::insert(&Tx::within(conn), &id, &new, at).unwrap();
        id
    }

    /// Records order `external_id` with `keys`, from `source`; returns its id.
    fn order(conn: &Connection, external_id: &str, keys: Keys, source: Source, test: bool, at: i64) -> i64 {
        let new = NewConversion { keys, test, ..sale(external_id, "ann", "10.00", "USD", source) };
        match record(conn, new, at) {
            Stored::Created(c) | Stored::Replaced { conversion: c, .. } => c.id,
            other => panic!("{other:?}"),
        }
    }

    fn through(click: &str) -> Keys {
        Keys { click_id: Some(click.into()), ..Keys::default() }
    }

    /// `(day, affiliate, offer, converted)` of every day with converted clicks, from the rollup.
    fn converted_rollup(conn: &Connection) -> Vec<(i64, i64, i64, i64)> {
        let mut stmt = conn
            .prepare(
                "SELECT day, affiliate_id, offer_id, converted FROM daily_clicks WHERE converted != 0
                 ORDER BY 1, 2, 3",
            )
            .unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    /// The same from scratch: every stored conversion through `tracking::rate::converted_click`.
    fn converted_from_scratch(conn: &Connection) -> Vec<(i64, i64, i64, i64)> {
        let ids: Vec<i64> = conn
            .prepare("SELECT id FROM conversions")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let mut clicks = std::collections::BTreeSet::new();
        for id in ids {
            let c = conversions::get(conn, id).unwrap().unwrap();
            clicks.extend(rate::converted_click(&c).map(String::from));
        }
        let mut days: BTreeMap<(i64, i64, i64), i64> = BTreeMap::new();
        for id in clicks {
            let (day, affiliate, offer, test): (i64, i64, i64, bool) = conn
                .query_row(
                    "SELECT created_at / 86400000, affiliate_id, offer_id, test FROM clicks WHERE id = ?1",
                    [&id],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .unwrap();
            if !test {
                *days.entry((day, affiliate, offer)).or_default() += 1;
            }
        }
        days.into_iter().map(|((d, a, o), n)| (d, a, o, n)).collect()
    }

    #[test]
    fn converted_clicks_follow_every_kind_of_change_and_never_exceed_the_clicks() {
        let conn = db();
        let day = 86_400_000;
        let start = 20_000 * day;
        crate::store::coupons::create_for(&Tx::within(&conn), "ANN10", "ann", None, start).unwrap();
        let [k1, k2, k3, k4, k5] = [0, 1, 2, 3, 4].map(|n| click(&conn, "ann", None, false, start + n * day));
        click(&conn, "ann", Some("sess-1"), false, start);
        let test_click = click(&conn, "ann", None, true, start);
        let coupon_keys = || Keys { coupon: Some("ANN10".into()), ..Keys::default() };
        let after = start + 5 * day;

        // Coupon-only orders convert no click.
        for n in 0..3 {
            order(&conn, &format!("coupon-{n}"), coupon_keys(), Source::Api, false, after);
        }
        assert_eq!(converted_rollup(&conn), [], "coupons bring conversions without clicks");
        // A click converts once, however many orders it brings.
        let first = order(&conn, "k1-a", through(&k1), Source::Api, false, after);
        order(&conn, "k1-b", through(&k1), Source::Api, false, after + 1);
        order(&conn, "k1-c", through(&k1), Source::Api, false, after + 1);
        let session = Keys { session_id: Some("sess-1".into()), ..Keys::default() };
        order(&conn, "session", session, Source::Api, false, after);
        // Rejecting one of two orders of a click keeps it converted; rejecting the only one does not.
        conversions::decide(&Tx::within(&conn), first, Status::Rejected, "t", None, after + 2).unwrap();
        let only = order(&conn, "k2", through(&k2), Source::Api, false, after);
        conversions::decide(&Tx::within(&conn), only, Status::Rejected, "t", None, after + 2).unwrap();
        // Approved and refunded orders still count; test data never does.
        let approved = order(&conn, "k3", through(&k3), Source::Api, false, after);
        conversions::decide(&Tx::within(&conn), approved, Status::Approved, "t", None, after + 2).unwrap();
        refund(&conn, approved, None, after + 3);
        order(&conn, "test", through(&test_click), Source::Api, true, after);
        // A server-side report takes a pixel's order over with another click: the pixel's click
        // stops counting, the report's click starts.
        order(&conn, "pixel", through(&k4), Source::Pixel, false, after);
        assert!(converted_rollup(&conn).iter().any(|&(d, ..)| d == 20_003), "the pixel's click counts meanwhile");
        order(&conn, "pixel", through(&k5), Source::Api, false, after + 4);

        let rollup = converted_rollup(&conn);
        assert_eq!(rollup, converted_from_scratch(&conn));
        let ann: i64 =
            conn.query_row("SELECT id FROM affiliates WHERE referral_code = 'ann'", [], |r| r.get(0)).unwrap();
        let offer: i64 = conn.query_row("SELECT id FROM offers", [], |r| r.get(0)).unwrap();
        assert_eq!(
            rollup,
            [(20_000, ann, offer, 2), (20_002, ann, offer, 1), (20_004, ann, offer, 1)],
            "k1 and the session's click on day 0; k3; k5 (k2 rejected, k4 taken over)"
        );
        let totals: Vec<(i64, i64)> =
            click_totals(&conn, 20_000, 20_005).unwrap().iter().map(|t| (t.clicks, t.converted)).collect();
        assert_eq!(totals, [(2, 2), (1, 0), (1, 1), (1, 0), (1, 1)], "test clicks are not counted");
        assert!(totals.iter().all(|(clicks, converted)| converted <= clicks));

        // The migration that added the column fills it with what the writer keeps.
        let (_, backfill) = include_str!("../../migrations/0012-converted-clicks.sql")
            .split_once("DEFAULT 0;")
            .expect("the migration adds the column, then fills it");
        conn.execute("UPDATE daily_clicks SET converted = 0", []).unwrap();
        conn.execute_batch(backfill).unwrap();
        assert_eq!(converted_rollup(&conn), rollup);
    }

    #[test]
    fn payouts_use_the_ledger_for_approved_and_the_rollup_otherwise() {
        let conn = db();
        let day = 86_400_000;
        let a = convert(&conn, "o1", "ann", "100.00", "USD", day);
        convert(&conn, "o2", "ann", "40.00", "USD", day);
        let c = convert(&conn, "o3", "bob", "10.00", "USD", 2 * day);
        conversions::decide(&Tx::within(&conn), a, Status::Approved, "t", None, 3 * day).unwrap();
        conversions::decide(&Tx::within(&conn), c, Status::Approved, "t", None, 3 * day).unwrap();
        refund(&conn, a, Some("50.00"), 10 * day);
        let before_refund = approved_payouts(&conn, 0, 4 * day).unwrap();
        assert_eq!(before_refund.len(), 2);
        assert_eq!((before_refund[0].referral_code.as_str(), before_refund[0].commission), ("ann", 1000));
        assert_eq!((before_refund[1].referral_code.as_str(), before_refund[1].commission), ("bob", 100));
        let month_of_refund = approved_payouts(&conn, 4 * day, 11 * day).unwrap();
        assert_eq!(month_of_refund.len(), 1);
        assert_eq!((month_of_refund[0].conversions, month_of_refund[0].commission), (1, -500));
        let pending = status_payouts(&conn, Status::Pending, 0, 30).unwrap();
        assert_eq!(pending.len(), 1);
        assert_eq!((pending[0].referral_code.as_str(), pending[0].conversions, pending[0].commission), ("ann", 1, 400));
    }

    #[test]
    fn one_affiliates_days_are_read_by_primary_key_and_hold_only_theirs() {
        let conn = db();
        let day = 86_400_000;
        convert(&conn, "o1", "ann", "100.00", "USD", 5 * day);
        convert(&conn, "o2", "ann", "50.00", "USD", 7 * day);
        convert(&conn, "o3", "bob", "80.00", "USD", 5 * day);
        convert(&conn, "o4", "ann", "10.00", "USD", 9 * day);
        let ann: i64 =
            conn.query_row("SELECT id FROM affiliates WHERE referral_code = 'ann'", [], |r| r.get(0)).unwrap();
        let offer: i64 = conn.query_row("SELECT id FROM offers", [], |r| r.get(0)).unwrap();
        conn.execute(
            "INSERT INTO daily_clicks (day, affiliate_id, offer_id, clicks) VALUES (5, ?1, ?2, 3), (5, ?1 + 1, ?2, 9)",
            [ann, offer],
        )
        .unwrap();
        let days: Vec<(i64, i64, i64)> = affiliate_conversion_totals(&conn, ann, 5, 9)
            .unwrap()
            .iter()
            .map(|t| (t.day, t.conversions, t.commission))
            .collect();
        assert_eq!(days, [(5, 1, 1000), (7, 1, 500)], "bob's day 5 and ann's day 9 are outside");
        assert_eq!(
            affiliate_click_totals(&conn, ann, 0, 30).unwrap(),
            [ClickTotals { day: 5, affiliate_id: ann, clicks: 3, converted: 0 }]
        );
        assert!(affiliate_conversion_totals(&conn, ann, 9, 9).unwrap().is_empty(), "an empty period");
        for table in ["daily_conversions", "daily_clicks"] {
            let sql = format!(
                "EXPLAIN QUERY PLAN {DAYS} SELECT * FROM days CROSS JOIN {table} d ON d.day = days.day AND d.affiliate_id = ?3"
            );
            let mut stmt = conn.prepare(&sql).unwrap();
            let plan: Vec<String> =
                stmt.query_map(params![0, 30, ann], |r| r.get(3)).unwrap().collect::<Result<_, _>>().unwrap();
            let plan = plan.join(" | ");
            assert!(plan.contains("SEARCH d USING PRIMARY KEY (day=? AND affiliate_id=?)"), "{table}: {plan}");
        }
    }

    #[test]
    fn recorded_finds_exactly_the_known_order_ids() {
        let conn = db();
        convert(&conn, "1001", "ann", "1.00", "USD", 0);
        convert(&conn, "#1002", "bob", "1.00", "USD", 0);
        let ids: Vec<String> = ["1001", "#1002", "1003", "'; DROP TABLE conversions; --"].map(String::from).into();
        let mut found: Vec<String> = recorded(&conn, &ids).unwrap().into_iter().map(|r| r.external_id).collect();
        found.sort();
        assert_eq!(found, ["#1002", "1001"]);
    }
}
