//! `affiliated check`: the running server's health, and the books in its database (the ledger's
//! rollup against its entries, `store::ledger::rollup::mismatches`), read on a connection of its
//! own that changes nothing.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use super::{Failure, Outcome};
use crate::config::{Args, LISTEN, Opt, SERVER_DB};

const ABOUT: &str = "\
Exit 0 if a running server answers GET /healthz with 200 and the balances kept in
its database add up to its ledger's entries; 1 otherwise (also when its database
file is not where --db says). Reads the whole ledger once.

Usage: affiliated check [--db PATH] [--listen ADDR]
";

const OPTIONS: &[Opt] = &[SERVER_DB, LISTEN.opt.help("where the server listens")];

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
        return Err(Failure::usage(format!("check takes no arguments (got {extra:?}); see --help")));
    }
    let addr = args.listen().map_err(Failure::usage)?;
    crate::store::file::existing(&args.db())?;
    let health = healthz(addr);
    let books = ledger(&args.db());
    match (health, books) {
        (Ok(()), Ok(())) => Ok(()),
        (Err(e), _) | (_, Err(e)) => Err(e),
    }
}

/// Compares the ledger's rollup with its entries; prints what it found.
fn ledger(db: &std::path::Path) -> Outcome {
    let conn = crate::store::open_reader(db)?;
    if let Some(version) = crate::store::migrate::pending(&conn)? {
        println!(
            "ledger: not checked, the database has schema version {version}; the server migrates it when it starts"
        );
        return Ok(());
    }
    let problem = |e: crate::error::Error| {
        Failure::runtime(format!("while checking the ledger: {}", e.detail.unwrap_or(e.message)))
    };
    let wrong = crate::store::ledger::rollup::mismatches(&conn).map_err(problem)?;
    if wrong.is_empty() {
        let (affiliates, entries) = crate::store::ledger::rollup::extent(&conn).map_err(problem)?;
        println!("ok: the balances add up to the ledger ({affiliates} affiliates, {entries} entries)");
        return Ok(());
    }
    for line in wrong.iter().take(20) {
        println!("ledger: {line}");
    }
    Err(Failure::runtime(format!(
        "{} ledger balances differ from the entries they sum up (first ones above); balances are read from them, \
         so report this with the lines above",
        wrong.len()
    )))
}

/// `GET /healthz` of the server at `addr` (the unspecified address means this machine).
fn healthz(addr: std::net::SocketAddr) -> Outcome {
    let mut addr = addr;
    if addr.ip().is_unspecified() {
        addr.set_ip(if addr.is_ipv4() { [127, 0, 0, 1].into() } else { std::net::Ipv6Addr::LOCALHOST.into() });
    }
    let timeout = Duration::from_secs(3);
    let fail = |what: &str, e: std::io::Error| Failure::runtime(format!("{what} {addr}: {e}"));
    let mut stream = TcpStream::connect_timeout(&addr, timeout).map_err(|e| fail("cannot connect to", e))?;
    stream.set_read_timeout(Some(timeout)).map_err(|e| fail("cannot configure", e))?;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .map_err(|e| fail("cannot write to", e))?;
    let mut answer = Vec::new();
    stream.take(64 * 1024).read_to_end(&mut answer).map_err(|e| fail("no answer from", e))?;
    let text = String::from_utf8_lossy(&answer);
    let status = text.lines().next().unwrap_or("");
    if status.starts_with("HTTP/1.1 200") {
        println!("ok: {addr} is healthy");
        Ok(())
    } else {
        Err(Failure::runtime(format!("{addr} is unhealthy: {status:?}")))
    }
}
