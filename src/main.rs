//! The `affiliated` binary: parses the subcommand and hands over to `cli`.

use affiliated::{alloc, cli, logging};

use std::process::ExitCode;

#[global_allocator]
static ALLOCATOR: alloc::Allocator = alloc::Allocator;

const HELP: &str = "\
affiliated: server-to-server affiliate tracking in one binary and one SQLite file.

Usage: affiliated <COMMAND> [OPTIONS]

Commands:
  serve         run the tracking server (API, tracking links, postbacks, admin)
  migrate       create or upgrade the database schema
  keys          create, list and revoke API keys
  backup        write a consistent, verified copy of the live database
  check         exit 0 if a running server is healthy
  postback-url  print the postback URL template (with the postback token) for networks
  verify-statement
                check an affiliate's signed ledger statement (and that an older one
                is its prefix)

On the server machine:
  install       set up systemd units, the env file and the proxy site for a domain
  restore       put a backup back as the database, with its key, token and erasures

Run `affiliated <COMMAND> --help` for a command's options. An option that also reads an
environment variable names it there in brackets ([AFFILIATED_DB, default affiliated.db]); a
flag wins over the environment. These are flags only: keys --label and --test, backup --keep,
postback-url --rotate, verify-statement --public-key, --previous and --key-url, restore
--erasure-log, install --domain, --proxy, --root, --dry-run and --from-backup.
";

fn main() -> ExitCode {
    logging::init();
    let mut parser = lexopt::Parser::from_env();
    let command = match parser.next() {
        Ok(Some(lexopt::Arg::Value(v))) => v.to_string_lossy().into_owned(),
        Ok(Some(lexopt::Arg::Long("help") | lexopt::Arg::Short('h'))) => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Ok(None) => {
            // Asked for nothing: the usage goes where errors go, and the exit code says so.
            eprint!("{HELP}");
            return ExitCode::from(2);
        }
        Ok(Some(lexopt::Arg::Long("version") | lexopt::Arg::Short('V'))) => {
            println!("affiliated {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Ok(Some(other)) => {
            return cli::exit(Err(cli::Failure::usage(format!("unexpected {other:?}; see --help"))));
        }
        Err(e) => return cli::exit(Err(cli::Failure::usage(e.to_string()))),
    };
    let outcome = match command.as_str() {
        "serve" => cli::serve::run(&mut parser),
        "migrate" => cli::migrate::run(&mut parser),
        "keys" => cli::keys::run(&mut parser),
        "backup" => cli::backup::run(&mut parser),
        "check" => cli::check::run(&mut parser),
        "postback-url" => cli::postback_url::run(&mut parser),
        "verify-statement" => cli::verify_statement::run(&mut parser),
        "restore" => cli::restore::run(&mut parser),
        "install" => cli::install::run(&mut parser),
        "help" => {
            print!("{HELP}");
            Ok(())
        }
        other => Err(cli::Failure::usage(format!("unknown command {other:?}; see `affiliated --help`"))),
    };
    cli::exit(outcome)
}
