//! The UI kit of the server-rendered pages, shared by the admin and the portal and owned by
//! neither: safe HTML (`html.rs`), the page frame, notices and headers (`layout.rs`) and inline
//! SVG charts (`chart.rs`), the dashboard parts both overviews draw (`dashboard.rs`) and QR codes
//! (`qr.rs`).
//!
//! Architecture Invariant: renders what it is given; no database, no intake, no web area. Every
//! value reaches a page through `html.rs`, which escapes all but the `Html` it built itself.

pub mod chart;
pub mod dashboard;
pub mod html;
pub mod layout;
pub mod qr;
