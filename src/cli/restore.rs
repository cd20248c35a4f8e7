//! `affiliated restore BACKUP`: puts a backup (`store::backup`) back as the database, with the
//! files beside it, on this machine or a new one.
//!
//! The order keeps every step undoable: nothing is touched while another process has the
//! database open (`store::file::in_use`) or before the backup and every erasure log given
//! have been read and checked; the restored files are prepared under temporary names
//! (`<db>.restoring*`); only then are the current files moved into `before-restore-STAMP/`
//! beside the database (never deleted) and the prepared ones renamed into place. Erasures
//! recorded after the backup (the backup's erasure log, the current one, and any off-machine
//! copies given with `--erasure-log`, merged) are applied to the copy before it goes live.
//! Run as root, every file it makes is given to the owner of the database's directory.

use std::path::{Path, PathBuf};

use super::{Failure, Outcome};
use crate::config::{Args, DB, Opt};
use crate::store::backup::{self, Backup};
use crate::store::file::{self, Companion};
use crate::store::{migrate, retention};

const ABOUT: &str = "\
Put a backup written by `affiliated backup` back as the database, with the statement signing
key, the postback token and the erasure log it holds, and re-apply every erasure recorded after
it. Stop the server first: while any process has the database open, restore exits 1 and
changes nothing. The files it replaces are moved to before-restore-YYYYMMDDTHHMMSSZ/ beside the
database, never deleted.

Usage: affiliated restore [--db PATH] [--erasure-log FILE]... BACKUP
";

const NOTES: &str = "\
The restored database keeps the backup's schema version: `serve` (or `migrate`) brings it up
to date, after backing it up. See docs/operations.md, Restore.
";

const ERASURE_LOG: Opt = Opt::many_only("erasure-log").takes("FILE").help(
    "an off-machine copy of the erasure log (affiliated.db.erasure-log): its erasures are re-applied too; \
     repeatable. Needed when the disk holding the current log was lost",
);
const OPTIONS: &[Opt] = &[DB.opt.help("the database to restore (its directory is created if missing)"), ERASURE_LOG];

pub fn help() -> String {
    crate::config::help::render(ABOUT, OPTIONS, NOTES)
}

pub fn run(parser: &mut lexopt::Parser) -> Outcome {
    let args = Args::parse(parser, OPTIONS).map_err(Failure::usage)?;
    if args.help {
        print!("{}", help());
        return Ok(());
    }
    let source = match args.positionals.as_slice() {
        [one] => PathBuf::from(one),
        [] => return Err(Failure::usage("restore needs the BACKUP file to restore; see --help")),
        [_, extra @ ..] => {
            return Err(Failure::usage(format!("restore takes one BACKUP (got also {extra:?}); see --help")));
        }
    };
    let db = args.db();
    if std::fs::canonicalize(&source).ok().is_some_and(|s| std::fs::canonicalize(&db).is_ok_and(|d| d == s)) {
        return Err(Failure::usage(format!("{} is the database itself, not a backup of it", source.display())));
    }
    if let Some(pid) = file::in_use(&db)? {
        let holder = if pid > 0 { format!("process {pid}") } else { "another process".to_string() };
        return Err(Failure::runtime(format!(
            "{} is open in {holder} (a running server?); stop it first (systemctl stop affiliated), then run \
             restore again. Nothing was changed.",
            db.display()
        )));
    }
    let backup = backup::read(&source)?;
    if backup.schema > migrate::CURRENT {
        let by = backup.manifest.as_ref().map_or("a newer affiliated".to_string(), |m| m.program.clone());
        return Err(Failure::runtime(format!(
            "{} was written by {by} (schema {}); this is {} (schema {}): restore it with {by} or newer",
            source.display(),
            backup.schema,
            migrate::program(),
            migrate::CURRENT
        )));
    }
    let extra_logs = read_erasure_logs(&args.get_all(&ERASURE_LOG))?;
    let plan = Plan { db: &db, source: &source, backup: &backup, extra_logs: &extra_logs };
    let report = plan.carry_out()?;
    for line in report {
        println!("{line}");
    }
    Ok(())
}

/// The off-machine erasure logs, checked line by line before anything changes.
fn read_erasure_logs(paths: &[String]) -> Result<Vec<(String, String)>, String> {
    let mut logs = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read the erasure log {path}: {e}"))?;
        if let Some((n, line)) =
            text.lines().enumerate().find(|(_, l)| !l.trim().is_empty() && !retention::is_log_line(l))
        {
            return Err(format!(
                "{path} is not an erasure log: line {} is {line:?} (expected lines such as `customer <64 hex digits>`)",
                n + 1
            ));
        }
        logs.push((path.clone(), text));
    }
    Ok(logs)
}

