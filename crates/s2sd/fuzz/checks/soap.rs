//! The EWS SOAP parser on arbitrary bytes: size limit, DTD/entity refusal, envelope, typed
//! request. It must never panic, and whatever it accepts must survive the writer: an accepted
//! request's operation name, written into a fault, parses back.
//!
//! Shared by the fuzz target `soap` and the seed replay test of the crate (`tests/it/fuzz_seeds.rs`),
//! which runs every file of `seeds/soap/` through it on stable Rust.

use s2sd::mailbox::ews::{parse, soap, writer};

/// One input, as the fuzzer gives it (and as the seed replay test does).
pub fn run(data: &[u8]) {
    let _ = soap::parse_document(data);
    match parse(data) {
        Ok(request) => {
            let name = request.operation.name().to_owned();
            let text = writer::fault("ErrorInvalidOperation", &name, Some(&name));
            assert!(soap::parse_envelope(text.as_bytes()).is_ok(), "the writer produced XML the parser refuses");
        }
        Err(fault) => {
            let text = writer::fault(fault.code, &fault.text, fault.operation.as_deref());
            assert!(soap::parse_envelope(text.as_bytes()).is_ok(), "a fault did not read back");
        }
    }
}
