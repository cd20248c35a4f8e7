//! Schema versions. `schema.sql` is the whole current schema and creates fresh databases;
//! `migrations/NNNN-*.sql` upgrade an existing database one version at a time. The version lives
//! in `PRAGMA user_version`. Every step runs in one transaction, so a failed upgrade leaves the
//! database at the previous version. A step is a script, optionally followed by Rust code for
//! what SQL cannot do (hashing, say), run in the same transaction.

use rusqlite::{Connection, TransactionBehavior};

const SCHEMA: &str = include_str!("../../schema.sql");

/// Rust code a step runs after its script, on the same transaction.
type Step = fn(&Connection) -> Result<(), String>;

/// One upgrade step: a script, then (if any) Rust code on the same transaction.
struct Migration {
    script: &'static str,
    then: Option<Step>,
}

const fn script(script: &'static str) -> Migration {
    Migration { script, then: None }
}

/// Upgrade steps: entry `i` takes a database from version `i + 1` to `i + 2`.
const MIGRATIONS: &[Migration] = &[
    script(include_str!("../../migrations/0002-conversion-sources-and-refund-ids.sql")),
    script(include_str!("../../migrations/0003-conversion-test-and-flags.sql")),
    script(include_str!("../../migrations/0004-program-controls.sql")),
    script(include_str!("../../migrations/0005-sessions.sql")),
    script(include_str!("../../migrations/0006-seed-integrations.sql")),
    script(include_str!("../../migrations/0007-connectors.sql")),
    Migration { script: include_str!("../../migrations/0008-ledger.sql"), then: Some(super::ledger::backfill) },
    script(include_str!("../../migrations/0009-webhooks.sql")),
    script(include_str!("../../migrations/0010-portal.sql")),
    script(include_str!("../../migrations/0011-namespaces-and-ids.sql")),
    script(include_str!("../../migrations/0012-converted-clicks.sql")),
    Migration {
        script: include_str!("../../migrations/0013-ledger-rollup.sql"),
        then: Some(super::ledger::rollup::build),
    },
    script(include_str!("../../migrations/0014-emails.sql")),
    script(include_str!("../../migrations/0015-deep-links.sql")),
    script(include_str!("../../migrations/0016-applications.sql")),
    script(include_str!("../../migrations/0017-payout-runs-in-steps.sql")),
    script(include_str!("../../migrations/0018-checks-without-temporary-tables.sql")),
];

/// The version `schema.sql` corresponds to.
pub const CURRENT: i64 = 1 + MIGRATIONS.len() as i64;

/// This program, as databases and backups name it: `affiliated X.Y.Z`.
pub fn program() -> String {
    format!("affiliated {}", env!("CARGO_PKG_VERSION"))
}

/// The setting that names the program that last wrote the database's schema.
const WRITTEN_BY: &str = "written_by";

/// The program that last opened the database for writing, if it says (older releases did not).
pub fn written_by(conn: &Connection) -> Option<String> {
    conn.query_row("SELECT value FROM settings WHERE name = ?1", [WRITTEN_BY], |r| r.get(0)).ok()
}

/// The schema version of a database that must be migrated (one that exists, older than
/// [`CURRENT`]); `None` for a new, a current or a newer one (which [`run`] refuses).
pub fn pending(conn: &Connection) -> Result<Option<i64>, String> {
    let version = user_version(conn)?;
    Ok((1..CURRENT).contains(&version).then_some(version))
}

/// Brings the database to [`CURRENT`] and records this program as its writer. Returns an
/// operator-facing message on failure; a database newer than this program is refused, naming
/// both versions.
pub fn run(conn: &Connection) -> Result<(), String> {
    let version = user_version(conn)?;
    if version > CURRENT {
        let this = program();
        let (by, run) = match written_by(conn) {
            Some(by) => (by.clone(), format!("{by} or newer")),
            None => ("a newer affiliated".to_string(), "a newer affiliated".to_string()),
        };
        return Err(format!(
            "this database was written by {by} (schema {version}); this is {this} (schema {CURRENT}), which cannot \
             use it. Run {run}, or restore the backup taken before the upgrade (docs/operations.md, Upgrade)"
        ));
    }
    migrate(conn, version)?;
    if written_by(conn).as_deref() != Some(program().as_str()) {
        conn.execute(
            "INSERT INTO settings (name, value) VALUES (?1, ?2) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            [WRITTEN_BY, &program()],
        )
        .map_err(|e| format!("while recording the program version: {e}"))?;
    }
    Ok(())
}

