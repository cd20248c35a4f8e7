//! The guard of "intake is the only door for writes" (#23): tests that read the source tree.
//!
//! The compiler does most of it. Every store function that changes the database takes a
//! `store::writer::Tx`, and only `store/writer.rs` makes one: inside a job given to the
//! `Writer` ([`Writer::run`](crate::store::writer::Writer::run) and its siblings), in
//! `writer::direct` (a process without a writer thread), and in `Tx::within` (visible to
//! `store/` only). The web areas hold the writer only as `intake::Door`, which gives no job to
//! it. What the compiler cannot see, these tests check:
//!
//! - who gives the writer jobs: only `intake/`, `store/` and the background threads (the
//!   sweeper, the outboxes); the job methods are read from `impl Writer` itself, so renaming
//!   one does not blind the test;
//! - who names the writer, the transaction or `direct` at all (a field of type `Writer` in a
//!   web area would be the first step back);
//! - that every store function whose SQL changes something takes a `Tx` (the definition of a
//!   "store write function" the compiler then enforces);
//! - that intake decides by types, never by an error's HTTP status or code, takes plain values
//!   (no HTTP), and never hands its caller the transaction (a public function taking a closure
//!   over a `Tx` would let a web area write through it, as the inbound postback log once did).
//!
//! Architecture Invariant: reads files only; what it allows is listed here, with the reason.

use std::collections::BTreeSet;

use crate::architecture::source::{calls_method, functions, ident_before, lex, names, root, sources, under};

/// Where jobs may be given to the writer: the domain's door, the store itself, and the threads
/// that write on their own (retention sweeps, outbound deliveries' outcomes).
const JOBS: &[&str] = &["src/intake/", "src/store/", "src/sweeper.rs", "src/outbox.rs", "src/outbox/"];

/// Where a `Writer` may be named besides [`JOBS`]: the command line, which starts it and hands
/// it to the threads and, as `intake::Door`, to the HTTP side.
const NAMES_WRITER: &[&str] = &["src/cli/"];

/// Where `writer::direct` (a write transaction on a connection of one's own, no writer thread)
/// may be used: the store, the command line (serve's start-up before the writer thread
/// exists, and the tools, which run in their own process), and the statement key's start-up
/// step (`statements::ensure`, called by serve's start-up).
const DIRECT: &[&str] = &["src/store/", "src/cli/", "src/statements.rs"];

/// Store files whose statements change something other than the domain's rows through the
/// writer: the writer itself and its checkpoints, the schema and its migrations (their own
/// transaction), connections' pragmas, backups (a copy, not the live database), and the file's
/// free pages (`space.rs`: `incremental_vacuum` steps inside a writer job, and the one-time
/// `VACUUM` of `affiliated migrate`, which cannot run inside a transaction).
const NOT_DOMAIN_WRITES: &[&str] = &[
    "src/store/writer.rs",
    "src/store/checkpointer.rs",
    "src/store/checkpointer/",
    "src/store/migrate.rs",
    "src/store/mod.rs",
    "src/store/backup.rs",
    "src/store/backup/",
    "src/store/file.rs",
    "src/store/space.rs",
    "src/store/testing.rs",
];

/// The methods of `impl Writer` that hand it a job: its public functions taking a closure.
fn job_methods() -> BTreeSet<String> {
    let text = std::fs::read_to_string(root().join("src/store/writer.rs")).unwrap();
    let lexed = lex(&text);
    let start = lexed.code.find("impl Writer {").expect("store/writer.rs has `impl Writer`");
    let block = &lexed.code[start..];
    functions(&lexed)
        .into_iter()
        .filter(|(name, signature, body)| {
            body.start > start
                && block.contains(&format!("pub fn {name}"))
                && signature.contains("FnOnce")
                && lexed.code[start..body.start].matches("impl ").count() == 1
        })
        .map(|(name, ..)| name)
        .collect()
}

/// Whether `code` opens a write transaction with `writer::direct`.
fn opens_direct(code: &str) -> bool {
    code.contains("writer::direct")
        || code
            .match_indices("direct(")
            .any(|(at, _)| !ident_before(code.as_bytes(), at) && !code[..at].ends_with("fn "))
}

