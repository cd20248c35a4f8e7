//! `affiliated migrate`.

use super::{Failure, Outcome};
use crate::config::{Args, DB};

pub const HELP: &str = "\
Create the database or bring its schema up to date, then exit. `serve` does the same on start.

Usage: affiliated migrate [--db PATH]

Options:
  --db PATH  SQLite database file, created (mode 0600) if missing
             [AFFILIATED_DB, default ./affiliated.db]
";

pub fn run(parser: &mut lexopt::Parser) -> Outcome {
    let args = Args::parse(parser, &[DB]).map_err(Failure::usage)?;
    if args.help {
        print!("{HELP}");
        return Ok(());
    }
    if let Some(extra) = args.positionals.first() {
        return Err(Failure::usage(format!("migrate takes no arguments (got {extra:?}); see --help")));
    }
    let path = args.db();
    let conn = crate::store::open_writer(&path, crate::store::Synchronous::Full, 1000)?;
    let version = crate::store::migrate::user_version(&conn)?;
    println!("{}: schema version {version}", path.display());
    Ok(())
}
