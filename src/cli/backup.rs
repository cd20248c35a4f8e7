//! `affiliated backup`: one verified snapshot to a file, or a dated snapshot into a directory
//! with the oldest ones pruned (what the nightly timer runs). The copying itself lives in
//! `store::backup`; this file only chooses names and deletes old snapshots. It never deletes a
//! file whose name is not exactly a snapshot name it would have written itself.

use std::path::{Path, PathBuf};

use super::{Failure, Outcome};
use crate::config::{Args, Opt, SERVER_DB};

const ABOUT: &str = "\
Write a consistent copy of the database while the server keeps running, then verify it with
PRAGMA integrity_check. Exits non-zero on any failure (including a failed pruning).

Usage:
  affiliated backup [--db PATH] FILE            write the copy to FILE (must not exist)
  affiliated backup [--db PATH] [--keep N] DIR  write DIR/affiliated-YYYYMMDDTHHMMSSZ.db
";

const NOTES: &str = "\
The copy is mode 0600, like the database. Restore: stop the server, put the copy in place of
the database file, delete the old database's -wal and -shm files, start the server.
";

const KEEP: Opt = Opt::flag_only("keep").takes("N").help(
    "with a directory: after a successful backup, delete the oldest affiliated-*.db snapshots in it so that \
     the newest N remain",
);
const OPTIONS: &[Opt] = &[SERVER_DB, KEEP];

pub fn help() -> String {
    crate::config::help::render(ABOUT, OPTIONS, NOTES)
}

/// `affiliated-` + `YYYYMMDDTHHMMSSZ` + `.db`.
const PREFIX: &str = "affiliated-";
const SUFFIX: &str = ".db";
const STAMP_FORMAT: &str = "%Y%m%dT%H%M%SZ";

pub fn run(parser: &mut lexopt::Parser) -> Outcome {
    let args = Args::parse(parser, OPTIONS).map_err(Failure::usage)?;
    if args.help {
        print!("{}", help());
        return Ok(());
    }
    let out = match args.positionals.as_slice() {
        [out] => out,
        [] => {
            return Err(Failure::usage(
                "backup needs where to write the copy: a new FILE, or a DIR for a dated snapshot; see --help",
            ));
        }
        [_, extra @ ..] => {
            return Err(Failure::usage(format!("backup takes one FILE or DIR (got also {extra:?}); see --help")));
        }
    };
    let out = Path::new(out);
    let into_dir = out.is_dir();
    let keep = match args.get(&KEEP) {
        None => None,
        Some(_) if !into_dir => {
            return Err(Failure::usage(format!("--keep needs a directory, and {} is not one", out.display())));
        }
        Some(v) => Some(
            v.parse::<usize>()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| Failure::usage(format!("--keep must be a whole number of at least 1, not {v:?}")))?,
        ),
    };
    let db = args.db();
    crate::store::file::existing(&db)?;
    let target = if into_dir { out.join(snapshot_name(chrono::Utc::now())) } else { out.to_path_buf() };
    let started = std::time::Instant::now();
    let pages = crate::store::backup::run(&db, &target)?;
    println!("wrote {}: {pages} pages, integrity ok, {:.1}s", target.display(), started.elapsed().as_secs_f64());
    if let Some(keep) = keep {
        prune(out, keep)?;
    }
    Ok(())
}

fn snapshot_name(at: chrono::DateTime<chrono::Utc>) -> String {
    format!("{PREFIX}{}{SUFFIX}", at.format(STAMP_FORMAT))
}

/// Whether `name` is exactly a snapshot name this command writes.
fn is_snapshot_name(name: &str) -> bool {
    name.strip_prefix(PREFIX)
        .and_then(|rest| rest.strip_suffix(SUFFIX))
        .is_some_and(|stamp| stamp.len() == 16 && chrono::NaiveDateTime::parse_from_str(stamp, STAMP_FORMAT).is_ok())
}

/// Deletes the oldest snapshots in `dir` beyond the newest `keep`. The timestamp in the name
/// orders them (it sorts as text), not the file times, which a copy may have changed.
fn prune(dir: &Path, keep: usize) -> Result<(), String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("while listing {} to prune it: {e}", dir.display()))?;
    let mut snapshots: Vec<PathBuf> = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| format!("while listing {} to prune it: {e}", dir.display()))?;
        let is_file = entry.file_type().is_ok_and(|t| t.is_file());
        if is_file && entry.file_name().to_str().is_some_and(is_snapshot_name) {
            snapshots.push(entry.path());
        }
    }
    snapshots.sort();
    let excess = snapshots.len().saturating_sub(keep);
    let mut failures = Vec::new();
    for old in &snapshots[..excess] {
        match std::fs::remove_file(old) {
            Ok(()) => println!("deleted {}", old.display()),
            Err(e) => failures.push(format!("{}: {e}", old.display())),
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(format!("the backup was written, but old snapshots could not be deleted: {}", failures.join("; ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_names() {
        let at = chrono::DateTime::from_timestamp(1_795_302_001, 0).unwrap();
        assert_eq!(snapshot_name(at), "affiliated-20261121T230001Z.db");
        assert!(is_snapshot_name("affiliated-20261121T230001Z.db"));
        for other in [
            "affiliated.db",
            "affiliated-20261121T230001Z.db-wal",
            "affiliated-20261121T230001Z.partial",
            "affiliated-20261121T230001.db",
            "affiliated-2026112T230001Z.db",
            "affiliated-20261321T230001Z.db",
            "affiliated-important.db",
            "xaffiliated-20261121T230001Z.db",
        ] {
            assert!(!is_snapshot_name(other), "{other}");
        }
    }

    #[test]
    fn prune_keeps_the_newest_and_ignores_other_files() {
        let dir = tempfile::tempdir().unwrap();
        let names =
            ["affiliated-20250101T000000Z.db", "affiliated-20260101T000000Z.db", "affiliated-20251231T235959Z.db"];
        for name in names.iter().chain(&["affiliated-keep-me.db", "notes.txt"]) {
            std::fs::write(dir.path().join(name), b"x").unwrap();
        }
        prune(dir.path(), 2).unwrap();
        let mut left: Vec<String> =
            std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        left.sort();
        assert_eq!(
            left,
            ["affiliated-20251231T235959Z.db", "affiliated-20260101T000000Z.db", "affiliated-keep-me.db", "notes.txt"]
        );
    }
}
