//! affiliated: a self-hosted, server-to-server affiliate tracking appliance.
//!
//! The binary (`main.rs`) is a thin shell over this library; the library exists so that fuzz
//! targets and benchmarks can reach the pure rules in `tracking` directly. See ARCHITECTURE.md
//! for the map of these modules and the invariants they keep.

pub mod admin;
pub mod alloc;
pub mod api;
#[cfg(test)]
mod architecture;
pub mod cli;
pub mod clock;
pub mod config;
pub mod endpoints;
pub mod error;
pub mod intake;
pub mod logging;
pub mod metrics;
pub mod outbox;
pub mod password;
pub mod portal;
pub mod routes;
pub mod secret;
pub mod shapes;
pub mod statements;
pub mod store;
pub mod sweeper;
pub mod systemd;
pub mod tracking;
pub mod transport;
pub mod ui;
pub mod web;
