//! A period of whole UTC days, as the admin's and the portal's pages and exports read it from
//! their query (`from`, `to`).

use crate::error::Error;
use crate::transport::Req;

/// A period of whole UTC days, `[from_day, to_day)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Period {
    pub from_day: i64,
    pub to_day: i64,
}

impl Period {
    /// The `days` days ending with today.
    pub fn last_days(days: i64, now_ms: i64) -> Period {
        let today = crate::clock::day_of(now_ms);
        Period { from_day: today - days + 1, to_day: today + 1 }
    }

    /// `from` and `to` (`YYYY-MM-DD`, `to` excluded) from the query; a missing end defaults to
    /// the last `default_days` days.
    pub fn from_query(req: &Req, default_days: i64) -> Result<Period, Error> {
        let day = |field: &str| {
            req.query(field)
                .map(|text| {
                    crate::clock::parse_day(text)
                        .ok_or_else(|| Error::invalid(field, "must be a date such as 2026-11-01 (YYYY-MM-DD, UTC)"))
                })
                .transpose()
        };
        let default = Period::last_days(default_days, crate::clock::now_ms());
        let (from, to) = (day("from")?, day("to")?);
        let period = match (from, to) {
            (None, None) => default,
            (Some(from_day), None) => Period { from_day, to_day: default.to_day.max(from_day + 1) },
            (None, Some(to_day)) => Period { from_day: to_day - default_days, to_day },
            (Some(from_day), Some(to_day)) => Period { from_day, to_day },
        };
        if period.to_day <= period.from_day {
            return Err(Error::invalid("to", "must be after `from` (the period is [from, to): `to` is not included)"));
        }
        if period.to_day - period.from_day > 3660 {
            return Err(Error::invalid("from", "the period may span at most ten years"));
        }
        Ok(period)
    }

    pub fn start_ms(self) -> i64 {
        self.from_day * crate::tracking::time::MS_PER_DAY
    }

    pub fn end_ms(self) -> i64 {
        self.to_day * crate::tracking::time::MS_PER_DAY
    }

    pub fn days(self) -> i64 {
        self.to_day - self.from_day
    }

    /// `from` and `to` as query parameters.
    pub fn params(self) -> [(&'static str, String); 2] {
        [("from", crate::clock::day_text(self.from_day)), ("to", crate::clock::day_text(self.to_day))]
    }
}
