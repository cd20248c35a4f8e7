//! The database file itself, before SQLite opens it: say clearly why it cannot be opened (SQLite
//! only says "unable to open database file"), and keep it private. A database created here is
//! mode 0600 whatever the umask, and SQLite gives its `-wal`, `-shm` and `-journal` files the
//! database's own mode, so they are private too.
//!
//! Also the one list of the files kept beside the database (`<db>.statement-key`, ...: see
//! [`Companion`]), so that backups, restores and the code that writes each file agree on their
//! names; whether another process has the database open ([`in_use`]); and giving a file that
//! root wrote to the owner of its directory ([`adopt`]). This module never deletes anything.

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

/// A file `serve` keeps beside the database, named `<db><suffix>`. Each is mode 0600.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Companion {
    /// The Ed25519 seed that signs statements (`crate::statements`).
    StatementKey,
    /// The postback token in clear, so its URL can be shown again (`store::postbacks`).
    PostbackToken,
    /// One line (a hash) per erasure, re-applied to restored databases (`store::retention`).
    ErasureLog,
    /// The API key the first start generated, until the operator deletes it.
    InitialApiKey,
    /// The admin token the first start generated, until the operator deletes it.
    InitialAdminToken,
    /// The key that signs browsers' device cookies (`web::device`), so a restored server still
    /// knows the browsers that logged in before.
    DeviceKey,
}

impl Companion {
    pub const ALL: [Companion; 6] = [
        Companion::StatementKey,
        Companion::PostbackToken,
        Companion::ErasureLog,
        Companion::InitialApiKey,
        Companion::InitialAdminToken,
        Companion::DeviceKey,
    ];

    /// The name a backup stores it under: the suffix without its dot.
    pub fn name(self) -> &'static str {
        &self.suffix()[1..]
    }

    pub fn suffix(self) -> &'static str {
        match self {
            Companion::StatementKey => ".statement-key",
            Companion::PostbackToken => ".postback-token",
            Companion::ErasureLog => ".erasure-log",
            Companion::InitialApiKey => ".initial-api-key",
            Companion::InitialAdminToken => ".initial-admin-token",
            Companion::DeviceKey => ".device-key",
        }
    }

    pub fn from_name(name: &str) -> Option<Companion> {
        Companion::ALL.into_iter().find(|c| c.name() == name)
    }

    /// What it is, for messages.
    pub fn describe(self) -> &'static str {
        match self {
            Companion::StatementKey => "the statement signing key",
            Companion::PostbackToken => "the postback token",
            Companion::ErasureLog => "the erasure log",
            Companion::InitialApiKey => "the initial API key",
            Companion::InitialAdminToken => "the initial admin token",
            Companion::DeviceKey => "the device cookie key",
        }
    }
}

/// `<db><suffix>`.
pub fn beside(db: &Path, suffix: &str) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

pub fn companion(db: &Path, which: Companion) -> PathBuf {
    beside(db, which.suffix())
}

/// SQLite's own files of the database: the journal, the WAL and its index.
pub const SQLITE_SUFFIXES: [&str; 3] = ["-journal", "-wal", "-shm"];

/// Which process, if any, has the database open. In WAL mode every connection holds a read
/// lock on the "DMS" byte of the `-shm` file (offset 128, SQLite's documented WAL-index
/// format) for as long as it is open, and any process inside a transaction holds one on the
/// database file's shared range; a write lock on either that cannot be had names the holder.
/// Asks only (F_GETLK): takes no lock and changes nothing. `Some(0)` when the holder's pid is
/// not known (an open file description lock).
pub fn in_use(db: &Path) -> Result<Option<i32>, String> {
    // SQLite's unix VFS: the DMS lock of the WAL index, and the database's SHARED range.
    const DMS: (i64, i64) = (128, 1);
    const SHARED: (i64, i64) = (0x4000_0000 + 2, 510);
    for (path, (start, len)) in [(beside(db, "-shm"), DMS), (db.to_path_buf(), SHARED)] {
        let file = match OpenOptions::new().read(true).write(true).open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == ErrorKind::NotFound => continue,
            Err(e) => return Err(format!("cannot tell whether {} is in use: {e}", path.display())),
        };
        if let Some(pid) = lock_holder(&file, start, len).map_err(|e| format!("cannot test {}: {e}", path.display()))? {
            return Ok(Some(pid));
        }
    }
    Ok(None)
}

fn lock_holder(file: &std::fs::File, start: i64, len: i64) -> std::io::Result<Option<i32>> {
    use std::os::fd::AsRawFd;
    // SAFETY: a zeroed flock is a valid value; the fields that matter are set below.
    let mut lock: libc::flock = unsafe { std::mem::zeroed() };
    lock.l_type = libc::F_WRLCK as libc::c_short;
    lock.l_whence = libc::SEEK_SET as libc::c_short;
    lock.l_start = start as libc::off_t;
    lock.l_len = len as libc::off_t;
    // SAFETY: `file` is an open descriptor and `lock` a valid flock for F_GETLK to fill in.
    if unsafe { libc::fcntl(file.as_raw_fd(), libc::F_GETLK, &mut lock) } == -1 {
        return Err(std::io::Error::last_os_error());
    }
    Ok((lock.l_type != libc::F_UNLCK as libc::c_short).then_some(lock.l_pid.max(0)))
}

/// Gives `path` to the owner of its directory when this process runs as root and the directory
/// belongs to someone else: what root restores into a service's state directory must stay
/// readable by that service (SQLite and the server open these files as the service's user).
pub fn adopt(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(());
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let owner = std::fs::metadata(dir).map_err(|e| format!("while reading the owner of {}: {e}", dir.display()))?;
    let file = std::fs::symlink_metadata(path).map_err(|e| format!("while reading {}: {e}", path.display()))?;
    if (file.uid(), file.gid()) == (owner.uid(), owner.gid()) {
        return Ok(());
    }
    std::os::unix::fs::lchown(path, Some(owner.uid()), Some(owner.gid()))
        .map_err(|e| format!("while giving {} to the owner of {}: {e}", path.display(), dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn companions_have_one_name_each() {
        let db = Path::new("/x/a.db");
        assert_eq!(companion(db, Companion::StatementKey), Path::new("/x/a.db.statement-key"));
        for c in Companion::ALL {
            assert_eq!(Companion::from_name(c.name()), Some(c));
            assert_eq!(companion(db, c).display().to_string(), format!("/x/a.db.{}", c.name()));
        }
        assert_eq!(Companion::from_name("manifest"), None);
    }

    #[test]
    fn a_database_no_process_holds_is_not_in_use() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("a.db");
        assert_eq!(in_use(&db).unwrap(), None, "no file, no user");
        // This process's own locks never conflict with its own F_GETLK: a closed connection
        // leaves the files without locks. (tests/it/restore.rs checks a running server.)
        let conn = crate::store::open_writer(&db, crate::store::Synchronous::Normal, 1000).unwrap();
        drop(conn);
        std::fs::write(beside(&db, "-shm"), [0u8; 256]).unwrap();
        assert_eq!(in_use(&db).unwrap(), None);
    }

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
