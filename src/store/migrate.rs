//! Schema versions. `schema.sql` is the whole current schema and creates fresh databases;
//! `migrations/NNNN-*.sql` upgrade an existing database one version at a time. The version lives
//! in `PRAGMA user_version`. Every step runs in one transaction, so a failed upgrade leaves the
//! database at the previous version.

use rusqlite::{Connection, TransactionBehavior};

const SCHEMA: &str = include_str!("../../schema.sql");

/// Upgrade scripts: entry `i` takes a database from version `i + 1` to `i + 2`.
const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/0002-conversion-sources-and-refund-ids.sql"),
    include_str!("../../migrations/0003-conversion-test-and-flags.sql"),
    include_str!("../../migrations/0004-program-controls.sql"),
    include_str!("../../migrations/0005-sessions.sql"),
    include_str!("../../migrations/0006-seed-integrations.sql"),
    include_str!("../../migrations/0007-connectors.sql"),
    include_str!("../../migrations/0008-webhooks.sql"),
];

/// The version `schema.sql` corresponds to.
pub const CURRENT: i64 = 1 + MIGRATIONS.len() as i64;

/// Brings the database to [`CURRENT`]. Returns an operator-facing message on failure.
pub fn run(conn: &Connection) -> Result<(), String> {
    let version = user_version(conn)?;
    if version == CURRENT {
        return Ok(());
    }
    if version > CURRENT {
        return Err(format!(
            "the database has schema version {version}, newer than this binary knows ({CURRENT}); run a newer affiliated"
        ));
    }
    if version == 0 {
        let tables: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_master WHERE type = 'table'", [], |r| r.get(0))
            .map_err(|e| format!("while inspecting the database: {e}"))?;
        if tables > 0 {
            return Err(
                "the database file has tables but no affiliated schema version; is it another application's database?"
                    .into(),
            );
        }
        apply(conn, SCHEMA, CURRENT, "while creating the schema")?;
        log::info!("created the database schema (version {CURRENT})");
        return Ok(());
    }
    // Some steps rebuild a table (SQLite cannot change a constraint in place); dropping a table
    // that others reference only works with foreign keys off. Each step checks them itself before
    // it commits, and they are as before afterwards whatever happened.
    let enforced: bool = conn
        .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
        .map_err(|e| format!("while reading the foreign keys setting: {e}"))?;
    set_foreign_keys(conn, false)?;
    let upgraded = upgrade(conn, version);
    set_foreign_keys(conn, enforced)?;
    upgraded
}

fn upgrade(conn: &Connection, from: i64) -> Result<(), String> {
    for (index, script) in MIGRATIONS.iter().enumerate().skip((from - 1) as usize) {
        let target = index as i64 + 2;
        apply(conn, script, target, &format!("while migrating to schema version {target}"))?;
        log::info!("migrated the database to schema version {target}");
    }
    Ok(())
}

fn set_foreign_keys(conn: &Connection, on: bool) -> Result<(), String> {
    conn.pragma_update(None, "foreign_keys", on).map_err(|e| format!("while switching foreign keys: {e}"))
}

pub fn user_version(conn: &Connection) -> Result<i64, String> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| format!("while reading the schema version: {e}"))
}

/// Runs one script and records the version it reaches, in a single transaction.
fn apply(conn: &Connection, script: &str, version: i64, context: &str) -> Result<(), String> {
    let tx = rusqlite::Transaction::new_unchecked(conn, TransactionBehavior::Immediate)
        .map_err(|e| format!("{context}: {e}"))?;
    tx.execute_batch(script).map_err(|e| format!("{context}: {e}"))?;
    let broken: i64 = tx
        .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| r.get(0))
        .map_err(|e| format!("{context}: while checking foreign keys: {e}"))?;
    if broken > 0 {
        return Err(format!("{context}: {broken} rows would break foreign keys; the database was left unchanged"));
    }
    tx.pragma_update(None, "user_version", version).map_err(|e| format!("{context}: {e}"))?;
    tx.commit().map_err(|e| format!("{context}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_database_gets_the_current_schema_once() {
        let conn = Connection::open_in_memory().unwrap();
        run(&conn).unwrap();
        assert_eq!(user_version(&conn).unwrap(), CURRENT);
        run(&conn).unwrap();
        let tables: i64 =
            conn.query_row("SELECT count(*) FROM sqlite_master WHERE name = 'conversions'", [], |r| r.get(0)).unwrap();
        assert_eq!(tables, 1);
    }

    #[test]
    fn refuses_newer_and_foreign_databases() {
        let conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", CURRENT + 1).unwrap();
        assert!(run(&conn).unwrap_err().contains("newer"));
        let other = Connection::open_in_memory().unwrap();
        other.execute_batch("CREATE TABLE t (x)").unwrap();
        assert!(run(&other).unwrap_err().contains("another application"));
    }
}
