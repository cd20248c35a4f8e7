//! Hold periods: when a pending conversion is approved without a person deciding (#13). Pure.
//!
//! A conversion is approved automatically once its hold has passed, unless something about it
//! asks for a person: it was flagged by a fraud rule, it came only from the pixel (which anyone
//! can fire from a browser), it is test data, or it has been refunded at all. "Refunded past the
//! commission" is read strictly: any refund recorded while it waited (`refunded_amount > 0`),
//! even one so small that rounding left the commission as it was, keeps it pending, because a
//! refund during the hold is exactly the sign that the order is not final. (A fully refunded
//! conversion is no longer pending anyway.)

use super::conversion::Source;

/// Milliseconds per day.
const DAY_MS: i64 = 86_400_000;

/// What the sweeper knows of a pending conversion.
#[derive(Clone, Copy, Debug)]
pub struct Waiting {
    pub source: Source,
    pub test: bool,
    pub flagged: bool,
    pub refunded_amount: i64,
    pub created_at: i64,
}

/// The hold that applies: the offer's `approve_after_days` when set, else the server's
/// `--approve-after` (in ms), else none (never approved automatically).
pub fn hold_ms(offer_days: Option<i64>, default_ms: Option<i64>) -> Option<i64> {
    offer_days.map(|d| d.saturating_mul(DAY_MS)).or(default_ms)
}

/// Whether the sweeper approves `w` at `now` under `hold` (see [`hold_ms`]).
pub fn approvable(w: &Waiting, hold: Option<i64>, now: i64) -> bool {
    let Some(hold) = hold else { return false };
    w.source != Source::Pixel && !w.test && !w.flagged && w.refunded_amount == 0 && w.created_at <= now - hold
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_clean_server_side_conversions_past_their_hold_are_approved() {
        let ok = Waiting { source: Source::Api, test: false, flagged: false, refunded_amount: 0, created_at: 0 };
        let day = DAY_MS;
        assert!(approvable(&ok, Some(day), day));
        assert!(!approvable(&ok, Some(day), day - 1), "still in its hold");
        assert!(!approvable(&ok, None, i64::MAX), "no hold configured: never");
        for held in [
            Waiting { source: Source::Pixel, ..ok },
            Waiting { test: true, ..ok },
            Waiting { flagged: true, ..ok },
            Waiting { refunded_amount: 1, ..ok },
        ] {
            assert!(!approvable(&held, Some(0), day), "{held:?}");
        }
    }

    #[test]
    fn the_offers_hold_wins_over_the_servers() {
        assert_eq!(hold_ms(Some(3), Some(1)), Some(3 * DAY_MS));
        assert_eq!(hold_ms(Some(0), Some(DAY_MS)), Some(0));
        assert_eq!(hold_ms(None, Some(5)), Some(5));
        assert_eq!(hold_ms(None, None), None);
    }
}
