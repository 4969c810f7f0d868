//! The decoder of Prometheus instant-query answers
//! (`scalers_prometheus::decode_query_response`) on arbitrary statuses and bodies.
//!
//! The first two bytes are the HTTP status (big-endian; a number outside 100..=999, the codes
//! `StatusCode` accepts, is folded into it), the rest is the body.
//!
//! Checks: no panic, no hang; a value is finite (NaN and infinities are "no data"); every error
//! starts with the endpoint, without the credentials and query string of the URL given.

#![no_main]

use http::StatusCode;
use libfuzzer_sys::fuzz_target;

const ENDPOINT: &str = "http://user:secret@prom:9090/api/v1/query?token=secret";
const SHOWN: &str = "http://prom:9090/api/v1/query";

fuzz_target!(|data: &[u8]| {
    let (status, body) = match data {
        [hi, lo, body @ ..] => (u16::from_be_bytes([*hi, *lo]), body),
        _ => return,
    };
    let code = if (100..=999).contains(&status) {
        status
    } else {
        100 + status % 900
    };
    let Ok(status) = StatusCode::from_u16(code) else {
        panic!("{code} is out of StatusCode's range");
    };
    match scalers_prometheus::decode_query_response(ENDPOINT, status, body) {
        Ok(value) => assert!(value.is_finite(), "{value}"),
        Err(e) => {
            let text = e.to_string();
            assert!(text.starts_with(&format!("{SHOWN}: ")), "{text:?}");
        }
    }
});
