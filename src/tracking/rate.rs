//! The conversion rate the admin and the portal show: of the clicks made in a period, the share
//! that led to a conversion. Pure: which conversion converts which click, and the rate.
//!
//! Only a conversion that came through a click converts it: attributed by its click ID, or by a
//! session whose click it chose. Coupons, known customers and partner-id postbacks bring
//! conversions without a click; dividing those by clicks gave rates of 150% and 300%. A click
//! counts once, however many conversions it brought (repeat orders, renewals), and only while
//! one of them counts: not rejected, not test data. Clicks are counted on the day they were made
//! (`daily_clicks`, whose `converted` column `store::reports` keeps with this rule), so a
//! period's rate reads "of this period's clicks, the share that has converted so far", and can
//! never exceed 100%.
//!
//! Architecture Invariant: no SQL and no I/O; `store::reports` asks [`converted_click`] for every
//! conversion change and builds its SQL from [`THROUGH_A_CLICK`].

use super::attribution::Key;
use super::conversion::{Conversion, Status};

/// The attribution keys by which a conversion comes through a click.
pub const THROUGH_A_CLICK: [Key; 2] = [Key::Click, Key::Session];

/// The click that conversion `c` converts, if it converts one: attributed through a click, not
/// rejected, not test data, and with its click still known (an erased click is not).
pub fn converted_click(c: &Conversion) -> Option<&str> {
    if c.test || c.status == Status::Rejected || !THROUGH_A_CLICK.contains(&c.attributed_by) {
        return None;
    }
    c.click_id.as_deref()
}

/// The conversion rate in basis points (`1234` is 12.34%), rounded half up: `converted` clicks
/// of `clicks`. `None` without clicks (there is no rate, rather than 0%). Never above 100%: the
/// rollup keeps `converted <= clicks` for every day; a count above that (rows written by hand)
/// is read as every click converted.
pub fn basis_points(converted: i64, clicks: i64) -> Option<i64> {
    if clicks <= 0 {
        return None;
    }
    let converted = i128::from(converted.clamp(0, clicks));
    let clicks = i128::from(clicks);
    Some(((converted * 10_000 + clicks / 2) / clicks) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conversion(key: Key, click: Option<&str>) -> Conversion {
        let c = crate::tracking::conversion::tests::conversion(1000, 100, Status::Pending);
        Conversion { attributed_by: key, click_id: click.map(String::from), ..c }
    }

    #[test]
    fn only_conversions_through_a_click_convert_it() {
        assert_eq!(converted_click(&conversion(Key::Click, Some("k1"))), Some("k1"));
        assert_eq!(converted_click(&conversion(Key::Session, Some("k2"))), Some("k2"), "the session's click");
        for key in [Key::Coupon, Key::Customer, Key::Affiliate] {
            // A customer's later order may name the click of their first one: still no click of its own.
            assert_eq!(converted_click(&conversion(key, Some("k1"))), None, "{key:?}");
            assert_eq!(converted_click(&conversion(key, None)), None, "{key:?}");
        }
        assert_eq!(converted_click(&conversion(Key::Click, None)), None, "an erased click");
        for status in Status::ALL {
            let c = Conversion { status, ..conversion(Key::Click, Some("k1")) };
            assert_eq!(converted_click(&c).is_some(), status != Status::Rejected, "{status:?}");
        }
        let test = Conversion { test: true, ..conversion(Key::Click, Some("k1")) };
        assert_eq!(converted_click(&test), None, "test data never counts");
    }

    #[test]
    fn the_rate_is_a_share_of_clicks_and_never_above_all_of_them() {
        assert_eq!(basis_points(0, 0), None, "no clicks, no rate");
        assert_eq!(basis_points(3, 0), None, "coupon conversions without clicks make no rate");
        assert_eq!(basis_points(0, 480), Some(0));
        assert_eq!(basis_points(12, 480), Some(250));
        assert_eq!(basis_points(1, 3), Some(3333));
        assert_eq!(basis_points(2, 3), Some(6667), "half up");
        assert_eq!(basis_points(480, 480), Some(10_000));
        assert_eq!(basis_points(3, 1), Some(10_000), "a hand-written count above the clicks");
        assert_eq!(basis_points(-1, 10), Some(0));
        assert_eq!(basis_points(i64::MAX, i64::MAX), Some(10_000));
    }
}
