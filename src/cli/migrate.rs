//! `affiliated migrate`: create the database or bring its schema up to date, after a verified
//! backup of a database that is about to change (`store::Upgrade::BackUpFirst`).

use super::{Failure, Outcome};
use crate::config::{Args, BACKUP_DIR, DB, Opt};

const ABOUT: &str = "\
Create the database or bring its schema up to date, then exit. `serve` does the same on start.
Before it changes an existing database, it writes a verified backup of it (the database and the
files beside it, as `affiliated backup` does) to
DIR/affiliated-YYYYMMDDTHHMMSSZ-schema-N.db; if that backup fails, nothing is migrated.
`affiliated restore` puts such a backup back (docs/operations.md, Upgrade).

Usage: affiliated migrate [--db PATH] [--backup-dir DIR]
";

const OPTIONS: &[Opt] = &[DB.opt, BACKUP_DIR.opt];

pub fn help() -> String {
    crate::config::help::render(ABOUT, OPTIONS, "")
}

pub fn run(parser: &mut lexopt::Parser) -> Outcome {
    let args = Args::parse(parser, OPTIONS).map_err(Failure::usage)?;
    if args.help {
        print!("{}", help());
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
