//! Backups: a consistent copy of a live database that carries everything needed to bring the
//! install back, in one SQLite file.
//!
//! The copy is taken with SQLite's online backup API while writers go on (a plain `cp` of a WAL
//! database is not safe: the main file alone may miss committed transactions that are still only
//! in the `-wal` file, and copying both while a checkpoint runs can tear them). Into the copy,
//! and only the copy, goes one more table, [`TABLE`]: the files kept beside the database
//! (`store::file::Companion`: statement key, postback token, erasure log, initial key and
//! token), the `AFFILIATED_*` settings the backup ran with (`environment`) and a `manifest`
//! (format, program and schema versions, time), each with its SHA-256. The file is then checked
//! (`PRAGMA integrity_check`, every checksum read back), synced, and only then renamed to its
//! name: a backup that exists is complete.
//!
//! A backup therefore holds secrets in clear that the live database never holds (the signing
//! key, the postback token). Nothing here lets them into a live database: a restore drops the
//! table ([`strip`]), and a backup copied into place by hand is unpacked and stripped by the
//! next start ([`unpack_in_place`]). Backups from before this format are plain copies without
//! the table; [`read`] accepts them.
//!
//! Never: change the source database, overwrite an existing file, or log a secret.

use std::path::Path;

use rusqlite::{Connection, OpenFlags, OptionalExtension};
use serde::{Deserialize, Serialize};

use super::file::{self, Companion};

mod copy;
mod place;
use copy::copy;
pub use place::{STAMP_FORMAT, ensure_dir, fresh_path, merge_lines, pre_upgrade_name, sync_dir, write_private};

/// The table only backups have.
pub const TABLE: &str = "affiliated_backup";
/// The version of the layout of [`TABLE`] and the manifest.
pub const FORMAT: i64 = 1;
/// The entry holding the settings a backup ran with, one `NAME=value` line each.
pub const ENVIRONMENT: &str = "environment";
const MANIFEST: &str = "manifest";

/// One stored entry besides the database itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub content: Vec<u8>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Manifest {
    pub format: i64,
    /// `affiliated X.Y.Z`: the program that wrote the backup.
    pub program: String,
    /// The schema version of the database copy.
    pub schema: i64,
    /// RFC 3339.
    pub taken_at: String,
    /// The database the copy was taken from.
    pub source: String,
}

/// A backup as read back.
pub struct Backup {
    pub schema: i64,
    /// `None` for a plain copy (written before backups carried their files).
    pub manifest: Option<Manifest>,
    pub entries: Vec<Entry>,
}

impl Backup {
    pub fn entry(&self, name: &str) -> Option<&[u8]> {
        self.entries.iter().find(|e| e.name == name).map(|e| e.content.as_slice())
    }

    /// The settings it ran with, as `(NAME, value)`.
    pub fn environment(&self) -> Vec<(String, String)> {
        let text = self.entry(ENVIRONMENT).map(String::from_utf8_lossy).unwrap_or_default();
        text.lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }
}