struct Plan<'a> {
    db: &'a Path,
    source: &'a Path,
    backup: &'a Backup,
    /// (path, text) of each `--erasure-log`.
    extra_logs: &'a [(String, String)],
}

/// A file prepared under a temporary name, and where it goes.
struct Staged {
    from: PathBuf,
    to: PathBuf,
}

impl Plan<'_> {
    fn carry_out(&self) -> Result<Vec<String>, String> {
        let dir = match self.db.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        backup::ensure_dir(&dir)?;
        let staging = file::beside(self.db, ".restoring");
        let staged = self.stage(&staging);
        let staged = match staged {
            Ok(staged) => staged,
            Err(e) => {
                remove_staging(&staging);
                return Err(format!("{e}. Nothing was changed."));
            }
        };
        let mut report = staged.1;
        let aside = set_aside(self.db, &dir)?;
        if let Some((aside_dir, names)) = &aside {
            report.insert(0, format!("set aside in {}: {}", aside_dir.display(), names.join(", ")));
        }
        let mut staged = staged.0;
        if self.backup.manifest.is_none()
            && let Some((aside_dir, _)) = &aside
        {
            // A plain copy carries no files: the current ones stay (they are this database's).
            for which in [Companion::StatementKey, Companion::PostbackToken] {
                let kept = aside_dir.join(file_name(&file::companion(self.db, which)));
                if kept.exists() {
                    let back = file::beside(&staging, &format!("{}.kept", which.suffix()));
                    std::fs::copy(&kept, &back).map_err(|e| format!("while copying {} back: {e}", kept.display()))?;
                    staged.push(Staged { from: back, to: file::companion(self.db, which) });
                    report.push(format!(
                        "kept the current {} (the backup is a plain copy without it)",
                        which.describe().trim_start_matches("the ")
                    ));
                }
            }
        }
        // The database last: it never sits in place without the key and log that belong to it.
        staged.sort_by_key(|s| s.to == self.db);
        for s in &staged {
            std::fs::rename(&s.from, &s.to).map_err(|e| {
                format!("while moving {} into place: {e}; the files set aside are in before-restore-*/", s.to.display())
            })?;
            file::adopt(&s.to)?;
        }
        backup::sync_dir(self.db);
        report.push("next: start the server (systemctl start affiliated) and check it (affiliated check)".to_string());
        Ok(report)
    }

    /// Prepares every file under `<db>.restoring*`. Returns them and what was done.
    fn stage(&self, staging: &Path) -> Result<(Vec<Staged>, Vec<String>), String> {
        let mut report = Vec::new();
        let mut staged = Vec::new();
        let described = match &self.backup.manifest {
            Some(m) => format!("taken {} by {}, schema {}", m.taken_at, m.program, m.schema),
            None => format!("a plain database copy, schema {}", self.backup.schema),
        };
        remove_staging(staging);
        std::fs::copy(self.source, staging).map_err(|e| format!("while copying {}: {e}", self.source.display()))?;
        crate::secret::open_private(staging, std::fs::OpenOptions::new().read(true))
            .map_err(|e| format!("while making {} private: {e}", staging.display()))?;
        // The erasure log: the backup's, then the current one (erasures since the backup, if
        // this disk still has it), then the off-machine copies.
        let current_log = std::fs::read_to_string(file::companion(self.db, Companion::ErasureLog)).unwrap_or_default();
        let backup_log = String::from_utf8_lossy(self.backup.entry(Companion::ErasureLog.name()).unwrap_or_default());
        let mut texts: Vec<&str> = vec![&backup_log, &current_log];
        texts.extend(self.extra_logs.iter().map(|(_, t)| t.as_str()));
        let merged = backup::merge_lines(&texts);
        let log_sources = self.log_sources(&backup_log, &current_log);
        backup::write_private(&file::companion(staging, Companion::ErasureLog), merged.as_bytes())?;
        staged.push(Staged {
            from: file::companion(staging, Companion::ErasureLog),
            to: file::companion(self.db, Companion::ErasureLog),
        });

        let conn = crate::store::open_as_is(staging)?;
        backup::strip(&conn)?;
        let erasures = if self.backup.schema == migrate::CURRENT {
            let applied = retention::reapply(&conn, staging, crate::clock::now_ms())?;
            format!("re-applied {} recorded after the backup", count(applied, "erasure", "erasures"))
        } else {
            format!(
                "the server re-applies the erasures recorded after the backup when it starts (this program changes no \
                 database of schema {})",
                self.backup.schema
            )
        };
        let verdict: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).map_err(|e| e.to_string())?;
        if verdict != "ok" {
            return Err(format!("the restored copy failed its integrity check: {verdict}"));
        }
        conn.close().map_err(|(_, e)| format!("while closing the restored copy: {e}"))?;
        std::fs::File::open(staging).and_then(|f| f.sync_all()).map_err(|e| e.to_string())?;
        staged.push(Staged { from: staging.to_path_buf(), to: self.db.to_path_buf() });
        report.push(format!(
            "restored {} from {} ({described}): integrity ok",
            self.db.display(),
            self.source.display()
        ));

        let mut put_back = Vec::new();
        for which in Companion::ALL.into_iter().filter(|c| *c != Companion::ErasureLog) {
            let Some(content) = self.backup.entry(which.name()) else { continue };
            let path = file::companion(staging, which);
            backup::write_private(&path, content)?;
            staged.push(Staged { from: path, to: file::companion(self.db, which) });
            put_back.push(match which {
                Companion::StatementKey => format!("{} ({})", which.describe(), public_key(content)),
                _ => which.describe().to_string(),
            });
        }
        report.push(if put_back.is_empty() {
            "put back no key or token file (the backup holds none)".to_string()
        } else {
            format!("put back {}", put_back.join(", "))
        });
        report.push(format!("erasure log: {log_sources}; {erasures}"));
        let settings = self.backup.environment();
        if !settings.is_empty() {
            let names: Vec<&str> = settings.iter().map(|(k, _)| k.as_str()).collect();
            report.push(format!(
                "the backup also holds the settings it ran with ({}); on a new machine, `affiliated install --domain D \
                 --from-backup {}` writes them to /etc/affiliated/affiliated.env",
                names.join(", "),
                self.source.display()
            ));
        }
        Ok((staged, report))
    }

    /// Says where the merged log's lines came from.
    fn log_sources(&self, backup_log: &str, current_log: &str) -> String {
        let lines = |t: &str| t.lines().filter(|l| !l.trim().is_empty()).count();
        let new_in = |earlier: &[&str], text: &str| {
            let before = backup::merge_lines(earlier);
            let known: std::collections::HashSet<&str> = before.lines().collect();
            text.lines().filter(|l| !l.trim().is_empty() && !known.contains(l)).count()
        };
        let mut parts = vec![format!("{} from the backup", count(lines(backup_log), "entry", "entries"))];
        parts.push(format!("{} more from the current log", new_in(&[backup_log], current_log)));
        let mut earlier: Vec<&str> = vec![backup_log, current_log];
        for (path, text) in self.extra_logs {
            parts.push(format!("{} more from {path}", new_in(&earlier, text)));
            earlier.push(text);
        }
        parts.join(", ")
    }
}

