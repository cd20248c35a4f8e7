//! The postback dialect mapper: any parameters map to a report without panicking, and what it
//! reports is exactly one of the parameters' values.
#![no_main]

use affiliated::tracking::postback;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let params: Vec<(String, String)> = form_urlencoded::parse(data).into_owned().collect();
    let (dialect, report) = postback::map(&params);
    assert_eq!(dialect, postback::detect(&params));
    for value in [&report.external_id, &report.amount, &report.click_id, &report.referral_code].into_iter().flatten() {
        assert!(!value.is_empty());
        assert!(params.iter().any(|(_, v)| v.trim() == value));
    }
});
