//! `affiliated serve`.

use super::{Failure, Outcome};
use crate::config::{Args, SERVE_OPTS, Serve};

pub const HELP: &str = "\
Run the tracking server.

Usage: affiliated serve [OPTIONS]

Options (each flag falls back to the environment variable named after it):
  --db PATH               SQLite database file, created if missing    [AFFILIATED_DB, default ./affiliated.db]
  --listen ADDR           address to listen on; keep it on loopback and put a
                          reverse proxy in front for public traffic  [AFFILIATED_LISTEN, default 127.0.0.1:8080]
  --public-url URL        how the world reaches this server, used in tracking links
                                                                      [AFFILIATED_PUBLIC_URL, default http://LISTEN]
  --workers N             request worker threads                      [AFFILIATED_WORKERS, default 32]
  --synchronous MODE      normal (crash-safe; a power cut may lose the last commits)
                          or full (fsync every commit)                [AFFILIATED_SYNCHRONOUS, default normal]
  --store-ip MODE         full, truncated (/24, /48) or none          [AFFILIATED_STORE_IP, default truncated]
  --socket-timeout DUR    read/write timeout per connection           [AFFILIATED_SOCKET_TIMEOUT, default 15s]
  --trusted-proxy IP      believe X-Forwarded-For from this peer; repeatable
                                                                      [AFFILIATED_TRUSTED_PROXY, comma-separated]
  --click-retention DUR   delete unconverted clicks older than this   [AFFILIATED_CLICK_RETENTION, default 30d]
  --sweep-interval DUR    how often the retention sweep runs          [AFFILIATED_SWEEP_INTERVAL, default 1h]
  --allow-private-postbacks  let outbound postbacks reach loopback/private addresses (tests, LANs)
                                                                      [AFFILIATED_ALLOW_PRIVATE_POSTBACKS]
  --wal-autocheckpoint N  checkpoint when the WAL holds N pages; 0 when Litestream
                          does the checkpoints                         [AFFILIATED_WAL_AUTOCHECKPOINT, default 1000]
  --admin-token TOKEN     turn the merchant admin on at /admin; log in with this
                          token (16+ characters; prefer the environment variable,
                          flags are visible in `ps`)                  [AFFILIATED_ADMIN_TOKEN, default off]
Environment only:
  AFFILIATED_API_KEY      an API key to accept (32+ characters, stored hashed)
  AFFILIATED_POSTBACK_TOKEN  the inbound postback token (else one is generated)
  RUST_LOG                log filter, default info

With no API key at all, serve creates one and writes it to DB.initial-api-key (mode 0600).
Durations are written like 90s, 15m, 12h, 30d.
";

pub fn run(parser: &mut lexopt::Parser) -> Outcome {
    let args = Args::parse(parser, SERVE_OPTS).map_err(Failure::usage)?;
    if args.help {
        print!("{HELP}");
        return Ok(());
    }
    if let Some(extra) = args.positionals.first() {
        return Err(Failure::usage(format!("serve takes no arguments (got {extra:?}); see --help")));
    }
    let config = Serve::from_args(&args).map_err(Failure::usage)?;
    crate::http::server::run(config).map_err(Failure::runtime)
}
