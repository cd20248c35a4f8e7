//! The database file itself, before SQLite opens it: say clearly why it cannot be opened (SQLite
//! only says "unable to open database file"), and keep it private. A database created here is
//! mode 0600 whatever the umask, and SQLite gives its `-wal`, `-shm` and `-journal` files the
//! database's own mode, so they are private too. This module never deletes anything.

use std::ffi::CString;
use std::fs::{OpenOptions, Permissions};
use std::io::ErrorKind;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The message for a tool pointed at a database that does not exist.
pub fn missing(path: &Path) -> String {
    let shown = absolute(path);
    format!("no database at {0} (start 'affiliated serve --db {0}' first, or pass --db)", shown.display())
}

/// `path` made absolute against the working directory (without touching the file system), so
/// that a message says where a relative path pointed.
fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// Fails with [`missing`] unless the database file exists.
pub fn existing(path: &Path) -> Result<(), String> {
    match std::fs::metadata(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => Err(missing(path)),
        Err(e) => Err(format!("cannot open the database {}: {e}", path.display())),
    }
}

/// Makes sure the database file exists (creating it empty, mode 0600), that this user may write
/// it and its directory, and that it and its `-wal`/`-shm` files are private.
pub fn prepare(path: &Path) -> Result<(), String> {
    let fail = |why: String| format!("cannot open the database {}: {why}", path.display());
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(fail(format!("{} is not a directory", dir.display()))),
        Err(e) if e.kind() == ErrorKind::NotFound => {
            return Err(fail(format!("the directory {} does not exist", dir.display())));
        }
        Err(e) => return Err(fail(format!("the directory {} cannot be read: {e}", dir.display()))),
    }
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    if !writable(dir) {
        return Err(fail(format!(
            "the directory {} is not writable by this user ({}); SQLite creates {name}-wal and {name}-shm beside the \
             database",
            dir.display(),
            whoami()
        )));
    }
    let file = OpenOptions::new().read(true).write(true).create(true).truncate(false).mode(0o600).open(path);
    let file = match file {
        Ok(file) => file,
        Err(e) if e.kind() == ErrorKind::PermissionDenied => {
            let mode = std::fs::metadata(path).map(|m| format!("mode {:o}", m.permissions().mode() & 0o777));
            return Err(fail(format!(
                "the file is read-only for this user ({}, {})",
                mode.unwrap_or_else(|e| e.to_string()),
                whoami()
            )));
        }
        Err(e) if e.kind() == ErrorKind::IsADirectory => return Err(fail("it is a directory".into())),
        Err(e) => return Err(fail(e.to_string())),
    };
    // Narrow what an earlier version, a copy or a restore left wider. Only the owner may change a
    // file's mode; anyone else who may write it (a group member) leaves it as it is.
    let private = Permissions::from_mode(0o600);
    if file.metadata().is_ok_and(|m| m.permissions().mode() & 0o777 != 0o600)
        && let Err(e) = file.set_permissions(private.clone())
    {
        log::warn!("{} is readable by others and could not be made private: {e}", path.display());
    }
    for suffix in ["-wal", "-shm"] {
        let mut companion = path.as_os_str().to_owned();
        companion.push(suffix);
        let companion = PathBuf::from(companion);
        if std::fs::metadata(&companion).is_ok_and(|m| m.permissions().mode() & 0o777 != 0o600) {
            let _ = std::fs::set_permissions(&companion, private.clone());
        }
    }
    Ok(())
}

/// Whether this process may create files in `dir` (checked with its effective IDs).
fn writable(dir: &Path) -> bool {
    let Ok(c) = CString::new(dir.as_os_str().as_bytes()) else { return false };
    // SAFETY: `c` is a valid NUL-terminated path that outlives the call.
    unsafe { libc::faccessat(libc::AT_FDCWD, c.as_ptr(), libc::W_OK | libc::X_OK, libc::AT_EACCESS) == 0 }
}

fn whoami() -> String {
    // SAFETY: geteuid has no preconditions and cannot fail.
    format!("uid {}", unsafe { libc::geteuid() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_created_database_is_private_and_a_missing_directory_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("a.db");
        prepare(&db).unwrap();
        assert_eq!(std::fs::metadata(&db).unwrap().permissions().mode() & 0o777, 0o600);
        let nowhere = dir.path().join("missing-dir/a.db");
        let e = prepare(&nowhere).unwrap_err();
        assert!(e.contains("the directory") && e.contains("missing-dir") && e.contains("does not exist"), "{e}");
        assert!(!nowhere.parent().unwrap().exists());
    }

    #[test]
    fn existing_wide_files_are_narrowed() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("a.db");
        for name in ["a.db", "a.db-wal", "a.db-shm"] {
            let p = dir.path().join(name);
            std::fs::write(&p, b"").unwrap();
            std::fs::set_permissions(&p, Permissions::from_mode(0o644)).unwrap();
        }
        prepare(&db).unwrap();
        for name in ["a.db", "a.db-wal", "a.db-shm"] {
            let mode = std::fs::metadata(dir.path().join(name)).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{name}");
        }
    }

    #[test]
    fn a_missing_database_is_named_with_its_absolute_path() {
        let e = existing(Path::new("surely-not-here.db")).unwrap_err();
        let cwd = std::env::current_dir().unwrap();
        let full = cwd.join("surely-not-here.db");
        assert_eq!(
            e,
            format!("no database at {0} (start 'affiliated serve --db {0}' first, or pass --db)", full.display())
        );
    }
}