/// Writes a verified backup of `source` (the database and its companion files) to `out`, which
/// must not exist, with `environment` as its settings. Returns the number of pages copied.
pub fn run(source: &Path, out: &Path, environment: &[(String, String)]) -> Result<i64, String> {
    if out.exists() {
        return Err(format!("{} already exists; choose a new file name", out.display()));
    }
    let src = Connection::open_with_flags(source, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(|e| format!("while opening {}: {e}", source.display()))?;
    src.busy_timeout(super::BUSY_TIMEOUT).map_err(|e| e.to_string())?;
    let partial = out.with_extension("partial");
    let _ = std::fs::remove_file(&partial);
    let result = write(&src, source, &partial, environment).and_then(|pages| {
        std::fs::rename(&partial, out)
            .map_err(|e| format!("while moving the backup into place at {}: {e}", out.display()))?;
        sync_dir(out);
        file::adopt(out)?;
        Ok(pages)
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    result
}

fn write(src: &Connection, source: &Path, partial: &Path, environment: &[(String, String)]) -> Result<i64, String> {
    // Created private first: SQLite would create it with mode 0644, and its journal takes the
    // file's mode. A backup holds everything the database does, and more.
    crate::secret::open_private(partial, std::fs::OpenOptions::new().write(true).create_new(true))
        .map_err(|e| format!("while creating {}: {e}", partial.display()))?;
    let mut dst = Connection::open(partial).map_err(|e| format!("while creating {}: {e}", partial.display()))?;
    copy(src, &mut dst)?;
    // The copy is a self-contained rollback-journal database: one file, safe to move around.
    dst.pragma_update(None, "journal_mode", "DELETE").map_err(|e| format!("while finishing the copy: {e}"))?;
    let schema: i64 = dst.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(|e| e.to_string())?;
    // The files are read after the snapshot: an erasure logged meanwhile is in the log but maybe
    // not in the copy, and a restore re-applies it; the other way round it would be lost.
    let mut entries = companions(source)?;
    entries.push(Entry { name: ENVIRONMENT.into(), content: environment_text(environment).into_bytes() });
    let manifest = Manifest {
        format: FORMAT,
        program: super::migrate::program(),
        schema,
        taken_at: crate::clock::rfc3339(crate::clock::now_ms()),
        source: std::path::absolute(source).unwrap_or_else(|_| source.to_path_buf()).display().to_string(),
    };
    let manifest = serde_json::to_vec(&manifest).map_err(|e| e.to_string())?;
    entries.push(Entry { name: MANIFEST.into(), content: manifest });
    store_entries(&dst, &entries).map_err(|e| format!("while storing the files in the copy: {e}"))?;
    check(&dst)?;
    let read_back = entries_of(&dst)?;
    if read_back.len() != entries.len() {
        return Err("the copy does not hold every file it was given".into());
    }
    let pages: i64 = dst.query_row("PRAGMA page_count", [], |r| r.get(0)).map_err(|e| e.to_string())?;
    dst.close().map_err(|(_, e)| format!("while closing the copy: {e}"))?;
    let file = std::fs::File::open(partial).map_err(|e| e.to_string())?;
    file.sync_all().map_err(|e| format!("while syncing the copy: {e}"))?;
    Ok(pages)
}

/// The companion files beside `db` that exist, as entries. A last line still being written
/// (no newline yet) is left out of the erasure log.
fn companions(db: &Path) -> Result<Vec<Entry>, String> {
    let mut entries = Vec::new();
    for which in Companion::ALL {
        let path = file::companion(db, which);
        let mut content = match std::fs::read(&path) {
            Ok(content) => content,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(format!("while reading {}: {e}", path.display())),
        };
        if which == Companion::ErasureLog {
            let complete = content.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
            content.truncate(complete);
        }
        entries.push(Entry { name: which.name().into(), content });
    }
    Ok(entries)
}

/// `NAME=value` lines, sorted; values with a line break cannot be written so and are left out.
fn environment_text(environment: &[(String, String)]) -> String {
    let mut lines: Vec<String> =
        environment.iter().filter(|(_, v)| !v.contains(['\n', '\r'])).map(|(k, v)| format!("{k}={v}\n")).collect();
    lines.sort();
    lines.concat()
}

fn store_entries(conn: &Connection, entries: &[Entry]) -> rusqlite::Result<()> {
    conn.execute_batch(&format!(
        "DROP TABLE IF EXISTS {TABLE};
         CREATE TABLE {TABLE} (name TEXT PRIMARY KEY, content BLOB NOT NULL, sha256 TEXT NOT NULL);"
    ))?;
    let mut insert = conn.prepare(&format!("INSERT INTO {TABLE} (name, content, sha256) VALUES (?1, ?2, ?3)"))?;
    for e in entries {
        insert.execute(rusqlite::params![e.name, e.content, crate::secret::hex(&crate::secret::sha256(&e.content))])?;
    }
    Ok(())
}

fn has_table(conn: &Connection) -> Result<bool, String> {
    conn.query_row("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1", [TABLE], |_| Ok(()))
        .optional()
        .map(|found| found.is_some())
        .map_err(|e| format!("while reading the backup: {e}"))
}

/// The stored entries, each checked against its checksum.
fn entries_of(conn: &Connection) -> Result<Vec<Entry>, String> {
    let mut stmt = conn
        .prepare(&format!("SELECT name, content, sha256 FROM {TABLE} ORDER BY name"))
        .map_err(|e| format!("while reading the backup's files: {e}"))?;
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?, r.get::<_, String>(2)?)))
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("while reading the backup's files: {e}"))?;
    let mut entries = Vec::new();
    for (name, content, sha256) in rows {
        if crate::secret::hex(&crate::secret::sha256(&content)) != sha256 {
            return Err(format!("the backup's {name} does not match its checksum: the file is damaged"));
        }
        entries.push(Entry { name, content });
    }
    Ok(entries)
}

fn check(conn: &Connection) -> Result<(), String> {
    let verdict: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .map_err(|e| format!("while checking the copy: {e}"))?;
    if verdict != "ok" {
        return Err(format!("the copy failed its integrity check: {verdict}"));
    }
    Ok(())
}

