#![no_main]
//! Metadata documents: lenient parse, the registration checks, and our writer's output read back.
//! The input is checked by `checks/metadata.rs`, which the seed replay test runs too.

#[path = "../checks/metadata.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::run(data));
