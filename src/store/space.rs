//! The file's free pages: giving back what deletes freed, so a database stays near the size of
//! what it holds.
//!
//! SQLite keeps the pages a DELETE frees in the file, for later inserts; a retention sweep of a
//! million stale clicks left ~250 MB of them, and the file never shrank. Databases made by this
//! program use `auto_vacuum = INCREMENTAL` (set in `store::open_writer_with` before the file's
//! first page is written): SQLite then keeps the pointer maps that let [`give_back`] move the
//! last pages of the file into free slots and cut the file, a bounded number of pages per call,
//! which the sweeper runs as short writer jobs after it deleted. A file made before that
//! (`auto_vacuum = NONE`) can only be switched by rewriting it whole, once: [`switch`], run by
//! `affiliated migrate` while no server has the file open.
//!
//! Never: run [`switch`] beside a server (a VACUUM holds the write lock until it is done).

use std::time::{Duration, Instant};

use rusqlite::Connection;

use crate::error::Error;

/// The file's `auto_vacuum` mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Freed pages stay in the file (databases made before incremental auto-vacuum).
    None,
    Full,
    Incremental,
}

pub fn mode(conn: &Connection) -> rusqlite::Result<Mode> {
    Ok(match conn.query_row("PRAGMA auto_vacuum", [], |r| r.get::<_, i64>(0))? {
        1 => Mode::Full,
        2 => Mode::Incremental,
        _ => Mode::None,
    })
}

/// Free pages in the file.
pub fn free_pages(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA freelist_count", [], |r| r.get(0))
}

/// What one step of giving pages back did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Given {
    /// Free pages given back to the file system.
    pub pages: i64,
    /// Free pages left in the file.
    pub left: i64,
}

/// Gives at most `pages` free pages back to the file system (incremental vacuum). Nothing is
/// given back when the file is not in incremental mode. One bounded step: must run on the
/// writer, inside its transaction.
///
/// Its cost grows with the free list: moving a page into a free slot is cheap, but when the
/// file's last page is itself free, SQLite searches the free list for it (a step of 32 pages
/// took up to 42 ms with 60,000 free pages). The sweeper therefore gives back right after each
/// batch of deletes, while the free list holds only what that batch freed.
pub fn give_back(conn: &Connection, pages: u32) -> Result<Given, Error> {
    let free = free_pages(conn)?;
    // (SQLite reads a count of 0 as "every free page": never what a bounded step means.)
    if pages == 0 || free == 0 || mode(conn)? != Mode::Incremental {
        return Ok(Given { pages: 0, left: free });
    }
    // The pragma frees one page per step (a result row each).
    let mut stmt = conn.prepare_cached(&format!("PRAGMA incremental_vacuum({pages})"))?;
    let mut rows = stmt.query([])?;
    while rows.next()?.is_some() {}
    let left = free_pages(conn)?;
    Ok(Given { pages: free - left, left })
}

/// Rewrites the whole file in incremental auto-vacuum mode (a VACUUM) if it is not already;
/// returns how long that took, `None` if there was nothing to do. The temporary copy goes to a
/// file (the system's temporary directory), not to memory. Needs free disk space of about twice
/// the file (the copy, and the WAL the rewrite goes through), and the file to itself.
pub fn switch(conn: &Connection) -> Result<Option<Duration>, String> {
    let context = |e: rusqlite::Error| format!("while switching the database to incremental auto-vacuum: {e}");
    if mode(conn).map_err(context)? == Mode::Incremental {
        return Ok(None);
    }
    let started = Instant::now();
    conn.pragma_update(None, "temp_store", "FILE").map_err(context)?;
    let done = conn.execute_batch("PRAGMA auto_vacuum = INCREMENTAL; VACUUM;").map_err(context);
    conn.pragma_update(None, "temp_store", "MEMORY").map_err(context)?;
    done?;
    // The rewrite went through the WAL: fold it back and empty it now.
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).map_err(context)?;
    if mode(conn).map_err(context)? != Mode::Incremental {
        return Err("the database is still not in incremental auto-vacuum mode after a VACUUM".into());
    }
    Ok(Some(started.elapsed()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fill(conn: &Connection, rows: i64) {
        conn.execute_batch("CREATE TABLE IF NOT EXISTS t (x BLOB)").unwrap();
        for _ in 0..rows {
            conn.execute("INSERT INTO t VALUES (randomblob(3000))", []).unwrap();
        }
    }

    fn pages(conn: &Connection) -> i64 {
        conn.query_row("PRAGMA page_count", [], |r| r.get(0)).unwrap()
    }

    #[test]
    fn a_new_database_gives_freed_pages_back_in_bounded_steps() {
        let dir = tempfile::tempdir().unwrap();
        let conn =
            crate::store::open_writer(&dir.path().join("a.db"), crate::store::Synchronous::Normal, 1000).unwrap();
        assert_eq!(mode(&conn).unwrap(), Mode::Incremental, "new files are made in incremental mode");
        fill(&conn, 400);
        let full = pages(&conn);
        conn.execute("DELETE FROM t", []).unwrap();
        let free = free_pages(&conn).unwrap();
        assert!(free >= 350, "{free} free pages after the delete");
        assert_eq!(pages(&conn), full, "a delete alone keeps the pages in the file");
        let step = give_back(&conn, 100).unwrap();
        assert_eq!(step, Given { pages: 100, left: free - 100 }, "one step gives back exactly its bound");
        assert_eq!(pages(&conn), full - 100);
        while give_back(&conn, 100).unwrap().left > 0 {}
        assert_eq!(free_pages(&conn).unwrap(), 0);
        assert!(pages(&conn) < full - free + 10, "the file shrank to what it holds: {} pages", pages(&conn));
    }

    #[test]
    fn an_old_database_is_switched_once_and_keeps_its_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        {
            // A file made before incremental mode: auto_vacuum NONE, SQLite's default.
            let old = crate::store::open_writer(&path, crate::store::Synchronous::Normal, 1000).unwrap();
            old.execute_batch("PRAGMA auto_vacuum = NONE; VACUUM;").unwrap();
            fill(&old, 200);
            old.execute("DELETE FROM t WHERE rowid % 2 = 0", []).unwrap();
        }
        let conn = crate::store::open_writer(&path, crate::store::Synchronous::Normal, 1000).unwrap();
        assert_eq!(mode(&conn).unwrap(), Mode::None);
        let free = free_pages(&conn).unwrap();
        assert!(free > 0);
        assert_eq!(give_back(&conn, 100).unwrap(), Given { pages: 0, left: free }, "not without the switch");
        let rows: i64 = conn.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).unwrap();
        assert!(switch(&conn).unwrap().is_some());
        assert_eq!(mode(&conn).unwrap(), Mode::Incremental);
        assert_eq!(free_pages(&conn).unwrap(), 0, "the rewrite left no free page");
        assert_eq!(conn.query_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0)).unwrap(), rows);
        assert_eq!(switch(&conn).unwrap(), None, "once is enough");
    }
}
