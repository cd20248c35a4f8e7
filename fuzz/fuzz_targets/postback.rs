//! The postback dialect mapper: any parameters map to a report without panicking, and what it
//! reports is exactly one of the parameters' values.
#![no_main]

use affiliated::tracking::postback;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let params: Vec<(String, String)> = form_urlencoded::parse(data).into_owned().collect();
    let (dialect, report) = postback::map(&params);
    assert_eq!(dialect, postback::detect(&params));
    let keys = &report.keys;
    for value in [&report.external_id, &report.amount, &keys.click_id, &keys.referral_code].into_iter().flatten() {
        assert!(!value.is_empty());
        assert!(params.iter().any(|(_, v)| v.trim() == value));
    }
    // Turning the report into a conversion, and looking for unreplaced macros, never panics.
    let _ = postback::check_macros(&params);
    let _ = postback::conversion(report, affiliated::tracking::conversion::Source::Postback, "fuzz");
});
