//! The s2sd node: configuration store, our issuer certificates, the server, and the admin CLI.
//! The binary (`main.rs`) only parses the command line and dispatches here; tests drive the same
//! code in-process.

pub mod authority;
pub mod cli;
pub mod connectivity;
pub mod diagnosis;
pub mod issuer;
pub mod mailbox;
pub mod outbound;
pub mod server;
pub mod store;
pub mod timestamp;
pub mod trust;
