//! The one reader of the source tree that the architecture's tests share: every file under
//! `src/`, which of them are tests, and each file lexed into its code and its string literals
//! (comments blanked out), with the functions found in it. Reads files only.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.rs` file under `src/`, as (`src/...` path, text).
pub fn sources() -> Vec<(String, String)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(&root().join("src"), &mut files);
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let name = p.strip_prefix(root()).unwrap().to_string_lossy().replace('\\', "/");
            (name, std::fs::read_to_string(&p).unwrap())
        })
        .collect()
}

/// Whether `file` is one of `places`: a folder (ending in `/`) it is under, or the file itself.
pub fn under(file: &str, places: &[&str]) -> bool {
    places.iter().any(|p| if p.ends_with('/') { file.starts_with(p) } else { file == *p })
}

/// A file split into what the compiler reads and what string literals hold, position for
/// position: `code` has comments and the insides of strings and chars blanked out, `strings`
/// has everything blanked out but the insides of strings. The test module at the end of a file
/// (`#[cfg(test)] mod tests { … }`, see [`tests_start`]) is cut off: what tests do is not the
/// program. (Files that are tests altogether are [`test_only`].)
pub struct Lexed {
    pub code: String,
    pub strings: String,
}

pub fn lex(text: &str) -> Lexed {
    let mut lexed = lex_whole(text);
    if let Some(at) = tests_start(&lexed.code) {
        lexed.code.truncate(at);
        lexed.strings.truncate(at);
    }
    lexed
}

/// Like [`lex`], test module included.
pub fn lex_whole(text: &str) -> Lexed {
    let b = text.as_bytes();
    let (mut code, mut strings) = (Vec::with_capacity(b.len()), Vec::with_capacity(b.len()));
    let blank = |c: u8| if c == b'\n' { b'\n' } else { b' ' };
    let mut i = 0;
    while i < b.len() {
        let rest = &b[i..];
        if rest.starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                code.push(b' ');
                strings.push(b' ');
                i += 1;
            }
        } else if rest.starts_with(b"/*") {
            let end = text[i + 2..].find("*/").map_or(b.len(), |e| i + 2 + e + 2);
            while i < end {
                code.push(blank(b[i]));
                strings.push(blank(b[i]));
                i += 1;
            }
        } else if b[i] == b'"' || (b[i] == b'r' && matches!(rest.get(1), Some(b'"' | b'#')) && !ident_before(b, i)) {
            // A string: "…" with escapes, or raw r#"…"#.
            let raw = b[i] == b'r';
            let mut hashes = 0;
            let mut j = i + usize::from(raw);
            while raw && b[j] == b'#' {
                hashes += 1;
                j += 1;
            }
            if b[j] != b'"' {
                code.push(b[i]);
                strings.push(b' ');
                i += 1;
                continue;
            }
            let close: Vec<u8> = std::iter::once(b'"').chain(std::iter::repeat_n(b'#', hashes)).collect();
            let mut k = j + 1;
            while k < b.len() && !(b[k..].starts_with(&close) && (raw || !escaped(b, k))) {
                k += 1;
            }
            for &c in &b[i..=j] {
                code.push(c);
                strings.push(blank(c));
            }
            for &c in &b[j + 1..k] {
                code.push(blank(c));
                strings.push(c);
            }
            for &c in &b[k..(k + close.len()).min(b.len())] {
                code.push(c);
                strings.push(blank(c));
            }
            i = (k + close.len()).min(b.len());
        } else if b[i] == b'\'' {
            // A char literal ('x', '\n', '\u{1F}'), or a lifetime ('a), left as it is.
            let len = if rest.get(1) == Some(&b'\\') {
                rest.iter().skip(2).position(|&c| c == b'\'').map(|p| p + 3)
            } else {
                let ch = text[i + 1..].chars().next().map_or(1, char::len_utf8);
                (rest.get(1 + ch) == Some(&b'\'')).then_some(ch + 2)
            };
            let len = len.unwrap_or(1);
            code.push(b'\'');
            code.extend(std::iter::repeat_n(b' ', len - 2.min(len)));
            if len >= 2 {
                code.push(b'\'');
            }
            strings.extend(std::iter::repeat_n(b' ', len));
            i += len;
        } else {
            code.push(b[i]);
            strings.push(blank(b[i]));
            i += 1;
        }
    }
    let cut = |v: Vec<u8>| String::from_utf8_lossy(&v).into_owned();
    Lexed { code: cut(code), strings: cut(strings) }
}

