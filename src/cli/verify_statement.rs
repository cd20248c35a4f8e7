//! `affiliated verify-statement`: checks an affiliate's statement (#16) on its own and, with
//! `--previous`, against one kept from before. Needs no server and no database: everything it
//! trusts is in the files and in `tracking::statement`.

use super::{Failure, Outcome};
use crate::config::{Args, Opt};
use crate::tracking::statement::{self, Statement};

const ABOUT: &str = "\
Check a statement of an affiliate's ledger: its signature, and that every entry links to the one
before it. With --previous, also that every entry of an older statement is still there, unchanged.

Usage: affiliated verify-statement NEW.json [--previous OLD.json] [--public-key BASE64]
";

const NOTES: &str = "\
Exits 0 when the statement holds, 1 when it does not (saying which entry breaks: a changed
amount, a removed entry, a forked chain, another key), 2 on wrong usage.
";

const PREVIOUS: Opt = Opt::flag_only("previous")
    .takes("FILE")
    .help("a statement downloaded earlier: it must be a prefix of NEW, signed with the same key");
const PUBLIC_KEY: Opt = Opt::flag_only("public-key")
    .takes("KEY")
    .help("the key the statement must be signed with (from GET /.well-known/affiliated-statement-key)");
const OPTIONS: &[Opt] = &[PREVIOUS, PUBLIC_KEY];

pub fn help() -> String {
    crate::config::help::render(ABOUT, OPTIONS, NOTES)
}

pub fn run(parser: &mut lexopt::Parser) -> Outcome {
    let args = Args::parse(parser, OPTIONS).map_err(Failure::usage)?;
    if args.help {
        print!("{}", help());
        return Ok(());
    }
    let [new] = args.positionals.as_slice() else {
        return Err(Failure::usage("give exactly one statement file; see --help"));
    };
    let new = read(new)?;
    let key = args.get(&PUBLIC_KEY);
    statement::verify(&new, key.as_deref()).map_err(|p| Failure::runtime(format!("NOT VALID: {p}")))?;
    let mut summary = format!(
        "valid: statement of {} with {} entries, head {}, issued {}, signed by {}",
        new.referral_code,
        new.entries.len(),
        new.head.header_value(),
        new.issued_at,
        new.public_key
    );
    if let Some(previous) = args.get(&PREVIOUS) {
        let old = read(&previous)?;
        statement::verify_against(&new, &old).map_err(|p| Failure::runtime(format!("NOT VALID: {p}")))?;
        summary.push_str(&format!("; the {} entries of {previous} are all in it, unchanged", old.entries.len()));
    }
    println!("{summary}");
    Ok(())
}

fn read(path: &str) -> Result<Statement, Failure> {
    let text = std::fs::read(path).map_err(|e| Failure::runtime(format!("while reading {path}: {e}")))?;
    serde_json::from_slice(&text).map_err(|e| Failure::runtime(format!("{path} is not a statement: {e}")))
}
