//! Listing conversions newest first, with the filters of the API and the admin, in keyset pages.

use rusqlite::{Connection, ToSql};

use super::{SELECT, from_row};
use crate::error::Error;
use crate::tracking::conversion::{Conversion, Status};

/// Filters for listing; results come newest first.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// Test data (`true`) or live data (`false`, the default): never both.
    pub test: bool,
    /// Only flagged (`true`) or only unflagged (`false`) conversions.
    pub flagged: Option<bool>,
    pub status: Option<Status>,
    /// Exactly this goal, country or commission ID (as the network reported them).
    pub goal: Option<String>,
    pub geo: Option<String>,
    pub commission_id: Option<String>,
    pub affiliate_id: Option<i64>,
    pub since: Option<i64>,
    pub until: Option<i64>,
}

/// The WHERE clause of a listing, with its bound values.
#[derive(Default)]
struct Conditions {
    sql: Vec<String>,
    values: Vec<Box<dyn ToSql>>,
}

impl Conditions {
    /// Adds `condition`, whose `?` marks (in order) are bound to `values`.
    fn add(&mut self, condition: &str, values: Vec<Box<dyn ToSql>>) {
        let mut numbered = String::with_capacity(condition.len() + 8);
        let mut values = values.into_iter();
        for part in condition.split_inclusive('?') {
            numbered.push_str(part);
            if part.ends_with('?') {
                self.values.push(values.next().expect("a value for every `?`"));
                numbered.push_str(&self.values.len().to_string());
            }
        }
        self.sql.push(numbered);
    }

    fn of(filter: &Filter) -> Conditions {
        let mut c = Conditions::default();
        c.add("v.test = ?", vec![Box::new(filter.test)]);
        match filter.flagged {
            Some(true) => c.add("v.flags IS NOT NULL", vec![]),
            Some(false) => c.add("v.flags IS NULL", vec![]),
            None => {}
        }
        for (column, value) in [("goal", &filter.goal), ("geo", &filter.geo), ("commission_id", &filter.commission_id)]
        {
            if let Some(value) = value {
                c.add(&format!("v.{column} = ?"), vec![Box::new(value.clone())]);
            }
        }
        if let Some(status) = filter.status {
            c.add("v.status = ?", vec![Box::new(status.as_str())]);
        }
        if let Some(affiliate_id) = filter.affiliate_id {
            c.add("v.affiliate_id = ?", vec![Box::new(affiliate_id)]);
        }
        if let Some(since) = filter.since {
            c.add("v.created_at >= ?", vec![Box::new(since)]);
        }
        if let Some(until) = filter.until {
            c.add("v.created_at < ?", vec![Box::new(until)]);
        }
        c
    }

    /// The statement, with the limit as its last parameter.
    fn statement(&self, order: &str) -> String {
        let condition = if self.sql.is_empty() { "1".to_string() } else { self.sql.join(" AND ") };
        format!("{SELECT} WHERE {condition} ORDER BY {order} LIMIT ?{}", self.values.len() + 1)
    }

