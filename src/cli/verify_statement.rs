//! `affiliated verify-statement`: checks an affiliate's statement (#16) on its own and, with
//! `--previous`, against one kept from before. Needs no server and no database: everything it
//! trusts is in the files, in `tracking::statement`, and in the trust anchor it is given.
//!
//! A statement carries its own public key, so a statement alone proves nothing: anyone can sign
//! one with a key of their own. The command therefore refuses (exit 2) to check without an
//! anchor for the key: `--public-key`, `--previous` (a statement kept from before, whose key
//! the new one must have), or `--key-url` (the server's key document, fetched over HTTP(S)).
//! When several are given, they must all name the same key.

use std::path::Path;
use std::time::Duration;

use super::{Failure, Outcome};
use crate::config::{Args, Opt};
use crate::tracking::statement::{self, Statement};

const ABOUT: &str = "\
Check a statement of an affiliate's ledger: its signature, and that every entry links to the one
before it. With --previous, also that every entry of an older statement is still there, unchanged.
A statement fetched in pages (the API's `from_seq`/`next`) is checked as the walk of its pages:
give every page file, or a directory holding them (its *.json files).

Usage: affiliated verify-statement NEW.json|PAGE.json...|DIR (--public-key BASE64 | --previous OLD | --key-url URL)

A statement names the key it is signed with, so it must be checked against a key you trust
from elsewhere; give at least one of the options (if you give several, they must agree).
";

const NOTES: &str = "\
Exits 0 when the statement holds, 1 when it does not (saying which entry breaks: a changed
amount, a removed entry, a forked chain, another key) or the key cannot be fetched, 2 on wrong
usage, including no key to trust.
";

const PUBLIC_KEY: Opt = Opt::flag_only("public-key").takes("KEY").help(
    "the key the statement must be signed with (from GET /.well-known/affiliated-statement-key, kept when you \
     trusted it)",
);
const PREVIOUS: Opt = Opt::flag_only("previous").takes("FILE").help(
    "a statement downloaded earlier (a file, or a directory of its pages): it must be a prefix of NEW, signed with \
     the same key",
);
const KEY_URL: Opt = Opt::flag_only("key-url").takes("URL").help(
    "fetch the key from the merchant's server: its address (https://track.example) or the key document's \
     whole URL (https://track.example/.well-known/affiliated-statement-key)",
);
const OPTIONS: &[Opt] = &[PUBLIC_KEY, PREVIOUS, KEY_URL];

/// Where a server publishes its statement key.
pub const WELL_KNOWN: &str = "/.well-known/affiliated-statement-key";

pub fn help() -> String {
    crate::config::help::render(ABOUT, OPTIONS, NOTES)
}

pub fn run(parser: &mut lexopt::Parser) -> Outcome {
    let args = Args::parse(parser, OPTIONS).map_err(Failure::usage)?;
    if args.help {
        print!("{}", help());
        return Ok(());
    }
    if args.positionals.is_empty() {
        return Err(Failure::usage("give the statement: one file, its pages, or a directory of them; see --help"));
    }
    let (previous, pinned, url) = (args.get(&PREVIOUS), args.get(&PUBLIC_KEY), args.get(&KEY_URL));
    if previous.is_none() && pinned.is_none() && url.is_none() {
        return Err(Failure::usage(
            "a statement names its own signing key, so it proves nothing alone: give a key you trust with \
             --public-key KEY, --previous OLD.json (a statement you kept) or --key-url https://the-merchants-server; \
             see --help",
        ));
    }
    let fetched = url.as_deref().map(fetch_key).transpose()?;
    let expected = match (pinned, fetched) {
        (Some(pinned), Some(fetched)) if pinned != fetched => {
            return Err(Failure::runtime(format!(
                "NOT VALID: --public-key {pinned} is not the key the server publishes ({fetched})"
            )));
        }
        (pinned, fetched) => pinned.or(fetched),
    };
    let invalid = |p: statement::Problem| Failure::runtime(format!("NOT VALID: {p}"));
    let new = statement::assemble(read_all(&args.positionals)?, expected.as_deref()).map_err(invalid)?;
    let mut summary = format!(
        "valid: statement of {} with {} entries, head {}, issued {}, signed by {}",
        new.referral_code,
        new.entries.len(),
        new.head.header_value(),
        new.issued_at,
        new.public_key
    );
    if let Some(previous) = previous {
        let old = statement::assemble(read_all(std::slice::from_ref(&previous))?, None).map_err(invalid)?;
        statement::verify_against(&new, &old).map_err(invalid)?;
        summary.push_str(&format!("; the {} entries of {previous} are all in it, unchanged", old.entries.len()));
    }
    println!("{summary}");
    Ok(())
}