#[test]
fn only_intake_the_store_and_the_background_threads_give_the_writer_jobs() {
    let jobs = job_methods();
    for known in ["run", "run_single", "run_outside_transaction"] {
        assert!(jobs.contains(known), "`Writer::{known}` hands the writer a job; found only {jobs:?}");
    }
    let mut offences = Vec::new();
    for (file, text) in sources() {
        if file.ends_with("/tests.rs") || file == "src/intake/guard.rs" {
            continue;
        }
        let lexed = lex(&text);
        let code = &lexed.code;
        if !under(&file, JOBS) {
            for job in &jobs {
                // A file may call a method of the same name of its own types (the password gate's).
                let own = names(code, &format!("fn {job}"));
                if calls_method(code, job) && !own {
                    offences.push(format!("{file} calls `.{job}(`: give the write to an intake function"));
                }
            }
            if names(code, "Tx") {
                offences.push(format!("{file} names `Tx`: only intake/, store/ and the threads write"));
            }
            if names(code, "Writer") && !under(&file, NAMES_WRITER) {
                offences.push(format!("{file} names `Writer`: web areas hold `intake::Door`"));
            }
        }
        if file.starts_with("src/intake/") && (names(code, "http") || names(code, "tiny_http")) {
            offences.push(format!("{file} reaches into HTTP: intake takes plain values"));
        }
        if file.starts_with("src/intake/") {
            // A public entry point that handed its caller the transaction (a closure taking a
            // `Tx`) would let a web area write through it.
            for (name, signature, _) in functions(&lexed) {
                let public = code.contains(&format!("pub fn {name}"));
                if public && names(&signature, "Tx") {
                    offences.push(format!("{file}: `{name}` hands its caller the write transaction"));
                }
            }
        }
        if !under(&file, DIRECT) && opens_direct(code) {
            offences.push(format!("{file} opens a write transaction with `writer::direct`"));
        }
    }
    assert!(offences.is_empty(), "{}", offences.join("\n"));
}

/// The store's write functions, as (module, name): every public function under `src/store/` whose
/// signature takes a `Tx`, known by its file's module and, in a folder, by the folder's (its
/// `mod.rs` re-exports them).
fn store_writes() -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (file, text) in sources() {
        let Some(path) = file.strip_prefix("src/store/").and_then(|p| p.strip_suffix(".rs")) else { continue };
        let parts: Vec<&str> = path.split('/').collect();
        let modules: Vec<&str> = parts.iter().copied().filter(|m| *m != "mod").collect();
        let lexed = lex(&text);
        for (name, signature, _) in functions(&lexed) {
            if lexed.code.contains(&format!("pub fn {name}")) && names(&signature, "Tx") {
                for module in &modules {
                    out.insert((module.to_string(), name.clone()));
                }
            }
        }
    }
    out
}

/// Whether `code` calls the store write function `module::name`: by its path, through an alias
/// (`use crate::store::connectors as stored`), or imported by name.
fn calls_store_write(code: &str, module: &str, name: &str) -> bool {
    let call = |prefix: &str| {
        code.match_indices(&format!("{prefix}{name}")).any(|(at, found)| {
            let after = code[at + found.len()..].trim_start();
            let before = &code[..at];
            // `intake::affiliates::create` is another path: only the store's own counts.
            let other_path = before.ends_with("::") && !before.ends_with("store::");
            (after.starts_with('(') || after.starts_with("::<"))
                && !ident_before(code.as_bytes(), at)
                && !other_path
                && !before.ends_with("fn ")
                && !before.ends_with('.')
        })
    };
    let mut prefixes = vec![format!("{module}::")];
    for (at, found) in code.match_indices(&format!("store::{module} as ")) {
        let alias: String = code[at + found.len()..].chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
        prefixes.push(format!("{alias}::"));
    }
    let imported = code.match_indices(&format!("store::{module}::")).any(|(at, found)| {
        let rest = &code[at + found.len()..];
        let list = if rest.starts_with('{') {
            &rest[..rest.find('}').unwrap_or(0)]
        } else {
            rest.split(';').next().unwrap_or("")
        };
        names(list, name)
    });
    prefixes.iter().any(|p| call(p)) || (imported && call(""))
}

#[test]
fn no_store_write_function_is_called_outside_intake_the_store_and_the_threads() {
    let writes = store_writes();
    assert!(writes.len() > 40, "only {} store write functions found", writes.len());
    assert!(writes.contains(&("postbacks".into(), "record".into())), "{writes:?}");
    let mut offences = Vec::new();
    for (file, text) in sources() {
        if under(&file, JOBS) || under(&file, DIRECT) || file == "src/intake/guard.rs" {
            continue;
        }
        let code = lex(&text).code;
        for (module, name) in &writes {
            if calls_store_write(&code, module, name) {
                offences.push(format!("{file} calls the store write `{module}::{name}`: give it to intake"));
            }
        }
    }
    assert!(offences.is_empty(), "{}", offences.join("\n"));
}

#[test]
fn every_store_function_whose_sql_changes_something_takes_a_tx() {
    let write = regex_free_sql_write;
    let mut offences = Vec::new();
    let mut writes = 0;
    for (file, text) in sources() {
        if !file.starts_with("src/store/") || under(&file, NOT_DOMAIN_WRITES) || file.ends_with("/tests.rs") {
            continue;
        }
        let lexed = lex(&text);
        for (name, signature, body) in functions(&lexed) {
            let sql = &lexed.strings[body.clone()];
            let code = &lexed.code[body.clone()];
            if !(write(sql) || code.contains("execute_batch")) {
                continue;
            }
            writes += 1;
            // A function that opens its own transaction (migration steps, the erasure replay)
            // makes its Tx with `Tx::within`.
            if !names(&signature, "Tx") && !code.contains("Tx::within") {
                offences.push(format!("{file}: `{name}` changes the database but takes no `Tx`"));
            }
        }
    }
    assert!(writes > 40, "only {writes} store write functions found: is the reader of the source broken?");
    assert!(offences.is_empty(), "{}", offences.join("\n"));
}

