#![no_main]
//! Bearer tokens: compact split, header and claims decoding, the outer (`alg=none`) path, and the
//! whole validator on a fixed trust store (one partner whose RSA-2048 key is generated once).
//! The input is checked by `checks/token.rs`, which the seed replay test runs too.

#[path = "../checks/token.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::run(data));