/// `1 entry`, `2 entries`.
fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The public half of a statement key file's seed, for the report (never the seed).
fn public_key(content: &[u8]) -> String {
    let text = String::from_utf8_lossy(content);
    let seed = text.lines().find_map(|l| l.strip_prefix("seed ")).and_then(crate::secret::from_base64::<32>);
    seed.map_or("unreadable".to_string(), |s| format!("public key {}", crate::tracking::statement::public_key(&s)))
}

fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

fn remove_staging(staging: &Path) {
    let mut names = vec![staging.to_path_buf()];
    names.extend(file::SQLITE_SUFFIXES.iter().map(|s| file::beside(staging, s)));
    names.extend(Companion::ALL.iter().map(|c| file::companion(staging, *c)));
    names.extend(Companion::ALL.iter().map(|c| file::beside(staging, &format!("{}.kept", c.suffix()))));
    for name in names {
        let _ = std::fs::remove_file(name);
    }
}

/// Moves the database, SQLite's files and the companions that exist into a new
/// `before-restore-STAMP/` in `dir`. Returns it and the names moved; `None` when there was
/// nothing (a new machine).
fn set_aside(db: &Path, dir: &Path) -> Result<Option<(PathBuf, Vec<String>)>, String> {
    let mut present: Vec<PathBuf> = vec![db.to_path_buf()];
    present.extend(file::SQLITE_SUFFIXES.iter().map(|s| file::beside(db, s)));
    present.extend(Companion::ALL.iter().map(|c| file::companion(db, *c)));
    present.retain(|p| std::fs::symlink_metadata(p).is_ok());
    if present.is_empty() {
        return Ok(None);
    }
    let stamp = chrono::Utc::now().format(backup::STAMP_FORMAT).to_string();
    let mut aside = dir.join(format!("before-restore-{stamp}"));
    let mut n = 1;
    while aside.exists() {
        n += 1;
        aside = dir.join(format!("before-restore-{stamp}-{n}"));
    }
    backup::ensure_dir(&aside)?;
    let mut names = Vec::new();
    for path in present {
        let name = file_name(&path);
        std::fs::rename(&path, aside.join(&name))
            .map_err(|e| format!("while setting {} aside into {}: {e}", path.display(), aside.display()))?;
        names.push(name);
    }
    backup::sync_dir(db);
    Ok(Some((aside, names)))
}
