//! Amount parsing: never panics, and whatever it accepts formats back to the same value.
#![no_main]

use affiliated::tracking::money::{format_amount, parse_amount};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&digits, rest)) = data.split_first() else { return };
    let digits = digits % 5;
    let Ok(text) = std::str::from_utf8(rest) else { return };
    if let Ok(minor) = parse_amount(text, digits) {
        assert!(minor >= 0);
        assert_eq!(parse_amount(&format_amount(minor, digits), digits), Ok(minor));
    }
});
