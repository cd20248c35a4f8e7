//! ARCHITECTURE.md's code map stays true: it names every file under `src/`, and every file it
//! names exists. The map is a table; each row's first cell names a folder (`src/store/`) or
//! files (`src/clock.rs`), and the rest of the row names the folder's files by their path
//! inside it (`writer.rs`, `conversions/insert.rs`) or, for a file of `src/` elsewhere, by its
//! whole path (`src/store/writer.rs`).

use std::collections::BTreeSet;

use super::source::root;

/// Every file of the program's source: `.rs` and what they include (`.js`).
fn source_files() -> BTreeSet<String> {
    fn walk(dir: &std::path::Path, out: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs" || e == "js") {
                out.insert(path.strip_prefix(root()).unwrap().to_string_lossy().replace('\\', "/"));
            }
        }
    }
    let mut files = BTreeSet::new();
    walk(&root().join("src"), &mut files);
    files
}

/// The repository's folders beside `src/`: a name starting with one of them is a path from the
/// root (`tests/it/options.rs`).
const OUTSIDE_SRC: &[&str] = &["tests", "bench", "fuzz", "docs", "deploy", "systemd", "migrations"];

/// The text between backticks in `text`.
fn quoted(text: &str) -> Vec<&str> {
    text.split('`').skip(1).step_by(2).collect()
}

/// The map's rows: (first cell, the rest of the row).
fn rows(architecture: &str) -> Vec<(String, String)> {
    let map = architecture.split("\n## Code map\n").nth(1).expect("ARCHITECTURE.md has a section ## Code map");
    let map = map.split("\n## ").next().unwrap();
    map.lines()
        .filter(|line| line.starts_with("| `"))
        .map(|line| {
            let (first, rest) = line[1..].split_once(" | ").expect("a row of two cells");
            (first.to_string(), rest.to_string())
        })
        .collect()
}

/// What the map names: (file or folder as the map writes it, resolved path from the root).
fn named(architecture: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (first, rest) in rows(architecture) {
        let heads = quoted(&first);
        let folder = heads.iter().find(|h| h.ends_with('/')).copied();
        for head in &heads {
            out.push((head.to_string(), head.to_string()));
        }
        for name in quoted(&rest) {
            // A file's name, not a URL path (`/a.js`) or a Rust path.
            let is_file = (name.ends_with(".rs") || name.ends_with(".js"))
                && !name.starts_with('/')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || "_./-".contains(c));
            if !is_file {
                continue;
            }
            let top = name.split('/').next().unwrap_or("");
            let from_root = top == "src" || (name.contains('/') && OUTSIDE_SRC.contains(&top));
            // A file of the first cell may be named by its own name (`main.rs` in its row).
            let head = heads.iter().find(|h| h.rsplit('/').next() == Some(name));
            let path = match (from_root, head, folder) {
                (true, ..) => name.to_string(),
                (false, Some(head), _) => head.to_string(),
                (false, None, Some(folder)) => format!("{folder}{name}"),
                (false, None, None) => panic!("the row of {first} names {name} without a folder to find it in"),
            };
            out.push((name.to_string(), path));
        }
    }
    out
}

#[test]
fn the_code_map_names_every_file_and_only_files_that_exist() {
    let architecture = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    let named = named(&architecture);
    let mut offences = Vec::new();
    for (written, path) in &named {
        if !root().join(path).exists() {
            offences.push(format!("the code map names `{written}` ({path}), which does not exist"));
        }
    }
    let paths: BTreeSet<&str> = named.iter().map(|(_, p)| p.as_str()).collect();
    for file in source_files() {
        if !paths.contains(file.as_str()) {
            offences.push(format!("the code map does not name {file}"));
        }
    }
    assert!(named.len() > 150, "only {} names found in the code map: is its reader broken?", named.len());
    assert!(offences.is_empty(), "{}", offences.join("\n"));
}

#[test]
fn the_reader_of_the_map_resolves_names_in_their_folder() {
    let text = "\n## Code map\n\n| Path | What |\n|---|---|\n| `src/store/` | `writer.rs`, `conversions/insert.rs`, \
                `store::keys`, `src/web/json.rs`, `tests/it/x.rs` |\n| `src/clock.rs` | the clock (`clock.rs`) |\n\n## Next\n| `src/x/` | `y.rs` |\n";
    let named: Vec<String> = named(text).into_iter().map(|(_, p)| p).collect();
    assert_eq!(
        named,
        [
            "src/store/",
            "src/store/writer.rs",
            "src/store/conversions/insert.rs",
            "src/web/json.rs",
            "tests/it/x.rs",
            "src/clock.rs",
            "src/clock.rs"
        ]
    );
}
