//! Request-line and form parsing: any URL and any form body become a request without panicking.
#![no_main]

use affiliated::transport::request::{Headers, Method, Req};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(url) = std::str::from_utf8(data) else { return };
    let req = Req::from_parts(Method::Get, url, Headers::default(), None);
    for (name, _) in &req.query {
        let _ = req.query(name);
    }
    let _ = form_urlencoded::parse(data).count();
    let _ = affiliated::routes::find(Method::Get, &req.path);
});
