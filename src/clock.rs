//! The clock: the one place the appliance reads the current time. What the time looks like
//! inside and outside (milliseconds, RFC 3339, days) is `tracking::time`, re-exported here.

use chrono::Utc;

pub use crate::tracking::time::{day_of, day_text, parse_day, parse_rfc3339, rfc3339};

pub fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}
