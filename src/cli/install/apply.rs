//! Carrying out an install plan: directories, files and symbolic links under a root, each with
//! its mode and its rule for what is already there. Generated secrets are never overwritten,
//! files edited by hand are kept (and said so), anything replaced that is not ours is moved
//! aside first. `--dry-run` prints the same plan without touching anything (secrets masked).

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// What to do with a file that is already there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Existing {
    /// Ours to keep current (the units): replace it.
    Replace,
    /// Never touch it (the env file with its secrets, another binary), for this reason.
    Keep(&'static str),
    /// Replace it only when it is one of these texts (what an install wrote, unedited);
    /// otherwise keep it: somebody edited it.
    ReplaceIfOneOf(Vec<String>),
    /// Replace it when it is ours (it contains this mark) and unedited as above; a file that
    /// is not ours is moved aside to `NAME.before-affiliated` first (the package's default).
    ReplaceForeign { mark: &'static str, ours: Vec<String> },
}

pub enum Item {
    Dir { path: &'static str, mode: u32 },
    File { path: String, content: Vec<u8>, mode: u32, existing: Existing, secrets: Vec<String> },
    Link { path: String, target: String },
}

/// Where everything goes: `/`, or the directory given with `--root`.
pub struct Root(pub PathBuf);

impl Root {
    pub fn join(&self, absolute: &str) -> PathBuf {
        self.0.join(absolute.trim_start_matches('/'))
    }
}

/// Carries out `items` under `root`; returns one line per item saying what happened.
pub fn apply(root: &Root, items: &[Item]) -> Result<Vec<String>, String> {
    let mut said = Vec::new();
    for item in items {
        said.push(match item {
            Item::Dir { path, mode } => dir(&root.join(path), *mode)?.unwrap_or_default(),
            Item::File { path, content, mode, existing, .. } => file(&root.join(path), content, *mode, existing)?,
            Item::Link { path, target } => link(&root.join(path), target)?,
        });
    }
    said.retain(|l| !l.is_empty());
    Ok(said)
}

/// What [`apply`] would do, with every file's content (generated secrets shown as
/// `<generated>`).
pub fn describe(root: &Root, items: &[Item]) -> Vec<String> {
    let mut said = Vec::new();
    for item in items {
        match item {
            Item::Dir { path, mode } if !root.join(path).is_dir() => {
                said.push(format!("would create {} (mode {mode:04o})", root.join(path).display()));
            }
            Item::Dir { .. } => {}
            Item::Link { path, target } => said.push(format!("would link {} -> {target}", root.join(path).display())),
            Item::File { path, content, mode, existing, secrets } => {
                let at = root.join(path);
                let now = std::fs::read(&at).ok();
                let verb = match (&now, existing) {
                    (None, _) => "would write",
                    (Some(n), _) if n == content => "would leave unchanged",
                    (Some(_), Existing::Keep(_)) => "would keep",
                    (Some(_), _) => "would replace (if unedited)",
                };
                if content.contains(&0) || content.len() > 1 << 20 {
                    said.push(format!("{verb} {} (mode {mode:04o}, {} bytes)", at.display(), content.len()));
                    continue;
                }
                let mut text = String::from_utf8_lossy(content).into_owned();
                for secret in secrets {
                    text = text.replace(secret.as_str(), "<generated>");
                }
                said.push(format!("{verb} {} (mode {mode:04o}):", at.display()));
                said.extend(text.lines().map(|l| format!("    {l}")));
            }
        }
    }
    said
}

fn dir(path: &Path, mode: u32) -> Result<Option<String>, String> {
    if path.is_dir() {
        return Ok(None);
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(path)
        .map_err(|e| format!("while creating {}: {e}", path.display()))?;
    set_mode(path, mode)?;
    Ok(Some(format!("created {} (mode {mode:04o})", path.display())))
}

fn set_mode(path: &Path, mode: u32) -> Result<(), String> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| format!("while setting the mode of {}: {e}", path.display()))
}

fn file(path: &Path, content: &[u8], mode: u32, existing: &Existing) -> Result<String, String> {
    let shown = path.display();
    let now = match std::fs::read(path) {
        Ok(now) => Some(now),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(format!("while reading {shown}: {e}")),
    };
    let unedited = |ours: &[String]| now.as_ref().is_some_and(|n| ours.iter().any(|o| o.as_bytes() == n.as_slice()));
    let verb = match (&now, existing) {
        (None, _) => "wrote",
        (Some(n), _) if n == content => {
            set_mode(path, mode)?;
            return Ok(format!("unchanged {shown}"));
        }
        (Some(_), Existing::Keep(why)) => {
            return Ok(format!("kept {shown} as it is: {why}"));
        }
        (Some(_), Existing::Replace) => "updated",
        (Some(_), Existing::ReplaceIfOneOf(ours)) if unedited(ours) => "updated",
        (Some(_), Existing::ReplaceIfOneOf(_)) => {
            return Ok(format!(
                "kept {shown}: it was edited; compare it with what `--dry-run` shows this version would write"
            ));
        }
        (Some(n), Existing::ReplaceForeign { mark, ours }) => {
            let is_ours = String::from_utf8_lossy(n).lines().next().is_some_and(|l| l.contains(mark));
            if is_ours && !unedited(ours) {
                return Ok(format!(
                    "kept {shown}: it was edited; compare it with what `--dry-run` shows this version would write"
                ));
            }
            if !is_ours {
                let aside = PathBuf::from(format!("{shown}.before-affiliated"));
                if aside.exists() {
                    return Err(format!(
                        "{shown} is not ours and {} exists already; move one of them",
                        aside.display()
                    ));
                }
                std::fs::rename(path, &aside).map_err(|e| format!("while moving {shown} aside: {e}"))?;
                write(path, content, mode)?;
                return Ok(format!("wrote {shown} (the one that was there is now {})", aside.display()));
            }
            "updated"
        }
    };
    write(path, content, mode)?;
    Ok(format!("{verb} {shown}"))
}

/// Writes through a temporary file renamed into place, created with its final mode.
fn write(path: &Path, content: &[u8], mode: u32) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let partial = PathBuf::from(format!("{}.partial", path.display()));
    let _ = std::fs::remove_file(&partial);
    let result = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&partial)
        .and_then(|mut f| f.write_all(content).and_then(|()| f.sync_all()));
    result
        .map_err(|e| e.to_string())
        .and_then(|()| set_mode(&partial, mode))
        .and_then(|()| std::fs::rename(&partial, path).map_err(|e| e.to_string()))
        .map_err(|e| {
            let _ = std::fs::remove_file(&partial);
            format!("while writing {}: {e}", path.display())
        })
}

