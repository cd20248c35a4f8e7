//! `affiliated migrate`: create the database or bring its schema up to date, after a verified
//! backup of a database that is about to change (`store::Upgrade::BackUpFirst`), and switch a
//! file made before incremental auto-vacuum to it (`store::space::switch`) while no server has it
//! open.

use super::{Failure, Outcome};
use crate::config::{Args, BACKUP_DIR, DB, Opt};

const ABOUT: &str = "\
Create the database or bring its schema up to date, then exit. `serve` does the same on start.
Before it changes an existing database, it writes a verified backup of it (the database and the
files beside it, as `affiliated backup` does) to
DIR/affiliated-YYYYMMDDTHHMMSSZ-schema-N.db; if that backup fails, nothing is migrated.
`affiliated restore` puts such a backup back (docs/operations.md, Upgrade).
A database made by an older affiliated keeps the pages its deletes free; unless
a server has it open, migrate rewrites it once (a VACUUM; it needs free disk
space of twice its size) so that sweeps give them back from then on.

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
    switch_vacuum(&conn, &path)
}

/// Switches a file made before incremental auto-vacuum to it, unless another process (a running
/// server) has it open: then it says what to do instead. A failure (the disk too full for the
/// rewrite) leaves the file as it was and is reported, not fatal: the database works either way.
fn switch_vacuum(conn: &rusqlite::Connection, path: &std::path::Path) -> Outcome {
    let mode = crate::store::space::mode(conn).map_err(|e| Failure::runtime(e.to_string()))?;
    if mode == crate::store::space::Mode::Incremental {
        return Ok(());
    }
    if let Some(pid) = crate::store::file::in_use(path)? {
        let by = if pid > 0 { format!("process {pid}") } else { "another process".to_string() };
        println!(
            "{}: not switched to incremental auto-vacuum, {by} has it open; stop the server and run migrate again",
            path.display()
        );
        return Ok(());
    }
    let bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    println!(
        "{}: switching to incremental auto-vacuum, so that freed pages leave the file: rewriting {} MiB once ...",
        path.display(),
        bytes.div_ceil(1 << 20)
    );
    match crate::store::space::switch(conn) {
        Ok(took) => {
            let after = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
            println!(
                "{}: switched in {:.1} s; the file is {} MiB now",
                path.display(),
                took.unwrap_or_default().as_secs_f64(),
                after.div_ceil(1 << 20)
            );
        }
        Err(e) => eprintln!("affiliated: {e}; the database is unchanged and works as before"),
    }
    Ok(())
}
