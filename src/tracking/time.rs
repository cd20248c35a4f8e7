//! Time as the appliance stores and shows it: integer milliseconds since the Unix epoch inside,
//! RFC 3339 UTC strings outside, and UTC days for daily totals. Pure: formatting and parsing
//! only; reading the clock is `crate::clock`'s.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};

/// Milliseconds in a day.
pub const MS_PER_DAY: i64 = 86_400_000;

/// `2026-11-21T23:20:01.123Z`.
pub fn rfc3339(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or_default().to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Parses an RFC 3339 timestamp with any offset into milliseconds.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(text).ok().map(|t| t.timestamp_millis())
}

/// The day number (days since 1970-01-01, UTC) of a time in milliseconds: how daily totals are keyed.
pub fn day_of(ms: i64) -> i64 {
    ms.div_euclid(MS_PER_DAY)
}

/// Parses `YYYY-MM-DD` (a UTC day) into its day number.
pub fn parse_day(text: &str) -> Option<i64> {
    if text.len() != 10 {
        return None;
    }
    let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
    Some(date.signed_duration_since(NaiveDate::from_ymd_opt(1970, 1, 1)?).num_days())
}

/// `YYYY-MM-DD` of a day number.
pub fn day_text(day: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(day.saturating_mul(MS_PER_DAY))
        .unwrap_or_default()
        .format("%Y-%m-%d")
        .to_string()
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

    #[test]
    fn days() {
        assert_eq!(parse_day("1970-01-02"), Some(1));
        assert_eq!(parse_day("2026-11-21"), Some(day_of(1_795_302_001_123)));
        assert_eq!(day_text(day_of(1_795_302_001_123)), "2026-11-21");
        assert_eq!(day_of(-1), -1);
        for bad in ["2026-13-01", "2026-02-30", "26-11-21", "2026-11-21T00:00:00Z", "2026-1-1", ""] {
            assert_eq!(parse_day(bad), None, "{bad:?}");
        }
    }
}
