//! `serve`'s options as people meet them, tied to their one declaration
//! (`src/config/options.rs`): every option `serve --help` shows is accepted by the binary, from
//! its flag and from its variable, and a bad value is refused naming it; every declared option
//! is in `--help`, in the README's table (rendered from the declarations: a difference fails
//! with a diff, and `AFFILIATED_REGENERATE_DOCS=1` rewrites the table) and in the example env
//! file; and the documents name no `AFFILIATED_*` variable the server does not declare.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};

use affiliated::config::{Fallback, Kind, Opt, SERVE_OPTS, help};

use crate::support::bin;

const REGENERATE: &str = "AFFILIATED_REGENERATE_DOCS=1 cargo test --test it options::";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn run(args: &[&str], env: &[(&str, &str)], cwd: &Path) -> Output {
    Command::new(bin())
        .args(args)
        .current_dir(cwd)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

/// One option as a `--help` text shows it: the flag or variable it starts with, how it is
/// written (`--db PATH`), and its bracketed facts (`[AFFILIATED_DB, default affiliated.db]`),
/// joined when wrapped.
struct Entry {
    name: String,
    usage: String,
    facts: String,
}

fn entries(help: &str) -> Vec<Entry> {
    let mut entries: Vec<Entry> = Vec::new();
    let mut in_facts = false;
    for line in help.lines() {
        let indent = line.len() - line.trim_start().len();
        let text = line.trim();
        if indent == 2 && (text.starts_with("--") || text.starts_with(|c: char| c.is_ascii_uppercase())) {
            let name = text.split_whitespace().next().unwrap().to_string();
            let usage = text.split("  ").next().unwrap().to_string();
            entries.push(Entry { name, usage, facts: String::new() });
            in_facts = false;
        } else if indent > 2
            && let Some(entry) = entries.last_mut()
        {
            if text.starts_with('[') || in_facts {
                entry.facts = format!("{} {text}", entry.facts).trim().to_string();
                in_facts = !text.ends_with(']');
            }
        } else {
            in_facts = false;
        }
    }
    entries
}

/// How `--help` names an option: its flag, or its variable when only the environment gives it.
fn shown_as(opt: &Opt) -> String {
    if opt.kind == Kind::EnvOnly { opt.env.unwrap().to_string() } else { format!("--{}", opt.long) }
}

fn serve_help() -> String {
    let dir = tempfile::tempdir().unwrap();
    let out = run(&["serve", "--help"], &[], dir.path());
    assert_eq!(out.status.code(), Some(0));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn serve_help_shows_every_declared_option_and_no_other() {
    let shown = entries(&serve_help());
    let names: Vec<&str> = shown.iter().map(|e| e.name.as_str()).collect();
    let declared: Vec<String> = SERVE_OPTS.iter().map(shown_as).collect();
    assert_eq!(names, declared, "`serve --help` and src/config/options.rs disagree");
    for (entry, opt) in shown.iter().zip(SERVE_OPTS) {
        let env = opt.env.unwrap();
        let says = if opt.kind == Kind::EnvOnly { "[environment only".to_string() } else { format!("[{env}") };
        assert!(entry.facts.starts_with(&says), "{}: {:?} should start with {says:?}", entry.name, entry.facts);
        if let Fallback::Value(default) = opt.default {
            assert!(entry.facts.contains(&format!("default {default}")), "{}: {:?}", entry.name, entry.facts);
        }
    }
}

/// A port that is taken: `serve` validates its whole configuration, then fails to bind (exit 1)
/// before it creates any file. Exit 1 naming the address therefore means "the options parsed".
#[test]
fn every_option_in_serve_help_is_accepted_from_its_flag_and_its_variable() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.db").display().to_string();
    let shown = entries(&serve_help());
    assert!(shown.len() >= 25, "only {} options in `serve --help`", shown.len());
    for entry in &shown {
        let opt = SERVE_OPTS
            .iter()
            .find(|o| shown_as(o) == entry.name)
            .unwrap_or_else(|| panic!("`serve --help` shows {}, which is not declared", entry.name));
        let value = if opt.long == "listen" { taken.as_str() } else { opt.example };
        let mut base = vec!["serve"];
        if opt.long != "db" {
            base.extend(["--db", &db]);
        }
        if opt.long != "listen" {
            base.extend(["--listen", &taken]);
        }
        let accepted = |out: Output, how: &str| {
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{how}: expected the bind to fail after parsing: {stderr}");
            assert!(stderr.contains(&taken), "{how}: {stderr}");
        };
        let env = opt.env.unwrap();
        accepted(run(&base, &[(env, value)], dir.path()), &format!("{env}={value}"));
        let bad = "bad\u{1}";
        if opt.kind != Kind::EnvOnly {
            let mut args = base.clone();
            args.push(&entry.name);
            if opt.kind != Kind::Switch {
                args.push(value);
            }
            accepted(run(&args, &[], dir.path()), &args.join(" "));
            // A path takes any text; every other value can be wrong.
            if opt.kind != Kind::Switch && !["PATH", "DIR", "FILE"].contains(&opt.value) {
                let mut args = base.clone();
                args.extend([entry.name.as_str(), bad]);
                let out = run(&args, &[], dir.path());
                let stderr = String::from_utf8_lossy(&out.stderr);
                assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
                assert!(stderr.contains(&entry.name), "{args:?}: the message should name the option: {stderr}");
            }
        } else if opt.env != Some("RUST_LOG") {
            let out = run(&base, &[(env, bad)], dir.path());
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{env}={bad:?}: {stderr}");
            assert!(stderr.contains(env), "{env}: the message should name the variable: {stderr}");
        }
    }
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(left.is_empty(), "serve created files before it could bind: {left:?}");
}

/// The byte range of README.md's option table: from its header line to its last row.
fn table_span(readme: &str) -> Option<(usize, usize)> {
    let start = readme.find("| Flag | Environment | Default | What it does |\n")?;
    let mut end = start;
    for line in readme[start..].split_inclusive('\n') {
        if !line.starts_with('|') {
            break;
        }
        end += line.len();
    }
    Some((start, end))
}

/// Rows only in `have` (-) and only in `want` (+), in order.
fn diff(have: &str, want: &str) -> String {
    let mut out = String::new();
    for line in have.lines().filter(|l| !want.lines().any(|w| w == *l)) {
        out.push_str(&format!("- {line}\n"));
    }
    for line in want.lines().filter(|l| !have.lines().any(|h| h == *l)) {
        out.push_str(&format!("+ {line}\n"));
    }
    out
}

#[test]
fn the_readme_option_table_is_rendered_from_the_declarations() {
    let readme = read("README.md");
    let (start, end) = table_span(&readme).expect("README.md has no option table");
    let want = help::markdown_table(SERVE_OPTS);
    if readme[start..end] == want {
        return;
    }
    if std::env::var("AFFILIATED_REGENERATE_DOCS").is_ok_and(|v| v == "1") {
        let text = format!("{}{want}{}", &readme[..start], &readme[end..]);
        std::fs::write(root().join("README.md"), text).unwrap();
        eprintln!("options: rewrote the option table of README.md from src/config/options.rs");
        return;
    }
    panic!(
        "README.md's option table is not what src/config/options.rs declares (- README, + declared):\n{}\n\
         Change the declaration, not the table, then regenerate it: {REGENERATE}",
        diff(&readme[start..end], &want)
    );
}

#[test]
fn the_readme_says_how_to_regenerate_its_table() {
    let readme = read("README.md");
    let development = readme.split("\n## Development").nth(1).expect("README.md has a Development section");
    assert!(development.contains(REGENERATE), "README.md's Development section should show `{REGENERATE}`");
    let configuration = readme.split("\n## Configuration").nth(1).unwrap();
    assert!(configuration.contains("src/config/options.rs"), "the Configuration section should say where options live");
}

/// `NAME=value` of every line of the example env file that sets a variable, and whether it is
/// commented out (commented lines show the default).
fn example_settings() -> Vec<(String, String, bool)> {
    read("systemd/affiliated.env.example")
        .lines()
        .filter_map(|line| {
            let commented = line.starts_with('#');
            let (name, value) = line.trim_start_matches('#').split_once('=')?;
            let is_name = !name.is_empty() && name.chars().all(|c| c.is_ascii_uppercase() || c == '_');
            is_name.then(|| (name.to_string(), value.to_string(), commented))
        })
        .collect()
}

/// Example lines that show a value other than the default, and why.
const NOT_DEFAULTS: &[(&str, &str)] = &[
    ("AFFILIATED_DB", "the unit sets the database path; the line shows it"),
    ("AFFILIATED_APPROVE_AFTER", "shows a duration to use; its comment says it is off by default"),
];

#[test]
fn the_env_example_names_every_declared_variable_and_no_other() {
    let settings = example_settings();
    let mut named: Vec<&str> = settings.iter().map(|(n, _, _)| n.as_str()).collect();
    let mut declared: Vec<&str> = SERVE_OPTS.iter().map(|o| o.env.unwrap()).collect();
    named.sort();
    declared.sort();
    assert_eq!(named, declared, "systemd/affiliated.env.example and src/config/options.rs disagree");
    for (name, value, commented) in &settings {
        let opt = SERVE_OPTS.iter().find(|o| o.env == Some(name.as_str())).unwrap();
        match opt.default {
            Fallback::Value(default) if *commented && !NOT_DEFAULTS.iter().any(|(n, _)| n == name) => {
                assert_eq!(value, default, "#{name}= should show the default, {default}")
            }
            _ => {}
        }
    }
}

/// Variables the documents name that are not the server's: those of the merchant's and the
/// affiliate's own code in the examples, and the test suite's switches.
const NOT_THE_SERVERS: &[&str] = &[
    "AFFILIATED_URL",
    "AFFILIATED_SECRET",
    "AFFILIATED_SIGNATURE",
    "AFFILIATED_WEBHOOK_SECRET",
    "AFFILIATED_MAX_ATTEMPTS",
    "AFFILIATED_MAX_AGE_SECONDS",
    "AFFILIATED_ATTRIBUTION_ERRORS",
    "AFFILIATED_REQUIRE_TOOLS",
    "AFFILIATED_REGENERATE_DOCS",
    "AFFILIATED_OPENAPI_PYTHON",
    "AFFILIATED_SCREENSHOT_OUT",
    "AFFILIATED_SCREENSHOT_PAGE",
];

fn variables_in(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (at, _) in text.match_indices("AFFILIATED_") {
        let rest = &text[at..];
        let end =
            rest.find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')).unwrap_or(rest.len());
        if end > "AFFILIATED_".len() {
            found.push(rest[..end].to_string()); // not the bare prefix of `AFFILIATED_*`
        }
    }
    found
}

#[test]
fn the_documents_name_no_undeclared_variable() {
    let declared: Vec<&str> = SERVE_OPTS.iter().filter_map(|o| o.env).collect();
    // The operator's guide names server settings only.
    for name in variables_in(&read("docs/operations.md")) {
        assert!(declared.contains(&name.as_str()), "docs/operations.md names {name}, which the server does not read");
    }
    let mut files = vec!["README.md".to_string(), "ARCHITECTURE.md".to_string()];
    for dir in ["docs", "deploy", "systemd"] {
        for entry in std::fs::read_dir(root().join(dir)).unwrap() {
            files.push(format!("{dir}/{}", entry.unwrap().file_name().to_string_lossy()));
        }
    }
    for file in files {
        let Ok(text) = std::fs::read_to_string(root().join(&file)) else { continue };
        for name in variables_in(&text) {
            assert!(
                declared.contains(&name.as_str()) || NOT_THE_SERVERS.contains(&name.as_str()),
                "{file} names {name}: neither a declared option (src/config/options.rs) nor a known \
                 variable of example code or the test suite"
            );
        }
    }
}

#[test]
fn every_flag_in_a_tools_help_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    // Every command `affiliated --help` lists but serve (tested above): a new one is covered too.
    let main = String::from_utf8(run(&["--help"], &[], dir.path()).stdout).unwrap();
    let commands: Vec<&str> = main
        .lines()
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| c.starts_with(|c: char| c.is_ascii_lowercase()) && *c != "serve")
        .collect();
    assert!(commands.len() >= 6 && commands.contains(&"keys"), "{commands:?}");
    for command in commands {
        let out = run(&[command, "--help"], &[], dir.path());
        assert_eq!(out.status.code(), Some(0), "{command} --help");
        let help = String::from_utf8(out.stdout).unwrap();
        let shown = entries(&help);
        assert!(!shown.is_empty(), "{command} --help shows no options:\n{help}");
        for entry in shown.iter().filter(|e| e.name.starts_with("--")) {
            // `--keep N` takes a value, `--rotate` does not.
            let mut args = vec![command, entry.name.as_str()];
            if entry.usage != entry.name {
                args.push("x");
            }
            args.push("--help");
            let out = run(&args, &[], dir.path());
            assert_eq!(out.status.code(), Some(0), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        }
    }
    assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none(), "--help created files");
}