fn link(path: &Path, target: &str) -> Result<String, String> {
    match std::fs::read_link(path) {
        Ok(now) if now == Path::new(target) => return Ok(String::new()),
        Ok(_) => std::fs::remove_file(path).map_err(|e| format!("while replacing the link {}: {e}", path.display()))?,
        Err(_) if std::fs::symlink_metadata(path).is_ok() => {
            return Err(format!("{} exists and is not a link; move it away and run install again", path.display()));
        }
        Err(_) => {}
    }
    std::os::unix::fs::symlink(target, path).map_err(|e| format!("while linking {}: {e}", path.display()))?;
    Ok(format!("linked {} -> {target}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn existing_files_follow_their_rule() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root(dir.path().to_path_buf());
        let item = |path: &str, content: &str, existing: Existing| Item::File {
            path: path.into(),
            content: content.as_bytes().to_vec(),
            mode: 0o600,
            existing,
            secrets: vec!["s3cret".into()],
        };
        let first =
            [Item::Dir { path: "/etc/x", mode: 0o700 }, item("/etc/x/a", "one s3cret", Existing::Keep("secrets"))];
        let said = apply(&root, &first).unwrap().join("\n");
        assert!(said.contains("created") && said.contains("wrote"), "{said}");
        let again = [item("/etc/x/a", "two", Existing::Keep("secrets"))];
        assert!(apply(&root, &again).unwrap()[0].starts_with("kept"));
        assert_eq!(std::fs::read_to_string(root.join("/etc/x/a")).unwrap(), "one s3cret");
        let shown = describe(&root, &[item("/etc/x/b", "one s3cret", Existing::Keep("secrets"))]).join("\n");
        assert!(shown.contains("would write") && shown.contains("one <generated>") && !shown.contains("s3cret"));
        assert!(!root.join("/etc/x/b").exists(), "describing writes nothing");

        std::fs::write(root.join("/etc/x/c"), "v1").unwrap();
        let edited = [item("/etc/x/c", "v2", Existing::ReplaceIfOneOf(vec!["v0".into()]))];
        assert!(apply(&root, &edited).unwrap()[0].starts_with("kept"));
        let unedited = [item("/etc/x/c", "v2", Existing::ReplaceIfOneOf(vec!["v1".into()]))];
        assert!(apply(&root, &unedited).unwrap()[0].starts_with("updated"));

        std::fs::write(root.join("/etc/x/d"), "the package's own\n").unwrap();
        let foreign = [item("/etc/x/d", "# ours\n", Existing::ReplaceForeign { mark: "ours", ours: vec![] })];
        assert!(apply(&root, &foreign).unwrap()[0].contains("d.before-affiliated"));
        assert_eq!(std::fs::read_to_string(root.join("/etc/x/d.before-affiliated")).unwrap(), "the package's own\n");
        let mode = std::fs::metadata(root.join("/etc/x/d")).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(
            apply(&root, &[Item::Link { path: "/etc/x/l".into(), target: "/t".into() }]).unwrap()[0]
                .starts_with("linked")
        );
        assert!(apply(&root, &[Item::Link { path: "/etc/x/l".into(), target: "/t".into() }]).unwrap().is_empty());
        assert!(apply(&root, &[Item::Link { path: "/etc/x/a".into(), target: "/t".into() }]).is_err());
    }
}