fn migrate(conn: &Connection, version: i64) -> Result<(), String> {
    if version == CURRENT {
        return Ok(());
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
        apply(conn, &script(SCHEMA), CURRENT, "while creating the schema")?;
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
    for (index, step) in MIGRATIONS.iter().enumerate().skip((from - 1) as usize) {
        let target = index as i64 + 2;
        apply(conn, step, target, &format!("while migrating to schema version {target}"))?;
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

/// Runs one step and records the version it reaches, in a single transaction.
fn apply(conn: &Connection, step: &Migration, version: i64, context: &str) -> Result<(), String> {
    let tx = rusqlite::Transaction::new_unchecked(conn, TransactionBehavior::Immediate)
        .map_err(|e| format!("{context}: {e}"))?;
    tx.execute_batch(step.script).map_err(|e| format!("{context}: {e}"))?;
    if let Some(then) = step.then {
        then(&tx).map_err(|e| format!("{context}: {e}"))?;
    }
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

    /// Every table whose rows leave the server by their integer id (in answers, postbacks,
    /// webhooks, logs, change history) is AUTOINCREMENT, so deleting its newest rows never lets
    /// an id be handed out again; the tables that are not either keep no such ids or never lose
    /// a row (affiliates and offers are never deleted, ledger entries cannot be).
    #[test]
    fn tables_whose_ids_leave_the_server_never_reuse_them() {
        let conn = Connection::open_in_memory().unwrap();
        run(&conn).unwrap();
        let autoincrement = |table: &str| -> bool {
            let sql: String =
                conn.query_row("SELECT sql FROM sqlite_master WHERE name = ?1", [table], |r| r.get(0)).unwrap();
            sql.contains("PRIMARY KEY AUTOINCREMENT")
        };
        for table in [
            "api_keys",
            "conversions",
            "payout_runs",
            "payouts",
            "postbacks_received",
            "postback_deliveries",
            "hooks_received",
            "webhooks",
            "webhook_deliveries",
        ] {
            assert!(autoincrement(table), "{table}");
        }
    }

    #[test]
    fn a_newer_database_is_refused_naming_both_versions() {
        let conn = Connection::open_in_memory().unwrap();
        run(&conn).unwrap();
        assert_eq!(written_by(&conn), Some(program()));
        conn.pragma_update(None, "user_version", CURRENT + 4).unwrap();
        conn.execute("UPDATE settings SET value = 'affiliated 9.1.0' WHERE name = 'written_by'", []).unwrap();
        let e = run(&conn).unwrap_err();
        let expected = format!(
            "this database was written by affiliated 9.1.0 (schema {}); this is {} (schema {CURRENT}), which \
             cannot use it. Run affiliated 9.1.0 or newer, or restore the backup taken before the upgrade",
            CURRENT + 4,
            program()
        );
        assert!(e.starts_with(&expected), "{e}");
        assert_eq!(pending(&conn).unwrap(), None);
        conn.pragma_update(None, "user_version", 3).unwrap();
        assert_eq!(pending(&conn).unwrap(), Some(3));
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

    #[test]
    fn a_failing_rust_step_undoes_its_script_and_the_version() {
        let conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", 7).unwrap();
        let failing = Migration { script: "CREATE TABLE t (x)", then: Some(|_| Err("no".into())) };
        assert_eq!(apply(&conn, &failing, 8, "step").unwrap_err(), "step: no");
        assert_eq!(user_version(&conn).unwrap(), 7);
        let tables: i64 =
            conn.query_row("SELECT count(*) FROM sqlite_master WHERE name = 't'", [], |r| r.get(0)).unwrap();
        assert_eq!(tables, 0);
        let working = Migration {
            script: "CREATE TABLE t (x)",
            then: Some(|c| c.execute_batch("INSERT INTO t VALUES (1)").map_err(|e| e.to_string())),
        };
        apply(&conn, &working, 8, "step").unwrap();
        assert_eq!(user_version(&conn).unwrap(), 8);
    }

    /// The tables a conversion's transaction writes check their value lists without a temporary
    /// b-tree: for `x IN (...)` of more than two values SQLite builds one (`OpenEphemeral`) every
    /// time a row is inserted or updated (4.5 per conversion before migration 0018).
    #[test]
    fn the_tables_a_conversion_writes_check_values_without_temporary_tables() {
        let conn = Connection::open_in_memory().unwrap();
        run(&conn).unwrap();
        let tables = [
            "conversions",
            "conversion_events",
            "customers",
            "daily_conversions",
            "daily_clicks",
            "ledger_entries",
            "ledger_balances",
            "ledger_orders",
            "postbacks_received",
            "postback_deliveries",
            "webhook_deliveries",
        ];
        for table in tables {
            // (name, part of the primary key)
            let columns: Vec<(String, bool)> = conn
                .prepare(&format!("SELECT name, pk > 0 FROM pragma_table_info('{table}')"))
                .unwrap()
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            let names: Vec<&str> = columns.iter().map(|(c, _)| c.as_str()).collect();
            let insert =
                format!("INSERT INTO {table} ({}) VALUES ({})", names.join(", "), vec!["?"; names.len()].join(", "));
            let (key, rest): (Vec<_>, Vec<_>) = columns.iter().partition(|(_, pk)| *pk);
            let assign = |cols: &[&(String, bool)], sep: &str| {
                cols.iter().map(|(c, _)| format!("{c} = ?")).collect::<Vec<_>>().join(sep)
            };
            let key = if key.is_empty() { "rowid = ?".to_string() } else { assign(&key, " AND ") };
            let update = format!("UPDATE {table} SET {} WHERE {key}", assign(&rest, ", "));
            for sql in [insert, update] {
                let mut explain = conn.prepare(&format!("EXPLAIN {sql}")).unwrap();
                let mut rows = explain.raw_query(); // unbound parameters are NULL: EXPLAIN runs nothing
                let mut opcodes = Vec::new();
                while let Some(row) = rows.next().unwrap() {
                    opcodes.push(row.get::<_, String>(1).unwrap());
                }
                assert!(!opcodes.iter().any(|op| op == "OpenEphemeral"), "{sql} builds a temporary b-tree");
            }
        }
    }

    /// Migration 0018 rebuilds four tables; each keeps its AUTOINCREMENT sequence, so the id of a
    /// deleted newest row is never handed out again.
    #[test]
    fn rebuilding_the_checked_tables_keeps_their_sequences() {
        let conn = Connection::open_in_memory().unwrap();
        run(&conn).unwrap();
        conn.execute_batch(crate::store::TEST_CATALOG).unwrap();
        for i in 1..=3 {
            conn.execute(
                "INSERT INTO conversions (external_id, type, affiliate_id, offer_id, attributed_by, source, currency,
                                          amount, base_commission, commission, status, created_at, updated_at)
                 VALUES (?1, 'sale', 1, 1, 'coupon', 'api', 'USD', 1, 0, 0, 'pending', 1, 1)",
                [format!("o-{i}")],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO postbacks_received (received_at, dialect, method, params, status, outcome)
                 VALUES (1, 'default', 'GET', '{}', 201, 'created')",
                [],
            )
            .unwrap();
        }
        conn.execute_batch("DELETE FROM conversions WHERE id = 3; DELETE FROM postbacks_received WHERE id >= 2")
            .unwrap();
        set_foreign_keys(&conn, false).unwrap();
        apply(&conn, &MIGRATIONS[18 - 2], 18, "step").unwrap();
        let seq = |table: &str| -> i64 {
            conn.query_row("SELECT seq FROM sqlite_sequence WHERE name = ?1", [table], |r| r.get(0)).unwrap()
        };
        assert_eq!((seq("conversions"), seq("postbacks_received")), (3, 3));
        let rows: i64 = conn.query_row("SELECT count(*) FROM conversions", [], |r| r.get(0)).unwrap();
        assert_eq!(rows, 2);
        let names: i64 =
            conn.query_row("SELECT count(*) FROM sqlite_sequence WHERE name LIKE '%_v18'", [], |r| r.get(0)).unwrap();
        assert_eq!(names, 0);
    }
}