/// Whether `code` (whitespace runs made single spaces) compares an error's `code`
/// (`e.code == "…"`, `match e.code`, `[…].contains(&e.code)`), rather than only passing it on
/// (to a log, say).
fn decides_by_code(code: &str) -> bool {
    code.match_indices(".code").any(|(at, _)| {
        let mut after = &code[at + ".code".len()..];
        if after.starts_with(|c: char| c.is_alphanumeric() || c == '_') {
            return false;
        }
        for conversion in [".as_ref()", ".as_str()", ".to_string()"] {
            after = after.strip_prefix(conversion).unwrap_or(after);
        }
        let after = after.trim_start();
        let before = code[..at].trim_end_matches(|c: char| c.is_alphanumeric() || "_.&".contains(c)).trim_end();
        after.starts_with("==")
            || after.starts_with("!=")
            || (after.starts_with('{') && before.ends_with("match"))
            || ["==", "!=", "contains(", "matches!("].iter().any(|op| before.ends_with(op))
    })
}

/// Whether `code` (whitespace runs made single spaces) compares an error's `status` with a
/// number (`e.status >= 500`).
fn decides_by_status(code: &str) -> bool {
    code.match_indices(".status").any(|(at, _)| {
        let after = code[at + ".status".len()..].trim_start();
        ["==", "!=", ">=", "<=", ">", "<"].iter().any(|op| {
            after.strip_prefix(op).is_some_and(|rest| rest.trim_start().starts_with(|c: char| c.is_ascii_digit()))
        })
    })
}

/// Whether SQL text changes rows: INSERT, UPDATE, DELETE or REPLACE as a word.
fn regex_free_sql_write(sql: &str) -> bool {
    ["INSERT", "UPDATE", "DELETE", "REPLACE"].iter().any(|w| names(sql, w))
}

#[test]
fn intake_decides_by_types_never_by_an_errors_status_or_code() {
    let mut offences = Vec::new();
    for (file, text) in sources() {
        if !file.starts_with("src/intake/") || file == "src/intake/guard.rs" {
            continue;
        }
        let code = lex(&text).code;
        let squeezed = code.split_whitespace().collect::<Vec<_>>().join(" ");
        if decides_by_status(&squeezed) {
            offences.push(format!("{file} compares an error's status"));
        }
        if decides_by_code(&squeezed) {
            offences.push(format!("{file} decides by an error's code"));
        }
    }
    assert!(offences.is_empty(), "{}", offences.join("\n"));
}

#[test]
fn the_reader_of_the_source_sees_code_strings_and_comments_apart() {
    let lexed = lex("let a = \"x.run(\"; // y.run(\nb.run('}'); r#\"INSERT \"q\"\"#;\n");
    assert!(calls_method(&lexed.code, "run"));
    assert_eq!(lexed.code.matches(".run(").count(), 1, "{:?}", lexed.code);
    assert!(regex_free_sql_write(&lexed.strings));
    assert!(!regex_free_sql_write(&lex("// INSERT\nlet x = 1;").strings));
    assert!(calls_method("w\n    .run (job)", "run"));
    assert!(!calls_method("fn running(", "run"));
    assert!(names("a: &Tx<'_>", "Tx") && !names("Txn", "Tx"));
    for decides in
        ["if e.code == \"x\" {", "match e.code.as_ref() {", "[\"a\"].contains(&e.code.as_ref())", "\"x\" != e.code"]
    {
        assert!(decides_by_code(decides), "{decides}");
    }
    assert!(!decides_by_code("error_code: d.error.as_ref().map(|e| e.code.as_ref()),"));
    assert!(decides_by_status("if e.status >= 500 {") && decides_by_status("e.status<400"));
    assert!(!decides_by_status("Response::json(e.status, body)"));
    let aliased = "use crate::store::connectors as stored;\n stored::set_secret(tx, c, s, 1)";
    assert!(calls_store_write(aliased, "connectors", "set_secret"));
    assert!(calls_store_write("use crate::store::portal::{self, invite};\n invite(tx, 1)", "portal", "invite"));
    assert!(calls_store_write("postbacks::record(conn, &entry, now)", "postbacks", "record"));
    assert!(!calls_store_write("intake::postbacks::record_click(x)", "postbacks", "record"));
    assert!(!calls_store_write("x.record(y)", "postbacks", "record"));
    assert!(!calls_store_write("intake::affiliates::create(&ix, new)", "affiliates", "create"));
    assert!(calls_store_write("crate::store::affiliates::create(tx, &new, 1)", "affiliates", "create"));
    let f = functions(&lex("pub fn a(tx: &Tx) { if x { y } }\nfn b() {}\n"));
    assert_eq!(f.iter().map(|(n, ..)| n.as_str()).collect::<Vec<_>>(), ["a", "b"]);
}
