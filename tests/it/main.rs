//! Integration tests: every test starts the real binary (see `support`) and talks HTTP to it.

mod admin;
mod admin_browser;
mod admin_perf;
mod api;
mod browser;
mod caddy;
mod conversions;
mod hostile;
mod logs;
mod outbound;
mod postbacks;
mod privacy;
mod proxy;
mod redirect;
mod robustness;
mod support;
mod systemd;
