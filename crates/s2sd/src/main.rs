//! `s2sd`: token issuer, metadata publisher, partner trust store, validator and admin CLI.

mod issuer;
mod store;

fn main() {}
