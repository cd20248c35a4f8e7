//! `affiliated keys create|list|revoke`.

use super::{Failure, Outcome};
use crate::clock::{now_ms, rfc3339};
use crate::config::{Args, Opt, SERVER_DB};
use crate::store::writer::direct;
use crate::store::{self, keys};

const ABOUT: &str = "\
Manage API keys. Keys are shown once, at creation; only their SHA-256 hash is stored.

Usage:
  affiliated keys create --label NAME [--test] [--db PATH]
                                                 print a new key
  affiliated keys list [--db PATH]               list keys (prefix, label, source, state)
  affiliated keys revoke ID [--db PATH]          revoke a key by the ID `keys list` shows
";

const NOTES: &str = "Works while the server runs; changes apply to the next request.\n";

const LABEL: Opt = Opt::flag_only("label").takes("NAME").help("what the key is for, e.g. \"shop webhook\"");
const TEST: Opt = Opt::switch_only("test").help(
    "a test key: the clicks, conversions and customers written with it are test data, which never count in \
     reports, reconciliation, balances or payouts",
);
const OPTIONS: &[Opt] = &[SERVER_DB, LABEL, TEST];

pub fn help() -> String {
    crate::config::help::render(ABOUT, OPTIONS, NOTES)
}

pub fn run(parser: &mut lexopt::Parser) -> Outcome {
    let args = Args::parse(parser, OPTIONS).map_err(Failure::usage)?;
    if args.help {
        print!("{}", help());
        return Ok(());
    }
    let command = Command::from_args(&args)?;
    let conn = store::open_tool(&args.db())?;
    let now = now_ms();
    match command {
        Command::Create(label) => {
            let test = args.switch(&TEST).map_err(Failure::usage)?;
            let (id, key) = direct(&conn, |tx| keys::create(tx, &label, "cli", test, now))
                .and_then(|c| c)
                .map_err(|e| e.to_string())?;
            let kind = if test { "test API key" } else { "API key" };
            eprintln!("Created {kind} {id} ({label}). It is shown only now; store it in your secrets:");
            println!("{key}");
            Ok(())
        }
        Command::List => {
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
        Command::Revoke(id) => {
            if direct(&conn, |tx| keys::revoke(tx, id, now)).and_then(|r| r).map_err(|e| e.to_string())? {
                println!("revoked key {id}");
                Ok(())
            } else {
                Err(Failure::runtime(format!("no active key has ID {id}")))
            }
        }
    }
}

/// What `keys` was asked to do, checked before the database is opened.
enum Command {
    Create(String),
    List,
    Revoke(i64),
}

impl Command {
    fn from_args(args: &Args) -> Result<Command, Failure> {
        let see = "see `affiliated keys --help`";
        let (action, rest) = match args.positionals.split_first() {
            Some((action, rest)) => (action.as_str(), rest),
            None => return Err(Failure::usage(format!("keys needs an action: create, list or revoke; {see}"))),
        };
        let no_more = |usage: &str| match rest {
            [] => Ok(()),
            extra => Err(Failure::usage(format!("keys {action} takes no arguments (got {extra:?}); usage: {usage}"))),
        };
        match action {
            "create" => {
                no_more("affiliated keys create --label NAME")?;
                let label = args.get(&LABEL).ok_or_else(|| {
                    Failure::usage("keys create needs --label NAME: what the key is for, e.g. --label \"shop webhook\"")
                })?;
                if label.trim().is_empty() || label.len() > 100 || label.chars().any(char::is_control) {
                    return Err(Failure::usage("--label must be 1 to 100 printable characters"));
                }
                Ok(Command::Create(label))
            }
            "list" => no_more("affiliated keys list").map(|()| Command::List),
            "revoke" => match rest {
                [] => Err(Failure::usage(
                    "keys revoke needs the ID of the key to revoke: affiliated keys revoke ID (`affiliated keys list` \
                     shows the IDs)",
                )),
                [id] => id
                    .parse()
                    .map(Command::Revoke)
                    .map_err(|_| Failure::usage(format!("{id:?} is not a key ID; `affiliated keys list` shows them"))),
                [_, extra @ ..] => Err(Failure::usage(format!(
                    "keys revoke takes one key ID (got also {extra:?}); usage: affiliated keys revoke ID"
                ))),
            },
            other => Err(Failure::usage(format!("unknown keys action {other:?}: use create, list or revoke; {see}"))),
        }
    }
}
