//! `affiliated check`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use super::{Failure, Outcome};
use crate::config::{Args, LISTEN, Opt, SERVER_DB};

const ABOUT: &str = "\
Exit 0 if a running server answers GET /healthz with 200, 1 otherwise (also when its
database file is not where --db says).

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
    let mut addr = args.listen().map_err(Failure::usage)?;
    crate::store::file::existing(&args.db())?;
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
