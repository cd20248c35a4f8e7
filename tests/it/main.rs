//! Integration tests: every test starts the real binary (see `support`) and talks HTTP to it.

mod admin;
mod admin_browser;
mod admin_perf;
mod api;
mod browser;
mod conversions;
mod hooks;
mod hooks_api;
mod hooks_interop;
mod hooks_shops;
mod hooks_stripe;
mod outbound;
mod postbacks;
mod privacy;
mod proxy;
mod redirect;
mod robustness;
mod support;
mod systemd;
mod trust;
mod upgrade;
