//! Where backups go and how their files are written: names stamped to the second, private
//! directories made on demand, private files synced and given to the directory's owner, and
//! the merging of erasure logs. No SQL.

use std::path::Path;
use std::time::Duration;

use crate::store::file;

/// How snapshots are stamped: UTC, `YYYYMMDDTHHMMSSZ` (sorts as text in time order).
pub const STAMP_FORMAT: &str = "%Y%m%dT%H%M%SZ";

/// The name of the backup taken before migrating a database of schema `from`:
/// `affiliated-YYYYMMDDTHHMMSSZ-schema-N.db`. Not a nightly snapshot's name, so `backup --keep`
/// never prunes it.
pub fn pre_upgrade_name(at: chrono::DateTime<chrono::Utc>, from: i64) -> String {
    format!("affiliated-{}-schema-{from}.db", at.format(STAMP_FORMAT))
}

/// A path in `dir` named by `name` for the current time that does not exist yet: names are
/// stamped to the second, so a second backup within the same second waits for the next one
/// (never more than a second) rather than fail or take a name that sorts before the first.
pub fn fresh_path(dir: &Path, name: impl Fn(chrono::DateTime<chrono::Utc>) -> String) -> std::path::PathBuf {
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    loop {
        let path = dir.join(name(chrono::Utc::now()));
        if !path.exists() || std::time::Instant::now() > deadline {
            return path;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Makes sure `dir` exists, creating it (and missing parents) with mode 0700.
pub fn ensure_dir(dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.is_dir() {
        return Ok(());
    }
    let mut missing = Vec::new();
    let mut at = Some(dir);
    while let Some(d) = at.filter(|d| !d.as_os_str().is_empty() && !d.exists()) {
        missing.push(d);
        at = d.parent();
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| format!("while creating the directory {}: {e}", dir.display()))?;
    // The mode is narrowed by the umask; set it exactly, and give root-made directories to
    // whoever owns the directory they were made in.
    for d in missing.iter().rev() {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| format!("while making {} private: {e}", d.display()))?;
        file::adopt(d)?;
    }
    Ok(())
}

/// The lines of every text in order, each once (blank lines dropped), newline-terminated.
pub fn merge_lines(texts: &[&str]) -> String {
    let mut seen = std::collections::HashSet::new();
    let mut out = String::new();
    for line in texts.iter().flat_map(|t| t.lines()) {
        if !line.trim().is_empty() && seen.insert(line.to_string()) {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// Writes a private file (0600), synced, given to the directory's owner when root writes it.
pub fn write_private(path: &Path, content: &[u8]) -> Result<(), String> {
    use std::io::Write;
    let mut f = crate::secret::open_private(path, std::fs::OpenOptions::new().write(true).create(true).truncate(true))
        .map_err(|e| format!("while writing {}: {e}", path.display()))?;
    f.write_all(content).and_then(|_| f.sync_all()).map_err(|e| format!("while writing {}: {e}", path.display()))?;
    file::adopt(path)
}

/// Makes a rename in the directory of `path` durable (best effort: some file systems refuse).
pub fn sync_dir(path: &Path) {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && let Ok(d) = std::fs::File::open(dir)
    {
        let _ = d.sync_all();
    }
}
