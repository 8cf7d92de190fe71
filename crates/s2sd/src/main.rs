//! `s2sd`: token issuer, metadata publisher, partner trust store, validator and admin CLI.
//! Thin: sets the allocator, installs the crypto provider, parses the command line, sets up logging, dispatches.

use std::process::ExitCode;

use clap::Parser;
use s2sd::cli;

/// mimalloc: per-thread heaps and free lists. The server allocates on one worker and frees on
/// another (requests, responses, tokens); glibc's arenas then contend on their locks, which showed
/// as 12 % of the token endpoint's CPU in `perf` (see docs/performance.md for the before/after).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let args = cli::Cli::parse();
    cli::init_logging(&args);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli::run(args)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", cli::one_line(&e));
            ExitCode::FAILURE
        }
    }
}
