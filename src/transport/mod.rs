//! The transport: the only code that touches tiny_http, and everything that compensates for
//! it. `server.rs` owns the listener, the worker threads, the heartbeat and shutdown;
//! `exchange.rs` takes one request from tiny_http's queue to the bytes of its answer;
//! `screen.rs`, `hangup.rs`, `slow.rs` and `rescue.rs` guard it against hostile heads, slow
//! bodies and a starved connection pool; `request.rs`/`response.rs` are the plain values in and
//! out; `router.rs` matches a request to a route of the table.

pub mod exchange;
pub mod hangup;
pub mod request;
pub mod rescue;
pub mod response;
pub mod router;
pub mod screen;
pub mod server;
pub mod slow;

pub use request::{Method, Req};
pub use response::Response;
