//! `affiliated backup`: one verified backup to a file, or a dated one into a directory with the
//! oldest ones pruned (what the nightly timer runs). The copying and the format live in
//! `store::backup`; this file only chooses names, creates the directory and deletes old
//! snapshots. It never deletes a file whose name is not exactly a snapshot name it would have
//! written itself.

use std::path::{Path, PathBuf};

use super::{Failure, Outcome};
use crate::config::{Args, Opt, SERVER_DB};

const ABOUT: &str = "\
Write a backup while the server keeps running: one file that holds a consistent copy of the
database and everything beside it that a new machine needs (the statement signing key, the
postback token, the erasure log, the initial API key and admin token while they exist), plus
the AFFILIATED_* settings this command runs with (the backup unit loads
/etc/affiliated/affiliated.env). It is verified (PRAGMA integrity_check, a checksum per file)
before it gets its name. Exits non-zero on any failure (including a failed pruning).

Usage:
  affiliated backup [--db PATH] FILE            write the backup to FILE (must not exist)
  affiliated backup [--db PATH] [--keep N] DIR  write DIR/affiliated-YYYYMMDDTHHMMSSZ.db
";

const NOTES: &str = "\
A directory that does not exist yet is created (mode 0700) when --keep is given or the path
ends with /. The backup is mode 0600: it holds the secrets a stolen database does not (see
docs/operations.md). Put it back with `affiliated restore BACKUP`.
";

const KEEP: Opt = Opt::flag_only("keep").takes("N").help(
    "with a directory: after a successful backup, delete the oldest affiliated-YYYYMMDDTHHMMSSZ.db snapshots \
     in it so that the newest N remain (older plain copies included)",
);
const OPTIONS: &[Opt] = &[SERVER_DB, KEEP];

pub fn help() -> String {
    crate::config::help::render(ABOUT, OPTIONS, NOTES)
}

/// `affiliated-` + `YYYYMMDDTHHMMSSZ` + `.db`.
const PREFIX: &str = "affiliated-";
const SUFFIX: &str = ".db";
use crate::store::backup::STAMP_FORMAT;

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
    let wants_dir = out.ends_with('/') || args.get(&KEEP).is_some();
    let out = Path::new(out);
    // A missing path becomes a directory when --keep or a trailing / asks for one, unless its
    // name says it is a database file (`--keep 14 copy.db` is a slip, not a directory name).
    let into_dir = out.is_dir() || (wants_dir && !out.exists() && out.extension().is_none_or(|e| e != "db"));
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
    if into_dir {
        crate::store::backup::ensure_dir(out)?;
    }
    let target = if into_dir { crate::store::backup::fresh_path(out, snapshot_name) } else { out.to_path_buf() };
    let started = std::time::Instant::now();
    let pages = crate::store::backup::run(&db, &target, &crate::config::settings_environment())?;
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
