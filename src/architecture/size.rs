//! Small files and short functions: no file of the program over [`MAX_FILE_LINES`] lines before
//! its tests, no function over [`MAX_FUNCTION_LINES`] lines, except what [`ALLOWED`] lists with
//! its reason. Lines are counted as they stand (comments and blank lines too): a file's up to
//! its test module, a function's from its `fn` line to its closing brace. Test code is not
//! measured.

use super::source::{functions, lex, sources, test_only, tests_start};

pub const MAX_FILE_LINES: usize = 400;
pub const MAX_FUNCTION_LINES: usize = 80;

/// Files and functions (`file` or `file:function`) allowed to be longer, and why.
const ALLOWED: &[(&str, &str)] = &[(
    "src/store/ledger/backfill.rs:backfill",
    "a migration step (0008): it rewrites history once, in one transaction, and is read as one piece",
)];

fn allowed(place: &str) -> bool {
    ALLOWED.iter().any(|(p, _)| *p == place)
}

/// The line (1-based) of byte `at` in `text`.
fn line_of(text: &str, at: usize) -> usize {
    text[..at].matches('\n').count() + 1
}

/// A function's lines, from its `fn` line to its closing brace, as [`functions`] found it.
fn function_lines(text: &str, signature: &str, body: &std::ops::Range<usize>) -> usize {
    line_of(text, body.end) - line_of(text, body.start - signature.len()) + 1
}

#[test]
fn no_file_or_function_is_too_long() {
    let all = sources();
    let tests = test_only(&all);
    let mut offences = Vec::new();
    let mut measured = 0;
    for (file, text) in &all {
        if tests.contains(file) || file.starts_with("src/architecture/") {
            continue;
        }
        let end = tests_start(text).unwrap_or(text.len());
        let lines = text[..end].lines().count();
        if lines > MAX_FILE_LINES && !allowed(file) {
            offences.push(format!("{file}: {lines} lines before its tests (at most {MAX_FILE_LINES})"));
        }
        let lexed = lex(text);
        for (name, signature, body) in functions(&lexed) {
            measured += 1;
            let lines = function_lines(text, &signature, &body);
            if lines > MAX_FUNCTION_LINES && !allowed(&format!("{file}:{name}")) {
                let at = line_of(text, body.start - signature.len());
                offences.push(format!("{file}:{at}: `{name}` has {lines} lines (at most {MAX_FUNCTION_LINES})"));
            }
        }
    }
    assert!(measured > 1000, "only {measured} functions found: is the reader of the source broken?");
    assert!(offences.is_empty(), "{}", offences.join("\n"));
}

#[test]
fn every_allowance_names_a_place_that_is_still_long() {
    let all = sources();
    for (place, why) in ALLOWED {
        assert!(!why.is_empty(), "{place}: say why");
        let (file, function) = place.split_once(':').unwrap_or((place, ""));
        let (_, text) = all.iter().find(|(f, _)| f == file).unwrap_or_else(|| panic!("{file} does not exist"));
        if function.is_empty() {
            let end = tests_start(text).unwrap_or(text.len());
            assert!(text[..end].lines().count() > MAX_FILE_LINES, "{file} is short now: drop its allowance");
        } else {
            let lexed = lex(text);
            let (_, signature, body) = functions(&lexed)
                .into_iter()
                .find(|(name, ..)| name == function)
                .unwrap_or_else(|| panic!("{place}: no such function"));
            let lines = function_lines(text, &signature, &body);
            assert!(lines > MAX_FUNCTION_LINES, "{place} is short now: drop its allowance");
        }
    }
}
