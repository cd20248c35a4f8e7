//! `affiliated keys create|list|revoke`.

use super::{Failure, Outcome};
use crate::clock::{now_ms, rfc3339};
use crate::config::{Args, DB, Opt};
use crate::store::{self, keys};

pub const HELP: &str = "\
Manage API keys. Keys are shown once, at creation; only their SHA-256 hash is stored.

Usage:
  affiliated keys create --label NAME [--test] [--db PATH]
                                                    print a new key (--test: a test key, whose
                                                    writes are all test data)
  affiliated keys list [--db PATH]                  list keys (prefix, label, source, state)
  affiliated keys revoke ID [--db PATH]             revoke a key by the ID `keys list` shows

Options:
  --db PATH   SQLite database file [AFFILIATED_DB, default ./affiliated.db]
  --label     what the key is for, e.g. \"shop webhook\"
  --test      make a test key: clicks, conversions and customers written with it are test
              data, which never count in reports, balances or payouts

Works while the server runs; changes apply to the next request.
";

const LABEL: Opt = Opt::flag_only("label");
const TEST: Opt = Opt::switch_only("test");

pub fn run(parser: &mut lexopt::Parser) -> Outcome {
    let args = Args::parse(parser, &[DB, LABEL, TEST]).map_err(Failure::usage)?;
    let action = args.positionals.first().map(String::as_str);
    if args.help || action.is_none() {
        print!("{HELP}");
        return if args.help { Ok(()) } else { Err(Failure::usage("keys needs an action: create, list or revoke")) };
    }
    let conn = store::open_tool(&args.db())?;
    let now = now_ms();
    match (action, &args.positionals[1..]) {
        (Some("create"), []) => {
            let label = args.get(&LABEL).ok_or_else(|| Failure::usage("keys create needs --label NAME"))?;
            if label.trim().is_empty() || label.len() > 100 || label.chars().any(char::is_control) {
                return Err(Failure::usage("--label must be 1 to 100 printable characters"));
            }
            let test = args.switch(&TEST).map_err(Failure::usage)?;
            let (id, key) = keys::create(&conn, &label, "cli", test, now).map_err(|e| e.to_string())?;
            let kind = if test { "test API key" } else { "API key" };
            eprintln!("Created {kind} {id} ({label}). It is shown only now; store it in your secrets:");
            println!("{key}");
            Ok(())
        }
        (Some("list"), []) => {
            let rows = keys::list(&conn).map_err(|e| e.to_string())?;
            println!("{:<4} {:<12} {:<8} {:<26} {:<10} LABEL", "ID", "PREFIX", "SOURCE", "CREATED", "STATE");
            for k in rows {
                let state = match (k.revoked_at.is_some(), k.test) {
                    (true, _) => "revoked",
                    (false, true) => "test",
                    (false, false) => "active",
                };
                println!(
                    "{:<4} {:<12} {:<8} {:<26} {:<10} {}",
                    k.id,
                    k.prefix,
                    k.source,
                    rfc3339(k.created_at),
                    state,
                    k.label
                );
            }
            Ok(())
        }
        (Some("revoke"), [id]) => {
            let id: i64 = id.parse().map_err(|_| Failure::usage(format!("{id:?} is not a key ID; see `keys list`")))?;
            if keys::revoke(&conn, id, now).map_err(|e| e.to_string())? {
                println!("revoked key {id}");
                Ok(())
            } else {
                Err(Failure::runtime(format!("no active key has ID {id}")))
            }
        }
        (Some(other), rest) => Err(Failure::usage(format!(
            "unknown keys action {other:?}{}; see `affiliated keys --help`",
            if rest.is_empty() { String::new() } else { format!(" with arguments {rest:?}") }
        ))),
        (None, _) => unreachable!("checked above"),
    }
}
