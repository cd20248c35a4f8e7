//! The product's rules, free of I/O: how money is read and written, how a conversion is
//! attributed and what it earns, what a click ID looks like, how a tracking link's destination is
//! built. Nothing here touches SQL, HTTP, the clock or randomness; callers pass those in. That is
//! what lets every rule be unit-tested in isolation.

pub mod application;
pub mod attribution;
pub mod click_id;
pub mod commission;
pub mod connectors;
pub mod conversion;
pub mod customer;
pub mod deep_link;
pub mod fraud;
pub mod hold;
pub mod ledger;
pub mod link;
pub mod mail;
pub mod money;
pub mod net;
pub mod offer;
pub mod origin;
pub mod outbound;
pub mod payout;
pub mod portal;
pub mod postback;
pub mod pricing;
pub mod rate;
pub mod refund;
pub mod refusal;
pub mod statement;
pub mod time;
pub mod validate;
pub mod webhook;
