//! `affiliated backup`.

use super::{Failure, Outcome};
use crate::config::{Args, DB};

pub const HELP: &str = "\
Write a consistent copy of the database while the server keeps running, then verify it with
PRAGMA integrity_check. Exits non-zero on any failure. Restore by stopping the server and
putting the copy in place of the database file (remove any old -wal and -shm files).

Usage: affiliated backup [--db PATH] OUT

Options:
  --db PATH   SQLite database file [AFFILIATED_DB, default ./affiliated.db]
";

pub fn run(parser: &mut lexopt::Parser) -> Outcome {
    let args = Args::parse(parser, &[DB]).map_err(Failure::usage)?;
    if args.help {
        print!("{HELP}");
        return Ok(());
    }
    let [out] = args.positionals.as_slice() else {
        return Err(Failure::usage("backup needs exactly one argument: the file to write; see --help"));
    };
    let db = args.db();
    if !db.exists() {
        return Err(Failure::runtime(format!("{} does not exist", db.display())));
    }
    let started = std::time::Instant::now();
    let pages = crate::store::backup::run(&db, std::path::Path::new(out))?;
    println!("wrote {out}: {pages} pages, integrity ok, {:.1}s", started.elapsed().as_secs_f64());
    Ok(())
}
