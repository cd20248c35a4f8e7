//! Schema versions. `schema.sql` is the whole current schema and creates fresh databases;
//! `migrations/NNNN-*.sql` upgrade an existing database one version at a time. The version lives
//! in `PRAGMA user_version`. Every step runs in one transaction, so a failed upgrade leaves the
//! database at the previous version.

use rusqlite::{Connection, TransactionBehavior};

const SCHEMA: &str = include_str!("../../schema.sql");

/// Upgrade scripts: entry `i` takes a database from version `i + 1` to `i + 2`.
const MIGRATIONS: &[&str] = &[include_str!("../../migrations/0002-sessions.sql")];

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
    for (index, script) in MIGRATIONS.iter().enumerate().skip((version - 1) as usize) {
        let target = index as i64 + 2;
        apply(conn, script, target, &format!("while migrating to schema version {target}"))?;
        log::info!("migrated the database to schema version {target}");
    }
    Ok(())
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

    /// Every object of a schema with its SQL, comments and spacing normalised.
    fn objects(conn: &Connection) -> Vec<(String, String, String)> {
        let normalise = |sql: Option<String>| {
            let sql = sql.unwrap_or_default();
            let code: Vec<&str> = sql.lines().map(|l| l.split("--").next().unwrap_or("")).collect();
            code.join(" ").split_whitespace().collect::<Vec<_>>().join(" ")
        };
        let mut stmt = conn.prepare("SELECT type, name, sql FROM sqlite_master ORDER BY type, name").unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, normalise(r.get(2)?)))).unwrap().map(Result::unwrap).collect()
    }

    #[test]
    fn migrating_a_release_1_database_gives_the_schema_of_a_fresh_one() {
        let dir = tempfile::tempdir().unwrap();
        let old = dir.path().join("release-1.db");
        std::fs::copy(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/release-1.db"), &old).unwrap();
        let upgraded = Connection::open(&old).unwrap();
        assert_eq!(user_version(&upgraded).unwrap(), 1);
        run(&upgraded).unwrap();
        assert_eq!(user_version(&upgraded).unwrap(), CURRENT);
        let fresh = Connection::open_in_memory().unwrap();
        run(&fresh).unwrap();
        let (a, b) = (objects(&upgraded), objects(&fresh));
        assert!(a.iter().any(|(_, name, _)| name == "sessions"));
        assert_eq!(a, b);
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
