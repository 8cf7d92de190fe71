#![no_main]
//! `WWW-Authenticate` parsing: any bytes, as UTF-8 (lossy) like a header value read with `to_str`.
//! The input is checked by `checks/challenge.rs`, which the seed replay test runs too.

#[path = "../checks/challenge.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::run(data));
