//! `affiliated postback-url`.

use super::{Failure, Outcome};
use crate::config::{Args, LISTEN, Opt, POSTBACK_TOKEN, PUBLIC_URL, SERVER_DB};
use crate::store::writer::direct;
use crate::store::{self, postbacks};

const ABOUT: &str = "\
Print the postback URL template to paste into a network or shop platform, with this install's
postback token. The token can only report conversions. --rotate makes a new token; the old one
keeps working for 24 hours.

Usage: affiliated postback-url [--db PATH] [--public-url URL] [--rotate]
";

const ROTATE: Opt =
    Opt::switch_only("rotate").help("replace the token (not possible when AFFILIATED_POSTBACK_TOKEN sets it)");
const OPTIONS: &[Opt] = &[
    SERVER_DB,
    PUBLIC_URL.opt.help("how the network reaches this server"),
    LISTEN.opt.help("where the server listens, for the default public URL"),
    ROTATE,
    POSTBACK_TOKEN.opt.help("the token the server's environment sets, if it sets one"),
];

pub fn help() -> String {
    crate::config::help::render(ABOUT, OPTIONS, "")
}

pub fn run(parser: &mut lexopt::Parser) -> Outcome {
    let args = Args::parse(parser, OPTIONS).map_err(Failure::usage)?;
    if args.help {
        print!("{}", help());
        return Ok(());
    }
    if let Some(extra) = args.positionals.first() {
        return Err(Failure::usage(format!("postback-url takes no arguments (got {extra:?}); see --help")));
    }
    let db = args.db();
    let conn = store::open_tool(&db)?;
    let configured = args.get(&POSTBACK_TOKEN);
    let now = crate::clock::now_ms();
    let token = if args.get(&ROTATE).is_some() {
        if configured.is_some() {
            return Err(Failure::usage(format!(
                "{} sets the token; change it there instead",
                POSTBACK_TOKEN.opt.names()
            )));
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
        let listen = args.listen().map(|a| a.to_string()).unwrap_or_else(|_| LISTEN.opt.default_text().into());
        format!("http://{listen}")
    });
    println!("{}", crate::tracking::postback::url_template(&public_url, &token));
    Ok(())
}