/// What a file path must escape to be a URI path: everything but unreserved characters and `/`.
const URI_PATH: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'/').remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// Reads and checks a backup without changing it: its integrity, every checksum, its manifest.
pub fn read(path: &Path) -> Result<Backup, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read the backup {}: {e}", path.display()))?;
    if !meta.is_file() {
        return Err(format!("{} is not a backup file", path.display()));
    }
    let not_a_backup = |why: String| format!("{} is not an affiliated backup: {why}", path.display());
    // A live database in WAL mode copied with its -wal file: its newest commits are in the
    // -wal, which a restore (copying the one file) would lose. `affiliated backup` never
    // writes one: its files are rollback-journal databases.
    let mut header = [0u8; 20];
    let wal_mode = std::fs::File::open(path).and_then(|mut f| std::io::Read::read_exact(&mut f, &mut header)).is_ok()
        && header[18] == 2;
    if wal_mode && std::fs::metadata(file::beside(path, "-wal")).is_ok_and(|m| m.len() > 0) {
        return Err(format!(
            "{} is a database in WAL mode with a -wal file beside it (a copy of a live database?); take a backup \
             of it with `affiliated backup --db {} NEW-FILE` and restore that",
            path.display(),
            path.display()
        ));
    }
    // Immutable: SQLite takes no lock and creates no -wal or -shm beside the backup.
    let absolute = std::path::absolute(path).map_err(|e| not_a_backup(e.to_string()))?;
    let uri =
        format!("file:{}?immutable=1", percent_encoding::utf8_percent_encode(&absolute.to_string_lossy(), URI_PATH));
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(uri, flags).map_err(|e| not_a_backup(e.to_string()))?;
    check(&conn).map_err(|e| not_a_backup(e.replace("the copy", "it")))?;
    let schema: i64 =
        conn.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(|e| not_a_backup(e.to_string()))?;
    let conversions: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'conversions'", [], |r| r.get(0))
        .map_err(|e| not_a_backup(e.to_string()))?;
    if schema < 1 || conversions == 0 {
        return Err(not_a_backup("it holds no affiliated database".into()));
    }
    if !has_table(&conn)? {
        return Ok(Backup { schema, manifest: None, entries: Vec::new() });
    }
    let mut entries = entries_of(&conn)?;
    let at = entries.iter().position(|e| e.name == MANIFEST).ok_or_else(|| not_a_backup("no manifest".into()))?;
    let manifest: Manifest =
        serde_json::from_slice(&entries.remove(at).content).map_err(|e| not_a_backup(format!("its manifest: {e}")))?;
    if manifest.format > FORMAT {
        return Err(format!(
            "{} was written by {} in a newer backup format ({}); restore it with that version or newer",
            path.display(),
            manifest.program,
            manifest.format
        ));
    }
    Ok(Backup { schema, manifest: Some(manifest), entries })
}

/// Removes the backup's own table from a copy about to become a live database, and rewrites
/// the file so that not a byte of what it held is left in free pages.
pub fn strip(conn: &Connection) -> Result<(), String> {
    conn.execute_batch(&format!("DROP TABLE IF EXISTS {TABLE}; VACUUM;"))
        .map_err(|e| format!("while removing the backup's files from the database: {e}"))
}