/// The statements (or pages) in `paths`: files, and the `*.json` files of directories.
fn read_all(paths: &[String]) -> Result<Vec<Statement>, Failure> {
    let mut out = Vec::new();
    for path in paths {
        if Path::new(path).is_dir() {
            let listing =
                std::fs::read_dir(path).map_err(|e| Failure::runtime(format!("while reading {path}: {e}")))?;
            let mut files: Vec<_> = listing
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .collect();
            files.sort();
            if files.is_empty() {
                return Err(Failure::runtime(format!("{path} holds no .json statement pages")));
            }
            for file in files {
                out.push(read(&file.to_string_lossy())?);
            }
        } else {
            out.push(read(path)?);
        }
    }
    Ok(out)
}

fn read(path: &str) -> Result<Statement, Failure> {
    let text = std::fs::read(path).map_err(|e| Failure::runtime(format!("while reading {path}: {e}")))?;
    serde_json::from_slice(&text).map_err(|e| Failure::runtime(format!("{path} is not a statement: {e}")))
}

/// The key document's URL for what was given: a server's address, or the document's own URL.
pub fn key_url(given: &str) -> String {
    let given = given.trim();
    if given.ends_with(WELL_KNOWN) { given.to_string() } else { format!("{}{WELL_KNOWN}", given.trim_end_matches('/')) }
}

/// The public key the server at `given` publishes. Over plain HTTP the answer could have been
/// replaced on the way, so that is said (except on this machine).
fn fetch_key(given: &str) -> Result<String, Failure> {
    let url = key_url(given);
    let lower = url.to_ascii_lowercase();
    if !lower.starts_with("https://") && !lower.starts_with("http://") {
        return Err(Failure::usage(format!("--key-url must be an http:// or https:// URL, not {given:?}")));
    }
    let local = ["http://127.", "http://localhost", "http://[::1]"].iter().any(|p| lower.starts_with(p));
    if lower.starts_with("http://") && !local {
        eprintln!("warning: {url} is plain HTTP; anyone on the way could have answered with another key");
    }
    let failed = |e: &dyn std::fmt::Display| Failure::runtime(format!("while fetching the key from {url}: {e}"));
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(15))
        .redirects(0)
        .user_agent(concat!("affiliated/", env!("CARGO_PKG_VERSION"), " (verify-statement)"))
        .build();
    let answer = agent.get(&url).call().map_err(|e| failed(&e))?;
    if answer.status() != 200 {
        return Err(failed(&format_args!("it answered {} (redirects are not followed)", answer.status())));
    }
    let text = answer.into_string().map_err(|e| failed(&e))?;
    let body: serde_json::Value = serde_json::from_str(&text).map_err(|e| failed(&e))?;
    body.get("public_key")
        .and_then(|k| k.as_str())
        .map(str::to_string)
        .ok_or_else(|| failed(&"the answer has no `public_key`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_address_or_the_documents_url_name_the_key_document() {
        for given in ["https://track.example", "https://track.example/", " https://track.example "] {
            assert_eq!(key_url(given), "https://track.example/.well-known/affiliated-statement-key");
        }
        let whole = "https://track.example/base/.well-known/affiliated-statement-key";
        assert_eq!(key_url(whole), whole);
        assert_eq!(
            key_url("http://127.0.0.1:8080/base"),
            "http://127.0.0.1:8080/base/.well-known/affiliated-statement-key"
        );
    }
}
