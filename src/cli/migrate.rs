//! `affiliated migrate`.

use super::{Failure, Outcome};
use crate::config::{Args, DB, Opt};

const ABOUT: &str = "\
Create the database or bring its schema up to date, then exit. `serve` does the same on start.

Usage: affiliated migrate [--db PATH]
";

const OPTIONS: &[Opt] = &[DB.opt];

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
    let conn = crate::store::open_writer(&path, crate::store::Synchronous::Full, 1000)?;
    let version = crate::store::migrate::user_version(&conn)?;
    println!("{}: schema version {version}", path.display());
    Ok(())
}