pub fn ident_before(b: &[u8], i: usize) -> bool {
    i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_')
}

/// Whether the byte at `k` is escaped by an odd number of backslashes.
fn escaped(b: &[u8], k: usize) -> bool {
    b[..k].iter().rev().take_while(|&&c| c == b'\\').count() % 2 == 1
}

/// Whether `word` occurs in `code` as a whole identifier.
pub fn names(code: &str, word: &str) -> bool {
    code.match_indices(word).any(|(at, _)| {
        let before = code[..at].chars().next_back();
        let after = code[at + word.len()..].chars().next();
        let ident = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
        !ident(before) && !ident(after)
    })
}

/// Whether `code` calls a method `name` (`.name(`, `.name::<`, whitespace allowed).
pub fn calls_method(code: &str, name: &str) -> bool {
    code.match_indices('.').any(|(at, _)| {
        let rest = code[at + 1..].trim_start();
        rest.strip_prefix(name).is_some_and(|after| {
            let after = after.trim_start();
            after.starts_with('(') || after.starts_with("::<")
        })
    })
}

/// The functions of a file: (name, signature, body) in `code` and `strings` coordinates.
pub fn functions(lexed: &Lexed) -> Vec<(String, String, std::ops::Range<usize>)> {
    let code = &lexed.code;
    let mut out = Vec::new();
    for (at, _) in code.match_indices("fn ") {
        if at > 0 && code.as_bytes()[at - 1].is_ascii_alphanumeric() {
            continue;
        }
        let name: String = code[at + 3..].chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
        if name.is_empty() {
            continue;
        }
        let Some(open) = code[at..].find(['{', ';']).map(|o| at + o) else { continue };
        if code.as_bytes()[open] == b';' {
            continue;
        }
        let mut depth = 0;
        let mut end = open;
        for (k, c) in code[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = open + k + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        out.push((name, code[at..open].to_string(), open..end));
    }
    out
}

/// Where the test module at the end of a file starts: a line `#[cfg(test)]` followed by a line
/// `mod NAME {` (or `pub(crate) mod NAME {`).
pub fn tests_start(text: &str) -> Option<usize> {
    text.match_indices("#[cfg(test)]\n").find_map(|(at, found)| {
        let starts_line = at == 0 || text.as_bytes()[at - 1] == b'\n';
        let next = text[at + found.len()..].lines().next().unwrap_or("");
        let next = next.strip_prefix("pub(crate) ").or_else(|| next.strip_prefix("pub ")).unwrap_or(next);
        let inline = next.strip_prefix("mod ").is_some_and(|rest| rest.trim_end().ends_with('{'));
        (starts_line && inline).then_some(at)
    })
}

/// The files that are tests altogether: declared under `#[cfg(test)]` by their parent module
/// (`#[cfg(test)] mod tests;`), with everything below them.
pub fn test_only(sources: &[(String, String)]) -> BTreeSet<String> {
    let mut roots = Vec::new();
    for (file, text) in sources {
        let dir = match file.strip_suffix(".rs") {
            Some(stem) if stem.ends_with("/mod") || stem == "src/lib" || stem == "src/main" => {
                stem.rsplit_once('/').unwrap().0.to_string()
            }
            Some(stem) => stem.to_string(),
            None => continue,
        };
        for (at, found) in text.match_indices("#[cfg(test)]\n") {
            let next = text[at + found.len()..].lines().next().unwrap_or("");
            let next = next.strip_prefix("pub(crate) ").unwrap_or(next);
            if let Some(name) = next.strip_prefix("mod ").and_then(|rest| rest.strip_suffix(';')) {
                roots.push(format!("{dir}/{name}"));
            }
        }
    }
    sources
        .iter()
        .map(|(file, _)| file)
        .filter(|file| roots.iter().any(|r| file.as_str() == format!("{r}.rs") || file.starts_with(&format!("{r}/"))))
        .cloned()
        .collect()
}
