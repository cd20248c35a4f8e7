//! Integration tests: every test starts the real binary (see `support`) and talks HTTP to it.

mod admin;
mod admin_browser;
mod admin_perf;
mod admin_sessions;
mod api;
mod browser;
mod cli;
mod controls;
mod conversions;
mod doc_format;
mod docs;
mod files;
mod links;
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
mod webhook_receiver;
mod webhooks;
mod webhooks_interop;
