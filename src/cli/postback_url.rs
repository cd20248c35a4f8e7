//! `affiliated postback-url`.

use super::{Failure, Outcome};
use crate::config::{Args, DB, LISTEN, Opt, POSTBACK_TOKEN_ENV, PUBLIC_URL};
use crate::store::writer::direct;
use crate::store::{self, postbacks};

pub const HELP: &str = "\
Print the postback URL template to paste into a network or shop platform, with this install's
postback token. The token can only report conversions. --rotate makes a new token; the old one
keeps working for 24 hours.

Usage: affiliated postback-url [--db PATH] [--public-url URL] [--rotate]

Options:
  --db PATH         the server's SQLite database file
                    [AFFILIATED_DB, default ./affiliated.db]
  --public-url URL  how the network reaches this server
                    [AFFILIATED_PUBLIC_URL, default http://LISTEN]
  --listen ADDR     where the server listens, for the default public URL
                    [AFFILIATED_LISTEN, default 127.0.0.1:8080]
  --rotate          replace the token (not possible when AFFILIATED_POSTBACK_TOKEN sets it)
";

const ROTATE: Opt = Opt::switch_only("rotate");

pub fn run(parser: &mut lexopt::Parser) -> Outcome {
    let args = Args::parse(parser, &[DB, LISTEN, PUBLIC_URL, ROTATE]).map_err(Failure::usage)?;
    if args.help {
        print!("{HELP}");
        return Ok(());
    }
    if let Some(extra) = args.positionals.first() {
        return Err(Failure::usage(format!("postback-url takes no arguments (got {extra:?}); see --help")));
    }
    let db = args.db();
    let conn = store::open_tool(&db)?;
    let configured = std::env::var(POSTBACK_TOKEN_ENV).ok().filter(|t| !t.is_empty());
    let now = crate::clock::now_ms();
    let token = if args.get(&ROTATE).is_some() {
        if configured.is_some() {
            return Err(Failure::usage(format!("{POSTBACK_TOKEN_ENV} sets the token; change it there instead")));
        }
        let token = direct(&conn, |tx| postbacks::rotate(tx, &db, now)).and_then(|t| t).map_err(|e| e.to_string())?;
        eprintln!("Rotated the postback token; the previous one works for another 24 hours.");
        token
    } else {
        direct(&conn, |tx| postbacks::ensure(tx, &db, configured.as_deref(), now)).map_err(|e| e.to_string())??;
        postbacks::current(&conn, &db, configured.as_deref()).map_err(|e| e.to_string())?.ok_or_else(|| {
            Failure::runtime(
                "the postback token file is missing; run `affiliated postback-url --rotate` for a new token",
            )
        })?
    };
    let public_url = args.get(&PUBLIC_URL).map(|u| u.trim_end_matches('/').to_string()).unwrap_or_else(|| {
        let listen = args.listen().map(|a| a.to_string()).unwrap_or_else(|_| crate::config::DEFAULT_LISTEN.into());
        format!("http://{listen}")
    });
    println!("{}", crate::tracking::postback::url_template(&public_url, &token));
    Ok(())
}