/// For a backup copied into place by hand (instead of `affiliated restore`): puts its files
/// back where none are beside the database `db` (an existing file is kept; the erasure log
/// gains the backup's lines it lacks), then strips the table. Returns what it did, for the
/// log; nothing when `conn` is not a backup.
pub fn unpack_in_place(conn: &Connection, db: &Path) -> Result<Vec<String>, String> {
    if !has_table(conn)? {
        return Ok(Vec::new());
    }
    let mut said = vec![format!("{} is a backup copied into place; taking its files out of it", db.display())];
    for entry in entries_of(conn)? {
        let Some(which) = Companion::from_name(&entry.name) else { continue };
        let path = file::companion(db, which);
        if which == Companion::ErasureLog {
            let current = std::fs::read_to_string(&path).unwrap_or_default();
            let merged = merge_lines(&[&current, &String::from_utf8_lossy(&entry.content)]);
            if merged != current {
                write_private(&path, merged.as_bytes())?;
                said.push(format!("added the backup's erasures to {}", path.display()));
            }
            continue;
        }
        match std::fs::read(&path) {
            Ok(current) if current == entry.content => {}
            Ok(_) => said.push(format!("kept {} ({} differs from the backup's)", path.display(), which.describe())),
            Err(_) => {
                write_private(&path, &entry.content)?;
                said.push(format!("put back {} ({})", path.display(), which.describe()));
            }
        }
    }
    strip(conn)?;
    Ok(said)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(dir: &Path) -> std::path::PathBuf {
        let db = dir.join("a.db");
        let conn = crate::store::open_writer(&db, crate::store::Synchronous::Normal, 1000).unwrap();
        conn.execute_batch(crate::store::TEST_CATALOG).unwrap();
        std::fs::write(file::companion(&db, Companion::StatementKey), "key\n").unwrap();
        std::fs::write(file::companion(&db, Companion::ErasureLog), "customer aa\ncustomer b").unwrap();
        db
    }

    #[test]
    fn a_backup_carries_the_files_beside_the_database_and_its_settings() {
        let dir = tempfile::tempdir().unwrap();
        let db = live(dir.path());
        let out = dir.path().join("b.db");
        let env =
            [("AFFILIATED_API_KEY".to_string(), "k".repeat(40)), ("AFFILIATED_ADMIN_TOKEN".into(), "a\nb".into())];
        run(&db, &out, &env).unwrap();
        let b = read(&out).unwrap();
        assert_eq!(b.entry("statement-key"), Some(&b"key\n"[..]));
        assert_eq!(b.entry("erasure-log"), Some(&b"customer aa\n"[..]), "the unfinished last line is left out");
        assert_eq!(b.entry("postback-token"), None, "absent files are absent");
        assert_eq!(b.environment(), [("AFFILIATED_API_KEY".to_string(), "k".repeat(40))]);
        let m = b.manifest.unwrap();
        assert_eq!((m.format, m.schema), (FORMAT, crate::store::migrate::CURRENT));
        assert_eq!(m.program, format!("affiliated {}", env!("CARGO_PKG_VERSION")));
        assert!(run(&db, &out, &[]).unwrap_err().contains("already exists"));
        // The live database never got the table.
        let conn = Connection::open(&db).unwrap();
        assert!(!has_table(&conn).unwrap());
    }

    #[test]
    fn a_damaged_entry_is_refused_and_a_plain_copy_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let db = live(dir.path());
        let out = dir.path().join("b.db");
        run(&db, &out, &[]).unwrap();
        Connection::open(&out)
            .unwrap()
            .execute(&format!("UPDATE {TABLE} SET content = x'00' WHERE name = 'statement-key'"), [])
            .unwrap();
        assert!(read(&out).err().unwrap().contains("statement-key does not match its checksum"));
        Connection::open(&out).unwrap().execute_batch(&format!("DROP TABLE {TABLE}")).unwrap();
        let plain = read(&out).unwrap();
        assert!(plain.manifest.is_none() && plain.entries.is_empty());
        std::fs::write(dir.path().join("junk.db"), b"not a database at all").unwrap();
        assert!(read(&dir.path().join("junk.db")).err().unwrap().contains("is not an affiliated backup"));
    }

    #[test]
    fn a_backup_put_in_place_by_hand_is_unpacked_and_stripped() {
        let dir = tempfile::tempdir().unwrap();
        let db = live(dir.path());
        let out = dir.path().join("b.db");
        run(&db, &out, &[]).unwrap();
        let moved = dir.path().join("moved.db");
        std::fs::copy(&out, &moved).unwrap();
        std::fs::write(file::companion(&moved, Companion::ErasureLog), "click x y\n").unwrap();
        let conn = Connection::open(&moved).unwrap();
        let said = unpack_in_place(&conn, &moved).unwrap().join("\n");
        assert!(said.contains("put back") && said.contains("statement signing key"), "{said}");
        assert_eq!(std::fs::read_to_string(file::companion(&moved, Companion::StatementKey)).unwrap(), "key\n");
        let log = std::fs::read_to_string(file::companion(&moved, Companion::ErasureLog)).unwrap();
        assert_eq!(log, "click x y\ncustomer aa\n");
        assert!(!has_table(&conn).unwrap());
        assert!(unpack_in_place(&conn, &moved).unwrap().is_empty(), "once");
        drop(conn);
        let bytes = std::fs::read(&moved).unwrap();
        assert!(!bytes.windows(8).any(|w| w == b"manifest"), "nothing of the table is left in the file");
    }

    #[test]
    fn reading_a_backup_leaves_nothing_beside_it_and_refuses_a_live_wal_copy() {
        let dir = tempfile::tempdir().unwrap();
        let db = live(dir.path());
        let out = dir.path().join("odd name #1?%.db");
        run(&db, &out, &[]).unwrap();
        read(&out).unwrap();
        let beside: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.starts_with("odd name"))
            .collect();
        assert_eq!(beside, ["odd name #1?%.db"]);
        // A live WAL database with its -wal: refused, since one file would lose the -wal.
        let conn = crate::store::open_writer(&db, crate::store::Synchronous::Normal, 0).unwrap();
        conn.execute_batch("INSERT INTO affiliates (referral_code, name, created_at) VALUES ('bo', 'Bo', 2)").unwrap();
        let copy = dir.path().join("copy.db");
        std::fs::copy(&db, &copy).unwrap();
        std::fs::copy(file::beside(&db, "-wal"), file::beside(&copy, "-wal")).unwrap();
        assert!(read(&copy).err().unwrap().contains("in WAL mode with a -wal file beside it"));
    }

    #[test]
    fn merged_lines_keep_their_order_once_each() {
        assert_eq!(merge_lines(&["a\nb\n", "b\nc", "\na\n"]), "a\nb\nc\n");
        assert_eq!(merge_lines(&[]), "");
    }
}
