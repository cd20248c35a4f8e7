//! The redirect target: for any accepted landing-URL template and any visitor-controlled values,
//! the result keeps the template's host and never holds a control character.
#![no_main]

use affiliated::tracking::link::{LANDING_MACROS, Visit, check_template, landing_url, parse_absolute};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut parts = text.splitn(3, '\u{1}');
    let (Some(template), code, click) = (parts.next(), parts.next().unwrap_or(""), parts.next()) else { return };
    let Ok(parsed) = check_template(template, LANDING_MACROS) else { return };
    // Visitor-controlled values go everywhere a visitor can put them: the code and the sub IDs.
    let visit = Visit { click_id: click, referral_code: code, offer_id: code, subs: [Some(code); 5] };
    let url = landing_url(template, &visit);
    assert!(!url.bytes().any(|b| b < 0x20 || b == 0x7f), "control character in {url:?}");
    let filled = parse_absolute(&url).unwrap_or_else(|e| panic!("filled URL {url:?} is invalid: {e}"));
    assert_eq!(filled.host, parsed.host, "{template:?} -> {url:?}");
    assert_eq!(filled.port, parsed.port);
});
