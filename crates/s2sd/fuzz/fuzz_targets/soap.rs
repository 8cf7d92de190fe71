//! The EWS SOAP parser on arbitrary bytes; the input is checked by `checks/soap.rs`, which the
//! seed replay test runs too.

#![no_main]

#[path = "../checks/soap.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::run(data));