    fn query(mut self, conn: &Connection, order: &str, limit: usize) -> Result<Vec<Conversion>, Error> {
        let sql = self.statement(order);
        self.values.push(Box::new(limit as i64));
        let mut stmt = conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(rusqlite::params_from_iter(self.values.iter()), from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

const NEWEST_FIRST: &str = "v.created_at DESC, v.id DESC";

/// The position after a conversion in [`newest`] order, as the opaque text pages hand out.
pub fn cursor_after(c: &Conversion) -> String {
    format!("{}.{}", c.created_at, c.id)
}

/// Reads a [`cursor_after`] text: two runs of 1 to 18 digits joined by a dot, nothing else.
pub fn parse_cursor(text: &str) -> Option<(i64, i64)> {
    let (at, id) = text.split_once('.')?;
    let number = |t: &str| -> Option<i64> {
        if t.is_empty() || t.len() > 18 || !t.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        t.parse().ok()
    };
    Some((number(at)?, number(id)?))
}

/// Listing, newest first by time, after the `(created_at, id)` of the previous page's last row
/// (see [`cursor_after`]). Every filter combination is served in order by an index on
/// `(…, created_at)`, so a page costs the same with a million rows as with a hundred.
pub fn newest(
    conn: &Connection,
    filter: &Filter,
    after: Option<(i64, i64)>,
    limit: usize,
) -> Result<Vec<Conversion>, Error> {
    newest_conditions(filter, after).query(conn, NEWEST_FIRST, limit)
}

/// [`newest`] a page at a time, for exports streamed while they are sent: on a read connection of
/// its own (the worker's stays free), each page read by one statement, so in a short read
/// transaction of its own: a slow download never holds the WAL. Each row comes once (the keyset
/// moves strictly on); a row that changes during the download is as it was when its page was read.
pub struct Pages {
    conn: Connection,
    filter: Filter,
    after: Option<(i64, i64)>,
    page: usize,
    done: bool,
}

impl Pages {
    /// Pages of `page` rows of the database at `path`.
    pub fn open(path: &std::path::Path, filter: Filter, page: usize) -> Result<Pages, Error> {
        let conn = crate::store::open_reader(path).map_err(Error::internal)?;
        Ok(Pages { conn, filter, after: None, page, done: false })
    }
}

impl Iterator for Pages {
    type Item = Result<Vec<Conversion>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let rows = match newest(&self.conn, &self.filter, self.after, self.page) {
            Ok(rows) => rows,
            Err(e) => {
                self.done = true;
                return Some(Err(e));
            }
        };
        self.done = rows.len() < self.page;
        self.after = rows.last().map(|c| (c.created_at, c.id));
        (!rows.is_empty()).then_some(Ok(rows))
    }
}

fn newest_conditions(filter: &Filter, after: Option<(i64, i64)>) -> Conditions {
    let mut conditions = Conditions::of(filter);
    if let Some((created_at, id)) = after {
        // The first term is the index range; the second breaks ties within one millisecond.
        conditions.add(
            "v.created_at <= ? AND (v.created_at < ? OR v.id < ?)",
            vec![Box::new(created_at), Box::new(created_at), Box::new(id)],
        );
    }
    conditions
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An export's pages cover every row once, newest first, each page read on its own; rows
    /// recorded during the download (newer than its first page) do not come in between.
    #[test]
    fn pages_walk_every_row_once_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.db");
        let conn = crate::store::open_writer(&path, crate::store::Synchronous::Normal, 0).unwrap();
        conn.execute_batch(crate::store::TEST_CATALOG).unwrap();
        for i in 0..5 {
            crate::store::testing::convert(&conn, &format!("o{i}"), "ann", "10.00", "USD", 100 + i / 2);
        }
        let mut pages = Pages::open(&path, Filter::default(), 2).unwrap();
        let first: Vec<i64> = pages.next().unwrap().unwrap().iter().map(|c| c.id).collect();
        crate::store::testing::convert(&conn, "later", "ann", "10.00", "USD", 500);
        let mut ids = first.clone();
        for page in pages {
            ids.extend(page.unwrap().iter().map(|c| c.id));
        }
        assert_eq!((first, ids), (vec![5, 4], vec![5, 4, 3, 2, 1]));
        let empty = Filter { affiliate_id: Some(99), ..Filter::default() };
        assert_eq!(Pages::open(&path, empty, 2).unwrap().count(), 0);
        let exact = Pages::open(&path, Filter::default(), 3).unwrap();
        assert_eq!(exact.map(|p| p.unwrap().len()).collect::<Vec<_>>(), [3, 3]);
    }

    #[test]
    fn cursors_read_back_exactly_what_pages_hand_out() {
        assert_eq!(parse_cursor("1763782624000.17"), Some((1_763_782_624_000, 17)));
        assert_eq!(parse_cursor("0.5"), Some((0, 5)));
        for bad in ["", "17", "1.", ".1", "+1.2", "1.-2", "1.2.3", "1. 2", "1234567890123456789.1"] {
            assert_eq!(parse_cursor(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn every_admin_filter_is_read_in_order_from_an_index() {
        let conn = Connection::open_in_memory().unwrap();
        crate::store::migrate::run(&conn).unwrap();
        for status in [None, Some(Status::Pending)] {
            for affiliate_id in [None, Some(7)] {
                for (since, until) in [(None, None), (Some(1), Some(2))] {
                    for after in [None, Some((5, 6))] {
                        let filter = Filter { status, affiliate_id, since, until, ..Filter::default() };
                        let mut conditions = newest_conditions(&filter, after);
                        let sql = format!("EXPLAIN QUERY PLAN {}", conditions.statement(NEWEST_FIRST));
                        conditions.values.push(Box::new(50));
                        let mut stmt = conn.prepare(&sql).unwrap();
                        let plan: Vec<String> = stmt
                            .query_map(rusqlite::params_from_iter(conditions.values.iter()), |r| r.get(3))
                            .unwrap()
                            .collect::<Result<_, _>>()
                            .unwrap();
                        let plan = plan.join(" | ");
                        assert!(!plan.contains("TEMP B-TREE"), "{filter:?} {after:?} sorts: {plan}");
                        assert!(plan.contains(" v USING INDEX conversions_by_"), "{filter:?}: {plan}");
                    }
                }
            }
        }
    }
}
