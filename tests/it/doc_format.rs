//! The format of runnable documentation (see `docs.rs` for what the marks mean): finding the
//! marked blocks and the output shown after them, and comparing output with what a document
//! shows. Pure text handling; running the blocks is `docs.rs`'s.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Serve,
    Run,
}

#[derive(Debug)]
pub struct Block {
    pub kind: Kind,
    /// Where the block starts in its document (1-based), for messages.
    pub line: usize,
    pub code: String,
    pub expected: Option<Vec<String>>,
}

/// The fenced block at or after `at` (blank lines skipped): its info string, its lines, and the
/// index after its closing fence.
fn fenced<'a>(lines: &[&'a str], mut at: usize) -> Option<(&'a str, Vec<&'a str>, usize)> {
    while at < lines.len() && lines[at].trim().is_empty() {
        at += 1;
    }
    let info = lines.get(at)?.strip_prefix("```")?;
    let end = (at + 1..lines.len()).find(|&i| lines[i] == "```")?;
    Some((info.trim(), lines[at + 1..end].to_vec(), end + 1))
}

pub fn blocks(doc: &str, name: &str) -> Vec<Block> {
    let lines: Vec<&str> = doc.lines().collect();
    let mut found = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let kind = match line.trim() {
            "<!-- doc-test: run -->" => Kind::Run,
            "<!-- doc-test: serve -->" => Kind::Serve,
            other => {
                assert!(!other.starts_with("<!-- doc-test"), "{name}:{}: unknown mark {other:?}", i + 1);
                continue;
            }
        };
        let (info, code, after) =
            fenced(&lines, i + 1).unwrap_or_else(|| panic!("{name}:{}: the mark needs a ```sh block after it", i + 1));
        assert_eq!(info, "sh", "{name}:{}: only sh blocks run", i + 1);
        let expected = fenced(&lines, after)
            .filter(|(info, _, _)| *info == "text")
            .map(|(_, shown, _)| shown.iter().map(|l| l.to_string()).collect());
        found.push(Block { kind, line: i + 2, code: code.join("\n") + "\n", expected });
    }
    found
}

/// Joins continuation lines (those starting with a space) to the line before them.
fn joined(lines: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in lines {
        match out.last_mut() {
            Some(last) if line.starts_with(' ') => last.push_str(line.trim_start()),
            _ => out.push(line.clone()),
        }
    }
    out
}

/// Hides what differs from run to run.
fn mask(line: &str) -> String {
    use std::sync::OnceLock;
    static MASKS: OnceLock<[(regex::Regex, &str); 3]> = OnceLock::new();
    let masks = MASKS.get_or_init(|| {
        [
            (regex::Regex::new(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z").unwrap(), "<time>"),
            (regex::Regex::new(r"affiliated \d+\.\d+\.\d+").unwrap(), "affiliated <version>"),
            (regex::Regex::new(r"[A-Za-z0-9_-]{26,}").unwrap(), "<generated>"),
        ]
    });
    let mut text = line.trim_end().to_string();
    for (pattern, replacement) in masks {
        text = pattern.replace_all(&text, *replacement).into_owned();
    }
    text
}

/// Whether `actual` is `expected`, where `…` in `expected` stands for any text.
pub fn line_matches(expected: &str, actual: &str) -> bool {
    let parts: Vec<&str> = expected.split('…').collect();
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if parts.len() == 1 {
        return expected == actual;
    }
    let Some(mut rest) = actual.strip_prefix(first) else { return false };
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(at) => rest = &rest[at + middle.len()..],
            None => return false,
        }
    }
    rest.ends_with(last)
}

fn describe(expected: &[String], actual: &[String]) -> String {
    format!("the document shows:\n{}\n\nit printed:\n{}", expected.join("\n"), actual.join("\n"))
}

/// Compares a run block's whole output with what the document shows.
pub fn compare_output(expected: &[String], actual: &[String]) -> Result<(), String> {
    let expected: Vec<String> = joined(expected).iter().map(|l| mask(l)).collect();
    let shown: Vec<String> = actual.iter().map(|l| mask(l)).collect();
    let same = expected.len() == shown.len() && expected.iter().zip(&shown).all(|(e, a)| line_matches(e, a));
    if same { Ok(()) } else { Err(describe(&expected, &shown)) }
}

/// Whether every shown line appears in `log`, in order.
pub fn in_order(expected: &[String], log: &[String]) -> Result<(), String> {
    let expected: Vec<String> = joined(expected).iter().map(|l| mask(l)).collect();
    let log: Vec<String> = log.iter().map(|l| mask(l)).collect();
    let mut from = 0;
    for wanted in &expected {
        match log[from..].iter().position(|l| line_matches(wanted, l)) {
            Some(at) => from += at + 1,
            None => return Err(format!("{wanted:?} is not in the log (in order)\n\n{}", describe(&expected, &log))),
        }
    }
    Ok(())
}
