//! Time as the appliance stores and shows it: integer milliseconds since the Unix epoch inside,
//! RFC 3339 UTC strings outside.

use chrono::{DateTime, SecondsFormat, Utc};

pub fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// `2026-11-21T23:20:01.123Z`.
pub fn rfc3339(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or_default().to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Parses an RFC 3339 timestamp with any offset into milliseconds.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(text).ok().map(|t| t.timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_795_302_001_123), "2026-11-21T23:00:01.123Z");
        assert_eq!(parse_rfc3339("2026-11-21T23:00:01.123Z"), Some(1_795_302_001_123));
        assert_eq!(parse_rfc3339("2026-11-22T00:00:01.123+01:00"), Some(1_795_302_001_123));
        assert_eq!(parse_rfc3339("yesterday"), None);
    }
}
