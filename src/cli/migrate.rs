//! `affiliated migrate`: create the database or bring its schema up to date, after a verified
//! backup of a database that is about to change (`store::Upgrade::BackUpFirst`).

use super::{Failure, Outcome};
use crate::config::{Args, BACKUP_DIR, DB};

pub const HELP: &str = "\
Create the database or bring its schema up to date, then exit. `serve` does the same on start.
Before it changes an existing database, it writes a verified backup of it (the database and the
files beside it, as `affiliated backup` does) to
DIR/affiliated-YYYYMMDDTHHMMSSZ-schema-N.db; if that backup fails, nothing is migrated.
`affiliated restore` puts such a backup back (docs/operations.md, Upgrade).

Usage: affiliated migrate [--db PATH] [--backup-dir DIR]

Options:
  --db PATH         SQLite database file, created (mode 0600) if missing
                    [AFFILIATED_DB, default ./affiliated.db]
  --backup-dir DIR  where the backup before a migration goes (created 0700)
                    [AFFILIATED_BACKUP_DIR, default backups/ in the database's
                    directory]
";

pub fn run(parser: &mut lexopt::Parser) -> Outcome {
    let args = Args::parse(parser, &[DB, BACKUP_DIR]).map_err(Failure::usage)?;
    if args.help {
        print!("{HELP}");
        return Ok(());
    }
    if let Some(extra) = args.positionals.first() {
        return Err(Failure::usage(format!("migrate takes no arguments (got {extra:?}); see --help")));
    }
    let path = args.db();
    let dir = crate::config::backup_dir(&args, &path);
    let environment = crate::config::settings_environment();
    let upgrade = crate::store::Upgrade::BackUpFirst { dir: &dir, environment: &environment };
    let (conn, backup) = crate::store::open_writer_with(&path, crate::store::Synchronous::Full, 1000, upgrade)?;
    if let Some(backup) = backup {
        println!("backed up the database before migrating it: {}", backup.display());
    }
    let version = crate::store::migrate::user_version(&conn)?;
    println!("{}: schema version {version}", path.display());
    Ok(())
}
