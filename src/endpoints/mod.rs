//! The public endpoints that are neither the API nor a logged-in area: tracking links
//! (`redirect.rs`), the click snippet (`snippet.rs`, `snippet.js`), the conversion pixel
//! (`pixel.rs`), inbound postbacks (`postback.rs`), shop webhooks (`hooks.rs`), and the
//! operator's `/healthz`, `/metrics` and `/openapi.yaml` (`health.rs`).
//!
//! Architecture Invariant: an area of its own, handlers only; it imports no other area (`api`,
//! `admin`, `portal`), and writes only through `intake`.

pub mod health;
pub mod hooks;
pub mod pixel;
pub mod postback;
pub mod redirect;
pub mod snippet;
